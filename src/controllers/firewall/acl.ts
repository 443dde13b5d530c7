import type { ClusterView } from '../../incus/cluster.js';
import { unavailableMembers } from '../../incus/cluster.js';
import type { IncusClient } from '../../incus/client.js';
import { isNotFound } from '../../incus/errors.js';
import { renderAcls, type AclRule, type AclRuleset, type DomainAcl } from '../../firewall/acl.js';
import type { Action, Note } from '../../reconcile/action.js';
import { MARK, conflictReason, ownership, ownershipMarks } from '../../reconcile/ownership.js';
import type { DesiredInfra } from '../../schemas/model.js';
import { objectId } from '../object-id.js';
import type { FirewallTarget } from './check.js';
import { desiredFirewall, type FirewallState } from './table.js';

/**
 * The firewall as Incus network ACLs (docs/cluster.md): on a cluster, and for
 * a remote Incus, the same model as the host table (src/firewall/acl.ts
 * translates the rendered ruleset) is written as one ACL per domain, which
 * Incus renders on every member. Observe, plan (pure) and apply.
 */

/** An ACL as `GET /1.0/network-acls?recursion=1` returns it (the fields compared). */
export interface ObservedAcl {
  readonly name: string;
  readonly description: string;
  readonly egress: readonly AclRule[];
  readonly ingress: readonly AclRule[];
  readonly config: Readonly<Record<string, string>>;
  /** What names it (`/1.0/networks/net-a`, an instance NIC's URL): Incus refuses to delete an ACL in use. */
  readonly used_by?: readonly string[] | null;
}

export interface AclPayload {
  readonly op: 'acl-create' | 'acl-update';
  readonly acl: { readonly name: string; readonly description: string; readonly egress: readonly AclRule[]; readonly ingress: readonly AclRule[]; readonly config: Record<string, string> };
}

/** An ACL of this infra whose domain left infra.yml. */
export interface AclDeletePayload {
  readonly op: 'acl-delete';
  readonly name: string;
}

export const ACL_KIND = 'acl';

/** The reason of an ACL written again unchanged (the daemon's periodic re-send). */
export const RESEND_REASON = 'periodic re-send: every member renders it again';

/** Network ACLs instead of the host table: on a cluster, and when Incus is remote (no host nftables to write). */
export function usesAcls(cluster: ClusterView, target: FirewallTarget | undefined): boolean {
  return cluster.clustered || (target !== undefined && 'unavailable' in target);
}

export async function observeAcls(client: IncusClient, options: { signal?: AbortSignal } = {}): Promise<Map<string, ObservedAcl>> {
  const list = await client.get<ObservedAcl[]>('/1.0/network-acls', { query: { recursion: 1 }, ...(options.signal === undefined ? {} : { signal: options.signal }) });
  return new Map(list.map((a) => [a.name, a]));
}

/** The ACLs of this model and AI access holder. */
export function desiredAcls(model: DesiredInfra, holder: string | null): AclRuleset {
  return renderAcls(model, desiredFirewall(model, holder));
}

/** Incus fills every field of a rule; compare on the same footing. */
function normalRules(rules: readonly Partial<AclRule>[]): string {
  return JSON.stringify(rules.map((r) => ({ action: r.action ?? '', source: r.source ?? '', destination: r.destination ?? '', protocol: r.protocol ?? '', source_port: r.source_port ?? '', destination_port: r.destination_port ?? '', icmp_type: r.icmp_type ?? '', icmp_code: r.icmp_code ?? '', description: r.description ?? '', state: r.state ?? 'enabled' })));
}

/**
 * One action per domain ACL that is missing or differs (pure). While a member
 * is down Incus refuses ACL writes (and a write it rolls back may stay in the
 * nftables of the members that applied it): the action waits, blocked with
 * the members it waits for, and the next pass writes it whole.
 */
