import { Backoff, type BackoffOptions } from './backoff.js';

/**
 * `user` is a person waiting on the answer (`anklumectl apply`, "reconcile now");
 * `normal` is everything else (infra.yml changes, Incus events, resync).
 */
export type Priority = 'user' | 'normal';

/** How one run ended, with controller-runtime's names for `reconcile_total{result}`. */
export type RunResult = 'success' | 'error' | 'requeue';

/**
 * What a handler may return besides nothing (= converged, forget the backoff):
 * - `{ requeue: true }`: not done yet, run again after the key's backoff;
 * - `{ requeueAfterMs }`: not done yet, run again after this delay (the backoff is forgotten).
 */
export type HandlerResult = { readonly requeue: true } | { readonly requeueAfterMs: number };

/**
 * Reconciles one key. Throwing re-adds the key after its backoff. The signal
 * aborts only when shutdown's deadline passes.
 */
export type Handler = (key: string, signal: AbortSignal) => Promise<HandlerResult | undefined | void>;

/** Run `fn` once after `ms`; the returned function cancels it if it has not run. */
export type Schedule = (ms: number, fn: () => void) => () => void;

/** The real {@link Schedule}, on Node's timers. */
export const timerSchedule: Schedule = (ms, fn) => {
  const timer = setTimeout(fn, ms);
  return () => clearTimeout(timer);
};

/** Hooks for metrics and logs. They must not throw; if one does, the queue ignores it. */
export interface QueueObserver {
  /** A key became due for a run (deduplicated adds do not count), like client-go's adds. */
  readonly onAdd?: (event: { readonly key: string; readonly priority: Priority }) => void;
  /** A key was re-added through its backoff (a failure, or a handler asking to requeue). */
  readonly onRetry?: (event: { readonly key: string; readonly delayMs: number; readonly retries: number }) => void;
  /** A run started; `waitMs` is the time since the key was added. */
  readonly onStart?: (event: { readonly key: string; readonly priority: Priority; readonly waitMs: number }) => void;
  /** A run ended. `error` is set when the handler threw. */
  readonly onDone?: (event: RunEvent) => void;
}

export interface RunEvent {
  readonly key: string;
  readonly result: RunResult;
  readonly durationMs: number;
  readonly error?: unknown;
}

export interface WorkQueueOptions {
  /** Monotonic milliseconds (default `performance.now`). */
  readonly now?: () => number;
  /** Timers for delayed adds and the shutdown deadline (default {@link timerSchedule}). */
  readonly schedule?: Schedule;
  /** The per-key backoff, or options to build one. */
  readonly backoff?: Backoff | BackoffOptions;
}

export interface StartOptions {
  /** At most this many keys are handled at once (one run per key at a time regardless). */
  readonly concurrency: number;
  readonly handler: Handler;
}

export interface AddOptions {
  /** Default `normal`. Adding a waiting key again with `user` raises its priority. */
  readonly priority?: Priority;
}

export interface ShutdownOptions {
  /** How long in-flight runs may go on before their signals are aborted. */
  readonly deadlineMs: number;
  /**
   * How long to wait, after aborting, for handlers to notice. A handler that
   * ignores its signal is abandoned after this, so shutdown cannot hang (default 2000).
   */
  readonly abortGraceMs?: number;
}

export interface ShutdownReport {
  /** Every in-flight run ended before the deadline. */
  readonly finishedInTime: boolean;
  /** Keys whose runs were aborted at the deadline. */
  readonly aborted: readonly string[];
  /** Aborted keys whose handlers had still not settled after the grace period. */
  readonly abandoned: readonly string[];
  /** Keys that were waiting and never ran (the next start's resync covers them). */
  readonly dropped: readonly string[];
}

export interface QueueTotals {
  readonly adds: number;
  readonly retries: number;
  readonly runs: Readonly<Record<RunResult, number>>;
}

