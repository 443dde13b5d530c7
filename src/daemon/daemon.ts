import type { Server } from 'node:http';
import { schedule as cronSchedule, validate as validCron, type ScheduledTask } from 'node-cron';
import pLimit from 'p-limit';
import { lastValidInfraFile, type AiAccessPaths } from '../config/paths.js';
import type { HostNetwork } from '../config/rules.js';
import type { Activity } from '../controllers/activity.js';
import { AI_ACCESS_KEY, AiAccessReconciler } from '../controllers/ai-access/reconciler.js';
import { SwitchRefusedError, performSwitch, type SwitchAnswer, type SwitchRequest } from '../controllers/ai-access/switch.js';
import { DomainReconciler, LEFTOVERS, domainKey } from '../controllers/domain/reconciler.js';
import { outcomeEvent, startEvent, type ApplyEvent, type ApplyRequest, type ApplySummary } from '../controllers/apply-protocol.js';
import { nftOf, type FirewallTarget } from '../controllers/firewall/check.js';
import { FIREWALL_KEY, FirewallReconciler } from '../controllers/firewall/reconciler.js';
import { ACL_KIND, usesAcls } from '../controllers/firewall/acl.js';
import { observe } from '../controllers/domain/observe.js';
import { InterfaceLock } from '../controllers/domain/interface-lock.js';
import type { Observed } from '../controllers/observed.js';
import type { ServiceDeployment } from '../controllers/service/deployment.js';
import { loadDeployments, secretFilesStamp } from '../controllers/service/inputs.js';
import { ServiceReconciler, serviceKeys } from '../controllers/service/reconciler.js';
import { specHash, type StatusDocument } from '../controllers/status.js';
import { IncusClient } from '../incus/client.js';
import { readCluster, SINGLE_SERVER, type ClusterView } from '../incus/cluster.js';
import type { IncusEndpoint } from '../incus/endpoint.js';
import { IncusEventStream, eventKeys, sentBeforeCommit, type WorkKey, type WorkKind } from '../incus/events.js';
import { Manager } from '../reconcile/manager.js';
import { MetricsRegistry, operatorMetrics, type OperatorMetrics } from '../reconcile/metrics.js';
import { ObservationCache } from '../reconcile/observation-cache.js';
import type { Action, Note } from '../reconcile/action.js';
import type { Outcome } from '../reconcile/execute.js';
import type { Priority } from '../reconcile/queue.js';
import type { DesiredInfra } from '../schemas/model.js';
import { sanitizerEndpoint } from '../schemas/services.js';
import { AnklumeError, describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { acquireWriterLock, type WriterLock } from '../shared/writer-lock.js';
import { ConfigSource, type ConfigState } from './config-source.js';
import { RequestError, startControlServer } from './control-server.js';
import { formatListenAddress, isLoopbackHost, parseListenAddress, type ListenAddress } from './listen-address.js';
import { startMetricsServer } from './metrics-server.js';
import { LookAgain } from './look-again.js';
import { NftMonitor } from '../firewall/monitor.js';
import { DomainView } from './domain-view/view.js';
import { statusDocument, type StatusParts } from './status-document.js';
import type { VerifyLimits } from '../verify/limits.js';
import { VERIFY_KEY, VerifyReconciler } from '../verify/reconciler.js';
import { VerifyReportFile } from './verify-report-file.js';
import { createStatusPage, startStatusPageServer, type StatusPage } from './web/page-server.js';


/** A connected event stream spares the resync its relist, but not forever: see the resync below. */
const RELIST_EVERY_RESYNCS = 12;
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
  /** `host:port` for Prometheus metrics (and the status page when loopback); none when absent. */
  readonly metricsAddress?: string;
  /** `host:port` for the status page; without it the page is served on a loopback metrics address. */
  readonly webAddress?: string;
  /** A verify report to show in status and on the page (`anklumectl verify --json` output). */
  readonly verifyReportFile?: string;
  readonly prune: boolean;
  /** Incus writes in flight at once across all domains, and domains reconciled at once. */
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
  /** The AI access state file and switch log. */
  readonly aiPaths: AiAccessPaths;
  /** Where anklume keeps what it generates on the host (OpenClaw gateway tokens). */
  readonly stateDir: string;
  /** The host's writer lock, held while the daemon runs: a direct `anklumectl apply` waits for it. */
  readonly lockPath: string;
  /** `--verify-every`: run verify this often and keep its report in status; off when absent. */
  readonly verify?: { readonly everyMs: number; readonly limits: VerifyLimits };
}