export function planAcls(model: DesiredInfra, rendered: AclRuleset, observed: ReadonlyMap<string, ObservedAcl>, cluster: ClusterView, options: { readonly resend?: boolean } = {}): Action<AclPayload | { readonly op: 'none' }>[] {
  const down = unavailableMembers(cluster);
  const actions: Action<AclPayload | { readonly op: 'none' }>[] = [];
  for (const acl of rendered.acls) {
    const id = objectId(ACL_KIND, null, acl.name);
    const base = { id, group: acl.domain, kind: ACL_KIND, name: acl.name, after: [] };
    const actual = observed.get(acl.name);
    const payload: AclPayload = { op: actual === undefined ? 'acl-create' : 'acl-update', acl: { name: acl.name, description: describe(acl), egress: acl.egress, ingress: acl.ingress, config: ownershipMarks(model.projectName, acl.domain) } };
    if (actual !== undefined) {
      const owner = ownership(actual.config, model.projectName);
      if (owner !== 'ours') {
        actions.push({ ...base, verb: 'update', reason: 'not ours', changes: [], blocked: conflictReason('network ACL', acl.name, owner, actual.config), payload: { op: 'none' } });
        continue;
      }
      const egressDiffers = normalRules(actual.egress) !== normalRules(acl.egress);
      const ingressDiffers = normalRules(actual.ingress) !== normalRules(acl.ingress);
      if (!egressDiffers && !ingressDiffers && actual.description === payload.acl.description) {
        // Incus keeps one ACL for the whole cluster but each member renders it: a member that missed an update
        // (its nftables flushed, an update rolled back elsewhere) is only repaired by writing the ACL again.
        if (options.resend === true && down.length === 0) actions.push({ ...base, verb: 'update', reason: RESEND_REASON, changes: [], payload });
        continue;
      }
      const changes = [
        ...(egressDiffers ? [{ key: 'egress', from: `${actual.egress.length} rules`, to: `${acl.egress.length} rules` }] : []),
        ...(ingressDiffers ? [{ key: 'ingress', from: `${actual.ingress.length} rules`, to: `${acl.ingress.length} rules` }] : []),
      ];
      const action = { ...base, verb: 'update' as const, reason: 'rules differ', changes, payload };
      actions.push(down.length > 0 ? { ...action, blocked: waitsFor(down, cluster) } : action);
      continue;
    }
    const action = { ...base, verb: 'create' as const, reason: 'missing', changes: [{ key: 'egress', to: `${acl.egress.length} rules` }, { key: 'ingress', to: `${acl.ingress.length} rules` }], payload };
    actions.push(down.length > 0 ? { ...action, blocked: waitsFor(down, cluster) } : action);
  }
  return actions;
}

/**
 * This infra's ACLs (by their ownership marks; never another's, never one
 * without marks) that no domain of infra.yml renders any more (pure). Without
 * prune they are kept, said in a note. With it each is deleted after every
 * bridge that still names it, when that bridge's deletion is in the same plan
 * (`bridgeDeletes`: the ids of the plan's network deletions); an ACL still
 * named by anything else waits, said with what names it (the daemon's next
 * firewall pass deletes it once the leftover bridge is gone).
 */
