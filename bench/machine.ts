// What the benchmarks against the real Incus share: the incus CLI as a user
// types it, the machine's load, and waiting for it to rest before a timed phase.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { promisify } from 'node:util';
import { INCUS_SOCKET } from '../test/helpers/incus.js';

const execFile$ = promisify(execFile);
// A CLI call that hangs fails the benchmark instead of holding the e2e lock.
const CLI = { env: { ...process.env, INCUS_SOCKET }, timeout: 180_000 };

/**
 * The incus CLI as a user types it. Its `create` and `launch` read a YAML
 * config from stdin when stdin is not a terminal, so stdin is closed at once:
 * left open (execFile's pipe), they wait on it forever.
 */
export function incus(args: readonly string[]): Promise<unknown> {
  const call = execFile$('incus', args, CLI);
  call.child.stdin?.end();
  return call;
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
export const load = (): string => loadavg().map((l) => l.toFixed(1)).join(' ');

/**
 * Wait until the machine is mostly idle (the instances just started have
 * booted), at most `maxMs`. Returns the idle share of the CPUs over the last 2 s.
 */
export async function settle(maxMs: number): Promise<number> {
  const cpu = (): { idle: number; total: number } => {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { idle: (fields[3] ?? 0) + (fields[4] ?? 0), total: fields.reduce((a, b) => a + b, 0) };
  };
  const deadline = performance.now() + maxMs;
  for (;;) {
    const a = cpu();
    await new Promise((r) => setTimeout(r, 2000));
    const b = cpu();
    const idle = (b.idle - a.idle) / Math.max(1, b.total - a.total);
    if (idle >= 0.6 || performance.now() > deadline) return idle;
  }
}

/** Wait for a rested machine before a timed phase, at most 2 min, and say how rested it was. */
export async function rested(): Promise<void> {
  const idle = await settle(120_000);
  console.log(`  (CPU ${Math.round(idle * 100)}% idle over 2 s; load ${load()})`);
}