/** A point-in-time view for `anklumectl status` and scrape-time metrics. */
export interface QueueSnapshot {
  /** 0 before start. */
  readonly concurrency: number;
  readonly closed: boolean;
  /** Keys due and not running, in the order they will be taken. */
  readonly waiting: readonly { readonly key: string; readonly priority: Priority; readonly waitingMs: number }[];
  /** `rerun`: the key was added again during this run and will run once more after it. */
  readonly running: readonly { readonly key: string; readonly runningMs: number; readonly rerun: boolean }[];
  /** Delayed adds (backoff retries, requeue-after) not yet due. */
  readonly delayed: readonly { readonly key: string; readonly dueInMs: number }[];
}

interface Due {
  priority: Priority;
  /** When the key was added, for the queue wait time. */
  readonly since: number;
}

interface Running {
  readonly since: number;
  readonly controller: AbortController;
}

interface Delayed {
  readonly at: number;
  priority: Priority;
  readonly cancel: () => void;
}

/**
 * The work queue between event sources and reconcilers, with client-go
 * workqueue semantics: a key waits at most once (adds deduplicate), a key
 * never runs twice at once (an add during its run marks it to run once more
 * after), failures come back through a per-key backoff. User-priority keys
 * are taken before normal ones. Keys are opaque strings (e.g. `domain/pro`).
 *
 * Adds are accepted before {@link start}; runs begin in a microtask after an
 * add, so keys added in the same tick are ordered by priority together.
 */
export class WorkQueue {
  private readonly now: () => number;
  private readonly schedule: Schedule;
  private readonly backoff: Backoff;
  private readonly observers = new Set<QueueObserver>();

  /** Keys due for a run: waiting, or added again while running. */
  private readonly due = new Map<string, Due>();
  /** Due keys not running, in take order per priority (Sets keep insertion order). */
  private readonly ready: Record<Priority, Set<string>> = { user: new Set(), normal: new Set() };
  private readonly running = new Map<string, Running>();
  private readonly delayed = new Map<string, Delayed>();

  private handler: Handler | undefined;
  private concurrency = 0;
  private closed = false;
  private closing: Promise<ShutdownReport> | undefined;
  private pumpQueued = false;
  private readonly idleWaiters = new Set<() => void>();
  private readonly counts = { adds: 0, retries: 0, runs: { success: 0, error: 0, requeue: 0 } };

  constructor(options: WorkQueueOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.schedule = options.schedule ?? timerSchedule;
    this.backoff = options.backoff instanceof Backoff ? options.backoff : new Backoff(options.backoff);
  }

  /** Make `key` due. Ignored after shutdown began. */
  add(key: string, options: AddOptions = {}): void {
    if (this.closed) return;
    const priority = options.priority ?? 'normal';
    const due = this.due.get(key);
    if (due !== undefined) {
      if (priority === 'user' && due.priority === 'normal') {
        due.priority = 'user';
        // A key that is running stays out of `ready`; its rerun takes the raised priority.
        if (this.ready.normal.delete(key)) this.ready.user.add(key);
        this.queuePump();
      }
      return;
    }
    this.due.set(key, { priority, since: this.now() });
    this.counts.adds++;
    this.emit((o) => o.onAdd?.({ key, priority }));
    if (!this.running.has(key)) {
      this.ready[priority].add(key);
      this.queuePump();
    }
  }

  /**
   * Make `key` due after `ms`. Of several delayed adds of one key, the earliest
   * wins. A run of the key cancels its pending delayed add: the run re-reads
   * everything and asks for its own follow-up (throw or requeue).
   */
  addAfter(key: string, ms: number, options: AddOptions = {}): void {
    if (this.closed) return;
    if (!Number.isFinite(ms)) throw new RangeError(`addAfter needs a finite delay, got ${ms}`);
    const priority = options.priority ?? 'normal';
    if (ms <= 0) {
      this.add(key, { priority });
      return;
    }
    const at = this.now() + ms;
    const existing = this.delayed.get(key);
    if (existing !== undefined && existing.at <= at) {
      if (priority === 'user') existing.priority = 'user';
      return;
    }
    existing?.cancel();
    const entry: Delayed = {
      at,
      priority,
      cancel: this.schedule(ms, () => {
        if (this.delayed.get(key) !== entry) return;
        this.delayed.delete(key);
        this.add(key, { priority: entry.priority });
      }),
    };
    this.delayed.set(key, entry);
  }

