import type { Observed } from '../controllers/observed.js';

/**
 * One observation of Incus shared by the domain reconciles that run close
 * together (a file change enqueues every domain): one set of list requests
 * instead of one per domain. Any relevant Incus event, and every pass that
 * wrote, invalidates it, so a reconcile never plans from a state older than
 * what it knows happened.
 */
export class ObservationCache {
  private generation = 0;
  private value: { generation: number; observed: Observed } | undefined;
  private inflight: { generation: number; promise: Promise<Observed> } | undefined;

  constructor(private readonly fetch: (signal: AbortSignal) => Promise<Observed>) {}

  invalidate(): void {
    this.generation++;
    this.value = undefined;
  }

  async get(signal: AbortSignal): Promise<Observed> {
    const generation = this.generation;
    if (this.value?.generation === generation) return this.value.observed;
    if (this.inflight?.generation !== generation) {
      const promise = this.fetch(signal).then((observed) => {
        if (this.generation === generation) this.value = { generation, observed };
        return observed;
      });
      this.inflight = { generation, promise };
      promise.then(
        () => this.clearInflight(promise),
        () => this.clearInflight(promise),
      );
    }
    return this.inflight.promise;
  }

  private clearInflight(promise: Promise<Observed>): void {
    if (this.inflight?.promise === promise) this.inflight = undefined;
  }
}
