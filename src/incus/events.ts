import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleepTimer } from 'node:timers/promises';
import WebSocket, { type ClientOptions } from 'ws';
import { backoffDelay, backoffPolicy, type BackoffDefaults, type BackoffOptions, type BackoffPolicy } from '../shared/backoff.js';
import { IncusApiError, IncusPermissionError, IncusTlsError, IncusUnreachableError } from './errors.js';
import { CERT_PIN_MISMATCH, describeEndpoint, pinnedTlsOptions, type IncusEndpoint } from './endpoint.js';
import type { IncusEvent, LifecycleMetadata } from './types.js';

// ---------------------------------------------------------------------------
// Work keys: which object an event is about.

/** The kinds of objects anklume reconciles. */
export type WorkKind = 'instance' | 'network' | 'project' | 'profile' | 'network-acl';

/**
 * One unit of reconcile work. For `project` items, `project` is the project's
 * own name.
 */
export interface WorkKey {
  kind: WorkKind;
  name: string;
  project: string;
}

/** URL collection segment of each kind (`/1.0/<collection>/<name>`). */
const COLLECTION: Record<WorkKind, string> = {
  instance: 'instances',
  network: 'networks',
  project: 'projects',
  profile: 'profiles',
  'network-acl': 'network-acls',
};

/**
 * Lifecycle actions that can change what anklume manages
 * (https://linuxcontainers.org/incus/docs/main/events/). An allow-list, not a
 * deny-list: reads emit events too (`instance-metadata-retrieved`,
 * `instance-log-retrieved`, ...), and reacting to those would turn the
 * operator's own GETs into a reconcile storm. Network ACLs are listed: on a
 * cluster they are the isolation, so one edited by hand is rewritten at once,
 * not at the next firewall check. Image, snapshot and server events are not
 * listed because no anklume work key covers them.
 */
const RELEVANT_ACTIONS: ReadonlyMap<string, WorkKind> = new Map<string, WorkKind>([
  ...['created', 'updated', 'renamed', 'deleted', 'started', 'stopped', 'shutdown', 'restarted', 'paused', 'resumed', 'ready', 'restored'].map(
    (a) => [`instance-${a}`, 'instance'] as [string, WorkKind],
  ),
  ...['created', 'updated', 'renamed', 'deleted'].flatMap((a) => [
    [`network-${a}`, 'network'] as [string, WorkKind],
    [`profile-${a}`, 'profile'] as [string, WorkKind],
    [`project-${a}`, 'project'] as [string, WorkKind],
    [`network-acl-${a}`, 'network-acl'] as [string, WorkKind],
  ]),
]);

/** Actions {@link eventKey} turns into work (for tests and docs). */
export const RELEVANT_LIFECYCLE_ACTIONS: readonly string[] = [...RELEVANT_ACTIONS.keys()];

/**
 * Map a lifecycle event to the work item it concerns, or `null` when it is
 * noise (reads, exec, file transfers, console, logs, metadata) or about
 * something anklume does not reconcile.
 *
 * The object is taken from `metadata.source` (`/1.0/instances/c1?project=pro`)
 * because `metadata.name`/`metadata.project` are often missing; the project
 * from the source's `?project=` (Incus omits it for `default`), else the
 * envelope's `project`, else `default`.
 */
export function eventKey(event: IncusEvent): WorkKey | null {
  if (event.type !== 'lifecycle') return null;
  const meta = event.metadata as Partial<LifecycleMetadata> | null | undefined;
  if (!meta || typeof meta.action !== 'string' || typeof meta.source !== 'string') return null;
  const kind = RELEVANT_ACTIONS.get(meta.action);
  if (kind === undefined) return null;
  const parsed = parseSource(meta.source);
  if (!parsed || parsed.collection !== COLLECTION[kind]) return null;
  if (kind === 'project') return { kind, name: parsed.name, project: parsed.name };
  const project = parsed.project ?? nonEmpty(event.project) ?? nonEmpty(meta.project) ?? 'default';
  return { kind, name: parsed.name, project };
}