/**
 * Each call's deadline. A domain pass may create instances from a large
 * image; a deploy may install OpenClaw on the host first; the firewall is
 * one nft transaction and a read-back. Every Incus request and exec has its
 * own, shorter timeout inside these (the client's).
 */
const DEADLINE_MS = { firewall: 60_000, domain: 15 * 60_000, service: 15 * 60_000, 'ai-access': 5 * 60_000 } as const;

/** The work-queue key an action's outcome belongs to. */
function keyOf(action: Action, known: ReadonlySet<string>): string {
  // The network ACLs are the firewall controller's too (a cluster, a remote Incus).
  if (action.kind === 'firewall' || action.kind === ACL_KIND) return FIREWALL_KEY;
  if (action.kind === 'service') return action.id;
  return known.has(action.group) ? domainKey(action.group) : LEFTOVERS;
}

/**
 * anklumed, wiring only: the sources (infra.yml, Incus events, the resync
 * and firewall timers) enqueue keys; the manager routes each key to its
 * controller's reconciler, each on its own queue; the control socket serves
 * status, reconcile, apply and switch-ai.
 */
export class Daemon {
  private readonly log: Logger;
  private readonly client: IncusClient;
  private readonly cache: ObservationCache<Observed>;
  private readonly metrics: OperatorMetrics = operatorMetrics(new MetricsRegistry());
  private readonly manager: Manager;
  private readonly domains: DomainReconciler;
  private readonly firewall: FirewallReconciler;
  private readonly aiAccess: AiAccessReconciler;
  private readonly services: ServiceReconciler;
  private readonly verify: VerifyReconciler | undefined;
  private readonly activityListeners = new Set<(a: Activity) => void>();
  private readonly startedAt = new Date().toISOString();
  private config: ConfigSource | undefined;
  private events: IncusEventStream | undefined;
  private cron: ScheduledTask | undefined;
  private control: Server | undefined;
  private metricsServer: Server | undefined;
  private webServer: Server | undefined;
  private page: StatusPage | undefined;
  private readonly metricsAddress: ListenAddress | undefined;
  private readonly webAddress: ListenAddress | undefined;
  private readonly verifyReport: VerifyReportFile | undefined;
  /** Told whenever the status may have changed (the status page's live updates). */
  private readonly statusListeners = new Set<() => void>();
  private firewallTimer: NodeJS.Timeout | undefined;
  /** The kernel's notices of changes of the host table: a hand-made change is repaired at once. */
  private readonly nftMonitor: NftMonitor | undefined;
  private readonly lookAgain = new LookAgain((keys) => {
    if (this.stopping) return;
    this.log.debug({ objects: keys.map((k) => `${k.kind} ${k.name}`) }, 'looking again: Incus sent the event before writing the change');
    this.objectsChanged(keys);
  });
  /** Each domain's read-only view of itself, on its gateway (docs/monitoring.md). */
  private view: DomainView | undefined;
  private writerLock: WriterLock | undefined;
  private eventsState = { connected: false, reconnects: 0, lastEventAt: null as string | null };
  private resyncsSinceRelist = 0;
  private incusError: string | undefined;
  private knownDomains = new Set<string>();
  /** What the last relist or firewall pass read of Incus: one server, or a cluster and its members' states. */
  private cluster: ClusterView | null = null;
  private stopping = false;
  /** Services to deploy, for the infra.yml text they were built from (the bundle and keys are read once per text). */
  /** switch-ai requests record the wanted holder one after the other. */
  private switchRequests: Promise<unknown> = Promise.resolve();
  private deployCache: { stamp: string; deployments: Promise<ServiceDeployment[]> } | undefined;

