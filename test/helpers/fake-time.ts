/**
 * A clock and timers that move only when a test says so: `now` and `schedule`
 * plug into anything that takes injected time (the work queue), and `advance`
 * fires due timers in order, each at its own instant.
 */
export class FakeTime {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { readonly at: number; readonly fn: () => void }>();

  readonly now = (): number => this.t;

  readonly schedule = (ms: number, fn: () => void): (() => void) => {
    const id = this.seq++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return () => {
      this.timers.delete(id);
    };
  };

  /** Move time forward by `ms`, running every timer that falls due (including ones scheduled meanwhile). */
  advance(ms: number): void {
    const target = this.t + ms;
    for (;;) {
      let next: [number, { readonly at: number; readonly fn: () => void }] | undefined;
      for (const entry of this.timers) {
        // Earliest first; ties in scheduling order (Map iteration order is insertion order).
        if (entry[1].at <= target && (next === undefined || entry[1].at < next[1].at)) next = entry;
      }
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = target;
  }

  /** Timers scheduled and neither fired nor cancelled. */
  pending(): number {
    return this.timers.size;
  }
}

/** Let every queued promise callback run (a macrotask turn; no time passes). */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
