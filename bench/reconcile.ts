// Benchmark of the reconcile engine against the real Incus, each figure next
// to the raw floor measured in the same run (the machine is shared: absolute
// times move with its load, ratios much less):
// - 3 domains / 5 instances from nothing, against 5 parallel `incus launch` of the same image
//   (rounds of both, each on a rested machine), and against the same shape by hand (its 3
//   bridges, then their instances);
// - 10 domains / 30 instances from nothing, against 30 parallel `incus launch`;
// - the no-op plan of those 30, once the machine settled: against its own list
//   requests, and the planning alone;
// - `anklumectl --version`, the whole process.
// Everything it creates carries a unique prefix, is removed, and is made under the e2e lock.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { validateInfraText } from '../src/config/validate.js';
import { DEFAULT_CONCURRENCY } from '../src/config/incus-endpoint.js';
import { detectStoragePool, observe } from '../src/controllers/domain/observe.js';
import { planInfra } from '../src/controllers/domain/plan.js';
import { planAgainstIncus, reconcileOnce } from '../src/controllers/whole-pass.js';
import { IncusClient } from '../src/incus/index.js';
import type { DesiredInfra } from '../src/schemas/model.js';
import { ROOT } from '../test/helpers/cli.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, removeByPrefix, shortPrefix } from '../test/helpers/incus.js';
import { withE2eLock } from './e2e-lock.js';
import { incus, load, median, rested, settle } from './machine.js';

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

/** One domain per entry, with that many machines. */
function infra(prefix: string, octet: number, machines: readonly number[]): DesiredInfra {
  const lines = [`project_name: ${prefix}-bench`, 'global:', `  base_subnet: "10.${octet}"`, `  default_os_image: ${TEST_IMAGE}`, 'domains:'];
  for (const [d, count] of machines.entries()) {
    lines.push(`  ${prefix}-d${d}:`, `    subnet_id: ${d + 1}`, '    ephemeral: true', '    machines:');
    for (let m = 0; m < count; m++) lines.push(`      ${prefix}-d${d}-m${m}: {}`);
  }
  const r = validateInfraText(lines.join('\n'), { file: 'bench.yml' });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}

/**
 * The raw floor: `n` parallel `incus launch` of the same image, each with a NIC
 * on one bridge made beforehand (outside the time), as anklume's instances have.
 */
async function launchFloor(n: number): Promise<number> {
  const prefix = shortPrefix();
  const bridge = `${prefix}fl`;
  const client = new IncusClient({ socketPath: INCUS_SOCKET });
  try {
    console.log(`floor: ${n} instances: making bridge ${bridge}...`);
    await incus(['network', 'create', bridge, 'ipv4.address=none', 'ipv6.address=none']);
    console.log(`floor: ${n} instances: launching...`);
    const t = performance.now();
    await Promise.all(Array.from({ length: n }, (_, i) => incus(['launch', TEST_IMAGE, `${prefix}-f${i}`, '--network', bridge, '--quiet'])));
    const s = (performance.now() - t) / 1000;
    console.log(`floor: ${n} parallel \`incus launch\`: ${s.toFixed(2)} s (load ${load()})`);
    return s;
  } finally {
    await removeByPrefix(client, prefix);
    await incus(['network', 'delete', bridge]).catch(() => undefined);
    client.close();
  }
}

/**
 * The same shape by hand: per domain, its bridge (addressed, as anklume's:
 * Incus then runs dnsmasq for it) and then its instances, all domains at
 * once, as a script a user would write. Incus creates bridges one at a time
 * whatever the client sends (measured: three sent together are done 0.75 s
 * apart), so this floor carries what the launch-only floor leaves out.
 */
async function shapeFloor(machines: readonly number[]): Promise<number> {
  const prefix = shortPrefix();
  const octet = freeSecondOctet();
  const client = new IncusClient({ socketPath: INCUS_SOCKET });
  const bridges = machines.map((_, d) => `${prefix}s${d}`);
  try {
    const t = performance.now();
    await Promise.all(
      machines.map(async (count, d) => {
        await incus(['network', 'create', bridges[d]!, `ipv4.address=10.${octet}.${d + 1}.254/24`, 'ipv4.nat=true', 'ipv6.address=none']);
        await Promise.all(Array.from({ length: count }, (_, m) => incus(['launch', TEST_IMAGE, `${prefix}-s${d}-${m}`, '--network', bridges[d]!, '--quiet'])));
      }),
    );
    const s = (performance.now() - t) / 1000;
    console.log(`shape floor: ${machines.length} bridges and ${machines.reduce((a, b) => a + b, 0)} instances by hand (\`incus network create\` then \`incus launch\`, domains at once): ${s.toFixed(2)} s (load ${load()})`);
    return s;
  } finally {
    await removeByPrefix(client, prefix);
    for (const bridge of bridges) await incus(['network', 'delete', bridge]).catch(() => undefined);
    client.close();
  }
}

