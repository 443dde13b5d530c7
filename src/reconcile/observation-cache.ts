/**
 * One observation shared by the reconciles that run close together (a file
 * change enqueues every domain): one set of list requests instead of one per
 * key. Any relevant event, and every pass that wrote, invalidates it, so a
 * reconcile never plans from a state older than what it knows happened.
 */
export class ObservationCache<T> {
  private generation = 0;
  private value: { generation: number; observed: T } | undefined;
  private inflight: { generation: number; promise: Promise<T> } | undefined;

  constructor(private readonly fetch: (signal: AbortSignal) => Promise<T>) {}

  invalidate(): void {
    this.generation++;
    this.value = undefined;
  }

  async get(signal: AbortSignal): Promise<T> {
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

  private clearInflight(promise: Promise<T>): void {
    if (this.inflight?.promise === promise) this.inflight = undefined;
  }
}
