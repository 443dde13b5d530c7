// Benchmark of the reconcile engine against the real Incus:
// - converge 10 domains / 30 instances from nothing, against the Incus calls' own time;
// - a no-op plan of the same: requests and milliseconds.
import { validateInfraText } from '../src/config/validate.js';
import { detectStoragePool, observe } from '../src/controllers/domain/observe.js';
import { planInfra } from '../src/controllers/domain/plan.js';
import { planAgainstIncus, reconcileOnce } from '../src/controllers/whole-pass.js';
import { IncusClient, type WriteOptions, type WriteResult } from '../src/incus/index.js';
import type { DesiredInfra } from '../src/schemas/model.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, removeByPrefix, shortPrefix } from '../test/helpers/incus.js';

/** Times every write call, async operations waited for: the Incus work the engine asks for. */
class TimedClient extends IncusClient {
  callMs = 0;
  private async timed<T>(call: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await call();
    } finally {
      this.callMs += performance.now() - t;
    }
  }
  override create(path: string, body: unknown, options?: WriteOptions): Promise<WriteResult> {
    return this.timed(() => super.create(path, body, options));
  }
  override put(path: string, body: unknown, options?: WriteOptions): Promise<WriteResult> {
    return this.timed(() => super.put(path, body, options));
  }
  override patch(path: string, body: unknown, options?: WriteOptions): Promise<WriteResult> {
    return this.timed(() => super.patch(path, body, options));
  }
  override delete(path: string, options?: WriteOptions): Promise<WriteResult> {
    return this.timed(() => super.delete(path, options));
  }
  override updateWithRetry: IncusClient['updateWithRetry'] = (path, mutate, options) => this.timed(() => super.updateWithRetry(path, mutate, options));
}

function infra(prefix: string, octet: number, domains: number, perDomain: number): DesiredInfra {
  const lines = [`project_name: ${prefix}-bench`, 'global:', `  base_subnet: "10.${octet}"`, `  default_os_image: ${TEST_IMAGE}`, 'domains:'];
  for (let d = 0; d < domains; d++) {
    lines.push(`  ${prefix}-d${d}:`, `    subnet_id: ${d + 1}`, '    ephemeral: true', '    machines:');
    for (let m = 0; m < perDomain; m++) lines.push(`      ${prefix}-d${d}-m${m}: {}`);
  }
  const r = validateInfraText(lines.join('\n'), { file: 'bench.yml' });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}

/** Times each bulk list request of an observation, in flight together as `observe` sends them. */
class ListTimedClient extends IncusClient {
  readonly listMs = new Map<string, number>();
  private timedList<T>(name: string, call: () => Promise<T>): Promise<T> {
    const t = performance.now();
    return call().finally(() => this.listMs.set(name, performance.now() - t));
  }
  override listProjects: IncusClient['listProjects'] = (o) => this.timedList('projects', () => super.listProjects(o));
  override listNetworks: IncusClient['listNetworks'] = (o) => this.timedList('networks', () => super.listNetworks(o));
  override listProfiles: IncusClient['listProfiles'] = (o) => this.timedList('profiles', () => super.listProfiles(o));
  override listInstances: IncusClient['listInstances'] = (o) => this.timedList('instances', () => super.listInstances(o));
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function converge(model: DesiredInfra, concurrency: number, prefix: string): Promise<void> {
  const client = new TimedClient({ socketPath: INCUS_SOCKET });
  try {
    const t = performance.now();
    const { outcomes } = await reconcileOnce(client, model, { prune: false, force: false, concurrency });
    const wall = performance.now() - t;
    const failed = outcomes.filter((o) => o.status !== 'done').length;
    for (const o of outcomes.filter((x) => x.status === 'failed').slice(0, 3)) console.log(`  failed: ${o.action.id}: ${o.status === 'failed' ? o.error : ''}`);
    console.log(`converge from nothing, concurrency ${concurrency}: ${outcomes.length} actions (${failed} not done) in ${wall.toFixed(0)} ms; Incus write calls took ${client.callMs.toFixed(0)} ms in sum; wall / calls = ${(wall / client.callMs).toFixed(2)}x`);
  } finally {
    const cleaner = new IncusClient({ socketPath: INCUS_SOCKET });
    await removeByPrefix(cleaner, prefix);
    cleaner.close();
    client.close();
  }
}

/**
 * The no-op plan of a converged infra, 20 times: its wall time against the
 * time of its own list requests (sent together, so the slowest one bounds
 * it) and against the planning alone (pure, from one observation: what the
 * daemon's periodic pass does while its Incus event stream keeps that
 * observation current).
 */
async function noOpPlan(client: ListTimedClient, model: DesiredInfra): Promise<{ medianMs: number }> {
  const times: number[] = [];
  const requests: number[] = [];
  const slowest: number[] = [];
  const perList = new Map<string, number[]>();
  let actions = 0;
  for (let i = 0; i < 20; i++) {
    client.resetStats();
    client.listMs.clear();
    const t = performance.now();
    const plan = await planAgainstIncus(client, model, { prune: false, force: false });
    times.push(performance.now() - t);
    requests.push(client.stats.requests);
    slowest.push(Math.max(...client.listMs.values()));
    for (const [name, ms] of client.listMs) perList.set(name, [...(perList.get(name) ?? []), ms]);
    actions += plan.actions.length;
  }
  const observed = await observe(client);
  const storagePool = detectStoragePool(observed);
  const planning: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    actions += planInfra(model, observed, { storagePool, prune: false, force: false }).actions.length;
    planning.push(performance.now() - t);
  }
  const lists = [...perList].map(([name, ms]) => `${name} ${median(ms).toFixed(0)}`).join(', ');
  console.log(`no-op plan: ${median(requests)} requests, median ${median(times).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms over 20 runs (target < 100 ms); actions planned: ${actions} (must be 0)`);
  console.log(`  its list requests (in flight together), median ms: ${lists}; the slowest: median ${median(slowest).toFixed(1)} ms; plan / slowest request = ${(median(times) / median(slowest)).toFixed(2)}x`);
  console.log(`  planning alone from one observation (the daemon's periodic pass while Incus events flow: 0 requests): median ${median(planning).toFixed(2)} ms, max ${Math.max(...planning).toFixed(2)} ms over 200 runs`);
  return { medianMs: median(times) };
}

export async function run(): Promise<void> {
  const domains = 10;
  const perDomain = 3;
  console.log(`\n# reconcile: ${domains} domains, ${domains * perDomain} instances (Incus at ${INCUS_SOCKET})`);
  for (const concurrency of [1, 4]) {
    const prefix = shortPrefix();
    await converge(infra(prefix, freeSecondOctet(), domains, perDomain), concurrency, prefix);
  }

  const prefix = shortPrefix();
  const model = infra(prefix, freeSecondOctet(), domains, perDomain);
  const client = new ListTimedClient({ socketPath: INCUS_SOCKET });
  try {
    await reconcileOnce(client, model, { prune: false, force: false, concurrency: 4 });
    await noOpPlan(client, model);
  } finally {
    await removeByPrefix(client, prefix);
    client.close();
  }
}
