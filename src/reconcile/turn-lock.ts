/**
 * A lock that groups take turns at: any number of holders of one group hold it
 * together, never two groups at once. Waiters are served in arrival order (a
 * run of waiters of one group at the head goes in together), so a waiting
 * group goes before later arrivals of the group holding it: no starvation.
 * Used for the host's interfaces (src/controllers/domain/interface-lock.ts).
 */
export class TurnLock<Group extends string> {
  private holding: Group | undefined;
  private holders = 0;
  private readonly waiters: { group: Group; wake: () => void }[] = [];

  async with<T>(group: Group, fn: () => Promise<T>): Promise<T> {
    await this.acquire(group);
    try {
      return await fn();
    } finally {
      this.holders--;
      if (this.holders === 0) this.holding = undefined;
      this.drain();
    }
  }

  private acquire(group: Group): Promise<void> {
    if (this.waiters.length === 0 && this.canTake(group)) {
      this.take(group);
      return Promise.resolve();
    }
    return new Promise((wake) => this.waiters.push({ group, wake }));
  }

  private canTake(group: Group): boolean {
    return this.holders === 0 || this.holding === group;
  }

  private take(group: Group): void {
    this.holding = group;
    this.holders++;
  }

  private drain(): void {
    for (let next = this.waiters[0]; next !== undefined && this.canTake(next.group); next = this.waiters[0]) {
      this.waiters.shift();
      this.take(next.group);
      next.wake();
    }
  }
}
