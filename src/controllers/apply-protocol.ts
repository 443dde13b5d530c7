import type { Action, Note, Plan, Verb } from '../reconcile/action.js';
import type { Outcome } from '../reconcile/execute.js';

/**
 * `anklumectl apply` through anklumed: what the CLI asks, what the daemon
 * streams back while it applies, and the summary it ends with. Shared by the
 * control server (src/daemon) and its client (src/cli), which may not import
 * each other. On the wire (POST /v1/apply): the request as JSON, then NDJSON
 * lines `{"event": ApplyEvent}`..., then `{"summary": ApplySummary}` or
 * `{"error": string}`.
 */

/** One reconcile pass over every domain of the daemon's infra.yml, now, ahead of queued work; these flags for this pass only. */
export interface ApplyRequest {
  readonly prune: boolean;
  readonly force: boolean;
}

/** An action as the CLI shows it (its payload, changes and ordering stay in the daemon). */
export type ApplyActionRef = Pick<Action, 'id' | 'group' | 'kind' | 'name' | 'verb' | 'reason'>;

export type ApplyEvent =
  | { readonly type: 'start'; readonly action: ApplyActionRef }
  | { readonly type: 'outcome'; readonly action: ApplyActionRef; readonly status: 'done'; readonly ms: number }
  | { readonly type: 'outcome'; readonly action: ApplyActionRef; readonly status: 'failed'; readonly ms: number; readonly error: string }
  | { readonly type: 'outcome'; readonly action: ApplyActionRef; readonly status: 'skipped'; readonly reason: string }
  /** A line worth telling while the pass runs ("waiting for the reconcile of pro in flight"). */
  | { readonly type: 'note'; readonly message: string };

export interface ApplySummary {
  /** Actions the plan had (0: Incus already matched infra.yml). */
  readonly actions: number;
  readonly done: number;
  readonly failed: number;
  /** Not done: blocked, interrupted, or after a failure they depended on. */
  readonly skipped: number;
  /** What the plan noted without acting (leftovers kept without --prune, ...). */
  readonly notes: readonly Note[];
  /** The Incus requests of the pass, when they were counted apart from other work. */
  readonly requests?: { readonly requests: number; readonly writes: number };
  /** Duration of the pass. */
  readonly ms: number;
}

export function actionRef(action: Action): ApplyActionRef {
  return { id: action.id, group: action.group, kind: action.kind, name: action.name, verb: action.verb, reason: action.reason };
}

export function startEvent(action: Action): ApplyEvent {
  return { type: 'start', action: actionRef(action) };
}

export function outcomeEvent(outcome: Outcome): ApplyEvent {
  const action = actionRef(outcome.action);
  if (outcome.status === 'done') return { type: 'outcome', action, status: 'done', ms: outcome.ms };
  if (outcome.status === 'failed') return { type: 'outcome', action, status: 'failed', ms: outcome.ms, error: outcome.error };
  return { type: 'outcome', action, status: 'skipped', reason: outcome.reason };
}

/** The summary of one pass from its plan and outcomes. */
export function summarizeApply(plan: Plan, outcomes: readonly Outcome[], extra: { ms: number; requests?: { requests: number; writes: number } }): ApplySummary {
  const count = (s: Outcome['status']): number => outcomes.filter((o) => o.status === s).length;
  return {
    actions: plan.actions.length,
    done: count('done'),
    failed: count('failed'),
    skipped: count('skipped'),
    notes: plan.notes,
    ...(extra.requests === undefined ? {} : { requests: { requests: extra.requests.requests, writes: extra.requests.writes } }),
    ms: extra.ms,
  };
}

// Light shape checks of what crosses the socket: enough to refuse something that is not this protocol.

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const VERBS: ReadonlySet<string> = new Set<Verb>(['create', 'update', 'start', 'delete', 'replace']);

function isActionRef(value: unknown): value is ApplyActionRef {
  return isRecord(value) && ['id', 'group', 'kind', 'name', 'reason'].every((k) => typeof value[k] === 'string') && typeof value.verb === 'string' && VERBS.has(value.verb);
}

/** The request body, defaults applied (`{}` is a plain apply); undefined when it is not one. */
export function parseApplyRequest(value: unknown): ApplyRequest | undefined {
  if (!isRecord(value)) return undefined;
  const { prune = false, force = false } = value;
  return typeof prune === 'boolean' && typeof force === 'boolean' ? { prune, force } : undefined;
}

export function parseApplyEvent(value: unknown): ApplyEvent | undefined {
  if (!isRecord(value)) return undefined;
  if (value.type === 'note') return typeof value.message === 'string' ? { type: 'note', message: value.message } : undefined;
  const ref = value.action;
  if (!isActionRef(ref)) return undefined;
  const action: ApplyActionRef = { id: ref.id, group: ref.group, kind: ref.kind, name: ref.name, verb: ref.verb, reason: ref.reason };
  if (value.type === 'start') return { type: 'start', action };
  if (value.type !== 'outcome') return undefined;
  if (value.status === 'done' && typeof value.ms === 'number') return { type: 'outcome', action, status: 'done', ms: value.ms };
  if (value.status === 'failed' && typeof value.ms === 'number' && typeof value.error === 'string') return { type: 'outcome', action, status: 'failed', ms: value.ms, error: value.error };
  if (value.status === 'skipped' && typeof value.reason === 'string') return { type: 'outcome', action, status: 'skipped', reason: value.reason };
  return undefined;
}

export function parseApplySummary(value: unknown): ApplySummary | undefined {
  if (!isRecord(value)) return undefined;
  const { actions, done, failed, skipped, notes, requests, ms } = value;
  if (typeof actions !== 'number' || typeof done !== 'number' || typeof failed !== 'number' || typeof skipped !== 'number' || typeof ms !== 'number') return undefined;
  if (!Array.isArray(notes) || !notes.every((n) => isRecord(n) && ['group', 'kind', 'name', 'message'].every((k) => typeof n[k] === 'string'))) return undefined;
  const summary = { actions, done, failed, skipped, notes: notes as Note[], ms };
  if (requests === undefined) return summary;
  if (!isRecord(requests) || typeof requests.requests !== 'number' || typeof requests.writes !== 'number') return undefined;
  return { ...summary, requests: { requests: requests.requests, writes: requests.writes } };
}
