import type * as z from 'zod';
import { describeValue, didYouMean, type IssuePath, type ValidationIssue } from './issues.js';

/** The value at `path` in plain data, or undefined. */
export function valueAt(data: unknown, path: IssuePath): unknown {
  let current: unknown = data;
  for (const seg of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[seg];
  }
  return current;
}

interface SchemaDef {
  type: string;
  shape?: Record<string, z.ZodType>;
  valueType?: z.ZodType;
  element?: z.ZodType;
  innerType?: z.ZodType;
}

function defOf(schema: z.ZodType): SchemaDef {
  return (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
}

/** The sub-schema that validates `path`, seen through optional/default wrappers. */
function schemaAt(schema: z.ZodType, path: IssuePath): z.ZodType | undefined {
  let current: z.ZodType | undefined = unwrap(schema);
  for (const seg of path) {
    if (current === undefined) return undefined;
    const def = defOf(current);
    if (def.type === 'object') current = def.shape?.[String(seg)];
    else if (def.type === 'record') current = def.valueType;
    else if (def.type === 'array') current = def.element;
    else return undefined;
    current = current === undefined ? undefined : unwrap(current);
  }
  return current;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    if (def.innerType === undefined) return current;
    current = def.innerType;
  }
}

/** Keys the object schema at `path` accepts. */
export function allowedKeys(schema: z.ZodType, path: IssuePath): string[] {
  const at = schemaAt(schema, path);
  if (at === undefined) return [];
  const def = defOf(at);
  return def.type === 'object' ? Object.keys(def.shape ?? {}) : [];
}

function expectedType(expected: string): string {
  if (expected === 'record' || expected === 'object') return 'a mapping';
  if (expected === 'array') return 'a list';
  if (expected === 'int') return 'an integer';
  return `a ${expected}`;
}

function typeOfFound(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${describeValue(value)}`;
}

/**
 * Turn zod's issues into ours: the message says what is wrong, `expected` and
 * `found` are in the user's terms, and unknown keys and bad enum values get a
 * "did you mean" hint.
 */
export function fromZodIssues(issues: readonly z.core.$ZodIssue[], schema: z.ZodType, data: unknown, basePath: IssuePath = []): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const issue of issues) {
    const path: IssuePath = [...basePath, ...(issue.path as (string | number)[])];
    const found = valueAt(data, path);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = allowedKeys(schema, issue.path as (string | number)[]);
        for (const key of issue.keys) {
          const hint = didYouMean(key, known);
          out.push({
            rule: 'unknown-key',
            path: [...path, key],
            atKey: true,
            message: `unknown key "${key}"`,
            expected: known.length > 0 ? `one of ${known.join(', ')}` : 'no other key',
            ...(hint === undefined ? {} : { hint }),
          });
        }
        break;
      }
      case 'invalid_value': {
        const values = issue.values.map((v) => String(v));
        const hint = typeof found === 'string' ? didYouMean(found, values) : undefined;
        out.push({
          rule: 'schema',
          path,
          message: 'value not allowed',
          expected: values.length === 1 ? JSON.stringify(values[0]) : `one of ${values.join(', ')}`,
          found: describeValue(found),
          ...(hint === undefined ? {} : { hint }),
        });
        break;
      }
      case 'invalid_type':
        out.push({
          rule: found === undefined ? 'required' : 'schema',
          path,
          message: found === undefined ? 'required key is missing' : 'wrong type',
          expected: expectedType(issue.expected),
          found: typeOfFound(found),
        });
        break;
      case 'invalid_union': {
        // Our unions are small (a literal or a list, true/false/"always"): list the alternatives.
        const alternatives = issue.errors.flatMap((errs) =>
          errs.map((e) => (e.code === 'invalid_value' ? e.values.map((v) => JSON.stringify(v)).join(' or ') : e.code === 'invalid_type' ? expectedType(e.expected) : e.message)),
        );
        const nested = issue.errors.find((errs) => errs.some((e) => e.path.length > 0));
        if (nested !== undefined && Array.isArray(found)) {
          out.push(...fromZodIssues(nested, schema, data, path));
        } else {
          out.push({ rule: 'schema', path, message: 'value not allowed', expected: [...new Set(alternatives)].join(' or '), found: describeValue(found) });
        }
        break;
      }
      case 'too_small':
      case 'too_big': {
        const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
        const op = issue.code === 'too_small' ? (issue.inclusive === false ? '>' : '>=') : issue.inclusive === false ? '<' : '<=';
        const what = issue.origin === 'number' || issue.origin === 'int' ? `a number ${op} ${String(bound)}` : `${issue.origin} of length ${op} ${String(bound)}`;
        out.push({ rule: 'schema', path, message: 'value out of range', expected: what, found: describeValue(found) });
        break;
      }
      case 'invalid_format':
        out.push({ rule: 'schema', path, message: 'value has the wrong format', expected: issue.message, found: describeValue(found) });
        break;
      default:
        out.push({ rule: 'schema', path, message: issue.message, found: describeValue(found) });
    }
  }
  return out;
}
