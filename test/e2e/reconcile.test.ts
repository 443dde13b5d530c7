import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { reconcileOnce } from '../../src/controllers/whole-pass.js';
import type { IncusClient, Instance, Network, Project } from '../../src/incus/index.js';
import type { DesiredInfra } from '../../src/schemas/model.js';
import { runBin } from '../helpers/cli.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, removeTestInfra, shortPrefix, testClient, waitFor, writeTemp } from '../helpers/incus.js';

// Three domains, five instances, on the real Incus; plus objects anklume does not own.
const p = shortPrefix();
const octet = freeSecondOctet();
const [A, B, C] = [`${p}-a`, `${p}-b`, `${p}-c`];
const infraName = `${p}-infra`;

function infraText(options: { withC?: boolean; withA3?: boolean; a2Memory?: boolean; extra?: string } = {}): string {
  const { withC = true, withA3 = true, a2Memory = true, extra = '' } = options;
  return `
project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
domains:
  ${A}:
    subnet_id: 1
    trust_level: trusted
    machines:
      ${A}1: { ip: 10.${octet}.1.10 }
      ${A}2: ${a2Memory ? '{ config: { limits.memory: 256MiB } }' : '{}'}
${withA3 ? `      ${A}3: {}\n` : ''}${extra}
  ${B}:
    subnet_id: 2
    ephemeral: true
    machines:
      ${B}1: {}
${withC ? `  ${C}:\n    subnet_id: 3\n    ephemeral: true\n    machines:\n      ${C}1: {}\n` : ''}`;
}

let client: IncusClient;
let infraFile: string;
const env = { INCUS_SOCKET };

function model(text: string): DesiredInfra {
  const r = validateInfraText(text, { file: 'infra.yml' });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}

async function instance(project: string, name: string): Promise<Instance> {
  return client.get<Instance>(`/1.0/instances/${name}`, { project });
}

/** A snapshot of what anklume must never touch. */
async function foreignState(): Promise<unknown> {
  const net = await client.get<Network>(`/1.0/networks/${p}-free`);
  const proj = await client.get<Project>(`/1.0/projects/${p}-own`);
  const inst = await client.get<Instance>(`/1.0/instances/${p}-c`);
  return { net: [net.config, net.description], proj: [proj.config, proj.description], inst: [inst.config['user.mine'], inst.status, inst.devices] };
}

beforeAll(async () => {
  client = testClient();
  infraFile = writeTemp('infra.yml', infraText());
  // Objects on the same host that anklume does not own: a bridge, a project, a container.
  await client.create('/1.0/networks', { name: `${p}-free`, type: 'bridge', config: { 'ipv4.address': `10.${octet}.99.1/24`, 'ipv4.nat': 'false', 'ipv6.address': 'none' } });
  await client.create('/1.0/projects', { name: `${p}-own`, config: { 'features.profiles': 'false' } });
  await client.create('/1.0/instances', { name: `${p}-c`, type: 'container', source: { type: 'image', alias: TEST_IMAGE }, config: { 'user.mine': 'yes' }, profiles: ['default'] });
});

afterAll(async () => {
  try {
    await removeTestInfra(client, { infraName, prefix: p });
  } finally {
    client.close();
  }
});

