import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusDocument } from '../../src/controllers/status.js';
import type { IncusClient } from '../../src/incus/index.js';
import { runBin } from '../helpers/cli.js';
import { startCluster, teardownCluster, type TestCluster } from '../helpers/cluster.js';
import { fetchStatus, startDaemon, stopDaemon, waitAllReady, type RunningDaemon } from '../helpers/daemon.js';
import { TEST_IMAGE, waitFor } from '../helpers/incus.js';

// anklumed on a real three-member Incus cluster (test/helpers/cluster.ts):
// domain a on member m1, b on m2 (no policy: validate refuses one between
// bridges of two members, it needs OVN). The daemon keeps
// the isolation as Incus network ACLs: it writes them, rewrites one edited
// behind its back on its event, re-sends them on its timer, prunes a removed domain's.
const PREFIX = 'ankd';
const [A, B] = [`${PREFIX}-a`, `${PREFIX}-b`];
const FOREIGN_ACL = `${PREFIX}-hand-made`;

function infraText(domains: readonly string[], bEgress = 'none'): string {
  const all: Record<string, string> = {
    [A]: `
  ${A}:
    subnet_id: 1
    trust_level: trusted
    egress: none
    placement: { member: m1 }
    machines:
      ${A}1: { ip: 10.64.1.10 }`,
    [B]: `
  ${B}:
    subnet_id: 2
    trust_level: trusted
    egress: ${bEgress}
    placement: { member: m2 }
    machines:
      ${B}1: { ip: 10.64.2.10, ephemeral: true }`,
  };
  return `
project_name: ${PREFIX}-infra
global:
  base_subnet: "10.64"
  default_os_image: ${TEST_IMAGE}
domains:${domains.map((d) => all[d]).join('')}
`;
}

interface AclBody {
  name: string;
  description: string;
  egress: Record<string, string>[];
  ingress: Record<string, string>[];
  config: Record<string, string>;
}

let cluster: TestCluster;
let client: IncusClient;
let dir: string;
let infraFile: string;
let socket: string;
let daemon: RunningDaemon | undefined;

/** An ACL chain of a domain's bridge as a member renders it (nft in the member's namespace); '' when absent. */
function aclChain(member: string, domain: string): string {
  try {
    return cluster.nsExec(member, ['nft', 'list', 'chain', 'inet', 'incus', `acl.net-${domain}`]);
  } catch {
    return '';
  }
}

const chainsOn = (domain: string): string[] => cluster.members.map((m) => aclChain(m.name, domain));

async function firewallState(): Promise<StatusDocument['firewall'] | undefined> {
  return (await fetchStatus(socket))?.firewall;
}

beforeAll(async () => {
  cluster = await startCluster({ prefix: PREFIX });
  client = cluster.client('m1');
  dir = mkdtempSync(join(tmpdir(), 'anklume-cluster-daemon-'));
  infraFile = join(dir, 'infra.yml');
  socket = join(dir, 'anklumed.sock');
  writeFileSync(infraFile, infraText([A, B]));
  // An ACL anklume does not own: never touched, never pruned.
  await client.create('/1.0/network-acls', { name: FOREIGN_ACL, description: 'not anklume', egress: [], ingress: [], config: {} });
  daemon = await startClusterDaemon(2);
});

/**
 * Member m1's socket, a lock and state of this test's own; nft that cannot run (the ACL form never touches the
 * host's nftables). A firewall check every `firewallCheckS` seconds: the timer's re-send, and Incus's events.
 */
async function startClusterDaemon(firewallCheckS: number): Promise<RunningDaemon> {
  const started = startDaemon(
    ['--config', infraFile, '--lock', join(dir, 'writer.lock'), '--incus-socket', cluster.member('m1').socket, '--nft', '/bin/false', '--firewall-check', String(firewallCheckS), '--ai-state-file', join(dir, 'ai-state.json'), '--ai-switch-log', join(dir, 'ai-switch.log')],
    socket,
    { ANKLUME_STATE_DIR: join(dir, 'state') },
  );
  // A daemon that exits at start fails here, with its log.
  await waitFor('anklumed answering', async () => {
    if (started.child.exitCode !== null) throw new Error(`anklumed exited ${started.child.exitCode}:\n${started.log()}`);
    return (await fetchStatus(socket)) === undefined ? undefined : true;
  }, { timeoutMs: 30_000 });
  return started;
}