  constructor(private readonly options: DaemonOptions) {
    if (!validCron(options.resync)) throw new AnklumeError('USAGE', `--resync "${options.resync}" is not a cron expression`);
    this.metricsAddress = options.metricsAddress === undefined ? undefined : parseListenAddress('--metrics', options.metricsAddress);
    this.webAddress = options.webAddress === undefined ? undefined : parseListenAddress('--web', options.webAddress);
    const log = (this.log = options.logger);
    this.verifyReport = options.verifyReportFile === undefined ? undefined : new VerifyReportFile(options.verifyReportFile, log.child({ component: 'verify-report' }));
    const client = (this.client = new IncusClient({ ...options.incus, logger: log.child({ component: 'incus' }) }));
    this.cache = new ObservationCache(async (signal) => {
      try {
        // Read with every relist: Incus can become a cluster, and a member's state decides what waits.
        const [observed, cluster] = await Promise.all([observe(client, { signal }), readCluster(client, { signal })]);
        this.cluster = cluster;
        this.incusError = undefined;
        return observed;
      } catch (err) {
        this.incusError = describeError(err);
        throw err;
      }
    });
    const shared = {
      client,
      model: () => this.model,
      observe: (signal: AbortSignal) => this.cache.get(signal),
      invalidate: () => this.cache.invalidate(),
      onActivity: (a: Activity) => {
        for (const listener of this.activityListeners) listener(a);
        this.statusChanged();
      },
    };
    this.firewall = new FirewallReconciler({
      client,
      model: shared.model,
      target: options.firewall,
      logger: log.child({ controller: 'firewall', key: FIREWALL_KEY }),
      onActivity: shared.onActivity,
      // Read fresh on each firewall pass: which members are up decides whether an ACL write waits.
      cluster: async (signal) => {
        const view = await readCluster(client, { signal });
        this.cluster = view;
        this.followFirewallForm(view);
        return view;
      },
      prune: options.prune,
      // Each firewall timer tick writes the ACLs again (docs/cluster.md): a member that missed an update is repaired.
      resendEveryMs: options.firewallCheckMs,
    });
    const nft = nftOf(options.firewall);
    if (nft !== undefined) this.nftMonitor = new NftMonitor({ binary: nft.binary, onChange: () => this.manager.enqueue('firewall', FIREWALL_KEY), logger: log.child({ component: 'nft-monitor' }) });
    this.domains = new DomainReconciler({
      ...shared,
      defaults: { prune: options.prune, force: false },
      ...(options.storagePool === undefined ? {} : { storagePool: options.storagePool }),
      writes: pLimit(options.concurrency),
      firewallFirst: async (signal) => {
        await this.firewall.sync(signal).catch(() => undefined);
        const firewall = this.firewall.status();
        return firewall.managed ? undefined : firewall.message;
      },
      interfaceLock: new InterfaceLock(),
      retries: (key) => this.manager.retries('domain', key),
      // Bridges name their domain's ACL where isolation is ACLs (a cluster, a remote Incus), and instances are placed.
      cluster: () => this.cluster ?? SINGLE_SERVER,
      bridgeAcls: () => usesAcls(this.cluster ?? SINGLE_SERVER, options.firewall),
    });
    this.services = new ServiceReconciler({ ...shared, deployments: () => this.deployments() });
    this.aiAccess = new AiAccessReconciler({
      client,
      model: shared.model,
      paths: options.aiPaths,
      // The firewall changes of a switch go through the firewall controller's serialised pass.
      syncFirewall: (signal) => {
        this.cache.invalidate();
        return this.firewall.sync(signal);
      },
    });
    this.manager = new Manager({ logger: log, metrics: this.metrics });
    this.manager.register({ reconciler: this.firewall, concurrency: 1, deadlineMs: DEADLINE_MS.firewall });
    this.manager.register({ reconciler: this.domains, concurrency: options.concurrency, deadlineMs: DEADLINE_MS.domain });
    this.manager.register({ reconciler: this.services, concurrency: 2, deadlineMs: DEADLINE_MS.service });
    this.manager.register({ reconciler: this.aiAccess, concurrency: 1, deadlineMs: DEADLINE_MS['ai-access'] });
    if (options.verify !== undefined) {
      // A queue of its own, one run at a time: a verify never waits for a reconcile, nor holds one up.
      this.verify = new VerifyReconciler({ client, model: shared.model, limits: options.verify.limits, everyMs: options.verify.everyMs, host: !('unavailable' in options.firewall), logger: log.child({ controller: 'verify', key: VERIFY_KEY }) });
      // Its own bound, plus time to start and stop the listeners.
      this.manager.register({ reconciler: this.verify, concurrency: 1, deadlineMs: options.verify.limits.timeoutMs + 60_000 });
    }
    // Every run's start and end changes the status (the queue, a controller's last word); a switch's phases too.
    this.manager.observeRuns({ onStart: () => this.statusChanged(), onDone: () => this.statusChanged() });
    this.aiAccess.onProgress(() => this.statusChanged());
  }

