import http from 'node:http';
import type { StatusDocument } from '../controllers/status.js';
import type { SwitchAnswer } from '../controllers/ai-access/switch.js';
import { parseApplyEvent, parseApplySummary, type ApplyEvent, type ApplyRequest, type ApplySummary } from '../controllers/apply-protocol.js';
import { AnklumeError } from '../shared/errors.js';

/**
 * Client of anklumed's control API: HTTP/1.1 over its unix socket, JSON bodies
 * (DESIGN.md §2). `GET /v1/status` → the StatusDocument; `POST /v1/reconcile`
 * `{"domains": [...]}` → 202 `{"queued": [...]}`; `POST /v1/switch-ai`;
 * `POST /v1/apply` → NDJSON lines as the pass goes (see apply-protocol.ts);
 * errors are `{"error": string}`.
 */

/** The group the install script creates and anklumed gives the control socket to. */
export const CONTROL_SOCKET_GROUP = 'anklume';

/** Nobody listens on the control socket: the file is missing, or stale (a daemon that died). */
export class DaemonNotRunningError extends AnklumeError {
  readonly socketPath: string;

  constructor(socketPath: string, options?: { cause?: unknown }) {
    super('DAEMON_NOT_RUNNING', `anklumed is not running (no daemon at ${socketPath})`, options);
    this.socketPath = socketPath;
  }
}

/** The socket is there but this user may not connect to it (mode 0660, group anklume). */
export class DaemonPermissionError extends AnklumeError {
  readonly socketPath: string;

  constructor(socketPath: string, options?: { cause?: unknown }) {
    super(
      'DAEMON_PERMISSION',
      `permission denied on ${socketPath}: run as root, or join the group that owns the socket (usually "${CONTROL_SOCKET_GROUP}": sudo usermod -aG ${CONTROL_SOCKET_GROUP} "$USER", then log in again)`,
      options,
    );
    this.socketPath = socketPath;
  }
}

/** The daemon answered with an error status: its own message, verbatim. */
export class DaemonRequestError extends AnklumeError {
  readonly status: number;
  readonly daemonMessage: string;

  constructor(status: number, daemonMessage: string) {
    super('DAEMON_REQUEST', `anklumed refused the request (${status}): ${daemonMessage}`);
    this.status = status;
    this.daemonMessage = daemonMessage;
  }
}

/** The daemon did not answer in time, the connection broke, or the answer was not what the API promises. */
export class DaemonFailureError extends AnklumeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DAEMON_FAILURE', message, options);
  }
}

/** Connect errors that mean "no daemon there" rather than "a daemon we cannot use". */
const NOT_RUNNING_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'ENOTDIR']);

/** Stopping services and flushing VRAM can be slow; the daemon finishes the switch even if the CLI gives up. */
const SWITCH_TIMEOUT_MS = 10 * 60_000;

/** An apply streams a line per action start and outcome; one action (an image unpacked, a service deployed) may take minutes. */
const APPLY_IDLE_TIMEOUT_MS = 10 * 60_000;

export interface DaemonClientOptions {
  readonly socketPath: string;
  /** Give up on a request after this long (connect to last byte). Default 10 s. */
  readonly timeoutMs?: number;
}

export interface DaemonCallOptions {
  readonly signal?: AbortSignal;
}

/** anklumectl's side of the control API. One request per call; no state kept between calls. */
export class DaemonClient {
  readonly socketPath: string;
  private readonly timeoutMs: number;

