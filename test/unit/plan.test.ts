import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import type { Observed, ObservedInstance, ObservedNetwork, ObservedProfile, ObservedProject } from '../../src/controllers/observed.js';
import { planInfra, type PlanOptions } from '../../src/controllers/domain/plan.js';
import { runnable, type Action } from '../../src/reconcile/action.js';
import { executePlan } from '../../src/reconcile/execute.js';
import { withFirewallFirst } from '../../src/controllers/whole-pass.js';
import type { DesiredInfra } from '../../src/schemas/model.js';

const INFRA = `
project_name: plantest
domains:
  pro:
    trust_level: trusted
    profiles: { big: { config: { limits.cpu: 4 } } }
    machines:
      pro-dev: { ip: 10.110.0.10, profiles: [default, big], config: { limits.memory: 2GiB } }
      pro-gpu: { gpu: true }
  sandbox:
    trust_level: disposable
    ephemeral: true
    machines: { sandbox-1: { os_image: "images:debian/13" } }
`;

function model(text = INFRA): DesiredInfra {
  const r = validateInfraText(text, { file: 'infra.yml' });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}

const empty = (): Observed => ({ projects: new Map(), networks: new Map(), profiles: new Map(), instances: new Map() });
const options: PlanOptions = { storagePool: 'default', prune: false, force: false };

/** What Incus would hold after applying the plan: the desired objects, as Incus reports them. */
type MutableObserved = { projects: Map<string, ObservedProject>; networks: Map<string, ObservedNetwork>; profiles: Map<string, ObservedProfile>; instances: Map<string, ObservedInstance> };

function converged(m: DesiredInfra): MutableObserved {
  const state = { projects: new Map<string, ObservedProject>(), networks: new Map<string, ObservedNetwork>(), profiles: new Map<string, ObservedProfile>(), instances: new Map<string, ObservedInstance>() };
  for (const a of planInfra(m, empty(), options).actions) {
    const p = a.payload as any;
    if (p.op === 'create' && a.kind === 'project') state.projects.set(a.name, { name: a.name, description: p.desired.description, config: { ...p.desired.createOnly, ...p.desired.config } });
    if (p.op === 'create' && a.kind === 'network') state.networks.set(a.name, { name: a.name, description: p.desired.description, type: 'bridge', managed: true, config: p.desired.config });
    if (a.kind === 'profile') state.profiles.set(`${p.desired.project}/${a.name}`, { name: a.name, project: p.desired.project, description: p.desired.description, config: p.desired.config, devices: p.desired.devices });
    if (p.op === 'create' && a.kind === 'instance') {
      const d = p.desired;
      // Incus adds volatile keys of its own: they must never count as drift.
      state.instances.set(`${d.project}/${d.name}`, { name: d.name, project: d.project, type: d.type, status: 'Running', description: d.description, profiles: d.profiles, config: { ...d.config, 'volatile.uuid': 'x', 'image.os': 'debian' }, devices: d.devices });
    }
  }
  return state;
}

function summary(actions: readonly Action[]): string[] {
  return actions.map((a) => `${a.verb} ${a.id}${a.blocked === undefined ? '' : ' [blocked]'}`);
}

