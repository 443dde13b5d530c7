import { AnklumeError } from '../shared/errors.js';

/** Where a failed request went: enough to name it in one log line. */
export interface IncusRequestRef {
  method: string;
  /** Path with query, as sent: `/1.0/instances/c1?project=pro`. */
  path: string;
}

/**
 * Incus answered with an error envelope (`type: "error"`) or an HTTP error.
 * `incusCode` is the envelope's `error_code` (400, 404, 409, 412, 500, ...),
 * `incusMessage` Incus's own text, which users need verbatim.
 */
export class IncusApiError extends AnklumeError {
  readonly status: number;
  readonly incusCode: number;
  readonly incusMessage: string;
  readonly method: string;
  readonly path: string;

  constructor(
    init: IncusRequestRef & { status: number; incusCode: number; incusMessage: string },
    options?: { cause?: unknown; code?: string },
  ) {
    super(
      options?.code ?? 'INCUS_API',
      `Incus ${init.method} ${init.path} failed (${init.incusCode || init.status}): ${init.incusMessage || 'no message'}`,
      options,
    );
    this.status = init.status;
    this.incusCode = init.incusCode;
    this.incusMessage = init.incusMessage;
    this.method = init.method;
    this.path = init.path;
  }
}

/** The object does not exist (HTTP or `error_code` 404). */
export class IncusNotFoundError extends IncusApiError {
  constructor(init: IncusRequestRef & { status: number; incusCode: number; incusMessage: string }, options?: { cause?: unknown }) {
    super(init, { ...options, code: 'INCUS_NOT_FOUND' });
  }
}

/** Incus cannot be reached: socket missing, nobody listening, connection lost. */
export class IncusUnreachableError extends AnklumeError {
  /** Socket path or URL we tried. */
  readonly endpoint: string;

  constructor(endpoint: string, message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'INCUS_UNREACHABLE', message, options);
    this.endpoint = endpoint;
  }
}

/**
 * Incus did not answer one request within the request timeout
 * (`--incus-timeout`): hung or overloaded. A kind of unreachable, so callers
 * that treat Incus as down keep doing so.
 */
export class IncusRequestTimeoutError extends IncusUnreachableError {
  readonly method: string;
  readonly path: string;
  readonly timeoutMs: number;

  constructor(endpoint: string, init: IncusRequestRef & { timeoutMs: number }, options?: { cause?: unknown }) {
    super(endpoint, `Incus at ${endpoint} did not answer ${init.method} ${init.path} within ${formatSeconds(init.timeoutMs / 1000)}`, { ...options, code: 'INCUS_TIMEOUT' });
    this.method = init.method;
    this.path = init.path;
    this.timeoutMs = init.timeoutMs;
  }
}

/** The caller may not talk to Incus: EACCES on the socket, or HTTP 403. */
export class IncusPermissionError extends AnklumeError {
  readonly endpoint: string;
  /** Set when Incus itself refused (403): its message. */
  readonly incusMessage: string | undefined;

  constructor(endpoint: string, message: string, options?: { cause?: unknown; incusMessage?: string }) {
    super('INCUS_PERMISSION', message, options);
    this.endpoint = endpoint;
    this.incusMessage = options?.incusMessage;
  }
}

/**
 * An async operation ended in failure or was cancelled. `operationError` is
 * the operation's `err` (or the `/wait` error body when the operation was
 * already gone), i.e. Incus's explanation.
 */
export class IncusOperationError extends AnklumeError {
  readonly operationId: string;
  /** Final status code of the operation (400 failure, 401 cancelled), 0 if unknown. */
  readonly statusCode: number;
  readonly operationError: string;
  /** The write that started the operation. */
  readonly method: string;
  readonly path: string;

