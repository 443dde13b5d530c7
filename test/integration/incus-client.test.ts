import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import {
  IncusApiError,
  IncusClient,
  IncusEventStream,
  IncusExecTimeoutError,
  IncusNotFoundError,
  IncusOperationError,
  IncusOperationTimeoutError,
  IncusPermissionError,
  IncusRequestTimeoutError,
  IncusTlsError,
  IncusUnreachableError,
  eventKey,
  isConflict,
  isNotFound,
  isPreconditionFailed,
  type IncusEvent,
  type WorkKey,
} from '../../src/incus/index.js';
import { async, error, operation, startFakeIncus, sync, type FakeIncus, type Reply } from '../helpers/fake-incus.js';

let fake: FakeIncus;
let client: IncusClient;

beforeAll(async () => {
  fake = await startFakeIncus();
});
afterAll(async () => {
  await fake.close();
});
afterEach(() => {
  client.close();
  fake.requests.length = 0;
});

function newClient(options: { waitChunkSeconds?: number; requestTimeoutMs?: number; operationTimeoutSeconds?: number; execTimeoutSeconds?: number } = {}): IncusClient {
  client = new IncusClient({ socketPath: fake.socketPath, ...options });
  return client;
}

describe('IncusClient over a unix socket', () => {
  it('returns the metadata of a sync answer and sends the project as a query parameter', async () => {
    fake.route((req) => (req.path === '/1.0/instances/c1' ? sync({ name: 'c1', project: req.query.get('project') }) : error(404, 'not found')));
    const c = newClient();
    const inst = await c.get<{ name: string; project: string }>('/1.0/instances/c1', { project: 'pro' });
    expect(inst).toEqual({ name: 'c1', project: 'pro' });
    expect(fake.requests[0]?.url).toBe('/1.0/instances/c1?project=pro');
    expect(c.stats).toEqual({ requests: 1, reads: 1, writes: 0 });
  });

  it('lists with recursion=1 and all-projects=true, except projects which have no all-projects', async () => {
    fake.route(() => sync([]));
    const c = newClient();
    await c.listInstances();
    await c.listNetworks();
    await c.listProfiles({ project: 'pro' });
    await c.listProjects();
    await c.listInstances({ withState: true, filter: 'status eq Running' });
    expect(fake.requests.map((r) => r.url)).toEqual([
      '/1.0/instances?recursion=1&all-projects=true',
      '/1.0/networks?recursion=1&all-projects=true',
      '/1.0/profiles?recursion=1&project=pro',
      '/1.0/projects?recursion=1',
      '/1.0/instances?recursion=2&filter=status+eq+Running&all-projects=true',
    ]);
  });

  it('reads the ETag of a single object and sends it back as If-Match', async () => {
    fake.route((req) => (req.method === 'GET' ? sync({ config: {} }, 200, { ETag: '"abc"' }) : sync({})));
    const c = newClient();
    const { value, etag } = await c.getWithEtag<{ config: object }>('/1.0/networks/net-a');
    expect(value).toEqual({ config: {} });
    expect(etag).toBe('"abc"');
    await c.put('/1.0/networks/net-a', { config: { 'ipv4.nat': 'false' } }, { etag: '"abc"' });
    const put = fake.requests[1];
    expect(put?.method).toBe('PUT');
    expect(put?.headers['if-match']).toBe('"abc"');
    expect(put?.headers['content-type']).toBe('application/json');
    expect(put?.body).toEqual({ config: { 'ipv4.nat': 'false' } });
  });

  it('returns the Location of a sync create (201)', async () => {
    fake.route(() => sync({}, 201, { Location: '/1.0/networks/net-a' }));
    const res = await newClient().create('/1.0/networks', { name: 'net-a', type: 'bridge', config: {} });
    expect(res.status).toBe(201);
    expect(res.location).toBe('/1.0/networks/net-a');
    expect(res.operation).toBeUndefined();
  });

  it('waits for an async write (202) through /operations/{id}/wait and counts the wait', async () => {
    fake.route((req) => {
      if (req.method === 'POST') return async('op-ok', 'Creating instance');
      if (req.path === '/1.0/operations/op-ok/wait') return { ...sync(operation('op-ok', 200)), flushHeadersFirst: true };
      return error(404, 'not found');
    });
    const c = newClient();
    const res = await c.create('/1.0/instances', { name: 'c1', source: { type: 'image', alias: 'x' } }, { project: 'pro' });
    expect(res.status).toBe(202);
    expect(res.operation?.status_code).toBe(200);
    expect(fake.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /1.0/instances?project=pro',
      'GET /1.0/operations/op-ok/wait?timeout=30&project=pro',
    ]);
    expect(c.stats).toEqual({ requests: 2, reads: 1, writes: 1 });
  });

  it('turns a failed operation reported under HTTP 200 by /wait into IncusOperationError with the operation err', async () => {
    fake.route((req) => {
      if (req.method === 'POST') return async('op-bad', 'Creating instance');
      // What Incus does: 200 header flushed first, then an error body.
      if (req.path === '/1.0/operations/op-bad/wait') return { ...error(500, 'Image not provided for instance creation', 200), flushHeadersFirst: true };
      if (req.path === '/1.0/operations/op-bad') return sync(operation('op-bad', 400, 'Image not provided for instance creation', 'Creating instance'));
      return error(404, 'not found');
    });
    const err = await newClient()
      .create('/1.0/instances', { name: 'c1' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncusOperationError);
    const opErr = err as IncusOperationError;
    expect(opErr.operationError).toBe('Image not provided for instance creation');
    expect(opErr.statusCode).toBe(400);
    expect(opErr.operationId).toBe('op-bad');
    expect(opErr.method).toBe('POST');
    expect(opErr.code).toBe('INCUS_OPERATION');
    expect(opErr.message).toContain('Creating instance');
  });

  it('uses the /wait error body when the failed operation is already gone', async () => {
    fake.route((req) => {
      if (req.method === 'DELETE') return async('op-gone');
      if (req.path.endsWith('/wait')) return { ...error(400, 'Instance is running', 200), flushHeadersFirst: true };
      return error(404, 'Operation not found');
    });
    const err = await newClient()
      .delete('/1.0/instances/c1')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncusOperationError);
    expect((err as IncusOperationError).operationError).toBe('Instance is running');
  });

  it('keeps waiting when a /wait times out while the operation still runs', async () => {
    let waits = 0;
    fake.route((req) => {
      if (req.method === 'PUT') return async('op-slow');
      if (req.path.endsWith('/wait')) {
        waits++;
        // Incus 6.0 answers a timed-out wait like a failure: 200 + error body.
        if (waits === 1) return { ...error(500, 'context deadline exceeded', 200), flushHeadersFirst: true };
        return sync(operation('op-slow', 200));
      }
      if (req.path === '/1.0/operations/op-slow') return sync(operation('op-slow', 103));
      return error(404, 'not found');
    });
    const c = newClient({ waitChunkSeconds: 1 });
    const res = await c.put('/1.0/instances/c1/state', { action: 'start' });
    expect(res.operation?.status_code).toBe(200);
    expect(waits).toBe(2);
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'PUT /1.0/instances/c1/state',
      'GET /1.0/operations/op-slow/wait',
      'GET /1.0/operations/op-slow',
      'GET /1.0/operations/op-slow/wait',
    ]);
    expect(fake.requests[1]?.query.get('timeout')).toBe('1');
  });

  it('gives up waiting after operationTimeoutSeconds with IncusOperationTimeoutError', async () => {
    fake.route((req) => {
      if (req.method === 'PUT') return async('op-stuck');
      if (req.path.endsWith('/wait')) return sync(operation('op-stuck', 103));
      return error(404, 'not found');
    });
    const err = await newClient()
      .put('/1.0/instances/c1/state', { action: 'stop' }, { operationTimeoutSeconds: 0 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncusOperationTimeoutError);
  });

  it('maps a 404 error envelope to IncusNotFoundError carrying the Incus code and message', async () => {
    fake.route(() => error(404, 'Failed to fetch instance "nope" in project "default": Instance not found'));
    const err = await newClient()
      .get('/1.0/instances/nope')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncusNotFoundError);
    expect(err).toBeInstanceOf(IncusApiError);
    const api = err as IncusApiError;
    expect(isNotFound(api)).toBe(true);
    expect(api.status).toBe(404);
    expect(api.incusCode).toBe(404);
    expect(api.incusMessage).toBe('Failed to fetch instance "nope" in project "default": Instance not found');
    expect(api.method).toBe('GET');
    expect(api.path).toBe('/1.0/instances/nope');
    expect(api.message).toContain('Instance not found');
  });

  it('maps an unknown route ({"error":"not found"} without type) to IncusNotFoundError', async () => {
    fake.route(() => ({ status: 404, body: { error: 'not found' } }));
    const err = await newClient()
      .get('/1.0/network-address-sets')
      .catch((e: unknown) => e);
    expect(isNotFound(err)).toBe(true);
    expect((err as IncusApiError).incusMessage).toBe('not found');
  });

  it('maps 409 to IncusApiError recognised by isConflict', async () => {
    fake.route(() => error(409, 'Network "net-a" already exists'));
    const err = await newClient()
      .create('/1.0/networks', { name: 'net-a' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncusApiError);
    expect(isConflict(err)).toBe(true);
    expect(isNotFound(err)).toBe(false);
  });

  it('rejects a body that is not JSON with IncusApiError', async () => {
    fake.route(() => ({ status: 502, body: '<html>bad gateway</html>' }));
    const err = await newClient()
      .get('/1.0')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncusApiError);
    expect((err as IncusApiError).status).toBe(502);
    expect((err as IncusApiError).incusMessage).toContain('bad gateway');
  });

  it('maps 403 to IncusPermissionError that says the caller lacks permission', async () => {
    fake.route(() => error(403, 'not authorized'));
    const err = await newClient()
      .listProjects()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncusPermissionError);
    expect((err as IncusPermissionError).code).toBe('INCUS_PERMISSION');
    expect((err as IncusPermissionError).incusMessage).toBe('not authorized');
    expect((err as Error).message).toMatch(/lacks permission/);
    expect((err as Error).message).toMatch(/incus-admin/);
  });

  it('reports a missing socket as IncusUnreachableError naming the path', async () => {
    const missing = join(fake.dir, 'no-such.socket');
    client = new IncusClient({ socketPath: missing });
    const err = await client.serverInfo().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncusUnreachableError);
    expect((err as IncusUnreachableError).code).toBe('INCUS_UNREACHABLE');
    expect((err as Error).message).toContain(`Incus is not reachable at ${missing}`);
    expect((err as Error).message).toMatch(/incusd running/);
    expect(client.stats.requests).toBe(1);
  });

  it('aborts a pending request with the signal reason', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let arrived!: () => void;
    const seen = new Promise<void>((r) => (arrived = r));
    fake.route(() => {
      arrived();
      return { ...sync({}), delayUntil: held };
    });
    const ac = new AbortController();
    const pending = newClient().get('/1.0/instances', { signal: ac.signal });
    await seen;
    const reason = new Error('shutting down');
    ac.abort(reason);
    await expect(pending).rejects.toBe(reason);
    release();
  });

  it('aborts an operation wait with the signal reason', async () => {
    const ac = new AbortController();
    const never = new Promise(() => undefined);
    fake.route((req) => {
      if (req.method === 'POST') return async('op-long');
      queueMicrotask(() => ac.abort());
      return { ...sync(operation('op-long', 200)), flushHeadersFirst: true, delayUntil: never };
    });
    const err = await newClient()
      .create('/1.0/instances', { name: 'c1' }, { signal: ac.signal })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DOMException);
    expect((err as DOMException).name).toBe('AbortError');
  });

  it('does not send anything when the signal is already aborted', async () => {
    fake.route(() => sync({}));
    const c = newClient();
    await expect(c.get('/1.0', { signal: AbortSignal.abort() })).rejects.toThrow();
    expect(fake.requests).toHaveLength(0);
    expect(c.stats.requests).toBe(0);
  });

  describe('updateWithRetry', () => {
    function etagServer(putStatuses: number[]): { puts: () => number } {
      let version = 1;
      let puts = 0;
      fake.route((req) => {
        if (req.method === 'GET') return sync({ config: { v: String(version) } }, 200, { ETag: `"e${version}"` });
        puts++;
        const status = putStatuses.shift() ?? 200;
        if (status === 412) {
          version++; // someone else wrote in between
          return error(412, `ETag doesn't match: e${version} vs ${String(req.headers['if-match'])}`);
        }
        return sync({});
      });
      return { puts: () => puts };
    }

    it('re-reads and succeeds after a 412', async () => {
      const server = etagServer([412, 200]);
      const c = newClient();
      const seenVersions: string[] = [];
      const res = await c.updateWithRetry<{ config: Record<string, string> }>('/1.0/profiles/p1', (cur) => {
        seenVersions.push(cur.config['v'] ?? '');
        return { config: { ...cur.config, 'user.anklume.owner': 'anklume' } };
      });
      expect(res).toMatchObject({ changed: true, attempts: 2 });
      expect(server.puts()).toBe(2);
      expect(seenVersions).toEqual(['1', '2']);
      const puts = fake.requests.filter((r) => r.method === 'PUT');
      expect(puts.map((r) => r.headers['if-match'])).toEqual(['"e1"', '"e2"']);
      expect(c.stats).toEqual({ requests: 4, reads: 2, writes: 2 });
    });

    it('gives up after maxAttempts and throws the last 412', async () => {
      const server = etagServer([412, 412, 412, 412, 412, 412]);
      const err = await newClient()
        .updateWithRetry('/1.0/profiles/p1', (cur) => cur, { maxAttempts: 3, method: 'PATCH' })
        .catch((e: unknown) => e);
      expect(isPreconditionFailed(err)).toBe(true);
      expect((err as IncusApiError).status).toBe(412);
      expect(server.puts()).toBe(3);
      expect(fake.requests.filter((r) => r.method === 'PATCH')).toHaveLength(3);
    });

    it('writes nothing when mutate returns undefined', async () => {
      etagServer([]);
      const c = newClient();
      const res = await c.updateWithRetry('/1.0/profiles/p1', () => undefined);
      expect(res).toEqual({ changed: false, attempts: 1, result: undefined });
      expect(c.stats).toEqual({ requests: 1, reads: 1, writes: 0 });
    });
  });

  it('counts requests, reads and writes, and resets', async () => {
    fake.route((req) => (req.method === 'GET' ? sync([]) : sync({})));
    const c = newClient();
    await c.listInstances();
    await c.patch('/1.0/instances/c1', { config: {} });
    await c.delete('/1.0/networks/n1');
    expect(c.stats).toEqual({ requests: 3, reads: 1, writes: 2 });
    c.resetStats();
    expect(c.stats).toEqual({ requests: 0, reads: 0, writes: 0 });
  });
});

