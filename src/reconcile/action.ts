/**
 * A plan is a list of actions, each with its reason, computed by pure functions
 * from desired and actual state. The engine knows nothing of Incus: `payload`
 * is whatever the controller that planned the action needs to carry it out.
 */
export type Verb = 'create' | 'update' | 'start' | 'delete' | 'replace';

export interface KeyChange {
  readonly key: string;
  /** Absent: the key is added. */
  readonly from?: string;
  /** Absent: the key is removed. */
  readonly to?: string;
}

export interface Action<Payload = unknown> {
  /** Unique in a plan: `instance/pro/pro-dev`. */
  readonly id: string;
  /** The domain it belongs to (for ordering, display and failure isolation). */
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  readonly verb: Verb;
  /** Why, in a few words: "missing", "stopped", "left infra.yml". */
  readonly reason: string;
  readonly changes: readonly KeyChange[];
  /** Ids of actions in the same plan that must succeed first. */
  readonly after: readonly string[];
  /** Ids of actions that must have finished first, whatever their outcome (ordering only). */
  readonly notBefore?: readonly string[];
  /** Set when the action must not run (needs replacement, a conflict, a guard): the reason. */
  readonly blocked?: string;
  readonly payload: Payload;
}

/** Something worth telling that is not a change: a leftover kept without --prune, say. */
export interface Note {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  readonly message: string;
}

export interface Plan {
  readonly actions: readonly Action[];
  readonly notes: readonly Note[];
}

/** Actions the engine will carry out. */
export function runnable(plan: Plan): Action[] {
  return plan.actions.filter((a) => a.blocked === undefined);
}
