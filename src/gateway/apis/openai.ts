import type { DomainSanitizer } from '../../sanitizer/types.js';
import { formatSseEvent, sseCodec } from '../streams/sse.js';
import type { TextCodec } from '../streams/transform.js';
import { binary, JSON_SCHEMA, JSON_TEXT, object, select, STRUCTURE, TEXT, typeOf, type Shape } from './request-shape.js';
import { isObject, OPAQUE_KEYS, Restorers, rewriteField, rewriteJsonText, rewriteLeaves, type ApiAdapter, type Json, type JsonObject, type Rewrite } from './walk.js';

/**
 * OpenAI Chat Completions (`/v1/chat/completions`; Ollama serves the same
 * path). Tool-call arguments are JSON inside a string: parsed, rewritten leaf
 * by leaf, serialised again. llm-apis.md §4.2.
 */

/** Text fields of a message or a delta that a model or a person wrote. */
const TEXT_FIELDS = ['content', 'refusal', 'reasoning_content', 'reasoning'] as const;

function rewriteToolCalls(calls: Json | undefined, rw: Rewrite): void {
  if (!Array.isArray(calls)) return;
  for (const call of calls) {
    if (!isObject(call) || !isObject(call.function)) continue;
    if (typeof call.function.arguments === 'string') call.function.arguments = rewriteJsonText(call.function.arguments, rw);
  }
}

/** Restores a message or a whole answer's message (the answer direction). */
function rewriteMessage(m: JsonObject, rw: Rewrite): void {
  for (const field of TEXT_FIELDS) rewriteField(m, field, rw);
  if (Array.isArray(m.content)) {
    for (const part of m.content) {
      if (!isObject(part)) continue;
      if (part.type === 'text') rewriteField(part, 'text', rw);
      else if (part.type !== 'image_url' && part.type !== 'input_audio' && part.type !== 'file') rewriteLeaves(part, rw, OPAQUE_KEYS);
    }
  }
  rewriteToolCalls(m.tool_calls, rw);
  if (isObject(m.function_call) && typeof m.function_call.arguments === 'string') m.function_call.arguments = rewriteJsonText(m.function_call.arguments, rw);
}

/** A content part, by type: text is text, images and audio and files are binary (or a URL the API fetches). */
const PART: Shape = select((part) => {
  switch (typeOf(part)) {
    case 'text':
      return object({ type: STRUCTURE, text: TEXT });
    case 'image_url':
      return object({ type: STRUCTURE, image_url: object({ url: { kind: 'data-or-url', what: 'image' }, detail: STRUCTURE }) });
    case 'input_audio':
      return object({ type: STRUCTURE, input_audio: object({ data: binary('audio'), format: STRUCTURE }) });
    case 'file':
      return object({ type: STRUCTURE, file: object({ file_data: binary('file'), file_id: STRUCTURE, filename: TEXT }) });
    case 'refusal':
      return object({ type: STRUCTURE, refusal: TEXT });
    default:
      return object({ type: STRUCTURE });
  }
});

const FUNCTION_CALL = object({ id: STRUCTURE, type: STRUCTURE, function: object({ name: STRUCTURE, arguments: JSON_TEXT }), custom: object({ name: STRUCTURE, input: TEXT }) });

/** Chat Completions request: llm-apis.md §4.2. */
export const OPENAI_REQUEST: Shape = object({
  model: STRUCTURE,
  messages: object({
    role: STRUCTURE,
    // `name` is a participant's name someone chose: text.
    content: PART,
    tool_calls: FUNCTION_CALL,
    tool_call_id: STRUCTURE,
    function_call: object({ name: STRUCTURE, arguments: JSON_TEXT }),
    audio: object({ id: STRUCTURE }),
  }),
  tools: object({
    type: STRUCTURE,
    function: object({ name: STRUCTURE, description: TEXT, parameters: JSON_SCHEMA, strict: STRUCTURE }),
    custom: object({ name: STRUCTURE, description: TEXT, format: object({ type: STRUCTURE, syntax: STRUCTURE }) }),
  }),
  functions: object({ name: STRUCTURE, description: TEXT, parameters: JSON_SCHEMA }),
  tool_choice: object({ type: STRUCTURE, function: object({ name: STRUCTURE }), custom: object({ name: STRUCTURE }), allowed_tools: object({ mode: STRUCTURE, tools: object({ type: STRUCTURE, function: object({ name: STRUCTURE }) }) }) }, STRUCTURE),
  function_call: object({ name: STRUCTURE }, STRUCTURE),
  response_format: object({ type: STRUCTURE, json_schema: object({ name: STRUCTURE, description: TEXT, schema: JSON_SCHEMA, strict: STRUCTURE }) }),
  // `prediction.content` is often a whole file: text (a string or text parts).
  prediction: object({ type: STRUCTURE, content: PART }),
  stream_options: object({ include_usage: STRUCTURE, include_obfuscation: STRUCTURE }),
  reasoning_effort: STRUCTURE,
  service_tier: STRUCTURE,
  modalities: STRUCTURE,
  verbosity: STRUCTURE,
  audio: object({ voice: STRUCTURE, format: STRUCTURE }),
  logit_bias: STRUCTURE,
  // stop, metadata, user, safety_identifier, prompt_cache_key, web_search_options, anything new: text.
});