  /** Start everything; throws InvalidConfigError when infra.yml is invalid (nothing is started then). */
  async start(): Promise<void> {
    const { options, log } = this;
    // One writer: refuse to start while another anklumed or a direct apply writes.
    this.writerLock = await acquireWriterLock(options.lockPath, { wait: false, purpose: 'anklumed' });
    this.config = await ConfigSource.open({
      path: options.configPath,
      debounceMs: options.debounceMs,
      hostNetworks: options.hostNetworks,
      logger: log.child({ component: 'config' }),
      lastValidFile: lastValidInfraFile(options.stateDir),
      onChange: (state, changed) => this.onConfig(state, changed),
    });
    this.metrics.setConfigValid(this.config.state.valid);
    this.knownDomains = new Set(this.model.domains.map((d) => d.name));

    this.control = await startControlServer({
      path: options.controlSocket,
      ...(options.socketGroup === undefined ? {} : { group: options.socketGroup }),
      logger: log.child({ component: 'control' }),
      handlers: {
        status: () => this.status(),
        reconcile: (domains) => this.reconcileNow(domains),
        switchAi: (request) => this.switchAi(request),
        apply: (request, onEvent, signal) => this.apply(request, onEvent, signal),
      },
    });
    await this.startHttp();

    this.view = new DomainView({ client: this.client, model: () => this.model, status: () => this.status(), logger: log.child({ component: 'domain-view' }) });
    this.manager.start();
    this.startEvents();
    this.cron = cronSchedule(options.resync, () => {
      log.debug('periodic resync');
      // Every change of what the observation holds comes as a lifecycle event
      // that invalidates it, and a (re)connect relists: while the stream stays
      // connected the cached observation is what a relist would return, and the
      // resync plans from it (controller-runtime's resync replays its informer
      // cache the same way). A relist is not free: Incus computes used_by of
      // every interface for the network list (about 0.5 s with 30 instances,
      // bench/reconcile.ts). Without the stream, it relists; and with it, every
      // RELIST_EVERY_RESYNCS-th resync still relists, the net under an event
      // Incus never sent (about hourly at the default cadence).
      this.resyncsSinceRelist += 1;
      if (!this.eventsState.connected || this.resyncsSinceRelist >= RELIST_EVERY_RESYNCS) {
        this.resyncsSinceRelist = 0;
        this.cache.invalidate();
      }
      this.config?.schedule();
      this.enqueueAll();
    });
    this.config.watch();
    // nft sends no events: the table is read back on a timer, on the firewall's own queue.
    // The same timer looks for bridges that came or went: a view listens where its bridge holds its gateway.
    this.firewallTimer = setInterval(() => {
      this.manager.enqueue('firewall', FIREWALL_KEY);
      this.syncView();
    }, options.firewallCheckMs);
    this.firewallTimer.unref();
    this.enqueueAll();
    this.syncView();
    // Then every --verify-every after each run's end (the reconciler asks for it).
    if (this.verify !== undefined) this.manager.enqueue('verify', VERIFY_KEY);
    log.info({ config: options.configPath, socket: options.controlSocket, incus: options.incusEndpoint, domains: this.model.domains.length, resync: options.resync }, 'anklumed started');
  }

