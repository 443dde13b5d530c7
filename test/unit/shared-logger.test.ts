import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../../src/shared/logger.js';

describe('log redaction', () => {
  it('censors secret keys at the top of a log object and one or two levels down', () => {
    const obj = { password: 'p', a: { token: 't', b: { api_key: 'k', c: { secret: 'deeper than the paths: kept' } } }, ok: 1 };
    expect(redactSecrets(obj)).toEqual({ password: '[redacted]', a: { token: '[redacted]', b: { api_key: '[redacted]', c: { secret: 'deeper than the paths: kept' } } }, ok: 1 });
  });

  it('returns the same object when there is nothing to censor, and never changes the caller’s objects', () => {
    const plain = { requestId: 'r', domain: 'pro', ms: 3, labels: { route: 'cloud' } };
    expect(redactSecrets(plain)).toBe(plain);
    const inner = { authorization: 'Bearer x' };
    const obj = { headers: inner, n: 1 };
    const out = redactSecrets(obj);
    expect(out).toEqual({ headers: { authorization: '[redacted]' }, n: 1 });
    expect(obj.headers).toBe(inner);
    expect(inner.authorization).toBe('Bearer x');
  });

  it('leaves errors and arrays to the serializers', () => {
    const err = new Error('boom');
    const obj = { err, list: [{ password: 'in an array: not a path' }] };
    expect(redactSecrets(obj)).toBe(obj);
  });
});
