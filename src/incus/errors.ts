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

  constructor(endpoint: string, message: string, options?: { cause?: unknown }) {
    super('INCUS_UNREACHABLE', message, options);
    this.endpoint = endpoint;
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

/** Waiting for an operation took longer than the caller allowed; it may still finish. */
export class IncusOperationTimeoutError extends AnklumeError {
  readonly operationId: string;

  constructor(operationId: string, timeoutSeconds: number) {
    super('INCUS_OPERATION_TIMEOUT', `Incus operation ${operationId} still running after ${timeoutSeconds}s`);
    this.operationId = operationId;
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
