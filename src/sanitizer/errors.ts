import { AnklumeError } from '../shared/errors.js';

/**
 * The engine could not sanitize (or could not be built). The gateway maps it to
 * the API's own error and sends nothing upstream: failing closed is the point.
 */
export class SanitizeError extends AnklumeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SANITIZE', message, options);
  }
}
