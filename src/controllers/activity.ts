import type { Action, Note } from '../reconcile/action.js';
import type { Outcome } from '../reconcile/execute.js';

/**
 * What the reconcilers report while they work: an action starting, an
 * action's outcome, a note (a leftover kept). The daemon streams these to an
 * `anklumectl apply` that waits on it, and logs them.
 */
export type Activity =
  | { readonly type: 'start'; readonly action: Action }
  | { readonly type: 'outcome'; readonly outcome: Outcome }
  | { readonly type: 'note'; readonly note: Note };
