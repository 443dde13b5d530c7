import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { DEFAULT_INCUS_SOCKET, INCUS_TIMEOUT_DEFAULTS, resolveIncusEndpoint } from '../../src/config/incus-endpoint.js';
import { UsageError } from '../../src/shared/errors.js';

describe('resolveIncusEndpoint timeouts', () => {
  it('defaults to 30 s per request and 60 s per exec, carried with the endpoint', async () => {
    await expect(resolveIncusEndpoint({}, {})).resolves.toEqual({ socketPath: DEFAULT_INCUS_SOCKET, requestTimeoutMs: 30_000, execTimeoutSeconds: 60 });
    expect(INCUS_TIMEOUT_DEFAULTS).toEqual({ requestTimeoutMs: 30_000, operationTimeoutSeconds: 600, execTimeoutSeconds: 60 });
  });

  it.each([
    { name: 'the environment when no flag is given', flags: {}, env: { ANKLUME_INCUS_TIMEOUT: '12', ANKLUME_EXEC_TIMEOUT: '90' }, requestTimeoutMs: 12_000, execTimeoutSeconds: 90 },
    { name: 'the flags over the environment', flags: { incusTimeout: '5', execTimeout: '2.5' }, env: { ANKLUME_INCUS_TIMEOUT: '12', ANKLUME_EXEC_TIMEOUT: '90' }, requestTimeoutMs: 5_000, execTimeoutSeconds: 2.5 },
    { name: 'each one on its own', flags: { execTimeout: '300' }, env: { ANKLUME_INCUS_TIMEOUT: '0.25' }, requestTimeoutMs: 250, execTimeoutSeconds: 300 },
    { name: 'a sub-millisecond request timeout as 1 ms, never as none', flags: { incusTimeout: '0.0001' }, env: {}, requestTimeoutMs: 1, execTimeoutSeconds: 60 },
  ])('takes $name', async ({ flags, env, requestTimeoutMs, execTimeoutSeconds }) => {
    await expect(resolveIncusEndpoint({ incusSocket: '/tmp/incus.sock', ...flags }, env)).resolves.toEqual({ socketPath: '/tmp/incus.sock', requestTimeoutMs, execTimeoutSeconds });
  });

  it.each(['0', '-1', '-0.5', 'abc', '', ' ', '30s', '1e3', '0x10', 'Infinity', 'NaN', '86401'])('refuses %j as a usage error naming the flag or variable', async (bad) => {
    for (const [flags, env, source] of [
      [{ incusTimeout: bad }, {}, '--incus-timeout'],
      [{ execTimeout: bad }, {}, '--exec-timeout'],
      [{}, { ANKLUME_INCUS_TIMEOUT: bad }, 'ANKLUME_INCUS_TIMEOUT'],
      [{}, { ANKLUME_EXEC_TIMEOUT: bad }, 'ANKLUME_EXEC_TIMEOUT'],
    ] as const) {
      const err = await resolveIncusEndpoint(flags, env).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toBe(`${source} must be a positive number of seconds, at most 86400 (got "${bad}")`);
    }
  });

  it('checks the timeouts before reading any certificate of --incus-url', async () => {
    const err = await resolveIncusEndpoint({ incusUrl: 'https://incus:8443', incusCert: '/nonexistent/c', incusKey: '/nonexistent/k', incusServerCert: '/nonexistent/s', execTimeout: '0' }, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
  });
});

describe('anklumectl --incus-timeout and --exec-timeout', () => {
  it('exits 2 with one clear line on a bad value', async () => {
    let stderr = '';
    const io = { stdout: () => undefined, stderr: (t: string) => (stderr += t), color: false, env: {} };
    const code = await runCli(['plan', '-f', 'infra.example.yml', '--incus-socket', '/nonexistent/incus.sock', '--exec-timeout', '-3'], io);
    expect(code).toBe(2);
    expect(stderr).toBe('error: --exec-timeout must be a positive number of seconds, at most 86400 (got "-3")\n');
  });
});
