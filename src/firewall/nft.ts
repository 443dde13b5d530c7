import { spawn } from 'node:child_process';
import { AnklumeError } from '../shared/errors.js';
import { TABLE_FAMILY, TABLE_NAME } from './ruleset.js';

/** nft cannot be run or refuses: the rules are not applied, and status must say so. */
export class FirewallUnavailableError extends AnklumeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FIREWALL_UNAVAILABLE', message, options);
  }
}

/** nft ran and rejected the script or the command. */
export class NftError extends AnklumeError {
  constructor(message: string, readonly stderr: string) {
    super('NFT_FAILED', message);
  }
}

interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The nft binary, run with arguments and a script on stdin (never a shell).
 * The only place anklume touches the host's firewall, and it only ever names
 * `inet anklume`.
 */
export class Nft {
  constructor(readonly binary: string) {}

  private run(args: readonly string[], stdin?: string, signal?: AbortSignal): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, [...args], { stdio: ['pipe', 'pipe', 'pipe'], ...(signal === undefined ? {} : { signal }) });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') reject(new FirewallUnavailableError(`nft not found at ${this.binary} (install nftables, or pass --nft)`, { cause: e }));
        else if (e.code === 'EACCES') reject(new FirewallUnavailableError(`cannot run ${this.binary}: permission denied`, { cause: e }));
        else reject(e);
      });
      child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
      child.stdin.on('error', () => undefined); // a binary that exits early closes its stdin: the exit code tells
      child.stdin.end(stdin ?? '');
    });
  }

  private static failure(what: string, result: RunResult): AnklumeError {
    const detail = result.stderr.trim() || result.stdout.trim() || `exit ${result.code}`;
    if (/Operation not permitted|Permission denied/i.test(detail)) return new FirewallUnavailableError(`${what}: no permission to change the host firewall (anklumed must run as root or with CAP_NET_ADMIN): ${firstLine(detail)}`);
    return new NftError(`${what}: ${detail}`, result.stderr);
  }

  /** `nft -c -f -`: parse and check against the kernel, change nothing. */
  async check(script: string, signal?: AbortSignal): Promise<void> {
    const result = await this.run(['-c', '-f', '-'], script, signal);
    if (result.code !== 0) throw Nft.failure('nft -c rejected the rules', result);
  }

  /** `nft -f -`: one transaction, all or nothing. */
  async apply(script: string, signal?: AbortSignal): Promise<void> {
    const result = await this.run(['-f', '-'], script, signal);
    if (result.code !== 0) throw Nft.failure('nft could not apply the rules', result);
  }

  /** `nft -j list table inet anklume`, parsed; null when the table does not exist. */
  async listTable(signal?: AbortSignal): Promise<unknown> {
    const result = await this.run(['-j', 'list', 'table', TABLE_FAMILY, TABLE_NAME], undefined, signal);
    if (result.code !== 0) {
      if (/No such file or directory/.test(result.stderr)) return null;
      throw Nft.failure('nft could not list the anklume table', result);
    }
    try {
      return JSON.parse(result.stdout) as unknown;
    } catch {
      throw new NftError(`nft -j printed something that is not JSON: ${firstLine(result.stdout)}`, result.stderr);
    }
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0]?.slice(0, 200) ?? '';
}
