import { readHolder } from '../controllers/ai-access/holder.js';
import { desiredFirewall } from '../controllers/firewall/table.js';
import type { IncusClient } from '../incus/client.js';
import type { DesiredInfra } from '../schemas/model.js';
import { AnklumeError, describeError } from '../shared/errors.js';
import type { VerifyProbe, VerifyReport } from '../shared/verify-report.js';
import { classifyHostConnect, classifyPing, classifyTcp, listeningPorts, missingTools, TOOLS_SCRIPT, type Classified } from './classify.js';
import { hostConnect, startHostListeners, type HostListeners } from './host.js';
import type { VerifyLimits } from './limits.js';
import { chooseEndpoints, endpointLabel, planProbes, type Candidates, type InstanceEndpoint, type PlannedProbe } from './plan.js';
import { buildReport } from './report.js';
import { mapBounded } from './bounded.js';

export interface VerifyRunOptions extends VerifyLimits {
  /** Probe from and to the host (false with a remote Incus). */
  readonly host: boolean;
  readonly signal?: AbortSignal;
  /** A line per step (the CLI prints it with the elapsed time). */
  readonly onStep?: (message: string) => void;
}

/** The plan would send more probes than allowed: nothing was sent. */
export class VerifyTooManyProbesError extends AnklumeError {
  constructor(count: number, max: number) {
    super('VERIFY_TOO_MANY_PROBES', `verify would send ${count} probes, more than --max-probes ${max}; nothing was sent (raise --max-probes)`);
  }
}

/** Seconds Incus may take on top of a probe's own wait before the exec is given up. */
const EXEC_MARGIN_SECONDS = 5;
/** How long listeners get to bind before the probes go. */
const LISTENER_READY_ATTEMPTS = 4;
const LISTENER_READY_PAUSE_MS = 250;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Listeners started in one instance: the `timeout` pids to kill, and the ports something listens on. */
interface InstanceListeners {
  readonly pids: readonly number[];
  readonly listening: ReadonlySet<number>;
}

/**
 * Start `nc -lk` on each port in the instance, each under `timeout` so it dies
 * by itself even if verify never comes back to kill it; then read which ports
 * listen (ours, or a service that already held the port).
 */
async function startInstanceListeners(client: IncusClient, e: InstanceEndpoint, ports: readonly number[], lifetimeSeconds: number, signal: AbortSignal | undefined): Promise<InstanceListeners> {
  const start = ports.map((p) => `timeout ${lifetimeSeconds} nc -lk ${p} </dev/null >/dev/null 2>&1 & echo "pid $!"`).join('\n');
  const read = 'cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; exit 0';
  const opts = { timeoutSeconds: 15, ...(signal === undefined ? {} : { signal }) };
  const first = await client.exec(e.project, e.name, ['sh', '-c', `${start}\nsleep 0.2\n${read}`], opts);
  const pids = [...first.stdout.matchAll(/^pid (\d+)$/gm)].map((m) => Number(m[1]));
  let listening = listeningPorts(first.stdout);
  for (let i = 1; i < LISTENER_READY_ATTEMPTS && !ports.every((p) => listening.has(p)); i++) {
    await sleep(LISTENER_READY_PAUSE_MS);
    listening = listeningPorts((await client.exec(e.project, e.name, ['sh', '-c', read], opts)).stdout);
  }
  return { pids, listening };
}

async function stopInstanceListeners(client: IncusClient, e: InstanceEndpoint, pids: readonly number[]): Promise<void> {
  if (pids.length === 0) return;
  // `timeout` passes the TERM on to its nc; only the pids this run started are named.
  await client.exec(e.project, e.name, ['sh', '-c', `kill ${pids.join(' ')} 2>/dev/null; exit 0`], { timeoutSeconds: 15 }).catch(() => undefined);
}

/**
 * `anklumectl verify` and anklumed's periodic check: real probes from inside
 * the instances (Incus exec API) and from the host, compared with what the
 * table rendered from the model declares. Read-only for Incus and nft; the
 * only things it leaves behind are none: its listeners are killed at the
 * end and die by themselves at the deadline anyway.
 */