afterAll(async () => {
  if (daemon !== undefined) await stopDaemon(daemon);
  client?.close();
  await teardownCluster(PREFIX);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('anklumed on a three-member Incus cluster', () => {
  it('converges two domains on their members, bridges carrying their ACL, rendered the same by every member; status says ACLs InSync', async () => {
    await waitAllReady(socket, { timeoutMs: 240_000, also: (s) => s.firewall.state === 'InSync' });
    const instances = await client.get<{ name: string; location: string; status: string }[]>('/1.0/instances', { query: { recursion: 1, 'all-projects': true } });
    expect(Object.fromEntries(instances.map((i) => [i.name, `${i.location}:${i.status}`]))).toEqual({ [`${A}1`]: 'm1:Running', [`${B}1`]: 'm2:Running' });
    for (const domain of [A, B]) {
      const bridge = await client.get<{ config: Record<string, string> }>(`/1.0/networks/net-${domain}`);
      expect(bridge.config['security.acls']).toBe(`anklume-${domain}`);
      expect(bridge.config['security.acls.default.ingress.action']).toBe('drop');
      const chains = chainsOn(domain);
      expect(chains[0]).toMatch(/drop/);
      expect(new Set(chains).size).toBe(1);
    }
    // Inside b: allowed by subnet, rendered on a member b does not run on.
    expect(aclChain('m3', B)).toMatch(/ip saddr 10\.64\.2\.0\/24 ip daddr 10\.64\.2\.0\/24 accept/);
    const run = await runBin('anklumectl', ['status', '--json'], { env: { ANKLUME_SOCKET: socket } });
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout) as StatusDocument;
    expect(doc.firewall.state).toBe('InSync');
    expect(doc.cluster?.members.map((m) => `${m.name}:${m.status}`)).toEqual(['m1:Online', 'm2:Online', 'm3:Online']);
    expect(doc.firewall.message).toMatch(/^network ACLs match infra\.yml \(2 ACLs, \d+ rules, rendered by Incus on the cluster's 3 members\)/);
    // The daemon took nothing of the host: it never ran nft (/bin/false would have failed the firewall).
    expect(daemon?.log()).not.toMatch(/inet anklume/);
  });

  it('rewrites an ACL edited behind its back on its Incus event, with no firewall check due', async () => {
    // A daemon whose firewall check is an hour away: only the ACL's event can bring the rewrite.
    if (daemon !== undefined) await stopDaemon(daemon);
    const slow = (daemon = await startClusterDaemon(3600));
    try {
      // InSync once its first pass is done, the timer's re-send included: the next one is an hour away.
      await waitFor('status InSync', async () => ((await firewallState())?.state === 'InSync' ? true : undefined), { timeoutMs: 30_000, intervalMs: 500 });
      const before = await client.get<AclBody>(`/1.0/network-acls/anklume-${B}`);
      const chainBefore = aclChain('m2', B);
      await client.put(`/1.0/network-acls/anklume-${B}`, { description: before.description, egress: before.egress, ingress: [], config: before.config });
      await waitFor('the edited ACL rewritten', async () => {
        const now = await client.get<AclBody>(`/1.0/network-acls/anklume-${B}`);
        return JSON.stringify(now.ingress) === JSON.stringify(before.ingress) ? true : undefined;
      }, { timeoutMs: 30_000, intervalMs: 200 });
      // Seen and rewritten as drift (an update), not re-sent. The line comes once the daemon's write returns,
      // which on a cluster is after every member applied it: later than the new ACL can be read.
      await waitFor('the rewrite logged as an update', () => Promise.resolve(slow.log().includes(`"msg":"update network ACL anklume-${B}"`) ? true : undefined), { timeoutMs: 15_000, intervalMs: 200 });
      await waitFor('every member renders it again', () => Promise.resolve(chainsOn(B).every((c) => c === chainBefore) ? true : undefined), { timeoutMs: 10_000, intervalMs: 500 });
      await waitFor('status InSync', async () => ((await firewallState())?.state === 'InSync' ? true : undefined), { timeoutMs: 10_000, intervalMs: 500 });
    } finally {
      // The timer again for the tests below (its re-send, and a member that comes back).
      await stopDaemon(slow);
      daemon = await startClusterDaemon(2);
    }
  });

  it('re-sends the ACLs on its timer: a member whose rendered chain was flushed gets it back', async () => {
    const chain = aclChain('m3', A);
    expect(chain).toMatch(/drop/);
    cluster.nsExec('m3', ['nft', 'flush', 'chain', 'inet', 'incus', `acl.net-${A}`]);
    expect(aclChain('m3', A)).not.toBe(chain);
    await waitFor('m3 renders the ACL again', () => Promise.resolve(aclChain('m3', A) === chain ? true : undefined), { timeoutMs: 20_000, intervalMs: 500 });
  });

  it('plan refuses an address pinned by another instance on another member, naming it and its member', async () => {
    // An empty instance on m3 pinning a's address on its own net-a: Incus accepts it (each member's bridge is its own).
    await client.create('/1.0/instances', { name: `${PREFIX}-squatter`, type: 'container', source: { type: 'none' }, devices: { eth0: { type: 'nic', network: `net-${A}`, 'ipv4.address': '10.64.1.10' } } }, { query: { target: 'm3' } });
    const run = await runBin('anklumectl', ['plan', '-f', infraFile], { env: { INCUS_SOCKET: cluster.member('m1').socket, ANKLUME_SOCKET: join(dir, 'none.sock') } });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(new RegExp(`pinned twice; nothing was changed:\\n {2}${A}/${A}1: address 10\\.64\\.1\\.10 is also pinned by instance default/${PREFIX}-squatter on member m3`));
    await client.delete(`/1.0/instances/${PREFIX}-squatter`);
  });

  it('with a member down, its ACL writes wait and status names the member; once it is back the daemon writes them, the same on every member', async () => {
    const before = await client.get<AclBody>(`/1.0/network-acls/anklume-${B}`);
    const chainBefore = aclChain('m1', B);
    cluster.stopMember('m3');
    await waitFor('m3 offline', async () => {
      const members = await client.get<{ server_name: string; status: string }[]>('/1.0/cluster/members', { query: { recursion: 1 } });
      return members.find((m) => m.server_name === 'm3')?.status === 'Offline' ? true : undefined;
    }, { timeoutMs: 90_000, intervalMs: 1000 });
    // b may now reach the internet: its ACL changes.
    writeFileSync(infraFile, infraText([A, B], 'internet'));
    const waiting = await waitFor('the firewall waiting for m3', async () => {
      const fw = await firewallState();
      return fw?.state === 'Drifted' && /waits for member m3 \(Offline\)/.test(fw.message) ? fw : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    expect(waiting.message).toMatch(new RegExp(`anklume-${B} differs`));
    expect((await client.get<AclBody>(`/1.0/network-acls/anklume-${B}`)).egress).toEqual(before.egress);
    expect(aclChain('m1', B)).toBe(chainBefore);
    await cluster.startMember('m3');
    await waitFor('the ACL written once m3 is back', async () => {
      const fw = await firewallState();
      const acl = await client.get<AclBody>(`/1.0/network-acls/anklume-${B}`);
      return fw?.state === 'InSync' && JSON.stringify(acl.egress) !== JSON.stringify(before.egress) ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    await waitFor('every member renders it the same', () => Promise.resolve(new Set(chainsOn(B)).size === 1 && aclChain('m3', B) !== chainBefore ? true : undefined), { timeoutMs: 15_000, intervalMs: 500 });
  });

  it('prunes a removed domain with apply --prune: its bridge, then its ACL; an ACL not ours stays', async () => {
    writeFileSync(infraFile, infraText([A]));
    const run = await runBin('anklumectl', ['apply', '--prune', '-f', infraFile], { env: { ANKLUME_SOCKET: socket } });
    expect(run.stderr).toBe('');
    expect(run.code, run.stdout).toBe(0);
    const acls = (await client.get<AclBody[]>('/1.0/network-acls', { query: { recursion: 1 } })).map((a) => a.name).sort();
    expect(acls).toEqual([`anklume-${A}`, FOREIGN_ACL].sort());
    const networks = (await client.get<{ name: string }[]>('/1.0/networks', { query: { recursion: 1 } })).map((n) => n.name);
    expect(networks).not.toContain(`net-${B}`);
    expect(chainsOn(B)).toEqual(['', '', '']);
    await waitFor('status InSync', async () => ((await firewallState())?.state === 'InSync' ? true : undefined), { timeoutMs: 10_000, intervalMs: 500 });
  });
});

describe('the test', () => {
  it('leaves nothing behind', async () => {
    if (daemon !== undefined) expect(await stopDaemon(daemon)).toBe(0);
    daemon = undefined;
    client.close();
    await teardownCluster(PREFIX);
    expect(execFileSync('sh', ['-c', `pgrep -f 'anklume-test-cluste[r]/${PREFIX}' || true`], { encoding: 'utf8' }).trim()).toBe('');
  });
});
