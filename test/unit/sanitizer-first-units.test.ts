import { readdirSync, readFileSync } from 'node:fs';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firstUnits } from '../../src/sanitizer/detect/first-units.js';
import { anchorTriggers, type SwitchableCategory } from '../../src/sanitizer/detect/scan.js';
import { exampleDictionary } from './sanitizer-helpers.js';

// The scanner tells whose anchor the combined regex matched by trying, in
// order, only the detectors whose anchor can start with the unit there
// (detect/first-units.ts). That is only right if the units read from an
// anchor's source are a superset of what its matches really start with.

const units = (source: string): string | null => {
  const u = firstUnits(source);
  if (u === null) return null;
  let out = '';
  for (let c = 0; c < u.length; c++) if (u[c] === 1) out += String.fromCharCode(c);
  return out;
};

describe('firstUnits', () => {
  it('reads literals, escapes, classes, ranges, \\d and groups of alternatives', () => {
    expect(units('://')).toBe(':');
    expect(units('\\.(?:internal|corp)')).toBe('.');
    expect(units('\\d{1,3}\\.\\d')).toBe('0123456789');
    expect(units('(?:[Bb]earer|BEARER)[ \\t]+')).toBe('Bb');
    expect(units('(?:sk-|gh[pousr]_|[rs]k_(?:live|test)_|hf_)')).toBe('ghrs');
    expect(units('[a-c\\t]x')).toBe('\tabc');
    expect(units('(?:perso\\-desktop|net\\-pro)(?![\\w-])')).toBe('np');
    expect(units('a|b')).toBe('ab');
  });

  it('says "any" (null) for what it does not read, rather than guess', () => {
    for (const source of ['(?=a)b', '(?<!x)a', '.a', '[^a]', '\\w+', '\\s', 'a?b', '(?:a|b)*c', 'x{0,2}y', '(?:a|)b', '', '^a', '(?<name>a)']) expect(units(source), source).toBeNull();
  });
});

const CATEGORIES: readonly SwitchableCategory[] = ['ip', 'incus', 'fqdn', 'service', 'ansible', 'credentials'];
const triggers = anchorTriggers({ dictionary: exampleDictionary(), enabled: Object.fromEntries(CATEGORIES.map((c) => [c, true])) as Record<SwitchableCategory, boolean>, custom: [], allow: new Set() });

/** Where a sticky anchor matches in `text` and its first unit is not among those read from its source: must be none. */
function misses(trigger: string, text: string): number[] {
  const u = firstUnits(trigger);
  if (u === null) return [];
  const sticky = new RegExp(trigger, 'ym');
  const bad: number[] = [];
  for (let p = 0; p < text.length; p++) {
    sticky.lastIndex = p;
    if (sticky.test(text) && u[text.charCodeAt(p)] !== 1) bad.push(p);
  }
  return bad;
}

describe('the anchors of the real scanner', () => {
  it('are read (most of them), so that telling whose anchor it is tries few detectors', () => {
    expect(triggers.length).toBeGreaterThan(15);
    expect(triggers.filter((t) => firstUnits(t) !== null).length).toBeGreaterThanOrEqual(triggers.length - 2);
  });

  it('never start a match with a unit left out, on every position of the real tool output fixtures', () => {
    const dir = new URL('../fixtures/sanitizer/', import.meta.url);
    const texts = readdirSync(dir).map((f) => readFileSync(new URL(f, dir), 'utf8'));
    const corpus = texts.join('\n');
    const bad = triggers.flatMap((t) => misses(t, corpus).map((p) => `${t.slice(0, 40)} @${p}`));
    expect(bad).toEqual([]);
  });

  it('never start a match with a unit left out, on random text made of their own pieces (property)', () => {
    const pieces = ['pro', 'pro-dev', 'net-pro', '--project ', 'project: ', 'domain=', '/-', '"hosts": ', '"pro":', 'pro_', '-----BEGIN RSA PRIVATE KEY-----', 'sk-', 'ghp_', 'eyJ', 'Bearer ', 'password=', 'TOKEN:', 'sshpass', 'mysql', '://', 'ansible_host=', 'group_vars/', '/var/lib/incus', '<service ', 'cpe:/a:', 'SSH-2.0-', 'incus ', '.internal', '10.110.0.1', '[', '|', ' ', '\n', '\t', '"', "'", ':', '=', 'a', 'Z', '9', '.', '-', '_', '/', 'é'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 40 }), (parts) => {
        const text = parts.join('');
        for (const t of triggers) expect(misses(t, text), t.slice(0, 40)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
