import type { DomainSanitizer } from '../../sanitizer/types.js';
import { formatSseEvent, sseCodec } from '../streams/sse.js';
import type { TextCodec } from '../streams/transform.js';
import { binary, CACHE_CONTROL, JSON_SCHEMA, lazy, object, OPAQUE, select, STRUCTURE, TEXT, typeOf, URL_SOURCE, type Shape } from './request-shape.js';
import { isObject, OPAQUE_KEYS, Restorers, rewriteLeaves, type ApiAdapter, type Json, type Rewrite } from './walk.js';

/**
 * Anthropic Messages (`/v1/messages`, `/v1/messages/count_tokens`; also what
 * Ollama serves at `/v1/messages`). Field by field, per
 * ../shared/reference/llm-apis.md §4.1. Signed thinking blocks are never
 * touched in either direction: Anthropic checks their signature over the
 * exact text. An unsigned one (a local model's reasoning) is text.
 */

const THINKING = new Set(['thinking', 'redacted_thinking']);
/** A block's other strings are restored separately from its tool input. */
const OPAQUE_AND_INPUT: ReadonlySet<string> = new Set([...OPAQUE_KEYS, 'input']);

/** Where an image or a document comes from: base64 is binary, a URL is fetched by the API, a file id is structure. */
const source = (what: string): Shape =>
  select((s) => {
    switch (typeOf(s)) {
      case 'base64':
        return object({ type: STRUCTURE, media_type: STRUCTURE, data: binary(what) });
      case 'url':
        return object({ type: STRUCTURE, url: URL_SOURCE });
      case 'file':
        return object({ type: STRUCTURE, file_id: STRUCTURE });
      case 'text':
        return object({ type: STRUCTURE, media_type: STRUCTURE, data: TEXT });
      case 'content':
        return object({ type: STRUCTURE, content: BLOCKS });
      default:
        return object({ type: STRUCTURE });
    }
  });

const CITATIONS = object({ type: STRUCTURE, document_index: STRUCTURE, start_char_index: STRUCTURE, end_char_index: STRUCTURE, file_id: STRUCTURE, encrypted_index: OPAQUE, search_result_index: STRUCTURE });

/** One content block, by type (llm-apis.md §4.1); an unknown type keeps only its type, ids and cache control. */
const BLOCK: Shape = lazy(() =>
  select((block) => {
    switch (typeOf(block)) {
      case 'text':
        return object({ type: STRUCTURE, text: TEXT, citations: CITATIONS, cache_control: CACHE_CONTROL });
      case 'image':
        return object({ type: STRUCTURE, source: source('image'), cache_control: CACHE_CONTROL });
      case 'document':
        return object({ type: STRUCTURE, source: source('document'), title: TEXT, context: TEXT, citations: object({ enabled: STRUCTURE }), cache_control: CACHE_CONTROL });
      case 'tool_use':
      case 'server_tool_use':
      case 'mcp_tool_use':
        // Every string value of the input, whatever its key (keys are the tool's schema).
        return object({ type: STRUCTURE, id: STRUCTURE, name: STRUCTURE, server_name: STRUCTURE, input: TEXT, cache_control: CACHE_CONTROL });
      case 'tool_result':
      case 'mcp_tool_result':
        return object({ type: STRUCTURE, tool_use_id: STRUCTURE, content: BLOCKS, is_error: STRUCTURE, cache_control: CACHE_CONTROL });
      case 'thinking':
        return { kind: 'thinking' };
      case 'redacted_thinking':
        return object({ type: STRUCTURE, data: OPAQUE });
      case 'web_search_tool_result':
        return object({
          type: STRUCTURE,
          tool_use_id: STRUCTURE,
          content: object({ type: STRUCTURE, url: URL_SOURCE, title: TEXT, encrypted_content: OPAQUE, page_age: TEXT, error_code: STRUCTURE }),
          cache_control: CACHE_CONTROL,
        });
      case 'search_result':
        return object({ type: STRUCTURE, source: TEXT, title: TEXT, content: BLOCKS, citations: object({ enabled: STRUCTURE }), cache_control: CACHE_CONTROL });
      case 'container_upload':
        return object({ type: STRUCTURE, file_id: STRUCTURE, cache_control: CACHE_CONTROL });
      default:
        // A block type this gateway does not know: everything but its type and ids is text (fail closed).
        return object({ type: STRUCTURE, id: STRUCTURE, tool_use_id: STRUCTURE, cache_control: CACHE_CONTROL });
    }
  }),
);
/** `content`: a string (text) or a list of blocks. */
const BLOCKS: Shape = BLOCK;

const TOOL = object({
  type: STRUCTURE,
  name: STRUCTURE,
  description: TEXT,
  input_schema: JSON_SCHEMA,
  cache_control: CACHE_CONTROL,
  // Server tools (web search, code execution…): their settings are enums and numbers, anything else text.
  max_uses: STRUCTURE,
  allowed_callers: STRUCTURE,
  strict: STRUCTURE,
});

