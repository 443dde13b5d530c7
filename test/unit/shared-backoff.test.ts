import { describe, expect, it } from 'vitest';
import { RECONNECT_BACKOFF } from '../../src/incus/events.js';
import { QUEUE_BACKOFF } from '../../src/reconcile/backoff.js';
import { backoffDelay, backoffPolicy, type BackoffOptions } from '../../src/shared/backoff.js';

const DEFAULTS = { baseMs: 100, capMs: 1000, jitter: 'equal' } as const;

function delay(attempt: number, options: BackoffOptions): number {
  return backoffDelay(attempt, backoffPolicy(options, DEFAULTS));
}

describe('backoffDelay', () => {
  it.each([
    { jitter: 'none', random: 0.7, attempt: 0, expected: 100 },
    { jitter: 'none', random: 0.7, attempt: 3, expected: 800 },
    { jitter: 'none', random: 0.7, attempt: 4, expected: 1000 },
    { jitter: 'equal', random: 0, attempt: 0, expected: 50 },
    { jitter: 'equal', random: 0.999, attempt: 0, expected: 100 },
    { jitter: 'equal', random: 0, attempt: 1, expected: 100 },
    { jitter: 'equal', random: 0.5, attempt: 2, expected: 300 },
    { jitter: 'equal', random: 1, attempt: 3, expected: 800 },
    { jitter: 'equal', random: 1, attempt: 4, expected: 1000 },
    { jitter: 'equal', random: 0, attempt: 20, expected: 500 },
    { jitter: 'full', random: 0.25, attempt: 0, expected: 25 },
    { jitter: 'full', random: 0.25, attempt: 5, expected: 250 },
    { jitter: 'full', random: 0, attempt: 2, expected: 0 },
  ] as const)('attempt $attempt with $jitter jitter and random $random waits $expected ms', ({ jitter, random, attempt, expected }) => {
    expect(delay(attempt, { jitter, random: () => random })).toBe(expected);
  });

  it('doubles from the base and stops at the cap without jitter', () => {
    expect([0, 1, 2, 3, 4, 5].map((a) => delay(a, { jitter: 'none' }))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('never exceeds the cap or goes below zero even if random() misbehaves', () => {
    expect(delay(10, { jitter: 'full', random: () => 7 })).toBe(1000);
    expect(delay(10, { jitter: 'full', random: () => -1 })).toBe(0);
  });

  it('stays at the cap after thousands of attempts instead of overflowing', () => {
    expect(delay(3000, { jitter: 'none' })).toBe(1000);
    expect(delay(-1, { jitter: 'none' })).toBe(100);
  });
});

describe('backoffPolicy', () => {
  it('takes the caller defaults for what the options leave unset', () => {
    expect(backoffPolicy({ capMs: 5000 }, DEFAULTS)).toMatchObject({ baseMs: 100, capMs: 5000, jitter: 'equal', random: Math.random });
  });

  it.each([
    { name: 'a zero base', options: { baseMs: 0 } },
    { name: 'a negative base', options: { baseMs: -5 } },
    { name: 'a cap below the base', options: { baseMs: 500, capMs: 100 } },
    { name: 'an infinite cap', options: { capMs: Infinity } },
    { name: 'a NaN base', options: { baseMs: Number.NaN } },
  ])('rejects $name', ({ options }) => {
    expect(() => backoffPolicy(options, DEFAULTS)).toThrow(RangeError);
  });

  it("keeps the work queue's and the events stream's own defaults", () => {
    expect(QUEUE_BACKOFF).toEqual({ baseMs: 200, capMs: 60_000, jitter: 'equal' });
    expect(RECONNECT_BACKOFF).toEqual({ baseMs: 500, capMs: 30_000, jitter: 'equal' });
  });
});
