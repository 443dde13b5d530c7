import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { RESEND_REASON, aclFirewallState, desiredAcls, planAclLeftovers, planAcls, usesAcls, type ObservedAcl } from '../../src/controllers/firewall/acl.js';
import { SINGLE_SERVER, type ClusterView } from '../../src/incus/cluster.js';
import { ownershipMarks } from '../../src/reconcile/ownership.js';
import type { DesiredInfra } from '../../src/schemas/model.js';

// The ACL form of the firewall, planned (pure): what is written, re-sent, pruned, and what waits for a member.
const INFRA = `
project_name: aclplan
global: { base_subnet: "10.64", default_os_image: img, ai_access_policy: exclusive, ai_access_default: pro }
domains:
  pro:
    subnet_id: 1
    machines:
      pro-dev: { ip: 10.64.1.10 }
  perso:
    subnet_id: 2
    machines:
      perso-desk: { ip: 10.64.2.10 }
  ai-tools:
    subnet_id: 3
    machines:
      ai-gpu: { ip: 10.64.3.10, roles: [ollama_server] }
network_policies:
  - description: Ollama for the holder
    from: pro
    to: ai-tools
    ports: [11434]
`;

function model(text = INFRA): DesiredInfra {
  const r = validateInfraText(text, { file: 'infra.yml', hostNetworks: [] });
  if (!r.ok) throw new Error(JSON.stringify(r.issues, null, 2));
  return r.model;
}
const cluster = (m3 = 'Online'): ClusterView => ({
  clustered: true,
  serverName: 'm1',
  members: ['m1', 'm2', 'm3'].map((name) => ({ name, status: name === 'm3' ? m3 : 'Online', message: '', groups: ['default'] })),
});

/** What Incus would return after anklume wrote these ACLs (every rule field filled). */
function written(m: DesiredInfra, holder: string | null): Map<string, ObservedAcl> {
  return new Map(desiredAcls(m, holder).acls.map((a) => [a.name, { name: a.name, description: `anklume isolation of domain ${a.domain} (bridge ${a.bridge})`, egress: a.egress, ingress: a.ingress, config: ownershipMarks(m.projectName, a.domain), used_by: [`/1.0/networks/${a.bridge}`] }]));
}

describe('the network ACLs planned against what Incus holds', () => {
  const m = model();

  it('is where Incus is a cluster or remote; the host table on one local Incus', () => {
    expect(usesAcls(cluster(), { unavailable: 'remote' })).toBe(true);
    expect(usesAcls(SINGLE_SERVER, { unavailable: 'remote' })).toBe(true);
    expect(usesAcls(cluster(), undefined)).toBe(true);
    expect(usesAcls(SINGLE_SERVER, undefined)).toBe(false);
  });

  it('writes nothing when they match, and every ACL again when a re-send is asked', () => {
    const rendered = desiredAcls(m, 'pro');
    const observed = written(m, 'pro');
    expect(planAcls(m, rendered, observed, cluster())).toEqual([]);
    const resend = planAcls(m, rendered, observed, cluster(), { resend: true });
    expect(resend.map((a) => `${a.verb} ${a.name} ${a.reason}`).sort()).toEqual(['anklume-ai-tools', 'anklume-perso', 'anklume-pro'].map((n) => `update ${n} ${RESEND_REASON}`));
    // A member down: nothing is re-sent (Incus would refuse it), and status stays in sync.
    expect(planAcls(m, rendered, observed, cluster('Offline'), { resend: true })).toEqual([]);
    expect(aclFirewallState(m, rendered, observed, cluster('Offline')).state).toBe('InSync');
  });

  it('a switch of the AI access holder changes the ACLs: the two domains concerned are written', () => {
    const actions = planAcls(m, desiredAcls(m, 'perso'), written(m, 'pro'), cluster());
    expect(actions.map((a) => `${a.verb} ${a.name}`).sort()).toEqual(['update anklume-ai-tools', 'update anklume-perso', 'update anklume-pro']);
    expect(actions.every((a) => a.blocked === undefined)).toBe(true);
  });

  it('an ACL edited behind anklume is Drifted, and its write waits while a member is down, naming it', () => {
    const observed = written(m, 'pro');
    const pro = observed.get('anklume-pro');
    if (pro === undefined) throw new Error('no pro ACL');
    observed.set('anklume-pro', { ...pro, ingress: [...pro.ingress, { action: 'allow', source: '0.0.0.0/0', destination: '', protocol: '', source_port: '', destination_port: '', icmp_type: '', icmp_code: '', description: 'hand-made', state: 'enabled' }] });
    const rendered = desiredAcls(m, 'pro');
    expect(planAcls(m, rendered, observed, cluster()).map((a) => `${a.verb} ${a.name} ${a.blocked ?? ''}`)).toEqual(['update anklume-pro ']);
    const state = aclFirewallState(m, rendered, observed, cluster('Offline'));
    expect(state.state).toBe('Drifted');
    expect(state.message).toMatch(/anklume-pro differs.*not written: waits for member m3 \(Offline\)/);
  });

  it('never writes over an ACL of another infra or one without marks', () => {
    const observed = written(m, 'pro');
    const perso = observed.get('anklume-perso');
    if (perso === undefined) throw new Error('no perso ACL');
    observed.set('anklume-perso', { ...perso, egress: [], config: {} });
    const [action] = planAcls(m, desiredAcls(m, 'pro'), observed, cluster());
    expect(action?.blocked).toMatch(/anklume-perso/);
    expect(action?.payload).toEqual({ op: 'none' });
  });
});

