import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncusClient } from '../../src/incus/index.js';
import { runBin } from '../helpers/cli.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, incusExec, removeTestInfra, shortPrefix, testClient, waitFor, waitForAddress, writeTemp } from '../helpers/incus.js';

// Three domains on the real Incus, real nftables, real packets between real containers.
const p = shortPrefix();
const octet = freeSecondOctet();
const [A, B, C] = [`${p}-a`, `${p}-b`, `${p}-c`];
const infraName = `${p}-fw`;
const WAN_NS = `${p}w`;
const [WAN_HOST_IF, WAN_NS_IF] = [`${p}h`, `${p}v`];
const [WAN_HOST_IP, WAN_NS_IP] = [`198.18.${octet}.1`, `198.18.${octet}.2`];
const WAN_PORT = 9000;
const FOREIGN_BRIDGE = `${p}f`;
const FOREIGN = `${p}-fc`;

interface Box {
  readonly name: string;
  readonly domain: string;
  readonly ip: string;
}
const boxes: Box[] = [
  { name: `${A}1`, domain: A, ip: `10.${octet}.1.10` },
  { name: `${A}2`, domain: A, ip: `10.${octet}.1.11` },
  { name: `${B}1`, domain: B, ip: `10.${octet}.2.10` },
  { name: `${B}2`, domain: B, ip: `10.${octet}.2.11` },
  { name: `${C}1`, domain: C, ip: `10.${octet}.3.10` },
  { name: `${C}2`, domain: C, ip: `10.${octet}.3.11` },
];
const gatewayOf = (b: Box): string => b.ip.replace(/\.\d+$/, '.254');

let hostPort = 0;
const infraText = (): string => `
project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
domains:
${[A, B, C]
  .map((d, i) => `  ${d}:\n    subnet_id: ${i + 1}\n    ephemeral: true\n    machines:\n${boxes.filter((b) => b.domain === d).map((b) => `      ${b.name}: { ip: ${b.ip} }`).join('\n')}`)
  .join('\n')}
network_policies:
  - description: port-limited TCP
    from: ${A}
    to: ${B}
    ports: [80]
  - description: both ways on 8080
    from: ${B}
    to: ${C}
    ports: [8080]
    bidirectional: true
  - description: machine to machine, every port
    from: ${A}1
    to: ${C}2
    ports: all
  - description: C reaches a service of the host
    from: ${C}
    to: host
    ports: [HOSTPORT]
`;

type Probe = 'icmp' | 'tcp/80' | 'tcp/8080';
const PROBES: Probe[] = ['icmp', 'tcp/80', 'tcp/8080'];

/** What the policies above declare (written independently of the renderer). */
function declared(from: Box, to: Box, probe: Probe): boolean {
  if (from.domain === to.domain) return true;
  if (from.domain === A && to.domain === B) return probe === 'tcp/80';
  if ((from.domain === B && to.domain === C) || (from.domain === C && to.domain === B)) return probe === 'tcp/8080';
  if (from.name === `${A}1` && to.name === `${C}2`) return true;
  return false;
}

/** One shell line per probe, all run at once in the source instance; each prints `<target> <probe> ok|no`. */
function probeScript(targets: readonly { ip: string; probe: Probe | `tcp/${number}` }[]): string {
  return `${targets
    .map(({ ip, probe }) => {
      const test = probe === 'icmp' ? `ping -c1 -W1 ${ip}` : `nc -z -w1 ${ip} ${probe.slice(4)}`;
      return `( if ${test} >/dev/null 2>&1; then echo "${ip} ${probe} ok"; else echo "${ip} ${probe} no"; fi ) &`;
    })
    .join('\n')}\nwait\n`;
}

async function runProbes(project: string, instance: string, targets: readonly { ip: string; probe: Probe | `tcp/${number}` }[]): Promise<Map<string, boolean>> {
  const r = await incusExec(project, instance, ['sh', '-c', probeScript(targets)]);
  const seen = new Map<string, boolean>();
  for (const line of r.stdout.trim().split('\n')) {
    const [ip, probe, verdict] = line.split(' ');
    seen.set(`${ip} ${probe}`, verdict === 'ok');
  }
  return seen;
}

/** Every ordered pair of instances, every probe: measured vs declared. Returns the mismatches. */
async function matrixMismatches(): Promise<string[]> {
  const mismatches: string[] = [];
  await Promise.all(
    boxes.map(async (from) => {
      const targets = boxes.filter((to) => to !== from).flatMap((to) => PROBES.map((probe) => ({ ip: to.ip, probe })));
      const seen = await runProbes(from.domain, from.name, targets);
      for (const to of boxes) {
        if (to === from) continue;
        for (const probe of PROBES) {
          const measured = seen.get(`${to.ip} ${probe}`);
          if (measured !== declared(from, to, probe)) mismatches.push(`${from.name} → ${to.name} ${probe}: measured ${String(measured)}, declared ${String(declared(from, to, probe))}`);
        }
      }
    }),
  );
  return mismatches.sort();
}

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });
const env = { INCUS_SOCKET };
let client: IncusClient;
let infraFile: string;
let hostServer: Server;
let wan: ChildProcess | undefined;

