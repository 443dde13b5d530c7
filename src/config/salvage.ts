import type * as z from 'zod';
import type { IssuePath } from './issues.js';
import { valueAt } from './zod-issues.js';

/**
 * Parse what can be parsed. Removes each value a schema rejects (or the object
 * that lacks a required key) and parses again, so that the cross-field rules can
 * still run on the rest of the file and report every mistake at once.
 * Returns undefined when nothing usable is left.
 */
export function salvage<S extends z.ZodType>(schema: S, input: unknown): z.output<S> | undefined {
  let data: unknown = structuredClone(input);
  for (let round = 0; round < 50; round++) {
    const result = schema.safeParse(data);
    if (result.success) return result.data;
    for (const issue of result.error.issues) {
      const path = issue.path as (string | number)[];
      if (issue.code === 'unrecognized_keys') {
        const holder = valueAt(data, path);
        // An earlier issue of this round may have dropped the object already.
        if (holder !== null && typeof holder === 'object') for (const key of issue.keys) Reflect.deleteProperty(holder, key);
        continue;
      }
      // Inside a list, drop the whole list: deleting one item would renumber the rest.
      const firstIndex = path.findIndex((seg) => typeof seg === 'number');
      let target: IssuePath = firstIndex === -1 ? path : path.slice(0, firstIndex);
      if (valueAt(data, target) === undefined) target = target.slice(0, -1);
      if (target.length === 0) return undefined;
      const holder = valueAt(data, target.slice(0, -1));
      if (holder === null || typeof holder !== 'object') return undefined;
      Reflect.deleteProperty(holder, target[target.length - 1] as string);
    }
    data = structuredClone(data);
  }
  return undefined;
}