  constructor(options: DaemonClientOptions) {
    this.socketPath = options.socketPath;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** The daemon's status document. */
  async getStatus(options: DaemonCallOptions = {}): Promise<StatusDocument> {
    const body = await this.request('GET', '/v1/status', undefined, options);
    // A light shape check: enough to tell an anklumed from something else on the socket.
    if (!isRecord(body) || !isRecord(body.daemon) || !isRecord(body.config) || !Array.isArray(body.domains)) {
      throw new DaemonFailureError(`${this.socketPath} answered GET /v1/status with something that is not a status document`);
    }
    return body as unknown as StatusDocument;
  }

  /** Queue these domains (all when empty) for a reconcile at user priority; resolves to what was queued. */
  async reconcile(domains: readonly string[], options: DaemonCallOptions = {}): Promise<string[]> {
    const body = await this.request('POST', '/v1/reconcile', domains.length === 0 ? {} : { domains }, options);
    if (!isRecord(body) || !Array.isArray(body.queued) || !body.queued.every((d) => typeof d === 'string')) {
      throw new DaemonFailureError(`${this.socketPath} answered POST /v1/reconcile without a "queued" list`);
    }
    return body.queued;
  }

  /**
   * Ask the daemon to switch AI access. A switch stops services and flushes
   * GPU memory: it may take minutes, so this call waits longer than others.
   * A failure midway comes back as an answer (ok: false, step, state), not a throw.
   */
  async switchAi(request: { domain: string; flush: boolean; dryRun: boolean }, options: DaemonCallOptions = {}): Promise<SwitchAnswer> {
    const body = await this.request('POST', '/v1/switch-ai', request, options, { timeoutMs: SWITCH_TIMEOUT_MS, acceptFailure: true });
    if (!isRecord(body) || typeof body.ok !== 'boolean' || !Array.isArray(body.progress)) {
      throw new DaemonFailureError(`${this.socketPath} answered POST /v1/switch-ai with something that is not a switch result`);
    }
    return body as unknown as SwitchAnswer;
  }

  /**
   * Ask the daemon to apply infra.yml now; each event is given to onEvent as
   * its line arrives, and the call resolves to the summary. A refusal before
   * the pass is a DaemonRequestError; a failure after it began, or a stream
   * that ends without a summary, a DaemonFailureError. Aborting the signal
   * closes the connection, which tells the daemon to stop the pass.
   */
  apply(request: ApplyRequest, onEvent: (event: ApplyEvent) => void, options: DaemonCallOptions = {}): Promise<ApplySummary> {
    const path = '/v1/apply';
    const payload = JSON.stringify(request);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path,
          method: 'POST',
          agent: false,
          headers: { host: 'anklumed', accept: 'application/x-ndjson', 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
          // Idle time between two lines, not the length of the pass.
          timeout: APPLY_IDLE_TIMEOUT_MS,
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        },
        (res) => {
          const status = res.statusCode ?? 0;
          res.setEncoding('utf8');
          if (status !== 200) {
            let text = '';
            res.on('data', (c: string) => (text += c));
            res.on('end', () => reject(new DaemonRequestError(status, errorOf(text) || `HTTP ${status}`)));
            return;
          }
          let pending = '';
          let summary: ApplySummary | undefined;
          let failure: AnklumeError | undefined;
          const onLine = (line: string): void => {
            if (line.trim() === '' || failure !== undefined) return;
            let value: unknown;
            try {
              value = JSON.parse(line);
            } catch (err) {
              failure = new DaemonFailureError(`${this.socketPath} sent a line that is not JSON during the apply`, { cause: err });
              return;
            }
            const event = isRecord(value) && 'event' in value ? parseApplyEvent(value.event) : undefined;
            const last = isRecord(value) && 'summary' in value ? parseApplySummary(value.summary) : undefined;
            if (event !== undefined) onEvent(event);
            else if (last !== undefined) summary = last;
            else if (isRecord(value) && typeof value.error === 'string') failure = new DaemonFailureError(`anklumed failed during the apply: ${value.error}`);
            else failure = new DaemonFailureError(`${this.socketPath} sent a line that is not part of the apply protocol`);
          };
          res.on('data', (chunk: string) => {
            pending += chunk;
            let newline: number;
            while ((newline = pending.indexOf('\n')) >= 0) {
              onLine(pending.slice(0, newline));
              pending = pending.slice(newline + 1);
            }
          });
          res.on('error', (err) => reject(new DaemonFailureError(`the connection to ${this.socketPath} broke during the apply: ${err.message}`, { cause: err })));
          res.on('end', () => {
            onLine(pending);
            if (failure !== undefined) reject(failure);
            else if (summary !== undefined) resolve(summary);
            else reject(new DaemonFailureError(`anklumed at ${this.socketPath} ended the apply without a summary (did it stop?)`));
          });
        },
      );
      req.on('timeout', () => req.destroy(new DaemonFailureError(`anklumed at ${this.socketPath} sent nothing about the apply for ${APPLY_IDLE_TIMEOUT_MS / 60_000} minutes`)));
      req.on('error', (err) => reject(this.connectionError(err, options)));
      req.end(payload);
    });
  }

  /** Map a connection error to what it means for the user (no daemon, no permission, a broken daemon). */
  private connectionError(err: NodeJS.ErrnoException, options: DaemonCallOptions): Error {
    if (options.signal?.aborted === true) return err; // the AbortError: the caller stopped, nothing failed
    if (err instanceof AnklumeError) return err;
    if (err.code !== undefined && NOT_RUNNING_CODES.has(err.code)) return new DaemonNotRunningError(this.socketPath, { cause: err });
    if (err.code === 'EACCES' || err.code === 'EPERM') return new DaemonPermissionError(this.socketPath, { cause: err });
    return new DaemonFailureError(`cannot talk to anklumed at ${this.socketPath}: ${err.message}`, { cause: err });
  }

  private request(method: 'GET' | 'POST', path: string, body: unknown, options: DaemonCallOptions, call: { timeoutMs?: number; acceptFailure?: boolean } = {}): Promise<unknown> {
    const timeoutMs = call.timeoutMs ?? this.timeoutMs;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path,
          method,
          // A connection per request, closed after it: nothing keeps the CLI alive.
          agent: false,
          // Any Host works on a unix socket; name the daemon for its logs.
          headers: { host: 'anklumed', accept: 'application/json', ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }) },
          timeout: timeoutMs,
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(new DaemonFailureError(`the connection to ${this.socketPath} broke: ${err.message}`, { cause: err })));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            let parsed: unknown;
            try {
              parsed = text === '' ? undefined : JSON.parse(text);
            } catch (err) {
              reject(new DaemonFailureError(`${this.socketPath} answered ${method} ${path} (${status}) with a body that is not JSON`, { cause: err }));
              return;
            }
            if ((status >= 200 && status < 300) || (call.acceptFailure === true && status === 500 && isRecord(parsed) && parsed.ok === false)) resolve(parsed);
            else reject(new DaemonRequestError(status, isRecord(parsed) && typeof parsed.error === 'string' ? parsed.error : text.trim() || `HTTP ${status}`));
          });
        },
      );
      // `timeout` only emits: ending the request is ours to do.
      req.on('timeout', () => req.destroy(new DaemonFailureError(`anklumed at ${this.socketPath} did not answer ${method} ${path} within ${timeoutMs / 1000}s`)));
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.connectionError(err, options)));
      req.end(payload);
    });
  }
}

/** The daemon's `{"error": ...}`, or the text itself. */
function errorOf(text: string): string {
  try {
    const parsed: unknown = JSON.parse(text);
    if (isRecord(parsed) && typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON: say what came
  }
  return text.trim();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
