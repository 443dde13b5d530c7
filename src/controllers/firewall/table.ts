import { decodeLiveTable, diffFirewall, type FirewallDiff } from '../../firewall/live.js';
import { FirewallUnavailableError, type Nft } from '../../firewall/nft.js';
import { nftScript } from '../../firewall/nft-text.js';
import { renderFirewall } from '../../firewall/render.js';
import type { Ruleset } from '../../firewall/ruleset.js';
import type { Action } from '../../reconcile/action.js';
import type { FirewallLiveState, FirewallStatus } from '../status.js';
import type { DesiredInfra } from '../../schemas/model.js';
import { AnklumeError, describeError } from '../../shared/errors.js';

/** The firewall is one object of the whole infra: one action, its own group and work-queue key. */
export const FIREWALL_GROUP = 'firewall';
export const FIREWALL_ACTION_ID = 'firewall/inet/anklume';

/** What was read from nft: the table (null when absent), or why it could not be read. */
export type ObservedFirewall =
  | { readonly ok: true; readonly table: ReturnType<typeof decodeLiveTable> }
  | { readonly ok: false; readonly unavailable: boolean; readonly error: string };

export async function observeFirewall(nft: Nft, signal?: AbortSignal): Promise<ObservedFirewall> {
  try {
    return { ok: true, table: decodeLiveTable(await nft.listTable(signal)) };
  } catch (err) {
    return { ok: false, unavailable: err instanceof FirewallUnavailableError, error: describeError(err) };
  }
}

export interface FirewallPayload {
  readonly op: 'firewall';
  readonly script: string;
  readonly ruleset: Ruleset;
}

export interface FirewallState {
  /** InSync: the live rules are the rendered ones. Anything else means isolation is not (fully) enforced. */
  readonly state: FirewallLiveState;
  readonly message: string;
  readonly diff: FirewallDiff | null;
  readonly rules: number;
}

/** Compare the rendered firewall with what nft holds (pure). */
export function firewallState(ruleset: Ruleset, observed: ObservedFirewall): FirewallState {
  const rules = ruleset.chains.reduce((n, c) => n + c.rules.length, 0);
  if (!observed.ok) {
    return observed.unavailable
      ? { state: 'Unavailable', message: `cannot manage the firewall: ${observed.error}; isolation between domains is NOT enforced`, diff: null, rules }
      : { state: 'Error', message: `cannot read the firewall: ${observed.error}; isolation is not known to hold`, diff: null, rules };
  }
  const diff = diffFirewall(ruleset, observed.table);
  if (diff.inSync) return { state: 'InSync', message: `table inet anklume matches infra.yml (${rules} rules)`, diff, rules };
  if (!diff.tablePresent) return { state: 'Missing', message: 'table inet anklume is missing: isolation between domains is NOT enforced', diff, rules };
  const added = diff.changes.filter((c) => c.sign === '+').length;
  const extra = diff.changes.length - added;
  return { state: 'Drifted', message: `table inet anklume differs from infra.yml (${added} missing, ${extra} unexpected): isolation is not as declared`, diff, rules };
}

/** The action that brings the live firewall to the rendered one; null when they match. */
export function planFirewall(ruleset: Ruleset, observed: ObservedFirewall): Action<FirewallPayload> | null {
  const state = firewallState(ruleset, observed);
  if (state.state === 'InSync') return null;
  const base = { id: FIREWALL_ACTION_ID, group: FIREWALL_GROUP, kind: 'firewall', name: 'inet anklume', after: [], payload: { op: 'firewall' as const, script: nftScript(ruleset), ruleset } };
  const changes = (state.diff?.changes ?? []).map((c) => (c.sign === '+' ? { key: 'rule', to: c.line } : { key: 'rule', from: c.line }));
  switch (state.state) {
    case 'Missing':
      return { ...base, verb: 'create', reason: `table missing (${state.rules} rules)`, changes };
    case 'Drifted':
      return { ...base, verb: 'replace', reason: 'live rules differ: whole table replaced', changes };
    default:
      return { ...base, verb: 'replace', reason: 'firewall cannot be checked', changes: [], blocked: state.message };
  }
}

/** The whole model's firewall (never a subset: the table is replaced whole). */
export function desiredFirewall(model: DesiredInfra, aiAccessHolder?: string | null): Ruleset {
  return renderFirewall(model, aiAccessHolder === undefined ? {} : { aiAccessHolder });
}

export class FirewallNotAppliedError extends AnklumeError {
  constructor(message: string) {
    super('FIREWALL_NOT_APPLIED', message);
  }
}

/**
 * Check with `nft -c`, replace the table in one transaction, then read it
 * back: a rule set that did not land as rendered is an error, never a success.
 */
export async function applyFirewall(nft: Nft, payload: FirewallPayload, signal?: AbortSignal): Promise<FirewallState> {
  await nft.check(payload.script, signal);
  await nft.apply(payload.script, signal);
  const after = firewallState(payload.ruleset, await observeFirewall(nft, signal));
  if (after.state !== 'InSync') {
    const sample = (after.diff?.changes ?? []).slice(0, 3).map((c) => `${c.sign} ${c.line}`).join('; ');
    throw new FirewallNotAppliedError(`nft applied the rules but reading them back differs: ${after.message}${sample === '' ? '' : ` (${sample})`}`);
  }
  return after;
}

/** The firewall as status shows it. */
export function firewallStatus(state: FirewallState | null, times: { checkedAt: string | null; appliedAt?: string | null }): FirewallStatus {
  if (state === null) return { managed: false, state: 'Unknown', message: 'not checked yet', rules: 0, checkedAt: times.checkedAt, appliedAt: times.appliedAt ?? null };
  return { managed: state.state === 'InSync', state: state.state, message: state.message, rules: state.rules, checkedAt: times.checkedAt, appliedAt: times.appliedAt ?? null };
}