const SMALL_ROUNDS = 3;

/** anklume from nothing (reconcileOnce, as a direct `apply` minus the firewall); then `after` on the converged infra, then removed. */
async function fromNothing(machines: readonly number[], concurrency: number, after?: (client: ListTimedClient, model: DesiredInfra) => Promise<void>): Promise<number> {
  const prefix = shortPrefix();
  const model = infra(prefix, freeSecondOctet(), machines);
  const client = new ListTimedClient({ socketPath: INCUS_SOCKET });
  try {
    const t = performance.now();
    // Where the time goes: when the bridges were written, and when the first instance start began.
    const marks = { bridgesEnd: 0, firstInstance: Infinity };
    const { outcomes } = await reconcileOnce(client, model, {
      prune: false,
      force: false,
      concurrency,
      onStart: (a) => {
        if (a.kind === 'instance') marks.firstInstance = Math.min(marks.firstInstance, performance.now() - t);
      },
      onOutcome: (o) => {
        if (o.action.kind === 'network') marks.bridgesEnd = Math.max(marks.bridgesEnd, performance.now() - t);
      },
    });
    const s = (performance.now() - t) / 1000;
    const bridgeMs = outcomes.filter((o) => o.action.kind === 'network' && o.status === 'done').map((o) => (o.status === 'done' ? o.ms : 0));
    console.log(`  bridges: ${bridgeMs.length}, each median ${median(bridgeMs).toFixed(0)} ms (waiting for the interface lock included), the last done at ${(marks.bridgesEnd / 1000).toFixed(2)} s; the first instance action began at ${(marks.firstInstance / 1000).toFixed(2)} s`);
    const notDone = outcomes.filter((o) => o.status !== 'done');
    for (const o of notDone.slice(0, 3)) console.log(`  not done: ${o.action.id}: ${o.status === 'failed' ? o.error : o.status === 'skipped' ? o.reason : ''}`);
    const instances = machines.reduce((a, b) => a + b, 0);
    console.log(`anklume: ${machines.length} domains / ${instances} instances from nothing, --parallel ${concurrency}: ${s.toFixed(2)} s, ${outcomes.length} actions (${notDone.length} not done) (load ${load()})`);
    if (notDone.length > 0) throw new Error(`${notDone.length} actions not done: the figure would not be a convergence`);
    if (after !== undefined) await after(client, model);
    return s;
  } finally {
    await removeByPrefix(client, prefix);
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
async function noOpPlan(client: ListTimedClient, model: DesiredInfra): Promise<{ medianMs: number; slowestMs: number; planningMs: number }> {
  const times: number[] = [];
  const requests: number[] = [];
  const slowest: number[] = [];
  const perList = new Map<string, number[]>();
  let actions = 0;
  const idle = await settle(120_000);
  console.log(`no-op plan: measured once the machine settled (CPU ${Math.round(idle * 100)}% idle over 2 s; load ${load()})`);
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
  console.log(`no-op plan: ${median(requests)} requests, median ${median(times).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms over 20 runs; actions planned: ${actions} (must be 0) (load ${load()})`);
  console.log(`  its list requests (in flight together), median ms: ${lists}; the slowest: median ${median(slowest).toFixed(1)} ms; plan / slowest request = ${(median(times) / median(slowest)).toFixed(2)}x`);
  console.log(`  planning alone from one observation (the daemon's periodic pass while Incus events flow: 0 requests): median ${median(planning).toFixed(2)} ms, max ${Math.max(...planning).toFixed(2)} ms over 200 runs`);
  if (actions > 0) throw new Error('the no-op plan planned actions');
  return { medianMs: median(times), slowestMs: median(slowest), planningMs: median(planning) };
}

/** `anklumectl --version`, the whole process, from dist/ (built if missing). */
function cliVersion(): number {
  const bin = join(ROOT, 'dist/bin/anklumectl.js');
  if (!existsSync(bin)) spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    const r = spawnSync(process.execPath, [bin, '--version'], { stdio: 'ignore' });
    if (r.status !== 0) throw new Error('anklumectl --version failed');
    times.push((performance.now() - t) / 1000);
  }
  console.log(`anklumectl --version: median ${median(times).toFixed(3)} s, max ${Math.max(...times).toFixed(3)} s over 10 runs (load ${load()})`);
  return median(times);
}

export async function run(): Promise<void> {
  console.log(`\n# reconcile against the raw floor (Incus at ${INCUS_SOCKET}; default --parallel ${DEFAULT_CONCURRENCY}; load average at start ${load()})`);
  const rows: { what: string; value: string; ratio: string; target: string; met: boolean }[] = [];
  console.log(`waiting for the e2e lock (other tests on this Incus go first)...`);
  await withE2eLock(async () => {
    console.log(`e2e lock taken (load ${load()})`);
    // Each timed phase starts on a rested machine (the containers of the one
    // before have booted and gone): run in a row, the later phases paid for
    // the earlier ones' boots. The small case alternates floor and anklume
    // over rounds and takes the median of each round's ratio.
    const small = [2, 2, 1];
    const ratios: number[] = [];
    const floors: number[] = [];
    const runs: number[] = [];
    for (let round = 1; round <= SMALL_ROUNDS; round++) {
      console.log(`small case, round ${round} of ${SMALL_ROUNDS}`);
      await rested();
      const floor = await launchFloor(5);
      await rested();
      const anklume = await fromNothing(small, DEFAULT_CONCURRENCY);
      floors.push(floor);
      runs.push(anklume);
      ratios.push(anklume / floor);
    }
    await rested();
    const smallShape = await shapeFloor(small);
    const smallRatio = median(ratios);
    const smallAnklume = median(runs);
    rows.push({ what: '3 domains / 5 instances from nothing', value: `median ${smallAnklume.toFixed(2)} s (floor median ${median(floors).toFixed(2)} s; per round ${ratios.map((r) => `${r.toFixed(2)}x`).join(', ')})`, ratio: `${smallRatio.toFixed(2)}x floor (median of rounds)`, target: '<= 1.3x', met: smallRatio <= 1.3 });
    rows.push({ what: '  the same against the same shape by hand (bridges included)', value: `shape floor ${smallShape.toFixed(2)} s`, ratio: `${(smallAnklume / smallShape).toFixed(2)}x shape floor`, target: '<= 1.3x', met: smallAnklume / smallShape <= 1.3 });

    const big = Array.from({ length: 10 }, () => 3);
    await rested();
    const bigFloor = await launchFloor(30);
    await rested();
    let noOp = { medianMs: NaN, slowestMs: NaN, planningMs: NaN };
    const bigAnklume = await fromNothing(big, DEFAULT_CONCURRENCY, async (client, model) => {
      noOp = await noOpPlan(client, model);
    });
    rows.push({ what: '10 domains / 30 instances from nothing', value: `${bigAnklume.toFixed(2)} s (floor ${bigFloor.toFixed(2)} s)`, ratio: `${(bigAnklume / bigFloor).toFixed(2)}x floor`, target: '<= 1.5x', met: bigAnklume / bigFloor <= 1.5 });
    rows.push({ what: 'no-op plan, 30 instances, in process', value: `median ${noOp.medianMs.toFixed(0)} ms (its slowest list request ${noOp.slowestMs.toFixed(0)} ms; planning ${noOp.planningMs.toFixed(1)} ms)`, ratio: `${(noOp.medianMs / noOp.slowestMs).toFixed(2)}x its requests`, target: '< 100 ms', met: noOp.medianMs < 100 });
  });
  await rested();
  const version = cliVersion();
  rows.push({ what: 'anklumectl --version', value: `${version.toFixed(3)} s`, ratio: '', target: '< 0.2 s', met: version < 0.2 });
  console.log(`\nsummary (load average at end ${load()}):`);
  for (const r of rows) console.log(`  ${r.met ? 'met    ' : 'NOT met'}  ${r.what}: ${r.value}${r.ratio === '' ? '' : `; ${r.ratio}`} (target ${r.target})`);
}
