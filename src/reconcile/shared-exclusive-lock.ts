/**
 * Bridge writes exclude instance creates and starts, host-wide: Incus 6.0 lists
 * every host interface while it sets a bridge up and fails when the veth of a
 * starting container vanishes meanwhile ("Failed to delete bridge children
 * interfaces"). Instances share the lock with each other; a bridge takes it alone.
 */
export class SharedExclusiveLock {
  private shared = 0;
  private exclusive = false;
  private readonly waiters: { exclusive: boolean; wake: () => void }[] = [];

  async withShared<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(false);
    try {
      return await fn();
    } finally {
      this.shared--;
      this.drain();
    }
  }

  async withExclusive<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(true);
    try {
      return await fn();
    } finally {
      this.exclusive = false;
      this.drain();
    }
  }

  private acquire(exclusive: boolean): Promise<void> {
    if (this.waiters.length === 0 && this.canTake(exclusive)) {
      this.take(exclusive);
      return Promise.resolve();
    }
    return new Promise((wake) => this.waiters.push({ exclusive, wake }));
  }

  private canTake(exclusive: boolean): boolean {
    return exclusive ? !this.exclusive && this.shared === 0 : !this.exclusive;
  }

  private take(exclusive: boolean): void {
    if (exclusive) this.exclusive = true;
    else this.shared++;
  }

  /** Wake waiters in order; a waiting exclusive holder blocks later shared ones (no starvation). */
  private drain(): void {
    while (this.waiters.length > 0) {
      const next = this.waiters[0];
      if (next === undefined || !this.canTake(next.exclusive)) return;
      this.waiters.shift();
      this.take(next.exclusive);
      next.wake();
    }
  }
}