describe('ACLs of domains gone from infra.yml', () => {
  const before = model();
  const after = model(INFRA.replace(/ {2}perso:\n {4}subnet_id: 2\n {4}machines:\n {6}perso-desk: \{ ip: 10\.64\.2\.10 \}\n/, ''));
  const observed = (): Map<string, ObservedAcl> => {
    const acls = written(before, 'pro');
    acls.set('hand-made', { name: 'hand-made', description: '', egress: [], ingress: [], config: {}, used_by: [] });
    acls.set('anklume-other', { name: 'anklume-other', description: '', egress: [], ingress: [], config: ownershipMarks('another-infra', 'other'), used_by: [] });
    return acls;
  };

  it('are kept without prune, said in a note', () => {
    const { actions, notes } = planAclLeftovers(after, desiredAcls(after, 'pro'), observed(), cluster(), { prune: false });
    expect(actions).toEqual([]);
    expect(notes.map((n) => `${n.name}: ${n.message}`)).toEqual(['anklume-perso: no longer in infra.yml; kept (apply --prune deletes it)']);
  });

  it('are deleted with prune, after the bridge deletion that still names them; never one that is not ours', () => {
    const { actions } = planAclLeftovers(after, desiredAcls(after, 'pro'), observed(), cluster(), { prune: true, bridgeDeletes: new Map([['net-perso', 'network/net-perso#delete']]) });
    expect(actions.map((a) => ({ id: a.id, group: a.group, verb: a.verb, after: a.after, blocked: a.blocked }))).toEqual([{ id: 'acl/anklume-perso#delete', group: 'perso', verb: 'delete', after: ['network/net-perso#delete'], blocked: undefined }]);
    expect(actions[0]?.payload).toEqual({ op: 'acl-delete', name: 'anklume-perso' });
  });

  it('wait while a bridge that is not being deleted still names them, or a member is down', () => {
    const named = planAclLeftovers(after, desiredAcls(after, 'pro'), observed(), cluster(), { prune: true });
    expect(named.actions[0]?.blocked).toMatch(/^still named by net-perso: deleted once nothing names it/);
    const unused = observed();
    const perso = unused.get('anklume-perso');
    if (perso === undefined) throw new Error('no perso ACL');
    unused.set('anklume-perso', { ...perso, used_by: [] });
    expect(planAclLeftovers(after, desiredAcls(after, 'pro'), unused, cluster(), { prune: true }).actions[0]?.blocked).toBeUndefined();
    expect(planAclLeftovers(after, desiredAcls(after, 'pro'), unused, cluster('Offline'), { prune: true }).actions[0]?.blocked).toMatch(/waits for member m3 \(Offline\)/);
  });
});
