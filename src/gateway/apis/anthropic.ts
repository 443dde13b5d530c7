import type { DomainSanitizer } from '../../sanitizer/types.js';
import { formatSseEvent, sseCodec } from '../streams/sse.js';
import type { TextCodec } from '../streams/transform.js';
import { isObject, OPAQUE_KEYS, Restorers, rewriteField, rewriteLeaves, rewriteSchemaDescriptions, type ApiAdapter, type Json, type JsonObject, type Rewrite } from './walk.js';

/**
 * Anthropic Messages (`/v1/messages`, `/v1/messages/count_tokens`; also what
 * Ollama serves at `/v1/messages`). Field by field, per
 * ../shared/reference/llm-apis.md §4.1. Thinking blocks are never touched in
 * either direction: Anthropic checks their signature over the exact text.
 */

const THINKING = new Set(['thinking', 'redacted_thinking']);
/** A block's other strings are restored separately from its tool input. */
const OPAQUE_AND_INPUT: ReadonlySet<string> = new Set([...OPAQUE_KEYS, 'input']);

function sanitizeBlocks(blocks: Json, rw: Rewrite): void {
  if (!Array.isArray(blocks)) return;
  for (const block of blocks) if (isObject(block)) sanitizeBlock(block, rw);
}

/** Content that is either a string or a list of blocks; returns the rewritten value. */
function sanitizeContent(content: Json | undefined, rw: Rewrite): Json | undefined {
  if (typeof content === 'string') return rw(content);
  sanitizeBlocks(content ?? null, rw);
  return content;
}

function sanitizeBlock(block: JsonObject, rw: Rewrite): void {
  const type = block.type;
  if (typeof type === 'string' && THINKING.has(type)) return;
  switch (type) {
    case 'text':
      rewriteField(block, 'text', rw);
      if (block.citations !== undefined) rewriteLeaves(block.citations, rw, OPAQUE_KEYS);
      return;
    case 'image':
      // Pixels cannot be text-sanitized; a url source is a link the API fetches itself.
      return;
    case 'tool_use':
    case 'server_tool_use':
      // Every string value of the input, whatever its key (keys are the tool's schema).
      if (block.input !== undefined) block.input = rewriteLeaves(block.input, rw);
      return;
    case 'tool_result': {
      const content = sanitizeContent(block.content, rw);
      if (content !== undefined) block.content = content;
      return;
    }
    case 'document': {
      const source = block.source;
      if (isObject(source)) {
        if (source.type === 'text') rewriteField(source, 'data', rw);
        else if (source.type === 'content') {
          const content = sanitizeContent(source.content, rw);
          if (content !== undefined) source.content = content;
        }
        // base64 (PDF), url, file: opaque to a text sanitizer.
      }
      rewriteField(block, 'title', rw);
      rewriteField(block, 'context', rw);
      return;
    }
    default:
      // Unknown or server blocks (search results, web fetch…): every string but
      // structure and opaque payloads. Fail closed: new block types are sanitized too.
      rewriteLeaves(block, rw, OPAQUE_KEYS);
  }
}

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
  sanitizeRequest(body, rw) {
    const system = sanitizeContent(body.system, rw);
    if (system !== undefined) body.system = system;
    if (Array.isArray(body.messages)) {
      for (const m of body.messages) {
        if (!isObject(m)) continue;
        const content = sanitizeContent(m.content, rw);
        if (content !== undefined) m.content = content;
      }
    }
    if (Array.isArray(body.tools)) {
      for (const tool of body.tools) {
        if (!isObject(tool)) continue;
        rewriteField(tool, 'description', rw);
        if (tool.input_schema !== undefined) rewriteSchemaDescriptions(tool.input_schema, rw);
      }
    }
  },

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