beforeAll(async () => {
  client = testClient();
  hostServer = createServer((s) => s.end());
  await new Promise<void>((resolve) => hostServer.listen(0, '0.0.0.0', resolve));
  hostPort = (hostServer.address() as { port: number }).port;
  infraFile = writeTemp('infra.yml', infraText().replace('HOSTPORT', String(hostPort)));

  // An "outside" reached through the host's NAT: a network namespace behind a veth pair.
  sh('ip', ['netns', 'add', WAN_NS]);
  sh('ip', ['link', 'add', WAN_HOST_IF, 'type', 'veth', 'peer', 'name', WAN_NS_IF]);
  sh('ip', ['link', 'set', WAN_NS_IF, 'netns', WAN_NS]);
  sh('ip', ['addr', 'add', `${WAN_HOST_IP}/30`, 'dev', WAN_HOST_IF]);
  sh('ip', ['link', 'set', WAN_HOST_IF, 'up']);
  sh('ip', ['-n', WAN_NS, 'addr', 'add', `${WAN_NS_IP}/30`, 'dev', WAN_NS_IF]);
  sh('ip', ['-n', WAN_NS, 'link', 'set', WAN_NS_IF, 'up']);
  sh('ip', ['-n', WAN_NS, 'link', 'set', 'lo', 'up']);
  // It answers every connection with the source address it saw (bounded: it is killed in afterAll).
  wan = spawn('ip', ['netns', 'exec', WAN_NS, process.execPath, '-e', `require('net').createServer((s) => s.end(s.remoteAddress + '\\n')).listen(${WAN_PORT}, '${WAN_NS_IP}')`], { stdio: 'ignore' });

  // A bridge and a container anklume does not manage.
  await client.create('/1.0/networks', { name: FOREIGN_BRIDGE, type: 'bridge', config: { 'ipv4.address': `10.${octet}.98.1/24`, 'ipv4.nat': 'true', 'ipv6.address': 'none' } });
  await client.create('/1.0/instances', {
    name: FOREIGN,
    type: 'container',
    source: { type: 'image', alias: TEST_IMAGE },
    profiles: ['default'],
    devices: { eth0: { type: 'nic', network: FOREIGN_BRIDGE, name: 'eth0', 'ipv4.address': `10.${octet}.98.10` } },
    start: true,
  });

  const run = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
  if (run.code !== 0) throw new Error(`apply failed:\n${run.stdout}\n${run.stderr}`);
  await Promise.all([...boxes.map((b) => waitForAddress(b.domain, b.name, b.ip)), waitForAddress('default', FOREIGN, `10.${octet}.98.10`)]);
  // Every instance listens on both test ports. Socket-activated (one process per
  // connection, systemd's backlog): concurrent probes never queue behind each other.
  await Promise.all(
    boxes.map(async (b) => {
      for (const port of [80, 8080]) {
        await client.pushFile(b.domain, b.name, `/etc/systemd/system/listen-${port}.socket`, `[Socket]\nListenStream=${port}\nAccept=yes\n`);
        // Each connection's source address is kept (systemd passes it as REMOTE_ADDR).
        await client.pushFile(b.domain, b.name, `/etc/systemd/system/listen-${port}@.service`, `[Service]\nExecStart=/bin/sh -c 'echo "$REMOTE_ADDR" >> /var/log/peers-${port}'\nStandardInput=socket\n`);
      }
      const r = await incusExec(b.domain, b.name, ['sh', '-c', 'systemctl daemon-reload && systemctl start listen-80.socket listen-8080.socket']);
      if (r.code !== 0) throw new Error(`listeners on ${b.name}: ${r.stderr}`);
    }),
  );
});

afterAll(async () => {
  wan?.kill();
  await new Promise<void>((resolve) => hostServer.close(() => resolve()));
  try {
    execFileSync('ip', ['netns', 'del', WAN_NS], { stdio: 'ignore' });
  } catch {
    // not created
  }
  try {
    await removeTestInfra(client, { infraName, prefix: p });
  } finally {
    client.close();
  }
});

const liveRules = (): string => sh('nft', ['-a', 'list', 'table', 'inet', 'anklume']);

