import { createServer, type Server } from 'node:http';
import { schedule as cronSchedule, validate as validCron, type ScheduledTask } from 'node-cron';
import { detectStoragePool, observe } from '../controllers/observe.js';
import { planInfra } from '../controllers/plan.js';
import type { AiHolder } from '../controllers/ai-access.js';
import { readVram } from '../controllers/gpu.js';
import { SwitchFailedError, SwitchRefusedError, mirrorStateFile, switchAi, type SwitchAnswer, type SwitchRequest } from '../controllers/ai-switch.js';
import type { AiAccessPaths } from '../config/ai-paths.js';
import { applyFirewall, type FirewallState } from '../controllers/firewall.js';
import { applyEngineAction, checkFirewall, nftOf, type FirewallTarget } from '../controllers/engine.js';
import type { ServiceDeployment } from '../controllers/service/deployment.js';
import { loadDeployments } from '../controllers/service/inputs.js';
import { planDeployment } from '../controllers/service/plan.js';
import { aiAccess, domainStatus, firewallStatus, planOfDomain, specHash, type DomainStatus, type FirewallStatus, type StatusDocument, type VramReading } from '../controllers/status.js';
import type { HostNetwork } from '../config/rules.js';
import { IncusClient } from '../incus/client.js';
import type { IncusEndpoint } from '../incus/endpoint.js';
import { IncusEventStream, eventKeys } from '../incus/events.js';
import { runnable, type Action, type Plan } from '../reconcile/action.js';
import { executePlan, type Outcome } from '../reconcile/execute.js';
import { MetricsRegistry, PROMETHEUS_CONTENT_TYPE, instrumentQueue, operatorMetrics, type OperatorMetrics } from '../reconcile/metrics.js';
import { WorkQueue } from '../reconcile/queue.js';
import type { DesiredInfra } from '../schemas/model.js';
import { AnklumeError, describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { SharedExclusiveLock } from './bridge-lock.js';
import { ConfigSource, type ConfigState } from './config-source.js';
import { RequestError, startControlServer } from './control-server.js';
import { ObservationCache } from './observation-cache.js';

export interface DaemonOptions {
  readonly configPath: string;
  readonly incus: IncusEndpoint;
  /** Shown in status. */
  readonly incusEndpoint: string;
  readonly controlSocket: string;
  /** Numeric gid for the control socket (mode 0660). */
  readonly socketGroup?: number;
  /** node-cron expression of the periodic full resync. */
  readonly resync: string;
  /** `host:port` for Prometheus metrics; none when absent. */
  readonly metricsAddress?: string;
  readonly prune: boolean;
  readonly concurrency: number;
  readonly storagePool?: string;
  readonly debounceMs: number;
  readonly shutdownDeadlineMs: number;
  readonly hostNetworks: () => readonly HostNetwork[];
  readonly logger: Logger;
  /** The host firewall: nft, or why it cannot be managed (remote Incus). */
  readonly firewall: FirewallTarget;
  /** How often the live nftables table is read back and repaired, in ms (nft sends no events anklume listens to). */
  readonly firewallCheckMs: number;
  /** The AI access state file, switch log and switch lock. */
  readonly aiPaths: AiAccessPaths;
  /** Where anklume keeps what it generates on the host (OpenClaw gateway tokens). */
  readonly stateDir: string;
}

/** The key of a domain's work; `LEFTOVERS` is this infra's objects whose domain left infra.yml. */
const domainKey = (domain: string): string => `domain/${domain}`;
const LEFTOVERS = 'leftovers';
const FIREWALL = 'firewall';
const CONTROLLER = 'domain';

/**
 * anklumed: three sources only enqueue work — infra.yml (chokidar), the Incus
 * events stream (relist on every connect) and a periodic resync (node-cron) —
 * and a work queue reconciles one domain per key, level-triggered, with
 * per-key backoff. Status conditions and metrics come out of every pass.
 */
export class Daemon {
  private readonly log: Logger;
  private readonly client: IncusClient;
  private readonly queue = new WorkQueue();
  private readonly cache: ObservationCache;
  private readonly lock = new SharedExclusiveLock();
  private readonly metrics: OperatorMetrics = operatorMetrics(new MetricsRegistry());
  private readonly statuses = new Map<string, DomainStatus>();
  private readonly running = new Set<string>();
  private readonly startedAt = new Date().toISOString();
  private config: ConfigSource | undefined;
  private events: IncusEventStream | undefined;
  private cron: ScheduledTask | undefined;
  private control: Server | undefined;
  private metricsServer: Server | undefined;
  private eventsState = { connected: false, reconnects: 0, lastEventAt: null as string | null };
  private incusError: string | undefined;
  private knownDomains = new Set<string>();
  private stopping = false;
  /** Leftover notes are logged when they change, not on every pass. */
  private lastLeftoverNotes = '[]';
  private firewall: FirewallStatus = firewallStatus(null, { checkedAt: null });
  private firewallTimer: NodeJS.Timeout | undefined;
  /** Services to deploy, for the infra.yml text they were built from (the bundle and keys are read once per text). */
  private deployCache: { text: string; deployments: Promise<ServiceDeployment[]> } | undefined;
  /** The AI access holder as last read from Incus (null until then). */
  private holder: AiHolder | null = null;
  private vram: VramReading[] = [];
  private vramReadAt = 0;
  /** One nft transaction at a time: the firewall key and domains that need it first share it. */
  private firewallSync: Promise<void> | undefined;

  constructor(private readonly options: DaemonOptions) {
    this.log = options.logger;
    this.client = new IncusClient({ ...options.incus, logger: options.logger.child({ component: 'incus' }) });
    this.cache = new ObservationCache(async (signal) => {
      try {
        const observed = await observe(this.client, { signal });
        this.incusError = undefined;
        return observed;
      } catch (err) {
        this.incusError = describeError(err);
        throw err;
      }
    });
    if (!validCron(options.resync)) throw new AnklumeError('USAGE', `--resync "${options.resync}" is not a cron expression`);
  }

  /** Start everything; throws InvalidConfigError when infra.yml is invalid (nothing is started then). */
  async start(): Promise<void> {
    const { options, log } = this;
    this.config = await ConfigSource.open({
      path: options.configPath,
      debounceMs: options.debounceMs,
      hostNetworks: options.hostNetworks,
      logger: log.child({ component: 'config' }),
      onChange: (state, changed) => this.onConfig(state, changed),
    });
    this.metrics.setConfigValid(true);
    this.knownDomains = new Set(this.model.domains.map((d) => d.name));

    this.control = await startControlServer({
      path: options.controlSocket,
      ...(options.socketGroup === undefined ? {} : { group: options.socketGroup }),
      logger: log.child({ component: 'control' }),
      handlers: { status: () => this.status(), reconcile: (domains) => this.reconcileNow(domains), switchAi: (request) => this.switchAi(request) },
    });
    if (options.metricsAddress !== undefined) this.metricsServer = await this.startMetrics(options.metricsAddress);

    instrumentQueue(this.queue, this.metrics, { name: 'anklume', controller: CONTROLLER });
    this.queue.addObserver({
      onDone: (e) => {
        if (e.result === 'error') log.warn({ key: e.key, retries: this.queue.retries(e.key), err: describeError(e.error) }, 'reconcile failed; retrying with backoff');
      },
    });
    this.queue.start({ concurrency: options.concurrency, handler: (key, signal) => this.reconcile(key, signal) });

    // Connect to events first, then relist: Incus keeps no history (incus-api.md §0.6).
    this.events = new IncusEventStream({ ...options.incus, types: ['lifecycle'] });
    this.events.on('open', () => {
      this.eventsState.connected = true;
      this.metrics.setIncusEventsConnected(true);
      log.info('Incus events connected: relisting everything');
      this.cache.invalidate();
      this.enqueueAll();
    });
    this.events.on('close', () => {
      if (this.eventsState.connected && !this.stopping) log.warn('Incus events disconnected: reconnecting');
      this.eventsState.connected = false;
      this.metrics.setIncusEventsConnected(false);
    });
    this.events.on('reconnect', () => this.eventsState.reconnects++);
    this.events.on('error', (err) => log.debug({ err: describeError(err) }, 'Incus events error'));
    this.events.on('event', (event) => {
      const keys = eventKeys(event);
      if (keys.length === 0) return; // read noise, or kinds anklume does not manage
      this.eventsState.lastEventAt = new Date().toISOString();
      this.cache.invalidate();
      for (const k of keys) {
        const domain = this.domainOf(k.kind, k.name, k.project);
        if (domain !== null) this.queue.add(domainKey(domain));
        // A bridge came, went or changed: read the rules back (they name bridges).
        if (k.kind === 'network') this.queue.add(FIREWALL);
      }
    });
    this.events.start();

    this.cron = cronSchedule(options.resync, () => {
      log.debug('periodic resync');
      this.cache.invalidate();
      this.config?.schedule();
      this.enqueueAll();
    });
    this.config.watch();
    this.firewallTimer = setInterval(() => this.queue.add(FIREWALL), options.firewallCheckMs);
    this.firewallTimer.unref();
    this.enqueueAll();
    log.info({ config: options.configPath, socket: options.controlSocket, incus: options.incusEndpoint, domains: this.model.domains.length, resync: options.resync }, 'anklumed started');
  }

  /** Stop intake, let in-flight work finish within the deadline, close everything. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.log.info('shutting down: no new work; finishing what is in flight');
    await this.cron?.stop();
    clearInterval(this.firewallTimer);
    await this.events?.close();
    await this.config?.close();
    const closing = this.control === undefined ? Promise.resolve() : new Promise<void>((resolve) => this.control?.close(() => resolve()));
    const report = await this.queue.shutdown({ deadlineMs: this.options.shutdownDeadlineMs });
    await closing;
    await new Promise<void>((resolve) => (this.metricsServer === undefined ? resolve() : this.metricsServer.close(() => resolve())));
    this.client.close();
    this.log.info({ finishedInTime: report.finishedInTime, aborted: report.aborted, dropped: report.dropped }, 'anklumed stopped');
  }

  private get model(): DesiredInfra {
    if (this.config === undefined) throw new Error('internal: daemon not started');
    return this.config.state.model;
  }

  private onConfig(state: ConfigState, changed: boolean): void {
    this.metrics.setConfigValid(state.valid);
    if (!state.valid || !changed) return;
    const now = new Set(state.model.domains.map((d) => d.name));
    for (const name of this.statuses.keys()) if (!now.has(name)) this.statuses.delete(name);
    this.knownDomains = now;
    this.cache.invalidate();
    this.enqueueAll();
  }

  private enqueueAll(priority: 'user' | 'normal' = 'normal'): string[] {
    const domains = this.model.domains.map((d) => d.name);
    // The firewall first: new bridges and instances come up isolated.
    this.queue.add(FIREWALL, { priority });
    for (const d of domains) this.queue.add(domainKey(d), { priority });
    this.queue.add(LEFTOVERS, { priority });
    return domains;
  }

  /** `anklumectl reconcile`: these domains (all when none) go first. */
  reconcileNow(domains: readonly string[]): string[] {
    if (domains.length === 0) return this.enqueueAll('user');
    const unknown = domains.filter((d) => !this.knownDomains.has(d));
    if (unknown.length > 0) throw new RequestError(`unknown domain${unknown.length === 1 ? '' : 's'}: ${unknown.join(', ')}`);
    this.cache.invalidate();
    for (const d of domains) this.queue.add(domainKey(d), { priority: 'user' });
    return [...domains];
  }

  private deployments(): Promise<ServiceDeployment[]> {
    const text = this.config?.state.text ?? '';
    if (this.deployCache?.text !== text) {
      this.deployCache = { text, deployments: loadDeployments(this.model, { infraText: text, nodeBinary: process.execPath, aiPaths: this.options.aiPaths, stateDir: this.options.stateDir }) };
    }
    return this.deployCache.deployments;
  }

  /** `anklumectl switch-ai` through the daemon: the switch runs here, its firewall changes through the serialised pass. */
  async switchAi(request: SwitchRequest): Promise<SwitchAnswer> {
    const progress: string[] = [];
    const log = this.log.child({ key: 'switch-ai', target: request.target });
    try {
      const result = await switchAi({
        client: this.client,
        model: this.model,
        paths: this.options.aiPaths,
        syncFirewall: async (signal) => {
          this.cache.invalidate();
          await this.reconcileFirewall(signal ?? new AbortController().signal);
        },
        progress: (line) => {
          progress.push(line);
          log.info(line);
        },
      }, request);
      if (result.changed) log.info({ from: result.from, to: result.to, flush: result.flush }, `AI access switched: ${result.from ?? 'nobody'} -> ${result.to}`);
      return { ok: true, result, progress };
    } catch (err) {
      if (err instanceof SwitchRefusedError) throw new RequestError(err.message);
      log.error({ err: describeError(err) }, 'switch-ai failed');
      this.queue.add(FIREWALL, { priority: 'user' });
      if (err instanceof SwitchFailedError) return { ok: false, error: err.message, step: err.step, state: err.state, progress };
      return { ok: false, error: describeError(err), progress };
    }
  }

  /** The domain an Incus object belongs to, by anklume's naming; null for objects of no domain. */
  private domainOf(kind: string, name: string, project: string): string | null {
    if (kind === 'network') return name.startsWith('net-') && this.knownDomains.has(name.slice(4)) ? name.slice(4) : null;
    const candidate = kind === 'project' ? name : project;
    return this.knownDomains.has(candidate) ? candidate : null;
  }

  /** Reconcile one key: observe (shared), plan everything, carry out this domain's part. */
  private async reconcile(key: string, signal: AbortSignal): Promise<void> {
    if (key === FIREWALL) return this.reconcileFirewall(signal);
    const started = performance.now();
    const model = this.model;
    const observed = await this.cache.get(signal);
    const storagePool = this.options.storagePool ?? detectStoragePool(observed);
    const infra = planInfra(model, observed, { storagePool, prune: this.options.prune, force: false });
    let services: ServiceDeployment[] = [];
    try {
      services = await this.deployments();
    } catch (err) {
      // A missing key file or gateway build fails the domain that hosts the service, not the others.
      const hosts = key !== LEFTOVERS && model.domains.some((d) => d.name === key.slice('domain/'.length) && d.machines.some((m) => m.roles.includes('llm_sanitizer')));
      if (hosts) throw err;
    }
    const deploys = services.map((d) => planDeployment(d, observed, infra.actions)).filter((a) => a !== null);
    const whole: Plan = { ...infra, actions: [...infra.actions, ...deploys] };
    const domainNames = new Set(model.domains.map((d) => d.name));
    const name = key === LEFTOVERS ? null : key.slice('domain/'.length);
    const plan: Plan = name === null
      ? { actions: whole.actions.filter((a) => !domainNames.has(a.group)), notes: whole.notes.filter((n) => !domainNames.has(n.group)) }
      : planOfDomain(whole, name);
    const domain = name === null ? undefined : model.domains.find((d) => d.name === name);
    if (name !== null && domain === undefined) return; // left infra.yml since it was queued

    const log = this.log.child({ key });
    const outcomes: Outcome[] = [];
    const publish = (lastReconcile?: DomainStatus['lastReconcile']): void => {
      if (domain === undefined) return;
      const previous = this.statuses.get(domain.name);
      this.statuses.set(domain.name, domainStatus({
        domain,
        plan,
        outcomes,
        observed,
        running: this.running,
        now: new Date().toISOString(),
        previous,
        lastReconcile: lastReconcile ?? previous?.lastReconcile ?? null,
        retries: this.queue.retries(key),
      }));
    };
    for (const action of plan.actions) if (action.blocked !== undefined) log.warn({ action: action.id, reason: action.blocked }, 'not done');
    // Leftovers of domains gone from infra.yml have no domain status to carry their notes: log them.
    const notesText = JSON.stringify(plan.notes);
    if (name === null && notesText !== this.lastLeftoverNotes) {
      this.lastLeftoverNotes = notesText;
      for (const note of plan.notes) log.info({ domain: note.group, object: `${note.kind} ${note.name}` }, note.message);
    }

    if (runnable(plan).length > 0) {
      // Bridges and instances come up behind the rules; a firewall failure is reported, not a reason to stop here.
      if (plan.actions.some((a) => a.kind === 'network' || a.kind === 'instance')) await this.syncFirewall(signal).catch(() => undefined);
      publish();
      await executePlan(plan.actions, {
        concurrency: this.options.concurrency,
        signal,
        run: (action, s) => this.applyLocked(action, s),
        onStart: (action) => {
          this.running.add(action.id);
          publish();
        },
        onOutcome: (o) => {
          this.running.delete(o.action.id);
          outcomes.push(o);
          const base = { action: o.action.id, verb: o.action.verb, reason: o.action.reason };
          if (o.status === 'done') log.info({ ...base, result: 'done', ms: Math.round(o.ms) }, `${o.action.verb} ${o.action.kind} ${o.action.name}`);
          else if (o.status === 'failed') log.error({ ...base, result: 'failed', ms: Math.round(o.ms), err: o.error }, `${o.action.verb} ${o.action.kind} ${o.action.name} failed`);
          else if (o.action.blocked === undefined) log.warn({ ...base, result: 'skipped', why: o.reason }, `${o.action.verb} ${o.action.kind} ${o.action.name} skipped`);
          publish();
        },
      });
      // What was written is no longer what the cache holds.
      this.cache.invalidate();
    }
    const failed = outcomes.filter((o) => o.status === 'failed');
    publish({ time: new Date().toISOString(), durationMs: Math.round(performance.now() - started), result: failed.length > 0 ? 'error' : 'success' });
    if (failed.length > 0) throw new AnklumeError('RECONCILE_FAILED', `${failed.length} action(s) failed: ${failed.map((o) => `${o.action.id}: ${o.status === 'failed' ? o.error : ''}`).join('; ')}`);
  }

  /** The firewall key: read the table back, repair it when it differs. Throws on failure (the queue backs off). */
  private async reconcileFirewall(signal: AbortSignal): Promise<void> {
    await this.syncFirewall(signal);
    if (!this.firewall.managed) throw new AnklumeError('FIREWALL_NOT_APPLIED', this.firewall.message);
  }

  /** Serialised: concurrent callers wait for the one pass in flight, then run their own. */
  private syncFirewall(signal: AbortSignal): Promise<void> {
    const previous = this.firewallSync ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.firewallPass(signal));
    this.firewallSync = next;
    return next;
  }

  private async firewallPass(signal: AbortSignal): Promise<void> {
    const target = this.options.firewall;
    const { holder, state: before, action } = await checkFirewall(this.client, this.model, target, signal);
    const checkedAt = new Date().toISOString();
    this.holder = holder;
    // The spec's state file mirrors the holder recorded in Incus.
    if (this.model.ai.accessPolicy === 'exclusive') await mirrorStateFile(this.options.aiPaths.stateFile, holder.holder).catch((err: unknown) => this.log.warn({ err: describeError(err), file: this.options.aiPaths.stateFile }, 'cannot write the AI access state file'));
    await this.refreshVram(signal);
    const nft = nftOf(target);
    if (action === null || action.blocked !== undefined || nft === undefined) {
      this.setFirewall(before, checkedAt, before.state === 'InSync' ? 'debug' : 'error');
      return;
    }
    const log = this.log.child({ key: FIREWALL });
    const started = performance.now();
    let after: FirewallState;
    try {
      after = await applyFirewall(nft, action.payload, signal);
    } catch (err) {
      log.error({ action: action.id, verb: action.verb, reason: action.reason, result: 'failed', ms: Math.round(performance.now() - started), err: describeError(err) }, `${action.verb} firewall inet anklume failed`);
      this.setFirewall({ ...before, message: `${before.message}; applying failed: ${describeError(err)}` }, checkedAt, 'none');
      throw err;
    }
    const changed = action.changes.length;
    log.info({ action: action.id, verb: action.verb, reason: action.reason, result: 'done', changes: changed, ms: Math.round(performance.now() - started) }, `${action.verb} firewall inet anklume`);
    this.setFirewall(after, checkedAt, 'none', new Date().toISOString());
  }

  /** GPU memory for status, read at most every 30 s (nvidia-smi through Incus exec: a few requests). */
  private async refreshVram(signal: AbortSignal): Promise<void> {
    if (this.model.ai.accessPolicy !== 'exclusive' || Date.now() - this.vramReadAt < 30_000) return;
    this.vramReadAt = Date.now();
    this.vram = await readVram(this.client, this.model, signal);
  }

  private setFirewall(state: FirewallState, checkedAt: string, logLevel: 'debug' | 'error' | 'none', appliedAt?: string): void {
    const previous = this.firewall;
    this.firewall = firewallStatus(state, { checkedAt, appliedAt: appliedAt ?? previous.appliedAt });
    // Say it when the state changes, not on every check.
    if (logLevel !== 'none' && (previous.state !== this.firewall.state || previous.message !== this.firewall.message)) {
      if (logLevel === 'error') this.log.error({ key: FIREWALL, state: state.state }, state.message);
      else this.log.debug({ key: FIREWALL, state: state.state }, state.message);
    }
  }

  private applyLocked(action: Action, signal: AbortSignal): Promise<void> {
    const run = (): Promise<void> => applyEngineAction(this.client, nftOf(this.options.firewall), action, signal);
    if (action.kind === 'network' && action.verb !== 'delete') return this.lock.withExclusive(run);
    if (action.kind === 'instance' && (action.verb === 'create' || action.verb === 'start')) return this.lock.withShared(run);
    return run();
  }

  /** The status document served on the control socket. */
  status(): StatusDocument {
    const model = this.model;
    const config = this.config?.state;
    const domains = model.domains.map((d): DomainStatus => this.statuses.get(d.name) ?? {
      name: d.name,
      enabled: d.enabled,
      trustLevel: d.trustLevel,
      subnet: d.network.subnet,
      bridge: d.bridge,
      aiProvider: d.aiProvider,
      aiSanitize: d.aiSanitize,
      conditions: [
        { type: 'Ready', status: false, reason: 'Pending', message: 'not reconciled yet', lastTransitionTime: this.startedAt },
        { type: 'Progressing', status: true, reason: 'Pending', message: 'not reconciled yet', lastTransitionTime: this.startedAt },
        { type: 'Degraded', status: false, reason: 'Pending', message: 'not reconciled yet', lastTransitionTime: this.startedAt },
      ],
      observedSpecHash: '',
      lastReconcile: null,
      retries: this.queue.retries(domainKey(d.name)),
      objects: [],
      notes: [],
    });
    return {
      generatedAt: new Date().toISOString(),
      daemon: { running: true, pid: process.pid, startedAt: this.startedAt },
      config: { file: this.options.configPath, valid: config?.valid ?? false, errors: config?.errors ?? [], specHash: specHash(model), loadedAt: config?.loadedAt ?? null },
      incus: { endpoint: this.options.incusEndpoint, reachable: this.incusError === undefined, ...(this.incusError === undefined ? {} : { error: this.incusError }) },
      events: { ...this.eventsState },
      queue: { depth: this.queue.depth(), inFlight: this.queue.inFlight() },
      firewall: this.firewall,
      aiAccess: aiAccess(model, this.holder, this.vram),
      domains,
    };
  }

  private async startMetrics(address: string): Promise<Server> {
    const colon = address.lastIndexOf(':');
    const host = colon <= 0 ? '127.0.0.1' : address.slice(0, colon);
    const port = Number(address.slice(colon + 1));
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new AnklumeError('USAGE', `--metrics "${address}" is not host:port`);
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('metrics are at /metrics\n');
        return;
      }
      this.metrics.setObjects(this.objectCounts());
      const body = this.metrics.registry.render();
      res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(body);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.log.info({ address: `${host}:${(server.address() as { port: number }).port}` }, 'metrics served at /metrics');
    return server;
  }

  private objectCounts(): { kind: string; condition: string; count: number }[] {
    const counts = new Map<string, number>();
    for (const d of this.statuses.values()) {
      for (const o of d.objects) {
        const condition = o.conditions.find((c) => c.type === 'Degraded')?.status === true ? 'Degraded' : o.conditions.find((c) => c.type === 'Ready')?.status === true ? 'Ready' : 'Progressing';
        const k = `${o.kind}\u0000${condition}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
    }
    return [...counts].map(([k, count]) => {
      const [kind = '', condition = ''] = k.split('\u0000');
      return { kind, condition, count };
    });
  }
}
