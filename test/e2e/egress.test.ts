import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncusClient } from '../../src/incus/index.js';
import { runBin } from '../helpers/cli.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, incusExec, removeTestInfra, shortPrefix, testClient, waitForAddress, writeTemp } from '../helpers/incus.js';

// Egress by trust level, with real packets: an "internet" and a private LAN,
// each a network namespace of the test's own behind a veth pair on the host.
const p = shortPrefix();
const octet = freeSecondOctet();
const [U, D, L] = [`${p}-u`, `${p}-d`, `${p}-l`];
const infraName = `${p}-egress`;
const ip = { u: `10.${octet}.1.10`, d: `10.${octet}.2.10`, l: `10.${octet}.3.10` };
const PORT = 9100;
/** A second service on the LAN that no policy names. */
const OTHER_PORT = 9101;
// A public-looking address (198.18.0.0/15, not a private range) and a private one.
const OUTSIDE = [
  { name: 'internet', ns: `${p}wn`, hostIf: `${p}wh`, nsIf: `${p}wv`, host: `198.18.${octet}.5`, peer: `198.18.${octet}.6` },
  { name: 'lan', ns: `${p}ln`, hostIf: `${p}lh`, nsIf: `${p}lv`, host: `192.168.${octet}.5`, peer: `192.168.${octet}.6` },
] as const;

const INFRA = `project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
domains:
  ${U}:
    trust_level: untrusted
    subnet_id: 1
    ephemeral: true
    machines: { ${U}1: { ip: ${ip.u} } }
  ${D}:
    trust_level: disposable
    subnet_id: 2
    ephemeral: true
    machines: { ${D}1: { ip: ${ip.d} } }
  ${L}:
    egress: lan
    subnet_id: 3
    ephemeral: true
    machines: { ${L}1: { ip: ${ip.l} } }
network_policies:
  - description: one LAN service for the untrusted domain
    from: ${U}1
    to: 192.168.${octet}.4/30
    ports: [${PORT}]
`;

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });
let client: IncusClient;
const servers: ChildProcess[] = [];

/** Does `instance` get an answer from `address` (the server echoes the source it saw)? */
async function reaches(project: string, instance: string, address: string, port = PORT): Promise<boolean> {
  const r = await incusExec(project, instance, ['sh', '-c', `nc -w2 ${address} ${port} </dev/null`]);
  return r.stdout.trim() !== '';
}

beforeAll(async () => {
  client = testClient();
  for (const o of OUTSIDE) {
    sh('ip', ['netns', 'add', o.ns]);
    sh('ip', ['link', 'add', o.hostIf, 'type', 'veth', 'peer', 'name', o.nsIf]);
    sh('ip', ['link', 'set', o.nsIf, 'netns', o.ns]);
    sh('ip', ['addr', 'add', `${o.host}/30`, 'dev', o.hostIf]);
    sh('ip', ['link', 'set', o.hostIf, 'up']);
    sh('ip', ['-n', o.ns, 'addr', 'add', `${o.peer}/30`, 'dev', o.nsIf]);
    sh('ip', ['-n', o.ns, 'link', 'set', o.nsIf, 'up']);
    for (const port of [PORT, OTHER_PORT]) {
      servers.push(spawn('ip', ['netns', 'exec', o.ns, process.execPath, '-e', `require('net').createServer((s) => s.end(s.remoteAddress + '\\n')).listen(${port}, '${o.peer}')`], { stdio: 'ignore' }));
    }
  }
  const infraFile = writeTemp('infra.yml', INFRA);
  const dir = dirname(infraFile);
  const apply = await runBin('anklumectl', ['apply', '-f', infraFile, '--lock', join(dir, 'lock'), '--socket', join(dir, 'none.sock')], { env: { INCUS_SOCKET, ANKLUME_STATE_DIR: join(dir, 'state') } });
  if (apply.code !== 0) throw new Error(`apply failed:\n${apply.stdout}\n${apply.stderr}`);
  await Promise.all([waitForAddress(U, `${U}1`, ip.u), waitForAddress(D, `${D}1`, ip.d), waitForAddress(L, `${L}1`, ip.l)]);
});

afterAll(async () => {
  for (const s of servers) s.kill();
  for (const o of OUTSIDE) {
    try {
      execFileSync('ip', ['netns', 'del', o.ns], { stdio: 'ignore' });
    } catch {
      // not created
    }
  }
  try {
    await removeTestInfra(client, { infraName, prefix: p });
  } finally {
    client.close();
  }
});

describe('egress by trust level', () => {
  const [internet, lan] = [OUTSIDE[0].peer, OUTSIDE[1].peer];

  it('an untrusted domain reaches the internet, and on the LAN only the port a policy names', async () => {
    expect([await reaches(U, `${U}1`, internet), await reaches(U, `${U}1`, lan), await reaches(U, `${U}1`, lan, OTHER_PORT)]).toEqual([true, true, false]);
  });

  it('a disposable domain reaches neither, nor the LAN service another domain\'s policy opens', async () => {
    expect([await reaches(D, `${D}1`, internet), await reaches(D, `${D}1`, lan)]).toEqual([false, false]);
  });

  it('a domain with egress: lan reaches both', async () => {
    expect([await reaches(L, `${L}1`, internet), await reaches(L, `${L}1`, lan), await reaches(L, `${L}1`, lan, OTHER_PORT)]).toEqual([true, true, true]);
  });
});