  /**
   * The metrics and the status page. The page goes on the metrics address
   * only when that is loopback (a Prometheus scraping over the network must
   * not expose the page by surprise), or on `--web`; when `--web` names the
   * metrics address, one server serves both.
   */
  private async startHttp(): Promise<void> {
    const { log } = this;
    const metrics = this.metricsAddress;
    const web = this.webAddress;
    const sameAddress = metrics !== undefined && web !== undefined && metrics.host === web.host && metrics.port === web.port;
    const pageAt = web ?? (metrics !== undefined && isLoopbackHost(metrics.host) ? metrics : undefined);
    if (metrics !== undefined && pageAt === undefined) log.info({ metrics: formatListenAddress(metrics.host, metrics.port) }, 'status page not served: --metrics is not loopback; pass --web to serve it');
    if (pageAt !== undefined) {
      const loopbackOnly = isLoopbackHost(pageAt.host);
      if (!loopbackOnly) log.warn({ address: formatListenAddress(pageAt.host, pageAt.port) }, 'the status page is served beyond loopback: whoever reaches this address sees the infrastructure (names, addresses, isolation)');
      this.page = createStatusPage({
        source: {
          status: () => this.status(),
          onChange: (listener) => {
            this.statusListeners.add(listener);
            return () => this.statusListeners.delete(listener);
          },
        },
        sanitizerMetricsUrl: () => {
          const sanitizer = sanitizerEndpoint(this.model);
          return sanitizer === null ? null : `${sanitizer.url}/metrics`;
        },
        logger: log.child({ component: 'status-page' }),
        loopbackOnly,
      });
    }
    const pageOnMetrics = this.page !== undefined && (web === undefined || sameAddress);
    if (metrics !== undefined) this.metricsServer = await startMetricsServer({ address: metrics, metrics: this.metrics, logger: log, objects: () => this.status().domains, ...(pageOnMetrics && this.page !== undefined ? { page: this.page } : {}) });
    if (web !== undefined && !sameAddress && this.page !== undefined) this.webServer = await startStatusPageServer({ address: web, page: this.page, logger: log });
  }

  private statusChanged(): void {
    for (const listener of this.statusListeners) listener();
  }

  /** Stop intake, let in-flight work finish within the deadline, close everything. */
  async stop(): Promise<void> {
    this.stopping = true;
    // Open event streams would keep the HTTP servers from closing.
    this.page?.close();
    this.log.info('shutting down: no new work; finishing what is in flight');
    await this.cron?.stop();
    clearInterval(this.firewallTimer);
    this.nftMonitor?.stop();
    this.lookAgain.close();
    await this.events?.close();
    await this.config?.close();
    await this.view?.close();
    const closing = this.control === undefined ? Promise.resolve() : new Promise<void>((resolve) => this.control?.close(() => resolve()));
    const report = await this.manager.stop({ deadlineMs: this.options.shutdownDeadlineMs });
    await closing;
    for (const server of [this.metricsServer, this.webServer]) await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
    this.client.close();
    await this.writerLock?.release();
    this.log.info({ finishedInTime: report.finishedInTime, aborted: report.aborted, dropped: report.dropped }, 'anklumed stopped');
  }

  private get model(): DesiredInfra {
    if (this.config === undefined) throw new Error('internal: daemon not started');
    return this.config.state.model;
  }

