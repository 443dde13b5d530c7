/**
 * Capped exponential backoff with jitter, the one rule behind every retry
 * loop: the work queue's per-key retries (src/reconcile/backoff.ts) and the
 * Incus events stream's reconnects (src/incus/events.ts). Each user keeps its
 * own defaults; the shape of the options and the delay are computed here.
 * Pure: no timers, randomness injected.
 */

/**
 * How a delay is spread around its nominal value. Jitter keeps clients that
 * failed together (an Incus restart fails every domain and the events stream
 * at once) from retrying in lockstep.
 * See https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 * - `full`: uniform in [0, nominal) — the widest spread, may retry at once.
 * - `equal`: uniform in [nominal/2, nominal) — never less than half the nominal
 *   delay, so something that keeps failing cannot hot-loop.
 * - `none`: the nominal delay exactly.
 */
export type Jitter = 'full' | 'equal' | 'none';

export interface BackoffOptions {
  /** Delay after the first failure, in milliseconds. */
  readonly baseMs?: number;
  /** Upper bound of any delay, in milliseconds. */
  readonly capMs?: number;
  readonly jitter?: Jitter;
  /** Uniform in [0, 1); injected so tests are deterministic (default Math.random). */
  readonly random?: () => number;
}

/** A user's defaults: everything but the randomness. */
export type BackoffDefaults = Required<Omit<BackoffOptions, 'random'>>;

/** Options with the defaults applied and checked. */
export type BackoffPolicy = Required<BackoffOptions>;

/** Apply `defaults` to `options` and check them: a base that is not positive, or a cap below it, is a RangeError. */
export function backoffPolicy(options: BackoffOptions | undefined, defaults: BackoffDefaults): BackoffPolicy {
  const policy: BackoffPolicy = {
    baseMs: options?.baseMs ?? defaults.baseMs,
    capMs: options?.capMs ?? defaults.capMs,
    jitter: options?.jitter ?? defaults.jitter,
    random: options?.random ?? Math.random,
  };
  if (!(policy.baseMs > 0) || !Number.isFinite(policy.baseMs)) throw new RangeError(`backoff base must be a positive number of ms, got ${policy.baseMs}`);
  if (!(policy.capMs >= policy.baseMs) || !Number.isFinite(policy.capMs)) throw new RangeError(`backoff cap must be a finite number of ms ≥ base, got ${policy.capMs}`);
  return policy;
}

/**
 * The delay before retry `attempt` (0-based: the first retry waits about the
 * base): `base * 2^attempt`, never more than the cap, spread by the jitter.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy): number {
  // 2^attempt overflows to Infinity after ~1024 attempts; the cap is reached long before.
  const nominal = Math.min(policy.baseMs * 2 ** Math.min(Math.max(0, attempt), 64), policy.capMs);
  if (policy.jitter === 'none') return nominal;
  // Clamp: a misbehaving random() must not push a delay past the cap or below zero.
  const r = Math.min(Math.max(policy.random(), 0), 1);
  return Math.round(policy.jitter === 'full' ? nominal * r : nominal / 2 + (nominal / 2) * r);
}
