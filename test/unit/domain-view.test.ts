import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { desiredProject } from '../../src/controllers/domain/desired-project.js';
import { domainOfConnection, presentBindings, viewBindings } from '../../src/daemon/domain-view/addresses.js';
import { DomainEventRing, viewEventOf } from '../../src/daemon/domain-view/events.js';
import { viewInstance } from '../../src/daemon/domain-view/instances.js';
import { domainInventory } from '../../src/daemon/domain-view/inventory.js';
import { SnapshotRateLimit } from '../../src/daemon/domain-view/rate-limit.js';
import { ViewError } from '../../src/daemon/domain-view/server.js';
import { snapshotRequest } from '../../src/daemon/domain-view/view.js';
import { tableLines } from '../../src/firewall/nft-text.js';
import { renderFirewall } from '../../src/firewall/render.js';
import type { IncusEvent, Instance } from '../../src/incus/types.js';
import type { DesiredInfra } from '../../src/schemas/model.js';

const INFRA = `
project_name: viewtest
global:
  base_subnet: "10.150"
domains:
  pro:
    subnet_id: 1
    machines:
      pro-dev: { ip: 10.150.1.10, roles: [dev] }
      pro-web: {}
  perso:
    subnet_id: 2
    domain_view: { snapshots: true, snapshot_interval: 1h30m }
    machines:
      perso-desk: {}
  old:
    subnet_id: 3
    enabled: false
network_policies:
  - description: web from perso
    from: perso
    to: pro-web
    ports: [443]
  - description: dev and perso both ways
    from: pro-dev
    to: perso
    ports: all
    bidirectional: true
  - from: pro
    to: 192.168.1.0/24
    ports: [631]
  - from: perso
    to: host
    ports: [514]
    protocol: udp
`;

function validate(text: string): ReturnType<typeof validateInfraText> {
  return validateInfraText(text, { file: 'infra.yml', hostNetworks: [] });
}

function model(text = INFRA): DesiredInfra {
  const r = validate(text);
  if (!r.ok) throw new Error(JSON.stringify(r.issues, null, 2));
  return r.model;
}

describe('domain view settings', () => {
  it('serves every enabled domain on port 8187 by default, snapshots off', () => {
    const m = model();
    expect(m.domainView).toEqual({ enabled: true, port: 8187 });
    expect(m.domains.find((d) => d.name === 'pro')?.view).toEqual({ snapshots: false, snapshotIntervalMs: 600_000 });
    expect(m.domains.find((d) => d.name === 'perso')?.view).toEqual({ snapshots: true, snapshotIntervalMs: 5_400_000 });
    expect(viewBindings(m).map((b) => `${b.domain} ${b.bridge} ${b.gateway} ${b.subnet}`)).toEqual(['pro net-pro 10.150.1.254 10.150.1.0/24', 'perso net-perso 10.150.2.254 10.150.2.0/24']);
  });

  it('serves nothing when global.domain_view.enabled is false', () => {
    expect(viewBindings(model(INFRA.replace('  base_subnet: "10.150"', '  base_subnet: "10.150"\n  domain_view: { enabled: false }')))).toEqual([]);
  });

  it.each([
    ['the DNS port', 'global:\n  domain_view: { port: 53 }', 'global.domain_view.port', 'other than 53 and 67'],
    ['a port out of range', 'global:\n  domain_view: { port: 70000 }', 'global.domain_view.port', ''],
    ['a zero snapshot interval', 'domains:\n  pro: { domain_view: { snapshot_interval: 0m } }', 'domains.pro.domain_view.snapshot_interval', 'longer than zero'],
    ['a snapshot interval that is no duration', 'domains:\n  pro: { domain_view: { snapshot_interval: soon } }', 'domains.pro.domain_view.snapshot_interval', 'duration'],
    ['an unknown key', 'domains:\n  pro: { domain_view: { snapshot: true } }', 'domains.pro.domain_view', 'snapshot'],
  ])('refuses %s with its path', (_what, text, path, message) => {
    const r = validate(text.includes('domains:') ? text : `${text}\ndomains:\n  pro: {}\n`);
    expect(r.ok).toBe(false);
    const issue = r.ok ? undefined : r.issues.find((i) => i.path.join('.').startsWith(path));
    expect(issue, JSON.stringify(r.issues)).toBeDefined();
    expect(JSON.stringify(issue)).toContain(message);
  });
});

