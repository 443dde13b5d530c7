import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { addressClashes, placeOnCluster, refuseAddressClashes, withoutBridgeWrites } from '../../src/controllers/domain/cluster-plan.js';
import { planInfra } from '../../src/controllers/domain/plan.js';
import type { Observed, ObservedNetwork } from '../../src/controllers/observed.js';
import { SINGLE_SERVER, type ClusterView } from '../../src/incus/cluster.js';
import type { DesiredInfra } from '../../src/schemas/model.js';

const INFRA = `
project_name: cl
global: { base_subnet: "10.64", default_os_image: img }
domains:
  web:
    subnet_id: 1
    placement: { member: m2 }
    machines:
      web-1: { ip: 10.64.1.10 }
  lab:
    subnet_id: 2
    machines:
      lab-1: { ip: 10.64.2.10, placement: { group: gpu } }
`;

function model(text = INFRA): DesiredInfra {
  const r = validateInfraText(text, { file: 'infra.yml', hostNetworks: [] });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}
const empty = (): Observed => ({ projects: new Map(), networks: new Map(), profiles: new Map(), instances: new Map() });
const cluster = (m3 = 'Online'): ClusterView => ({
  clustered: true,
  serverName: 'm1',
  members: [
    { name: 'm1', status: 'Online', message: '', groups: ['default'] },
    { name: 'm2', status: 'Online', message: '', groups: ['default', 'gpu'] },
    { name: 'm3', status: m3, message: '', groups: ['default'] },
  ],
});
const planFor = (m: DesiredInfra, observed: Observed, view: ClusterView) => placeOnCluster(planInfra(m, observed, { storagePool: 'data', prune: false, force: false }), m, observed, view);