/**
 * Lifecycle actions Incus 6.0 sends before the change they announce is
 * written: `projectPut`, `projectPatch` and `profilePatch` send the event, then
 * commit (cmd/incusd/api_project.go, profiles.go). A read on the event alone
 * may see the old object, and no later event comes to correct it: on an idle
 * Incus 6.0.4, 7 of 50 project updates were still unreadable 7 to 15 ms after
 * their event had arrived.
 */
const SENT_BEFORE_COMMIT: ReadonlySet<string> = new Set(['project-updated', 'profile-updated']);

/** Whether `event` may arrive before its change can be read (see {@link SENT_BEFORE_COMMIT}). */
export function sentBeforeCommit(event: IncusEvent): boolean {
  const meta = event.metadata as Partial<LifecycleMetadata> | null | undefined;
  return event.type === 'lifecycle' && typeof meta?.action === 'string' && SENT_BEFORE_COMMIT.has(meta.action);
}

/**
 * Like {@link eventKey}, plus the old name of a renamed object
 * (`context.old_name`), which has to be reconciled too (it disappeared).
 */
export function eventKeys(event: IncusEvent): WorkKey[] {
  const key = eventKey(event);
  if (!key) return [];
  const meta = event.metadata as Partial<LifecycleMetadata>;
  const oldName = meta.action?.endsWith('-renamed') ? meta.context?.['old_name'] : undefined;
  if (typeof oldName !== 'string' || oldName === '' || oldName === key.name) return [key];
  const old: WorkKey = { ...key, name: oldName };
  if (key.kind === 'project') old.project = oldName;
  return [key, old];
}

function parseSource(source: string): { collection: string; name: string; project: string | undefined } | null {
  let url: URL;
  try {
    url = new URL(source, 'http://incus.invalid');
  } catch {
    return null;
  }
  const segments = url.pathname.split('/').filter((s) => s !== '');
  const [version, collection, rawName] = segments;
  if (version !== '1.0' || collection === undefined || rawName === undefined) return null;
  let name: string;
  try {
    name = decodeURIComponent(rawName);
  } catch {
    return null;
  }
  if (name === '') return null;
  return { collection, name, project: nonEmpty(url.searchParams.get('project')) };
}

function nonEmpty(s: string | null | undefined): string | undefined {
  return typeof s === 'string' && s !== '' ? s : undefined;
}

// ---------------------------------------------------------------------------
// Reconnect backoff.

/**
 * Reconnect delays (src/shared/backoff.ts): 500 ms, doubling up to 30 s, with
 * equal jitter so that many operators restarted with Incus do not reconnect
 * in lockstep, and a delay never collapses to zero.
 */
export const RECONNECT_BACKOFF: BackoffDefaults = { baseMs: 500, capMs: 30_000, jitter: 'equal' };

// ---------------------------------------------------------------------------
// The stream.

/** Why a connection closed. */
export interface EventStreamClose {
  code: number;
  reason: string;
  /** False once the stream is stopped for good. */
  reconnecting: boolean;
}

/** Events of {@link IncusEventStream}. */
export interface IncusEventStreamEvents {
  /** Connected (again): relist everything now, events before this moment are lost. */
  open: [];
  /** A parsed event of the requested types. */
  event: [IncusEvent];
  /** A connection ended. */
  close: [EventStreamClose];
  /** A connection failed or broke; the stream reconnects by itself. Emitted only while someone listens. */
  error: [Error];
  /** A reconnect is scheduled after `delayMs`. */
  reconnect: [{ attempt: number; delayMs: number }];
}

/** Options of {@link IncusEventStream}. */
export type IncusEventStreamOptions = IncusEndpoint & {
  /** Event types (`lifecycle`, `operation`, `logging`); default `['lifecycle']`. */
  types?: string[];
  /** One project only; default all projects (`all-projects=true`; Incus refuses both). */
  project?: string;
  /** Unset values take {@link RECONNECT_BACKOFF}'s; `random` is injectable for tests. */
  backoff?: BackoffOptions;
  /** Injectable wait before a reconnect, for tests (it is abandoned when the stream stops). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /**
   * Drop a connection that has been silent this long (ms): Incus pings every
   * 10 s, so silence means a dead peer that TCP may not notice. 0 disables.
   * Default 45 s.
   */
  idleTimeoutMs?: number;
  /** Stops the stream for good when aborted, like {@link IncusEventStream.close}. */
  signal?: AbortSignal;
};

