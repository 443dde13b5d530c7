// Benchmark of the reconcile engine against the real Incus:
// - converge 10 domains / 30 instances from nothing, against the Incus calls' own time;
// - a no-op plan of the same: requests and milliseconds.
import { validateInfraText } from '../src/config/validate.js';
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
  const client = new IncusClient({ socketPath: INCUS_SOCKET });
  try {
    await reconcileOnce(client, model, { prune: false, force: false, concurrency: 4 });
    const times: number[] = [];
    const requests: number[] = [];
    let actions = 0;
    for (let i = 0; i < 20; i++) {
      client.resetStats();
      const t = performance.now();
      const plan = await planAgainstIncus(client, model, { prune: false, force: false });
      times.push(performance.now() - t);
      requests.push(client.stats.requests);
      actions += plan.actions.length;
    }
    console.log(`no-op plan: ${median(requests)} requests (target <= 6), median ${median(times).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms over 20 runs (target < 100 ms); actions planned: ${actions}`);
  } finally {
    await removeByPrefix(client, prefix);
    client.close();
  }
}
