import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import type { Activity } from '../../src/controllers/activity.js';
import { HOLDER_KEY } from '../../src/controllers/ai-access/holder.js';
import type { ObservedAcl } from '../../src/controllers/firewall/acl.js';
import { FirewallReconciler } from '../../src/controllers/firewall/reconciler.js';
import { IncusClient } from '../../src/incus/client.js';
import { readCluster } from '../../src/incus/cluster.js';
import { ownershipMarks } from '../../src/reconcile/ownership.js';
import type { DesiredInfra } from '../../src/schemas/model.js';
import { createLogger } from '../../src/shared/logger.js';
import { error, startFakeIncus, sync, type FakeIncus } from '../helpers/fake-incus.js';

// The firewall controller's ACL pass (a cluster, a remote Incus), against an
// Incus cluster played by a real HTTP server on a unix socket: the members'
// states, the ai-tools project (the AI access holder) and the network ACLs,
// which it refuses to write while a member is down, as Incus does.

const INFRA = `
project_name: aclrec
global: { base_subnet: "10.64", ai_access_policy: exclusive, ai_access_default: pro }
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
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}

const logger = createLogger({ name: 'test', level: 'silent', pretty: false });
let fake: FakeIncus;
let client: IncusClient;
let acls: Map<string, ObservedAcl>;
let m3: string;
let holder: string;

beforeEach(async () => {
  acls = new Map();
  m3 = 'Online';
  holder = 'pro';
  fake = await startFakeIncus((req) => {
    const path = req.path;
    if (req.method === 'GET' && path === '/1.0') return sync({ environment: { server_clustered: true, server_name: 'm1' } });
    if (req.method === 'GET' && path === '/1.0/cluster/members') return sync(['m1', 'm2', 'm3'].map((name) => ({ server_name: name, status: name === 'm3' ? m3 : 'Online', message: '', groups: ['default'] })));
    if (req.method === 'GET' && path === '/1.0/projects/ai-tools') return sync({ name: 'ai-tools', description: '', config: { [HOLDER_KEY]: holder } });
    if (req.method === 'GET' && path === '/1.0/network-acls') return sync([...acls.values()]);
    const name = decodeURIComponent(path.replace(/^\/1\.0\/network-acls\/?/, ''));
    // Incus refuses ACL writes while a member is down.
    if (req.method !== 'GET' && m3 !== 'Online') return error(500, 'Failed to notify peer: peer node m3 is down');
    const body = req.body as ObservedAcl;
    if (req.method === 'POST' && path === '/1.0/network-acls') {
      acls.set(body.name, { ...body, used_by: [] });
      return sync(null, 201);
    }
    if (req.method === 'PUT' && acls.has(name)) {
      acls.set(name, { ...body, name, used_by: acls.get(name)?.used_by ?? [] });
      return sync(null);
    }
    if (req.method === 'DELETE' && acls.has(name)) {
      if ((acls.get(name)?.used_by ?? []).length > 0) return error(400, 'Cannot delete an ACL that is in use');
      acls.delete(name);
      return sync(null);
    }
    return error(404, 'not found');
  });
  client = new IncusClient({ socketPath: fake.socketPath });
});

afterEach(async () => {
  client.close();
  await fake.close();
});

function reconciler(options: { model?: DesiredInfra; resendEveryMs?: number; prune?: boolean; activity?: Activity[] } = {}): FirewallReconciler {
  const m = options.model ?? model();
  return new FirewallReconciler({
    client,
    model: () => m,
    target: { unavailable: 'not used: the cluster is read first' },
    logger,
    cluster: (signal) => readCluster(client, { signal }),
    ...(options.resendEveryMs === undefined ? {} : { resendEveryMs: options.resendEveryMs }),
    ...(options.prune === undefined ? {} : { prune: options.prune }),
    ...(options.activity === undefined ? {} : { onActivity: (a: Activity) => options.activity?.push(a) }),
  });
}

const writes = (): string[] => fake.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${decodeURIComponent(r.path)}`);
const signal = (): AbortSignal => AbortSignal.timeout(10_000);

