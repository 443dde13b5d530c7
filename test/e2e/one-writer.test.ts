import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncusClient } from '../../src/incus/index.js';
import { runBin } from '../helpers/cli.js';
import { startDaemon, stopDaemon, waitAllReady, type RunningDaemon, tearDown } from '../helpers/daemon.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, shortPrefix, testClient, waitFor, writeTemp } from '../helpers/incus.js';

// One writer on the host: apply goes through a running daemon; without one,
// two applies never run at once (the second waits for the flock, or refuses).
const p = shortPrefix();
const octet = freeSecondOctet();
const A = `${p}-a`;
const infraName = `${p}-writer`;

const infra = (machines: string[]): string => `project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
domains:
  ${A}:
    subnet_id: 1
    ephemeral: true
    machines:
${machines.map((m) => `      ${m}: {}`).join('\n')}
`;

let client: IncusClient;
let daemon: RunningDaemon | undefined;
let infraFile: string;
let lock: string;
let socket: string;

async function instances(): Promise<string[]> {
  return (await client.listInstances()).filter((i) => i.name.startsWith(p)).map((i) => i.name).sort();
}

beforeAll(() => {
  client = testClient();
  infraFile = writeTemp('infra.yml', infra([`${A}1`]));
  lock = join(dirname(infraFile), 'anklume.lock');
  socket = join(dirname(infraFile), 'anklumed.sock');
});

afterAll(() => tearDown(client, { daemon, infraName, prefix: p }));

const env = { INCUS_SOCKET, ANKLUME_LOCK: '' };
const cli = (args: string[]) => runBin('anklumectl', [...args, '-f', infraFile, '--socket', socket, '--lock', lock], { env });

describe('one writer', () => {
  it('applies through the running daemon, which applies what is on disk now', async () => {
    // A long debounce: only the apply makes the daemon read the edit.
    daemon = startDaemon(['--config', infraFile, '--resync', '0 0 1 1 *', '--debounce-ms', '600000', '--lock', lock], socket, { INCUS_SOCKET });
    await waitAllReady(socket);
    writeFileSync(infraFile, infra([`${A}1`, `${A}2`]));
    const run = await cli(['apply']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`through anklumed \\(pid ${daemon.child.pid}\\)`));
    expect(run.stdout).toMatch(new RegExp(`ok +create instance ${A}2`));
    expect(await instances()).toEqual([`${A}1`, `${A}2`]);
  });

  it('refuses a direct apply while the daemon holds the lock, naming it', async () => {
    // Another socket: the CLI does not find the daemon, so it goes for the lock the daemon holds.
    const run = await runBin('anklumectl', ['apply', '-f', infraFile, '--socket', join(dirname(infraFile), 'none.sock'), '--lock', lock, '--no-wait'], { env });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`pid ${daemon?.child.pid} (anklumed)`);
  });

  it('a second anklumed does not start while one runs', async () => {
    const second = startDaemon(['--config', infraFile, '--lock', lock], join(dirname(infraFile), 'second.sock'), { INCUS_SOCKET });
    expect(await second.exited).toBe(1);
    expect(second.log()).toContain(`pid ${daemon?.child.pid} (anklumed)`);
  });

  it('without a daemon, two applies at once never interleave: the second waits for the first', async () => {
    if (daemon !== undefined) await stopDaemon(daemon);
    daemon = undefined;
    writeFileSync(infraFile, infra([`${A}1`, `${A}2`, `${A}3`, `${A}4`]));
    const first = cli(['apply']);
    // The second starts once the first holds the lock (the holder writes its name into the file after taking it).
    await waitFor('the first apply to hold the lock', () => Promise.resolve(readFileSync(lock, 'utf8').includes('anklumectl apply') ? true : undefined), { intervalMs: 20 });
    const second = await cli(['apply']);
    const one = await first;
    expect(one.code, one.stdout + one.stderr).toBe(0);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(one.stdout).toMatch(new RegExp(`ok +create instance ${A}3`));
    expect(second.stderr).toMatch(/waiting for the writer lock held by pid \d+ \(anklumectl apply\)/);
    // It ran after the first was done: nothing left to do, nothing created twice.
    expect(second.stdout).toContain('Nothing to do');
    expect(await instances()).toEqual([`${A}1`, `${A}2`, `${A}3`, `${A}4`]);
  });
});
