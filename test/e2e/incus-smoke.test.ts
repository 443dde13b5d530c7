import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_INCUS_SOCKET,
  IncusApiError,
  IncusClient,
  IncusEventStream,
  IncusNotFoundError,
  IncusOperationError,
  StatusCode,
  apiPath,
  eventKey,
  isNotFound,
  isPreconditionFailed,
  type Instance,
  type InstancesPost,
  type WorkKey,
} from '../../src/incus/index.js';

// Against the real Incus that scripts/incus-setup.sh prepares.
const socketPath = process.env['INCUS_SOCKET'] || DEFAULT_INCUS_SOCKET;
const IMAGE = 'anklume-test/debian-13';
const name = `ak-e2e-smoke-${randomBytes(4).toString('hex')}`;
const path = apiPath('instances', name);

/** Only what this file created is ever deleted. */
const created = new Set<string>();
let client: IncusClient;
let events: IncusEventStream;
const keys: WorkKey[] = [];

async function forceDelete(instance: string): Promise<void> {
  const p = apiPath('instances', instance);
  try {
    await client.put(`${p}/state`, { action: 'stop', force: true, timeout: 30 }, { operationTimeoutSeconds: 60 });
  } catch {
    // Already stopped, or gone.
  }
  try {
    await client.delete(p, { operationTimeoutSeconds: 120 });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

beforeAll(async () => {
  if (!existsSync(socketPath)) {
    throw new Error(`No Incus socket at ${socketPath}: run scripts/incus-setup.sh (as root) or set INCUS_SOCKET`);
  }
  client = new IncusClient({ socketPath });
  // Subscribe before acting: Incus keeps no event history.
  events = new IncusEventStream({ socketPath });
  events.on('event', (e) => {
    const k = eventKey(e);
    if (k?.kind === 'instance' && k.name.startsWith('ak-e2e-smoke-')) keys.push(k);
  });
  const opened = new Promise<void>((resolve) => events.once('open', resolve));
  events.start();
  await opened;
});

afterAll(async () => {
  for (const instance of created) await forceDelete(instance);
  await events?.close();
  client?.close();
});

describe('IncusClient against a real Incus', () => {
  it('reads the server and finds the extensions anklume relies on', async () => {
    const info = await client.serverInfo();
    expect(info.auth).toBe('trusted');
    expect(info.api_extensions).toEqual(expect.arrayContaining(['etag', 'operation_wait', 'instance_create_start', 'networks_all_projects', 'profiles_all_projects']));
  });

  it('creates, updates, starts, stops and deletes a container from the test image', async () => {
    const body: InstancesPost = {
      name,
      type: 'container',
      source: { type: 'image', alias: IMAGE },
      profiles: ['default'], // root disk on the default pool, no NIC
      config: { 'user.anklume.test': 'smoke' },
    };
    created.add(name);
    client.resetStats();
    const res = await client.create('/1.0/instances', body, { operationTimeoutSeconds: 240 });
    expect(res.status).toBe(202);
    expect(res.operation?.status_code).toBe(StatusCode.Success);
    // One POST, then operation waits only.
    expect(client.stats.writes).toBe(1);

    const { value: inst, etag } = await client.getWithEtag<Instance>(path);
    expect(inst.status_code).toBe(StatusCode.Stopped);
    expect(inst.config['user.anklume.test']).toBe('smoke');
    expect(inst.expanded_devices?.['root']).toMatchObject({ type: 'disk', path: '/' });
    expect(etag).toBeTruthy();

    // A no-op read-modify-write writes nothing.
    client.resetStats();
    const noop = await client.updateWithRetry<Instance>(path, () => undefined);
    expect(noop.changed).toBe(false);
    expect(client.stats.writes).toBe(0);

    // PUT carries volatile.* back (instance PUT is async); If-Match from the read.
    const put = await client.updateWithRetry<Instance>(path, (cur) => ({
      architecture: cur.architecture,
      config: { ...cur.config, 'user.anklume.put': 'yes' },
      devices: cur.devices,
      profiles: cur.profiles,
      ephemeral: cur.ephemeral,
      description: 'anklume e2e smoke',
    }));
    expect(put).toMatchObject({ changed: true, attempts: 1 });
    expect(put.result?.status).toBe(202);

    // The ETag we read before the PUT is stale now: Incus answers 412.
    const stale = await client.put(path, { config: inst.config, devices: inst.devices, profiles: inst.profiles }, { etag: etag ?? '' }).catch((e: unknown) => e);
    expect(isPreconditionFailed(stale)).toBe(true);
    expect((stale as IncusApiError).incusMessage).toMatch(/ETag/);

    expect((await client.get<Instance>(path)).description).toBe('anklume e2e smoke');

    // Instance PATCH is sync. It merges config and devices, but Incus 6.0
    // resets an omitted `description` to "": always send it.
    const patched = await client.patch(path, { description: 'anklume e2e smoke', config: { 'user.anklume.patch': 'yes' } });
    expect(patched.status).toBe(200);
    expect(patched.operation).toBeUndefined();
    const after = await client.get<Instance>(path);
    expect(after.config).toMatchObject({ 'user.anklume.test': 'smoke', 'user.anklume.put': 'yes', 'user.anklume.patch': 'yes' });
    expect(after.description).toBe('anklume e2e smoke');

    await client.put(`${path}/state`, { action: 'start' }, { operationTimeoutSeconds: 120 });
    const state = await client.get<{ status_code: number; pid: number }>(`${path}/state`);
    expect(state.status_code).toBe(StatusCode.Running);
    expect(state.pid).toBeGreaterThan(0);

    const listed = await client.listInstances();
    expect(listed.find((i) => i.name === name)).toMatchObject({ project: 'default', status_code: StatusCode.Running });

    await client.put(`${path}/state`, { action: 'stop', force: true, timeout: 30 }, { operationTimeoutSeconds: 120 });
    await client.delete(path, { operationTimeoutSeconds: 120 });
    created.delete(name);

    const gone = await client.get(path).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(IncusNotFoundError);
    expect((gone as IncusNotFoundError).incusMessage).toMatch(/not found/i);
  });

  it('saw the lifecycle of that container on the events stream, keyed by name and project', async () => {
    const expected = { kind: 'instance', name, project: 'default' };
    // Events trail the operations a little.
    await expect.poll(() => keys.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(4);
    expect(keys.every((k) => k.name === name && k.project === 'default')).toBe(true);
    expect(keys).toContainEqual(expected);
    expect(events.connected).toBe(true);
  });

  it('fails a create from a non-existent image with Incus message', async () => {
    const missing = `ak-e2e-smoke-${randomBytes(4).toString('hex')}`;
    created.add(missing);
    const err = await client
      .create('/1.0/instances', { name: missing, source: { type: 'image', alias: `anklume-test/does-not-exist-${missing}` }, profiles: ['default'] }, { operationTimeoutSeconds: 60 })
      .catch((e: unknown) => e);
    expect(err instanceof IncusOperationError || err instanceof IncusApiError).toBe(true);
    const message = err instanceof IncusOperationError ? err.operationError : (err as IncusApiError).incusMessage;
    expect(message.length).toBeGreaterThan(0);
    expect(message).toMatch(/image/i);
    expect((err as Error).message).toContain(message);
    // Incus leaves nothing behind for a failed create.
    const left = await client.get(apiPath('instances', missing)).catch((e: unknown) => e);
    expect(isNotFound(left)).toBe(true);
    created.delete(missing);
  });
});
