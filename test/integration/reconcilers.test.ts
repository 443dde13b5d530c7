import { formatHolderFile } from '../../src/shared/ai-access-file.js';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pLimit, { type LimitFunction } from 'p-limit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { AiAccessReconciler } from '../../src/controllers/ai-access/reconciler.js';
import { DomainReconciler, domainKey } from '../../src/controllers/domain/reconciler.js';
import { FIREWALL_KEY, FirewallReconciler } from '../../src/controllers/firewall/reconciler.js';
import { observe } from '../../src/controllers/domain/observe.js';
import { HEALTH_PERIOD_MS, ServiceReconciler } from '../../src/controllers/service/reconciler.js';
import { planAgainstIncus } from '../../src/controllers/whole-pass.js';
import type { ServiceDeployment } from '../../src/controllers/service/deployment.js';
import { serviceObjectId } from '../../src/controllers/object-id.js';
import { Nft } from '../../src/firewall/nft.js';
import { IncusClient } from '../../src/incus/client.js';
import { Manager } from '../../src/reconcile/manager.js';
import type { RunEvent } from '../../src/reconcile/queue.js';
import { DeadlineExceededError, type Reconciler } from '../../src/reconcile/reconciler.js';
import { InterfaceLock } from '../../src/controllers/domain/interface-lock.js';
import type { DesiredInfra } from '../../src/schemas/model.js';
import { createLogger } from '../../src/shared/logger.js';
import { FakeTime } from '../helpers/fake-time.js';
import { startMemoryIncus, type MemoryIncus } from '../helpers/memory-incus.js';

// Each controller's reconciler driven through the manager, on a fake clock
// (backoff and deadlines), against an Incus kept in memory behind a real unix
// socket, and for the firewall a real nft in a network namespace of its own.

const logger = createLogger({ name: 'test', level: 'silent', pretty: false });
const INFRA = `
project_name: rtest
global:
  base_subnet: "10.150"
  ai_access_policy: exclusive
  ai_access_default: pro
domains:
  pro:
    subnet_id: 1
    machines:
      pro-a: {}
  ai-tools:
    subnet_id: 2
    machines:
      ai-gpu: { roles: [ollama_server] }
`;

function model(): DesiredInfra {
  const r = validateInfraText(INFRA, { file: 'infra.yml', hostNetworks: [] });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}

const DEADLINE_MS = 5_000;

/** A manager on fake time with one controller, and a way to wait for the end of the next run of a key. */
function harness(reconciler: Reconciler, time: FakeTime): { manager: Manager; run: (key: string) => Promise<RunEvent> } {
  const manager = new Manager({ logger, now: time.now, schedule: time.schedule });
  manager.register({ reconciler, concurrency: 1, deadlineMs: DEADLINE_MS, backoff: { baseMs: 1_000, capMs: 10_000, jitter: 'none' } });
  manager.start();
  return {
    manager,
    run: (key) => {
      const end = manager.nextRun(reconciler.name, key);
      manager.enqueue(reconciler.name, key);
      return end;
    },
  };
}

let incus: MemoryIncus;
let client: IncusClient;
let time: FakeTime;
let manager: Manager | undefined;

beforeEach(async () => {
  incus = await startMemoryIncus();
  client = new IncusClient({ socketPath: incus.socketPath });
  time = new FakeTime();
});

afterEach(async () => {
  await manager?.stop({ deadlineMs: 0 });
  manager = undefined;
  client.close();
  await incus.close();
});

