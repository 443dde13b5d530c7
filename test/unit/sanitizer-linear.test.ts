import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adversarialInputs } from '../../bench/adversarial-inputs.js';
import { TextScan } from '../../src/sanitizer/detect/text-scan.js';
import { MemoryMappingStore } from '../../src/sanitizer/index.js';
import { sanitizer } from './sanitizer-helpers.js';

// Linear time is measured in bench/sanitizer-adversarial.ts. Here: what the
// engine makes of the adversarial inputs (each of these took seconds to
// minutes at this size before the detectors stopped rescanning), and the
// property that makes the detectors linear: a look-ahead is read once.

const SIZE = 256 * 1024;
/** Inputs with credentials (masked, not restored) or one value too long to pseudonymize. */
const NOT_RESTORED = new Set(['/run/incus/@ repeated', 'group_vars/a then dots', 'pro-a- repeated (one long instance-like run)', 'password= repeated', 'password=" repeated (no closing quote)', 'password=$ repeated (placeholder)', 'password=a then .: run', 'keywords mixed: token=secret=api_key=', '--password --password', 'vendor prefixes: -sk- -eyJ xoxb-', 'tiny strings (~10 000 per MB)', 'one long line (conversation)']);

describe('adversarial inputs', () => {
  const inputs = adversarialInputs().filter((i) => !NOT_RESTORED.has(i.name));

  it.each(inputs.map((i) => [i.name, i] as const))('%s: restore(sanitize(x)) = x', (_name, input) => {
    const s = sanitizer({ mode: 'pseudonymize', mapping: new MemoryMappingStore() });
    for (const text of input.build(SIZE)) expect(s.restore(s.sanitize(text).text)).toBe(text);
  });

  it('masks a value too long to pseudonymize, so a restored stream never holds that much back', () => {
    const s = sanitizer({ mode: 'pseudonymize', mapping: new MemoryMappingStore() });
    const out = s.sanitize('/run/incus/@'.repeat(SIZE / 12));
    expect(out.text).toBe('[INCUS_PATH]');
    expect(s.restore(`${s.sanitize('pro-dev').text} ok`)).toBe('pro-dev ok');
  });

  it('masks a key repeated without separators as one value', () => {
    const s = sanitizer();
    expect(s.sanitize('password='.repeat(SIZE / 9)).text).toBe('password=[REDACTED]');
    expect(s.sanitize(`password=a${'.:'.repeat(SIZE / 2)}b`).text).toBe('password=[REDACTED]');
    expect(s.sanitize(`password=$${'password=$'.repeat(SIZE / 10)}`).text).toBe('password=[REDACTED]');
  });

  it('masks each quoted value when quotes never close the way a key expects', () => {
    const out = sanitizer().sanitize('password="'.repeat(SIZE / 10)).text;
    expect(out.startsWith('password="[REDACTED]"[REDACTED]"')).toBe(true);
    expect(out).not.toContain('password="password');
  });

  it('masks a vendor key whose body runs to the end, and finds nothing in a run of keywords that are no keys', () => {
    expect(sanitizer().sanitize('-sk-aa-eyJaa-xoxb-aa'.repeat(SIZE / 20)).text).toBe('-sk-aa-eyJaa-[REDACTED]');
    const bearer = 'Bearer '.repeat(SIZE / 7);
    expect(sanitizer().sanitize(bearer).text).toBe(bearer);
  });

  it('still finds a credential key inside a path found by another detector', () => {
    expect(sanitizer().sanitize('/var/lib/incus/unix.socket-password=hunter22 ').text).toBe('[INCUS_PATH]=[REDACTED] ');
  });

  it('parses each incus command of a line once, up to the next command', () => {
    const line = '(incus list web-1 (incus delete web-2 '.repeat(2000);
    const out = sanitizer().sanitize(line);
    expect(out.replacements.map((r) => r.original)).toEqual(['web-1', 'web-2']);
    expect(out.text).toBe('(incus list DOMAIN-MACHINE (incus delete DOMAIN-MACHINE '.repeat(2000));
  });
});

describe('TextScan: each look-ahead is read once', () => {
  it('answers runEnd from every position of a run reading each character once', () => {
    const text = `${'a'.repeat(10_000)}!`;
    let reads = 0;
    const isA = (c: number): boolean => {
      reads++;
      return c === 97;
    };
    const scan = new TextScan(text);
    for (let i = 0; i < text.length; i++) expect(scan.runEnd(isA, i)).toBe(i <= 10_000 ? 10_000 : text.length);
    expect(reads).toBeLessThanOrEqual(text.length + 2);
  });

  it('gives the answers of indexOf, runEnd, runStart and search for any order of questions', () => {
    const isX = (c: number): boolean => c === 120;
    fc.assert(
      fc.property(fc.stringMatching(/^[xy"\n]{0,60}$/), fc.array(fc.nat(70), { maxLength: 20 }), (text, froms) => {
        const scan = new TextScan(text);
        for (const raw of froms) {
          const from = Math.min(raw, text.length);
          expect(scan.indexOf('"', from)).toBe(text.indexOf('"', from));
          expect(scan.indexOf('xy', from)).toBe(text.indexOf('xy', from));
          let end = from;
          while (end < text.length && text[end] === 'x') end++;
          expect(scan.runEnd(isX, from)).toBe(end);
          let start = from;
          while (start > 0 && text[start - 1] === 'x') start--;
          expect(scan.runStart(isX, from)).toBe(start);
          const re = /y\n/g;
          re.lastIndex = from;
          expect(scan.search(/y\n/g, from)).toBe(re.exec(text)?.index ?? -1);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('instance-like runs', () => {
  it('masks a run of `<domain>-` parts as one value too long to pseudonymize', () => {
    const text = ` ${'pro-a-'.repeat(50_000)}b`;
    const out = sanitizer({ mode: 'pseudonymize', mapping: new MemoryMappingStore() }).sanitize(text);
    expect(out.replacements.map((r) => [r.pattern, r.original.length])).toEqual([['incus.instance', text.length - 1]]);
  });
});
