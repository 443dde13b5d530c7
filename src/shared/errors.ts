/**
 * One base error with a literal `code` and an optional `cause` (STYLE.md §3).
 * Boundaries subclass it; the CLI maps codes to exit statuses and one clear line,
 * the daemon logs and requeues, the gateway answers with the API's own error JSON.
 */
export class AnklumeError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/** A command line that cannot be understood: exit status 2. */
export class UsageError extends AnklumeError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** Describe anything thrown in one line, without a stack. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
