import { backoffDelay, backoffPolicy, type BackoffDefaults, type BackoffOptions, type BackoffPolicy } from '../shared/backoff.js';

export type { BackoffOptions, Jitter } from '../shared/backoff.js';

/** The work queue's retries: 200 ms after the first failure, at most a minute, equal jitter. */
export const QUEUE_BACKOFF: BackoffDefaults = { baseMs: 200, capMs: 60_000, jitter: 'equal' };

/**
 * Per-key capped exponential backoff, like controller-runtime's
 * ItemExponentialFailureRateLimiter: the n-th consecutive failure of a key
 * waits about `base * 2^(n-1)`, never more than `cap` (src/shared/backoff.ts).
 * Pure: it computes delays and counts failures; the queue owns the timers.
 */
export class Backoff {
  private readonly policy: BackoffPolicy;
  private readonly failures = new Map<string, number>();

  /** Unset options take {@link QUEUE_BACKOFF}'s values. */
  constructor(options: BackoffOptions = {}) {
    this.policy = backoffPolicy(options, QUEUE_BACKOFF);
  }

  /** The delay before the next retry of `key`; counts one more failure. */
  delayFor(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    return backoffDelay(failures, this.policy);
  }

  /** Consecutive failures counted for `key` since it was last forgotten. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Start `key` over from the base delay (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Keys with failures counted, for status output. */
  keys(): string[] {
    return [...this.failures.keys()];
  }
}
