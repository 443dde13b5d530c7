import { describe, expect, it } from 'vitest';
import { positiveNumberFlag, wholeNumberFlag } from '../../src/shared/number-flags.js';
import { UsageError } from '../../src/shared/errors.js';

describe('wholeNumberFlag', () => {
  it('takes plain digits within the bounds, and the fallback when the flag is absent', () => {
    expect(wholeNumberFlag('--keep', '7', 20, 1, 100)).toBe(7);
    expect(wholeNumberFlag('--keep', ' 100 ', 20, 1, 100)).toBe(100);
    expect(wholeNumberFlag('--keep', undefined, 20, 1, 100)).toBe(20);
  });

  it.each(['0', '101', '2.5', '-1', '1e2', '0x10', '', 'many'])('refuses "%s", naming the flag and the range', (text) => {
    expect(() => wholeNumberFlag('--keep', text, 20, 1, 100)).toThrow(UsageError);
    expect(() => wholeNumberFlag('--keep', text, 20, 1, 100)).toThrow(`--keep must be a whole number from 1 to 100 (got "${text}")`);
  });
});

describe('positiveNumberFlag', () => {
  it('takes any finite number above zero', () => {
    expect(positiveNumberFlag('--interval', '0.05', 2)).toBe(0.05);
    expect(positiveNumberFlag('--interval', undefined, 2)).toBe(2);
  });

  it.each(['0', '-3', 'soon', '', ' ', 'Infinity', 'NaN'])('refuses "%s", with the unit when there is one', (text) => {
    expect(() => positiveNumberFlag('--interval', text, 2)).toThrow(`--interval must be a positive number (got "${text}")`);
    expect(() => positiveNumberFlag('--timeout', text, 2, 'seconds')).toThrow(`--timeout must be a positive number of seconds (got "${text}")`);
  });
});
