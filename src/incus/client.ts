import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance, type AxiosResponse, type RawAxiosRequestHeaders } from 'axios';
import { INCUS_TIMEOUT_DEFAULTS } from '../config/incus-endpoint.js';
import {
  IncusApiError,
  IncusExecTimeoutError,
  IncusNotFoundError,
  IncusOperationError,
  IncusOperationTimeoutError,
  IncusPermissionError,
  IncusRequestTimeoutError,
  IncusTlsError,
  IncusUnreachableError,
  isPreconditionFailed,
} from './errors.js';
import { CERT_PIN_MISMATCH, describeEndpoint, pinnedTlsOptions, type IncusEndpoint } from './endpoint.js';
import {
  StatusCode,
  type IncusEnvelope,
  type Instance,
  type Network,
  type Operation,
  type Profile,
  type Project,
  type ServerInfo,
} from './types.js';

/** Query parameters; `undefined` values are left out. */
export type QueryParams = Record<string, string | number | boolean | undefined>;

/** Options every call accepts. */
export interface RequestOptions {
  /** Incus project (`?project=`); omitted means Incus's `default`. */
  project?: string;
  /** Extra query parameters (`recursion`, `filter`, `force`, ...). */
  query?: QueryParams;
  /** Abort the request (and any operation wait it started). Rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/** Options of writes. */
export interface WriteOptions extends RequestOptions {
  /** Sent as `If-Match`: the write fails with 412 if the object changed since it was read. */
  etag?: string;
  /** For async writes: give up waiting after this many seconds (the operation goes on). Default: the client's `operationTimeoutSeconds`. */
  operationTimeoutSeconds?: number;
}

/** Options of {@link IncusClient.exec}. */
export interface ExecOptions {
  environment?: Record<string, string>;
  /** Rejects at once with `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Give up after this many seconds and stop the command (see
   * {@link IncusClient.exec}). Default: the client's `execTimeoutSeconds`.
   * `Infinity` runs the command bare, unbounded.
   */
  timeoutSeconds?: number;
}

/** What a command run in an instance returned. */
export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** What a write returns once it is complete (async operations already waited for). */
export interface WriteResult {
  /** HTTP status of the write itself: 200, 201 (created) or 202 (async). */
  status: number;
  /** `Location` header: the created object (201) or the operation (202). */
  location: string | undefined;
  /** Sync writes: the envelope metadata. Async writes: the finished operation's metadata. */
  metadata: unknown;
  /** Async writes: the finished operation. */
  operation: Operation | undefined;
}

/** Request counts since creation or the last {@link IncusClient.resetStats}. */
export interface IncusClientStats {
  /** Every HTTP request sent, operation waits and retries included. */
  requests: number;
  /** GET/HEAD requests. */
  reads: number;
  /** POST/PUT/PATCH/DELETE requests. */
  writes: number;
}

/** Minimal logger shape (a pino child fits). */
export interface IncusClientLogger {
  debug(obj: object, msg?: string): void;
}

/**
 * Options of {@link IncusClient}: an endpoint plus tuning. The timeout
 * defaults are {@link INCUS_TIMEOUT_DEFAULTS}; `resolveIncusEndpoint` fills
 * `requestTimeoutMs` and `execTimeoutSeconds` from the flags and environment.
 */
export type IncusClientOptions = IncusEndpoint & {
  /**
   * Per-request timeout in ms for everything but operation waits: how long
   * Incus may take to start answering a request (and then stay silent)
   * before it fails with {@link IncusRequestTimeoutError}. Default 30 s; 0 = none.
   */
  requestTimeoutMs?: number;
  /**
   * How long an async write waits for its operation before failing with
   * {@link IncusOperationTimeoutError} (the operation goes on in Incus).
   * Default 600 s: image unpacks and first starts can be slow. `Infinity` = forever.
   */
  operationTimeoutSeconds?: number;
  /**
   * How long {@link IncusClient.exec} lets a command run before failing with
   * {@link IncusExecTimeoutError} and stopping it. Default 60 s.
   */
  execTimeoutSeconds?: number;
  /**
   * Seconds one `/wait` request may block before the client asks again.
   * Short enough that a lost connection is noticed, long enough to stay cheap.
   */
  waitChunkSeconds?: number;
  logger?: IncusClientLogger;
};

/** Options of {@link IncusClient.updateWithRetry}. */
export interface UpdateWithRetryOptions extends RequestOptions {
  /** `PUT` (default) replaces the object; `PATCH` merges (cannot remove devices). */
  method?: 'PUT' | 'PATCH';
  /** Total attempts on 412 before giving up (default 5). */
  maxAttempts?: number;
  operationTimeoutSeconds?: number;
}

/** Result of {@link IncusClient.updateWithRetry}. */
export interface UpdateResult {
  /** False when `mutate` returned `undefined`: nothing was written. */
  changed: boolean;
  /** GET→write rounds used (1 unless someone else wrote concurrently). */
  attempts: number;
  result: WriteResult | undefined;
}

/** Options of list helpers. */
export interface ListOptions {
  /** Only this project; omitted = every project (`all-projects=true`). */
  project?: string;
  /** Incus filter expression, e.g. `name eq c1` (doc/rest-api.md#filtering). */
  filter?: string;
  signal?: AbortSignal;
}

/** Options of {@link IncusClient.waitOperation}. */
export interface WaitOptions {
  /** Give up after this many seconds (the operation goes on); default: the client's `operationTimeoutSeconds`. */
  timeoutSeconds?: number;
  signal?: AbortSignal;
  /** Project the operation belongs to, for restricted clients. */
  project?: string;
}

interface Exchange {
  status: number;
  headers: AxiosResponse['headers'];
  envelope: IncusEnvelope;
  /** Method and path as sent, for errors. */
  method: string;
  path: string;
}

const READ_METHODS = new Set(['GET', 'HEAD']);

/** Codes of failures to connect at all: Incus is not there. */
const UNREACHABLE_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ETIMEDOUT', 'ENOTSOCK']);
/** Codes of a connection that broke mid-request. */
const CONNECTION_LOST_CODES = new Set(['ECONNRESET', 'EPIPE', 'ERR_SOCKET_CLOSED']);

/** Node timers overflow above this (and fire at once): longer bounds mean none. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Seconds between the exec timeout's SIGTERM and its SIGKILL, inside the
 * instance: time for the command to clean up.
 */
const EXEC_KILL_GRACE_SECONDS = 5;
/** Exit statuses of coreutils `timeout` when it had to stop the command: SIGTERM worked, or SIGKILL was needed (128 + 9). */
const EXEC_TIMED_OUT_CODES = new Set([124, 137]);

/**
 * Build an API path from segments, each URL-encoded: `apiPath('instances', name)`
 * → `/1.0/instances/<name>`.
 */
export function apiPath(...segments: string[]): string {
  return '/1.0' + segments.map((s) => '/' + encodeURIComponent(s)).join('');
}

/** Append query parameters to a path that may already carry some. */
export function withQuery(path: string, query: QueryParams): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined) params.append(k, String(v));
  }
  const qs = params.toString();
  if (qs === '') return path;
  return path + (path.includes('?') ? '&' : '?') + qs;
}