describe('the firewall reconciler on a cluster: network ACLs', () => {
  it('creates every ACL, is InSync, then writes nothing while they match', async () => {
    const activity: Activity[] = [];
    const r = reconciler({ activity });
    await r.sync(signal());
    expect(writes().sort()).toEqual(['POST /1.0/network-acls', 'POST /1.0/network-acls', 'POST /1.0/network-acls']);
    expect([...acls.keys()].sort()).toEqual(['anklume-ai-tools', 'anklume-perso', 'anklume-pro']);
    expect(r.status()).toMatchObject({ managed: true, state: 'InSync', message: expect.stringMatching(/^network ACLs match infra\.yml \(3 ACLs, \d+ rules, rendered by Incus on the cluster's 3 members\)/) });
    expect(activity.filter((a) => a.type === 'outcome').length).toBe(3);
    const before = writes().length;
    await r.sync(signal());
    expect(writes().slice(before)).toEqual([]);
  });

  it('rewrites an ACL edited behind its back, and only that one', async () => {
    const r = reconciler();
    await r.sync(signal());
    const pro = acls.get('anklume-pro');
    acls.set('anklume-pro', { ...(pro as ObservedAcl), egress: [] });
    const before = writes().length;
    await r.sync(signal());
    expect(writes().slice(before)).toEqual(['PUT /1.0/network-acls/anklume-pro']);
    expect(acls.get('anklume-pro')?.egress).toEqual(pro?.egress);
    expect(r.status().state).toBe('InSync');
  });

  it('a switch of the AI access holder recorded in Incus: the next pass writes the ACLs that change', async () => {
    const r = reconciler();
    await r.sync(signal());
    const before = writes().length;
    holder = 'perso';
    await r.sync(signal());
    expect(writes().slice(before).sort()).toEqual(['PUT /1.0/network-acls/anklume-ai-tools', 'PUT /1.0/network-acls/anklume-perso', 'PUT /1.0/network-acls/anklume-pro']);
    expect(r.status().state).toBe('InSync');
  });

  it('with a member down writes nothing, says which member it waits for, fails the run; the pass after it returns repairs', async () => {
    const r = reconciler();
    await r.sync(signal());
    acls.set('anklume-pro', { ...(acls.get('anklume-pro') as ObservedAcl), egress: [] });
    m3 = 'Offline';
    const before = writes().length;
    await expect(r.reconcile({ signal: signal(), log: logger })).rejects.toThrow(/waits for member m3 \(Offline\)/);
    expect(writes().slice(before)).toEqual([]);
    expect(r.status()).toMatchObject({ managed: false, state: 'Drifted', message: expect.stringMatching(/anklume-pro differs.*not written: waits for member m3 \(Offline\)/) });
    m3 = 'Online';
    await r.reconcile({ signal: signal(), log: logger });
    expect(writes().slice(before)).toEqual(['PUT /1.0/network-acls/anklume-pro']);
    expect(r.status().state).toBe('InSync');
  });

  it('re-sends every ACL when due, unchanged, without reporting it as work', async () => {
    const activity: Activity[] = [];
    const r = reconciler({ resendEveryMs: 0, activity });
    await r.sync(signal());
    const before = writes().length;
    const seen = activity.length;
    const rules = structuredClone(Object.fromEntries(acls));
    await r.sync(signal());
    expect(writes().slice(before).sort()).toEqual(['PUT /1.0/network-acls/anklume-ai-tools', 'PUT /1.0/network-acls/anklume-perso', 'PUT /1.0/network-acls/anklume-pro']);
    expect(Object.fromEntries(acls)).toEqual(rules);
    expect(activity.slice(seen)).toEqual([]);
    expect(r.status().state).toBe('InSync');
  });

  it('prunes this infra\'s ACL of a removed domain once no bridge names it; never another\'s; keeps it without prune', async () => {
    const without = model(INFRA.replace(/ {2}perso:\n {4}subnet_id: 2\n {4}machines:\n {6}perso-desk: \{ ip: 10\.64\.2\.10 \}\n/, ''));
    await reconciler().sync(signal());
    acls.set('anklume-perso', { ...(acls.get('anklume-perso') as ObservedAcl), used_by: ['/1.0/networks/net-perso'] });
    acls.set('theirs', { name: 'theirs', description: '', egress: [], ingress: [], config: ownershipMarks('another', 'perso'), used_by: [] });
    acls.set('hand-made', { name: 'hand-made', description: '', egress: [], ingress: [], config: {}, used_by: [] });
    const before = writes().length;
    await reconciler({ model: without }).sync(signal());
    expect(writes().slice(before)).toEqual([]);
    const pruning = reconciler({ model: without, prune: true });
    await pruning.sync(signal());
    // Still named by its bridge: waits (the domain controller deletes the bridge first).
    expect(writes().slice(before)).toEqual([]);
    acls.set('anklume-perso', { ...(acls.get('anklume-perso') as ObservedAcl), used_by: [] });
    await pruning.sync(signal());
    expect(writes().slice(before)).toEqual(['DELETE /1.0/network-acls/anklume-perso']);
    expect([...acls.keys()].sort()).toEqual(['anklume-ai-tools', 'anklume-pro', 'hand-made', 'theirs']);
    expect(pruning.status().state).toBe('InSync');
  });
});
