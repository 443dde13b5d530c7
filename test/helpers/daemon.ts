import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import type { StatusDocument } from '../../src/controllers/status.js';
import { ROOT } from './cli.js';
import type { IncusClient } from '../../src/incus/index.js';
import { removeTestInfra, waitFor } from './incus.js';

/** A running anklumed of dist/bin, its log kept in memory. */
export interface RunningDaemon {
  readonly child: ChildProcess;
  readonly socket: string;
  log(): string;
  /** Resolves with the exit code once it exits. */
  readonly exited: Promise<number | null>;
}

export function startDaemon(args: readonly string[], socket: string, env: Record<string, string> = {}): RunningDaemon {
  const child = spawn(process.execPath, [`${ROOT}dist/bin/anklumed.js`, '--socket', socket, '--log-format', 'json', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, socket, log: () => log, exited };
}

/** GET /v1/status on the control socket; undefined while nobody answers. */
export function fetchStatus(socket: string): Promise<StatusDocument | undefined> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/v1/status', method: 'GET', timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(res.statusCode === 200 ? (JSON.parse(body) as StatusDocument) : undefined));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export function isReady(c: { conditions: readonly { type: string; status: boolean }[] }): boolean {
  return c.conditions.some((x) => x.type === 'Ready' && x.status);
}

/** Wait until every domain and object in the daemon's status is Ready (and, optionally, a predicate). */
export function waitAllReady(socket: string, options: { timeoutMs?: number; also?: (s: StatusDocument) => boolean } = {}): Promise<StatusDocument> {
  return waitFor('every object Ready in anklumed status', async () => {
    const s = await fetchStatus(socket);
    if (s === undefined) return undefined;
    const ready = s.domains.length > 0 && s.domains.every((d) => isReady(d) && d.objects.length > 0 && d.objects.every(isReady));
    return ready && (options.also?.(s) ?? true) ? s : undefined;
  }, { timeoutMs: options.timeoutMs ?? 120_000 });
}

export async function stopDaemon(d: RunningDaemon): Promise<number | null> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return d.child.exitCode;
  d.child.kill('SIGTERM');
  return d.exited;
}

/** An e2e file's teardown: its daemon stopped, then only what it created removed, then its client closed. */
export async function tearDown(client: IncusClient, test: { readonly daemon: RunningDaemon | undefined; readonly infraName: string; readonly prefix: string }): Promise<void> {
  try {
    if (test.daemon !== undefined) await stopDaemon(test.daemon);
    await removeTestInfra(client, { infraName: test.infraName, prefix: test.prefix });
  } finally {
    client.close();
  }
}