describe('the domain reconciler', () => {
  function domainReconciler(firewall: string | undefined = undefined, options: { bridgeAcls?: boolean; writes?: LimitFunction } = {}): DomainReconciler {
    const m = model();
    return new DomainReconciler({
      ...(options.bridgeAcls === undefined ? {} : { bridgeAcls: () => options.bridgeAcls === true }),
      client,
      model: () => m,
      observe: (signal) => observe(client, { signal }),
      invalidate: () => undefined,
      defaults: { prune: false, force: false },
      writes: options.writes ?? pLimit(2),
      firewallFirst: () => Promise.resolve(firewall),
      interfaceLock: new InterfaceLock(),
      retries: (key) => manager?.retries('domain', key) ?? 0,
    });
  }

  it('converges from nothing, then makes no write on a converged host', async () => {
    const reconciler = domainReconciler();
    const h = harness(reconciler, time);
    manager = h.manager;
    expect((await h.run(domainKey('pro'))).result).toBe('success');
    expect(incus.instances.get('pro/pro-a')?.status).toBe('Running');
    expect(incus.networks.get('net-pro')?.config['ipv4.address']).toBe('10.150.1.254/24');
    const before = incus.writes().length;
    expect((await h.run(domainKey('pro'))).result).toBe('success');
    expect(incus.writes().slice(before)).toEqual([]);
    expect(reconciler.status('pro')?.conditions.find((c) => c.type === 'Ready')?.status).toBe(true);
  });

  it('creates no instance while the firewall is not in place, and says why; the bridge and project come up', async () => {
    const reconciler = domainReconciler('cannot manage the firewall: nft not found');
    const h = harness(reconciler, time);
    manager = h.manager;
    await h.run(domainKey('pro'));
    expect(incus.instances.size).toBe(0);
    expect(incus.networks.has('net-pro')).toBe(true);
    const instance = reconciler.status('pro')?.objects.find((o) => o.kind === 'instance');
    expect(instance?.conditions.find((c) => c.type === 'Degraded')).toMatchObject({ status: true, message: expect.stringContaining('the firewall is not in place (cannot manage the firewall: nft not found)') });
  });

  it('where isolation is network ACLs, bridges name their domain\'s ACL', async () => {
    const h = harness(domainReconciler(undefined, { bridgeAcls: true }), time);
    manager = h.manager;
    expect((await h.run(domainKey('pro'))).result).toBe('success');
    expect(incus.networks.get('net-pro')?.config).toMatchObject({ 'security.acls': 'anklume-pro', 'security.acls.default.ingress.action': 'drop', 'security.acls.default.egress.action': 'drop' });
  });

  it('where isolation is network ACLs and they are not in place, writes neither the bridge nor an instance, and says why', async () => {
    const reconciler = domainReconciler('network ACLs differ from infra.yml (anklume-pro missing)', { bridgeAcls: true });
    const h = harness(reconciler, time);
    manager = h.manager;
    await h.run(domainKey('pro'));
    expect(incus.networks.size).toBe(0);
    expect(incus.instances.size).toBe(0);
    const bridge = reconciler.status('pro')?.objects.find((o) => o.kind === 'network');
    expect(JSON.stringify(bridge?.conditions)).toContain("the network ACLs are not in place (network ACLs differ from infra.yml (anklume-pro missing)): the bridge names its domain's ACL");
  });

  it('refuses a pass whose machine would get an address another instance pins on its bridge, and writes nothing', async () => {
    const ip = model().domains.find((d) => d.name === 'pro')?.machines[0]?.ip ?? '';
    incus.instances.set('default/squatter', { name: 'squatter', project: 'default', description: '', status: 'Stopped', config: {}, devices: { eth0: { type: 'nic', network: 'net-pro', 'ipv4.address': ip } } });
    const reconciler = domainReconciler();
    const h = harness(reconciler, time);
    manager = h.manager;
    const run = await h.run(domainKey('pro'));
    expect(run.result).toBe('error');
    expect(String(run.error)).toMatch(new RegExp(`pinned twice; nothing was changed:\\n {2}pro/pro-a: address ${ip.replace(/\./g, '\\.')} is also pinned by instance default/squatter`));
    expect(incus.writes()).toEqual([]);
    // Said in the domain's status, on the objects that wait for it.
    const instance = reconciler.status('pro')?.objects.find((o) => o.kind === 'instance');
    expect(JSON.stringify(instance?.conditions)).toContain('pinned twice; nothing was changed');
    // Another domain, whose addresses are its own, goes on.
    expect((await h.run(domainKey('ai-tools'))).result).toBe('success');
  });

  it('repairs drift with one write, of the drifted object only', async () => {
    const h = harness(domainReconciler(), time);
    manager = h.manager;
    await h.run(domainKey('pro'));
    const net = incus.networks.get('net-pro');
    if (net === undefined) throw new Error('no bridge');
    net.config['ipv4.address'] = '10.99.99.254/24';
    const before = incus.writes().length;
    expect((await h.run(domainKey('pro'))).result).toBe('success');
    expect(incus.writes().slice(before)).toEqual(['PUT /1.0/networks/net-pro']);
    expect(incus.networks.get('net-pro')?.config['ipv4.address']).toBe('10.150.1.254/24');
  });

  it('fails a run whose write fails, and comes back after its backoff to finish', async () => {
    const h = harness(domainReconciler(), time);
    manager = h.manager;
    incus.fail(/^POST \/1\.0\/instances$/, 'disk full');
    const first = await h.run(domainKey('pro'));
    expect(first.result).toBe('error');
    expect(String(first.error)).toContain('disk full');
    expect(h.manager.retries('domain', domainKey('pro'))).toBe(1);
    expect(incus.instances.size).toBe(0);
    const retry = h.manager.nextRun('domain', domainKey('pro'));
    time.advance(999);
    await new Promise((r) => setTimeout(r, 50));
    expect(incus.instances.size).toBe(0); // not before its backoff
    time.advance(1);
    expect((await retry).result).toBe('success');
    expect(incus.instances.get('pro/pro-a')?.status).toBe('Running');
    expect(h.manager.retries('domain', domainKey('pro'))).toBe(0);
  });

  it('fails a run at its deadline, and the next run finishes what it left', async () => {
    const h = harness(domainReconciler(), time);
    manager = h.manager;
    const release = incus.hold(/^POST \/1\.0\/instances$/);
    const first = h.run(domainKey('pro'));
    await vi.waitFor(() => expect(incus.fake.requests.some((r) => r.method === 'POST' && r.path === '/1.0/instances')).toBe(true));
    time.advance(DEADLINE_MS);
    const ended = await first;
    expect(ended.result).toBe('error');
    expect(ended.error).toBeInstanceOf(DeadlineExceededError);
    release();
    const next = h.manager.nextRun('domain', domainKey('pro'));
    time.advance(1_000);
    expect((await next).result).toBe('success');
    expect(incus.instances.get('pro/pro-a')?.status).toBe('Running');
    const before = incus.writes().length;
    expect((await h.run(domainKey('pro'))).result).toBe('success');
    expect(incus.writes().slice(before)).toEqual([]);
  });

  it('bounds Incus writes across domains reconciled together: one limit for the daemon, not one per domain', async () => {
    const writes = pLimit(1);
    const reconciler = domainReconciler(undefined, { writes });
    const m = new Manager({ logger, now: time.now, schedule: time.schedule });
    m.register({ reconciler, concurrency: 2, deadlineMs: DEADLINE_MS, backoff: { baseMs: 1_000, capMs: 10_000, jitter: 'none' } });
    m.start();
    manager = m;
    const release = incus.hold(/^POST \/1\.0\/networks$/);
    const pro = m.nextRun('domain', domainKey('pro'));
    const tools = m.nextRun('domain', domainKey('ai-tools'));
    m.enqueue('domain', domainKey('pro'));
    m.enqueue('domain', domainKey('ai-tools'));
    // Both passes run; one bridge create is in Incus, the other domain's waits for the one slot.
    await vi.waitFor(() => expect(writes.activeCount === 1 && writes.pendingCount === 1).toBe(true));
    expect(incus.writes()).toEqual(['POST /1.0/networks']);
    release();
    expect([(await pro).result, (await tools).result]).toEqual(['success', 'success']);
    expect(incus.instances.get('pro/pro-a')?.status).toBe('Running');
    expect(incus.instances.get('ai-tools/ai-gpu')?.status).toBe('Running');
  });
});