  /** Connect to events first, then relist: Incus keeps no history (incus-api.md §0.6). */
  private startEvents(): void {
    const { log } = this;
    const events = (this.events = new IncusEventStream({ ...this.options.incus, types: ['lifecycle'] }));
    events.on('open', () => {
      this.eventsState.connected = true;
      this.statusChanged();
      this.metrics.setIncusEventsConnected(true);
      log.info('Incus events connected: relisting everything');
      this.cache.invalidate();
      this.enqueueAll();
    });
    events.on('close', () => {
      if (this.eventsState.connected && !this.stopping) log.warn('Incus events disconnected: reconnecting');
      this.eventsState.connected = false;
      this.metrics.setIncusEventsConnected(false);
      this.statusChanged();
    });
    events.on('reconnect', () => this.eventsState.reconnects++);
    events.on('error', (err) => log.debug({ err: describeError(err) }, 'Incus events error'));
    events.on('event', (event) => {
      this.view?.recordEvent(event);
      const keys = eventKeys(event);
      if (keys.length === 0) return; // read noise, or kinds anklume does not manage
      this.eventsState.lastEventAt = new Date().toISOString();
      this.objectsChanged(keys);
      // Incus sent this one before writing its change: what the relist reads now may be the old object.
      if (sentBeforeCommit(event)) this.lookAgain.after(keys);
    });
    events.start();
  }

  private objectsChanged(keys: readonly WorkKey[]): void {
    // The observation holds no ACLs: on a cluster the firewall re-sends them every check, and dropping it for
    // their events would make every resync relist (bench/reconcile.ts: about 0.5 s with 30 instances).
    if (keys.some((k) => k.kind !== 'network-acl')) this.cache.invalidate();
    for (const k of keys) this.route(k.kind, k.name, k.project);
  }

  /**
   * The host table is watched only while it is the firewall: where the isolation
   * is network ACLs (a cluster), anklume never touches the host's nftables.
   */
  private followFirewallForm(cluster: ClusterView): void {
    if (this.nftMonitor === undefined || this.stopping) return;
    if (usesAcls(cluster, this.options.firewall)) this.nftMonitor.stop();
    else this.nftMonitor.start();
  }

  /** Which controllers an Incus object's change concerns. */
  private route(kind: WorkKind, name: string, project: string): void {
    // An ACL is the firewall's (on a cluster, the isolation itself): its pass reads them all back and rewrites drift.
    if (kind === 'network-acl') {
      this.manager.enqueue('firewall', FIREWALL_KEY);
      return;
    }
    const domain = this.domainOf(kind, name, project);
    if (domain !== null) this.manager.enqueue('domain', domainKey(domain));
    // A bridge came, went or changed: read the rules back (they name bridges), and the views follow the bridges.
    if (kind === 'network') {
      this.manager.enqueue('firewall', FIREWALL_KEY);
      this.syncView();
    }
    // An instance started or changed: the services deployed into it look again.
    if (kind === 'instance' && domain !== null) for (const key of serviceKeys(this.model, domain)) this.manager.enqueue('service', key);
    // The AI access holder is recorded on the ai-tools project (a switch run elsewhere changes it).
    if (kind === 'project' && name === this.model.ai.toolsDomain) {
      this.manager.enqueue('firewall', FIREWALL_KEY);
      this.manager.enqueue('ai-access', AI_ACCESS_KEY);
    }
  }

  private onConfig(state: ConfigState, changed: boolean): void {
    this.metrics.setConfigValid(state.valid);
    this.statusChanged();
    if (!state.valid || !changed) return;
    this.knownDomains = new Set(state.model.domains.map((d) => d.name));
    this.domains.retain(this.knownDomains);
    this.cache.invalidate();
    this.enqueueAll();
    this.syncView();
  }

  /** The domain views follow the model and the bridges; a failure is logged and retried on the next tick. */
  private syncView(): void {
    if (this.stopping || this.view === undefined) return;
    this.view.sync().catch((err: unknown) => this.log.warn({ err: describeError(err) }, 'domain view: sync failed'));
  }

  /** Every key of every controller; the firewall first, so that new bridges and instances come up isolated. */
  private allKeys(): { controller: string; key: string }[] {
    const domains = this.model.domains.map((d) => d.name);
    return [
      { controller: 'firewall', key: FIREWALL_KEY },
      ...domains.map((d) => ({ controller: 'domain', key: domainKey(d) })),
      { controller: 'domain', key: LEFTOVERS },
      ...domains.flatMap((d) => serviceKeys(this.model, d).map((key) => ({ controller: 'service', key }))),
      { controller: 'ai-access', key: AI_ACCESS_KEY },
    ];
  }

