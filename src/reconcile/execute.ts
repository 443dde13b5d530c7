import { describeError } from '../shared/errors.js';
import type { Action } from './action.js';

export type Outcome =
  | { readonly status: 'done'; readonly action: Action; readonly ms: number }
  | { readonly status: 'failed'; readonly action: Action; readonly ms: number; readonly error: string; readonly cause: unknown }
  | { readonly status: 'skipped'; readonly action: Action; readonly reason: string };

export interface ExecuteOptions {
  /** At most this many actions run at once. */
  readonly concurrency: number;
  /** Carries out one action; throws to fail it. */
  readonly run: (action: Action, signal: AbortSignal) => Promise<void>;
  readonly onStart?: (action: Action) => void;
  readonly onOutcome?: (outcome: Outcome) => void;
  readonly signal?: AbortSignal;
  /** Among actions ready at once, a higher rank starts first (default: all equal, plan order). */
  readonly rank?: (action: Action) => number;
  /** Monotonic milliseconds (injected for tests). */
  readonly now?: () => number;
}

/**
 * Run a plan's actions as a dependency graph with bounded parallelism: an action
 * starts once everything in its `after` succeeded; when one fails, what depends on
 * it is skipped and everything else goes on (other domains still converge).
 * Blocked actions are reported as skipped and never run. `notBefore` only orders:
 * the action waits for those to finish, whatever their outcome.
 */
export async function executePlan(actions: readonly Action[], options: ExecuteOptions): Promise<Outcome[]> {
  const now = options.now ?? (() => performance.now());
  const signal = options.signal ?? new AbortController().signal;
  const outcomes = new Map<string, Outcome>();
  const rank = options.rank;
  // Ready actions start in this order while slots are free (sort is stable: plan order within a rank).
  const byRank = rank === undefined ? actions : [...actions].sort((a, b) => rank(b) - rank(a));
  const pending = new Map(byRank.map((a) => [a.id, a]));
  const known = new Set(actions.map((a) => a.id));
  const running = new Set<Promise<void>>();

  const settle = (outcome: Outcome): void => {
    outcomes.set(outcome.action.id, outcome);
    options.onOutcome?.(outcome);
  };

  for (;;) {
    // Settle what can no longer run, start what can.
    let progressed = true;
    while (progressed) {
      progressed = false;
      for (const action of pending.values()) {
        if (action.blocked !== undefined) {
          pending.delete(action.id);
          settle({ status: 'skipped', action, reason: action.blocked });
          progressed = true;
          continue;
        }
        const failedDep = action.after.find((id) => {
          const o = outcomes.get(id);
          return o !== undefined && o.status !== 'done';
        });
        if (failedDep !== undefined) {
          pending.delete(action.id);
          settle({ status: 'skipped', action, reason: `${failedDep} did not succeed` });
          progressed = true;
          continue;
        }
        if (signal.aborted) {
          pending.delete(action.id);
          settle({ status: 'skipped', action, reason: 'interrupted' });
          progressed = true;
          continue;
        }
        const ready =
          action.after.every((id) => !known.has(id) || outcomes.get(id)?.status === 'done') &&
          (action.notBefore ?? []).every((id) => !known.has(id) || outcomes.has(id));
        if (ready && running.size < options.concurrency) {
          pending.delete(action.id);
          options.onStart?.(action);
          const started = now();
          const task = options.run(action, signal).then(
            () => settle({ status: 'done', action, ms: now() - started }),
            (err: unknown) => settle({ status: 'failed', action, ms: now() - started, error: describeError(err), cause: err }),
          );
          const tracked: Promise<void> = task.finally(() => running.delete(tracked));
          running.add(tracked);
          progressed = true;
        }
      }
    }
    if (running.size === 0) break;
    await Promise.race(running);
  }
  // Whatever is left waited on something that never ran (a cycle): report it.
  for (const action of pending.values()) settle({ status: 'skipped', action, reason: 'unsatisfiable ordering' });
  return actions.map((a) => outcomes.get(a.id)).filter((o): o is Outcome => o !== undefined);
}
