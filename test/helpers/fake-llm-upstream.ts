import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { buildRuntime, type GatewayRuntime, type SanitizerEngine } from '../../src/gateway/runtime.js';
import { GatewayServer } from '../../src/gateway/server.js';
import { formatHolderFile } from '../../src/shared/ai-access-file.js';
import { createLogger } from '../../src/shared/logger.js';
import { buildDictionary, createSanitizer } from '../../src/sanitizer/index.js';

/**
 * A fake LLM upstream on 127.0.0.1: a real HTTP server that records every
 * request (headers and body, as received) and answers in the Anthropic,
 * OpenAI or Ollama format, streamed or not. It echoes the text it received
 * (so pseudonyms come back in the answer and must be restored), answers with
 * a tool call carrying that text when the request offers tools, and writes
 * streamed answers in many small pieces at awkward byte offsets (splitting
 * events, JSON and multi-byte characters).
 */

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  /** The body as received, text. */
  readonly raw: string;
  /** Parsed JSON, or undefined. */
  readonly body: any;
  /** Set when the connection closed before the answer was complete (the gateway aborted). */
  aborted: boolean;
}

/** Overrides the built-in answer for a test: write anything, or return false to fall back. */
export type Override = (req: RecordedRequest, res: http.ServerResponse) => boolean | Promise<boolean>;

export interface FakeLlmUpstream {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Requests as they begin to arrive (headers read, before the body): what a gateway sent, and when it started sending it. */
  readonly started: { readonly url: string; readonly contentLength: number }[];
  /** Replace the answer (until reset). */
  override(fn: Override | undefined): void;
  /** Byte sizes the streamed answers are cut into, cycled. */
  chunkSizes: number[];
  /** Answer text deltas this many characters at a time. */
  deltaChars: number;
  close(): Promise<void>;
}

/** Everything the client said last, as one string: what the fake echoes. */
export function echoText(path: string, body: any): string {
  if (body === undefined || body === null) return '';
  if (path.startsWith('/api/generate')) return String(body.prompt ?? '');
  const messages: any[] = Array.isArray(body.messages) ? body.messages : [];
  const last = messages[messages.length - 1];
  if (last === undefined) return '';
  const content = last.content;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((b: any): any => {
      if (b.type === 'text') return b.text;
      if (b.type === 'tool_result') return typeof b.content === 'string' ? b.content : ((b.content ?? []) as { text?: string }[]).map((c) => c.text ?? '').join(' ');
      return '';
    })
    .join(' ');
}

function anthropicMessage(req: RecordedRequest, text: string): any {
  const content: any[] = [{ type: 'text', text: `You said: ${text}` }];
  if (Array.isArray(req.body?.tools) && req.body.tools.length > 0) {
    content.push({ type: 'tool_use', id: 'toolu_01', name: req.body.tools[0].name, input: { command: `echo ${text}`, nested: { list: [text] } } });
  }
  return {
    id: 'msg_fake',
    type: 'message',
    role: 'assistant',
    model: req.body?.model ?? 'claude-test',
    content,
    stop_reason: content.length > 1 ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: 10 },
  };
}

function pieces(text: string, n: number): string[] {
  const out: string[] = [];
  // Code points, not UTF-16 units: a delta never holds half a surrogate pair.
  const chars = [...text];
  for (let i = 0; i < chars.length; i += n) out.push(chars.slice(i, i + n).join(''));
  return out.length === 0 ? [''] : out;
}

