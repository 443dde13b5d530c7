import { placeOnCluster } from '../controllers/domain/cluster-plan.js';
import { readCluster } from '../incus/cluster.js';
import { aclFirewallState, desiredAcls, observeAcls, usesAcls } from '../controllers/firewall/acl.js';
import { setTimeout as delay } from 'node:timers/promises';
import { resolveIncusEndpoint, type IncusEndpointFlags } from '../config/incus-endpoint.js';
import { formatIssue } from '../config/issues.js';
import { ConfigReadError, detectHostNetworks, loadInfraFile } from '../config/load.js';
import { resolveAiAccessPaths, resolveControlSocket, resolveInfraPath } from '../config/paths.js';
import { recordFromConfig, type AccessRecord, type AiHolder } from '../controllers/ai-access/holder.js';
import { lastSwitches } from '../controllers/ai-access/switch.js';
import { observeTarget, type FirewallTarget } from '../controllers/firewall/check.js';
import { readVram } from '../controllers/ai-access/gpu.js';
import { desiredFirewall, firewallState } from '../controllers/firewall/table.js';
import { detectStoragePool, observe } from '../controllers/domain/observe.js';
import { planCron } from '../controllers/service/cron-plan.js';
import type { ServiceDeployment } from '../controllers/service/deployment.js';
import { probeDeployed } from '../controllers/service/health.js';
import { planDeployment } from '../controllers/service/plan.js';
import type { Observed } from '../controllers/observed.js';
import { planInfra } from '../controllers/domain/plan.js';
import { aiAccess } from '../controllers/ai-access/holder.js';
import { domainStatus, planOfDomain } from '../controllers/domain/status.js';
import { firewallStatus } from '../controllers/firewall/table.js';
import { specHash, type Condition, type DomainStatus, type FirewallStatus, type StatusDocument, type VramReading } from '../controllers/status.js';
import { IncusClient, IncusPermissionError, IncusTlsError, IncusUnreachableError } from '../incus/index.js';
import type { Plan } from '../reconcile/action.js';
import type { DesiredDomain, DesiredInfra } from '../schemas/model.js';
import { AnklumeError, UsageError, describeError } from '../shared/errors.js';
import { positiveNumberFlag, wholeNumberFlag } from '../shared/number-flags.js';
import { DaemonClient, DaemonNotRunningError } from './daemon-client.js';
import { firewallTarget, serviceDeployments } from './incus.js';
import { EXIT, paint, type CliIo } from './io.js';
import { renderStatus, statusLabel } from './render-status.js';

export interface StatusCommandOptions extends IncusEndpointFlags {
  readonly config?: string;
  readonly json?: boolean;
  readonly watch?: boolean;
  /** Seconds between refreshes with --watch (a string: it comes from the command line). */
  readonly interval?: string;
  readonly socket?: string;
  readonly storagePool?: string;
  readonly nft?: string;
  /** Hidden: stop --watch after this many refreshes (tests). */
  readonly maxRefreshes?: string;
}

