import { AnklumeError } from '../shared/errors.js';

/** The three wire formats the gateway speaks; errors are answered in the caller's own. */
export type ApiFormat = 'anthropic' | 'openai' | 'ollama';

/**
 * An error the gateway answers itself (nothing or nothing more goes upstream).
 * `status` is the HTTP status; `kind` a stable code, also the OpenAI `code`.
 */
export class GatewayError extends AnklumeError {
  readonly status: number;

  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
  }
}

/** The gateway's config or the infra.yml it reads is unusable: the program exits 1 (fail closed). */
export class GatewayConfigError extends AnklumeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GATEWAY_CONFIG', message, options);
  }
}

/** Anthropic's error `type` for a status (docs.anthropic.com/en/api/errors). */
function anthropicType(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 504:
      return 'timeout_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/** OpenAI's error `type` for a status. */
function openaiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

/** The JSON body of an error in the API's own envelope. */
export function errorBody(api: ApiFormat, error: GatewayError, requestId: string): unknown {
  switch (api) {
    case 'anthropic':
      return { type: 'error', error: { type: anthropicType(error.status), message: error.message }, request_id: requestId };
    case 'openai':
      return { error: { message: error.message, type: openaiType(error.status), param: null, code: error.code } };
    case 'ollama':
      return { error: error.message };
  }
}
