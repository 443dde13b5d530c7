import type { ProbeResult } from '../shared/verify-report.js';

/**
 * What a probe's output means for the firewall (pure). The `inet anklume`
 * table drops what it refuses (render.ts never rejects), so a block is
 * silence: a connect that times out, a ping with no reply. A pass is the
 * target answering: a connect that succeeds (a listener verify started, or a
 * real service), or — when no listener could be confirmed on that port — a
 * reset from the target because nothing listens: the SYN got through. With a
 * confirmed listener, a reset did not come from the target but from
 * something on the way (a `reject with tcp reset`): a block.
 */

export interface Classified {
  readonly observed: ProbeResult;
  readonly detail?: string;
}

/** The tools a probing instance needs: `nc` (connects and listeners), `ping` (ICMP), `timeout` (every exec runs under it). */
export const REQUIRED_TOOLS = ['nc', 'ping', 'timeout'] as const;

/** A shell line that prints the name of each tool it finds, one a line (POSIX `command -v`). */
export const TOOLS_SCRIPT = `for t in ${REQUIRED_TOOLS.join(' ')}; do command -v "$t" >/dev/null 2>&1 && echo "$t"; done; exit 0`;

/** The required tools the output of {@link TOOLS_SCRIPT} does not list. */
export function missingTools(stdout: string): string[] {
  const found = new Set(stdout.split('\n').map((l) => l.trim()));
  return REQUIRED_TOOLS.filter((t) => !found.has(t));
}

const LISTEN = '0A';

/**
 * The TCP ports something listens on, from `/proc/net/tcp` and `/proc/net/tcp6`
 * (no `ss` needed): lines `sl local_address rem_address st ...`, local port in
 * hex, state `0A` = LISTEN.
 */
export function listeningPorts(procNetTcp: string): Set<number> {
  const ports = new Set<number>();
  for (const line of procNetTcp.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    if (fields[3] !== LISTEN || local === undefined) continue;
    const port = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (Number.isInteger(port)) ports.add(port);
  }
  return ports;
}

const firstLine = (text: string): string => text.trim().split('\n')[0]?.replace(/^nc: /, '') ?? '';

/** `nc -vz -w <s> <address> <port>` run in the sending instance (OpenBSD netcat's messages). */
export function classifyTcp(result: { readonly code: number; readonly stderr: string; readonly stdout?: string }, options: { readonly listening: boolean }): Classified {
  const said = firstLine(`${result.stderr}\n${result.stdout ?? ''}`);
  if (result.code === 0) return { observed: 'pass', detail: options.listening ? 'connected to the listener' : 'connected' };
  if (/refused/i.test(said)) {
    return options.listening
      ? { observed: 'block', detail: `reset although a listener was up: rejected on the way (${said})` }
      : { observed: 'pass', detail: 'reset by the target: nothing listens, but the SYN got through' };
  }
  if (/timed out/i.test(said)) return { observed: 'block', detail: 'no answer (timed out)' };
  // ICMP unreachable from a `reject`, or a local reject: blocked, not an error of the probe.
  if (/no route to host|host is unreachable|prohibited|permission denied/i.test(said)) return { observed: 'block', detail: said };
  return { observed: 'error', detail: said === '' ? `nc exited ${result.code}` : said };
}

/** `ping -c 1 -W <s> <address>`: 0 a reply, 1 none (or an ICMP error such as admin-prohibited), anything else an error of its own. */
export function classifyPing(result: { readonly code: number; readonly stdout: string; readonly stderr: string }): Classified {
  if (result.code === 0) return { observed: 'pass', detail: 'echo reply' };
  if (result.code === 1) {
    const icmpError = /(Destination [^\n]*|Packet filtered|Communication prohibited[^\n]*)/i.exec(result.stdout)?.[1];
    return { observed: 'block', detail: icmpError === undefined ? 'no reply' : icmpError.trim() };
  }
  return { observed: 'error', detail: firstLine(result.stderr) || `ping exited ${result.code}` };
}

/** A connect from the host itself (Node's `net.connect`): its error code, or null when it connected. */
export function classifyHostConnect(errorCode: string | null, options: { readonly listening: boolean }): Classified {
  if (errorCode === null) return { observed: 'pass', detail: options.listening ? 'connected to the listener' : 'connected' };
  if (errorCode === 'ECONNREFUSED') return classifyTcp({ code: 1, stderr: 'Connection refused' }, options);
  if (errorCode === 'ETIMEDOUT') return { observed: 'block', detail: 'no answer (timed out)' };
  if (errorCode === 'EHOSTUNREACH' || errorCode === 'EACCES' || errorCode === 'EPERM') return { observed: 'block', detail: errorCode };
  return { observed: 'error', detail: errorCode };
}
