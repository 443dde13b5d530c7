import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PseudonymIndex, restoreText } from '../../src/sanitizer/restore.js';
import { createStreamRestorer } from '../../src/sanitizer/stream-restore.js';

// The restore index on its own: pseudonyms that share prefixes (the radix
// tree splits its edges), added in any order, found longest first.

const NAMES = ['kel', 'kela', 'kelaso', 'kelaso-tepa', 'kelaso-tepami', 'kelaso-tepa.corp', 'kema', 'net-kelaso', '198.18.3.1', '198.18.3.10', '2001:db8::1', '2001:db8::1:5'];

function index(order: readonly string[]): PseudonymIndex {
  const i = new PseudonymIndex();
  for (const p of order) i.add(p, `<${p}>`);
  return i;
}

describe('PseudonymIndex', () => {
  it('finds the longest pseudonym at a position, whatever order they were added in', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(NAMES, { minLength: NAMES.length, maxLength: NAMES.length }), (order) => {
        const i = index(order);
        expect(restoreText(i, 'kelaso-tepami kelaso-tepa.corp kelaso-tepax kela kel kelas net-kelaso 198.18.3.10 198.18.3.1.5 2001:db8::1:5 2001:db8::1: ICMP6')).toBe(
          '<kelaso-tepami> <kelaso-tepa.corp> <kelaso>-tepax <kela> <kel> kelas <net-kelaso> <198.18.3.10> 198.18.3.1.5 <2001:db8::1:5> <2001:db8::1>: ICMP6',
        );
        for (const p of NAMES) {
          expect(i.originalOf(p)).toBe(`<${p}>`);
          expect(i.isPrefix(p.slice(0, -1), 0)).toBe(true);
        }
        expect(i.isPrefix('kelaz', 0)).toBe(false);
        expect(i.maxLength).toBe('kelaso-tepa.corp'.length);
      }),
      { numRuns: 50 },
    );
  });

  it('streams the same as the whole text, for every split', () => {
    const i = index(NAMES);
    const text = 'a kelaso-tepa.corp b kelaso-tepam c 198.18.3.10.22 > x';
    const whole = restoreText(i, text);
    for (let cut = 0; cut <= text.length; cut++) {
      const r = createStreamRestorer(i);
      expect(r.push(text.slice(0, cut)) + r.push(text.slice(cut)) + r.flush()).toBe(whole);
    }
  });

  it('takes a pseudonym handed out again for another original as that one', () => {
    const i = index(['kelaso']);
    i.add('kelaso', 'pro');
    expect(restoreText(i, 'kelaso')).toBe('pro');
    expect(i.size).toBe(1);
  });
});
