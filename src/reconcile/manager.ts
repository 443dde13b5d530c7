import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { BackoffOptions } from './backoff.js';
import { instrumentQueue, type OperatorMetrics } from './metrics.js';
import { timerSchedule, WorkQueue, type Priority, type QueueObserver, type RunEvent, type Schedule, type ShutdownReport } from './queue.js';
import { DeadlineExceededError, type Reconciler } from './reconciler.js';

export interface ControllerOptions {
  readonly reconciler: Reconciler;
  /** Keys of this controller reconciled at once. */
  readonly concurrency: number;
  /** Each call's deadline: its signal is aborted then, and the call fails with {@link DeadlineExceededError}. */
  readonly deadlineMs: number;
  readonly backoff?: BackoffOptions;
}

export interface ManagerOptions {
  readonly logger: Logger;
  readonly metrics?: OperatorMetrics;
  /** Monotonic milliseconds and timers, injected so tests run on a fake clock. */
  readonly now?: () => number;
  readonly schedule?: Schedule;
}

interface Controller {
  readonly options: ControllerOptions;
  readonly queue: WorkQueue;
}

/**
 * controller-runtime's manager, without the sources (the daemon wires those:
 * they know Incus and files, this does not): one work queue per controller,
 * so a slow controller (a GPU reading, a service deploy) never holds up
 * another (the firewall check); each call under its own deadline; metrics
 * per controller. Sources call {@link enqueue}; the manager routes the key to
 * its controller's reconciler.
 */
export class Manager {
  private readonly controllers = new Map<string, Controller>();
  private readonly log: Logger;
  private readonly schedule: Schedule;
  private started = false;

  constructor(private readonly options: ManagerOptions) {
    this.log = options.logger;
    this.schedule = options.schedule ?? timerSchedule;
  }

  /** Add a controller (before {@link start}). */
  register(options: ControllerOptions): void {
    const name = options.reconciler.name;
    if (this.started) throw new Error(`internal: controller ${name} registered after start`);
    if (this.controllers.has(name)) throw new Error(`internal: controller ${name} registered twice`);
    const queue = new WorkQueue({
      ...(this.options.now === undefined ? {} : { now: this.options.now }),
      schedule: this.schedule,
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    });
    if (this.options.metrics !== undefined) instrumentQueue(queue, this.options.metrics, { name, controller: name });
    queue.addObserver({
      onDone: (e) => {
        if (e.result === 'error') this.log.warn({ controller: name, key: e.key, retries: queue.retries(e.key), err: describeError(e.error) }, 'reconcile failed; retrying with backoff');
      },
    });
    this.controllers.set(name, { options, queue });
  }

  start(): void {
    this.started = true;
    for (const [name, c] of this.controllers) {
      const log = this.log.child({ controller: name });
      c.queue.start({ concurrency: c.options.concurrency, handler: (key, signal) => this.call(c, log.child({ key }), key, signal) });
    }
  }

  /** Make `key` of `controller` due (deduplicated; `user` goes first). */
  enqueue(controller: string, key: string, options: { priority?: Priority } = {}): void {
    this.controller(controller).queue.add(key, options);
  }

  /**
   * Resolves with the end of the next run of `key` that starts from now on
   * (a run already in flight may have read its inputs before the caller
   * changed them). Subscribe before enqueueing.
   */
  nextRun(controller: string, key: string): Promise<RunEvent> {
    const queue = this.controller(controller).queue;
    return new Promise((resolve) => {
      let started = false;
      const unsubscribe = queue.addObserver({
        onStart: (e) => {
          if (e.key === key) started = true;
        },
        onDone: (e) => {
          if (e.key !== key || !started) return;
          unsubscribe();
          resolve(e);
        },
      });
    });
  }

  /** Watch every controller's runs (a status that follows them); returns the unsubscribe. */
  observeRuns(observer: QueueObserver): () => void {
    const unsubscribes = [...this.controllers.values()].map((c) => c.queue.addObserver(observer));
    return () => {
      for (const u of unsubscribes) u();
    };
  }

  /** Keys waiting or running, over every controller. */
  depth(): number {
    return [...this.controllers.values()].reduce((n, c) => n + c.queue.depth(), 0);
  }

  inFlight(): number {
    return [...this.controllers.values()].reduce((n, c) => n + c.queue.inFlight(), 0);
  }

  retries(controller: string, key: string): number {
    return this.controller(controller).queue.retries(key);
  }

  /** Stop intake everywhere and let in-flight calls finish until the deadline. */
  async stop(options: { deadlineMs: number }): Promise<ShutdownReport> {
    const reports = await Promise.all([...this.controllers.values()].map((c) => c.queue.shutdown(options)));
    return {
      finishedInTime: reports.every((r) => r.finishedInTime),
      aborted: reports.flatMap((r) => r.aborted),
      abandoned: reports.flatMap((r) => r.abandoned),
      dropped: reports.flatMap((r) => r.dropped),
    };
  }

  private controller(name: string): Controller {
    const c = this.controllers.get(name);
    if (c === undefined) throw new Error(`internal: no controller named ${name}`);
    return c;
  }

  /** One reconcile call under its deadline; the queue's own signal (shutdown) aborts it too. */
  private async call(c: Controller, log: Logger, key: string, queueSignal: AbortSignal): ReturnType<Reconciler['reconcile']> {
    const { reconciler, deadlineMs } = c.options;
    const deadline = new AbortController();
    const cancel = this.schedule(deadlineMs, () => deadline.abort(new DeadlineExceededError(reconciler.name, key, deadlineMs, undefined)));
    try {
      return await reconciler.reconcile({ signal: AbortSignal.any([queueSignal, deadline.signal]), log }, key);
    } catch (err) {
      if (deadline.signal.aborted && !(err instanceof DeadlineExceededError)) throw new DeadlineExceededError(reconciler.name, key, deadlineMs, err);
      throw err;
    } finally {
      cancel();
    }
  }
}
