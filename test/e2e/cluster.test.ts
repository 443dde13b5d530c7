import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncusClient } from '../../src/incus/index.js';
import { runBin } from '../helpers/cli.js';
import { startCluster, teardownCluster, type TestCluster } from '../helpers/cluster.js';
import { TEST_IMAGE, waitFor } from '../helpers/incus.js';

// anklume on a real three-member Incus cluster (test/helpers/cluster.ts):
// domain a (two machines) and c on member m1, b on m2, a policy a -> c port 80.
// Isolation is Incus network ACLs, rendered by every member into its own nftables.
const PREFIX = 'ankc';
const [A, B, C] = [`${PREFIX}-a`, `${PREFIX}-b`, `${PREFIX}-c`];

function infraText(ports: readonly number[]): string {
  return `
project_name: ${PREFIX}-infra
global:
  base_subnet: "10.64"
  default_os_image: ${TEST_IMAGE}
domains:
  ${A}:
    subnet_id: 1
    trust_level: trusted
    egress: none
    placement: { member: m1 }
    machines:
      ${A}1: { ip: 10.64.1.10 }
      ${A}2: { ip: 10.64.1.11 }
  ${B}:
    subnet_id: 2
    trust_level: trusted
    egress: none
    placement: { member: m2 }
    machines:
      ${B}1: { ip: 10.64.2.10 }
  ${C}:
    subnet_id: 3
    trust_level: trusted
    egress: none
    placement: { member: m1 }
    machines:
      ${C}1: { ip: 10.64.3.10 }
network_policies:
  - description: web from a to c
    from: ${A}
    to: ${C}
    ports: [${ports.join(', ')}]
`;
}

let cluster: TestCluster;
let client: IncusClient;
let dir: string;
let infraFile: string;
let env: Record<string, string>;

/** `incus exec` through member m1 (the cluster forwards it to the instance's member); never throws on a non-zero exit. */
function exec(project: string, instance: string, command: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile('incus', ['exec', '--project', project, instance, '--', 'sh', '-c', command], { timeout: 60_000, env: { PATH: process.env['PATH'] ?? '', INCUS_DIR: cluster.member('m1').dir } }, (err, stdout) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout });
    });
  });
}

/** Does a TCP connect from `from` to ip:port succeed (bounded: nc -w 2)? */
async function connects(project: string, from: string, ip: string, port: number): Promise<boolean> {
  return (await exec(project, from, `nc -z -w 2 ${ip} ${port}`)).code === 0;
}

/** An ACL chain of a domain's bridge as a member renders it (nft in the member's namespace). */
function aclChain(member: string, domain: string): string {
  return cluster.nsExec(member, ['nft', 'list', 'chain', 'inet', 'incus', `acl.net-${domain}`]);
}

function apply(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runBin('anklumectl', ['apply', '-f', infraFile], { env });
}

beforeAll(async () => {
  cluster = await startCluster({ prefix: PREFIX });
  client = cluster.client('m1');
  dir = mkdtempSync(join(tmpdir(), 'anklume-cluster-'));
  infraFile = join(dir, 'infra.yml');
  writeFileSync(infraFile, infraText([80]));
  // Member m1's socket; no daemon and a writer lock of this test's own (not the host's).
  env = { INCUS_SOCKET: cluster.member('m1').socket, ANKLUME_SOCKET: join(dir, 'none.sock'), ANKLUME_LOCK: join(dir, 'writer.lock') };
});

