import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { planInfra, type PlanOptions } from '../../src/controllers/domain/plan.js';
import type { Observed, ObservedInstance, ObservedProfile } from '../../src/controllers/observed.js';
import type { Action } from '../../src/reconcile/action.js';
import type { DesiredInfra } from '../../src/schemas/model.js';

const INFRA = `
project_name: spooftest
domains:
  pro:
    trust_level: trusted
    profiles: { extra-nic: { devices: { eth2: { type: nic, network: net-pro, name: eth2 } } } }
    machines:
      pro-a1: { ip: 10.110.0.10, devices: { eth1: { type: nic, network: net-pro, name: eth1, security.ipv4_filtering: "false" }, data: { type: disk, pool: default, source: vol, path: /data } } }
      pro-a2: { ip: 10.110.0.11, profiles: [default, extra-nic] }
  ops:
    trust_level: admin
    machines:
      ops-1: { devices: { pro-link: { type: nic, nictype: bridged, parent: net-pro, name: eth1 }, lan: { type: nic, nictype: bridged, parent: br-lan, name: eth2 } } }
`;

const FILTERING = { 'security.mac_filtering': 'true', 'security.ipv4_filtering': 'true' };
const options: PlanOptions = { storagePool: 'default', prune: false, force: false };

function model(): DesiredInfra {
  const r = validateInfraText(INFRA, { file: 'infra.yml' });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}

const empty = (): Observed => ({ projects: new Map(), networks: new Map(), profiles: new Map(), instances: new Map() });
const desiredOf = (actions: readonly Action[], id: string): any => (actions.find((a) => a.id === id)?.payload as any).desired;

/** Incus as the plan from nothing leaves it: every object as desired, plus Incus's own volatile keys. */
function converged(m: DesiredInfra): { projects: Observed['projects']; networks: Observed['networks']; profiles: Map<string, ObservedProfile>; instances: Map<string, ObservedInstance> } {
  const state = { projects: new Map(), networks: new Map(), profiles: new Map<string, ObservedProfile>(), instances: new Map<string, ObservedInstance>() };
  for (const a of planInfra(m, empty(), options).actions) {
    const p = a.payload as any;
    if (p.op === 'create' && a.kind === 'project') state.projects.set(a.name, { name: a.name, description: p.desired.description, config: { ...p.desired.createOnly, ...p.desired.config } });
    if (p.op === 'create' && a.kind === 'network') state.networks.set(a.name, { name: a.name, description: p.desired.description, type: 'bridge', managed: true, config: p.desired.config });
    if (a.kind === 'profile') state.profiles.set(`${p.desired.project}/${a.name}`, { name: a.name, project: p.desired.project, description: p.desired.description, config: p.desired.config, devices: p.desired.devices });
    if (p.op === 'create' && a.kind === 'instance') {
      const d = p.desired;
      state.instances.set(`${d.project}/${d.name}`, { name: d.name, project: d.project, type: d.type, status: 'Running', description: d.description, profiles: d.profiles, config: { ...d.config, 'volatile.eth0.hwaddr': '10:66:6a:00:00:01' }, devices: d.devices });
    }
  }
  return state;
}

/** A device as anklume wrote it before filtering existed. */
function unfiltered(device: Readonly<Record<string, string>>): Record<string, string> {
  const { 'security.mac_filtering': _mac, 'security.ipv4_filtering': _ipv4, ...rest } = device;
  return rest;
}