describe('the firewall reconciler, with a real nft in a network namespace', () => {
  const ns = `ak-rt-${process.pid}`;
  let dir: string;
  let nftBinary: string;
  const nftIn = (...args: string[]): string => execFileSync('ip', ['netns', 'exec', ns, 'nft', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    dir = mkdtempSync(join(tmpdir(), 'anklume-rt-nft-'));
    nftBinary = join(dir, 'nft');
    // Every call is logged; `sleep` in the mode file makes it hang, `fail` makes it fail (but listings).
    writeFileSync(join(dir, 'mode'), '');
    writeFileSync(join(dir, 'calls'), '');
    writeFileSync(nftBinary, `#!/bin/sh
echo "$*" >> ${dir}/calls
mode=$(cat ${dir}/mode)
case "$*" in *list*) ;; *) [ "$mode" = sleep ] && exec sleep 600; [ "$mode" = fail ] && { echo "Error: Could not process rule: No buffer space available" >&2; exit 1; } ;; esac
exec ip netns exec ${ns} nft "$@"
`);
    chmodSync(nftBinary, 0o755);
  });

  afterAll(() => {
    execFileSync('ip', ['netns', 'delete', ns]);
  });

  const applies = (): string[] => readFileSync(join(dir, 'calls'), 'utf8').split('\n').filter((l) => l === '-f -');
  const mode = (m: '' | 'sleep' | 'fail'): void => writeFileSync(join(dir, 'mode'), m);

  function firewallReconciler(): FirewallReconciler {
    const m = model();
    return new FirewallReconciler({ client, model: () => m, target: { nft: new Nft(nftBinary) }, logger });
  }

  it('writes the table once, then only reads it; a flushed table is written back once', async () => {
    mode('');
    const reconciler = firewallReconciler();
    const h = harness(reconciler, time);
    manager = h.manager;
    const start = applies().length;
    expect((await h.run(FIREWALL_KEY)).result).toBe('success');
    expect(applies().length - start).toBe(1);
    expect(nftIn('list', 'table', 'inet', 'anklume')).toContain('net-pro');
    expect((await h.run(FIREWALL_KEY)).result).toBe('success');
    expect(applies().length - start).toBe(1);
    nftIn('flush', 'table', 'inet', 'anklume');
    expect((await h.run(FIREWALL_KEY)).result).toBe('success');
    expect(applies().length - start).toBe(2);
    expect(reconciler.status()).toMatchObject({ managed: true, state: 'InSync' });
  });

  it('fails when nft refuses, says isolation is not enforced, and retries after its backoff', async () => {
    nftIn('delete', 'table', 'inet', 'anklume');
    mode('fail');
    const reconciler = firewallReconciler();
    const h = harness(reconciler, time);
    manager = h.manager;
    const first = await h.run(FIREWALL_KEY);
    expect(first.result).toBe('error');
    expect(reconciler.status()).toMatchObject({ managed: false, state: 'Missing' });
    expect(reconciler.status().message).toContain('No buffer space available');
    mode('');
    const retry = h.manager.nextRun('firewall', FIREWALL_KEY);
    time.advance(1_000);
    expect((await retry).result).toBe('success');
    expect(reconciler.status()).toMatchObject({ managed: true, state: 'InSync' });
  });

  it('fails an nft that hangs at the deadline; the table is whole or absent, never half-written', async () => {
    nftIn('delete', 'table', 'inet', 'anklume');
    mode('sleep');
    const h = harness(firewallReconciler(), time);
    manager = h.manager;
    const first = h.run(FIREWALL_KEY);
    await vi.waitFor(() => expect(readFileSync(join(dir, 'calls'), 'utf8')).toContain('-c -f -'));
    time.advance(DEADLINE_MS);
    const ended = await first;
    expect(ended.error).toBeInstanceOf(DeadlineExceededError);
    expect(() => nftIn('list', 'table', 'inet', 'anklume')).toThrow();
    mode('');
    const retry = h.manager.nextRun('firewall', FIREWALL_KEY);
    time.advance(1_000);
    expect((await retry).result).toBe('success');
    expect(nftIn('list', 'table', 'inet', 'anklume')).toContain('net-pro');
  });
});

