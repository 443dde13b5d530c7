import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { reconcileOnce } from '../../src/controllers/whole-pass.js';
import type { Outcome } from '../../src/reconcile/execute.js';
import { IncusClient } from '../../src/incus/index.js';
import type { DesiredInfra } from '../../src/schemas/model.js';
import { waitFor } from '../helpers/incus.js';
import { startMemoryIncus, type MemoryIncus } from '../helpers/memory-incus.js';

// How a pass schedules its writes across domains (src/controllers/domain/interface-lock.ts),
// against an Incus kept in memory behind a real unix socket, one domain's bridge create held.

const INFRA = `
project_name: stest
global:
  base_subnet: "10.151"
domains:
  alpha:
    subnet_id: 1
    machines:
      alpha-1: {}
  beta:
    subnet_id: 2
    machines:
      beta-1: {}
`;

function model(): DesiredInfra {
  const r = validateInfraText(INFRA, { file: 'infra.yml', hostNetworks: [] });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}

let incus: MemoryIncus;
let client: IncusClient;

beforeEach(async () => {
  incus = await startMemoryIncus();
  client = new IncusClient({ socketPath: incus.socketPath });
});

afterEach(async () => {
  client.close();
  await incus.close();
});

const startOf = (name: string): string => `PUT /1.0/instances/${name}/state`;
/**
 * A pass with this bridge write held: alpha-1's start is not sent while it is
 * (checked), then the write goes on and the pass's outcomes are returned.
 */
async function passWithBridgeWriteHeld(method: 'POST' | 'PUT', path: string, held: RegExp): Promise<Outcome[]> {
  const release = incus.hold(held);
  const before = incus.fake.requests.length;
  const sent = (line: string): boolean => incus.fake.requests.slice(before).some((r) => `${r.method} ${r.path}` === line);
  const pass = reconcileOnce(client, model(), { prune: false, force: false, concurrency: 8 });
  try {
    await waitFor(`${method} ${path} sent`, () => Promise.resolve(sent(`${method} ${path}`) ? true : undefined), { timeoutMs: 20_000, intervalMs: 10 });
    await new Promise((r) => setTimeout(r, 300));
    expect(sent(startOf('alpha-1'))).toBe(false);
  } finally {
    release();
  }
  return (await pass).outcomes;
}