describe('the project of a domain that allows snapshots', () => {
  it('allows snapshots in its restricted project, and only there', () => {
    const m = model();
    const config = (name: string): Record<string, string> => desiredProject(m.domains.find((d) => d.name === name) ?? m.domains[0]!, m).config;
    expect(config('perso')['restricted.snapshots']).toBe('allow');
    expect(config('pro')['restricted.snapshots']).toBeUndefined();
    expect(config('pro')['restricted']).toBe('true');
  });
});

describe('domainOfConnection', () => {
  const bindings = viewBindings(model());

  it.each([
    ['a machine of pro to pro\'s gateway', '10.150.1.254', '10.150.1.10', { ok: true, domain: 'pro' }],
    ['a DHCP address of perso to perso\'s gateway', '10.150.2.254', '10.150.2.101', { ok: true, domain: 'perso' }],
    ['a dual-stack socket\'s mapped addresses', '::ffff:10.150.1.254', '::ffff:10.150.1.10', { ok: true, domain: 'pro' }],
  ])('answers for %s', (_what, local, remote, expected) => {
    expect(domainOfConnection(bindings, local, remote)).toEqual(expected);
  });

  it.each([
    ['perso\'s machine on pro\'s gateway', '10.150.1.254', '10.150.2.10', /not in domain pro's subnet/],
    ['the host\'s LAN on pro\'s gateway', '10.150.1.254', '192.168.1.20', /not in domain pro's subnet/],
    ['an address that is no gateway', '10.150.1.1', '10.150.1.10', /no domain's gateway/],
    ['a disabled domain\'s gateway', '10.150.3.254', '10.150.3.10', /no domain's gateway/],
    ['IPv6', 'fe80::1', 'fe80::2', /not an IPv4 connection/],
    ['a socket that lost its addresses', undefined, undefined, /not an IPv4 connection/],
  ])('refuses %s', (_what, local, remote, reason) => {
    const r = domainOfConnection(bindings, local, remote);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toMatch(reason);
  });

  it('listens only where the bridge exists and holds its gateway address', () => {
    const interfaces = {
      'net-pro': [{ address: '10.150.1.254', family: 'IPv4' }],
      // The bridge is there but has not got its address yet (or someone else's).
      'net-perso': [{ address: 'fe80::1', family: 'IPv6' }, { address: '10.150.9.254', family: 'IPv4' }],
      eth0: [{ address: '10.150.2.254', family: 'IPv4' }],
    };
    expect(presentBindings(bindings, interfaces).map((b) => b.domain)).toEqual(['pro']);
    expect(presentBindings(bindings, {})).toEqual([]);
  });
});

describe('domainInventory', () => {
  it('lists the machines with their addresses and the flows its policies open, both ways', () => {
    const m = model();
    const pro = domainInventory(m, m.domains.find((d) => d.name === 'pro') ?? m.domains[0]!);
    expect(pro.machines.map((x) => `${x.name} ${x.ip} ${x.roles.join(',')}`)).toEqual(['pro-dev 10.150.1.10 dev', 'pro-web 10.150.1.1 ']);
    expect(pro.gateway).toBe('10.150.1.254');
    const flows = pro.flows.map((f) => `${f.direction} ${JSON.stringify(f.local)} ${JSON.stringify(f.peer)} ${JSON.stringify(f.ports)}/${f.protocol} #${f.policy}`);
    expect(flows).toEqual([
      'in {"kind":"machine","domain":"pro","machine":"pro-web","ip":"10.150.1.1"} {"kind":"domain","domain":"perso"} [443]/tcp #0',
      'out {"kind":"machine","domain":"pro","machine":"pro-dev","ip":"10.150.1.10"} {"kind":"domain","domain":"perso"} "all"/tcp #1',
      'in {"kind":"machine","domain":"pro","machine":"pro-dev","ip":"10.150.1.10"} {"kind":"domain","domain":"perso"} "all"/tcp #1',
      'out {"kind":"domain","domain":"pro"} {"kind":"network","cidr":"192.168.1.0/24"} [631]/tcp #2',
    ]);
    const perso = domainInventory(m, m.domains.find((d) => d.name === 'perso') ?? m.domains[0]!);
    expect(perso.flows.map((f) => `${f.direction} ${f.peer.kind} #${f.policy}`)).toEqual(['out machine #0', 'in machine #1', 'out machine #1', 'out host #3']);
    // Nothing of another domain's machines but the peers its policies name.
    expect(JSON.stringify(perso)).not.toContain('pro-dev","description');
  });
});

describe('SnapshotRateLimit', () => {
  it('allows one per period per domain, says how long to wait, and gives back a failed slot', () => {
    let now = 1_000_000;
    const limit = new SnapshotRateLimit(() => now);
    const first = limit.take('pro', 60_000);
    expect(first.ok).toBe(true);
    expect(limit.take('pro', 60_000)).toEqual({ ok: false, retryAfterMs: 60_000 });
    // Another domain has its own slot.
    expect(limit.take('perso', 60_000).ok).toBe(true);
    now += 59_000;
    expect(limit.take('pro', 60_000)).toEqual({ ok: false, retryAfterMs: 1_000 });
    now += 1_000;
    const second = limit.take('pro', 60_000);
    expect(second.ok).toBe(true);
    // Incus failed: the slot is given back, the next request may try at once.
    if (second.ok) limit.release('pro', second.at);
    expect(limit.take('pro', 60_000).ok).toBe(true);
    // Releasing an older slot does not undo a newer one.
    if (first.ok) limit.release('pro', first.at);
    expect(limit.take('pro', 60_000).ok).toBe(false);
  });
});

describe('snapshotRequest', () => {
  it('takes an empty body or a name', () => {
    expect(snapshotRequest({})).toEqual({ name: null });
    expect(snapshotRequest({ name: 'before-upgrade.1' })).toEqual({ name: 'before-upgrade.1' });
  });

  it.each([
    ['an array', []],
    ['a string', 'snap'],
    ['an unknown field', { name: 'a', stateful: true }],
    ['a name with a slash', { name: '../x' }],
    ['a name that is not a string', { name: 3 }],
    ['a name too long', { name: 'a'.repeat(64) }],
  ])('refuses %s with a 400', (_what, body) => {
    expect(() => snapshotRequest(body)).toThrow(ViewError);
    try {
      snapshotRequest(body);
    } catch (err) {
      expect((err as ViewError).status).toBe(400);
    }
  });
});

describe('viewEventOf and DomainEventRing', () => {
  const isDomain = (d: string): boolean => d === 'pro' || d === 'perso';
  const lifecycle = (action: string, source: string, project?: string): IncusEvent => ({ type: 'lifecycle', timestamp: '2026-12-05T04:00:00Z', metadata: { action, source }, ...(project === undefined ? {} : { project }) });

  it.each([
    [lifecycle('instance-started', '/1.0/instances/pro-dev?project=pro'), { domain: 'pro', kind: 'instance', name: 'pro-dev' }],
    [lifecycle('instance-stopped', '/1.0/instances/perso-desk', 'perso'), { domain: 'perso', kind: 'instance', name: 'perso-desk' }],
    [lifecycle('instance-snapshot-created', '/1.0/instances/pro-dev/snapshots/s1?project=pro'), { domain: 'pro', kind: 'snapshot', name: 'pro-dev/s1' }],
    [lifecycle('network-updated', '/1.0/networks/net-perso'), { domain: 'perso', kind: 'network', name: 'net-perso' }],
    [lifecycle('project-updated', '/1.0/projects/pro'), { domain: 'pro', kind: 'project', name: 'pro' }],
  ])('files %j under its domain', (event, expected) => {
    const seen = viewEventOf(event, isDomain);
    expect(seen === null ? null : { domain: seen.domain, kind: seen.event.kind, name: seen.event.name }).toEqual(expected);
  });

  it.each([
    ['a read', lifecycle('instance-log-retrieved', '/1.0/instances/pro-dev?project=pro')],
    ['an exec', lifecycle('instance-exec', '/1.0/instances/pro-dev?project=pro')],
    ['another project', lifecycle('instance-started', '/1.0/instances/x?project=elsewhere')],
    ['a bridge that is no domain\'s', lifecycle('network-updated', '/1.0/networks/incusbr0')],
    ['an operation event', { type: 'operation', timestamp: '', metadata: {} }],
    ['a broken source', lifecycle('instance-started', '/2.0/%zz')],
  ])('ignores %s', (_what, event) => {
    expect(viewEventOf(event, isDomain)).toBeNull();
  });

  it('keeps the last events of each domain, newest last, and forgets removed domains', () => {
    const ring = new DomainEventRing(3);
    for (let i = 0; i < 5; i++) ring.record('pro', { time: String(i), action: 'instance-started', kind: 'instance', name: `c${i}` });
    ring.record('perso', { time: 'x', action: 'instance-started', kind: 'instance', name: 'p' });
    expect(ring.list('pro').map((e) => e.name)).toEqual(['c2', 'c3', 'c4']);
    ring.retain(new Set(['pro']));
    expect(ring.list('perso')).toEqual([]);
  });
});

describe('viewInstance', () => {
  it('shows state, global addresses and use from the state API, and the list when the state is missing', () => {
    const instance = { name: 'pro-dev', type: 'container', status: 'Running', created_at: '2026-01-01T00:00:00Z', last_used_at: '2026-01-02T00:00:00Z' } as Instance;
    const state = {
      status: 'Running',
      processes: 12,
      cpu: { usage: 5_000_000 },
      memory: { usage: 1024, usage_peak: 2048, total: 0 },
      disk: { root: { usage: 4096, total: 0 } },
      network: {
        lo: { addresses: [{ family: 'inet', address: '127.0.0.1', netmask: '8', scope: 'local' }] },
        eth0: { addresses: [{ family: 'inet', address: '10.150.1.10', netmask: '24', scope: 'global' }, { family: 'inet6', address: 'fe80::1', netmask: '64', scope: 'link' }], counters: { bytes_received: 10, bytes_sent: 20 } },
      },
    };
    const v = viewInstance(instance, state, true);
    expect(v).toMatchObject({ name: 'pro-dev', status: 'Running', declared: true, processes: 12, cpuNs: 5_000_000, memory: { usageBytes: 1024, peakBytes: 2048, limitBytes: null } });
    expect(v.addresses).toEqual([{ interface: 'eth0', family: 'inet', address: '10.150.1.10', prefix: 24 }]);
    expect(v.disk).toEqual([{ device: 'root', usageBytes: 4096, totalBytes: null }]);
    expect(v.network).toEqual([{ interface: 'eth0', bytesReceived: 10, bytesSent: 20 }]);
    const missing = viewInstance({ ...instance, status: 'Stopped' }, null, false, 'gone');
    expect(missing).toMatchObject({ status: 'Stopped', declared: false, addresses: [], memory: null, stateError: 'gone' });
  });
});

describe('the rendered opening', () => {
  it('opens the view port from each enabled domain\'s bridge to its own gateway only, in input, before the final drop', () => {
    const input = renderFirewall(model()).chains.find((c) => c.name === 'input');
    const lines = tableLines({ sets: [], chains: input === undefined ? [] : [input] }).map((l) => l.trim());
    const view = lines.filter((l) => l.includes('8187'));
    expect(view).toEqual([
      'iifname "net-pro" ip daddr 10.150.1.254 tcp dport 8187 accept comment "domain view of pro"',
      'iifname "net-perso" ip daddr 10.150.2.254 tcp dport 8187 accept comment "domain view of perso"',
    ]);
    expect(lines.indexOf(view[1] ?? '')).toBeLessThan(lines.indexOf('drop comment "instances reach the host only as declared"'));
  });

  it('follows global.domain_view: another port, or no opening when it is off', () => {
    const other = renderFirewall(model(INFRA.replace('  base_subnet: "10.150"', '  base_subnet: "10.150"\n  domain_view: { port: 9000 }')));
    expect(JSON.stringify(other)).toContain('"ports":[9000]');
    expect(JSON.stringify(other)).not.toContain('8187');
    const off = renderFirewall(model(INFRA.replace('  base_subnet: "10.150"', '  base_subnet: "10.150"\n  domain_view: { enabled: false }')));
    expect(JSON.stringify(off)).not.toContain('domain view');
  });
});