describe('a domain plan on a cluster', () => {
  it('creates networks on every member first and instances on their placement', () => {
    const m = model();
    const plan = planFor(m, empty(), cluster());
    const net = plan.actions.find((a) => a.id === 'network/net-web');
    expect((net?.payload as { members: string[] }).members).toEqual(['m1', 'm2', 'm3']);
    expect((plan.actions.find((a) => a.name === 'web-1')?.payload as { target: string }).target).toBe('m2');
    expect((plan.actions.find((a) => a.name === 'lab-1')?.payload as { target: string }).target).toBe('@gpu');
    expect(plan.actions.every((a) => a.blocked === undefined)).toBe(true);
  });

  it('with a member down, network writes wait for it, and so does what needs them; nothing else', () => {
    const m = model();
    const plan = planFor(m, empty(), cluster('Offline'));
    const waiting = plan.actions.filter((a) => a.blocked !== undefined);
    expect(waiting.map((a) => a.id).sort()).toEqual(plan.actions.filter((a) => a.kind === 'network' || a.after.some((id) => id.startsWith('network/'))).map((a) => a.id).sort());
    for (const a of waiting) expect(a.blocked).toMatch(/waits for member m3 \(Offline\)/);
  });

  it('finishes a network left Pending or Errored', () => {
    const m = model();
    const observed = empty();
    const pending: ObservedNetwork = { name: 'net-web', description: '', type: 'bridge', managed: true, config: {}, status: 'Errored' };
    (observed.networks as Map<string, ObservedNetwork>).set('net-web', pending);
    const net = planFor(m, observed, cluster()).actions.find((a) => a.id === 'network/net-web');
    expect(net?.verb).toBe('create');
    expect(net?.reason).toMatch(/errored on the cluster: finishing its create/);
  });

  it('blocks a placed instance on a single Incus, or on a member or group the cluster lacks', () => {
    expect(planFor(model(), empty(), SINGLE_SERVER).actions.find((a) => a.name === 'web-1')?.blocked).toMatch(/not a cluster/);
    const noSuch = planFor(model(INFRA.replace('member: m2', 'member: m9')), empty(), cluster()).actions.find((a) => a.name === 'web-1');
    expect(noSuch?.blocked).toMatch(/no cluster member "m9"/);
    const noGroup = planFor(model(INFRA.replace('group: gpu', 'group: tpu')), empty(), cluster()).actions.find((a) => a.name === 'lab-1');
    expect(noGroup?.blocked).toMatch(/no member is in cluster group "tpu"/);
  });

  it('says a misplaced instance, and moves nothing; an address pinned twice is the refusal\'s to say, not a note', () => {
    const m = model();
    const observed = empty();
    const instances = observed.instances as Map<string, Observed['instances'] extends ReadonlyMap<string, infer I> ? I : never>;
    instances.set('web/web-1', { name: 'web-1', project: 'web', type: 'container', status: 'Running', description: '', profiles: ['default'], config: {}, devices: {}, location: 'm1' });
    instances.set('other/x', { name: 'x', project: 'other', type: 'container', status: 'Running', description: '', profiles: ['default'], config: {}, devices: { eth0: { type: 'nic', network: 'net-lab', 'ipv4.address': '10.64.2.10' } }, location: 'm3' });
    expect(addressClashes(m, observed)).toHaveLength(1);
    const plan = planFor(m, observed, cluster());
    expect(plan.notes.map((n) => n.message)).toEqual([expect.stringMatching(/^misplaced: runs on member m1, placement says m2/)]);
    expect(plan.actions.some((a) => a.name === 'web-1' && (a.verb === 'delete' || a.verb === 'replace'))).toBe(false);
  });

  it('refuses an address pinned by another instance on the bridge, on any member, with what holds it; nothing else is a clash', () => {
    const m = model();
    const observed = empty();
    const instances = observed.instances as Map<string, Observed['instances'] extends ReadonlyMap<string, infer I> ? I : never>;
    const nic = (network: string, ip: string) => ({ eth0: { type: 'nic', network, 'ipv4.address': ip } });
    // The machine itself, another address on the bridge, the address on another bridge: no clash.
    instances.set('web/web-1', { name: 'web-1', project: 'web', type: 'container', status: 'Running', description: '', profiles: ['default'], config: {}, devices: nic('net-web', '10.64.1.10'), location: 'm2' });
    instances.set('other/y', { name: 'y', project: 'other', type: 'container', status: 'Running', description: '', profiles: ['default'], config: {}, devices: nic('net-web', '10.64.1.99'), location: 'm1' });
    instances.set('other/z', { name: 'z', project: 'other', type: 'container', status: 'Running', description: '', profiles: ['default'], config: {}, devices: nic('net-lab', '10.64.1.10'), location: 'm1' });
    expect(addressClashes(m, observed)).toEqual([]);
    expect(() => refuseAddressClashes(addressClashes(m, observed))).not.toThrow();
    instances.set('other/x', { name: 'x', project: 'other', type: 'container', status: 'Stopped', description: '', profiles: ['default'], config: {}, devices: nic('net-web', '10.64.1.10'), location: 'm3' });
    const clashes = addressClashes(m, observed);
    expect(clashes).toEqual([{ domain: 'web', machine: 'web-1', ip: '10.64.1.10', other: 'other/x', member: 'm3' }]);
    expect(() => refuseAddressClashes(clashes)).toThrow(/^an address is pinned twice; nothing was changed:\n {2}web\/web-1: address 10\.64\.1\.10 is also pinned by instance other\/x on member m3 on bridge net-web/);
    try {
      refuseAddressClashes(clashes);
    } catch (err) {
      expect((err as { code?: string }).code).toBe('IP_CONFLICT');
    }
  });

  it('where bridges name their ACL, holds bridge creates and updates while the ACLs are not in place; deletions go on', () => {
    const m = model();
    const plan = planFor(m, empty(), cluster());
    const held = withoutBridgeWrites(plan, 'anklume-web missing');
    expect(held.actions.find((a) => a.id === 'network/net-web')?.blocked).toBe("the network ACLs are not in place (anklume-web missing): the bridge names its domain's ACL");
    expect(held.actions.filter((a) => a.kind !== 'network').map((a) => a.blocked)).toEqual(plan.actions.filter((a) => a.kind !== 'network').map((a) => a.blocked));
    const deletion = { ...plan.actions[0]!, id: 'network/net-old#delete', verb: 'delete' as const };
    expect(withoutBridgeWrites({ actions: [deletion], notes: [] }, 'x').actions[0]?.blocked).toBeUndefined();
  });
});