/**
 * Client of the Incus REST API (https://linuxcontainers.org/incus/docs/main/rest-api/)
 * over its unix socket, or over HTTPS with a client certificate and a pinned
 * server certificate.
 *
 * Every call returns the envelope's `metadata`; async writes (HTTP 202) are
 * waited for, so a resolved write is a finished write. Failures are typed:
 * {@link IncusApiError} (and {@link IncusNotFoundError}), {@link IncusOperationError},
 * {@link IncusUnreachableError}, {@link IncusPermissionError}, {@link IncusTlsError};
 * an aborted call rejects with its signal's reason.
 */
export class IncusClient {
  readonly endpoint: string;
  private readonly http: AxiosInstance;
  private readonly agent: http.Agent;
  private readonly waitChunkSeconds: number;
  private readonly requestTimeoutMs: number;
  private readonly operationTimeoutSeconds: number;
  private readonly execTimeoutSeconds: number;
  private readonly logger: IncusClientLogger | undefined;
  private counters: IncusClientStats = { requests: 0, reads: 0, writes: 0 };

  constructor(options: IncusClientOptions) {
    this.endpoint = describeEndpoint(options);
    this.waitChunkSeconds = Math.max(1, Math.floor(options.waitChunkSeconds ?? 30));
    this.requestTimeoutMs = Math.min(MAX_TIMER_MS, positiveOption('requestTimeoutMs', options.requestTimeoutMs ?? INCUS_TIMEOUT_DEFAULTS.requestTimeoutMs, { zero: true }));
    this.operationTimeoutSeconds = positiveOption('operationTimeoutSeconds', options.operationTimeoutSeconds ?? INCUS_TIMEOUT_DEFAULTS.operationTimeoutSeconds);
    this.execTimeoutSeconds = positiveOption('execTimeoutSeconds', options.execTimeoutSeconds ?? INCUS_TIMEOUT_DEFAULTS.execTimeoutSeconds);
    this.logger = options.logger;
    // Keep-alive: a reconcile pass is many small requests; reconnecting to
    // the socket for each one is most of their cost.
    const common = {
      // We parse envelopes ourselves: Incus sends error bodies with 2xx and
      // non-2xx statuses alike, so axios must neither throw nor parse.
      validateStatus: () => true,
      responseType: 'text' as const,
      transformResponse: [(data: unknown) => data],
      maxRedirects: 0,
      // Never route the socket or a pinned TLS endpoint through *_PROXY.
      proxy: false as const,
      adapter: 'http' as const,
      // axios (node http, no redirects) fails a request whose answer has not
      // started this long after it was sent (upload included), or whose
      // connection then stays silent this long.
      timeout: this.requestTimeoutMs,
      maxContentLength: Infinity,
      maxBodyLength: Infinity,
    };
    if (options.socketPath !== undefined) {
      this.agent = new http.Agent({ keepAlive: true });
      this.http = axios.create({
        ...common,
        // Any Host works on the socket; the Go client uses this one.
        baseURL: 'http://unix.socket',
        socketPath: options.socketPath,
        httpAgent: this.agent,
      });
    } else {
      const agent = new https.Agent({ keepAlive: true, ...pinnedTlsOptions(options.tls) });
      this.agent = agent;
      this.http = axios.create({ ...common, baseURL: options.url.replace(/\/+$/, ''), httpsAgent: agent });
    }
  }