  constructor(
    init: IncusRequestRef & { operationId: string; statusCode: number; operationError: string; description?: string | undefined },
    options?: { cause?: unknown },
  ) {
    const what = init.description ? `${init.description} (${init.method} ${init.path})` : `${init.method} ${init.path}`;
    super('INCUS_OPERATION', `Incus operation failed: ${what}: ${init.operationError || 'no message'}`, options);
    this.operationId = init.operationId;
    this.statusCode = init.statusCode;
    this.operationError = init.operationError;
    this.method = init.method;
    this.path = init.path;
  }
}

/** Waiting for an operation took longer than allowed (`operationTimeoutSeconds`); it may still finish in Incus. */
export class IncusOperationTimeoutError extends AnklumeError {
  readonly operationId: string;
  readonly timeoutSeconds: number;

  constructor(operationId: string, timeoutSeconds: number, origin?: Partial<IncusRequestRef> & { description?: string | undefined }) {
    const what = [origin?.description, origin?.method !== undefined && origin.path !== undefined ? `${origin.method} ${origin.path}` : undefined].filter((s) => s !== undefined && s !== '');
    super('INCUS_OPERATION_TIMEOUT', `Incus operation ${operationId}${what.length > 0 ? ` (${what.join(', ')})` : ''} still running after ${formatSeconds(timeoutSeconds)}; it may still finish`);
    this.operationId = operationId;
    this.timeoutSeconds = timeoutSeconds;
  }
}

/**
 * A command run in an instance did not finish within its exec timeout
 * (`--exec-timeout`, or the caller's). The client has already tried to stop
 * it (see {@link IncusClient.exec}).
 */
export class IncusExecTimeoutError extends AnklumeError {
  readonly project: string;
  readonly instance: string;
  readonly command: readonly string[];
  readonly timeoutSeconds: number;
  /** The exec operation, when Incus had created one. */
  readonly operationId: string | undefined;
  /** True when Incus accepted the cancel (`DELETE /1.0/operations/<id>`); Incus 6 cannot cancel a recorded exec. */
  readonly cancelled: boolean;

  constructor(
    init: { project: string; instance: string; command: readonly string[]; timeoutSeconds: number; operationId?: string | undefined; cancelled?: boolean },
    options?: { cause?: unknown },
  ) {
    super('INCUS_EXEC_TIMEOUT', `exec "${describeCommand(init.command)}" in ${init.project}/${init.instance} timed out after ${formatSeconds(init.timeoutSeconds)}`, options);
    this.project = init.project;
    this.instance = init.instance;
    this.command = init.command;
    this.timeoutSeconds = init.timeoutSeconds;
    this.operationId = init.operationId;
    this.cancelled = init.cancelled ?? false;
  }
}

/** The TLS server did not present the pinned certificate. */
export class IncusTlsError extends AnklumeError {
  readonly endpoint: string;

  constructor(endpoint: string, message: string, options?: { cause?: unknown }) {
    super('INCUS_TLS', message, options);
    this.endpoint = endpoint;
  }
}

/** True for "this object does not exist", whichever way Incus said it. */
export function isNotFound(err: unknown): err is IncusApiError {
  return err instanceof IncusApiError && (err.status === 404 || err.incusCode === 404);
}

/** True for an If-Match mismatch (HTTP 412): someone changed the object since we read it. */
export function isPreconditionFailed(err: unknown): err is IncusApiError {
  return err instanceof IncusApiError && (err.status === 412 || err.incusCode === 412);
}

/** True for "already exists" (HTTP 409). */
export function isConflict(err: unknown): err is IncusApiError {
  return err instanceof IncusApiError && (err.status === 409 || err.incusCode === 409);
}

/** `60 s`, `0.2 s`: seconds for messages. */
function formatSeconds(seconds: number): string {
  return `${Number(seconds.toFixed(3))} s`;
}

/** A command as a shell would show it (arguments with spaces or quotes single-quoted), cut at 120 characters. */
function describeCommand(command: readonly string[]): string {
  const text = command.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(' ');
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