export function planAclLeftovers(model: DesiredInfra, rendered: AclRuleset, observed: ReadonlyMap<string, ObservedAcl>, cluster: ClusterView, options: { readonly prune: boolean; readonly bridgeDeletes?: ReadonlyMap<string, string> }): { actions: Action<AclDeletePayload>[]; notes: Note[] } {
  const wanted = new Set(rendered.acls.map((a) => a.name));
  const down = unavailableMembers(cluster);
  const actions: Action<AclDeletePayload>[] = [];
  const notes: Note[] = [];
  for (const acl of [...observed.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    if (wanted.has(acl.name) || ownership(acl.config, model.projectName) !== 'ours') continue;
    const group = acl.config[MARK.domain] ?? acl.name;
    if (!options.prune) {
      notes.push({ group, kind: ACL_KIND, name: acl.name, message: 'no longer in infra.yml; kept (apply --prune deletes it)' });
      continue;
    }
    const users = (acl.used_by ?? []).map(userName);
    const after = users.map((u) => options.bridgeDeletes?.get(u)).filter((id) => id !== undefined);
    const stillNamed = users.filter((u) => options.bridgeDeletes?.get(u) === undefined);
    const blocked = down.length > 0 ? waitsFor(down, cluster) : stillNamed.length > 0 ? `still named by ${stillNamed.join(', ')}: deleted once nothing names it (the bridge of a removed domain is deleted first)` : undefined;
    actions.push({ id: `${objectId(ACL_KIND, null, acl.name)}#delete`, group, kind: ACL_KIND, name: acl.name, verb: 'delete', reason: 'left infra.yml', changes: [], after, payload: { op: 'acl-delete', name: acl.name }, ...(blocked === undefined ? {} : { blocked }) });
  }
  return { actions, notes };
}

/** `/1.0/networks/net-a` → `net-a`; an instance's URL stays whole (it is not a bridge anklume deletes). */
function userName(url: string): string {
  const bridge = /^\/1\.0\/networks\/([^/?]+)(\?.*)?$/.exec(url);
  return bridge?.[1] === undefined ? url : decodeURIComponent(bridge[1]);
}

function waitsFor(down: readonly string[], cluster: ClusterView): string {
  return `waits for member${down.length === 1 ? '' : 's'} ${down.join(', ')} (${down.map((m) => cluster.members.find((x) => x.name === m)?.status ?? 'unknown').join(', ')}): Incus refuses ACL writes while a member is down; retried on the next pass`;
}

function describe(acl: DomainAcl): string {
  return `anklume isolation of domain ${acl.domain} (bridge ${acl.bridge})`;
}

/** Write one ACL whole: PUT replaces both rule lists, so no member keeps half of an update. Or delete a leftover one. */
export async function applyAcl(client: IncusClient, payload: AclPayload | AclDeletePayload, signal: AbortSignal): Promise<void> {
  if (payload.op === 'acl-delete') {
    try {
      await client.delete(`/1.0/network-acls/${encodeURIComponent(payload.name)}`, { signal });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    return;
  }
  const { acl } = payload;
  const body = { description: acl.description, egress: acl.egress, ingress: acl.ingress, config: acl.config };
  if (payload.op === 'acl-create') {
    try {
      await client.create('/1.0/network-acls', { name: acl.name, ...body }, { signal });
      return;
    } catch (err) {
      // Created meanwhile (a pass that failed after the create): update it instead.
      if (!/already exists/i.test(String(err))) throw err;
    }
  }
  try {
    await client.put(`/1.0/network-acls/${encodeURIComponent(acl.name)}`, body, { signal });
  } catch (err) {
    if (isNotFound(err)) await client.create('/1.0/network-acls', { name: acl.name, ...body }, { signal });
    else throw err;
  }
}

/** The ACLs against the model, as the firewall's state in status: InSync only when every domain's ACL is as rendered. */
export function aclFirewallState(model: DesiredInfra, rendered: AclRuleset, observed: ReadonlyMap<string, ObservedAcl>, cluster: ClusterView): FirewallState {
  const rules = rendered.acls.reduce((n, a) => n + a.egress.length + a.ingress.length, 0);
  const actions = planAcls(model, rendered, observed, cluster);
  const where = cluster.clustered ? `on the cluster's ${cluster.members.length} members` : 'on the remote Incus';
  if (actions.length === 0) return { state: 'InSync', message: `network ACLs match infra.yml (${rendered.acls.length} ACLs, ${rules} rules, rendered by Incus ${where}); not as the host table: ${rendered.limits.length} limits (docs/cluster.md)`, diff: null, rules };
  const missing = actions.filter((a) => a.verb === 'create').map((a) => a.name);
  const differ = actions.filter((a) => a.verb !== 'create').map((a) => a.name);
  // Why they are not written yet, when something stops it (a member down, an ACL of another infra).
  const blocked = [...new Set(actions.map((a) => a.blocked).filter((b) => b !== undefined))];
  return {
    state: missing.length > 0 && differ.length === 0 ? 'Missing' : 'Drifted',
    message: `network ACLs differ from infra.yml (${[...missing.map((n) => `${n} missing`), ...differ.map((n) => `${n} differs`)].join(', ')}): isolation is not as declared${blocked.length === 0 ? '' : `; not written: ${blocked.join('; ')}`}`,
    diff: null,
    rules,
  };
}