describe('planInfra', () => {
  it('creates everything from nothing, bridge → project → profiles → instances', () => {
    const plan = planInfra(model(), empty(), options);
    expect(summary(plan.actions)).toEqual([
      'create network/net-pro',
      'create project/pro',
      'update profile/pro/default',
      'create profile/pro/big',
      'create instance/pro/pro-dev',
      'create instance/pro/pro-gpu',
      'create network/net-sandbox',
      'create project/sandbox',
      'update profile/sandbox/default',
      'create instance/sandbox/sandbox-1',
    ]);
    const dev = plan.actions.find((a) => a.id === 'instance/pro/pro-dev');
    expect(dev?.after).toEqual(['project/pro', 'network/net-pro', 'profile/pro/default', 'profile/pro/big']);
  });

  it("orders a domain's actions by what each needs only, never after another domain's (no phases)", () => {
    const plan = planInfra(model(), empty(), options);
    for (const a of plan.actions) {
      expect(a.notBefore ?? []).toEqual([]);
      const needs = a.after.map((id) => plan.actions.find((x) => x.id === id)?.group);
      expect(needs.every((g) => g === a.group)).toBe(true);
    }
    expect(plan.actions.find((a) => a.id === 'network/net-sandbox')?.after).toEqual([]);
    // The project needs nothing; its default profile (eth0 names the bridge) needs both.
    expect(plan.actions.find((a) => a.id === 'project/sandbox')?.after).toEqual([]);
    expect(plan.actions.find((a) => a.id === 'profile/sandbox/default')?.after).toEqual(['project/sandbox', 'network/net-sandbox']);
  });

  it('plans nothing when Incus already matches, whatever volatile keys Incus added', () => {
    const m = model();
    const plan = planInfra(m, converged(m), options);
    expect(plan.actions).toEqual([]);
    expect(plan.notes).toEqual([]);
  });

  it('pins eth0, protects non-ephemeral instances, adds the GPU and the ownership marks', () => {
    const m = model();
    const plan = planInfra(m, empty(), options);
    const gpu = (plan.actions.find((a) => a.id === 'instance/pro/pro-gpu')?.payload as any).desired;
    expect(gpu.devices).toEqual({ gpu: { type: 'gpu', gputype: 'physical' }, eth0: { type: 'nic', network: 'net-pro', name: 'eth0', 'ipv4.address': '10.110.0.1', 'security.mac_filtering': 'true', 'security.ipv4_filtering': 'true' } });
    expect(gpu.config).toMatchObject({ 'security.protection.delete': 'true', 'user.anklume.managed': 'true', 'user.anklume.infra': 'plantest', 'user.anklume.domain': 'pro' });
    const sandbox = plan.actions.find((a) => a.id === 'instance/sandbox/sandbox-1')?.payload as any;
    expect(sandbox.desired.config['security.protection.delete']).toBeUndefined();
    expect(sandbox.source).toEqual({ type: 'image', alias: 'debian/13', server: 'https://images.linuxcontainers.org', protocol: 'simplestreams', mode: 'pull' });
  });

  it('confines each project to its bridge and allows the GPU only where a machine has one', () => {
    const plan = planInfra(model(), empty(), options);
    const pro = (plan.actions.find((a) => a.id === 'project/pro')?.payload as any).desired;
    expect(pro.config).toMatchObject({ restricted: 'true', 'restricted.networks.access': 'net-pro', 'restricted.devices.gpu': 'allow' });
    expect(pro.createOnly).toMatchObject({ 'features.networks': 'false', 'features.profiles': 'true', 'features.images': 'false' });
    const sandbox = (plan.actions.find((a) => a.id === 'project/sandbox')?.payload as any).desired;
    expect(sandbox.config['restricted.devices.gpu']).toBeUndefined();
    const bridge = (plan.actions.find((a) => a.id === 'network/net-pro')?.payload as any).desired;
    expect(bridge.config).toMatchObject({ 'ipv4.address': '10.110.0.254/24', 'ipv4.nat': 'true', 'ipv4.dhcp.ranges': '10.110.0.100-10.110.0.249', 'ipv6.address': 'none' });
  });

  it('repairs drift: a changed bridge key, a removed managed key, a stopped instance', () => {
    const m = model();
    const state = converged(m);
    const net = state.networks.get('net-pro')!;
    state.networks.set('net-pro', { ...net, config: { ...net.config, 'ipv4.nat': 'false', 'dns.domain': 'set-by-someone' } });
    const dev = state.instances.get('pro/pro-dev')!;
    const { 'limits.memory': _gone, ...devConfig } = dev.config;
    state.instances.set('pro/pro-dev', { ...dev, config: { ...devConfig, 'user.other': 'kept' }, status: 'Stopped' });
    const plan = planInfra(m, state, options);
    expect(summary(plan.actions)).toEqual(['update network/net-pro', 'update instance/pro/pro-dev', 'start instance/pro/pro-dev#start']);
    expect(plan.actions[0]?.changes).toEqual([{ key: 'ipv4.nat', from: 'false', to: 'true' }]);
    expect(plan.actions[1]?.changes).toEqual([{ key: 'limits.memory', to: '2GiB' }]);
    expect(plan.actions[2]?.after).toEqual(['instance/pro/pro-dev']);
  });

  it('owns what decides isolation: a restricted.* key or a bridge key set by hand is unset, other keys set by others are kept', () => {
    const m = model();
    const state = converged(m);
    const project = state.projects.get('pro')!;
    state.projects.set('pro', { ...project, config: { ...project.config, 'restricted.containers.privilege': 'allow', 'user.note': 'kept' } });
    const net = state.networks.get('net-pro')!;
    state.networks.set('net-pro', { ...net, config: { ...net.config, 'bridge.external_interfaces': 'eth9', 'ipv4.firewall': 'false', 'ipv6.nat': 'true', 'dns.domain': 'kept' } });
    const plan = planInfra(m, state, options);
    expect(summary(plan.actions)).toEqual(['update network/net-pro', 'update project/pro']);
    expect(plan.actions[0]?.changes).toEqual([
      { key: 'bridge.external_interfaces', from: 'eth9' },
      { key: 'ipv4.firewall', from: 'false' },
      { key: 'ipv6.nat', from: 'true' },
    ]);
    expect(plan.actions[1]?.changes).toEqual([{ key: 'restricted.containers.privilege', from: 'allow' }]);
    expect((plan.actions[1]?.payload as { unset: string[] }).unset).toEqual(['restricted.containers.privilege']);
  });

  it('warns on every plan about what allow_unsafe lets cross a boundary', () => {
    const m = model(INFRA.replace('pro-gpu: { gpu: true }', 'pro-gpu: { gpu: true, config: { security.privileged: "true" }, allow_unsafe: [privileged] }'));
    const plan = planInfra(m, converged(m), options);
    expect(plan.notes).toEqual([{ group: 'pro', kind: 'instance', name: 'pro-gpu', message: 'WARNING allow_unsafe: privileged — may cross the boundary of a trusted domain' }]);
  });

  it('never renumbers a domain silently: a new domain shifting the name order blocks its bridge and what depends on it', () => {
    // Only auto-assigned addresses: an explicit one would make the file invalid instead (ip-in-subnet).
    const autoOnly = INFRA.replace('ip: 10.110.0.10, ', '');
    const state = converged(model(autoOnly));
    // lab sorts before pro in the trusted zone: pro would move from 10.110.0.0/24 to 10.110.1.0/24.
    const shifted = model(autoOnly.replace('domains:\n', 'domains:\n  lab: { trust_level: trusted }\n'));
    const plan = planInfra(shifted, state, options);
    const bridge = plan.actions.find((a) => a.id === 'network/net-pro');
    expect(bridge?.blocked).toContain('would be renumbered from 10.110.0.0/24 to 10.110.1.0/24');
    const dev = plan.actions.find((a) => a.id === 'instance/pro/pro-dev');
    expect(dev?.after).toContain('network/net-pro');
    expect(planInfra(shifted, state, { ...options, force: true }).actions.find((a) => a.id === 'network/net-pro')?.blocked).toBeUndefined();
  });

  it('still repairs an address changed by hand (the subnet in infra.yml did not move)', () => {
    const m = model();
    const state = converged(m);
    const net = state.networks.get('net-pro')!;
    state.networks.set('net-pro', { ...net, config: { ...net.config, 'ipv4.address': '10.110.0.1/24' } });
    const bridge = planInfra(m, state, options).actions.find((a) => a.id === 'network/net-pro');
    expect(bridge?.changes).toEqual([{ key: 'ipv4.address', from: '10.110.0.1/24', to: '10.110.0.254/24' }]);
    expect(bridge?.blocked).toBeUndefined();
  });

  it('unsets keys removed from infra.yml, but not keys others set', () => {
    const before = model();
    const state = converged(before);
    const after = model(INFRA.replace(', config: { limits.memory: 2GiB }', ''));
    const plan = planInfra(after, state, options);
    const update = plan.actions.find((a) => a.id === 'instance/pro/pro-dev');
    expect(update?.changes).toEqual([{ key: 'user.anklume.managed-keys', from: 'limits.memory,security.protection.delete', to: 'security.protection.delete' }, { key: 'limits.memory', from: '2GiB' }]);
    expect((update?.payload as any).unset).toEqual(['limits.memory']);
  });

  it('reports an instance type or image change as needing replacement, never doing it', () => {
    const m = model();
    const state = converged(m);
    const changed = model(INFRA.replace('pro-gpu: { gpu: true }', 'pro-gpu: { gpu: true, type: vm }').replace('"images:debian/13"', '"images:debian/12"'));
    const plan = planInfra(changed, state, options);
    const replaces = plan.actions.filter((a) => a.verb === 'replace');
    expect(summary(replaces)).toEqual(['replace instance/pro/pro-gpu#replace [blocked]', 'replace instance/sandbox/sandbox-1#replace [blocked]']);
    expect(replaces[0]?.blocked).toContain('needs replacement: type cannot change in place');
    expect(runnable({ actions: replaces, notes: [] })).toEqual([]);
  });

  it('never touches objects it does not own, and says why', () => {
    const m = model();
    const state = converged(m);
    const net = state.networks.get('net-pro')!;
    state.networks.set('net-pro', { ...net, config: { 'ipv4.address': '10.9.9.1/24' } });
    const plan = planInfra(m, state, options);
    expect(summary(plan.actions)).toEqual(['update network/net-pro [blocked]']);
    expect(plan.actions[0]?.blocked).toContain('was not created by anklume');
  });

  describe('leftovers', () => {
    const withLeftover = (): { m: DesiredInfra; state: MutableObserved } => {
      const full = model();
      const state = converged(full);
      const m = model(INFRA.replace('      pro-gpu: { gpu: true }\n', ''));
      return { m, state };
    };

    it('are kept and reported without --prune', () => {
      const { m, state } = withLeftover();
      const plan = planInfra(m, state, options);
      expect(plan.notes).toEqual([{ group: 'pro', kind: 'instance', name: 'pro-gpu', message: 'no longer in infra.yml; kept (apply --prune deletes it)' }]);
      expect(plan.actions.map((a) => a.id)).toEqual(['project/pro']); // the GPU allowance goes
    });

    it('are deleted with --prune, except protected instances without --force', () => {
      const { m, state } = withLeftover();
      const plan = planInfra(m, state, { ...options, prune: true });
      const del = plan.actions.find((a) => a.verb === 'delete');
      expect(del?.blocked).toContain('is protected');
      const forced = planInfra(m, state, { ...options, prune: true, force: true });
      const d = forced.actions.find((a) => a.verb === 'delete');
      expect(d?.blocked).toBeUndefined();
      expect(d?.payload).toEqual({ op: 'delete', project: 'pro', name: 'pro-gpu', running: true, unprotect: true });
    });

    it('refuse a pass that deletes more than half of the managed instances without --force', () => {
      const full = model();
      const state = converged(full);
      const m = model('project_name: plantest\ndomains:\n  other: {}\n');
      const plan = planInfra(m, state, { ...options, prune: true });
      const deletes = plan.actions.filter((a) => a.verb === 'delete' && a.kind === 'instance');
      expect(deletes).toHaveLength(3);
      for (const d of deletes) expect(d.blocked).toContain('would delete 3 of 3 managed instances');
      const project = plan.actions.find((a) => a.id === 'project/pro#delete');
      expect(project?.after).toEqual(expect.arrayContaining(['instance/pro/pro-dev#delete', 'profile/pro/big#delete']));
    });

    it('belong to this infra only: another project_name or unmarked objects are never leftovers', () => {
      const m = model();
      const state = converged(m);
      const other = model(INFRA.replace('project_name: plantest', 'project_name: someone-else'));
      const plan = planInfra(model('project_name: plantest\ndomains: {}\n'), converged(other), { ...options, prune: true, force: true });
      expect(plan.actions).toEqual([]);
      expect(state.instances.size).toBe(3);
    });

    it('leave a disabled domain alone', () => {
      const m = model();
      const state = converged(m);
      const disabled = model(INFRA.replace('    trust_level: disposable\n', '    trust_level: disposable\n    enabled: false\n'));
      const plan = planInfra(disabled, state, { ...options, prune: true, force: true });
      expect(plan.actions).toEqual([]);
    });
  });
});

