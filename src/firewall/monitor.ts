import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { backoffDelay, backoffPolicy, type BackoffDefaults, type BackoffOptions, type BackoffPolicy } from '../shared/backoff.js';
import type { Logger } from '../shared/logger.js';
import { TABLE_FAMILY, TABLE_NAME } from './ruleset.js';

/** Restarts of a monitor that ended: 500 ms, doubling up to 30 s. */
const RESTART_BACKOFF: BackoffDefaults = { baseMs: 500, capMs: 30_000, jitter: 'equal' };
/** A monitor that ran this long before it ended starts its backoff over. */
const RAN_LONG_MS = 10_000;

/**
 * Whether one line of `nft -j monitor` is about anklume's table. Each line is
 * one change, `{"<verb>": {"<object>": {...}}}`: a table names itself in
 * `name`, every other object (chain, rule, set, element) names its table in
 * `table`. Lines that are not such JSON are about nothing.
 */
export function concernsTable(line: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return false;
  }
  if (typeof parsed !== 'object' || parsed === null) return false;
  for (const change of Object.values(parsed)) {
    if (typeof change !== 'object' || change === null) continue;
    for (const [kind, object] of Object.entries(change as Record<string, unknown>)) {
      if (typeof object !== 'object' || object === null) continue;
      const o = object as { family?: unknown; name?: unknown; table?: unknown };
      if (o.family === TABLE_FAMILY && (kind === 'table' ? o.name : o.table) === TABLE_NAME) return true;
    }
  }
  return false;
}

export interface NftMonitorOptions {
  readonly binary: string;
  /** Told of each change of the table, and once at each (re)start: changes before it were not seen. */
  readonly onChange: () => void;
  readonly logger: Logger;
  readonly backoff?: BackoffOptions;
}

/**
 * The kernel's own notice of every change of the `inet anklume` table
 * (`nft -j monitor ruleset`). The firewall check timer reads the table back
 * every `--firewall-check` seconds; with the monitor, a table flushed or a
 * rule deleted by hand is repaired in milliseconds instead of up to that
 * interval, during which it was open. A monitor that ends is restarted with
 * backoff, and the timer stays the net underneath.
 */
export class NftMonitor {
  private readonly policy: BackoffPolicy;
  private child: ChildProcess | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private running = false;

  constructor(private readonly options: NftMonitorOptions) {
    this.policy = backoffPolicy(options.backoff, RESTART_BACKOFF);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.spawn();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.child?.kill();
    this.child = undefined;
  }

  private spawn(): void {
    const { options } = this;
    const child = spawn(options.binary, ['-j', 'monitor', 'ruleset'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const startedAt = performance.now();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-500)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (concernsTable(line)) options.onChange();
    });
    child.once('spawn', () => options.onChange());
    // 'error' (cannot be run) is followed by 'close'; the restart is decided there.
    child.on('error', (err) => (stderr = stderr || err.message));
    child.once('close', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (!this.running) return;
      // One that ran a while starts over; one that ends at once (nft missing, no permission) keeps backing off.
      this.failures = performance.now() - startedAt >= RAN_LONG_MS ? 1 : this.failures + 1;
      const delayMs = backoffDelay(this.failures - 1, this.policy);
      const details = { code, signal, stderr: stderr.trim(), retryInMs: delayMs };
      if (this.failures <= 1) options.logger.warn(details, 'nft monitor ended: the firewall check timer still reads the table back; restarting it');
      else options.logger.debug(details, 'nft monitor ended again');
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (this.running) this.spawn();
      }, delayMs);
      this.restartTimer.unref();
    });
  }
}