export async function runVerify(client: IncusClient, model: DesiredInfra, options: VerifyRunOptions): Promise<VerifyReport> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const deadline = started + options.timeoutMs;
  const { signal } = options;
  const step = (message: string): void => options.onStep?.(message);
  const withSignal = signal === undefined ? {} : { signal };

  step('reading the AI access holder and the instances from Incus');
  const holder = await readHolder(client, model, signal);
  const ruleset = desiredFirewall(model, holder.holder);
  const instances = await client.listInstances(withSignal);
  const state = new Map(instances.map((i) => [`${i.project}/${i.name}`, i.status]));
  const chosen = chooseEndpoints(model, (project, name) => state.get(`${project}/${name}`));

  const all = [...chosen.endpoints.values()].flat();
  step(`checking the tools (${['nc', 'ping', 'timeout'].join(', ')}) in ${all.length} instance${all.length === 1 ? '' : 's'}`);
  const notVerifiable = [...chosen.notVerifiable];
  const usable = new Set<string>();
  await mapBounded(all, options.parallel, async (e) => {
    try {
      const r = await client.exec(e.project, e.name, ['sh', '-c', TOOLS_SCRIPT], { timeoutSeconds: 15, ...withSignal });
      const missing = missingTools(r.stdout);
      if (missing.length === 0) usable.add(endpointLabel(e));
      else notVerifiable.push({ instance: endpointLabel(e), reason: `${missing.join(', ')} not found (command -v)` });
    } catch (err) {
      if (signal?.aborted === true) throw err;
      notVerifiable.push({ instance: endpointLabel(e), reason: `cannot run a command in it: ${describeError(err)}` });
    }
  });
  const candidates: Candidates = { ...chosen, endpoints: new Map([...chosen.endpoints].map(([d, list]) => [d, list.filter((e) => usable.has(endpointLabel(e)))])) };
  const { participants, probes: planned } = planProbes(model, ruleset, candidates, { controlPort: options.controlPort, host: options.host });
  if (planned.length > options.maxProbes) throw new VerifyTooManyProbesError(planned.length, options.maxProbes);

  // Listeners on every port probed, so a pass is a real connect (see classify.ts).
  const lifetimeSeconds = Math.ceil(options.timeoutMs / 1000) + EXEC_MARGIN_SECONDS;
  const instanceTargets = new Map<string, { endpoint: InstanceEndpoint; ports: Set<number> }>();
  const hostTargets = new Map<string, { address: string; port: number }>();
  for (const p of planned) {
    if (p.protocol !== 'tcp' || p.port === undefined) continue;
    if (p.to.kind === 'instance') {
      const t = instanceTargets.get(endpointLabel(p.to)) ?? { endpoint: p.to, ports: new Set<number>() };
      t.ports.add(p.port);
      instanceTargets.set(endpointLabel(p.to), t);
    } else hostTargets.set(`${p.address}:${p.port}`, { address: p.address, port: p.port });
  }
  step(`starting listeners in ${instanceTargets.size} instance${instanceTargets.size === 1 ? '' : 's'}${hostTargets.size > 0 ? ' and on the host' : ''}`);
  const instanceListeners = new Map<string, InstanceListeners>();
  let hostListeners: HostListeners | undefined;
  const results: VerifyProbe[] = [];
  let sent = 0;
  try {
    await mapBounded([...instanceTargets.values()], options.parallel, async ({ endpoint, ports }) => {
      try {
        instanceListeners.set(endpointLabel(endpoint), await startInstanceListeners(client, endpoint, [...ports], lifetimeSeconds, signal));
      } catch (err) {
        if (signal?.aborted === true) throw err;
        // Probes still go: without a listener a reset from the target shows the SYN got through.
      }
    });
    hostListeners = await startHostListeners([...hostTargets.values()]);

    step(`sending ${planned.length} probe${planned.length === 1 ? '' : 's'}, ${options.parallel} at a time, each waiting up to ${options.probeTimeoutSeconds}s`);
    const listeningAt = (p: PlannedProbe): boolean =>
      p.to.kind === 'host' ? (hostListeners?.listening.has(`${p.address}:${p.port ?? 0}`) ?? false) : (instanceListeners.get(endpointLabel(p.to))?.listening.has(p.port ?? 0) ?? false);
    const outcomes = await mapBounded(planned, options.parallel, async (p): Promise<Classified> => {
      if (signal?.aborted === true) return { observed: 'error', detail: 'not sent: verify was stopped' };
      if (performance.now() + options.probeTimeoutSeconds * 1000 > deadline) return { observed: 'error', detail: `not sent: the ${options.timeoutMs / 1000}s time budget ran out` };
      sent++;
      return sendProbe(client, p, { listening: listeningAt(p), waitSeconds: options.probeTimeoutSeconds, signal });
    });
    planned.forEach((p, i) => {
      const o = outcomes[i] ?? { observed: 'error' };
      results.push({
        from: endpointLabel(p.from),
        to: endpointLabel(p.to),
        address: p.address,
        protocol: p.protocol,
        ...(p.port === undefined ? {} : { port: p.port }),
        why: p.why,
        expected: p.expected,
        observed: o.observed,
        ...(o.detail === undefined ? {} : { detail: o.detail }),
      });
    });
  } finally {
    step('stopping the listeners');
    await Promise.all([...instanceTargets.values()].map(({ endpoint }) => stopInstanceListeners(client, endpoint, instanceListeners.get(endpointLabel(endpoint))?.pids ?? [])));
    await hostListeners?.close();
  }
  return buildReport({ startedAt, durationMs: performance.now() - started, participants, probes: results, notVerifiable, probeCount: sent });
}

/** One probe: `nc -vz` or `ping` in the sending instance, or a connect from the host itself. */
async function sendProbe(client: IncusClient, p: PlannedProbe, options: { listening: boolean; waitSeconds: number; signal: AbortSignal | undefined }): Promise<Classified> {
  const wait = String(options.waitSeconds);
  if (p.from.kind === 'host') {
    if (p.protocol !== 'tcp' || p.port === undefined) return { observed: 'error', detail: 'the host sends TCP probes only' };
    return classifyHostConnect(await hostConnect(p.address, p.port, options.waitSeconds * 1000), { listening: options.listening });
  }
  const command = p.protocol === 'tcp' ? ['nc', '-vz', '-w', wait, p.address, String(p.port ?? 0)] : ['ping', '-c', '1', '-W', wait, p.address];
  try {
    const r = await client.exec(p.from.project, p.from.name, command, { timeoutSeconds: options.waitSeconds + EXEC_MARGIN_SECONDS, ...(options.signal === undefined ? {} : { signal: options.signal }) });
    return p.protocol === 'tcp' ? classifyTcp(r, { listening: options.listening }) : classifyPing(r);
  } catch (err) {
    if (options.signal?.aborted === true) throw err;
    return { observed: 'error', detail: `could not run the probe: ${describeError(err)}` };
  }
}
