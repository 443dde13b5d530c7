import type { Action, Note } from '../reconcile/action.js';
import type { Outcome } from '../reconcile/execute.js';
import type { ReconcileContext } from '../reconcile/reconciler.js';

/**
 * What the reconcilers report while they work: an action starting, an
 * action's outcome, a note (a leftover kept). The daemon streams these to an
 * `anklumectl apply` that waits on it, and logs them.
 */
export type Activity =
  | { readonly type: 'start'; readonly action: Action }
  | { readonly type: 'outcome'; readonly outcome: Outcome }
  | { readonly type: 'note'; readonly note: Note };

/** One log line per action with its result and duration. */
export function logOutcome(ctx: ReconcileContext, o: Outcome): void {
  const base = { action: o.action.id, verb: o.action.verb, reason: o.action.reason };
  const what = `${o.action.verb} ${o.action.kind} ${o.action.name}`;
  if (o.status === 'done') ctx.log.info({ ...base, result: 'done', ms: Math.round(o.ms) }, what);
  else if (o.status === 'failed') ctx.log.error({ ...base, result: 'failed', ms: Math.round(o.ms), err: o.error }, `${what} failed`);
  else if (o.action.blocked === undefined) ctx.log.warn({ ...base, result: 'skipped', why: o.reason }, `${what} skipped`);
}
