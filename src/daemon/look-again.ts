import type { WorkKey } from '../incus/events.js';
import { timerSchedule, type Schedule } from '../reconcile/queue.js';

/**
 * When to handle an object again after an event Incus sent before its change
 * was written (`sentBeforeCommit`), counted from the event: the change is
 * readable within milliseconds on an idle Incus, so one second catches it;
 * the second look is for an Incus under load.
 */
export const LOOK_AGAIN_AFTER_MS: readonly number[] = [1_000, 10_000];

/**
 * Follow-up looks at objects whose event came before their change. Without
 * them, a relist that read the old object would stand until the next resync:
 * a restriction loosened by hand would stay loosened that long.
 *
 * A new early event of the same object restarts its looks, so an object never
 * has more than {@link LOOK_AGAIN_AFTER_MS}`.length` of them waiting.
 */
export class LookAgain {
  private readonly waiting = new Map<string, (() => void)[]>();

  constructor(
    private readonly handle: (keys: readonly WorkKey[]) => void,
    private readonly schedule: Schedule = timerSchedule,
  ) {}

  /** Handle `keys` (one event's objects) again after each delay. */
  after(keys: readonly WorkKey[]): void {
    if (keys.length === 0) return;
    const id = keys.map((k) => `${k.kind}/${k.project}/${k.name}`).join(' ');
    for (const cancel of this.waiting.get(id) ?? []) cancel();
    const last = LOOK_AGAIN_AFTER_MS.length - 1;
    const cancels = LOOK_AGAIN_AFTER_MS.map((ms, i) =>
      this.schedule(ms, () => {
        if (i === last) this.waiting.delete(id);
        this.handle(keys);
      }),
    );
    this.waiting.set(id, cancels);
  }

  /** How many objects have looks waiting. */
  get size(): number {
    return this.waiting.size;
  }

  /** Cancel every waiting look (shutdown). */
  close(): void {
    for (const cancels of this.waiting.values()) for (const cancel of cancels) cancel();
    this.waiting.clear();
  }
}
