import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusDocument } from '../../src/controllers/status.js';
import type { IncusClient, Instance } from '../../src/incus/index.js';
import { ROOT, runBin } from '../helpers/cli.js';
import { fetchStatus, isReady, startDaemon, stopDaemon, waitAllReady, type RunningDaemon, tearDown } from '../helpers/daemon.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, shortPrefix, testClient, waitFor, writeTemp } from '../helpers/incus.js';

const p = shortPrefix();
const octet = freeSecondOctet();
const [A, B] = [`${p}-a`, `${p}-b`];
const infraName = `${p}-daemon`;

function infraText(machinesOfA: string[]): string {
  return `project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
domains:
  ${A}:
    subnet_id: 1
    ephemeral: true
    machines:
${machinesOfA.map((m) => `      ${m}: {}`).join('\n')}
  ${B}:
    subnet_id: 2
    ephemeral: true
    machines:
      ${B}1: {}
`;
}

/** Editors save by writing a temporary file and renaming it over the original. */
function saveByRename(path: string, text: string): void {
  const tmp = join(dirname(path), '.infra.yml.swp');
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

let client: IncusClient;
let infraFile: string;
let socket: string;
let daemon: RunningDaemon | undefined;
// A resync that never comes during the test: what converges does so from files and events.
const NO_RESYNC = ['--resync', '0 0 1 1 *'];
// No firewall check timer during the test (30 s by default): a table changed by hand is seen through nft's monitor.
const NO_FIREWALL_TIMER = ['--firewall-check', '3600'];

async function instanceNames(): Promise<string[]> {
  return (await client.listInstances()).filter((i) => i.name.startsWith(p)).map((i) => `${i.project}/${i.name}`).sort();
}

beforeAll(() => {
  client = testClient();
  infraFile = writeTemp('infra.yml', infraText([`${A}1`, `${A}2`]));
  socket = join(dirname(infraFile), 'anklumed.sock');
});

afterAll(() => tearDown(client, { daemon, infraName, prefix: p }));

describe('anklumed against a real Incus', () => {
  it('refuses to start on an invalid infra.yml, with the error and its position', async () => {
    const bad = writeTemp('infra.yml', 'domains:\n  pro: { ai_provider: clowd }\n');
    const d = startDaemon(['--config', bad, ...NO_RESYNC], join(dirname(bad), 'x.sock'), { INCUS_SOCKET });
    expect(await d.exited).toBe(1);
    expect(d.log()).toContain(`${bad}:2:23: domains.pro.ai_provider`);
  });

  it('converges on start, and status shows every object Ready', async () => {
    daemon = startDaemon(['--config', infraFile, ...NO_RESYNC, ...NO_FIREWALL_TIMER, '--prune'], socket, { INCUS_SOCKET });
    const status = await waitAllReady(socket);
    expect(status.daemon.running).toBe(true);
    expect(status.events?.connected).toBe(true);
    expect(status.config.valid).toBe(true);
    expect(status.domains.map((d) => d.name).sort()).toEqual([A, B]);
    expect(await instanceNames()).toEqual([`${A}/${A}1`, `${A}/${A}2`, `${B}/${B}1`]);
    expect(status.domains.every((d) => d.lastReconcile?.result === 'success')).toBe(true);
  });

  it('anklumectl status --json reads the same document from the daemon', async () => {
    const run = await runBin('anklumectl', ['status', '--json', '--socket', socket]);
    expect(run.code, run.stderr).toBe(0);
    const doc = JSON.parse(run.stdout) as { daemon: { running: boolean }; domains: { name: string }[] };
    expect(doc.daemon.running).toBe(true);
    expect(doc.domains.map((d) => d.name).sort()).toEqual([A, B]);
  });

  it('applies the firewall and repairs it by itself when the table is flushed by hand, on nft\'s notice with no check due', async () => {
    const inSync = (st: StatusDocument): boolean => st.firewall.managed && st.firewall.state === 'InSync';
    const before = await waitAllReady(socket, { also: inSync });
    expect(before.firewall.appliedAt).not.toBeNull();
    execFileSync('nft', ['flush', 'table', 'inet', 'anklume']);
    const after = await waitFor('the firewall to be repaired', async () => {
      const st = await fetchStatus(socket);
      return st !== undefined && inSync(st) && st.firewall.appliedAt !== before.firewall.appliedAt ? st : undefined;
    }, { timeoutMs: 30_000 });
    expect(after.firewall.rules).toBe(before.firewall.rules);
    expect(execFileSync('nft', ['list', 'table', 'inet', 'anklume']).toString()).toContain(`iifname "net-${A}" oifname "net-${A}" accept`);
    expect(daemon?.log()).toMatch(/"msg":"replace firewall inet anklume"/);
  });

  it('makes a machine added to infra.yml appear without any command', async () => {
    saveByRename(infraFile, infraText([`${A}1`, `${A}2`, `${A}3`]));
    await waitAllReady(socket, { also: (s) => s.domains.some((d) => d.objects.some((o) => o.name === `${A}3` && o.state === 'Running')) });
    expect((await client.get<Instance>(`/1.0/instances/${A}3`, { project: A })).status).toBe('Running');
  });

  it('recreates an instance deleted by hand from the Incus event alone', async () => {
    await client.put(`/1.0/instances/${B}1/state`, { action: 'stop', force: true, timeout: 30 }, { project: B });
    await client.delete(`/1.0/instances/${B}1`, { project: B });
    const recreated = await waitFor('the deleted instance to come back', async () => {
      try {
        const i = await client.get<Instance>(`/1.0/instances/${B}1`, { project: B });
        return i.status === 'Running' ? i : undefined;
      } catch {
        return undefined;
      }
    }, { timeoutMs: 60_000 });
    expect(recreated.config['user.anklume.infra']).toBe(infraName);
  });

  it('keeps everything when infra.yml is truncated or invalid, says where, and resumes once fixed', async () => {
    const good = readFileSync(infraFile, 'utf8');
    const before = await instanceNames();
    // Half-written: cut inside the second domain's mapping, a `{` never closed.
    writeFileSync(infraFile, `${good.slice(0, good.indexOf(`  ${B}:`))}  ${B}: { subnet_id: 2\n`);
    const broken = await waitFor('status to report the invalid file', async () => {
      const s = await fetchStatus(socket);
      return s !== undefined && !s.config.valid ? s : undefined;
    });
    expect(broken.config.errors[0]).toMatch(new RegExp(`^${infraFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
    // An edit to Incus meanwhile is still repaired from the last valid file.
    await client.put(`/1.0/instances/${A}1/state`, { action: 'stop', force: true, timeout: 30 }, { project: A });
    await waitFor('the stopped instance to be restarted', async () => ((await client.get<Instance>(`/1.0/instances/${A}1`, { project: A })).status === 'Running' ? true : undefined));
    expect(await instanceNames()).toEqual(before);

    saveByRename(infraFile, good.replace(`      ${A}3: {}\n`, ''));
    await waitFor('the fixed file to be applied (pruning the machine it dropped)', async () => ((await instanceNames()).includes(`${A}/${A}3`) ? undefined : true));
    const s = await waitAllReady(socket);
    expect(s.config.valid).toBe(true);
    expect(await instanceNames()).toEqual([`${A}/${A}1`, `${A}/${A}2`, `${B}/${B}1`]);
  });

  it('after kill -9 during convergence, a restart converges with no duplicates and no leftovers', async () => {
    if (daemon !== undefined) await stopDaemon(daemon);
    saveByRename(infraFile, infraText([`${A}1`, `${A}2`, `${A}4`, `${A}5`, `${A}6`]));
    daemon = startDaemon(['--config', infraFile, ...NO_RESYNC, ...NO_FIREWALL_TIMER, '--prune'], socket, { INCUS_SOCKET });
    await waitFor('convergence to be under way', async () => ((await instanceNames()).some((n) => n.endsWith(`${A}4`) || n.endsWith(`${A}5`) || n.endsWith(`${A}6`)) ? true : undefined), { intervalMs: 20 });
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    daemon = startDaemon(['--config', infraFile, ...NO_RESYNC, ...NO_FIREWALL_TIMER, '--prune'], socket, { INCUS_SOCKET });
    await waitAllReady(socket, { also: (s) => s.domains.find((d) => d.name === A)?.objects.filter((o) => o.kind === 'instance').length === 5 });
    expect(await instanceNames()).toEqual([`${A}/${A}1`, `${A}/${A}2`, `${A}/${A}4`, `${A}/${A}5`, `${A}/${A}6`, `${B}/${B}1`]);
    const projects = (await client.listProjects()).map((x) => x.name).filter((n) => n.startsWith(p)).sort();
    expect(projects).toEqual([A, B]);
  });

  it('reconnects and resyncs by itself when incusd restarts under it', async () => {
    const pid = execFileSync('pgrep', ['-f', '^(/usr/libexec/incus/)?incusd( --|$)']).toString().trim().split('\n')[0] ?? '';
    process.kill(Number(pid), 'SIGTERM');
    await waitFor('the daemon to notice', async () => ((await fetchStatus(socket))?.events?.connected === false ? true : undefined));
    execFileSync('bash', [join(ROOT, 'scripts/incus-setup.sh')], { stdio: 'ignore' });
    await waitFor('the events stream to reconnect', async () => ((await fetchStatus(socket))?.events?.connected === true ? true : undefined), { timeoutMs: 90_000 });
    // Proof that it is listening again: a deletion is repaired from the new stream.
    await client.put(`/1.0/instances/${A}2/state`, { action: 'stop', force: true, timeout: 30 }, { project: A });
    await client.delete(`/1.0/instances/${A}2`, { project: A });
    await waitFor('the instance to be recreated after the restart', async () => {
      try {
        return (await client.get<Instance>(`/1.0/instances/${A}2`, { project: A })).status === 'Running' ? true : undefined;
      } catch {
        return undefined;
      }
    }, { timeoutMs: 60_000 });
    const s = await waitAllReady(socket);
    expect(s.events?.reconnects).toBeGreaterThan(0);
  });

  it('stops gracefully on SIGTERM and removes its socket', async () => {
    if (daemon === undefined) throw new Error('no daemon');
    const code = await stopDaemon(daemon);
    expect(code).toBe(0);
    expect(daemon.log()).toContain('anklumed stopped');
    expect(await fetchStatus(socket)).toBeUndefined();
    expect(isReady({ conditions: [] })).toBe(false);
    daemon = undefined;
  });
});