  private enqueueAll(priority: Priority = 'normal'): void {
    for (const { controller, key } of this.allKeys()) this.manager.enqueue(controller, key, { priority });
  }

  /** `anklumectl reconcile`: these domains (all when none) go first. */
  reconcileNow(domains: readonly string[]): string[] {
    if (domains.length === 0) {
      this.enqueueAll('user');
      return this.model.domains.map((d) => d.name);
    }
    const unknown = domains.filter((d) => !this.knownDomains.has(d));
    if (unknown.length > 0) throw new RequestError(`unknown domain${unknown.length === 1 ? '' : 's'}: ${unknown.join(', ')}`);
    this.cache.invalidate();
    for (const d of domains) {
      this.manager.enqueue('domain', domainKey(d), { priority: 'user' });
      for (const key of serviceKeys(this.model, d)) this.manager.enqueue('service', key, { priority: 'user' });
    }
    return [...domains];
  }

  /**
   * `anklumectl apply` through the daemon: one pass of every controller at
   * user priority, the firewall and the domains first, then the services
   * (they need their instances running). What the reconcilers do meanwhile
   * streams to the caller. Resolves when every run has ended.
   */
  async apply(request: ApplyRequest, onEvent: (event: ApplyEvent) => void, signal: AbortSignal): Promise<ApplySummary> {
    const started = performance.now();
    const outcomes: Outcome[] = [];
    const notes: Note[] = [];
    const errors: string[] = [];
    const listener = (a: Activity): void => {
      if (a.type === 'start') onEvent(startEvent(a.action));
      else if (a.type === 'outcome') {
        outcomes.push(a.outcome);
        onEvent(outcomeEvent(a.outcome));
      } else notes.push(a.note);
    };
    const runs = (keys: { controller: string; key: string }[]): Promise<void> => {
      const ends = keys.map(({ controller, key }) =>
        this.manager.nextRun(controller, key).then((e) => {
          // A run that failed with no action to blame: Incus unreachable, a deadline, ...
          if (e.result === 'error' && !outcomes.some((o) => o.status === 'failed' && keyOf(o.action, this.knownDomains) === key)) errors.push(`${controller} ${key}: ${describeError(e.error)}`);
        }),
      );
      for (const { controller, key } of keys) this.manager.enqueue(controller, key, { priority: 'user' });
      const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      return Promise.race([Promise.all(ends).then(() => undefined), aborted]);
    };
    // Listening first: a run the re-read below starts is this apply's work too.
    this.activityListeners.add(listener);
    try {
      // What is on disk now, not what the debounce has not read yet; an invalid file is refused.
      await this.config?.readNow();
      const config = this.config?.state;
      if (config !== undefined && !config.valid) throw new RequestError(`${this.options.configPath} is invalid; nothing was applied:\n${config.errors.join('\n')}`);
      this.cache.invalidate();
      const all = this.allKeys();
      for (const { controller, key } of all) if (controller === 'domain') this.domains.setNextPassOptions(key, request);
      if (request.prune) this.firewall.pruneOnNextPass();
      await runs(all.filter((k) => k.controller !== 'service'));
      // A removed domain's ACL can only go once its bridge is gone (the leftovers' run above): prune again.
      if (request.prune && !signal.aborted) {
        this.firewall.pruneOnNextPass();
        await runs([{ controller: 'firewall', key: FIREWALL_KEY }]);
      }
      if (!signal.aborted) await runs(all.filter((k) => k.controller === 'service'));
    } finally {
      this.activityListeners.delete(listener);
    }
    for (const message of errors) onEvent({ type: 'note', message });
    const count = (status: Outcome['status']): number => outcomes.filter((o) => o.status === status).length;
    return { actions: outcomes.length, done: count('done'), failed: count('failed') + errors.length, skipped: count('skipped'), notes, ms: performance.now() - started };
  }