function sse(event: string | undefined, data: unknown): string {
  return `${event === undefined ? '' : `event: ${event}\n`}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

function anthropicStream(req: RecordedRequest, text: string, n: number): string {
  const msg = anthropicMessage(req, text);
  let out = sse('message_start', { type: 'message_start', message: { ...msg, content: [], stop_reason: null, usage: { input_tokens: 10, output_tokens: 1 } } });
  // A thinking block first: it must pass untouched, pseudonyms and all (its signature covers it).
  out += sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } });
  for (const p of pieces(`Thinking about ${text}`, n)) out += sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: p } });
  out += sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'c2lnbmF0dXJl' } });
  out += sse('content_block_stop', { type: 'content_block_stop', index: 0 });
  out += sse('ping', { type: 'ping' });
  msg.content.forEach((block: any, i: number) => {
    const index = i + 1;
    if (block.type === 'text') {
      out += sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      for (const p of pieces(block.text, n)) out += sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: p } });
    } else {
      out += sse('content_block_start', { type: 'content_block_start', index, content_block: { ...block, input: {} } });
      for (const p of pieces(JSON.stringify(block.input), n)) out += sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: p } });
    }
    out += sse('content_block_stop', { type: 'content_block_stop', index });
  });
  out += sse('message_delta', { type: 'message_delta', delta: { stop_reason: msg.stop_reason, stop_sequence: null }, usage: { output_tokens: 10 } });
  out += sse('message_stop', { type: 'message_stop' });
  return out;
}

function openaiCompletion(req: RecordedRequest, text: string): any {
  const message: any = { role: 'assistant', content: `You said: ${text}`, refusal: null };
  if (Array.isArray(req.body?.tools) && req.body.tools.length > 0) {
    message.tool_calls = [{ id: 'call_1', type: 'function', function: { name: req.body.tools[0].function.name, arguments: JSON.stringify({ command: `echo ${text}` }) } }];
  }
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 1,
    model: req.body?.model ?? 'gpt-test',
    choices: [{ index: 0, message, finish_reason: message.tool_calls === undefined ? 'stop' : 'tool_calls', logprobs: null }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
}

function openaiStream(req: RecordedRequest, text: string, n: number): string {
  const full = openaiCompletion(req, text);
  const m = full.choices[0].message;
  const chunk = (delta: any, finish: string | null = null): string =>
    sse(undefined, { id: full.id, object: 'chat.completion.chunk', created: 1, model: full.model, choices: [{ index: 0, delta, finish_reason: finish }] });
  let out = chunk({ role: 'assistant', content: '' });
  for (const p of pieces(m.content, n)) out += chunk({ content: p });
  if (m.tool_calls !== undefined) {
    const call = m.tool_calls[0];
    out += chunk({ tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] });
    for (const p of pieces(call.function.arguments, n)) out += chunk({ tool_calls: [{ index: 0, function: { arguments: p } }] });
  }
  out += chunk({}, full.choices[0].finish_reason);
  out += sse(undefined, '[DONE]');
  return out;
}

function ollamaLines(req: RecordedRequest, text: string, n: number, stream: boolean): string {
  const generate = req.url.startsWith('/api/generate');
  const answer = `You said: ${text}`;
  const base = { model: req.body?.model ?? 'llama-test', created_at: '2026-01-01T00:00:00Z' };
  const last = { ...base, done: true, done_reason: 'stop', total_duration: 1, eval_count: 1 };
  const tools = Array.isArray(req.body?.tools) && req.body.tools.length > 0 ? [{ function: { name: req.body.tools[0].function.name, arguments: { command: `echo ${text}` } } }] : undefined;
  if (!stream) {
    return JSON.stringify(generate ? { ...last, response: answer } : { ...last, message: { role: 'assistant', content: answer, ...(tools === undefined ? {} : { tool_calls: tools }) } });
  }
  let out = '';
  for (const p of pieces(answer, n)) out += `${JSON.stringify(generate ? { ...base, response: p, done: false } : { ...base, message: { role: 'assistant', content: p }, done: false })}\n`;
  if (tools !== undefined) out += `${JSON.stringify({ ...base, message: { role: 'assistant', content: '', tool_calls: tools }, done: false })}\n`;
  out += `${JSON.stringify(generate ? { ...last, response: '' } : { ...last, message: { role: 'assistant', content: '' } })}\n`;
  return out;
}

/** Write `text` in pieces of the given byte sizes, yielding to the event loop between pieces so they leave as separate TCP segments. */
async function writeInPieces(res: http.ServerResponse, text: string, sizes: number[]): Promise<void> {
  const bytes = Buffer.from(text, 'utf8');
  let i = 0;
  let k = 0;
  while (i < bytes.length && !res.destroyed) {
    const n = sizes[k++ % sizes.length] ?? 7;
    res.write(bytes.subarray(i, i + n));
    i += n;
    await new Promise((r) => setImmediate(r));
  }
  res.end();
}

/** `host`: loopback by default; the e2e tests listen where containers reach the host. */
export async function startFakeLlmUpstream(host = '127.0.0.1'): Promise<FakeLlmUpstream> {
  const requests: RecordedRequest[] = [];
  const started: { url: string; contentLength: number }[] = [];
  let overrideFn: Override | undefined;
  const fake = {
    chunkSizes: [1, 2, 3, 5, 7, 11, 13, 17, 64],
    deltaChars: 4,
  };

  const server = http.createServer((req, res) => {
    started.push({ url: req.url ?? '', contentLength: Number(req.headers['content-length'] ?? NaN) });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: any;
      try {
        body = raw === '' ? undefined : JSON.parse(raw);
      } catch {
        body = undefined;
      }
      const rec: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw, body, aborted: false };
      requests.push(rec);
      res.on('close', () => {
        if (!res.writableFinished) rec.aborted = true;
      });
      void answer(rec, res);
    });
  });

  async function answer(rec: RecordedRequest, res: http.ServerResponse): Promise<void> {
    if (overrideFn !== undefined && (await overrideFn(rec, res))) return;
    const path = rec.url.split('?')[0] ?? '';
    const text = echoText(path, rec.body);
    const n = fake.deltaChars;
    if (path === '/v1/messages') {
      if (rec.body?.stream === true) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        return writeInPieces(res, anthropicStream(rec, text, n), fake.chunkSizes);
      }
      return json(res, 200, anthropicMessage(rec, text));
    }
    if (path === '/v1/messages/count_tokens') return json(res, 200, { input_tokens: rec.raw.length });
    if (path === '/v1/models') return json(res, 200, { data: [{ id: 'claude-test', type: 'model', display_name: 'Claude Test', created_at: '2026-01-01T00:00:00Z' }], has_more: false, first_id: 'claude-test', last_id: 'claude-test' });
    if (path === '/v1/chat/completions') {
      if (rec.body?.stream === true) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        return writeInPieces(res, openaiStream(rec, text, n), fake.chunkSizes);
      }
      return json(res, 200, openaiCompletion(rec, text));
    }
    if (path === '/api/chat' || path === '/api/generate') {
      const stream = rec.body?.stream !== false;
      if (!stream) return json(res, 200, JSON.parse(ollamaLines(rec, text, n, false)));
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      return writeInPieces(res, ollamaLines(rec, text, n, true), fake.chunkSizes);
    }
    if (path === '/api/tags') return json(res, 200, { models: [{ name: 'llama-test', model: 'llama-test' }] });
    if (path === '/api/version') return json(res, 200, { version: '0.12.0' });
    return json(res, 404, { error: `fake upstream: no ${rec.method} ${path}` });
  }

  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, {
    url: `http://127.0.0.1:${port}`,
    requests,
    started,
    override(fn: Override | undefined) {
      overrideFn = fn;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

export function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

// ---------------------------------------------------------------------------
// A gateway under test, wired to the fake upstream, in a temporary directory.


/**
 * The test infra: every routing case of spec/000 §4 has a domain.
 * pro local-first (holds exclusive AI access by default), perso local,
 * vault local + always, client cloud + always, rawcloud cloud without sanitizing, sandbox disposable,
 * ai-tools with the Ollama server, admin (may read the gateway's details).
 */
export const TEST_INFRA = `
project_name: test
global:
  addressing: { zone_base: 100 }
  ai_access_policy: exclusive
  ai_access_default: pro
  sanitizer: { mode: pseudonymize }
domains:
  pro:
    trust_level: trusted
    subnet_id: 0
    ai_provider: local-first
    machines:
      pro-dev: { ip: 10.110.0.10 }
      pro-db: { ip: 10.110.0.11 }
  perso:
    trust_level: trusted
    subnet_id: 1
    ai_provider: local
    machines:
      perso-desktop: { ip: 10.110.1.10 }
  vault:
    trust_level: trusted
    subnet_id: 2
    ai_provider: local
    ai_sanitize: always
    machines:
      vault-box: { ip: 10.110.2.10 }
  client:
    trust_level: semi-trusted
    ai_provider: cloud
    ai_sanitize: always
    machines:
      client-gw: { ip: 10.120.1.10 }
  rawcloud:
    trust_level: untrusted
    ai_provider: cloud
    ai_sanitize: false
  ai-tools:
    trust_level: semi-trusted
    machines:
      gpu-server: { ip: 10.120.0.10, roles: [ollama_server] }
  sandbox:
    trust_level: disposable
    machines:
      sandbox-test: { ip: 10.150.0.10 }
  admin:
    trust_level: admin
    machines:
      admin-ctl: { ip: 10.100.0.10 }
`;

/** A source address inside each test domain's subnet. */
export const SOURCE = {
  pro: '10.110.0.10',
  perso: '10.110.1.10',
  vault: '10.110.2.10',
  client: '10.120.1.10',
  rawcloud: '10.140.0.5',
  sandbox: '10.150.0.10',
  'ai-tools': '10.120.0.10',
  admin: '10.100.0.10',
  /** The host's own address on pro's bridge: the host, not a member of pro. */
  host: '10.110.0.254',
} as const;

export const realEngine: SanitizerEngine = { buildDictionary, createSanitizer };

export interface TestGateway {
  readonly url: string;
  readonly dir: string;
  readonly server: GatewayServer;
  readonly runtime: GatewayRuntime;
  readonly auditPath: string;
  readonly holderFile: string;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  readonly upstream: FakeLlmUpstream;
  /** Default: the real engine of src/sanitizer. */
  readonly engine?: SanitizerEngine;
  /** Merged over the default config (upstreams all point at the fake). */
  readonly config?: Record<string, unknown>;
  readonly infra?: string;
  /** Reuse a directory (a restart keeps state_dir, secrets and mappings). */
  readonly dir?: string;
  /**
   * Attribute requests to the address in the `x-anklume-test-source` header
   * (stripped before upstream like every x-anklume-* header). Off: the
   * production path, the socket's remote address.
   */
  readonly sourceHeader?: boolean;
  /** The holder file at start: `{ holder }` (a domain, or null for nobody) or 'missing'. Default: `pro` in a new directory, untouched in a reused one. */
  readonly holder?: { readonly holder: string | null } | 'missing';
}

export async function startTestGateway(options: TestGatewayOptions): Promise<TestGateway> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'anklume-gw-'));
  writeFileSync(join(dir, 'infra.yml'), options.infra ?? TEST_INFRA);
  const auditPath = join(dir, 'audit', 'audit.log');
  const holderFile = join(dir, 'ai-access-current');
  // What anklumed writes for TEST_INFRA's ai_access_default (the gateway itself has no default: no file, no access).
  if (options.holder !== undefined) {
    if (options.holder === 'missing') rmSync(holderFile, { force: true });
    else writeFileSync(holderFile, formatHolderFile(options.holder.holder));
  } else if (options.dir === undefined) writeFileSync(holderFile, formatHolderFile('pro'));
  const base = {
    listen: '127.0.0.1:0',
    infra: join(dir, 'infra.yml'),
    upstreams: { anthropic: options.upstream.url, openai: options.upstream.url, ollama: options.upstream.url },
    state_dir: join(dir, 'state'),
    audit: { path: auditPath, enabled: true },
    ai_access: { holder_file: holderFile },
  };
  const merged = deepMerge(base, options.config ?? {});
  const configPath = join(dir, 'sanitizer.yml');
  writeFileSync(configPath, toYaml(merged));
  const runtime = await buildRuntime(parseGatewayConfig(toYaml(merged), configPath), { engine: options.engine ?? realEngine });
  const server = new GatewayServer({
    runtime,
    logger: createLogger({ name: 'gateway-test', level: 'silent', pretty: false }),
    ...(options.sourceHeader === false ? {} : { sourceAddress: (req: http.IncomingMessage) => (req.headers['x-anklume-test-source'] as string | undefined) ?? req.socket.remoteAddress }),
  });
  const address = await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    url: `http://127.0.0.1:${address.port}`,
    dir,
    server,
    runtime,
    auditPath,
    holderFile,
    async close() {
      await server.close(1000);
      runtime.close();
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = v !== null && typeof v === 'object' && !Array.isArray(v) && prev !== null && typeof prev === 'object' && !Array.isArray(prev) ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}
