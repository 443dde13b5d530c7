import type { Json, JsonObject } from './json.js';

/**
 * What a request body may carry, per API, as an allow list: sanitize by
 * default. Every string is text to sanitize unless its position in the
 * body is named here as structure (model, role, type, ids, enums) or as an
 * opaque payload (signatures, encrypted blocks). Numbers, booleans and null
 * are not text. An unknown field, an unknown block type, a field of the
 * wrong type: all text. Object keys are names a schema or a tool chose, not
 * prose: they are checked (an identifier there refuses the request), never
 * rewritten (a tool's input must keep its schema's property names).
 *
 * Shapes say where things are; what happens to them is the walk's
 * `RequestPolicy` (the server's: sanitize, refuse, audit).
 */
export type Shape =
  /** Every string below is text (the default for anything not named). */
  | { readonly kind: 'text' }
  /** Structure: passes unchanged once the policy has checked it carries no identifier. */
  | { readonly kind: 'structure' }
  /** A payload the API checks byte for byte (a signature, an encrypted block): must look like one (base64), then passes. */
  | { readonly kind: 'opaque' }
  /** Named fields get their own shape; any other field gets `other` (text unless said). */
  | { readonly kind: 'object'; readonly fields: Readonly<Record<string, Shape>>; readonly other?: Shape }
  /** An object whose keys are names and whose every value has the same shape (JSON Schema `properties`). */
  | { readonly kind: 'map'; readonly values: Shape }
  /** The shape depends on the object's own content (its `type`, its `source.type`…). */
  | { readonly kind: 'select'; readonly pick: (value: JsonObject) => Shape }
  /** Binary content (base64 image, audio, PDF): cannot be sanitized; the policy refuses or allows it. */
  | { readonly kind: 'binary'; readonly what: string }
  /** A URL the upstream fetches itself: the policy refuses one that points inside. */
  | { readonly kind: 'url' }
  /** A `data:` URL is binary, anything else a URL to check (OpenAI `image_url.url`). */
  | { readonly kind: 'data-or-url'; readonly what: string }
  /** A string holding JSON (OpenAI tool-call arguments): parsed, every value text, serialised again. */
  | { readonly kind: 'json-text' }
  /** A thinking block: signed, it passes as the API requires; unsigned, its text is sanitized. */
  | { readonly kind: 'thinking' }
  /** Evaluated on use: shapes that contain themselves (content blocks, JSON Schema). */
  | { readonly kind: 'lazy'; readonly shape: () => Shape };

export const TEXT: Shape = { kind: 'text' };
export const STRUCTURE: Shape = { kind: 'structure' };
export const OPAQUE: Shape = { kind: 'opaque' };
export const URL_SOURCE: Shape = { kind: 'url' };
export const JSON_TEXT: Shape = { kind: 'json-text' };

export function object(fields: Readonly<Record<string, Shape>>, other: Shape = TEXT): Shape {
  return { kind: 'object', fields, other };
}
export function map(values: Shape): Shape {
  return { kind: 'map', values };
}
export function select(pick: (value: JsonObject) => Shape): Shape {
  return { kind: 'select', pick };
}
export function lazy(shape: () => Shape): Shape {
  let cached: Shape | undefined;
  return { kind: 'lazy', shape: () => (cached ??= shape()) };
}
export function binary(what: string): Shape {
  return { kind: 'binary', what };
}

/** `cache_control: {type, ttl}` on blocks and tools. */
export const CACHE_CONTROL = object({ type: STRUCTURE, ttl: STRUCTURE });

/**
 * A JSON Schema (tool parameters, response formats): keywords that are
 * structure (`type`, `format`, `$ref`, `required`…) pass; descriptions,
 * titles, enums, defaults and examples are text; sub-schemas recurse.
 */
export const JSON_SCHEMA: Shape = lazy(() => {
  const sub = JSON_SCHEMA;
  return object(
    {
      type: STRUCTURE,
      format: STRUCTURE,
      $ref: STRUCTURE,
      $schema: STRUCTURE,
      $id: STRUCTURE,
      $anchor: STRUCTURE,
      required: STRUCTURE,
      contentEncoding: STRUCTURE,
      contentMediaType: STRUCTURE,
      properties: map(sub),
      patternProperties: map(sub),
      $defs: map(sub),
      definitions: map(sub),
      dependentSchemas: map(sub),
      enum: TEXT,
      const: TEXT,
      default: TEXT,
      examples: TEXT,
      description: TEXT,
      title: TEXT,
      pattern: TEXT,
    },
    // items, anyOf, oneOf, allOf, not, additionalProperties, if/then/else…: sub-schemas.
    sub,
  );
});

/** Where a value sits in the body, for error messages: `messages[3].content[0].source.url`. */
export type Path = readonly (string | number)[];

export function formatPath(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? '(body)' : out;
}

/**
 * What the walk does with what it finds; the server's implementation sanitizes, refuses and audits.
 * The `path` handed to each call is the walk's own, valid during the call only: a
 * policy that keeps it copies it (a copy per string and per key was most of the
 * walk's garbage on a large conversation).
 */
