import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import type { StatusDocument } from '../../src/controllers/status.js';
import { DomainView } from '../../src/daemon/domain-view/view.js';
import { IncusClient } from '../../src/incus/index.js';
import type { DesiredInfra } from '../../src/schemas/model.js';
import { createLogger } from '../../src/shared/logger.js';
import { error, startFakeIncus, sync, type FakeIncus, type SeenRequest } from '../helpers/fake-incus.js';

// Two domains on loopback addresses (Linux answers on all of 127/8): a's
// gateway 127.0.1.254 and subnet 127.0.1.0/24, b's 127.0.2.x. A client picks
// its domain by the source address it binds, as an instance on a bridge would.
const PORT = 20_000 + Math.floor(Math.random() * 30_000);
const INFRA = `
project_name: viewit
global:
  base_subnet: "127.0"
  domain_view: { port: ${PORT} }
domains:
  a:
    subnet_id: 1
    machines:
      a1: {}
  b:
    subnet_id: 2
    domain_view: { snapshots: true, snapshot_interval: 1h }
    machines:
      b1: {}
network_policies:
  - from: b
    to: a1
    ports: [80]
`;

function loadModel(): DesiredInfra {
  const r = validateInfraText(INFRA, { file: 'infra.yml', hostNetworks: [] });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}

const condition = (type: 'Ready' | 'Progressing' | 'Degraded', status: boolean) => ({ type, status, reason: status ? 'Converged' : 'UpToDate', message: 'test', lastTransitionTime: '2026-12-05T00:00:00Z' });
function statusOf(model: DesiredInfra): StatusDocument {
  return {
    generatedAt: '',
    daemon: { running: true },
    config: { file: 'infra.yml', valid: true, errors: [], specHash: null, loadedAt: null },
    incus: { endpoint: 'test', reachable: true },
    events: null,
    queue: null,
    firewall: { managed: true, state: 'InSync', message: 'in sync', rules: 1, checkedAt: null, appliedAt: null },
    aiAccess: { policy: 'open', holder: null, source: 'open' },
    domains: model.domains.map((d) => ({
      name: d.name,
      enabled: true,
      trustLevel: d.trustLevel,
      subnet: d.network.subnet,
      bridge: d.bridge,
      aiProvider: d.aiProvider,
      aiSanitize: d.aiSanitize,
      conditions: [condition('Ready', true), condition('Progressing', false), condition('Degraded', false)],
      observedSpecHash: '',
      lastReconcile: null,
      retries: 0,
      objects: [
        { id: `instance/${d.name}/${d.name}1`, kind: 'instance', name: `${d.name}1`, conditions: [condition('Ready', true)], state: 'Running' },
        { id: `service/${d.name}/${d.name}1`, kind: 'service', name: `openclaw on ${d.name}1`, conditions: [condition('Ready', d.name === 'a')] },
      ],
      notes: [],
    })),
  };
}

const instance = (name: string, project: string) => ({ name, project, type: 'container', status: 'Running', status_code: 103, config: {}, devices: {}, profiles: ['default'], ephemeral: false, stateful: false, description: '', architecture: 'x86_64' });
function incusRoutes(req: SeenRequest) {
  const project = req.query.get('project');
  const own = project === 'a' ? 'a1' : project === 'b' ? 'b1' : null;
  if (req.method === 'GET' && req.path === '/1.0/instances') return sync(own === null ? [] : [instance(own, project ?? '')]);
  const m = /^\/1\.0\/instances\/([^/]+)(\/state|\/snapshots)?$/.exec(req.path);
  if (m === null || m[1] !== own) return error(404, 'Instance not found');
  if (req.method === 'GET' && m[2] === undefined) return sync(instance(own, project ?? ''));
  if (req.method === 'GET' && m[2] === '/state') return sync({ status: 'Running', processes: 7, cpu: { usage: 42 }, memory: { usage: 1000, usage_peak: 2000, total: 0 }, disk: { root: { usage: 5000 } }, network: { eth0: { addresses: [{ family: 'inet', address: `127.0.${project === 'a' ? 1 : 2}.1`, netmask: '24', scope: 'global' }] } } });
  if (req.method === 'POST' && m[2] === '/snapshots') return sync({});
  return error(400, 'unexpected');
}