describe('apply against a real Incus', () => {
  it('converges three domains and five instances from nothing', async () => {
    const run = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(run.stderr).toBe('');
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toMatch(/Apply: \d+ done, 0 failed, 0 not done/);

    for (const [project, name, ip] of [[A, `${A}1`, `10.${octet}.1.10`], [A, `${A}2`, `10.${octet}.1.1`], [A, `${A}3`, `10.${octet}.1.2`], [B, `${B}1`, `10.${octet}.2.1`], [C, `${C}1`, `10.${octet}.3.1`]] as const) {
      const i = await instance(project, name);
      expect(i.status).toBe('Running');
      expect(i.devices.eth0).toEqual({ type: 'nic', network: `net-${project}`, name: 'eth0', 'ipv4.address': ip, 'security.mac_filtering': 'true', 'security.ipv4_filtering': 'true' });
      expect(i.config['user.anklume.infra']).toBe(infraName);
    }
    expect((await instance(A, `${A}1`)).config['security.protection.delete']).toBe('true');
    expect((await instance(B, `${B}1`)).config['security.protection.delete']).toBeUndefined();
    const bridge = await client.get<Network>(`/1.0/networks/net-${A}`);
    expect(bridge.config).toMatchObject({ 'ipv4.address': `10.${octet}.1.254/24`, 'ipv4.nat': 'true', 'ipv6.address': 'none', 'ipv4.dhcp.ranges': `10.${octet}.1.100-10.${octet}.1.249` });
    const project = await client.get<Project>(`/1.0/projects/${A}`);
    expect(project.config).toMatchObject({ restricted: 'true', 'restricted.networks.access': `net-${A}`, 'features.networks': 'false' });
  });

  it('gives each instance its pinned address through DHCP', async () => {
    const address = await waitFor('the DHCP lease of the pinned address', async () => {
      const state = await client.get<{ network?: Record<string, { addresses: { family: string; address: string }[] }> }>(`/1.0/instances/${A}1/state`, { project: A });
      return state.network?.eth0?.addresses.find((a) => a.family === 'inet')?.address;
    }, { timeoutMs: 90_000 });
    expect(address).toBe(`10.${octet}.1.10`);
  });

  it('then plans nothing, and a second apply makes zero write requests', async () => {
    const plan = await runBin('anklumectl', ['plan', '-f', infraFile, '--detailed-exitcode'], { env });
    expect(plan.code, plan.stdout).toBe(0);
    expect(plan.stdout).toContain('Nothing to do');

    client.resetStats();
    const { plan: second, outcomes } = await reconcileOnce(client, model(infraText()), { prune: false, force: false, concurrency: 4 });
    expect(second.actions).toEqual([]);
    expect(outcomes).toEqual([]);
    expect(client.stats.writes).toBe(0);
    // Four lists, and GET /1.0: is this Incus a cluster?
    expect(client.stats.requests).toBe(5);
  });

  it('repairs drift: a stopped instance, a changed bridge key, a deleted instance, a removed managed key', async () => {
    await client.put(`/1.0/instances/${A}1/state`, { action: 'stop', force: true, timeout: 30 }, { project: A });
    await client.patch(`/1.0/networks/net-${B}`, { config: { 'ipv4.nat': 'false' } });
    await client.put(`/1.0/instances/${B}1/state`, { action: 'stop', force: true, timeout: 30 }, { project: B });
    await client.delete(`/1.0/instances/${B}1`, { project: B });
    await client.updateWithRetry<Instance, Partial<Instance>>(`/1.0/instances/${A}2`, (cur) => {
      const { 'limits.memory': _gone, ...config } = cur.config;
      return { architecture: cur.architecture, profiles: cur.profiles, devices: cur.devices, config, ephemeral: cur.ephemeral, description: cur.description };
    }, { project: A });

    const plan = await runBin('anklumectl', ['plan', '-f', infraFile, '--detailed-exitcode'], { env });
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain(`start instance ${A}1`);
    expect(plan.stdout).toContain('ipv4.nat: false → true');
    expect(plan.stdout).toContain(`create instance ${B}1`);
    expect(plan.stdout).toContain('limits.memory: + 256MiB');

    const run = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(run.code, run.stdout).toBe(0);
    expect((await instance(A, `${A}1`)).status).toBe('Running');
    expect((await client.get<Network>(`/1.0/networks/net-${B}`)).config['ipv4.nat']).toBe('true');
    expect((await instance(B, `${B}1`)).status).toBe('Running');
    expect((await instance(A, `${A}2`)).config['limits.memory']).toBe('256MiB');
    const after = await runBin('anklumectl', ['plan', '-f', infraFile, '--detailed-exitcode'], { env });
    expect(after.code, after.stdout).toBe(0);
  });

  it('unsets a key removed from infra.yml but keeps keys others set', async () => {
    await client.patch(`/1.0/instances/${A}2`, { config: { 'user.someone-else': 'keep me' } }, { project: A });
    writeFileSync(infraFile, infraText({ a2Memory: false }));
    const run = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(run.code, run.stdout).toBe(0);
    const a2 = await instance(A, `${A}2`);
    expect(a2.config['limits.memory']).toBeUndefined();
    expect(a2.config['user.someone-else']).toBe('keep me');
  });

  it('fails only the instance whose image does not exist, with the reason', async () => {
    writeFileSync(infraFile, infraText({ a2Memory: false, extra: `      ${A}4: { os_image: "no-such-image-${p}" }\n` }));
    const run = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`failed +create instance ${A}4: .*not found`, 'i'));
    expect(run.stdout).toMatch(/Apply: 0 done, 1 failed/);
    writeFileSync(infraFile, infraText({ a2Memory: false }));
  });

  it('never touches objects it does not own, on apply and on prune', async () => {
    const before = await foreignState();
    const run = await runBin('anklumectl', ['apply', '-f', infraFile, '--prune', '--force'], { env });
    expect(run.code, run.stdout).toBe(0);
    expect(await foreignState()).toEqual(before);
  });

  it('--prune deletes only managed leftovers, and protected instances survive without --force', async () => {
    const before = await foreignState();
    writeFileSync(infraFile, infraText({ a2Memory: false, withC: false, withA3: false }));
    const plain = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain(`instance ${C}1: no longer in infra.yml; kept (apply --prune deletes it)`);
    expect((await instance(C, `${C}1`)).status).toBe('Running');

    const pruned = await runBin('anklumectl', ['apply', '-f', infraFile, '--prune'], { env });
    expect(pruned.code).toBe(1);
    expect(pruned.stdout).toContain(`skipped delete instance ${A}3: instance ${A}3 is protected`);
    expect((await instance(A, `${A}3`)).status).toBe('Running');
    const projects = (await client.listProjects()).map((x) => x.name);
    expect(projects).not.toContain(C);
    expect((await client.listNetworks({ project: 'default' })).map((n) => n.name)).not.toContain(`net-${C}`);

    const forced = await runBin('anklumectl', ['apply', '-f', infraFile, '--prune', '--force'], { env });
    expect(forced.code, forced.stdout).toBe(0);
    await expect(instance(A, `${A}3`)).rejects.toThrow(/not found/i);
    expect(await foreignState()).toEqual(before);
  });
});
