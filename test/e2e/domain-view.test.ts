import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusDocument } from '../../src/controllers/status.js';
import type { IncusClient } from '../../src/incus/index.js';
import { DEFAULT_DOMAIN_VIEW_PORT } from '../../src/schemas/ports.js';
import { startDaemon, tearDown, waitAllReady, type RunningDaemon } from '../helpers/daemon.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, incusExec, shortPrefix, testClient, waitFor, waitForAddress, writeTemp } from '../helpers/incus.js';

// anklumed on a real Incus with real nftables: from a machine of A, A's view
// on A's gateway; from B's machine, A's gateway stays shut (the firewall) and
// B's own view answers about B. Requests are sent from inside the instances
// with bash's /dev/tcp (the test image has no curl).
const p = shortPrefix();
const octet = freeSecondOctet();
const [A, B] = [`${p}-a`, `${p}-b`];
const [A1, B1] = [`${A}1`, `${B}1`];
const [A1_IP, B1_IP] = [`10.${octet}.1.10`, `10.${octet}.2.10`];
const [A_GW, B_GW] = [`10.${octet}.1.254`, `10.${octet}.2.254`];
const infraName = `${p}-view`;
const PORT = DEFAULT_DOMAIN_VIEW_PORT;

function infraText(options: { snapshotsInA: boolean }): string {
  return `project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
domains:
  ${A}:
    subnet_id: 1
    ephemeral: true
${options.snapshotsInA ? '    domain_view: { snapshots: true, snapshot_interval: 1h }\n' : ''}    machines:
      ${A1}: { ip: ${A1_IP} }
  ${B}:
    subnet_id: 2
    ephemeral: true
    machines:
      ${B1}: { ip: ${B1_IP} }
network_policies:
  - description: B reaches A's web server
    from: ${B}
    to: ${A1}
    ports: [80]
`;
}

interface Answer {
  readonly status: number;
  readonly headers: string;
  readonly body: any;
}

/**
 * One HTTP/1.1 request sent from inside `instance` to `gateway`'s view, with
 * these extra header lines; null when no answer came (the connection was
 * dropped or refused).
 */