let incus: FakeIncus;
let client: IncusClient;
let model: DesiredInfra;
let interfaces: Record<string, { address: string; family: string }[]>;
let view: DomainView;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/** One request from `from` (the client's own address) to a gateway, headers as given. */
function call(from: string, gateway: string, method: string, path: string, options: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: gateway, port: PORT, localAddress: from, agent: false, method, path, headers: options.headers ?? {}, timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text === '' ? null : JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
const A_GW = '127.0.1.254';
const B_GW = '127.0.2.254';
const fromA = (method: string, path: string, options?: Parameters<typeof call>[4]) => call('127.0.1.7', A_GW, method, path, options);
const fromB = (method: string, path: string, options?: Parameters<typeof call>[4]) => call('127.0.2.7', B_GW, method, path, options);
const posts = () => incus.requests.filter((r) => r.method === 'POST');
const withoutTime = (b: Record<string, unknown>): Record<string, unknown> => ({ ...b, generatedAt: undefined });

beforeAll(async () => {
  incus = await startFakeIncus(incusRoutes);
  client = new IncusClient({ socketPath: incus.socketPath });
  model = loadModel();
  interfaces = { 'net-a': [{ address: A_GW, family: 'IPv4' }], 'net-b': [{ address: B_GW, family: 'IPv4' }] };
  view = new DomainView({ client, model: () => model, status: () => statusOf(model), logger: createLogger({ name: 'test', level: 'silent', pretty: false }), interfaces: () => interfaces });
  await view.sync();
});

afterAll(async () => {
  await view.close();
  client.close();
  await incus.close();
});

describe('the domain view on loopback', () => {
  it('answers about the domain whose gateway the connection arrived on', async () => {
    expect(view.listening()).toEqual(['a', 'b']);
    const a = await fromA('GET', '/v1/domain');
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe('application/json');
    expect(a.body).toMatchObject({ apiVersion: 'v1', domain: 'a', summary: { name: 'a', gateway: A_GW, subnet: '127.0.1.0/24', ready: true, snapshots: { enabled: false, intervalSeconds: 600 } } });
    const b = await fromB('GET', '/v1/domain');
    expect(b.body).toMatchObject({ domain: 'b', summary: { name: 'b', snapshots: { enabled: true, intervalSeconds: 3600 } } });
  });

  it('lists the instances of its own project only, with their state', async () => {
    const before = incus.requests.length;
    const a = await fromA('GET', '/v1/instances');
    expect(a.status).toBe(200);
    expect(a.body.instances).toEqual([expect.objectContaining({ name: 'a1', status: 'Running', declared: true, processes: 7, cpuNs: 42, addresses: [{ interface: 'eth0', family: 'inet', address: '127.0.1.1', prefix: 24 }] })]);
    expect(incus.requests.slice(before).map((r) => r.query.get('project'))).toEqual(['a', 'a']);
    // Cached briefly: a second look costs Incus nothing.
    await fromA('GET', '/v1/instances');
    expect(incus.requests.length).toBe(before + 2);
  });

  it('serves the inventory, services, conditions and events of the domain', async () => {
    const inventory = await fromA('GET', '/v1/inventory');
    expect(inventory.body.inventory.machines.map((m: { name: string }) => m.name)).toEqual(['a1']);
    expect(inventory.body.inventory.flows).toEqual([expect.objectContaining({ direction: 'in', peer: { kind: 'domain', domain: 'b' }, ports: [80] })]);
    const services = await fromA('GET', '/v1/services');
    expect(services.body.services).toEqual([expect.objectContaining({ name: 'openclaw on a1', ready: true })]);
    const conditions = await fromA('GET', '/v1/conditions');
    expect(conditions.body.conditions.firewall).toEqual({ inSync: true, state: 'InSync' });
    expect(conditions.body.conditions.objects.map((o: { name: string }) => o.name)).toEqual(['a1', 'openclaw on a1']);
    view.recordEvent({ type: 'lifecycle', timestamp: '2026-12-05T04:00:00Z', metadata: { action: 'instance-started', source: '/1.0/instances/a1?project=a' } });
    view.recordEvent({ type: 'lifecycle', timestamp: '2026-12-05T04:00:01Z', metadata: { action: 'instance-started', source: '/1.0/instances/b1?project=b' } });
    expect((await fromA('GET', '/v1/events')).body.events).toEqual([{ time: '2026-12-05T04:00:00Z', action: 'instance-started', kind: 'instance', name: 'a1' }]);
    expect((await fromB('GET', '/v1/events')).body.events.map((e: { name: string }) => e.name)).toEqual(['b1']);
    const index = await fromA('GET', '/v1?x=1');
    expect(index.body.endpoints).toContain('GET /v1/inventory');
  });

  it('changes nothing for headers that claim another domain', async () => {
    const claims = { host: `${B_GW}:${PORT}`, 'x-forwarded-for': '127.0.2.7', 'x-real-ip': '127.0.2.7', forwarded: 'for=127.0.2.7;host=127.0.2.254', 'x-anklume-domain': 'b', 'x-forwarded-host': B_GW };
    for (const path of ['/v1/domain', '/v1/inventory', '/v1/services', '/v1/conditions']) {
      const plain = await fromA('GET', path);
      const claimed = await fromA('GET', path, { headers: claims });
      expect(claimed.status).toBe(200);
      expect(withoutTime(claimed.body)).toEqual(withoutTime(plain.body));
      expect(claimed.body.domain).toBe('a');
    }
  });

  it('refuses a connection from another domain\'s subnet or from no domain (were the firewall ever missing)', async () => {
    const crossed = await call('127.0.2.7', A_GW, 'GET', '/v1/domain', { headers: { 'x-anklume-domain': 'b' } });
    expect(crossed.status).toBe(403);
    expect(crossed.body.error).toMatch(/127\.0\.2\.7 is not in domain a's subnet/);
    const host = await call('127.0.0.1', A_GW, 'GET', '/v1/instances');
    expect(host.status).toBe(403);
    expect(JSON.stringify(host.body)).not.toContain('a1');
  });

  it.each(['/', '/v1/', '/v2/domain', '/v1/instances/a1', '/v1/instance', '/v1/domain/x', '/v1/%2e%2e/domain'])('answers 404 with the endpoints for %s', async (path) => {
    const r = await fromA('GET', path);
    expect(r.status).toBe(404);
    expect(r.body.endpoints).toContain('GET /v1/instances');
  });

  it.each([
    ['POST', '/v1/domain', 'GET, HEAD'],
    ['DELETE', '/v1/instances', 'GET, HEAD'],
    ['PUT', '/v1/events', 'GET, HEAD'],
    ['GET', '/v1/instances/a1/snapshots', 'POST'],
    ['DELETE', '/v1/instances/a1/snapshots', 'POST'],
  ])('answers 405 to %s %s with what is allowed', async (method, path, allow) => {
    const r = await fromA(method, path);
    expect(r.status).toBe(405);
    expect(r.headers['allow']).toBe(allow);
  });

  it('refuses a snapshot while the domain has not turned them on, and asks Incus nothing', async () => {
    const before = posts().length;
    const r = await fromA('POST', '/v1/instances/a1/snapshots');
    expect(r.status).toBe(403);
    expect(r.body.error).toBe('snapshots are off for domain a (domains.a.domain_view.snapshots in infra.yml)');
    expect(posts().length).toBe(before);
  });

  it('snapshots its own instance when on, refuses another domain\'s and bad input without using its slot, then rate-limits', async () => {
    const other = await fromB('POST', '/v1/instances/a1/snapshots');
    expect(other.status).toBe(404);
    expect(other.body.error).toBe('no instance named a1 in domain b');
    for (const [body, status] of [['{"name": "../x"}', 400], ['[1]', 400], ['{"stateful": true}', 400], ['not json', 400]] as const) {
      expect((await fromB('POST', '/v1/instances/b1/snapshots', { body })).status).toBe(status);
    }
    expect((await fromB('POST', '/v1/instances/b1%2Fsnapshots%2Fx/snapshots')).status).toBe(400);
    expect(posts()).toEqual([]);

    const ok = await fromB('POST', '/v1/instances/b1/snapshots', { body: '{"name": "before-upgrade"}' });
    expect(ok.status).toBe(200);
    expect(ok.body.snapshot).toMatchObject({ instance: 'b1', name: 'before-upgrade' });
    expect(posts().map((r) => `${r.path}?project=${r.query.get('project') ?? ''} ${JSON.stringify(r.body)}`)).toEqual(['/1.0/instances/b1/snapshots?project=b {"name":"before-upgrade","stateful":false}']);

    const again = await fromB('POST', '/v1/instances/b1/snapshots');
    expect(again.status).toBe(429);
    expect(Number(again.headers['retry-after'])).toBeGreaterThan(3590);
    expect(posts().length).toBe(1);
  });

  it('follows the bridges: stops where a bridge went, starts where one came', async () => {
    interfaces = { 'net-b': [{ address: B_GW, family: 'IPv4' }] };
    await view.sync();
    expect(view.listening()).toEqual(['b']);
    await expect(fromA('GET', '/v1/domain')).rejects.toThrow(/ECONNREFUSED/);
    interfaces = { 'net-a': [{ address: A_GW, family: 'IPv4' }], 'net-b': [{ address: B_GW, family: 'IPv4' }] };
    await view.sync();
    expect(view.listening()).toEqual(['a', 'b']);
    expect((await fromA('GET', '/v1/domain')).status).toBe(200);
  });
});
