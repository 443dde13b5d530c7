import { describe, expect, it } from 'vitest';
import { SanitizeCache } from '../../src/gateway/sanitize-cache.js';
import type { SanitizeResult } from '../../src/sanitizer/types.js';

describe('SanitizeCache', () => {
  const calls: string[] = [];
  const sanitize = (t: string): SanitizeResult => {
    calls.push(t);
    return { text: t.toUpperCase(), replacements: [] };
  };
  const long = (c: string): string => c.repeat(300);

  it('sanitizes a long string once and replays the result, replacements included', () => {
    calls.length = 0;
    const cache = new SanitizeCache(1 << 20);
    const withRep = (t: string): SanitizeResult => ({ text: 'X', replacements: [{ category: 'ip', pattern: 'p', original: t, replacement: 'X' }] });
    expect(cache.get(long('a'), withRep)).toBe(cache.get(long('a'), sanitize));
    expect(calls).toEqual([]);
  });

  it('does not remember short strings', () => {
    calls.length = 0;
    const cache = new SanitizeCache(1 << 20);
    cache.get('short', sanitize);
    cache.get('short', sanitize);
    expect(calls).toEqual(['short', 'short']);
    expect(cache.size).toBe(0);
  });

  it('drops the least recently used entry past its budget', () => {
    calls.length = 0;
    // Each entry: 2 × (300 + 300) = 1200 bytes; room for two.
    const cache = new SanitizeCache(2500);
    cache.get(long('a'), sanitize);
    cache.get(long('b'), sanitize);
    cache.get(long('a'), sanitize);
    cache.get(long('c'), sanitize);
    expect(cache.size).toBe(2);
    calls.length = 0;
    cache.get(long('a'), sanitize);
    cache.get(long('b'), sanitize);
    expect(calls).toEqual([long('b')]);
  });

  it('is off with a budget of 0', () => {
    calls.length = 0;
    const cache = new SanitizeCache(0);
    cache.get(long('a'), sanitize);
    cache.get(long('a'), sanitize);
    expect(calls).toHaveLength(2);
  });
});
