import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InspectReport } from '../../src/cli/inspect.js';
import type { IncusClient } from '../../src/incus/index.js';
import { runBin } from '../helpers/cli.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, incusExec, removeTestInfra, shortPrefix, testClient, waitForAddress, writeTemp } from '../helpers/incus.js';

// `anklumectl inspect` on the real Incus: level 1 inside the domain (nmap,
// tcpdump, ip neigh, ss from a short-lived probe), level 2 by code.
const p = shortPrefix();
const octet = freeSecondOctet();
const domain = `${p}-i`;
const infraName = `${p}-infra`;
const [a, b, c] = [`${p}-a`, `${p}-b`, `${p}-c`];
const rogue = `${p}-rogue`;
const stateDir = mkdtempSync(join(tmpdir(), 'anklume-e2e-inspect-'));
const env = { INCUS_SOCKET, ANKLUME_STATE_DIR: stateDir, ANKLUME_SOCKET: join(stateDir, 'no-daemon.sock') };

const infraFile = writeTemp(
  'infra.yml',
  `
project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
domains:
  ${domain}:
    subnet_id: 1
    trust_level: trusted
    ephemeral: true
    machines:
      ${a}: { ip: 10.${octet}.1.10 }
      ${b}: { ip: 10.${octet}.1.11 }
      ${c}: { ip: 10.${octet}.1.12 }
network_policies:
  - description: the database, for the other domains' apps
    from: host
    to: ${c}
    ports: [5432]
`,
);

let client: IncusClient;

const inspect = async (args: string[]): Promise<{ code: number | null; report: InspectReport; stderr: string }> => {
  const run = await runBin('anklumectl', ['inspect', domain, '-f', infraFile, '--json', ...args], { env });
  return { code: run.code, report: JSON.parse(run.stdout || 'null') as InspectReport, stderr: run.stderr };
};

/** A listener that keeps running after the exec returns. */
const listen = (instance: string, port: number): Promise<unknown> => incusExec(domain, instance, ['sh', '-c', `nohup nc -lk -p ${port} >/dev/null 2>&1 & sleep 0.2`]);

beforeAll(async () => {
  client = testClient();
  const apply = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
  expect(apply.code, apply.stdout + apply.stderr).toBe(0);
  for (const [m, last] of [[a, 10], [b, 11], [c, 12]] as const) await waitForAddress(domain, m, `10.${octet}.1.${last}`);
  await listen(c, 5432); // declared by the policy
  await listen(b, 8080); // declared nowhere
  // A container started by hand in the domain, not in infra.yml.
  execFileSync('incus', ['launch', TEST_IMAGE, rogue, '--project', domain, '--network', `net-${domain}`, '--ephemeral', '-q'], { env: { ...process.env, INCUS_SOCKET } });
}, 300_000);

afterAll(async () => {
  try {
    await removeTestInfra(client, { infraName, prefix: p });
  } finally {
    client.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

describe('anklumectl inspect', () => {
  it('refuses bad input and changes nothing', async () => {
    for (const [args, message] of [
      [['--capture', '10h'], /--capture must be a duration from 1s to 5m/],
      [['--keep', '0'], /--keep must be a whole number from 1 to 10000/],
      [['--since', '20200101T000000Z'], /--since: no run "20200101T000000Z"/],
    ] as const) {
      const run = await runBin('anklumectl', ['inspect', domain, '-f', infraFile, ...args], { env });
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(message);
    }
    const unknown = await runBin('anklumectl', ['inspect', 'nope', '-f', infraFile], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no domain "nope" in infra.yml \(domains: /);
    expect(existsSync(join(stateDir, 'inspect'))).toBe(false);
  });

  it('finds every host, the undeclared port and the container started by hand, by code; a second run reports no change', async () => {
    const rogueAddress = await (async () => {
      for (let i = 0; i < 120; i++) {
        const r = await incusExec(domain, rogue, ['ip', '-4', '-o', 'addr', 'show', 'eth0']);
        const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout);
        if (m?.[1] !== undefined) return m[1];
        await new Promise((r2) => setTimeout(r2, 500));
      }
      throw new Error('the hand-made container got no address');
    })();

    const first = await inspect(['--scan', '--capture', '5s']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(1);
    const { inventory } = first.report;
    const byName = new Map(inventory.hosts.map((h) => [h.name, h]));
    for (const m of [a, b, c]) expect(byName.get(m)?.kind).toBe('declared');
    expect(byName.get('host')?.address).toBe(`10.${octet}.1.254`);
    expect(byName.get(rogue)).toMatchObject({ kind: 'instance', address: rogueAddress });
    expect(byName.get(b)?.ports.map((x) => x.port)).toEqual([8080]);
    expect(byName.get(c)?.ports.map((x) => x.port)).toEqual([5432]);
    // Every address carries the MAC nmap saw (the probe's own address aside).
    expect(inventory.hosts.filter((h) => h.kind !== 'probe').every((h) => /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(h.mac ?? ''))).toBe(true);

    const rules = first.report.findings.map((f) => `${f.rule} ${f.subject}`);
    expect(rules).toContain(`undeclared-port ${b}:8080`);
    expect(rules).toContain(`undeclared-instance ${rogue}`);
    // The policy explains 5432 on c, and DNS on the host is the domain's own.
    expect(rules.some((r) => r.includes(`${c}:5432`) || r.includes('host:53'))).toBe(false);
    expect(first.report.changes).toEqual([]);
    expect(first.report.baseline).toBe(first.report.run);

    // The run is kept root-only, with the raw outputs, the inventory and a topology.
    const files = readdirSync(first.report.folder).sort();
    expect(files).toEqual(['inventory.json', 'neigh.json', 'nmap.xml', 'report.json', 'ss.txt', 'tcpdump.txt', 'topology.mmd']);
    expect(statSync(first.report.folder).mode & 0o777).toBe(0o700);
    expect(statSync(join(first.report.folder, 'nmap.xml')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(first.report.folder, 'topology.mmd'), 'utf8')).toMatch(/^flowchart LR/);
    // The short-lived probe is gone.
    expect((await client.listInstances({ project: domain })).map((i) => i.name).filter((n) => n.startsWith('anklume-probe-'))).toEqual([]);

    // Runs are one second apart at least: their ids are timestamps.
    await new Promise((r) => setTimeout(r, 1100));
    const second = await inspect(['--scan']);
    expect(second.code).toBe(1);
    expect(second.report.baseline).toBe(first.report.run);
    expect(second.report.changes).toEqual([]);
    expect(second.report.findings.map((f) => `${f.rule} ${f.subject}`).sort()).toEqual(rules.sort());

    // Something changes: a new port on a, reported against the baseline.
    await listen(a, 9000);
    await new Promise((r) => setTimeout(r, 1100));
    const third = await inspect(['--scan']);
    expect(third.report.changes.map((f) => `${f.rule} ${f.subject}`)).toEqual([`new-port ${a}:9000`]);
  });
});