/**
 * The Incus events websocket (`/1.0/events`,
 * https://linuxcontainers.org/incus/docs/main/events/) with automatic
 * reconnects. Incus keeps no event history (no resume, no sequence numbers),
 * so every `open` is a cue to relist; events missed while disconnected are
 * gone. Pings from Incus are answered by `ws` itself; a client that stops
 * answering is cut off after ~30 s.
 *
 * ```ts
 * const stream = new IncusEventStream({ socketPath });
 * stream.on('open', () => queue.relistAll());
 * stream.on('event', (e) => { const k = eventKey(e); if (k) queue.add(k); });
 * stream.start();
 * // ...
 * await stream.close();
 * ```
 */
export class IncusEventStream extends EventEmitter<IncusEventStreamEvents> {
  private readonly url: string;
  private readonly wsOptions: ClientOptions;
  private readonly endpoint: string;
  private readonly backoff: BackoffPolicy;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly idleTimeoutMs: number;
  private readonly stopper = new AbortController();
  private ws: WebSocket | undefined;
  private running: Promise<void> | undefined;
  private isOpen = false;

  constructor(options: IncusEventStreamOptions) {
    super();
    this.endpoint = describeEndpoint(options);
    const query = new URLSearchParams({ type: (options.types ?? ['lifecycle']).join(',') });
    if (options.project !== undefined) query.set('project', options.project);
    else query.set('all-projects', 'true');
    this.wsOptions = { perMessageDeflate: false, handshakeTimeout: 30_000 };
    if (options.socketPath !== undefined) {
      // ws ≥ 8.9: `ws+unix://<socket>:<request path>`.
      this.url = `ws+unix://${options.socketPath}:/1.0/events?${query.toString()}`;
    } else {
      const base = new URL(options.url);
      base.protocol = base.protocol === 'http:' ? 'ws:' : 'wss:';
      base.pathname = base.pathname.replace(/\/+$/, '') + '/1.0/events';
      base.search = query.toString();
      this.url = base.toString();
      Object.assign(this.wsOptions, pinnedTlsOptions(options.tls));
    }
    this.backoff = backoffPolicy(options.backoff, RECONNECT_BACKOFF);
    this.sleep = options.sleep ?? ((ms, signal) => sleepTimer(ms, undefined, { signal }));
    this.idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
    if (options.signal?.aborted) this.stopper.abort();
    else if (options.signal) {
      const signal = options.signal;
      const onAbort = (): void => void this.close();
      signal.addEventListener('abort', onAbort, { once: true });
      this.stopper.signal.addEventListener('abort', () => signal.removeEventListener('abort', onAbort), { once: true });
    }
  }

  /** True while a connection is open. */
  get connected(): boolean {
    return this.isOpen;
  }

  /** Connect, and keep reconnecting until {@link close}. Calling it again does nothing. */
  start(): void {
    if (this.running || this.stopper.signal.aborted) return;
    this.running = this.run();
  }

