import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncusClient, Instance } from '../../src/incus/index.js';
import { ROOT } from '../helpers/cli.js';
import { fetchStatus, startDaemon, stopDaemon, waitAllReady, type RunningDaemon, tearDown } from '../helpers/daemon.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, shortPrefix, testClient, waitFor, writeTemp } from '../helpers/incus.js';

// Isolation never depends on anklumed having run: a broken infra.yml at start
// keeps the last valid version, and the boot loader puts the last applied
// table back before Incus starts (what anklume-firewall.service runs).
const p = shortPrefix();
const octet = freeSecondOctet();
const A = `${p}-a`;
const infraName = `${p}-boot`;
const GOOD = `project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
domains:
  ${A}:
    subnet_id: 1
    ephemeral: true
    machines:
      ${A}1: {}
`;
const BROKEN = GOOD.replace(`      ${A}1: {}`, `      ${A}1: { tpye: vm }`);

let client: IncusClient;
let daemon: RunningDaemon | undefined;
let infraFile: string;
let dir: string;
let env: Record<string, string>;
const daemonArgs = (): string[] => ['--config', infraFile, '--resync', '0 0 1 1 *', '--firewall-check', '1', '--lock', join(dir, 'lock')];
const table = (): string => execFileSync('nft', ['list', 'table', 'inet', 'anklume']).toString();

beforeAll(() => {
  client = testClient();
  infraFile = writeTemp('infra.yml', GOOD);
  dir = dirname(infraFile);
  env = { INCUS_SOCKET, ANKLUME_STATE_DIR: join(dir, 'state') };
});

afterAll(() => tearDown(client, { daemon, infraName, prefix: p }));

describe('isolation from boot', () => {
  it('anklumed started on a broken infra.yml keeps its last valid version, repairs as before, and says why', async () => {
    const socket = join(dir, 'anklumed.sock');
    daemon = startDaemon(daemonArgs(), socket, env);
    await waitAllReady(socket, { also: (s) => s.firewall.managed });
    await stopDaemon(daemon);

    writeFileSync(infraFile, BROKEN);
    daemon = startDaemon(daemonArgs(), socket, env);
    const status = await waitFor('the daemon to run on the last valid version', async () => {
      const s = await fetchStatus(socket);
      return s !== undefined && !s.config.valid && s.firewall.managed ? s : undefined;
    });
    expect(status.config.errors[0]).toContain(`${infraFile}:10:`);
    expect(status.config.errors[0]).toContain('unknown key "tpye"');
    expect(table()).toContain(`iifname "net-${A}" oifname "net-${A}" accept`);
    // Still converging to the last valid version: an instance stopped by hand comes back.
    await client.put(`/1.0/instances/${A}1/state`, { action: 'stop', force: true, timeout: 30 }, { project: A });
    await waitFor('the instance to be started again', async () => ((await client.get<Instance>(`/1.0/instances/${A}1`, { project: A })).status === 'Running' ? true : undefined), { timeoutMs: 60_000 });
    await stopDaemon(daemon);
    daemon = undefined;
  });

  it('with incusd stopped, the table flushed and infra.yml broken, the boot loader brings back the last valid table before Incus starts', async () => {
    const pid = execFileSync('pgrep', ['-f', '^(/usr/libexec/incus/)?incusd( --|$)']).toString().trim().split('\n')[0] ?? '';
    process.kill(Number(pid), 'SIGTERM');
    await waitFor('incusd to stop', () => Promise.resolve(spawnSync('pgrep', ['-f', '^(/usr/libexec/incus/)?incusd( --|$)']).status !== 0 ? true : undefined), { timeoutMs: 60_000 });
    execFileSync('nft', ['flush', 'table', 'inet', 'anklume']);
    expect(table()).not.toContain(`net-${A}`);

    const load = spawnSync('sh', [join(ROOT, 'deploy/anklume-firewall-load.sh')], { env: { ...process.env, ...env }, encoding: 'utf8' });
    expect(load.status, load.stdout + load.stderr).toBe(0);
    expect(load.stdout).toContain('loaded the last applied table');
    expect(table()).toContain(`iifname "net-${A}" oifname "net-${A}" accept`);

    execFileSync('bash', [join(ROOT, 'scripts/incus-setup.sh')], { stdio: 'ignore' });
    await waitFor('Incus to answer again', async () => ((await client.get<Instance>(`/1.0/instances/${A}1`, { project: A }).catch(() => undefined))?.status === 'Running' ? true : undefined), { timeoutMs: 90_000 });
    expect(table()).toContain(`iifname "net-${A}" oifname "net-${A}" accept`);
  });
});
