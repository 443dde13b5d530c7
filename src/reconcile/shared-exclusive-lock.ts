/**
 * A lock held by many shared holders at once or by one exclusive holder;
 * waiters are served in order, so a waiting exclusive holder goes before later
 * shared ones (no starvation). Used for the host's interfaces
 * (src/controllers/domain/interface-lock.ts).
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
