import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateInfraText } from '../../src/config/validate.js';
import { reconcileOnce } from '../../src/controllers/whole-pass.js';
import { DEFAULT_INCUS_SOCKET, IncusClient, isNotFound } from '../../src/incus/index.js';

/** The real Incus prepared by scripts/incus-setup.sh. */
export const INCUS_SOCKET = process.env['INCUS_SOCKET'] || DEFAULT_INCUS_SOCKET;
/** The local image that scripts/incus-setup.sh builds and imports. */
export const TEST_IMAGE = 'anklume-test/debian-13';

export function testClient(): IncusClient {
  if (!existsSync(INCUS_SOCKET)) throw new Error(`No Incus socket at ${INCUS_SOCKET}: run scripts/incus-setup.sh (as root) or set INCUS_SOCKET`);
  return new IncusClient({ socketPath: INCUS_SOCKET });
}

/**
 * A unique, short prefix for the domains a test creates: domain names end up in
 * bridge names (net-<domain>, at most 15 characters), so `e` + 4 characters.
 */
export function shortPrefix(): string {
  return `e${randomBytes(3).toString('hex').slice(0, 4)}`;
}

/** A 10.x.0.0/16 second octet no host interface uses, for a test's legacy base_subnet. */
export function freeSecondOctet(): number {
  const used = new Set(
    Object.values(networkInterfaces())
      .flat()
      .filter((a) => a?.family === 'IPv4' && a.address.startsWith('10.'))
      .map((a) => Number(a?.address.split('.')[1])),
  );
  for (let i = 0; i < 100; i++) {
    const octet = 200 + Math.floor(Math.random() * 50);
    if (!used.has(octet)) return octet;
  }
  throw new Error('no free 10.2xx.0.0/16 for the test');
}

export function writeTemp(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'anklume-e2e-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Poll until `check` returns a value (not undefined), at most `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 250));
  }
}

/** Remove whatever a test left behind whose name starts with `prefix` (instances, profiles, projects, bridges). */
export async function removeByPrefix(client: IncusClient, prefix: string): Promise<void> {
  const ignoreMissing = async (p: Promise<unknown>): Promise<void> => {
    try {
      await p;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  };
  for (const i of await client.listInstances()) {
    if (!i.name.startsWith(prefix)) continue;
    const target = { project: i.project };
    const path = `/1.0/instances/${i.name}`;
    await ignoreMissing(client.patch(path, { config: { 'security.protection.delete': 'false' } }, target));
    // The instance may stop (or be gone) between the list and here: a failed stop is fine, the delete says the rest.
    if (i.status !== 'Stopped') await client.put(`${path}/state`, { action: 'stop', force: true, timeout: 30 }, target).catch(() => undefined);
    await ignoreMissing(client.delete(path, target));
  }
  for (const p of await client.listProjects()) {
    if (!p.name.startsWith(prefix)) continue;
    for (const profile of await client.listProfiles({ project: p.name })) {
      if (profile.name !== 'default') await ignoreMissing(client.delete(`/1.0/profiles/${profile.name}`, { project: p.name }));
    }
    await ignoreMissing(client.delete(`/1.0/projects/${p.name}`));
  }
  for (const n of await client.listNetworks({ project: 'default' })) {
    if (n.managed && (n.name.startsWith(prefix) || n.name.startsWith(`net-${prefix}`))) await ignoreMissing(client.delete(`/1.0/networks/${n.name}`));
  }
}

/**
 * Tear down what a test or benchmark created: anklume first deletes its own
 * objects of `infraName` (a prune of an empty infra), then whatever a failure
 * left under `prefix` is swept.
 */
export async function removeTestInfra(client: IncusClient, options: { infraName: string; prefix: string }): Promise<void> {
  try {
    const empty = validateInfraText(`project_name: ${options.infraName}\ndomains: {}\n`, { file: 'teardown.yml' });
    if (empty.ok) await reconcileOnce(client, empty.model, { prune: true, force: true, concurrency: 4 });
  } finally {
    await removeByPrefix(client, options.prefix);
    // `apply` wrote the firewall of this test's infra; the next test writes its own.
    removeFirewallTable();
  }
}

/** `incus exec` (the CLI: the REST exec needs websockets for little gain here); never throws on a non-zero exit. */
export function incusExec(project: string, instance: string, command: readonly string[], options: { timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('incus', ['exec', '--project', project, instance, '--', ...command], { timeout: options.timeoutMs ?? 60_000, env: { ...process.env, INCUS_SOCKET } }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        reject(new Error(`incus exec: ${err.message}`, { cause: err }));
        return;
      }
      resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr });
    });
  });
}

/** Wait until an instance holds its pinned address (its DHCP lease came). */
export async function waitForAddress(project: string, instance: string, ip: string): Promise<void> {
  await waitFor(`${instance} to hold ${ip}`, async () => {
    const r = await incusExec(project, instance, ['ip', '-4', '-o', 'addr', 'show', 'eth0']).catch(() => ({ code: 1, stdout: '' }));
    return r.stdout.includes(`inet ${ip}/`) ? true : undefined;
  }, { timeoutMs: 90_000, intervalMs: 500 });
}

/** Remove anklume's nftables table (tests that applied a firewall created it). */
export function removeFirewallTable(): void {
  try {
    execFileSync('nft', ['delete', 'table', 'inet', 'anklume'], { stdio: 'ignore' });
  } catch {
    // Not there: nothing to remove.
  }
}