  /** Stop for good: close the connection, cancel any pending reconnect. Resolves once stopped. */
  async close(): Promise<void> {
    if (!this.stopper.signal.aborted) {
      this.stopper.abort();
      const ws = this.ws;
      if (ws) {
        if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'client closing');
        else ws.terminate();
      }
    }
    await this.running;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopper.signal.aborted) {
      const opened = await this.connectOnce();
      if (this.stopper.signal.aborted) break;
      // A connection that opened resets the backoff: the next failure is new.
      if (opened) attempt = 0;
      const delayMs = backoffDelay(attempt, this.backoff);
      attempt++;
      this.emit('reconnect', { attempt, delayMs });
      if (!(await this.pause(delayMs))) break;
    }
  }

  /** Wait before a reconnect; false when stopped meanwhile. Does not trust an injected sleep to honour the signal. */
  private async pause(ms: number): Promise<boolean> {
    const signal = this.stopper.signal;
    if (signal.aborted) return false;
    let onAbort: () => void = () => undefined;
    const aborted = new Promise<void>((resolve) => {
      onAbort = resolve;
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([this.sleep(ms, signal), aborted]);
    } catch {
      // The default sleep rejects on abort; checked below.
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    return !signal.aborted;
  }

  /** One connection, from dial to close. Resolves whether it had opened. */
  private connectOnce(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let opened = false;
      let failure: Error | undefined;
      let idle: NodeJS.Timeout | undefined;
      const ws = new WebSocket(this.url, this.wsOptions);
      this.ws = ws;

      const armIdle = (): void => {
        if (this.idleTimeoutMs <= 0) return;
        clearTimeout(idle);
        idle = setTimeout(() => {
          failure = new IncusUnreachableError(this.endpoint, `No message or ping from Incus events at ${this.endpoint} for ${this.idleTimeoutMs} ms; reconnecting`);
          ws.terminate();
        }, this.idleTimeoutMs);
        idle.unref();
      };

      ws.on('open', () => {
        opened = true;
        this.isOpen = true;
        armIdle();
        this.emit('open');
      });
      ws.on('ping', armIdle);
      ws.on('message', (data: WebSocket.RawData) => {
        armIdle();
        const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          this.report(new IncusApiError({ method: 'GET', path: '/1.0/events', status: 101, incusCode: 0, incusMessage: `unparsable event: ${text.slice(0, 200)}` }));
          return;
        }
        if (parsed !== null && typeof parsed === 'object' && typeof (parsed as IncusEvent).type === 'string') {
          this.emit('event', parsed as IncusEvent);
        }
      });
      ws.on('unexpected-response', (_req, res: IncomingMessage) => {
        // Incus refused the upgrade (403, 400 for a bad query...): keep its message.
        readBody(res, (body) => {
          failure = handshakeError(this.endpoint, res.statusCode ?? 0, body);
          ws.terminate();
        });
      });
      ws.on('error', (err: Error) => {
        failure ??= this.mapError(err);
      });
      ws.on('close', (code: number, reason: Buffer) => {
        clearTimeout(idle);
        this.isOpen = false;
        if (this.ws === ws) this.ws = undefined;
        const stopping = this.stopper.signal.aborted;
        if (failure && !stopping) this.report(failure);
        this.emit('close', { code, reason: reason.toString('utf8'), reconnecting: !stopping });
        resolve(opened);
      });
    });
  }

  private report(err: Error): void {
    // A reconnecting stream expects errors; an EventEmitter throws on an
    // unheard 'error', which would take the daemon down for a blip.
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private mapError(err: Error): Error {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH') {
      return new IncusUnreachableError(this.endpoint, `Incus events are not reachable at ${this.endpoint} (${String(code)}); is incusd running?`, { cause: err });
    }
    if (code === 'EACCES') {
      return new IncusPermissionError(this.endpoint, `Permission denied on the Incus socket ${this.endpoint}: run as root or as a member of the incus-admin group.`, { cause: err });
    }
    if (code === CERT_PIN_MISMATCH || (typeof code === 'string' && /CERT|SELF_SIGNED|ERR_TLS|ERR_SSL/.test(code))) {
      return new IncusTlsError(this.endpoint, `TLS connection to Incus events at ${this.endpoint} rejected: ${err.message}`, { cause: err });
    }
    return new IncusUnreachableError(this.endpoint, `Incus events connection at ${this.endpoint} failed: ${err.message}`, { cause: err });
  }
}

function readBody(res: IncomingMessage, done: (body: string) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    done(Buffer.concat(chunks).toString('utf8'));
  };
  // Never hang a reconnect loop on a body that does not end.
  const timer = setTimeout(finish, 2000);
  timer.unref();
  res.on('data', (chunk: Buffer) => {
    if (size < 65_536) chunks.push(chunk);
    size += chunk.length;
  });
  res.on('end', finish);
  res.on('error', finish);
  res.on('close', finish);
}

function handshakeError(endpoint: string, status: number, body: string): Error {
  let message = '';
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') message = parsed.error;
  } catch {
    message = body.slice(0, 200);
  }
  if (status === 403) {
    return new IncusPermissionError(endpoint, `Incus refused the events stream (403: ${message || 'forbidden'}): the caller lacks permission.`, { incusMessage: message });
  }
  return new IncusApiError({ method: 'GET', path: '/1.0/events', status, incusCode: status, incusMessage: message || `HTTP ${status}` });
}