describe('planInfra for some groups only (one domain reconciler key)', () => {
  it('plans the same actions for a domain as the whole plan has for it, and nothing of the others', () => {
    const m = model();
    const whole = planInfra(m, empty(), options);
    const pro = planInfra(m, empty(), { ...options, only: (g) => g === 'pro' });
    const brief = (a: Action): string => `${a.verb} ${a.id}`;
    expect(pro.actions.map(brief)).toEqual(whole.actions.filter((a) => a.group === 'pro').map(brief));
    expect(pro.actions.every((a) => a.group === 'pro')).toBe(true);
  });

  it('never takes another domain for leftovers; the leftovers key gets the objects of domains gone from the file', () => {
    const m = model();
    const observed = converged(m);
    const prune = { ...options, prune: true, force: true };
    expect(planInfra(m, observed, { ...prune, only: (g) => g === 'pro' }).actions).toEqual([]);
    const withoutSandbox = model(INFRA.replace(/ {2}sandbox:[\s\S]*$/, ''));
    const known = new Set(withoutSandbox.domains.map((d) => d.name));
    expect(planInfra(withoutSandbox, observed, { ...prune, only: (g) => g === 'pro' }).actions).toEqual([]);
    const leftovers = planInfra(withoutSandbox, observed, { ...prune, only: (g) => !known.has(g) });
    expect(leftovers.actions.map((a) => a.id).sort()).toEqual(['instance/sandbox/sandbox-1#delete', 'network/net-sandbox#delete', 'project/sandbox#delete']);
    expect(leftovers.actions.every((a) => a.group === 'sandbox')).toBe(true);
  });

  it('keeps the deletion guard over the whole infra, whichever group is planned', () => {
    const m = model();
    const observed = converged(m);
    const onlyPro = model(INFRA.replace(/ {2}sandbox:[\s\S]*$/, '').replace(/ {6}pro-gpu: \{ gpu: true \}\n/, ''));
    const known = new Set(onlyPro.domains.map((d) => d.name));
    // Two of three managed instances would go: more than half, refused without --force, in both keys' plans.
    const left = planInfra(onlyPro, observed, { ...options, prune: true, only: (g) => !known.has(g) });
    const pro = planInfra(onlyPro, observed, { ...options, prune: true, only: (g) => g === 'pro' });
    expect([...left.actions, ...pro.actions].filter((a) => a.kind === 'instance' && a.verb === 'delete').map((a) => a.blocked ?? 'not blocked')).toEqual([
      expect.stringContaining('more than half'),
      expect.stringContaining('more than half'),
    ]);
  });
});