// The waits below are bounds, not measures: generous, for a loaded machine.
describe('a pass over several domains', { timeout: 60_000 }, () => {
  it("creates one domain's instance while another domain's bridge is being written, and starts it only once that write is over", async () => {
    const release = incus.hold(/^POST \/1\.0\/networks\/net-beta$/);
    const pass = reconcileOnce(client, model(), { prune: false, force: false, concurrency: 8 });
    try {
      // The graph: alpha's instance needs alpha's bridge, project and profile only.
      await waitFor('alpha-1 created', () => Promise.resolve(incus.instances.has('alpha/alpha-1') ? true : undefined), { timeoutMs: 20_000, intervalMs: 10 });
      // Its create has finished (the operation waited for); a start sent now would reach Incus during beta's bridge write.
      await waitFor("alpha-1's create waited for", () => Promise.resolve(incus.fake.requests.some((r) => r.path.endsWith('/wait')) ? true : undefined), { timeoutMs: 20_000, intervalMs: 10 });
      await new Promise((r) => setTimeout(r, 300));
      expect(incus.writes()).not.toContain(startOf('alpha-1'));
      expect(incus.instances.get('alpha/alpha-1')?.status).toBe('Stopped');
      expect(incus.networks.has('net-beta')).toBe(false);
    } finally {
      release();
    }
    const { outcomes } = await pass;
    expect(outcomes.filter((o) => o.status !== 'done')).toEqual([]);
    const writes = incus.writes();
    expect(writes.indexOf(startOf('alpha-1'))).toBeGreaterThan(writes.indexOf('POST /1.0/networks'));
    expect(incus.instances.get('alpha/alpha-1')?.status).toBe('Running');
    expect(incus.instances.get('beta/beta-1')?.status).toBe('Running');
  });

  it('writes the bridges of several domains together', async () => {
    const release = incus.hold(/^POST \/1\.0\/networks\/net-alpha$/);
    const pass = reconcileOnce(client, model(), { prune: false, force: false, concurrency: 8 });
    try {
      await waitFor('net-beta written while net-alpha is', () => Promise.resolve(incus.networks.has('net-beta') ? true : undefined), { timeoutMs: 20_000, intervalMs: 10 });
    } finally {
      release();
    }
    const { outcomes } = await pass;
    expect(outcomes.filter((o) => o.status !== 'done')).toEqual([]);
  });

  it('starts no instance while a bridge is being created: the start waits for the create to end', async () => {
    // alpha converged, then alpha-1 stopped; beta not there yet: one start and one bridge create, both ready at once (the bridge goes first).
    const alphaOnly = model();
    await reconcileOnce(client, { ...alphaOnly, domains: alphaOnly.domains.filter((d) => d.name === 'alpha') }, { prune: false, force: false, concurrency: 8 });
    const alpha1 = incus.instances.get('alpha/alpha-1');
    if (alpha1 === undefined) throw new Error('alpha-1 was not created');
    alpha1.status = 'Stopped';
    const outcomes = await passWithBridgeWriteHeld('POST', '/1.0/networks', /^POST \/1\.0\/networks\/net-beta$/);
    expect(outcomes.filter((o) => o.status !== 'done')).toEqual([]);
    expect(incus.instances.get('alpha/alpha-1')?.status).toBe('Running');
    expect(incus.instances.get('beta/beta-1')?.status).toBe('Running');
  });

  it('sends a bridge create again when Incus trips on an interface that vanished meanwhile, and nothing else', async () => {
    // The message Incus 6.0.4 gave when a container started during a bridge's setup (interface-lock.ts).
    const vanished = 'Failed to delete bridge children interfaces: Failed to run: ip -d -j link show vethb50cc5f1: exit status 1 (Device "vethb50cc5f1" does not exist.)';
    incus.fail(/^POST \/1\.0\/networks$/, vanished);
    incus.fail(/^POST \/1\.0\/networks$/, vanished);
    const { outcomes } = await reconcileOnce(client, model(), { prune: false, force: false, concurrency: 8 });
    expect(outcomes.filter((o) => o.status !== 'done')).toEqual([]);
    expect(incus.writes().filter((w) => w === 'POST /1.0/networks')).toHaveLength(4);
    expect(incus.instances.get('alpha/alpha-1')?.status).toBe('Running');

    // Any other failure of a create is the pass's to report: not sent again.
    const other = await startMemoryIncus();
    const otherClient = new IncusClient({ socketPath: other.socketPath });
    try {
      other.fail(/^POST \/1\.0\/networks$/, 'Failed to start dnsmasq');
      const r = await reconcileOnce(otherClient, model(), { prune: false, force: false, concurrency: 8 });
      expect(r.outcomes.filter((o) => o.status === 'failed').map((o) => o.action.kind)).toEqual(['network']);
      expect(other.writes().filter((w) => w === 'POST /1.0/networks')).toHaveLength(2);
    } finally {
      otherClient.close();
      await other.close();
    }
  });

  it("creates a bridge without DHCP and DNS, then gives them by an update before anything of its domain is on it", async () => {
    const { outcomes } = await reconcileOnce(client, model(), { prune: false, force: false, concurrency: 8 });
    expect(outcomes.filter((o) => o.status !== 'done')).toEqual([]);
    const sent = incus.fake.requests.filter((r) => r.method !== 'GET').map((r) => ({ line: `${r.method} ${r.path}`, url: r.url, body: r.body as { name?: string; config?: Record<string, string> } }));
    const create = sent.findIndex((r) => r.line === 'POST /1.0/networks' && r.body.name === 'net-alpha');
    const update = sent.findIndex((r) => r.line === 'PUT /1.0/networks/net-alpha');
    expect(sent[create]?.body.config).toMatchObject({ 'ipv4.dhcp': 'false', 'dns.mode': 'none', 'ipv4.address': '10.151.1.254/24' });
    expect(update).toBeGreaterThan(create);
    expect(sent[update]?.body.config).toMatchObject({ 'ipv4.dhcp': 'true', 'dns.mode': 'managed' });
    // The domain's profile (its eth0 names the bridge) and instance come after the update.
    expect(sent.findIndex((r) => r.line === 'POST /1.0/instances' && r.body.name === 'alpha-1')).toBeGreaterThan(update);
    expect(sent.findIndex((r) => r.line === 'PUT /1.0/profiles/default' && r.url.includes('project=alpha'))).toBeGreaterThan(update);
    expect(incus.networks.get('net-alpha')?.config).toMatchObject({ 'ipv4.dhcp': 'true', 'dns.mode': 'managed' });
  });

  it('puts DHCP and DNS back on a bridge left without them by a pass stopped between its two writes: the next pass updates it', async () => {
    incus.fail(/^PUT \/1\.0\/networks\/net-alpha$/, 'the pass stopped here');
    const first = await reconcileOnce(client, model(), { prune: false, force: false, concurrency: 8 });
    expect(first.outcomes.filter((o) => o.status === 'failed').map((o) => o.action.id)).toEqual(['network/net-alpha']);
    expect(incus.networks.get('net-alpha')?.config).toMatchObject({ 'ipv4.dhcp': 'false', 'dns.mode': 'none' });
    expect(incus.instances.has('alpha/alpha-1')).toBe(false);
    const second = await reconcileOnce(client, model(), { prune: false, force: false, concurrency: 8 });
    expect(second.outcomes.filter((o) => o.status !== 'done')).toEqual([]);
    expect(second.outcomes.find((o) => o.action.id === 'network/net-alpha')?.action.verb).toBe('update');
    expect(incus.networks.get('net-alpha')?.config).toMatchObject({ 'ipv4.dhcp': 'true', 'dns.mode': 'managed' });
    expect(incus.instances.get('alpha/alpha-1')?.status).toBe('Running');
  });

  it('starts no instance while a bridge is being updated: the start waits for the update to end', async () => {
    // Both domains converged, then alpha-1 stopped and beta's bridge edited by hand: one start and one bridge update, both ready at once.
    await reconcileOnce(client, model(), { prune: false, force: false, concurrency: 8 });
    const alpha1 = incus.instances.get('alpha/alpha-1');
    const bridge = incus.networks.get('net-beta');
    if (alpha1 === undefined || bridge === undefined) throw new Error('the domains were not created');
    alpha1.status = 'Stopped';
    bridge.config = { ...bridge.config, 'ipv4.nat': 'false' };
    const outcomes = await passWithBridgeWriteHeld('PUT', '/1.0/networks/net-beta', /^PUT \/1\.0\/networks\/net-beta$/);
    expect(outcomes.filter((o) => o.status !== 'done')).toEqual([]);
    expect(incus.instances.get('alpha/alpha-1')?.status).toBe('Running');
    expect(incus.networks.get('net-beta')?.config['ipv4.nat']).toBe('true');
  });
});