describe('IncusClient timeouts', () => {
  // Timeouts are short so the tests are quick; they assert what fails and how, not speed.
  const never = new Promise<never>(() => undefined);
  const hungWait = (id: string): Reply => ({ ...sync(operation(id, 200)), flushHeadersFirst: true, delayUntil: never });
  const GPU_QUERY = ['nvidia-smi', '--query-gpu=index,memory.used', '--format=csv'];

  it('fails a request Incus never answers with IncusRequestTimeoutError after requestTimeoutMs, without retrying it', async () => {
    fake.route(() => ({ ...sync([]), delayUntil: never }));
    const started = performance.now();
    const err = await newClient({ requestTimeoutMs: 200 })
      .listInstances({ project: 'pro' })
      .catch((e: unknown) => e);
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    expect(err).toBeInstanceOf(IncusRequestTimeoutError);
    // Still a kind of unreachable, for callers that treat Incus as down.
    expect(err).toBeInstanceOf(IncusUnreachableError);
    expect((err as IncusRequestTimeoutError).code).toBe('INCUS_TIMEOUT');
    expect((err as Error).message).toBe(`Incus at ${fake.socketPath} did not answer GET /1.0/instances?recursion=1&project=pro within 0.2 s`);
    expect(fake.requests).toHaveLength(1);
  });

  it('fails an operation wait longer than operationTimeoutSeconds with IncusOperationTimeoutError, even when /wait never answers', async () => {
    fake.route((req) => {
      if (req.method === 'PUT') return async('op-unpack', 'Creating instance');
      if (req.path.endsWith('/wait')) return hungWait('op-unpack');
      return error(404, 'not found');
    });
    const err = await newClient({ operationTimeoutSeconds: 0.2 })
      .put('/1.0/instances/c1/state', { action: 'start' }, { project: 'pro' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncusOperationTimeoutError);
    expect((err as IncusOperationTimeoutError).operationId).toBe('op-unpack');
    expect((err as Error).message).toBe('Incus operation op-unpack (Creating instance, PUT /1.0/instances/c1/state?project=pro) still running after 0.2 s; it may still finish');
    // Incus counts whole seconds; the client's own timer ends the wait on time.
    expect(fake.requests[1]?.query.get('timeout')).toBe('1');
  });

  it('lets the caller abort an operation wait before its bound, with the signal reason', async () => {
    const ac = new AbortController();
    const reason = new Error('shutting down');
    fake.route((req) => {
      if (req.method === 'PUT') return async('op-stop');
      queueMicrotask(() => ac.abort(reason));
      return hungWait('op-stop');
    });
    const err = await newClient({ operationTimeoutSeconds: 0.2 })
      .put('/1.0/instances/c1/state', { action: 'stop' }, { signal: ac.signal })
      .catch((e: unknown) => e);
    expect(err).toBe(reason);
  });

  it('runs a command under timeout -k with the exec timeout and returns its exit code and output, deleting the logs', async () => {
    const log = (fd: string): string => `/1.0/instances/c1/logs/exec-output/exec_op-exec.${fd}`;
    fake.route((req) => {
      if (req.method === 'POST' && req.path === '/1.0/instances/c1/exec') return async('op-exec', 'Executing command');
      if (req.path === '/1.0/operations/op-exec/wait') return sync({ ...operation('op-exec', 200), metadata: { return: 3, output: { '1': log('stdout'), '2': log('stderr') } } });
      if (req.method === 'GET' && req.path === log('stdout')) return { body: 'out\n' };
      if (req.method === 'GET' && req.path === log('stderr')) return { body: 'err\n' };
      if (req.method === 'DELETE') return sync({});
      return error(404, 'not found');
    });
    const c = newClient({ execTimeoutSeconds: 45 });
    const script = 'echo out; echo err >&2; exit 3';
    await expect(c.exec('pro', 'c1', ['sh', '-c', script])).resolves.toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(fake.requests[0]?.body).toMatchObject({ command: ['timeout', '-k', '5', '45', 'sh', '-c', script], 'record-output': true, 'wait-for-websocket': false });
    expect(fake.requests.filter((r) => r.method === 'DELETE').map((r) => r.url)).toEqual([`${log('stdout')}?project=pro`, `${log('stderr')}?project=pro`]);

    // The caller's own bound wins; Infinity runs the command bare.
    fake.requests.length = 0;
    await c.exec('pro', 'c1', ['true'], { timeoutSeconds: 2.5 });
    expect(fake.requests[0]?.body).toMatchObject({ command: ['timeout', '-k', '5', '2.5', 'true'] });
    fake.requests.length = 0;
    await c.exec('pro', 'c1', ['true'], { timeoutSeconds: Infinity });
    expect(fake.requests[0]?.body).toMatchObject({ command: ['true'] });
  });

  it('fails an exec whose operation never finishes with IncusExecTimeoutError naming the command and instance, leaving the kill to timeout', async () => {
    fake.route((req) => {
      if (req.method === 'POST') return async('op-hung', 'Executing command');
      if (req.path.endsWith('/wait')) return hungWait('op-hung');
      return error(404, 'not found');
    });
    const started = performance.now();
    const err = await newClient({ execTimeoutSeconds: 0.2 })
      .exec('ai-tools', 'gpu-server', GPU_QUERY)
      .catch((e: unknown) => e);
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    expect(err).toBeInstanceOf(IncusExecTimeoutError);
    expect((err as Error).message).toBe('exec "nvidia-smi --query-gpu=index,memory.used --format=csv" in ai-tools/gpu-server timed out after 0.2 s');
    expect(err).toMatchObject({ code: 'INCUS_EXEC_TIMEOUT', project: 'ai-tools', instance: 'gpu-server', command: GPU_QUERY, timeoutSeconds: 0.2, operationId: 'op-hung', cancelled: false });
    // Incus cannot cancel a recorded exec (may_cancel false), so nothing is
    // sent: `timeout` stops the command inside the instance.
    expect(fake.requests[0]?.body).toMatchObject({ command: ['timeout', '-k', '5', '0.2', ...GPU_QUERY] });
    expect(fake.requests.filter((r) => r.method === 'DELETE')).toHaveLength(0);
  });

  it('cancels a timed-out exec operation when Incus says it may (DELETE /1.0/operations/<id>)', async () => {
    fake.route((req) => {
      if (req.method === 'POST') {
        const reply = async('op-cancel', 'Executing command');
        ((reply.body as { metadata: Record<string, unknown> }).metadata)['may_cancel'] = true;
        return reply;
      }
      if (req.path.endsWith('/wait')) return hungWait('op-cancel');
      if (req.method === 'DELETE') return sync({});
      return error(404, 'not found');
    });
    const err = await newClient({ execTimeoutSeconds: 60 })
      .exec('ai-tools', 'gpu-server', GPU_QUERY, { timeoutSeconds: 0.2 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncusExecTimeoutError);
    expect(err).toMatchObject({ operationId: 'op-cancel', cancelled: true, timeoutSeconds: 0.2 });
    expect(fake.requests.filter((r) => r.method === 'DELETE').map((r) => r.url)).toEqual(['/1.0/operations/op-cancel?project=ai-tools']);
  });

  it("aborts an exec at once on the caller's signal, with its reason rather than a timeout", async () => {
    const ac = new AbortController();
    const reason = new Error('shutting down');
    fake.route((req) => {
      if (req.method === 'POST') return async('op-abort');
      queueMicrotask(() => ac.abort(reason));
      return hungWait('op-abort');
    });
    const err = await newClient({ execTimeoutSeconds: 60 })
      .exec('pro', 'c1', ['sleep', '1000'], { signal: ac.signal })
      .catch((e: unknown) => e);
    expect(err).toBe(reason);
    expect(fake.requests.filter((r) => r.method === 'DELETE')).toHaveLength(0);
  });

  it('refuses timeouts that are not positive', () => {
    expect(() => new IncusClient({ socketPath: fake.socketPath, execTimeoutSeconds: 0 })).toThrow(RangeError);
    expect(() => new IncusClient({ socketPath: fake.socketPath, operationTimeoutSeconds: -1 })).toThrow(/operationTimeoutSeconds/);
    expect(() => new IncusClient({ socketPath: fake.socketPath, requestTimeoutMs: Number.NaN })).toThrow(/requestTimeoutMs/);
  });
});

describe('IncusClient over HTTPS with a pinned server certificate', () => {
  let dir: string;
  let server: https.Server;
  let url: string;
  let serverCert: string;
  let otherCert: string;
  let clientCert: string;
  let clientKey: string;

  function selfSigned(name: string): { cert: string; key: string } {
    const key = join(dir, `${name}.key`);
    const cert = join(dir, `${name}.crt`);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`], { stdio: 'ignore' });
    return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anklume-tls-'));
    const srv = selfSigned('incus-server');
    serverCert = srv.cert;
    otherCert = selfSigned('impostor').cert;
    const cli = selfSigned('anklume-client');
    clientCert = cli.cert;
    clientKey = cli.key;
    const trusted = new X509Certificate(clientCert).fingerprint256;
    // Like Incus: ask for a client certificate, authorise it by fingerprint.
    server = https.createServer({ cert: srv.cert, key: srv.key, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.setHeader('Content-Type', 'application/json');
      if (peer.fingerprint256 !== trusted) {
        res.writeHead(403).end(JSON.stringify(error(403, 'not authorized').body));
        return;
      }
      res.end(JSON.stringify(sync({ api_version: '1.0', auth: 'trusted' }).body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 30_000);

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('talks to a server presenting exactly the pinned certificate, with the client certificate', async () => {
    client = new IncusClient({ url, tls: { cert: clientCert, key: clientKey, serverCert } });
    await expect(client.serverInfo()).resolves.toMatchObject({ auth: 'trusted' });
  });

  it('refuses a server whose certificate is not the pinned one with IncusTlsError', async () => {
    client = new IncusClient({ url, tls: { cert: clientCert, key: clientKey, serverCert: otherCert } });
    const err = await client.serverInfo().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncusTlsError);
    expect((err as IncusTlsError).code).toBe('INCUS_TLS');
  });

  it('opens the events websocket (wss) only to the pinned server', async () => {
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.send(JSON.stringify({ type: 'lifecycle', timestamp: '', metadata: { action: 'project-created', source: '/1.0/projects/pro' } })));
    try {
      const good = new IncusEventStream({ url, tls: { cert: clientCert, key: clientKey, serverCert } });
      const first = new Promise<IncusEvent>((resolve) => good.once('event', resolve));
      good.start();
      expect(eventKey(await first)).toEqual({ kind: 'project', name: 'pro', project: 'pro' });
      await good.close();

      const bad = new IncusEventStream({ url, tls: { cert: clientCert, key: clientKey, serverCert: otherCert }, sleep: () => new Promise(() => undefined) });
      const failure = new Promise<Error>((resolve) => bad.once('error', resolve));
      let opened = false;
      bad.on('open', () => (opened = true));
      bad.start();
      expect(await failure).toBeInstanceOf(IncusTlsError);
      await bad.close();
      expect(opened).toBe(false);
    } finally {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    }
  });

  it('reports an untrusted client certificate as IncusPermissionError', async () => {
    const stranger = selfSigned('stranger');
    client = new IncusClient({ url, tls: { cert: stranger.cert, key: stranger.key, serverCert } });
    await expect(client.serverInfo()).rejects.toBeInstanceOf(IncusPermissionError);
  });
});

describe('IncusEventStream', () => {
  let dir: string;
  let httpServer: http.Server;
  let wss: WebSocketServer;
  let socketPath: string;
  let onConnection: (ws: ServerSocket, req: http.IncomingMessage, n: number) => void;
  let connections = 0;
  let handshakeStatus: number | undefined;
  const urls: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anklume-events-'));
    socketPath = join(dir, 'unix.socket');
    httpServer = http.createServer();
    wss = new WebSocketServer({ noServer: true });
    httpServer.on('upgrade', (req, socket, head) => {
      urls.push(req.url ?? '');
      if (handshakeStatus !== undefined) {
        const body = JSON.stringify(error(handshakeStatus, 'not authorized').body);
        socket.end(`HTTP/1.1 ${handshakeStatus} Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req, ++connections));
    });
    await new Promise<void>((resolve) => httpServer.listen(socketPath, resolve));
  });

  afterAll(async () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    httpServer.closeAllConnections();
    await new Promise((r) => httpServer.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    connections = 0;
    handshakeStatus = undefined;
    urls.length = 0;
  });

  const lifecycle = (action: string, source: string, project = 'default'): IncusEvent => ({
    type: 'lifecycle',
    timestamp: '2026-01-01T00:00:00Z',
    metadata: { action, source, requestor: { username: 'root', protocol: 'unix', address: '@' } },
    location: 'none',
    project,
  });

  it('delivers lifecycle events, reconnects after a dropped connection and fires open again', async () => {
    onConnection = (ws, _req, n) => {
      if (n === 1) {
        ws.send(JSON.stringify(lifecycle('instance-started', '/1.0/instances/c1?project=pro', 'pro')));
        ws.send(JSON.stringify(lifecycle('instance-metadata-retrieved', '/1.0/instances/c1/metadata')));
        // The daemon restarts: the connection drops without a close frame.
        setImmediate(() => ws.terminate());
      } else {
        ws.send(JSON.stringify(lifecycle('network-updated', '/1.0/networks/net-pro')));
      }
    };
    const delays: number[] = [];
    const stream = new IncusEventStream({
      socketPath,
      backoff: { baseMs: 10, capMs: 40, jitter: 'equal', random: () => 0.5 },
      sleep: (ms) => {
        delays.push(ms);
        return Promise.resolve();
      },
    });
    let opens = 0;
    const keys: (WorkKey | null)[] = [];
    const closes: boolean[] = [];
    stream.on('open', () => opens++);
    stream.on('close', (c) => closes.push(c.reconnecting));
    const done = new Promise<void>((resolve) => {
      stream.on('event', (e) => {
        keys.push(eventKey(e));
        if (keys.length === 3) resolve();
      });
    });
    stream.start();
    await done;
    expect(opens).toBe(2);
    expect(stream.connected).toBe(true);
    expect(keys).toEqual([
      { kind: 'instance', name: 'c1', project: 'pro' },
      null,
      { kind: 'network', name: 'net-pro', project: 'default' },
    ]);
    // After an opened connection the backoff starts over: 10 * (0.5 + 0.5 * 0.5).
    expect(delays).toEqual([8]);
    expect(urls[0]).toBe('/1.0/events?type=lifecycle&all-projects=true');
    await stream.close();
    expect(stream.connected).toBe(false);
    expect(closes).toEqual([true, false]);
    expect(connections).toBe(2);
  });

  it('backs off exponentially up to the cap while Incus refuses, and reports why', async () => {
    handshakeStatus = 403;
    const delays: number[] = [];
    const errors: Error[] = [];
    let gaveUp!: () => void;
    const fourDelays = new Promise<void>((resolve) => (gaveUp = resolve));
    const stream = new IncusEventStream({
      socketPath,
      project: 'pro',
      backoff: { baseMs: 10, capMs: 40, jitter: 'none' },
      sleep: (ms) => {
        delays.push(ms);
        if (delays.length === 4) gaveUp();
        return delays.length >= 4 ? new Promise(() => undefined) : Promise.resolve();
      },
    });
    stream.on('error', (e) => errors.push(e));
    let opens = 0;
    stream.on('open', () => opens++);
    stream.start();
    await fourDelays;
    await stream.close();
    expect(opens).toBe(0);
    expect(delays).toEqual([10, 20, 40, 40]);
    expect(errors.length).toBeGreaterThanOrEqual(4);
    expect(errors[0]).toBeInstanceOf(IncusPermissionError);
    expect(errors[0]?.message).toContain('not authorized');
    expect(urls[0]).toBe('/1.0/events?type=lifecycle&project=pro');
  });

  it('reports a missing socket as IncusUnreachableError and stops on abort', async () => {
    const ac = new AbortController();
    const errors: Error[] = [];
    let aborted!: () => void;
    const stopped = new Promise<void>((resolve) => (aborted = resolve));
    const stream = new IncusEventStream({
      socketPath: join(dir, 'missing.socket'),
      signal: ac.signal,
      sleep: (_ms, signal) => {
        if (errors.length >= 2) {
          ac.abort();
          aborted();
        }
        return signal.aborted ? Promise.reject(new Error('aborted')) : Promise.resolve();
      },
    });
    stream.on('error', (e) => errors.push(e));
    stream.start();
    await stopped;
    await stream.close();
    expect(errors[0]).toBeInstanceOf(IncusUnreachableError);
    expect(errors[0]?.message).toContain('missing.socket');
  });

  it('closes cleanly while connected, without reconnecting', async () => {
    onConnection = () => undefined;
    const stream = new IncusEventStream({ socketPath, sleep: () => Promise.reject(new Error('must not reconnect')) });
    const opened = new Promise<void>((resolve) => stream.once('open', resolve));
    stream.start();
    await opened;
    await stream.close();
    expect(connections).toBe(1);
    expect(stream.connected).toBe(false);
  });
});