describe('the firewall first', () => {
  const firewall = (blocked?: string): Action => ({ id: 'firewall', group: 'firewall', kind: 'firewall', name: 'inet anklume', verb: 'create', reason: 'missing', changes: [], after: [], ...(blocked === undefined ? {} : { blocked }), payload: null });
  const runsAnInstance = (a: Action): boolean => a.kind === 'instance' && (a.verb === 'create' || a.verb === 'start');

  it('creates and starts no instance when the firewall action fails; bridges wait for it, whatever its outcome', async () => {
    const plan = withFirewallFirst(planInfra(model(), empty(), options), firewall());
    const ran: string[] = [];
    const outcomes = await executePlan(plan.actions, {
      concurrency: 8,
      run: (a) => {
        ran.push(a.id);
        return a.id === 'firewall' ? Promise.reject(new Error('nft refused the table')) : Promise.resolve();
      },
    });
    expect(ran[0]).toBe('firewall');
    expect(ran.filter((id) => id.startsWith('instance/'))).toEqual([]);
    expect(outcomes.filter((o) => runsAnInstance(o.action)).every((o) => o.status === 'skipped')).toBe(true);
    expect(ran).toEqual(expect.arrayContaining(['network/net-pro', 'network/net-sandbox']));
  });

  it('blocks every instance create and start, with the reason, when the firewall cannot be applied at all', () => {
    const plan = withFirewallFirst(planInfra(model(), empty(), options), firewall('no nft on this host'));
    const instances = plan.actions.filter(runsAnInstance);
    expect(instances.length).toBeGreaterThan(0);
    for (const a of instances) expect(a.blocked).toContain('no nft on this host');
  });
});