describe('isolation between domains, measured with real packets', () => {
  it('applies the rules in one table of its own, and a second apply writes nothing', async () => {
    expect(sh('nft', ['list', 'tables'])).toMatch(/table inet anklume/);
    const again = await runBin('anklumectl', ['plan', '-f', infraFile, '--json'], { env });
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { actions: unknown[] }).actions).toEqual([]);
    const status = await runBin('anklumectl', ['status', '-f', infraFile, '--json', '--socket', '/nonexistent.sock'], { env });
    expect((JSON.parse(status.stdout) as { firewall: { managed: boolean; state: string } }).firewall).toMatchObject({ managed: true, state: 'InSync' });
  });

  it('lets through exactly what the policies declare: every pair, TCP and ICMP, both directions', async () => {
    expect(await matrixMismatches()).toEqual([]);
  });

  it('keeps source addresses between domains: Incus does not masquerade them', async () => {
    const [a1, , b1] = boxes;
    await incusExec(B, b1!.name, ['sh', '-c', ': > /var/log/peers-80']);
    expect((await runProbes(A, a1!.name, [{ ip: b1!.ip, probe: 'tcp/80' }])).get(`${b1!.ip} tcp/80`)).toBe(true);
    const peers = await waitFor('the connection to be logged', async () => {
      const r = await incusExec(B, b1!.name, ['cat', '/var/log/peers-80']);
      return r.stdout.trim() === '' ? undefined : r.stdout;
    });
    expect(peers.trim().replace(/^::ffff:/, '')).toBe(a1!.ip);
  });

  it('enforces the policy to the host on its input path', async () => {
    const [a1, , , , c1] = boxes;
    const fromC = await runProbes(C, c1!.name, [{ ip: gatewayOf(c1!), probe: `tcp/${hostPort}` }]);
    const fromA = await runProbes(A, a1!.name, [{ ip: gatewayOf(a1!), probe: `tcp/${hostPort}` }]);
    expect([fromC.get(`${gatewayOf(c1!)} tcp/${hostPort}`), fromA.get(`${gatewayOf(a1!)} tcp/${hostPort}`)]).toEqual([true, false]);
  });

  it('leaves egress through NAT and a bridge anklume does not manage alone', async () => {
    const a1 = boxes[0]!;
    // An instance reaches the outside, masqueraded to the host's address.
    const out = await incusExec(A, a1.name, ['sh', '-c', `nc -w2 ${WAN_NS_IP} ${WAN_PORT} </dev/null`]);
    expect(out.stdout.trim()).toBe(WAN_HOST_IP);
    // The foreign container keeps its gateway and its egress ...
    const foreign = await runProbes('default', FOREIGN, [{ ip: `10.${octet}.98.1`, probe: 'icmp' }, { ip: WAN_NS_IP, probe: `tcp/${WAN_PORT}` }]);
    expect([foreign.get(`10.${octet}.98.1 icmp`), foreign.get(`${WAN_NS_IP} tcp/${WAN_PORT}`)]).toEqual([true, true]);
    // ... and cannot get into a domain.
    const into = await runProbes('default', FOREIGN, [{ ip: a1.ip, probe: 'icmp' }, { ip: a1.ip, probe: 'tcp/80' }]);
    expect([into.get(`${a1.ip} icmp`), into.get(`${a1.ip} tcp/80`)]).toEqual([false, false]);
  });

  it('restores a rule deleted by hand on the next reconcile, and the matrix holds again', async () => {
    const line = liveRules().split('\n').find((l) => l.includes('policy 0: port-limited TCP'));
    const handle = /# handle (\d+)/.exec(line ?? '')?.[1];
    expect(handle).toBeDefined();
    sh('nft', ['delete', 'rule', 'inet', 'anklume', 'forward', 'handle', handle!]);
    // The change is real: what the policy allowed is now cut.
    const [a1, , b1] = boxes;
    const cut = await runProbes(A, a1!.name, [{ ip: b1!.ip, probe: 'tcp/80' }]);
    expect(cut.get(`${b1!.ip} tcp/80`)).toBe(false);

    const plan = await runBin('anklumectl', ['plan', '-f', infraFile], { env });
    expect(plan.stdout).toContain('! replace firewall inet anklume');
    expect(plan.stdout).toMatch(new RegExp(`\\+ chain forward: iifname "net-${A}" oifname "net-${B}" tcp dport 80 ct mark set \\d+ accept comment "policy 0: port-limited TCP"`));
    const status = await runBin('anklumectl', ['status', '-f', infraFile, '--json', '--socket', '/nonexistent.sock'], { env });
    expect(status.code).toBe(1);
    expect((JSON.parse(status.stdout) as { firewall: { state: string } }).firewall.state).toBe('Drifted');

    const apply = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(apply.code).toBe(0);
    expect(apply.stdout).toMatch(/ok +replace firewall inet anklume/);
    expect(await matrixMismatches()).toEqual([]);
  });

  it('restores a flushed table, and the matrix holds again', async () => {
    sh('nft', ['flush', 'table', 'inet', 'anklume']);
    expect(liveRules()).not.toContain('drop');
    const apply = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(apply.code).toBe(0);
    expect(await matrixMismatches()).toEqual([]);
  });

  it('reports a host where nft cannot run as not enforced, and never as in sync', async () => {
    const status = await runBin('anklumectl', ['status', '-f', infraFile, '--json', '--socket', '/nonexistent.sock', '--nft', '/nonexistent/nft'], { env });
    expect(status.code).toBe(1);
    expect((JSON.parse(status.stdout) as { firewall: unknown }).firewall).toMatchObject({ managed: false, state: 'Unavailable' });
    const plan = await runBin('anklumectl', ['plan', '-f', infraFile, '--nft', '/nonexistent/nft'], { env });
    expect(plan.stdout).toMatch(/blocked: cannot manage the firewall: nft not found at \/nonexistent\/nft/);
  });
});