  /** Request counts; a copy, so callers can diff snapshots. */
  get stats(): IncusClientStats {
    return { ...this.counters };
  }

  /** Set all counters back to zero. */
  resetStats(): void {
    this.counters = { requests: 0, reads: 0, writes: 0 };
  }

  /** Close idle keep-alive connections. The client stays usable. */
  close(): void {
    this.agent.destroy();
  }

  /** `GET /1.0`: version, API extensions, environment. */
  async serverInfo(options: { signal?: AbortSignal } = {}): Promise<ServerInfo> {
    return this.get<ServerInfo>('/1.0', options);
  }

  /** GET an object or list; returns `metadata`. */
  async get<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.checked('GET', path, options);
    return res.envelope.metadata as T;
  }

  /**
   * GET a single object with its ETag, for a later conditional write. `etag` is
   * undefined for responses that carry none (lists never do).
   */
  async getWithEtag<T>(path: string, options: RequestOptions = {}): Promise<{ value: T; etag: string | undefined }> {
    const res = await this.checked('GET', path, options);
    const etag = res.headers['etag'] as unknown;
    return { value: res.envelope.metadata as T, etag: typeof etag === 'string' && etag !== '' ? etag : undefined };
  }

  /** POST to a collection (create) or an object (rename, ...). Waits if async. */
  async create(path: string, body: unknown, options: WriteOptions = {}): Promise<WriteResult> {
    return this.write('POST', path, body, options);
  }

  /** POST that is not a create (rename, migration, ...). Waits if async. */
  async post(path: string, body: unknown, options: WriteOptions = {}): Promise<WriteResult> {
    return this.write('POST', path, body, options);
  }

  /** PUT (replace the object). Pass `etag` from {@link getWithEtag} to guard against lost updates. */
  async put(path: string, body: unknown, options: WriteOptions = {}): Promise<WriteResult> {
    return this.write('PUT', path, body, options);
  }

  /** PATCH (merge keys; devices merge by name, so a device cannot be removed this way). */
  async patch(path: string, body: unknown, options: WriteOptions = {}): Promise<WriteResult> {
    return this.write('PATCH', path, body, options);
  }

  /** DELETE an object. Waits if async. */
  async delete(path: string, options: WriteOptions = {}): Promise<WriteResult> {
    return this.write('DELETE', path, undefined, options);
  }

  /**
   * Read-modify-write with optimistic concurrency: GET (with ETag), `mutate`,
   * then PUT/PATCH with `If-Match`. On 412 (someone wrote in between) read
   * again and retry, up to `maxAttempts`; then the last 412 is thrown.
   * `mutate` returns the body to write, or `undefined` to write nothing.
   */
  async updateWithRetry<T, B = Partial<T>>(
    path: string,
    mutate: (current: T, attempt: number) => B | undefined | Promise<B | undefined>,
    options: UpdateWithRetryOptions = {},
  ): Promise<UpdateResult> {
    const { method = 'PUT', maxAttempts = 5, operationTimeoutSeconds, ...req } = options;
    for (let attempt = 1; ; attempt++) {
      const { value, etag } = await this.getWithEtag<T>(path, req);
      const next = await mutate(value, attempt);
      if (next === undefined) return { changed: false, attempts: attempt, result: undefined };
      try {
        const writeOptions: WriteOptions = { ...req };
        if (etag !== undefined) writeOptions.etag = etag;
        if (operationTimeoutSeconds !== undefined) writeOptions.operationTimeoutSeconds = operationTimeoutSeconds;
        const result = await this.write(method, path, next, writeOptions);
        return { changed: true, attempts: attempt, result };
      } catch (err) {
        if (!isPreconditionFailed(err) || attempt >= maxAttempts) throw err;
        this.logger?.debug({ path, attempt }, 'incus: ETag mismatch, re-reading');
      }
    }
  }

  /** All instances (`recursion=1`), of one project or of all (`all-projects=true`). */
  async listInstances(options: ListOptions & { withState?: boolean } = {}): Promise<Instance[]> {
    return this.list<Instance>('/1.0/instances', options, options.withState === true ? 2 : 1);
  }

  /**
   * All networks. Includes unmanaged host interfaces (`managed: false`); note
   * that Incus leaves some of those out of `recursion=1` lists.
   */
  async listNetworks(options: ListOptions = {}): Promise<Network[]> {
    return this.list<Network>('/1.0/networks', options, 1);
  }

  /** All profiles, of one project or of all. */
  async listProfiles(options: ListOptions = {}): Promise<Profile[]> {
    return this.list<Profile>('/1.0/profiles', options, 1);
  }

  /** All projects (projects have no `all-projects`). */
  async listProjects(options: Omit<ListOptions, 'project'> = {}): Promise<Project[]> {
    const query: QueryParams = { recursion: 1, filter: options.filter };
    return this.get<Project[]>('/1.0/projects', withSignal({ query }, options.signal));
  }

  /**
   * Run a command in an instance and wait for it (`POST .../exec` with
   * record-output, no websocket): its exit code and output. The recorded
   * output files are deleted afterwards so they do not pile up in Incus.
   *
   * Bounded by `timeoutSeconds` (default: the client's `execTimeoutSeconds`),
   * request and wait together: past it the call fails with
   * {@link IncusExecTimeoutError}. A caller's `signal` still rejects at once.
   *
   * Stopping a hung command: Incus cannot cancel this kind of exec. It runs
   * as a task operation created without a cancel hook
   * (`cmd/incusd/instance_exec.go`: `OperationCreate(..., OperationClassTask,
   * ..., run, nil, nil, r)`), so `may_cancel` is false and
   * `DELETE /1.0/operations/<id>` answers 400 "This operation can't be
   * cancelled" (`internal/server/operations/operations.go` `Cancel`); only
   * the websocket mode has a control channel that forwards signals. So the
   * command runs under `timeout -k 5 <N>`: at the deadline it gets SIGTERM
   * inside the instance (with its process group), SIGKILL 5 s later, whether
   * or not anklume is still waiting. The instance needs `timeout` (coreutils,
   * as in every Debian or Ubuntu image, or busybox 1.35+); without it Incus
   * fails the exec with "Command not found". `timeoutSeconds: Infinity` runs
   * a command bare. Should an operation ever say `may_cancel`, it is also
   * cancelled.
   */
  async exec(project: string, instance: string, command: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const timeoutSeconds = options.timeoutSeconds ?? this.execTimeoutSeconds;
    if (!(timeoutSeconds > 0)) throw new RangeError(`exec timeoutSeconds must be positive (got ${timeoutSeconds})`);
    const bounded = Number.isFinite(timeoutSeconds);
    const startedAt = Date.now();
    const limit = deadline(timeoutSeconds * 1000, options.signal);
    const timedOut = (extra: { operationId?: string | undefined; cancelled?: boolean }, cause?: unknown): IncusExecTimeoutError =>
      new IncusExecTimeoutError({ project, instance, command, timeoutSeconds, ...extra }, cause === undefined ? undefined : { cause });
    let started: StartedOperation | undefined;
    let meta: { return?: number; output?: Record<string, string> };
    try {
      const res = await this.checked('POST', `/1.0/instances/${encodeURIComponent(instance)}/exec`, withSignal({ project }, limit.signal), {
        // Plain seconds: busybox `timeout` takes no unit suffix.
        command: bounded ? ['timeout', '-k', String(EXEC_KILL_GRACE_SECONDS), String(Number(timeoutSeconds.toFixed(3))), ...command] : command,
        environment: options.environment ?? {},
        'wait-for-websocket': false,
        interactive: false,
        'record-output': true,
      });
      started = startedOperation(res);
      const op = started === undefined ? undefined : await this.waitFor(started.id, withSignal({ project, timeoutSeconds: Infinity }, limit.signal), { method: res.method, path: res.path, description: started.description });
      meta = (op === undefined ? res.envelope.metadata : op.metadata) ?? {};
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (!limit.expired()) throw err;
      const cancelled = started?.mayCancel === true && (await this.cancelOperation(started.id, project));
      throw timedOut({ operationId: started?.id, cancelled }, err);
    } finally {
      limit.clear();
    }
    const read = async (fd: string): Promise<string> => {
      const log = meta.output?.[fd];
      if (log === undefined) return '';
      const text = await this.getText(log, withSignal({ project }, options.signal));
      await this.write('DELETE', log, undefined, { project }).catch(() => undefined);
      return text;
    };
    const result = { code: typeof meta.return === 'number' ? meta.return : -1, stdout: await read('1'), stderr: await read('2') };
    // `timeout` stopped it just before our own deadline fired.
    if (bounded && EXEC_TIMED_OUT_CODES.has(result.code) && Date.now() - startedAt >= timeoutSeconds * 1000) throw timedOut({ operationId: started?.id });
    return result;
  }

  /** Write a file into an instance (created or replaced), with its mode and owner. */
  async pushFile(project: string, instance: string, path: string, content: string | Buffer, options: { mode?: number; uid?: number; gid?: number; signal?: AbortSignal } = {}): Promise<void> {
    const url = withQuery(`/1.0/instances/${encodeURIComponent(instance)}/files`, { path, project });
    this.count('POST');
    const res = await this.http.request<string>({
      method: 'POST',
      url,
      data: typeof content === 'string' ? Buffer.from(content) : content,
      headers: {
        'Content-Type': 'application/octet-stream',
        'X-Incus-type': 'file',
        'X-Incus-write': 'overwrite',
        'X-Incus-mode': (options.mode ?? 0o644).toString(8).padStart(4, '0'),
        'X-Incus-uid': String(options.uid ?? 0),
        'X-Incus-gid': String(options.gid ?? 0),
      },
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    }).catch((err: unknown) => {
      if (options.signal?.aborted) throw options.signal.reason;
      throw this.transportError(err, 'POST', url, this.requestTimeoutMs);
    });
    const envelope = parseEnvelope(res);
    if (envelope.type === 'error' || res.status >= 400) throw this.apiError({ status: res.status, headers: res.headers, envelope, method: 'POST', path: url });
  }

  /** GET a raw body (an exec log, an instance file): the text, not an envelope. */
  async getText(path: string, options: RequestOptions = {}): Promise<string> {
    const url = withQuery(path, { ...options.query, ...(options.project === undefined ? {} : { project: options.project }) });
    this.count('GET');
    const res = await this.http.request<string>({ method: 'GET', url, ...(options.signal === undefined ? {} : { signal: options.signal }) }).catch((err: unknown) => {
      if (options.signal?.aborted) throw options.signal.reason;
      throw this.transportError(err, 'GET', url, this.requestTimeoutMs);
    });
    if (res.status >= 400) throw this.apiError({ status: res.status, headers: res.headers, envelope: parseEnvelope(res), method: 'GET', path: url });
    return typeof res.data === 'string' ? res.data : '';
  }

  /**
   * Wait for an operation to finish and return it. Throws
   * {@link IncusOperationError} if it failed or was cancelled, and
   * {@link IncusOperationTimeoutError} after `timeoutSeconds` (default: the
   * client's `operationTimeoutSeconds`).
   *
   * `/wait` answers HTTP 200 before it knows the outcome (the header is flushed
   * early), so failure arrives as an error *body*; that body looks the same for
   * "the operation failed" and "this wait timed out", so on an error body we
   * read the operation itself to tell them apart.
   */
  async waitOperation(idOrUrl: string, options: WaitOptions = {}): Promise<Operation> {
    return this.waitFor(operationId(idOrUrl), options, { method: 'GET', path: `/1.0/operations/${operationId(idOrUrl)}` });
  }

  private async list<T>(path: string, options: ListOptions, recursion: number): Promise<T[]> {
    const query: QueryParams = { recursion, filter: options.filter };
    if (options.project === undefined) query['all-projects'] = true;
    const req: RequestOptions = { query };
    if (options.project !== undefined) req.project = options.project;
    return this.get<T[]>(path, withSignal(req, options.signal));
  }

  private async write(method: string, path: string, body: unknown, options: WriteOptions): Promise<WriteResult> {
    const res = await this.checked(method, path, options, body);
    const location = headerString(res.headers['location']);
    const started = startedOperation(res);
    if (started === undefined) return { status: res.status, location, metadata: res.envelope.metadata, operation: undefined };
    const waitOptions: WaitOptions = {};
    if (options.operationTimeoutSeconds !== undefined) waitOptions.timeoutSeconds = options.operationTimeoutSeconds;
    if (options.signal !== undefined) waitOptions.signal = options.signal;
    if (options.project !== undefined) waitOptions.project = options.project;
    const op = await this.waitFor(started.id, waitOptions, { method: res.method, path: res.path, description: started.description });
    return { status: res.status, location, metadata: op.metadata, operation: op };
  }

  /** Best effort `DELETE /1.0/operations/<id>`: true when Incus accepted the cancel. */
  private async cancelOperation(id: string, project: string): Promise<boolean> {
    try {
      const res = await this.exchange('DELETE', `/1.0/operations/${encodeURIComponent(id)}`, { project });
      return res.status < 400 && res.envelope.type !== 'error';
    } catch (err) {
      this.logger?.debug({ operation: id, err: errorMessage(err) }, 'incus: cancel failed');
      return false;
    }
  }

  /**
   * Wait for operation `id`, bounded by `timeoutSeconds` (default: the
   * client's) with a timer of its own, so a `/wait` that never answers fails
   * on time too.
   */
  private async waitFor(
    id: string,
    options: WaitOptions,
    origin: { method: string; path: string; description?: string | undefined },
  ): Promise<Operation> {
    const seconds = options.timeoutSeconds ?? this.operationTimeoutSeconds;
    if (!(seconds > 0)) throw new IncusOperationTimeoutError(id, 0, origin);
    const limit = deadline(seconds * 1000, options.signal);
    try {
      return await this.pollOperation(id, withSignal(options.project === undefined ? {} : { project: options.project }, limit.signal), origin, limit);
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (limit.expired()) throw new IncusOperationTimeoutError(id, seconds, origin);
      throw err;
    } finally {
      limit.clear();
    }
  }

  private async pollOperation(
    id: string,
    base: RequestOptions,
    origin: { method: string; path: string; description?: string | undefined },
    limit: Deadline,
  ): Promise<Operation> {
    const opPath = `/1.0/operations/${encodeURIComponent(id)}`;

    const settle = (op: Operation): Operation | undefined => {
      if (op.status_code === StatusCode.Success) return op;
      if (op.status_code === StatusCode.Failure || op.status_code === StatusCode.Cancelled) {
        throw new IncusOperationError({
          method: origin.method,
          path: origin.path,
          description: origin.description ?? op.description,
          operationId: id,
          statusCode: op.status_code,
          operationError: op.err || (op.status_code === StatusCode.Cancelled ? 'operation cancelled' : ''),
        });
      }
      return undefined; // still running
    };

    for (;;) {
      // Incus takes whole seconds; the deadline's timer cuts the last wait short.
      const chunk = Math.max(1, Math.min(this.waitChunkSeconds, Math.ceil(limit.remainingMs() / 1000)));
      // The server bounds this request by `timeout`; the client bound is a
      // safety net for a peer that vanished without closing the connection.
      const res = await this.exchange('GET', `${opPath}/wait`, { ...base, query: { timeout: chunk }, timeoutMs: (chunk + 30) * 1000 });
      // A real HTTP error is about the wait request itself (403, or 404: the
      // operation is unknown, e.g. finished more than 5 s ago).
      if (res.status !== 200) throw this.apiError(res);
      if (res.envelope.type !== 'error') {
        const done = settle(res.envelope.metadata as Operation);
        if (done) return done;
        continue;
      }
      // An error body: the operation failed, or only this wait timed out.
      const probe = await this.exchange('GET', opPath, base);
      if (probe.envelope.type === 'error' || probe.status >= 400) {
        if (probe.status === 404 || probe.envelope.error_code === 404) {
          throw new IncusOperationError({
            method: origin.method,
            path: origin.path,
            description: origin.description,
            operationId: id,
            statusCode: 0,
            operationError: res.envelope.error,
          });
        }
        throw this.apiError(probe);
      }
      const done = settle(probe.envelope.metadata as Operation);
      if (done) return done;
    }
  }

  /** One request whose error envelopes become typed errors. */
  private async checked(method: string, path: string, options: RequestOptions & { etag?: string }, body?: unknown): Promise<Exchange> {
    const res = await this.exchange(method, path, options, body);
    if (res.envelope.type === 'error' || res.status >= 400) throw this.apiError(res);
    return res;
  }

  /** One HTTP request; transport failures are typed, Incus errors are returned. */
  private async exchange(
    method: string,
    path: string,
    options: RequestOptions & { etag?: string; timeoutMs?: number },
    body?: unknown,
  ): Promise<Exchange> {
    const query: QueryParams = { ...options.query };
    if (options.project !== undefined) query['project'] = options.project;
    const fullPath = withQuery(path, query);
    const headers: RawAxiosRequestHeaders = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (options.etag !== undefined) headers['If-Match'] = options.etag;
    const signal = options.signal;

    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      this.count(method);
      let res: AxiosResponse<string>;
      try {
        res = await this.http.request<string>({
          method,
          url: fullPath,
          headers,
          data: body === undefined ? undefined : JSON.stringify(body),
          ...(signal ? { signal } : {}),
          ...(options.timeoutMs !== undefined ? { timeout: options.timeoutMs } : {}),
        });
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        // A keep-alive socket the server closed while idle fails on reuse;
        // a GET is safe to send again once.
        if (attempt === 1 && READ_METHODS.has(method) && CONNECTION_LOST_CODES.has(errorCode(err))) continue;
        throw this.transportError(err, method, fullPath, options.timeoutMs ?? this.requestTimeoutMs);
      }
      this.logger?.debug({ method, path: fullPath, status: res.status }, 'incus request');
      return { status: res.status, headers: res.headers, envelope: parseEnvelope(res), method, path: fullPath };
    }
  }

  private count(method: string): void {
    this.counters.requests++;
    if (READ_METHODS.has(method)) this.counters.reads++;
    else this.counters.writes++;
  }

  private apiError(res: Exchange): Error {
    const status = res.status;
    const incusCode = res.envelope.error_code || (status >= 400 ? status : 0);
    const incusMessage = res.envelope.error || (res.envelope.type === 'error' ? '' : `unexpected HTTP ${status}`);
    const init = { method: res.method, path: res.path, status, incusCode, incusMessage };
    if (status === 403 || incusCode === 403) {
      return new IncusPermissionError(
        this.endpoint,
        `Incus refused ${res.method} ${res.path} (403: ${incusMessage || 'forbidden'}): the caller lacks permission. ` +
          'On the unix socket run as root or as a member of the incus-admin group; over HTTPS the client certificate must be trusted by Incus.',
        { incusMessage },
      );
    }
    if (status === 404 || incusCode === 404) return new IncusNotFoundError(init);
    return new IncusApiError(init);
  }

  private transportError(err: unknown, method: string, path: string, timeoutMs: number): Error {
    const code = errorCode(err);
    const where = this.endpoint;
    if (code === 'EACCES' || code === 'EPERM') {
      return new IncusPermissionError(
        where,
        `Permission denied on the Incus socket ${where}: run as root or as a member of the incus-admin group.`,
        { cause: err },
      );
    }
    if (code === CERT_PIN_MISMATCH || isTlsVerifyCode(code)) {
      return new IncusTlsError(where, `TLS connection to Incus at ${where} rejected: ${errorMessage(err)}`, { cause: err });
    }
    if (UNREACHABLE_CODES.has(code)) {
      const why = code === 'ENOENT' ? 'the socket does not exist' : code === 'ECONNREFUSED' ? 'nothing is listening' : code;
      return new IncusUnreachableError(
        where,
        `Incus is not reachable at ${where} (${why}). Is incusd running? Start it (systemctl start incus, ` +
          'or scripts/incus-setup.sh on a test host) or point anklume at the right socket or URL.',
        { cause: err },
      );
    }
    // axios's own timeout (clarifyTimeoutError off): `timeout of <n>ms exceeded`.
    if (code === 'ECONNABORTED' && /timeout/i.test(errorMessage(err))) {
      return new IncusRequestTimeoutError(where, { method, path, timeoutMs }, { cause: err });
    }
    return new IncusUnreachableError(where, `Lost the connection to Incus at ${where} during ${method} ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

function withSignal<T extends object>(options: T, signal: AbortSignal | undefined): T & { signal?: AbortSignal } {
  return signal === undefined ? options : { ...options, signal };
}

/** A timeout option: a positive number (0 too where it means none), `Infinity` allowed. */
function positiveOption(name: string, value: number, options: { zero?: boolean } = {}): number {
  if (value > 0 || (options.zero === true && value === 0)) return value;
  throw new RangeError(`IncusClient option ${name} must be ${options.zero === true ? 'zero or positive' : 'positive'} (got ${value})`);
}

/** The operation an async answer (202) started; undefined for a sync answer. */
interface StartedOperation {
  id: string;
  description: string | undefined;
  /** Incus says it can cancel it (`DELETE /1.0/operations/<id>`). */
  mayCancel: boolean;
}

function startedOperation(res: Exchange): StartedOperation | undefined {
  if (res.status !== 202 && res.envelope.type !== 'async') return undefined;
  const started = res.envelope.metadata as Partial<Operation> | null;
  const id = (typeof started?.id === 'string' && started.id) || operationId(res.envelope.operation || headerString(res.headers['location']) || '');
  if (id === '') {
    throw new IncusApiError({ method: res.method, path: res.path, status: res.status, incusCode: 0, incusMessage: 'async answer without an operation id' });
  }
  return { id, description: started?.description, mayCancel: started?.may_cancel === true };
}

/** A bound on a call: a signal that aborts when the caller's does or when `ms` pass, and which of the two it was. */
interface Deadline {
  readonly signal: AbortSignal | undefined;
  /** True once the time ran out (not when the caller aborted). */
  expired(): boolean;
  remainingMs(): number;
  /** Stop the timer and let go of the caller's signal. */
  clear(): void;
}

/**
 * A {@link Deadline} of `ms` (`Infinity`, or beyond Node's timer range, is
 * none) linked to `parent`. Linked by hand rather than `AbortSignal.any`, so
 * a long-lived caller signal holds no reference once the call is over.
 */
function deadline(ms: number, parent: AbortSignal | undefined): Deadline {
  if (!(ms <= MAX_TIMER_MS)) return { signal: parent, expired: () => false, remainingMs: () => Infinity, clear: () => undefined };
  const controller = new AbortController();
  const end = Date.now() + ms;
  let fired = false;
  const timer = setTimeout(() => {
    fired = true;
    controller.abort(new DOMException(`deadline of ${ms} ms passed`, 'TimeoutError'));
  }, ms);
  const onAbort = (): void => controller.abort(parent?.reason);
  if (parent?.aborted === true) controller.abort(parent.reason);
  else parent?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    expired: () => fired,
    remainingMs: () => end - Date.now(),
    clear: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onAbort);
    },
  };
}

/** The UUID of an operation given its id or URL (`/1.0/operations/<id>[?project=..]`). */
function operationId(idOrUrl: string): string {
  const path = idOrUrl.split('?')[0] ?? '';
  const last = path.split('/').filter((s) => s !== '').pop() ?? '';
  return decodeURIComponent(last);
}

function parseEnvelope(res: AxiosResponse<string>): IncusEnvelope {
  const text = typeof res.data === 'string' ? res.data : '';
  let parsed: unknown;
  try {
    parsed = text === '' ? {} : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    // Not an Incus envelope (a proxy page, a truncated body): keep the text for the error.
    return { type: 'error', status: '', status_code: 0, operation: '', error_code: 0, error: `invalid response body: ${text.slice(0, 200)}`, metadata: null };
  }
  const o = parsed as Partial<IncusEnvelope> & Record<string, unknown>;
  // Unknown routes answer `{"error":"not found"}` without `type`.
  const type = o.type === 'sync' || o.type === 'async' || o.type === 'error' ? o.type : res.status >= 400 ? 'error' : 'sync';
  return {
    type,
    status: typeof o.status === 'string' ? o.status : '',
    status_code: typeof o.status_code === 'number' ? o.status_code : 0,
    operation: typeof o.operation === 'string' ? o.operation : '',
    error_code: typeof o.error_code === 'number' ? o.error_code : 0,
    error: typeof o.error === 'string' ? o.error : '',
    metadata: o.metadata ?? null,
  };
}

function headerString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** axios's own labels, less telling than the socket's errno code they wrap. */
const GENERIC_AXIOS_CODES = new Set(['ERR_BAD_RESPONSE', 'ERR_BAD_REQUEST', 'ERR_NETWORK', 'ERR_CANCELED', 'ERR_BAD_OPTION', 'ERR_BAD_OPTION_VALUE', 'ERR_INVALID_URL', 'ERR_NOT_SUPPORT']);

/** The most specific `code` on an error or its causes (`ENOENT`, `ECONNREFUSED`, a TLS code, ...). */
function errorCode(err: unknown): string {
  const codes: string[] = [];
  let e: unknown = err;
  for (let depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') codes.push(code);
    e = (e as { cause?: unknown }).cause;
  }
  return codes.find((c) => !GENERIC_AXIOS_CODES.has(c)) ?? codes[0] ?? '';
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** OpenSSL verification failures (`SELF_SIGNED_CERT_IN_CHAIN`, ...) and Node TLS errors. */
function isTlsVerifyCode(code: string): boolean {
  return (
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME_MISMATCH/.test(code)
  );
}