/** What the program injects: the stop signal (SIGINT), and the clock and sleep for tests. */
export interface StatusContext {
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
  /** Wait between refreshes; resolves early (never rejects) when `signal` aborts. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** How long the CLI waits for the daemon or for Incus before saying so. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Home the cursor and clear the screen (ECMA-48 CUP + ED), as watch(1) does. */
const CLEAR_SCREEN = '\u001b[H\u001b[2J';

/**
 * 0 when infra.yml is valid, Incus was read and every domain is Ready (a
 * disabled domain is Ready: it is left alone on purpose); 1 otherwise.
 */
export function statusExitCode(doc: StatusDocument): number {
  if (!doc.config.valid) return EXIT.failure;
  if (!doc.incus.reachable || doc.incus.error !== undefined) return EXIT.failure;
  // Isolation that does not hold is a failure even when every instance runs.
  if (!doc.firewall.managed) return EXIT.failure;
  return doc.domains.every((d) => statusLabel(d.conditions) === 'Ready') ? EXIT.ok : EXIT.failure;
}

export type OfflineConfig = { readonly ok: true; readonly model: DesiredInfra } | { readonly ok: false; readonly errors: readonly string[] };

/** What Incus said: everything the planner needs, or why not. `reachable` is false when nothing answered. */
export type OfflineIncus = { readonly ok: true; readonly observed: Observed; readonly plan: Plan } | { readonly ok: false; readonly reachable: boolean; readonly error: string };

export interface OfflineStatusInput {
  readonly now: string;
  /** The control socket nobody answered on. */
  readonly socketPath: string;
  readonly file: string;
  readonly endpoint: string;
  readonly config: OfflineConfig;
  readonly incus: OfflineIncus;
  readonly firewall: FirewallStatus;
  /** AI access as Incus records it (null when Incus could not be read). */
  readonly access?: AccessRecord | null;
  readonly vram?: readonly VramReading[];
  /** The last lines of the switch log. */
  readonly switches?: readonly string[];
}

const EMPTY_OBSERVED: Observed = { projects: new Map(), networks: new Map(), profiles: new Map(), instances: new Map() };

function unknownConditions(now: string, reason: string, message: string): Condition[] {
  return (['Ready', 'Progressing', 'Degraded'] as const).map((type) => ({ type, status: false, reason, message, lastTransitionTime: now }));
}

/**
 * A domain whose actual state could not be read: its objects come from the
 * model, with no condition true (rendered Unknown) and the instance state
 * Unknown. A disabled domain stays Disabled: the model alone says so.
 */
function unknownDomainStatus(model: DesiredInfra, domain: DesiredDomain, now: string, message: string): DomainStatus {
  const base = domainStatus({ model, domain, plan: { actions: [], notes: [] }, outcomes: [], observed: EMPTY_OBSERVED, now, lastReconcile: null, retries: 0 });
  if (!domain.enabled) return base;
  const unknown = unknownConditions(now, 'IncusUnavailable', message);
  return {
    ...base,
    conditions: unknown,
    objects: base.objects.map((o) => ({ ...o, conditions: unknown, ...(o.state === undefined ? {} : { state: 'Unknown' }) })),
  };
}

/**
 * The status document `anklumectl status` shows when no daemon answers (pure):
 * the same conditions the daemon computes, from infra.yml and one observation
 * of Incus, with no outcomes (nothing was applied), no events and no queue.
 */
export function offlineStatusDocument(input: OfflineStatusInput): StatusDocument {
  const { now, config, incus } = input;
  const model = config.ok ? config.model : undefined;
  let domains: DomainStatus[] = [];
  if (model !== undefined) {
    domains = incus.ok
      ? model.domains.map((domain) => domainStatus({ model, domain, plan: planOfDomain(incus.plan, domain.name), outcomes: [], observed: incus.observed, now, lastReconcile: null, retries: 0 }))
      : // The error itself is in `incus.error`, once; each object only says why its state is unknown.
        model.domains.map((domain) => unknownDomainStatus(model, domain, now, incus.reachable ? 'state unknown: Incus could not be read' : 'state unknown: Incus is not reachable'));
  }
  return {
    generatedAt: now,
    daemon: { running: false, message: `anklumed is not running (no daemon at ${input.socketPath}): computed from ${input.file} and Incus` },
    config: config.ok
      ? { file: input.file, valid: true, errors: [], specHash: specHash(config.model), loadedAt: now }
      : { file: input.file, valid: false, errors: config.errors, specHash: null, loadedAt: null },
    incus: incus.ok ? { endpoint: input.endpoint, reachable: true } : { endpoint: input.endpoint, reachable: incus.reachable, error: incus.error },
    events: null,
    queue: null,
    firewall: input.firewall,
    // The policy type has no "unknown": say it in the source, which is what is shown.
    aiAccess: model === undefined ? { policy: 'open', holder: null, source: 'unknown: no valid infra.yml' } : aiAccess(model, input.access ?? null, { vram: input.vram ?? [], switches: input.switches ?? [] }),
    domains,
  };
}

async function loadConfig(file: string): Promise<OfflineConfig> {
  try {
    const result = await loadInfraFile(file, { hostNetworks: detectHostNetworks() });
    return result.ok ? { ok: true, model: result.model } : { ok: false, errors: result.issues.map(formatIssue) };
  } catch (err) {
    if (err instanceof ConfigReadError) return { ok: false, errors: [err.message] };
    throw err;
  }
}

/** Observe Incus and plan as `anklumectl plan` would (no prune); or, with no model, only check that Incus answers (nothing to compare). */
async function readIncus(client: IncusClient, model: DesiredInfra | undefined, options: { storagePool?: string | undefined; signal: AbortSignal; services: readonly ServiceDeployment[]; target: FirewallTarget }): Promise<OfflineIncus> {
  try {
    if (model === undefined) {
      await client.serverInfo({ signal: options.signal });
      return { ok: true, observed: EMPTY_OBSERVED, plan: { actions: [], notes: [] } };
    }
    const [observed, cluster] = await Promise.all([observe(client, { signal: options.signal }), readCluster(client, { signal: options.signal })]);
    const storagePool = options.storagePool ?? detectStoragePool(observed);
    // The same plan as apply's on a cluster: bridges with their ACL, placement, networks waiting for members.
    const bridgeAcls = usesAcls(cluster, options.target);
    const plan = placeOnCluster(planInfra(model, observed, { storagePool, prune: false, force: false, bridgeAcls }), model, observed, cluster, { bridgeAcls });
    const health = await probeDeployed(options.services, observed, options.signal);
    const deploys = options.services.map((d) => planDeployment(d, observed, plan.actions, health)).filter((a) => a !== null);
    // Cron jobs by their recorded hash only: status stays quick (plan lists them inside the gateway).
    const crons = options.services.map((d) => planCron(d, observed, [...plan.actions, ...deploys], undefined)).filter((a) => a !== null);
    return { ok: true, observed, plan: { ...plan, actions: [...plan.actions, ...deploys, ...crons] } };
  } catch (err) {
    if (options.signal.aborted) throw err;
    if (err instanceof IncusUnreachableError || err instanceof IncusPermissionError || err instanceof IncusTlsError) return { ok: false, reachable: false, error: err.message };
    // Incus answered but the answer is no use (an API error, no storage pool): reachable, with the reason.
    if (err instanceof AnklumeError) return { ok: false, reachable: true, error: err.message };
    throw err;
  }
}

/** Read the live table and compare it with the model's (no model: nothing to compare with). */
async function readFirewall(model: DesiredInfra | undefined, holder: AiHolder | null, target: FirewallTarget, now: string, signal: AbortSignal): Promise<FirewallStatus> {
  if (model === undefined) return { managed: false, state: 'Unknown', message: 'unknown: no valid infra.yml to compare with', rules: 0, checkedAt: null, appliedAt: null };
  // Incus unreadable: the holder is unknown, so is the right rule set.
  if (holder === null) return { managed: false, state: 'Unknown', message: 'unknown: Incus could not be read, so neither could the AI access holder', rules: 0, checkedAt: null, appliedAt: null };
  const observed = await observeTarget(target, signal);
  return firewallStatus(firewallState(desiredFirewall(model, holder.holder), observed), { checkedAt: now });
}

/** The status computed without a daemon: infra.yml, then one observation of Incus. */
export async function computeOfflineStatus(
  options: { file: string; socketPath: string; flags: IncusEndpointFlags & { readonly nft?: string }; storagePool?: string | undefined; now: Date; signal: AbortSignal },
  io: CliIo,
): Promise<StatusDocument> {
  const config = await loadConfig(options.file);

  const endpoint = await resolveIncusEndpoint(options.flags, io.env);
  // status answers quickly even when Incus does not: the shorter of its own bound and --incus-timeout.
  const client = new IncusClient({ ...endpoint, requestTimeoutMs: Math.min(REQUEST_TIMEOUT_MS, endpoint.requestTimeoutMs ?? REQUEST_TIMEOUT_MS) });
  try {
    const services = config.ok ? await serviceDeployments(config.model, options.file, io) : [];
    const target = firewallTarget(options.flags, io);
    const incus = await readIncus(client, config.ok ? config.model : undefined, { storagePool: options.storagePool, signal: options.signal, services, target });
    const access = config.ok && incus.ok ? recordFromConfig(config.model, incus.observed.projects.get(config.model.ai.toolsDomain)?.config) : null;
    const cluster = incus.ok ? await readCluster(client, { signal: options.signal }).catch(() => null) : null;
    // On a cluster or a remote Incus the firewall is the domains' network ACLs (docs/cluster.md).
    const firewall = config.ok && access !== null && cluster !== null && usesAcls(cluster, target)
      ? firewallStatus(aclFirewallState(config.model, desiredAcls(config.model, access.holder.holder), await observeAcls(client, { signal: options.signal }), cluster), { checkedAt: options.now.toISOString() })
      : await readFirewall(config.ok ? config.model : undefined, access?.holder ?? null, target, options.now.toISOString(), options.signal);
    const exclusive = config.ok && incus.ok && config.model.ai.accessPolicy === 'exclusive';
    const vram = exclusive ? (await readVram(client, config.model, options.signal)).readings : [];
    const switches = exclusive ? await lastSwitches(resolveAiAccessPaths({}, io.env).switchLog) : [];
    return { ...offlineStatusDocument({ now: options.now.toISOString(), socketPath: options.socketPath, file: options.file, endpoint: client.endpoint, config, incus, firewall, access, vram, switches }), cluster };
  } finally {
    client.close();
  }
}

const sleepUntilAbort = async (ms: number, signal: AbortSignal): Promise<void> => {
  try {
    await delay(ms, undefined, { signal });
  } catch {
    // Aborted: the loop sees the signal and stops.
  }
};

/**
 * `anklumectl status`: the status document from anklumed, or, when no daemon
 * runs, the same view computed from infra.yml and Incus. `--watch` refreshes
 * until `context.signal` aborts (SIGINT) and returns the last refresh's status.
 */
export async function runStatus(options: StatusCommandOptions, io: CliIo, context: StatusContext = {}): Promise<number> {
  const interval = positiveNumberFlag('--interval', options.interval, 2);
  const maxRefreshes = options.maxRefreshes === undefined ? Infinity : wholeNumberFlag('--max-refreshes', options.maxRefreshes, 1, 1, Number.MAX_SAFE_INTEGER);
  const socketPath = resolveControlSocket({ flag: options.socket, env: io.env });
  const file = resolveInfraPath({ flag: options.config, env: io.env });
  const now = context.now ?? (() => new Date());
  const sleep = context.sleep ?? sleepUntilAbort;
  const signal = context.signal ?? new AbortController().signal;
  const daemon = new DaemonClient({ socketPath, timeoutMs: REQUEST_TIMEOUT_MS });
  const watch = options.watch === true;

  const snapshot = async (): Promise<StatusDocument> => {
    try {
      return await daemon.getStatus({ signal });
    } catch (err) {
      if (!(err instanceof DaemonNotRunningError)) throw err;
      return computeOfflineStatus({ file, socketPath, flags: options, storagePool: options.storagePool, now: now(), signal }, io);
    }
  };

  if (!watch) {
    const doc = await snapshot();
    io.stdout(options.json === true ? `${JSON.stringify(doc, null, 2)}\n` : renderStatus(doc, io));
    return statusExitCode(doc);
  }

  let status: number = EXIT.failure;
  for (let refresh = 0; refresh < maxRefreshes && !signal.aborted; refresh++) {
    let doc: StatusDocument;
    try {
      doc = await snapshot();
    } catch (err) {
      if (signal.aborted) break;
      // Usage errors do not get better by waiting; anything else might (a daemon restarting).
      if (err instanceof UsageError) throw err;
      io.stderr(`${paint(io, 'red', 'error:')} ${describeError(err)}\n`);
      status = EXIT.failure;
      if (refresh + 1 < maxRefreshes) await sleep(interval * 1000, signal);
      continue;
    }
    status = statusExitCode(doc);
    if (options.json === true) {
      // One document per line: a stream `jq` and line readers take as is.
      io.stdout(`${JSON.stringify(doc)}\n`);
    } else {
      // On a terminal (io.color stands for it) each frame replaces the last; in a pipe they follow each other.
      const lead = io.color ? CLEAR_SCREEN : refresh > 0 ? '\n' : '';
      io.stdout(`${lead}${paint(io, 'dim', `Every ${interval}s: anklumectl status, ${doc.generatedAt} (Ctrl-C stops)`)}\n\n${renderStatus(doc, io)}`);
    }
    if (refresh + 1 < maxRefreshes) await sleep(interval * 1000, signal);
  }
  return status;
}