/** The Messages request (and count_tokens): llm-apis.md §4.1. */
export const ANTHROPIC_REQUEST: Shape = object({
  model: STRUCTURE,
  max_tokens: STRUCTURE,
  stream: STRUCTURE,
  service_tier: STRUCTURE,
  container: STRUCTURE,
  system: BLOCKS,
  messages: object({ role: STRUCTURE, content: BLOCKS }),
  tools: TOOL,
  tool_choice: object({ type: STRUCTURE, name: STRUCTURE, disable_parallel_tool_use: STRUCTURE }),
  thinking: object({ type: STRUCTURE, budget_tokens: STRUCTURE, display: STRUCTURE }),
  output_format: object({ type: STRUCTURE, schema: JSON_SCHEMA }),
  output_config: object({ effort: STRUCTURE, format: object({ type: STRUCTURE, schema: JSON_SCHEMA }) }),
  // The API connects to these itself: one inside is refused like any other inside URL.
  mcp_servers: object({ type: STRUCTURE, name: STRUCTURE, url: URL_SOURCE }),
  // stop_sequences, metadata, mcp_servers, context_management and any field added later: text.
});

function restoreBlocks(blocks: Json | undefined, rw: Rewrite): void {
  if (!Array.isArray(blocks)) return;
  for (const block of blocks) {
    if (!isObject(block)) continue;
    if (typeof block.type === 'string' && THINKING.has(block.type)) continue;
    // tool_use input: all values, `name` included (it may be an instance name).
    if (block.input !== undefined) block.input = rewriteLeaves(block.input, rw);
    rewriteLeaves(block, rw, OPAQUE_AND_INPUT);
  }
}

export const anthropic: ApiAdapter = {
  request: ANTHROPIC_REQUEST,

  restoreResponse(body, rw) {
    if (!isObject(body)) return;
    if (body.type === 'message' || Array.isArray(body.content)) {
      restoreBlocks(body.content, rw);
      return;
    }
    // Errors and anything else: every string.
    rewriteLeaves(body, rw, OPAQUE_KEYS);
  },

  streamCodec(sanitizer) {
    return anthropicSseCodec(sanitizer);
  },
};

type BlockKind = 'text' | 'json' | 'opaque';

/**
 * Restores an Anthropic SSE stream event by event: text_delta per content
 * block index, input_json_delta with JSON-escaped originals, thinking and
 * signature deltas untouched. What a restorer held back is flushed as one more
 * delta just before the block's content_block_stop.
 */
export function anthropicSseCodec(sanitizer: DomainSanitizer): TextCodec {
  const restorers = new Restorers(sanitizer);
  const kinds = new Map<number, BlockKind>();
  const rw: Rewrite = (t) => sanitizer.restore(t);

  const flushBlock = (index: number): string => {
    const kind = kinds.get(index);
    kinds.delete(index);
    if (kind === undefined || kind === 'opaque') return '';
    const text = restorers.flush(String(index));
    if (text === '') return '';
    const delta = kind === 'text' ? { type: 'text_delta', text } : { type: 'input_json_delta', partial_json: text };
    return formatSseEvent('content_block_delta', JSON.stringify({ type: 'content_block_delta', index, delta }));
  };

  const onEvent = (ev: { event: string | undefined; data: string | undefined; raw: string }): string => {
    if (ev.data === undefined) return ev.raw;
    let data: Json;
    try {
      data = JSON.parse(ev.data) as Json;
    } catch {
      return ev.raw;
    }
    if (!isObject(data)) return ev.raw;
    const index = typeof data.index === 'number' ? data.index : -1;
    switch (data.type) {
      case 'content_block_start': {
        const block = data.content_block;
        const type = isObject(block) && typeof block.type === 'string' ? block.type : '';
        // tool_use and server_tool_use stream their input as partial JSON; text blocks as text.
        kinds.set(index, THINKING.has(type) ? 'opaque' : isObject(block) && 'input' in block ? 'json' : 'text');
        if (THINKING.has(type) || !isObject(block)) return ev.raw;
        restoreBlocks([block], rw);
        return formatSseEvent(ev.event, JSON.stringify(data));
      }
      case 'content_block_delta': {
        const delta = data.delta;
        if (!isObject(delta)) return ev.raw;
        if (delta.type === 'text_delta' && typeof delta.text === 'string') {
          delta.text = restorers.push(String(index), delta.text);
          // Everything held back: no event now, the text follows in a later one.
          return delta.text === '' ? '' : formatSseEvent(ev.event, JSON.stringify(data));
        }
        if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string') {
          delta.partial_json = restorers.push(String(index), delta.partial_json, true);
          return delta.partial_json === '' ? '' : formatSseEvent(ev.event, JSON.stringify(data));
        }
        if (delta.type === 'citations_delta') {
          rewriteLeaves(delta, rw, OPAQUE_KEYS);
          return formatSseEvent(ev.event, JSON.stringify(data));
        }
        // thinking_delta, signature_delta and anything unknown: verbatim.
        return ev.raw;
      }
      case 'content_block_stop':
        return flushBlock(index) + ev.raw;
      case 'message_stop': {
        let out = '';
        for (const i of [...kinds.keys()]) out += flushBlock(i);
        return out + ev.raw;
      }
      case 'error':
        rewriteLeaves(data, rw, OPAQUE_KEYS);
        return formatSseEvent(ev.event, JSON.stringify(data));
      default:
        // message_start (empty content), message_delta, ping: verbatim.
        return ev.raw;
    }
  };

  // A stream cut before its stops: still hand on what was held back.
  return sseCodec(onEvent, () => [...kinds.keys()].map(flushBlock).join(''));
}
