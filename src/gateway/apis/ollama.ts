import type { DomainSanitizer } from '../../sanitizer/types.js';
import { ndjsonCodec, type TextCodec } from '../streams/transform.js';
import { binary, JSON_SCHEMA, object, STRUCTURE, TEXT, type Shape } from './request-shape.js';
import { isObject, Restorers, rewriteField, rewriteLeaves, type ApiAdapter, type Json, type JsonObject, type Rewrite } from './walk.js';

/**
 * Ollama's native API (`/api/chat`, `/api/generate`), llm-apis.md §4.3.
 * Answers stream as NDJSON; tool-call arguments arrive whole, as objects.
 * Ollama's thinking is a local model's, with no signature: it is text like
 * any other and is rewritten both ways.
 */

function rewriteMessage(m: JsonObject, rw: Rewrite): void {
  rewriteField(m, 'content', rw);
  rewriteField(m, 'thinking', rw);
  rewriteToolCalls(m, rw);
  // `images` (base64) are left as they are.
}

/** Every string value of each call's arguments object, whatever its key. */
function rewriteToolCalls(m: JsonObject, rw: Rewrite): void {
  if (Array.isArray(m.tool_calls)) {
    for (const call of m.tool_calls) {
      if (isObject(call) && isObject(call.function) && call.function.arguments !== undefined) call.function.arguments = rewriteLeaves(call.function.arguments, rw);
    }
  }
}

const OLLAMA_TOOL_CALLS = object({ function: object({ name: STRUCTURE, index: STRUCTURE, arguments: TEXT }) });

/** `/api/chat` and `/api/generate` requests: llm-apis.md §4.3. */
export const OLLAMA_REQUEST: Shape = object({
  model: STRUCTURE,
  messages: object({ role: STRUCTURE, content: TEXT, thinking: TEXT, images: binary('image'), tool_calls: OLLAMA_TOOL_CALLS, tool_name: STRUCTURE }),
  images: binary('image'),
  tools: object({ type: STRUCTURE, function: object({ name: STRUCTURE, description: TEXT, parameters: JSON_SCHEMA }) }),
  // `format`: "json" or a JSON Schema.
  format: JSON_SCHEMA,
  options: object({ stop: TEXT }, STRUCTURE),
  think: STRUCTURE,
  keep_alive: STRUCTURE,
  stream: STRUCTURE,
  raw: STRUCTURE,
  // prompt, system, suffix, template and anything new: text.
});

export const ollama: ApiAdapter = {
  request: OLLAMA_REQUEST,

  restoreResponse(body, rw) {
    if (!isObject(body)) return;
    if (isObject(body.message)) rewriteMessage(body.message, rw);
    rewriteField(body, 'response', rw);
    rewriteField(body, 'thinking', rw);
    rewriteField(body, 'error', rw);
  },

  streamCodec(sanitizer) {
    return ollamaNdjsonCodec(sanitizer);
  },
};

/**
 * Restores an Ollama NDJSON stream line by line: message.content,
 * message.thinking, response and thinking each through their own stream
 * restorer; whole tool calls restored at once; everything held back goes out
 * in the `done: true` line.
 */
export function ollamaNdjsonCodec(sanitizer: DomainSanitizer): TextCodec {
  const restorers = new Restorers(sanitizer);
  const rw: Rewrite = (t) => sanitizer.restore(t);

  const streamField = (obj: JsonObject, field: string, key: string, done: boolean): void => {
    const v = obj[field];
    let out = typeof v === 'string' ? restorers.push(key, v) : '';
    if (done) out += restorers.flush(key);
    if (typeof v === 'string' || out !== '') obj[field] = out;
  };

  return ndjsonCodec({
    line(text) {
      if (text.trim() === '') return text;
      let data: Json;
      try {
        data = JSON.parse(text) as Json;
      } catch {
        return text;
      }
      if (!isObject(data)) return text;
      const done = data.done === true;
      if (isObject(data.message)) {
        streamField(data.message, 'content', 'message.content', done);
        streamField(data.message, 'thinking', 'message.thinking', done);
        rewriteToolCalls(data.message, rw);
      } else if (done && restorers.keys().some((k) => k.startsWith('message.'))) {
        data.message = { role: 'assistant', content: '' };
        streamField(data.message, 'content', 'message.content', true);
        streamField(data.message, 'thinking', 'message.thinking', true);
      }
      if (typeof data.response === 'string' || (done && restorers.keys().includes('response'))) streamField(data, 'response', 'response', done);
      if (typeof data.thinking === 'string' || (done && restorers.keys().includes('thinking'))) streamField(data, 'thinking', 'thinking', done);
      rewriteField(data, 'error', rw);
      return JSON.stringify(data);
    },
    end() {
      // A stream cut before `done`: hand on what was held back as one more line.
      const rest = restorers.keys().map((key) => ({ key, text: restorers.flush(key) })).filter((r) => r.text !== '');
      if (rest.length === 0) return '';
      const line: JsonObject = { done: false };
      for (const { key, text } of rest) {
        if (key.startsWith('message.')) {
          const message = isObject(line.message) ? line.message : (line.message = { role: 'assistant', content: '' });
          message[key.slice(8)] = text;
        } else line[key] = text;
      }
      return `${JSON.stringify(line)}\n`;
    },
  });
}
