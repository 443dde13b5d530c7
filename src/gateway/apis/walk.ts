import type { DomainSanitizer, StreamRestorer } from '../../sanitizer/types.js';
import type { TextCodec } from '../streams/transform.js';
import { isObject, type Json, type JsonObject } from './json.js';
import type { Shape } from './request-shape.js';

/** One string in, its rewritten form out: sanitize (outgoing) or restore (incoming). */
export type Rewrite = (text: string) => string;

export { isObject, type Json, type JsonObject } from './json.js';

/**
 * Keys whose values are structure, not text anyone wrote, or opaque data that
 * must reach the API byte for byte: block types and ids (tool_use ↔
 * tool_result pairing), tool names, thinking signatures, base64 payloads,
 * encrypted search results. The generic walker leaves them alone.
 */
export const OPAQUE_KEYS: ReadonlySet<string> = new Set([
  'type',
  'id',
  'tool_use_id',
  'tool_call_id',
  'name',
  'role',
  'signature',
  'data',
  'encrypted_content',
  'encrypted_index',
  'media_type',
  'file_id',
  'cache_control',
  'images',
]);

/**
 * Rewrite every string leaf of `value` in place (object values, not keys: keys
 * are schema property names a tool defines, not data) and return it. Keys in
 * `skip` are left alone at every depth.
 */
export function rewriteLeaves(value: Json, rewrite: Rewrite, skip: ReadonlySet<string> = new Set()): Json {
  if (typeof value === 'string') return rewrite(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = rewriteLeaves(value[i] as Json, rewrite, skip);
    return value;
  }
  if (isObject(value)) {
    for (const key of Object.keys(value)) {
      if (skip.has(key)) continue;
      value[key] = rewriteLeaves(value[key] as Json, rewrite, skip);
    }
  }
  return value;
}

/** Rewrite `obj[key]` when it is a string. */
export function rewriteField(obj: JsonObject, key: string, rewrite: Rewrite): void {
  const v = obj[key];
  if (typeof v === 'string') obj[key] = rewrite(v);
}

/**
 * Tool-call arguments serialised as a JSON string (OpenAI): parse, rewrite the
 * leaves, serialise again, so a value with a quote or a newline stays valid
 * JSON. Text that does not parse is rewritten as plain text (still nothing
 * sensitive leaves).
 */
export function rewriteJsonText(text: string, rewrite: Rewrite): string {
  let parsed: Json;
  try {
    parsed = JSON.parse(text) as Json;
  } catch {
    return rewrite(text);
  }
  return JSON.stringify(rewriteLeaves(parsed, rewrite));
}

/** A JSON-string escaper for restored originals inside partial JSON (`"` and `\n` of an SSH key…). */
export function jsonEscape(original: string): string {
  return JSON.stringify(original).slice(1, -1);
}

/** What an API adapter does to bodies; one per wire format. */
export interface ApiAdapter {
  /** Where a request body's strings are structure, opaque or binary; everything else is sanitized (request-shape.ts). */
  readonly request: Shape;
  /** Restore, in place, a non-streamed JSON answer (error bodies included). */
  restoreResponse(body: Json, restore: Rewrite): void;
  /** A codec that restores a streamed answer (SSE or NDJSON) as it passes. */
  streamCodec(sanitizer: DomainSanitizer): TextCodec;
}

/** Lazily created per-field stream restorers, keyed by field. */
export class Restorers {
  private readonly map = new Map<string, StreamRestorer>();

  constructor(private readonly sanitizer: DomainSanitizer) {}

  push(key: string, text: string, json = false): string {
    let r = this.map.get(key);
    if (r === undefined) {
      r = json ? this.sanitizer.streamRestorer(jsonEscape) : this.sanitizer.streamRestorer();
      this.map.set(key, r);
    }
    return r.push(text);
  }

  /** The fields with a restorer, in creation order. */
  keys(): string[] {
    return [...this.map.keys()];
  }

  /** Flush one field; '' when it never held anything. */
  flush(key: string): string {
    const r = this.map.get(key);
    if (r === undefined) return '';
    this.map.delete(key);
    return r.flush();
  }

  /** Flush every field whose key starts with `prefix`, in creation order. */
  flushPrefix(prefix: string): { key: string; text: string }[] {
    const out: { key: string; text: string }[] = [];
    for (const key of [...this.map.keys()]) if (key.startsWith(prefix)) out.push({ key, text: this.flush(key) });
    return out;
  }
}
