import type { IncomingHttpHeaders } from 'node:http';
import { anthropic } from './apis/anthropic.js';
import { ollama } from './apis/ollama.js';
import { openai } from './apis/openai.js';
import type { ApiAdapter } from './apis/walk.js';
import type { ApiFormat } from './errors.js';

/** One API endpoint the gateway proxies. */
export interface Endpoint {
  /** Metric label and audit field: `anthropic.messages`, `ollama.chat`… */
  readonly name: string;
  readonly api: ApiFormat;
  readonly adapter: ApiAdapter;
  /** The request has a JSON body whose text fields are rewritten. */
  readonly jsonBody: boolean;
  /** Path on a cloud upstream (the client's own path; the query is kept). */
  readonly cloudPath: string;
  /** Path on the local Ollama: Ollama serves Anthropic's /v1/messages and OpenAI's /v1/chat/completions itself. */
  readonly localPath: string;
}

function ep(name: string, api: ApiFormat, jsonBody: boolean, path: string): Endpoint {
  const adapter = api === 'anthropic' ? anthropic : api === 'openai' ? openai : ollama;
  return { name, api, adapter, jsonBody, cloudPath: path, localPath: path };
}

const POST: Readonly<Record<string, Endpoint>> = {
  '/v1/messages': ep('anthropic.messages', 'anthropic', true, '/v1/messages'),
  '/v1/messages/count_tokens': ep('anthropic.count_tokens', 'anthropic', true, '/v1/messages/count_tokens'),
  '/v1/chat/completions': ep('openai.chat_completions', 'openai', true, '/v1/chat/completions'),
  '/api/chat': ep('ollama.chat', 'ollama', true, '/api/chat'),
  '/api/generate': ep('ollama.generate', 'ollama', true, '/api/generate'),
  // Probes Ollama clients make: passed through, bodies unchanged (a model name).
  '/api/show': ep('ollama.show', 'ollama', false, '/api/show'),
};

const GET: Readonly<Record<string, Endpoint>> = {
  '/api/tags': ep('ollama.tags', 'ollama', false, '/api/tags'),
  '/api/version': ep('ollama.version', 'ollama', false, '/api/version'),
};

/**
 * The endpoint of a request, or null. `GET /v1/models` is both Anthropic's and
 * OpenAI's: an `anthropic-version` header (every Anthropic SDK sends it) says
 * which upstream to ask.
 */
export function endpointOf(method: string, pathname: string, headers: IncomingHttpHeaders): Endpoint | null {
  if (method === 'POST') return POST[pathname] ?? null;
  if (method !== 'GET') return null;
  if (pathname === '/v1/models' || pathname.startsWith('/v1/models/')) {
    return headers['anthropic-version'] !== undefined ? ep('anthropic.models', 'anthropic', false, pathname) : ep('openai.models', 'openai', false, pathname);
  }
  return GET[pathname] ?? null;
}

/** The API a path belongs to, for an error on a path we do not serve. */
export function apiOfPath(pathname: string): ApiFormat {
  if (pathname.startsWith('/api/')) return 'ollama';
  if (pathname.startsWith('/v1/chat/') || pathname.startsWith('/v1/completions') || pathname.startsWith('/v1/embeddings')) return 'openai';
  return 'anthropic';
}
