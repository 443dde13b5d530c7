import { UsageError } from './errors.js';

/**
 * Numeric command-line flags, parsed in one place so every command words
 * the same mistake the same way. A bad value is a usage error naming the flag.
 */

/** A whole number from `min` to `max`, written in plain digits (no `1e3`, no `0x10`). */
export function wholeNumberFlag(flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be a whole number from ${min} to ${max} (got "${text}")`);
  return n;
}

/** A finite number above zero; `unit` words it (`seconds` → "a positive number of seconds"). */
export function positiveNumberFlag(flag: string, text: string | undefined, fallback: number, unit?: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number${unit === undefined ? '' : ` of ${unit}`} (got "${text}")`);
  return n;
}