  /**
   * `anklumectl switch-ai` through the daemon: the wanted holder is recorded,
   * then the AI access controller converges to it on its own queue (a switch
   * that fails midway is retried there, from its recorded phase) and this
   * answers once that run is over, with its progress lines.
   */
  async switchAi(request: SwitchRequest): Promise<SwitchAnswer> {
    const lines: string[] = [];
    const unsubscribe = this.aiAccess.onProgress((line) => lines.push(line));
    try {
      const oneAtATime = <T>(record: () => Promise<T>): Promise<T> => {
        const run = this.switchRequests.then(record);
        this.switchRequests = run.catch(() => undefined);
        return run;
      };
      return await performSwitch({ client: this.client, model: this.model, oneAtATime }, request, async () => {
        const before = this.aiAccess.lastConvergence().count;
        const run = this.manager.nextRun('ai-access', AI_ACCESS_KEY);
        this.manager.enqueue('ai-access', AI_ACCESS_KEY, { priority: 'user' });
        const { error } = await run;
        const { result, count } = this.aiAccess.lastConvergence();
        // Access converged in this run even when what came after (the VRAM reading) failed.
        if (count > before && result !== null) return result;
        throw error instanceof Error ? error : new Error(error === undefined ? 'internal: the AI access controller ran without converging' : describeError(error));
      }, () => lines);
    } catch (err) {
      if (err instanceof SwitchRefusedError) throw new RequestError(err.message);
      throw err;
    } finally {
      unsubscribe();
      // Whatever happened, the rules are looked at again.
      this.manager.enqueue('firewall', FIREWALL_KEY, { priority: 'user' });
    }
  }

  /**
   * Built again when infra.yml or a key or token file it names changes: a key
   * rotated on the host reaches its service on the next reconcile (at most the
   * service controller's health period later), without a restart.
   */
  private deployments(): Promise<ServiceDeployment[]> {
    const text = this.config?.state.text ?? '';
    const stamp = `${text}\0${secretFilesStamp(this.model)}`;
    if (this.deployCache?.stamp !== stamp) {
      this.deployCache = { stamp, deployments: loadDeployments(this.model, { infraText: text, nodeBinary: process.execPath, aiPaths: this.options.aiPaths, stateDir: this.options.stateDir }) };
    }
    return this.deployCache.deployments;
  }

  /** The domain an Incus object belongs to, by anklume's naming; null for objects of no domain. */
  private domainOf(kind: string, name: string, project: string): string | null {
    if (kind === 'network') return name.startsWith('net-') && this.knownDomains.has(name.slice(4)) ? name.slice(4) : null;
    const candidate = kind === 'project' ? name : project;
    return this.knownDomains.has(candidate) ? candidate : null;
  }

  /** The status document served on the control socket. */
  status(): StatusDocument {
    const model = this.model;
    const config = this.config?.state;
    const document = statusDocument({
      model,
      startedAt: this.startedAt,
      now: new Date().toISOString(),
      domain: (name) => this.domains.status(name),
      service: (id) => this.services.status(id),
      retries: (name) => this.manager.retries('domain', domainKey(name)),
      config: { file: this.options.configPath, valid: config?.valid ?? false, errors: config?.errors ?? [], specHash: specHash(model), loadedAt: config?.loadedAt ?? null },
      incus: { endpoint: this.options.incusEndpoint, reachable: this.incusError === undefined, ...(this.incusError === undefined ? {} : { error: this.incusError }) },
      events: { ...this.eventsState },
      queue: { depth: this.manager.depth(), inFlight: this.manager.inFlight() },
      firewall: this.firewall.status(),
      aiAccess: this.aiAccess.status(),
      ...(this.verify !== undefined ? { verify: this.verify } : this.verifyReport !== undefined ? { verify: fileReport(this.verifyReport) } : {}),
    });
    // The members' states as the last relist or firewall pass read them (absent until Incus answered).
    return this.cluster === null ? document : { ...document, cluster: this.cluster };
  }
}

/** A report read from `--verify-report` (written by a scheduled `anklumectl verify --json`): shown, but it raises no condition. */
function fileReport(file: VerifyReportFile): NonNullable<StatusParts['verify']> {
  return { report: () => file.current(), mismatch: () => undefined };
}