  /** Make `key` due after its backoff, and count a retry. */
  addRateLimited(key: string): void {
    if (this.closed) return;
    const delayMs = this.backoff.delayFor(key);
    this.counts.retries++;
    const retries = this.backoff.retries(key);
    this.emit((o) => o.onRetry?.({ key, delayMs, retries }));
    this.addAfter(key, delayMs);
  }

  /** Reset `key`'s backoff (its next failure waits the base delay again). */
  forget(key: string): void {
    this.backoff.forget(key);
  }

  /** Begin handling keys, at most `concurrency` at once. Call once. */
  start(options: StartOptions): void {
    if (this.handler !== undefined) throw new Error('work queue already started');
    if (this.closed) throw new Error('work queue is shut down');
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
    }
    this.handler = options.handler;
    this.concurrency = options.concurrency;
    this.queuePump();
  }

  /** Subscribe to the queue's hooks; returns the unsubscribe function. */
  addObserver(observer: QueueObserver): () => void {
    this.observers.add(observer);
    return () => {
      this.observers.delete(observer);
    };
  }

  /** Keys due for a run, counting keys that will run again after their current run (like client-go's depth). */
  depth(): number {
    return this.due.size;
  }

  /** Runs in progress. */
  inFlight(): number {
    return this.running.size;
  }

  /** Consecutive failures of `key` since its last success. */
  retries(key: string): number {
    return this.backoff.retries(key);
  }

  totals(): QueueTotals {
    return { adds: this.counts.adds, retries: this.counts.retries, runs: { ...this.counts.runs } };
  }

  snapshot(): QueueSnapshot {
    const t = this.now();
    const waiting = [...this.ready.user, ...this.ready.normal].map((key) => ({
      key,
      priority: this.due.get(key)?.priority ?? 'normal',
      waitingMs: t - (this.due.get(key)?.since ?? t),
    }));
    const running = [...this.running].map(([key, r]) => ({ key, runningMs: t - r.since, rerun: this.due.has(key) }));
    const delayed = [...this.delayed].map(([key, d]) => ({ key, dueInMs: d.at - t }));
    return { concurrency: this.concurrency, closed: this.closed, waiting, running, delayed };
  }

  /**
   * Stop intake (later adds are ignored), cancel delayed adds, drop waiting
   * keys, and let in-flight runs finish until the deadline; then abort their
   * signals. Resolves once they have settled (or the abort grace ran out).
   * Calling it again returns the same promise.
   */
  shutdown(options: ShutdownOptions): Promise<ShutdownReport> {
    if (this.closing !== undefined) return this.closing;
    this.closed = true;
    for (const d of this.delayed.values()) d.cancel();
    this.delayed.clear();
    const dropped = [...this.due.keys()];
    this.due.clear();
    this.ready.user.clear();
    this.ready.normal.clear();
    this.closing = this.drain(options.deadlineMs, options.abortGraceMs ?? 2_000, dropped);
    return this.closing;
  }

  private async drain(deadlineMs: number, graceMs: number, dropped: string[]): Promise<ShutdownReport> {
    if (await this.idleWithin(deadlineMs)) return { finishedInTime: true, aborted: [], abandoned: [], dropped };
    const aborted = [...this.running.keys()];
    for (const r of this.running.values()) r.controller.abort(new DOMException('work queue shut down: deadline passed', 'AbortError'));
    const settled = await this.idleWithin(graceMs);
    return { finishedInTime: false, aborted, abandoned: settled ? [] : [...this.running.keys()], dropped };
  }

  /** Resolves true when no run is in flight, or false if `ms` pass first. */
  private idleWithin(ms: number): Promise<boolean> {
    if (this.running.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let settled = false;
      const onIdle = (): void => {
        if (settled) return;
        settled = true;
        this.idleWaiters.delete(onIdle);
        cancel();
        resolve(true);
      };
      const cancel = this.schedule(ms, () => {
        if (settled) return;
        settled = true;
        this.idleWaiters.delete(onIdle);
        resolve(false);
      });
      this.idleWaiters.add(onIdle);
    });
  }

  private queuePump(): void {
    if (this.pumpQueued || this.handler === undefined) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  private pump(): void {
    const handler = this.handler;
    if (handler === undefined || this.closed) return;
    while (this.running.size < this.concurrency) {
      const key = this.takeNext();
      if (key === undefined) return;
      this.begin(key, handler);
    }
  }

  private takeNext(): string | undefined {
    for (const set of [this.ready.user, this.ready.normal]) {
      const first = set.values().next();
      if (first.done !== true) {
        set.delete(first.value);
        return first.value;
      }
    }
    return undefined;
  }

  private begin(key: string, handler: Handler): void {
    const due = this.due.get(key);
    this.due.delete(key);
    const pending = this.delayed.get(key);
    if (pending !== undefined) {
      pending.cancel();
      this.delayed.delete(key);
    }
    const since = this.now();
    const controller = new AbortController();
    this.running.set(key, { since, controller });
    const priority = due?.priority ?? 'normal';
    const waitMs = since - (due?.since ?? since);
    this.emit((o) => o.onStart?.({ key, priority, waitMs }));
    void this.run(key, handler, controller.signal, since);
  }

  // Never rejects: every outcome of the handler is caught and turned into a follow-up.
  private async run(key: string, handler: Handler, signal: AbortSignal, since: number): Promise<void> {
    let result: RunResult;
    let follow: HandlerResult | undefined;
    let error: unknown;
    let failed = false;
    try {
      follow = asHandlerResult(await handler(key, signal));
      result = follow === undefined ? 'success' : 'requeue';
    } catch (err) {
      failed = true;
      error = err;
      result = 'error';
    }
    const durationMs = this.now() - since;
    this.running.delete(key);
    this.counts.runs[result]++;
    const event: RunEvent = failed ? { key, result, durationMs, error } : { key, result, durationMs };
    this.emit((o) => o.onDone?.(event));

    if (!this.closed) {
      if (failed || (follow !== undefined && 'requeue' in follow)) {
        this.addRateLimited(key);
      } else if (follow !== undefined && 'requeueAfterMs' in follow) {
        this.forget(key);
        this.addAfter(key, follow.requeueAfterMs);
      } else {
        this.forget(key);
      }
      // Added again while it ran: it runs once more now, with what it was added with.
      const due = this.due.get(key);
      if (due !== undefined) this.ready[due.priority].add(key);
      this.queuePump();
    }
    if (this.running.size === 0) for (const onIdle of [...this.idleWaiters]) onIdle();
  }

  private emit(call: (observer: QueueObserver) => void): void {
    for (const observer of this.observers) {
      try {
        call(observer);
      } catch {
        // A broken metrics or log hook must not wedge the queue's bookkeeping.
      }
    }
  }
}

function asHandlerResult(value: unknown): HandlerResult | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if ('requeueAfterMs' in value && typeof value.requeueAfterMs === 'number') {
    // NaN or Infinity is a handler bug; the backoff still brings the key back rather than never.
    return Number.isFinite(value.requeueAfterMs) ? { requeueAfterMs: value.requeueAfterMs } : { requeue: true };
  }
  if ('requeue' in value && value.requeue === true) return { requeue: true };
  return undefined;
}
