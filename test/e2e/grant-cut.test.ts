import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncusClient } from '../../src/incus/index.js';
import { fetchStatus, startDaemon, waitAllReady, type RunningDaemon, tearDown } from '../helpers/daemon.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, incusExec, shortPrefix, testClient, waitFor, waitForAddress, writeTemp } from '../helpers/incus.js';

// A connection open through a policy stops delivering once the policy is
// removed and the daemon converges: real packets between the test's own containers.
const p = shortPrefix();
const octet = freeSecondOctet();
const [A, B] = [`${p}-a`, `${p}-b`];
const infraName = `${p}-cut`;
const ip = { a: `10.${octet}.1.10`, b: `10.${octet}.2.10` };
const PORT = 7000;

const infra = (withPolicy: boolean): string => `project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
domains:
  ${A}:
    subnet_id: 1
    ephemeral: true
    machines:
      ${A}1: { ip: ${ip.a} }
  ${B}:
    subnet_id: 2
    ephemeral: true
    machines:
      ${B}1: { ip: ${ip.b} }
${withPolicy ? `network_policies:
  - description: a streams to b
    from: ${A}1
    to: ${B}1
    ports: [${PORT}]` : 'network_policies: []'}
`;

let client: IncusClient;
let daemon: RunningDaemon | undefined;
let infraFile: string;
let socket: string;

const received = async (): Promise<number> => Number((await incusExec(B, `${B}1`, ['sh', '-c', 'wc -l < /tmp/got 2>/dev/null || echo 0'])).stdout.trim());

beforeAll(() => {
  client = testClient();
  infraFile = writeTemp('infra.yml', infra(true));
  socket = join(dirname(infraFile), 'anklumed.sock');
});

afterAll(() => tearDown(client, { daemon, infraName, prefix: p }));

describe('a removed grant', () => {
  it('cuts the connection it carried: nothing more is delivered once the daemon converges', async () => {
    daemon = startDaemon(['--config', infraFile, '--resync', '0 0 1 1 *', '--firewall-check', '1', '--lock', join(dirname(infraFile), 'lock')], socket, { INCUS_SOCKET });
    await waitAllReady(socket, { also: (s) => s.firewall.managed });
    await waitForAddress(A, `${A}1`, ip.a);
    await waitForAddress(B, `${B}1`, ip.b);

    // b1 keeps what it receives; a1 sends a line every 200 ms on one connection (bounded: 60 s at most).
    const listen = await incusExec(B, `${B}1`, ['sh', '-c', `: > /tmp/got; setsid nc -lk ${PORT} >> /tmp/got 2>/dev/null < /dev/null & exit 0`]);
    expect(listen.code, listen.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    const send = await incusExec(A, `${A}1`, ['sh', '-c', `setsid sh -c 'i=0; while [ $i -lt 300 ]; do echo tick$i; i=$((i+1)); sleep 0.2; done | nc ${ip.b} ${PORT}' > /dev/null 2>&1 < /dev/null & exit 0`]);
    expect(send.code, send.stderr).toBe(0);
    await waitFor('ticks to arrive', async () => ((await received()) >= 5 ? true : undefined), { timeoutMs: 20_000, intervalMs: 200 });

    // The policy goes; the daemon replaces the table.
    const before = (await fetchStatus(socket))?.firewall.appliedAt;
    const tmp = join(dirname(infraFile), '.infra.yml.swp');
    writeFileSync(tmp, infra(false));
    renameSync(tmp, infraFile);
    await waitFor('the firewall without the policy', async () => {
      const s = await fetchStatus(socket);
      return s !== undefined && s.firewall.managed && s.firewall.appliedAt !== before ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });

    const atCut = await received();
    await new Promise((r) => setTimeout(r, 3_000));
    // 15 more ticks were sent meanwhile on the open connection: none arrived.
    expect(await received()).toBe(atCut);
  });
});
