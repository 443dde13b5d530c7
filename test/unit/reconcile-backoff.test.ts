import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/reconcile/backoff.js';

function delays(backoff: Backoff, key: string, n: number): number[] {
  return Array.from({ length: n }, () => backoff.delayFor(key));
}

// The delay formula itself (jitter kinds, cap, overflow, bad random) is tested in shared-backoff.test.ts.
describe('Backoff', () => {
  it('doubles the delay from the base on each failure and stops at the cap', () => {
    const b = new Backoff({ baseMs: 200, capMs: 60_000, jitter: 'none' });
    expect(delays(b, 'domain/pro', 11)).toEqual([200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 51_200, 60_000, 60_000]);
    expect(b.retries('domain/pro')).toBe(11);
  });

  it('defaults to a 200 ms base and a 60 s cap', () => {
    const b = new Backoff({ jitter: 'none' });
    expect(b.delayFor('k')).toBe(200);
    expect(delays(b, 'k', 20).at(-1)).toBe(60_000);
  });

  it('counts failures per key, so one failing key does not slow another', () => {
    const b = new Backoff({ baseMs: 100, capMs: 10_000, jitter: 'none' });
    delays(b, 'domain/pro', 3);
    expect(b.delayFor('domain/perso')).toBe(100);
    expect(b.retries('domain/pro')).toBe(3);
    expect(b.retries('domain/perso')).toBe(1);
  });

  it('starts a forgotten key over from the base delay', () => {
    const b = new Backoff({ baseMs: 100, capMs: 10_000, jitter: 'none' });
    delays(b, 'k', 4);
    b.forget('k');
    expect(b.retries('k')).toBe(0);
    expect(b.delayFor('k')).toBe(100);
    expect(b.keys()).toEqual(['k']);
  });

  it('spreads equal jitter over the upper half of the nominal delay', () => {
    const low = new Backoff({ baseMs: 200, capMs: 1000, jitter: 'equal', random: () => 0 });
    const mid = new Backoff({ baseMs: 200, capMs: 1000, jitter: 'equal', random: () => 0.5 });
    expect(delays(low, 'k', 4)).toEqual([100, 200, 400, 500]);
    expect(delays(mid, 'k', 4)).toEqual([150, 300, 600, 750]);
  });

  it('uses equal jitter by default, so a failing key never retries at once', () => {
    const b = new Backoff({ random: () => 0 });
    expect(b.delayFor('k')).toBe(100);
  });

  it('rejects a base that is not positive and a cap below the base', () => {
    expect(() => new Backoff({ baseMs: 0 })).toThrow(RangeError);
    expect(() => new Backoff({ baseMs: 500, capMs: 100 })).toThrow(RangeError);
    expect(() => new Backoff({ capMs: Infinity })).toThrow(RangeError);
  });
});