export const openai: ApiAdapter = {
  request: OPENAI_REQUEST,

  restoreResponse(body, rw) {
    if (!isObject(body)) return;
    if (Array.isArray(body.choices)) {
      for (const choice of body.choices) if (isObject(choice) && isObject(choice.message)) rewriteMessage(choice.message, rw);
      return;
    }
    rewriteLeaves(body, rw, OPAQUE_KEYS);
  },

  streamCodec(sanitizer) {
    return openaiSseCodec(sanitizer);
  },
};

/**
 * Restores an OpenAI chat-completion SSE stream: per choice, the text fields
 * and each tool call's argument fragments (JSON-escaped originals). What is
 * held back goes out with the choice's finishing chunk, or in one extra chunk
 * before `[DONE]` (or the end of the stream).
 */
export function openaiSseCodec(sanitizer: DomainSanitizer): TextCodec {
  const restorers = new Restorers(sanitizer);
  let last: JsonObject = {};

  /** Put what choice `c`'s restorers held back into `delta`. */
  const flushChoice = (c: number, delta: JsonObject): void => {
    for (const { key, text } of restorers.flushPrefix(`${c}/`)) {
      if (text === '') continue;
      const [, field, tc] = key.split('/');
      if (field === 'tool') {
        const calls = Array.isArray(delta.tool_calls) ? delta.tool_calls : (delta.tool_calls = []);
        let call = calls.find((x) => isObject(x) && x.index === Number(tc)) as JsonObject | undefined;
        if (call === undefined) calls.push((call = { index: Number(tc), function: { arguments: '' } }));
        const fn = isObject(call.function) ? call.function : (call.function = { arguments: '' });
        fn.arguments = (typeof fn.arguments === 'string' ? fn.arguments : '') + text;
      } else if (field !== undefined) {
        delta[field] = (typeof delta[field] === 'string' ? delta[field] : '') + text;
      }
    }
  };

  const flushAll = (): string => {
    const choices: Json[] = [];
    const indexes = new Set(restorers.keys().map((k) => Number(k.split('/')[0])));
    for (const c of indexes) {
      const delta: JsonObject = {};
      flushChoice(c, delta);
      if (Object.keys(delta).length > 0) choices.push({ index: c, delta, finish_reason: null });
    }
    if (choices.length === 0) return '';
    const chunk = { id: last.id ?? null, object: 'chat.completion.chunk', created: last.created ?? 0, model: last.model ?? null, choices };
    return formatSseEvent(undefined, JSON.stringify(chunk));
  };

  const onEvent = (ev: { event: string | undefined; data: string | undefined; raw: string }): string => {
    if (ev.data === undefined) return ev.raw;
    if (ev.data.trim() === '[DONE]') return flushAll() + ev.raw;
    let data: Json;
    try {
      data = JSON.parse(ev.data) as Json;
    } catch {
      return ev.raw;
    }
    if (!isObject(data)) return ev.raw;
    if (!Array.isArray(data.choices)) {
      // A usage-only chunk (choices [] or null) or a mid-stream error.
      if (isObject(data.error)) rewriteLeaves(data, sanitizer.restore.bind(sanitizer), OPAQUE_KEYS);
      return data.error === undefined ? ev.raw : formatSseEvent(ev.event, JSON.stringify(data));
    }
    last = data;
    for (const choice of data.choices) {
      if (!isObject(choice)) continue;
      const c = typeof choice.index === 'number' ? choice.index : 0;
      const delta = isObject(choice.delta) ? choice.delta : undefined;
      if (delta !== undefined) {
        for (const field of TEXT_FIELDS) {
          const v = delta[field];
          if (typeof v === 'string') delta[field] = restorers.push(`${c}/${field}`, v);
        }
        if (Array.isArray(delta.tool_calls)) {
          for (const call of delta.tool_calls) {
            if (!isObject(call) || !isObject(call.function) || typeof call.function.arguments !== 'string') continue;
            const tc = typeof call.index === 'number' ? call.index : 0;
            call.function.arguments = restorers.push(`${c}/tool/${tc}`, call.function.arguments, true);
          }
        }
      }
      if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
        if (delta === undefined) choice.delta = {};
        flushChoice(c, isObject(choice.delta) ? choice.delta : {});
      }
    }
    return formatSseEvent(ev.event, JSON.stringify(data));
  };

  return sseCodec(onEvent, flushAll);
}