describe('the AI access reconciler', () => {
  let stateDir: string;
  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'anklume-rt-ai-'));
  });

  function aiReconciler(): AiAccessReconciler {
    const m = model();
    return new AiAccessReconciler({ client, model: () => m, paths: { stateFile: join(stateDir, 'current'), switchLog: join(stateDir, 'log') }, syncFirewall: () => Promise.resolve() });
  }

  it('mirrors the holder into the state file once, and asks to look again later', async () => {
    incus.projects.set('ai-tools', { name: 'ai-tools', description: '', config: { 'user.anklume.ai-access-holder': 'pro' } });
    const reconciler = aiReconciler();
    const h = harness(reconciler, time);
    manager = h.manager;
    expect((await h.run('ai-access')).result).toBe('requeue');
    expect(readFileSync(join(stateDir, 'current'), 'utf8')).toBe(formatHolderFile('pro'));
    expect(reconciler.status()).toMatchObject({ policy: 'exclusive', holder: 'pro', source: 'switch-ai' });
    // Only reads: the record, and nvidia-smi asked for (the GPU instance is not there yet: no reading, no error).
    expect(incus.writes()).toEqual(['POST /1.0/instances/ai-gpu/exec']);
    expect(reconciler.status().vramError).toBeUndefined();
    // Drift: the state file edited by hand is written back.
    writeFileSync(join(stateDir, 'current'), 'perso\n');
    const again = h.manager.nextRun('ai-access', 'ai-access');
    time.advance(30_000);
    expect((await again).result).toBe('requeue');
    expect(readFileSync(join(stateDir, 'current'), 'utf8')).toBe(formatHolderFile('pro'));
  });

  it('fails at its deadline when Incus does not answer, and reads again after its backoff', async () => {
    const release = incus.hold(/^GET \/1\.0\/projects\/ai-tools$/);
    const reconciler = aiReconciler();
    const h = harness(reconciler, time);
    manager = h.manager;
    const first = h.run('ai-access');
    await vi.waitFor(() => expect(incus.fake.requests.some((r) => r.path === '/1.0/projects/ai-tools')).toBe(true));
    time.advance(DEADLINE_MS);
    expect((await first).error).toBeInstanceOf(DeadlineExceededError);
    release();
    const retry = h.manager.nextRun('ai-access', 'ai-access');
    time.advance(1_000);
    expect((await retry).result).toBe('requeue');
    expect(reconciler.status()).toMatchObject({ holder: 'pro', source: 'ai_access_default (no switch yet)' });
  });
});