async function httpFrom(project: string, instance: string, gateway: string, method: string, path: string, options: { headers?: readonly string[]; body?: string } = {}): Promise<Answer | null> {
  const body = options.body ?? '';
  const request = [`${method} ${path} HTTP/1.1`, `Host: ${gateway}`, 'Connection: close', ...(options.headers ?? []), `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
  const script = 'exec 3<>"/dev/tcp/$0/$1" || exit 7; printf "%s" "$2" >&3; cat <&3';
  const run = await incusExec(project, instance, ['timeout', '6', 'bash', '-c', script, gateway, String(PORT), request], { timeoutMs: 20_000 });
  if (run.code !== 0 || run.stdout === '') return null;
  const split = run.stdout.indexOf('\r\n\r\n');
  const head = run.stdout.slice(0, split);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  const text = run.stdout.slice(split + 4).trim();
  return { status, headers: head, body: text === '' ? null : JSON.parse(text) };
}
const fromA = (method: string, path: string, options?: Parameters<typeof httpFrom>[5]) => httpFrom(A, A1, A_GW, method, path, options);
const fromB = (method: string, path: string, options?: Parameters<typeof httpFrom>[5]) => httpFrom(B, B1, B_GW, method, path, options);

async function snapshotsOf(project: string, instance: string): Promise<string[]> {
  const list = await client.get<string[]>(`/1.0/instances/${instance}/snapshots`, { project });
  return list.map((s) => new URL(s, 'http://incus.invalid').pathname.split('/').pop() ?? s).sort();
}

let client: IncusClient;
let infraFile: string;
let socket: string;
let daemon: RunningDaemon | undefined;

beforeAll(async () => {
  client = testClient();
  infraFile = writeTemp('infra.yml', infraText({ snapshotsInA: false }));
  socket = join(dirname(infraFile), 'anklumed.sock');
  daemon = startDaemon(['--config', infraFile, '--resync', '0 0 1 1 *', '--firewall-check', '1', '--prune'], socket, { INCUS_SOCKET });
  const inSync = (s: StatusDocument): boolean => s.firewall.managed && s.firewall.state === 'InSync';
  await waitAllReady(socket, { also: inSync, timeoutMs: 180_000 });
  await waitForAddress(A, A1, A1_IP);
  await waitForAddress(B, B1, B1_IP);
  // The views start once their bridges hold their gateways (the firewall timer looks every second here).
  await waitFor('both views to answer', async () => ((await fromA('GET', '/v1/domain'))?.status === 200 && (await fromB('GET', '/v1/domain'))?.status === 200 ? true : undefined), { timeoutMs: 30_000, intervalMs: 500 });
});

afterAll(() => tearDown(client, { daemon, infraName, prefix: p }));

describe('the domain view on a real Incus', () => {
  it('answers a machine of A about A only: its instances, inventory, events and conditions', async () => {
    const domain = await fromA('GET', '/v1/domain');
    expect(domain?.status).toBe(200);
    expect(domain?.body).toMatchObject({ apiVersion: 'v1', domain: A, summary: { name: A, gateway: A_GW, subnet: `10.${octet}.1.0/24`, ready: true, snapshots: { enabled: false } } });

    const instances = await fromA('GET', '/v1/instances');
    expect(instances?.body.instances.map((i: { name: string }) => i.name)).toEqual([A1]);
    const a1 = instances?.body.instances[0];
    expect(a1).toMatchObject({ status: 'Running', declared: true });
    expect(a1.addresses).toContainEqual({ interface: 'eth0', family: 'inet', address: A1_IP, prefix: 24 });
    expect(a1.memory.usageBytes).toBeGreaterThan(0);
    expect(a1.cpuNs).toBeGreaterThan(0);
    expect(a1.processes).toBeGreaterThan(0);

    const inventory = await fromA('GET', '/v1/inventory');
    expect(inventory?.body.inventory.machines.map((m: { name: string; ip: string }) => `${m.name} ${m.ip}`)).toEqual([`${A1} ${A1_IP}`]);
    expect(inventory?.body.inventory.flows).toEqual([expect.objectContaining({ direction: 'in', peer: { kind: 'domain', domain: B }, ports: [80], protocol: 'tcp' })]);

    const events = await fromA('GET', '/v1/events');
    const names = events?.body.events.map((e: { kind: string; name: string; action: string }) => `${e.kind} ${e.name} ${e.action}`) as string[];
    expect(names).toContain(`instance ${A1} instance-started`);
    expect(names.join('\n')).not.toContain(B1);

    const conditions = await fromA('GET', '/v1/conditions');
    expect(conditions?.body.conditions.domain).toContainEqual(expect.objectContaining({ type: 'Ready', status: true }));
    expect(conditions?.body.conditions.firewall).toEqual({ inSync: true, state: 'InSync' });
    expect(JSON.stringify(conditions?.body)).not.toContain(B1);
  });

  it('keeps B out of A\'s view (the firewall drops it), while B\'s own view answers about B', async () => {
    const started = Date.now();
    expect(await httpFrom(B, B1, A_GW, 'GET', '/v1/domain')).toBeNull();
    // Dropped, not refused: the connection hung until the timeout.
    expect(Date.now() - started).toBeGreaterThan(5_000);
    const own = await fromB('GET', '/v1/instances');
    expect(own?.body.domain).toBe(B);
    expect(own?.body.instances.map((i: { name: string }) => i.name)).toEqual([B1]);
    // The policy B → A1:80 opens A's web server, not A's gateway.
    expect(await httpFrom(B, B1, A_GW, 'GET', '/v1/inventory', { headers: [`X-Anklume-Domain: ${A}`] })).toBeNull();
  });

  it('changes nothing for a request whose headers claim another domain', async () => {
    const claims = [`X-Anklume-Domain: ${B}`, `X-Forwarded-For: ${B1_IP}`, `X-Real-IP: ${B1_IP}`, `Forwarded: for=${B1_IP};host=${B_GW}`, `X-Forwarded-Host: ${B_GW}`];
    const plain = await fromA('GET', '/v1/inventory');
    const claimed = await httpFrom(A, A1, A_GW, 'GET', '/v1/inventory', { headers: claims });
    expect(claimed?.status).toBe(200);
    expect(claimed?.body.domain).toBe(A);
    expect({ ...claimed?.body, generatedAt: null }).toEqual({ ...plain?.body, generatedAt: null });
    // Host names another gateway: still the connection's.
    const host = await httpFrom(A, A1, A_GW, 'GET', '/v1/instances', { headers: [`X-Anklume-Domain: ${B}`] });
    expect(host?.body.instances.map((i: { name: string }) => i.name)).toEqual([A1]);
  });

  it('refuses a snapshot while off (the default), takes one when on, refuses B\'s instance, and rate-limits', async () => {
    const off = await fromA('POST', `/v1/instances/${A1}/snapshots`);
    expect(off?.status).toBe(403);
    expect(await snapshotsOf(A, A1)).toEqual([]);

    // Turned on in infra.yml (saved by rename, as editors do): the daemon picks it up by itself.
    const tmp = join(dirname(infraFile), '.infra.yml.swp');
    writeFileSync(tmp, infraText({ snapshotsInA: true }));
    renameSync(tmp, infraFile);
    await waitFor('A\'s view to allow snapshots', async () => ((await fromA('GET', '/v1/domain'))?.body?.summary?.snapshots?.enabled === true ? true : undefined), { timeoutMs: 30_000, intervalMs: 500 });
    // The domain controller loosens A's restricted project for snapshots (B's stays as it was).
    await waitFor('A\'s project to allow snapshots', async () => ((await client.get<{ config: Record<string, string> }>(`/1.0/projects/${A}`)).config['restricted.snapshots'] === 'allow' ? true : undefined), { timeoutMs: 60_000 });
    expect((await client.get<{ config: Record<string, string> }>(`/1.0/projects/${B}`)).config['restricted.snapshots']).toBeUndefined();

    const other = await fromA('POST', `/v1/instances/${B1}/snapshots`);
    expect(other?.status).toBe(404);
    expect(other?.body.error).toBe(`no instance named ${B1} in domain ${A}`);
    expect(await snapshotsOf(B, B1)).toEqual([]);

    const ok = await fromA('POST', `/v1/instances/${A1}/snapshots`, { body: '{"name": "e2e-before"}' });
    expect(ok?.status, JSON.stringify(ok?.body)).toBe(200);
    expect(ok?.body.snapshot).toMatchObject({ instance: A1, name: 'e2e-before' });
    expect(await snapshotsOf(A, A1)).toEqual(['e2e-before']);

    const again = await fromA('POST', `/v1/instances/${A1}/snapshots`);
    expect(again?.status).toBe(429);
    expect(again?.headers).toMatch(/retry-after: \d+/i);
    expect(await snapshotsOf(A, A1)).toEqual(['e2e-before']);
    // B's own setting is still off.
    expect((await fromB('POST', `/v1/instances/${B1}/snapshots`))?.status).toBe(403);
    expect(await snapshotsOf(B, B1)).toEqual([]);

    // Audited in the daemon's log, with who asked.
    const log = daemon?.log() ?? '';
    expect(log).toMatch(new RegExp(`"domain":"${A}","client":"${A1_IP}","instance":"${A1}","snapshot":"e2e-before","msg":"domain view: snapshot created"`));
    expect(log).toMatch(new RegExp(`"domain":"${A}","client":"${A1_IP}","instance":"${B1}","refused":404`));
    // The snapshot event reached A's ring.
    const events = await fromA('GET', '/v1/events');
    expect(events?.body.events.map((e: { name: string }) => e.name)).toContain(`${A1}/e2e-before`);
  });
});