describe('no spoofing: every NIC on a domain bridge filters its addresses', () => {
  it('puts MAC and IPv4 filtering on the pinned eth0 and on every declared NIC on the bridge, over a declared "false"', () => {
    const plan = planInfra(model(), empty(), options);
    const a1 = desiredOf(plan.actions, 'instance/pro/pro-a1');
    expect(a1.devices.eth0).toEqual({ type: 'nic', network: 'net-pro', name: 'eth0', 'ipv4.address': '10.110.0.10', ...FILTERING });
    expect(a1.devices.eth1).toEqual({ type: 'nic', network: 'net-pro', name: 'eth1', ...FILTERING });
    expect(a1.devices.data).toEqual({ type: 'disk', pool: 'default', source: 'vol', path: '/data' });
    // IPv6 is off on the bridges (ipv6.address=none): no key for it.
    expect(Object.keys(a1.devices.eth0)).not.toContain('security.ipv6_filtering');
  });

  it('filters a NIC an admin domain puts on another domain\'s bridge, and leaves a bridge anklume does not own alone', () => {
    const ops = desiredOf(planInfra(model(), empty(), options).actions, 'instance/ops/ops-1');
    expect(ops.devices['pro-link']).toEqual({ type: 'nic', nictype: 'bridged', parent: 'net-pro', name: 'eth1', ...FILTERING });
    expect(ops.devices.lan).toEqual({ type: 'nic', nictype: 'bridged', parent: 'br-lan', name: 'eth2' });
  });

  it('filters the NICs of the default profile and of declared profiles, so an instance made by hand in the project cannot claim an address either', () => {
    const plan = planInfra(model(), empty(), options);
    expect(desiredOf(plan.actions, 'profile/pro/default').devices.eth0).toEqual({ type: 'nic', network: 'net-pro', name: 'eth0', ...FILTERING });
    expect(desiredOf(plan.actions, 'profile/pro/extra-nic').devices.eth2).toEqual({ type: 'nic', network: 'net-pro', name: 'eth2', ...FILTERING });
  });

  it('updates an instance created before filtering in place: one update of eth0, no replacement, no restart', () => {
    const m = model();
    const state = converged(m);
    const a1 = state.instances.get('pro/pro-a1')!;
    state.instances.set('pro/pro-a1', { ...a1, devices: { ...a1.devices, eth0: unfiltered(a1.devices['eth0']!) } });
    const plan = planInfra(m, state, options);
    expect(plan.actions.map((a) => `${a.verb} ${a.id}`)).toEqual(['update instance/pro/pro-a1']);
    const update = plan.actions[0]!;
    expect(update.changes).toEqual([
      {
        key: 'devices.eth0',
        from: 'ipv4.address=10.110.0.10,name=eth0,network=net-pro,type=nic',
        to: 'ipv4.address=10.110.0.10,name=eth0,network=net-pro,security.ipv4_filtering=true,security.mac_filtering=true,type=nic',
      },
    ]);
    expect(update.blocked).toBeUndefined();
    const payload = update.payload as any;
    expect(payload).toMatchObject({ op: 'update', set: {}, unset: [], removeDevices: [], profiles: null, description: null });
    expect(payload.setDevices).toEqual({ eth0: { type: 'nic', network: 'net-pro', name: 'eth0', 'ipv4.address': '10.110.0.10', ...FILTERING } });
  });

  it('updates a default profile written before filtering, and puts back a filter turned off by hand', () => {
    const m = model();
    const state = converged(m);
    const profile = state.profiles.get('pro/default')!;
    state.profiles.set('pro/default', { ...profile, devices: { ...profile.devices, eth0: unfiltered(profile.devices['eth0']!) } });
    const a2 = state.instances.get('pro/pro-a2')!;
    state.instances.set('pro/pro-a2', { ...a2, devices: { ...a2.devices, eth0: { ...a2.devices['eth0']!, 'security.ipv4_filtering': 'false' } } });
    const plan = planInfra(m, state, options);
    expect(plan.actions.map((a) => `${a.verb} ${a.id}: ${a.changes.map((c) => c.key).join(',')}`)).toEqual(['update profile/pro/default: devices.eth0', 'update instance/pro/pro-a2: devices.eth0']);
  });

  it('plans nothing once the instances carry the filtering', () => {
    const m = model();
    const plan = planInfra(m, converged(m), options);
    expect(plan.actions).toEqual([]);
  });
});