describe('the service reconciler', () => {
  const key = serviceObjectId('pro', 'pro-a');
  // The deployed service's health endpoint, on loopback.
  let health: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    const server = createServer((_req, res) => res.writeHead(200).end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    health = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`, close: () => new Promise((resolve) => server.close(() => resolve())) };
  });
  afterAll(() => health.close());
  function deployment(over: Partial<ServiceDeployment> = {}): ServiceDeployment {
    return { project: 'pro', instance: 'pro-a', domain: 'pro', name: 'sanitizer', files: [], devices: {}, hostDirs: [], unit: 'x', healthUrl: 'http://127.0.0.1:1/', hash: 'h1', ...over };
  }
  function serviceReconciler(d: ServiceDeployment): ServiceReconciler {
    const m = model();
    const pro = m.domains.find((x) => x.name === 'pro');
    const machine = pro?.machines[0];
    if (machine === undefined || pro === undefined) throw new Error('no pro-a');
    // pro-a runs the sanitizer.
    (machine as unknown as { roles: string[] }).roles = ['llm_sanitizer'];
    return new ServiceReconciler({ client, model: () => m, deployments: () => Promise.resolve([d]), observe: (signal) => observe(client, { signal }), invalidate: () => undefined });
  }

  it('waits for its instance to run, and makes no write when the deployed hash is the wanted one and it answers', async () => {
    const reconciler = serviceReconciler(deployment({ healthUrl: health.url }));
    const h = harness(reconciler, time);
    manager = h.manager;
    expect((await h.run(key)).result).toBe('success');
    expect(reconciler.status(key)?.conditions.find((c) => c.type === 'Progressing')).toMatchObject({ status: true, reason: 'Pending' });
    incus.instances.set('pro/pro-a', { name: 'pro-a', description: '', config: { 'user.anklume.deploy-hash': 'h1' }, devices: {}, status: 'Running', project: 'pro' });
    // Done, and asked again later: a matching hash does not say it still answers.
    expect((await h.run(key)).result).toBe('requeue');
    expect(incus.writes()).toEqual([]);
    expect(reconciler.status(key)?.conditions.find((c) => c.type === 'Ready')?.status).toBe(true);
  });

  it('is not Ready when its health check does not answer now, whatever its hash says, and is deployed again', async () => {
    let up = false;
    const flaky = createServer((_req, res) => res.writeHead(up ? 200 : 503).end());
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/health`;
      incus.instances.set('pro/pro-a', { name: 'pro-a', description: '', config: { 'user.anklume.deploy-hash': 'h1' }, devices: {}, status: 'Running', project: 'pro' });
      // The deploy restarts the unit, which brings the service back.
      const commands: string[] = [];
      incus.onExec((_instance, command) => {
        commands.push(command.join(' '));
        if (command.join(' ').includes('systemctl restart')) up = true;
        return { code: 0, stdout: 'running\n' };
      });
      const reconciler = serviceReconciler(deployment({ healthUrl: url }));
      const h = harness(reconciler, time);
      manager = h.manager;
      const statuses: (boolean | undefined)[] = [];
      const seen = reconciler.status.bind(reconciler);
      expect((await h.run(key)).result).toBe('requeue');
      statuses.push(seen(key)?.conditions.find((c) => c.type === 'Ready')?.status);
      expect(commands.some((c) => c.includes('systemctl restart x'))).toBe(true);
      expect(up).toBe(true);
      // Asked again later: it answers now, so Ready and nothing written.
      const before = incus.writes().length;
      const again = h.manager.nextRun('service', key);
      time.advance(HEALTH_PERIOD_MS);
      expect((await again).result).toBe('requeue');
      statuses.push(seen(key)?.conditions.find((c) => c.type === 'Ready')?.status);
      expect(incus.writes().slice(before)).toEqual([]);
      expect(statuses).toEqual([true, true]);
      // It crashes: the next periodic check sees it and the status says so before the redeploy is done.
      up = false;
      const plan = await planAgainstIncus(client, model(), { prune: false, force: false, services: [deployment({ healthUrl: url })] });
      expect(plan.actions.find((a) => a.kind === 'service')).toMatchObject({ verb: 'update', reason: expect.stringContaining('does not answer its health check') });
    } finally {
      await new Promise((resolve) => flaky.close(resolve));
    }
  });

  it('deploys on drift with one deploy, fails when a step fails, retries after its backoff, then writes nothing', async () => {
    incus.instances.set('pro/pro-a', { name: 'pro-a', description: '', config: { 'user.anklume.deploy-hash': 'old' }, devices: {}, status: 'Running', project: 'pro' });
    incus.onExec((_instance, command) => (command.join(' ') === 'systemctl is-system-running --wait' ? { code: 0, stdout: 'running\n' } : { code: 0 }));
    incus.fail(/^PUT \/1\.0\/instances\/pro-a$/, 'instance busy');
    const reconciler = serviceReconciler(deployment({ healthUrl: health.url, files: [{ path: '/etc/svc/conf', content: 'x=1\n', mode: 0o600 }], devices: { data: { type: 'disk', source: '/srv', path: '/data' } } }));
    const h = harness(reconciler, time);
    manager = h.manager;
    const first = await h.run(key);
    expect(first.result).toBe('error');
    expect(String(first.error)).toContain('instance busy');
    expect(reconciler.status(key)?.conditions.find((c) => c.type === 'Degraded')).toMatchObject({ status: true, reason: 'Failed' });
    expect(h.manager.retries('service', key)).toBe(1);
    const retry = h.manager.nextRun('service', key);
    time.advance(1_000);
    expect((await retry).result).toBe('requeue');
    expect(incus.instances.get('pro/pro-a')?.devices).toMatchObject({ data: { source: '/srv' } });
    expect(incus.files.get('pro/pro-a:/etc/svc/conf')).toBe('x=1\n');
    expect(incus.instances.get('pro/pro-a')?.config['user.anklume.deploy-hash']).toBe('h1');
    expect(reconciler.status(key)?.conditions.find((c) => c.type === 'Ready')?.status).toBe(true);
    const before = incus.writes().length;
    expect((await h.run(key)).result).toBe('requeue');
    expect(incus.writes().slice(before)).toEqual([]);
  });

  it('fails a deploy at its deadline; the hash is written last, so the next pass deploys again and finishes', async () => {
    incus.instances.set('pro/pro-a', { name: 'pro-a', description: '', config: {}, devices: {}, status: 'Running', project: 'pro' });
    incus.onExec(() => ({ code: 0, stdout: 'running\n' }));
    const release = incus.hold(/^POST \/1\.0\/instances\/pro-a\/files$/);
    const reconciler = serviceReconciler(deployment({ healthUrl: health.url, files: [{ path: '/etc/svc/conf', content: 'x=1\n', mode: 0o600 }] }));
    const h = harness(reconciler, time);
    manager = h.manager;
    const first = h.run(key);
    await vi.waitFor(() => expect(incus.fake.requests.some((r) => r.path === '/1.0/instances/pro-a/files')).toBe(true));
    time.advance(DEADLINE_MS);
    expect((await first).error).toBeInstanceOf(DeadlineExceededError);
    expect(incus.instances.get('pro/pro-a')?.config['user.anklume.deploy-hash']).toBeUndefined();
    release();
    const retry = h.manager.nextRun('service', key);
    time.advance(1_000);
    expect((await retry).result).toBe('requeue');
    expect(incus.instances.get('pro/pro-a')?.config['user.anklume.deploy-hash']).toBe('h1');
  });
});