afterAll(async () => {
  client?.close();
  await teardownCluster(PREFIX);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('anklume on a three-member Incus cluster', () => {
  it('is a cluster in status, every member online', async () => {
    const run = await runBin('anklumectl', ['status', '--json', '-f', infraFile], { env });
    const doc = JSON.parse(run.stdout) as { cluster: { clustered: boolean; members: { name: string; status: string }[] } };
    expect(doc.cluster.clustered).toBe(true);
    expect(doc.cluster.members.map((m) => `${m.name}:${m.status}`)).toEqual(['m1:Online', 'm2:Online', 'm3:Online']);
    // The old incus-setup.sh check matched these members' incusd as the host's (scripts/incus-setup.sh now asks the host socket).
    const pgrep = execFileSync('pgrep', ['-f', '^(/usr/libexec/incus/)?incusd( --|$)'], { encoding: 'utf8' }).trim().split('\n');
    expect(pgrep.length).toBeGreaterThanOrEqual(3);
  });

  it('converges two domains placed on two members; a second pass writes nothing', async () => {
    const first = await apply();
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const instances = await client.get<{ name: string; location: string; status: string }[]>('/1.0/instances', { query: { recursion: 1, 'all-projects': true } });
    expect(Object.fromEntries(instances.map((i) => [i.name, `${i.location}:${i.status}`]))).toEqual({ [`${A}1`]: 'm1:Running', [`${A}2`]: 'm1:Running', [`${B}1`]: 'm2:Running', [`${C}1`]: 'm1:Running' });
    const second = await apply();
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/Nothing to do/);
  });

  it('renders the same ACL chain of each domain on all three members', () => {
    for (const domain of [A, B, C]) {
      const chains = cluster.members.map((m) => aclChain(m.name, domain));
      expect(chains[0]).toMatch(/drop/);
      expect(new Set(chains).size).toBe(1);
    }
    expect(aclChain('m2', C)).toMatch(/ip saddr 10\.64\.1\.0\/24 ip daddr 10\.64\.3\.0\/24 tcp dport 80 accept/);
  });

  it('lets packets through inside a domain and between domains only as the policy says', async () => {
    await exec(C, `${C}1`, 'nohup nc -lk 80 >/dev/null 2>&1 & nohup nc -lk 81 >/dev/null 2>&1 &');
    await exec(A, `${A}2`, 'nohup nc -lk 22 >/dev/null 2>&1 &');
    await waitFor('listeners in c1', async () => ((await exec(C, `${C}1`, 'ss -ltn')).stdout.includes(':81 ') ? true : undefined), { timeoutMs: 10_000 });
    expect(await connects(A, `${A}1`, '10.64.1.11', 22)).toBe(true); // inside a domain
    expect(await connects(A, `${A}1`, '10.64.3.10', 80)).toBe(true); // the policy
    expect(await connects(A, `${A}1`, '10.64.3.10', 81)).toBe(false); // not in the policy
    expect(await connects(C, `${C}1`, '10.64.1.11', 22)).toBe(false); // not the policy's way
    expect(await connects(B, `${B}1`, '10.64.3.10', 80)).toBe(false); // another member, no policy
  });

  it('with a member down: plan says what waits for it, apply does not half-apply; once back, the next pass converges the same on all members', async () => {
    const aclBefore = await client.get<{ ingress: unknown[] }>(`/1.0/network-acls/anklume-${C}`);
    const chainBefore = aclChain('m1', C);
    cluster.stopMember('m3');
    await waitFor('m3 offline', async () => {
      const members = await client.get<{ server_name: string; status: string }[]>('/1.0/cluster/members', { query: { recursion: 1 } });
      return members.find((m) => m.server_name === 'm3')?.status === 'Offline' ? true : undefined;
    }, { timeoutMs: 90_000, intervalMs: 1000 });

    writeFileSync(infraFile, infraText([80, 81]));
    const plan = await runBin('anklumectl', ['plan', '-f', infraFile], { env });
    expect(plan.stdout).toMatch(new RegExp(`acl anklume-${C}[^\\n]*\\n?[^\\n]*waits for member m3`));
    expect(plan.stdout).toMatch(/waits for member m3 \(Offline\)/);

    const during = await apply();
    expect(during.stdout).not.toMatch(/\bok\b.*acl/);
    expect((await client.get<{ ingress: unknown[] }>(`/1.0/network-acls/anklume-${C}`)).ingress).toEqual(aclBefore.ingress);
    expect(aclChain('m1', C)).toBe(chainBefore);
    expect(await connects(A, `${A}1`, '10.64.3.10', 81)).toBe(false);

    await cluster.startMember('m3');
    const after = await apply();
    expect(after.code).toBe(0);
    const chains = cluster.members.map((m) => aclChain(m.name, C));
    expect(new Set(chains).size).toBe(1);
    expect(chains[0]).toMatch(/tcp dport \{ 80, 81 \} accept|tcp dport 80,81|dport \{ 80, 81 \}/);
    expect(await connects(A, `${A}1`, '10.64.3.10', 81)).toBe(true);
    expect((await apply()).stdout).toMatch(/Nothing to do/);
  });
});

describe('the cluster helper', () => {
  it('leaves nothing behind', async () => {
    client.close();
    await teardownCluster(PREFIX);
    expect(existsSync(`/sys/class/net/${PREFIX}br`)).toBe(false);
    expect(existsSync(`/var/lib/anklume-test-cluster/${PREFIX}`)).toBe(false);
    expect(execFileSync('sh', ['-c', `pgrep -f 'anklume-cluster-holde[r]|anklume-test-cluste[r]/${PREFIX}' || true`], { encoding: 'utf8' }).trim()).toBe('');
  });
});