export interface RequestPolicy {
  /** A string to sanitize: `set` receives its sanitized form (later: the sanitizing may yield). */
  text(value: string, path: Path, set: (sanitized: string) => void): void;
  /** A string that must pass unchanged (structure, a signed thinking text, an object key): refuse it if it carries an identifier. */
  verbatim(value: string, path: Path): void;
  /** Binary content; throws to refuse it. */
  binary(what: string, bytes: number, path: Path): void;
  /** A URL the upstream would fetch; throws to refuse it. */
  url(value: string, path: Path): void;
  /** Runs once every text has its sanitized form (re-serialises JSON held in strings), in reverse order of registration. */
  after(fn: () => void): void;
}

/** Paths deeper than this are refused: a walk must not run out of stack on a hostile body. */
export const MAX_DEPTH = 200;

export class RequestShapeError extends Error {
  constructor(
    message: string,
    readonly path: Path,
  ) {
    super(message);
  }
}

const BASE64 = /^[A-Za-z0-9+/_=-]*$/;

/** Walk `body` with `shape`: every string ends up sanitized, checked, or handed to the policy; the body is rewritten in place. */
export function walkRequest(body: JsonObject, shape: Shape, policy: RequestPolicy): void {
  walk(body, shape, policy, [], (v) => {
    if (v !== body) throw new Error('the body itself cannot be replaced');
  });
}

function resolve(shape: Shape): Shape {
  let s = shape;
  while (s.kind === 'lazy') s = s.shape();
  return s;
}

function walk(value: Json, shapeIn: Shape, policy: RequestPolicy, path: (string | number)[], set: (v: Json) => void): void {
  if (path.length > MAX_DEPTH) throw new RequestShapeError(`the request nests deeper than ${MAX_DEPTH} levels`, [...path]);
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return;
  const shape = resolve(shapeIn);
  if (Array.isArray(value)) {
    // Arrays are transparent: each element has the shape the array has (`content` is a string or a list of blocks).
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      walk(value[i] as Json, shape, policy, path, (v) => (value[i] = v));
      path.pop();
    }
    return;
  }
  if (typeof value === 'string') {
    walkString(value, shape, policy, path, set);
    return;
  }
  walkObject(value, shape, policy, path);
}

function walkString(value: string, shape: Shape, policy: RequestPolicy, path: (string | number)[], set: (v: Json) => void): void {
  switch (shape.kind) {
    case 'structure':
      policy.verbatim(value, path);
      return;
    case 'opaque':
      if (!BASE64.test(value)) throw new RequestShapeError('an opaque field (signature, encrypted or redacted data) holds something other than base64', [...path]);
      return;
    case 'binary':
      policy.binary(shape.what, value.length, path);
      return;
    case 'url':
      policy.url(value, path);
      return;
    case 'data-or-url':
      if (value.startsWith('data:')) policy.binary(shape.what, value.length, path);
      else policy.url(value, path);
      return;
    case 'json-text': {
      let parsed: Json;
      try {
        parsed = JSON.parse(value) as Json;
      } catch {
        // Not JSON (a model's half-written call): sanitized as plain text; still nothing leaves raw.
        policy.text(value, path, set);
        return;
      }
      if (parsed === null || typeof parsed !== 'object') {
        policy.text(value, path, set);
        return;
      }
      walk(parsed, TEXT, policy, path, () => undefined);
      policy.after(() => set(JSON.stringify(parsed)));
      return;
    }
    default:
      // text, and any object-like shape met by a string: text.
      policy.text(value, path, set);
  }
}

function walkObject(value: JsonObject, shape: Shape, policy: RequestPolicy, path: (string | number)[]): void {
  switch (shape.kind) {
    case 'select':
      walkObject(value, resolve(shape.pick(value)), policy, path);
      return;
    case 'thinking': {
      const signed = typeof value.signature === 'string' && value.signature !== '';
      walkObject(value, object({ type: STRUCTURE, signature: OPAQUE, thinking: signed ? STRUCTURE : TEXT, cache_control: CACHE_CONTROL }), policy, path);
      return;
    }
    case 'opaque':
    case 'binary':
    case 'url':
    case 'data-or-url':
    case 'json-text':
      // An object where a string was expected: nothing the API would accept, so nothing to trust: text.
      walkObject(value, TEXT, policy, path);
      return;
    default:
      break;
  }
  for (const key of Object.keys(value)) {
    path.push(key);
    policy.verbatim(key, path);
    const fieldShape = shape.kind === 'object' ? (Object.hasOwn(shape.fields, key) ? (shape.fields[key] as Shape) : (shape.other ?? TEXT)) : shape.kind === 'map' ? shape.values : shape.kind === 'structure' ? STRUCTURE : TEXT;
    walk(value[key] as Json, fieldShape, policy, path, (v) => (value[key] = v));
    path.pop();
  }
}

/** The object's `type` as a string ('' when it has none). */
export function typeOf(value: JsonObject): string {
  return typeof value.type === 'string' ? value.type : '';
}

