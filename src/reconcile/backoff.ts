/**
 * How a retry delay is spread around its nominal value. Jitter keeps keys that
 * failed together (an Incus restart fails every domain at once) from retrying
 * in lockstep. See https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 * - `full`: uniform in [0, nominal) — the widest spread, may retry at once.
 * - `equal`: uniform in [nominal/2, nominal) — never less than half the nominal
 *   delay, so a key that keeps failing cannot hot-loop.
 * - `none`: the nominal delay exactly.
 */
export type Jitter = 'full' | 'equal' | 'none';

export interface BackoffOptions {
  /** Delay after the first failure, in milliseconds (default 200). */
  readonly baseMs?: number;
  /** Upper bound of any delay, in milliseconds (default 60 000). */
  readonly capMs?: number;
  /** Default `equal`. */
  readonly jitter?: Jitter;
  /** Uniform in [0, 1); injected so tests are deterministic (default Math.random). */
  readonly random?: () => number;
}

export const DEFAULT_BACKOFF_BASE_MS = 200;
export const DEFAULT_BACKOFF_CAP_MS = 60_000;

/**
 * Per-key capped exponential backoff, like controller-runtime's
 * ItemExponentialFailureRateLimiter: the n-th consecutive failure of a key
 * waits about `base * 2^(n-1)`, never more than `cap`. Pure: it computes
 * delays and counts failures; the queue owns the timers.
 */
export class Backoff {
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly jitter: Jitter;
  private readonly random: () => number;
  private readonly failures = new Map<string, number>();

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
    this.capMs = options.capMs ?? DEFAULT_BACKOFF_CAP_MS;
    this.jitter = options.jitter ?? 'equal';
    this.random = options.random ?? Math.random;
    if (!(this.baseMs > 0) || !Number.isFinite(this.baseMs)) throw new RangeError(`backoff base must be a positive number of ms, got ${this.baseMs}`);
    if (!(this.capMs >= this.baseMs) || !Number.isFinite(this.capMs)) throw new RangeError(`backoff cap must be a finite number of ms ≥ base, got ${this.capMs}`);
  }

  /** The delay before the next retry of `key`; counts one more failure. */
  delayFor(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    return this.spread(this.nominal(failures));
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

  private nominal(failures: number): number {
    // 2^failures overflows to Infinity after ~1024 failures; the cap is reached long before.
    const delay = this.baseMs * 2 ** Math.min(failures, 64);
    return Math.min(delay, this.capMs);
  }

  private spread(nominal: number): number {
    if (this.jitter === 'none') return nominal;
    // Clamp: a misbehaving random() must not push a delay past the cap or below zero.
    const r = Math.min(Math.max(this.random(), 0), 1);
    const delay = this.jitter === 'full' ? nominal * r : nominal / 2 + (nominal / 2) * r;
    return Math.round(delay);
  }
}
