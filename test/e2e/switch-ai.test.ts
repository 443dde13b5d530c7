import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncusClient, Project } from '../../src/incus/index.js';
import { parseHolderFile } from '../../src/shared/ai-access-file.js';
import { ROOT, runBin } from '../helpers/cli.js';
import type { StatusDocument } from '../../src/controllers/status.js';
import { fetchStatus, isReady, startDaemon, stopDaemon, type RunningDaemon, tearDown } from '../helpers/daemon.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, incusExec, shortPrefix, testClient, waitFor, waitForAddress, writeTemp } from '../helpers/incus.js';

// Exclusive AI access on the real Incus: real firewall sets, real connections, GPU stand-ins.
const p = shortPrefix();
const octet = freeSecondOctet();
const [PRO, PERSO, AI, OFF] = [`${p}-pro`, `${p}-perso`, `${p}-ai`, `${p}-off`];
const infraName = `${p}-switch`;
const ip = { pro: `10.${octet}.1.10`, perso: `10.${octet}.2.10`, ai: `10.${octet}.3.10` };
const SINK_PORT = 11434;

const INFRA = `
project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
  ai_access_policy: exclusive
  ai_access_default: ${PRO}
  ai_tools_domain: ${AI}
domains:
  ${PRO}:
    subnet_id: 1
    ephemeral: true
    machines:
      ${PRO}1: { ip: ${ip.pro} }
  ${PERSO}:
    subnet_id: 2
    ephemeral: true
    machines:
      ${PERSO}1: { ip: ${ip.perso} }
  ${AI}:
    subnet_id: 3
    ephemeral: true
    machines:
      ${AI}1: { ip: ${ip.ai}, roles: [ollama_server] }
  ${OFF}:
    subnet_id: 4
    enabled: false
    machines:
      ${OFF}1: {}
network_policies:
  - description: the AI service, for the holder
    from: ${PRO}
    to: ${AI}
    ports: [${SINK_PORT}]
`;

// Stand-ins in the ai-tools instance. Every call lands in one ordered log.
const ORDER_LOG = '/var/log/switch-order';
const unit = (name: string, exec: string, unitExtra = ''): string => `[Unit]
Description=${name} (anklume e2e stand-in)
${unitExtra}
[Service]
ExecStartPre=/bin/sh -c 'echo "start ${name}" >> ${ORDER_LOG}'
ExecStart=${exec}
ExecStopPost=/bin/sh -c 'echo "stop ${name}" >> ${ORDER_LOG}'
[Install]
WantedBy=multi-user.target
`;
// What a workload left on the GPU: a process nvidia-smi lists until it is killed.
const GPU_PROC_PID = '/run/fake-gpu-proc.pid';
// Follows nvidia-smi's CSV output (noheader, nounits) for the queries anklume makes.
const FAKE_NVIDIA_SMI = `#!/bin/sh
echo "nvidia-smi $*" >> ${ORDER_LOG}
pid=$(cat ${GPU_PROC_PID} 2>/dev/null)
alive() { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
case "$*" in
  *--query-gpu=index,memory.used,memory.total*) if alive; then echo "0, 10240, 24576"; else echo "0, 3, 24576"; fi ;;
  *--query-compute-apps=pid,used_memory*) if alive; then echo "$pid, 10237"; fi ;;
  *--gpu-reset*) echo "Resetting GPU 00000000:01:00.0 is not supported."; exit 3 ;;
  *) echo "NVIDIA-SMI stand-in"; ;;
esac
`;

let client: IncusClient;
let infraFile: string;
let dir: string;
let daemon: RunningDaemon | undefined;
const paths = (): string[] => ['--ai-state-file', join(dir, 'ai-access-current'), '--ai-switch-log', join(dir, 'ai-switch.log')];
const env = { INCUS_SOCKET };

async function reaches(fromProject: string, from: string): Promise<boolean> {
  const r = await incusExec(fromProject, from, ['nc', '-z', '-w1', ip.ai, String(SINK_PORT)]);
  return r.code === 0;
}

async function orderLog(): Promise<string[]> {
  const r = await incusExec(AI, `${AI}1`, ['cat', ORDER_LOG]);
  return r.stdout.trim().split('\n').filter((l) => l !== '');
}

/** What the switch did: services and GPU actions, without the VRAM reads `status` makes on its own. */
async function actionsSince(before: readonly string[]): Promise<string[]> {
  return (await orderLog()).slice(before.length).filter((l) => !l.startsWith('nvidia-smi --query-gpu'));
}

async function sinkBytes(): Promise<number> {
  // A failed `incus exec` is not an empty sink: ask again rather than read it as 0.
  return waitFor('the sink size', async () => {
    const r = await incusExec(AI, `${AI}1`, ['stat', '-c', '%s', '/var/log/sink']);
    return r.code === 0 && /^\d+$/.test(r.stdout.trim()) ? Number(r.stdout.trim()) : undefined;
  }, { timeoutMs: 20_000, intervalMs: 200 });
}

/** Every enabled domain Ready (the disabled one has no objects), the firewall in sync, the holder read. */
function daemonConverged(socket: string): Promise<StatusDocument> {
  return waitFor('anklumed to converge', async () => {
    const s = await fetchStatus(socket);
    const ready = s !== undefined && s.domains.filter((d) => d.enabled).every(isReady) && s.firewall.managed && s.aiAccess.holder !== null;
    return ready ? s : undefined;
  }, { timeoutMs: 120_000 });
}

async function holderInIncus(): Promise<string | undefined> {
  return (await client.get<Project>(`/1.0/projects/${AI}`)).config['user.anklume.ai-access-holder'];
}

async function phaseInIncus(): Promise<string | undefined> {
  return (await client.get<Project>(`/1.0/projects/${AI}`)).config['user.anklume.ai-access-phase'];
}

const daemonArgs = (): string[] => ['--config', infraFile, '--resync', '0 0 1 1 *', '--firewall-check', '1', ...paths()];

beforeAll(async () => {
  client = testClient();
  infraFile = writeTemp('infra.yml', INFRA);
  dir = dirname(infraFile);
  const apply = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
  if (apply.code !== 0) throw new Error(`apply failed:\n${apply.stdout}\n${apply.stderr}`);
  await Promise.all([waitForAddress(PRO, `${PRO}1`, ip.pro), waitForAddress(PERSO, `${PERSO}1`, ip.perso), waitForAddress(AI, `${AI}1`, ip.ai)]);

  const ai = `${AI}1`;
  await client.pushFile(AI, ai, '/usr/local/bin/nvidia-smi', FAKE_NVIDIA_SMI, { mode: 0o755 });
  await client.pushFile(AI, ai, '/etc/systemd/system/ollama.service', unit('ollama', '/bin/sleep infinity'));
  await client.pushFile(AI, ai, '/etc/systemd/system/speaches.service', unit('speaches', '/bin/sleep infinity'));
  // The service domains connect to: not a GPU service, so only the firewall can cut its connections.
  // Socket-activated, one process per connection: a stalled client never blocks the next one.
  await client.pushFile(AI, ai, '/etc/systemd/system/sink.socket', `[Socket]\nListenStream=${SINK_PORT}\nAccept=yes\n`);
  await client.pushFile(AI, ai, '/etc/systemd/system/sink@.service', `[Service]\nExecStart=/bin/sh -c 'cat >> /var/log/sink'\nStandardInput=socket\nStandardOutput=null\n`);
  const setup = await incusExec(AI, ai, ['sh', '-c', `systemctl daemon-reload && systemctl start ollama speaches sink.socket && : > ${ORDER_LOG} && : > /var/log/sink && systemd-run --unit=gpu-proc /bin/sleep 1000 && sleep 0.3 && systemctl show -p MainPID --value gpu-proc > ${GPU_PROC_PID}`]);
  if (setup.code !== 0) throw new Error(`stand-ins: ${setup.stderr}`);
  await waitFor('the sink to listen', async () => ((await incusExec(AI, ai, ['ss', '-Hltn'])).stdout.includes(`:${SINK_PORT} `) ? true : undefined));
});

afterAll(() => tearDown(client, { daemon, infraName, prefix: p }));

describe('exclusive AI access and switch-ai, with real packets', () => {
  it('gives access to ai_access_default at first: pro reaches the AI service, perso does not', async () => {
    expect([await reaches(PRO, `${PRO}1`), await reaches(PERSO, `${PERSO}1`)]).toEqual([true, false]);
    const status = await runBin('anklumectl', ['status', '-f', infraFile, '--json', '--socket', join(dir, 'none.sock')], { env });
    expect((JSON.parse(status.stdout) as { aiAccess: unknown }).aiAccess).toMatchObject({ policy: 'exclusive', holder: PRO, source: 'ai_access_default (no switch yet)' });
  });

  it('refuses unknown, disabled and ai-tools targets with a clear message, and changes nothing', async () => {
    const before = await orderLog();
    for (const [target, message] of [
      ['nope', 'unknown domain "nope"'],
      [OFF, `domain "${OFF}" is disabled`],
      [AI, `${AI} is the domain that is accessed`],
    ] as const) {
      const run = await runBin('anklumectl', ['switch-ai', target, '-f', infraFile, '--socket', join(dir, 'none.sock'), ...paths()], { env });
      expect(run.code, run.stdout + run.stderr).toBe(1);
      expect(run.stderr).toContain(message);
      expect(run.stderr).toContain('nothing was changed');
    }
    expect(await holderInIncus()).toBeUndefined();
    expect(await actionsSince(before)).toEqual([]);
    expect(existsSync(join(dir, 'ai-switch.log'))).toBe(false);
  });

  it('--dry-run prints the steps and changes nothing', async () => {
    const before = await orderLog();
    const run = await runBin('anklumectl', ['switch-ai', PERSO, '--dry-run', '-f', infraFile, '--socket', join(dir, 'none.sock'), ...paths()], { env });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Dry run: switching AI access from ${PRO} to ${PERSO}`);
    expect(run.stdout).toMatch(/1\. record [\s\S]*2\. revoke[\s\S]*3\. stop GPU services[\s\S]*4\. flush VRAM: no ai-tools machine declares gpu: true[\s\S]*5\. grant[\s\S]*6\. start[\s\S]*7\. record/);
    expect(await holderInIncus()).toBeUndefined();
    expect(await actionsSince(before)).toEqual([]);
  });

  it('switches to perso without --no-flush on a host without GPU: stop → grant → start, the open connection of pro cut, the record written', async () => {
    // pro holds a connection open to the AI service, writing to it every 200 ms (bounded: 2 minutes).
    const writer = await incusExec(PRO, `${PRO}1`, ['systemd-run', '--unit=writer', 'sh', '-c', `i=0; while [ $i -lt 600 ]; do echo tick $i; i=$((i+1)); sleep 0.2; done | nc ${ip.ai} ${SINK_PORT}`]);
    expect(writer.code).toBe(0);
    await waitFor('pro to be writing', async () => ((await sinkBytes()) > 20 ? true : undefined));

    const before = await orderLog();
    const run = await runBin('anklumectl', ['switch-ai', PERSO, '-f', infraFile, '--socket', join(dir, 'none.sock'), ...paths()], { env });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`revoke ${PRO}[\\s\\S]*stop GPU services[\\s\\S]*flush VRAM[\\s\\S]*nothing to flush[\\s\\S]*grant ${PERSO}[\\s\\S]*start GPU services[\\s\\S]*recorded in`));
    expect(run.stdout).toContain(`AI access switched: ${PRO} -> ${PERSO} (flush=true)`);

    // The order, as the ai-tools instance saw it: no GPU declared, so nvidia-smi is never asked.
    const order = (await orderLog()).slice(before.length);
    expect(order).toEqual(['stop ollama', 'stop speaches', 'start ollama', 'start speaches']);

    // The reverse reachability, and pro's open connection no longer delivers anything.
    expect([await reaches(PRO, `${PRO}1`), await reaches(PERSO, `${PERSO}1`)]).toEqual([false, true]);
    const size = await sinkBytes();
    await new Promise((r) => setTimeout(r, 1500));
    expect(await sinkBytes()).toBe(size);
    const stillWriting = await incusExec(PRO, `${PRO}1`, ['systemctl', 'is-active', 'writer']);
    expect(stillWriting.stdout.trim()).toBe('active');

    expect(parseHolderFile(readFileSync(join(dir, 'ai-access-current'), 'utf8'))).toEqual({ holder: PERSO });
    const log = readFileSync(join(dir, 'ai-switch.log'), 'utf8').trim().split('\n');
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z ${PRO} -> ${PERSO} flush=true$`));
    const status = await runBin('anklumectl', ['status', '-f', infraFile, '--json', '--socket', join(dir, 'none.sock')], { env: { ...env, ANKLUME_AI_SWITCH_LOG: join(dir, 'ai-switch.log') } });
    expect((JSON.parse(status.stdout) as { aiAccess: unknown }).aiAccess).toMatchObject({ holder: PERSO, wanted: PERSO, phase: null, lastSwitches: [log[0]] });
    expect(await holderInIncus()).toBe(PERSO);
  });

  it('switching to the current holder is a no-op: no service stopped, no log line', async () => {
    const before = await orderLog();
    const run = await runBin('anklumectl', ['switch-ai', PERSO, '-f', infraFile, '--socket', join(dir, 'none.sock'), ...paths()], { env });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${PERSO} already holds AI access: nothing to do.`);
    expect(await actionsSince(before)).toEqual([]);
    expect(readFileSync(join(dir, 'ai-switch.log'), 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('a GPU service that will not stop fails the switch: nobody holds access, what was stopped runs again, and a new switch recovers', async () => {
    // A GPU service that refuses to stop: the switch fails after the revoke.
    await client.pushFile(AI, `${AI}1`, '/etc/systemd/system/stuck.service', unit('stuck', '/bin/sleep infinity', 'RefuseManualStop=yes'));
    expect((await incusExec(AI, `${AI}1`, ['sh', '-c', 'systemctl daemon-reload && systemctl start stuck'])).code).toBe(0);
    const stuckInfra = writeTemp('infra-stuck.yml', INFRA.replace(`ai_tools_domain: ${AI}`, `ai_tools_domain: ${AI}\n  ai_gpu_services: [ollama, stuck]`));

    const failed = await runBin('anklumectl', ['switch-ai', PRO, '-f', stuckInfra, '--socket', join(dir, 'none.sock'), ...paths()], { env });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('switch-ai failed: could not stop the GPU services: systemctl stop stuck');
    expect(failed.stderr).toContain('State left: nobody holds AI access; the GPU services stopped for the switch were started again');
    expect((await incusExec(AI, `${AI}1`, ['systemctl', 'is-active', 'ollama'])).stdout.trim()).toBe('active');
    expect([await reaches(PRO, `${PRO}1`), await reaches(PERSO, `${PERSO}1`)]).toEqual([false, false]);
    expect(await holderInIncus()).toBe('-');
    const status = await runBin('anklumectl', ['status', '-f', infraFile, '--json', '--socket', join(dir, 'none.sock')], { env });
    expect((JSON.parse(status.stdout) as { aiAccess: unknown }).aiAccess).toMatchObject({ holder: null, wanted: null, phase: null, lastFailure: expect.stringContaining('could not stop the GPU services') });
    const log = readFileSync(join(dir, 'ai-switch.log'), 'utf8').trim().split('\n');
    expect(log).toHaveLength(2);
    expect(log[1]).toMatch(new RegExp(` ${PERSO} -> none flush=true failed: could not stop the GPU services`));

    const recovered = await runBin('anklumectl', ['switch-ai', PERSO, '-f', infraFile, '--socket', join(dir, 'none.sock'), ...paths()], { env });
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    expect(recovered.stdout).toContain(`AI access switched: nobody -> ${PERSO}`);
    expect([await reaches(PRO, `${PRO}1`), await reaches(PERSO, `${PERSO}1`)]).toEqual([false, true]);
    expect(readFileSync(join(dir, 'ai-switch.log'), 'utf8').trim().split('\n')[2]).toMatch(new RegExp(` none -> ${PERSO} flush=true$`));
  });

  it('killed (-9) while a GPU service takes its time to stop: anklumed, started afterwards, finishes the switch', async () => {
    // ollama now takes 8 s to stop: the switch is killed in the middle of it.
    await client.pushFile(AI, `${AI}1`, '/etc/systemd/system/ollama.service', unit('ollama', '/bin/sleep infinity').replace('[Service]', '[Service]\nExecStop=/bin/sleep 8'));
    expect((await incusExec(AI, `${AI}1`, ['sh', '-c', 'systemctl daemon-reload && systemctl restart ollama'])).code).toBe(0);
    const logBefore = readFileSync(join(dir, 'ai-switch.log'), 'utf8').trim().split('\n').length;
    const child = spawn(process.execPath, [join(ROOT, 'dist/bin/anklumectl.js'), 'switch-ai', PRO, '-f', infraFile, '--socket', join(dir, 'none.sock'), ...paths()], { env: { ...process.env, ...env }, stdio: 'ignore' });
    await waitFor('the switch to be stopping ollama', async () => ((await phaseInIncus()) === 'stopping' && (await incusExec(AI, `${AI}1`, ['systemctl', 'is-active', 'ollama'])).stdout.trim() === 'deactivating' ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(await phaseInIncus()).toBe('stopping');
    expect(await holderInIncus()).toBe('-');

    const socket = join(dir, 'anklumed.sock');
    const resumer = startDaemon(daemonArgs(), socket, { INCUS_SOCKET });
    try {
      await waitFor('anklumed to finish the switch', async () => ((await phaseInIncus()) === undefined && (await holderInIncus()) === PRO ? true : undefined), { timeoutMs: 90_000 });
      for (const service of ['ollama', 'speaches']) expect((await incusExec(AI, `${AI}1`, ['systemctl', 'is-active', service])).stdout.trim()).toBe('active');
      expect([await reaches(PRO, `${PRO}1`), await reaches(PERSO, `${PERSO}1`)]).toEqual([true, false]);
      const log = readFileSync(join(dir, 'ai-switch.log'), 'utf8').trim().split('\n');
      expect(log).toHaveLength(logBefore + 1);
      expect(log.at(-1)).toMatch(new RegExp(` ${PERSO} -> ${PRO} flush=true$`));
      expect(parseHolderFile(readFileSync(join(dir, 'ai-access-current'), 'utf8'))).toEqual({ holder: PRO });
    } finally {
      await stopDaemon(resumer);
    }
  });

  it('through the daemon: the holder survives a restart, --no-flush warns and skips the flush', async () => {
    const socket = join(dir, 'anklumed.sock');
    daemon = startDaemon(daemonArgs(), socket, { INCUS_SOCKET });
    const status = await daemonConverged(socket);
    expect(status.aiAccess).toMatchObject({ holder: PRO, source: 'switch-ai', wanted: PRO, phase: null });
    expect(status.aiAccess.since).toMatch(/^\d{4}-/);

    const before = await orderLog();
    const logBefore = readFileSync(join(dir, 'ai-switch.log'), 'utf8').trim().split('\n').length;
    const run = await runBin('anklumectl', ['switch-ai', PERSO, '--no-flush', '--socket', socket], { env });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stderr).toContain('WARNING: --no-flush: GPU memory is not cleared');
    expect(run.stdout).toMatch(new RegExp(`revoke ${PRO}[\\s\\S]*grant ${PERSO}`));
    expect(run.stdout).toContain(`AI access switched: ${PRO} -> ${PERSO} (flush=false)`);
    expect(await actionsSince(before)).toEqual(['stop ollama', 'stop speaches', 'start ollama', 'start speaches']);
    expect([await reaches(PRO, `${PRO}1`), await reaches(PERSO, `${PERSO}1`)]).toEqual([false, true]);
    expect(readFileSync(join(dir, 'ai-switch.log'), 'utf8').trim().split('\n')[logBefore]).toMatch(new RegExp(` ${PRO} -> ${PERSO} flush=false$`));

    await stopDaemon(daemon);
    daemon = startDaemon(daemonArgs(), socket, { INCUS_SOCKET });
    const again = await daemonConverged(socket);
    expect(again.aiAccess).toMatchObject({ holder: PERSO, source: 'switch-ai' });
    expect([await reaches(PRO, `${PRO}1`), await reaches(PERSO, `${PERSO}1`)]).toEqual([false, true]);
    expect(parseHolderFile(readFileSync(join(dir, 'ai-access-current'), 'utf8'))).toEqual({ holder: PERSO });
    expect((await fetchStatus(socket))?.firewall.state).toBe('InSync');

    // A hand-made grant is drift: the daemon puts the set back to the holder alone (on nft's notice, at once).
    execFileSync('nft', ['add', 'element', 'inet', 'anklume', 'ai_access', `{ "net-${PRO}" }`]);
    await waitFor('the daemon to repair the AI access set', () => Promise.resolve(execFileSync('nft', ['list', 'set', 'inet', 'anklume', 'ai_access']).toString().includes(`net-${PRO}`) ? undefined : true), { timeoutMs: 30_000 });
    expect([await reaches(PRO, `${PRO}1`), await reaches(PERSO, `${PERSO}1`)]).toEqual([false, true]);
  });

  it('100 switch-ai requests to two domains from three processes at once: one holder, and the set, the file and the services agree', async () => {
    const socket = join(dir, 'anklumed.sock');
    const client = join(ROOT, 'dist/cli/daemon-client.js');
    // Each process sends its requests concurrently, alternating targets.
    const script = (offset: number, count: number): string => `
      const { DaemonClient } = await import(${JSON.stringify(client)});
      const c = new DaemonClient({ socketPath: ${JSON.stringify(socket)} });
      const targets = [${JSON.stringify(PRO)}, ${JSON.stringify(PERSO)}];
      const answers = await Promise.allSettled(Array.from({ length: ${count} }, (_, i) => c.switchAi({ domain: targets[(i + ${offset}) % 2], flush: true, dryRun: false })));
      console.log(JSON.stringify(answers.map((a) => (a.status === 'fulfilled' ? (a.value.ok ? 'ok' : 'not-ok') : 'rejected'))));`;
    const runs = [[0, 34], [1, 33], [0, 33]].map(([offset, count]) => new Promise<string[]>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script(offset ?? 0, count ?? 0)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('close', () => resolve(JSON.parse(out.trim() || '[]') as string[]));
    }));
    const answers = (await Promise.all(runs)).flat();
    expect(answers).toHaveLength(100);
    // Superseded requests answer not-ok; none is left unanswered.
    expect(answers.every((a) => a === 'ok' || a === 'not-ok')).toBe(true);
    expect(answers.filter((a) => a === 'ok').length).toBeGreaterThan(0);

    await waitFor('AI access to settle', async () => ((await phaseInIncus()) === undefined ? true : undefined), { timeoutMs: 60_000 });
    const holder = await holderInIncus();
    expect([PRO, PERSO]).toContain(holder);
    const set = execFileSync('nft', ['list', 'set', 'inet', 'anklume', 'ai_access']).toString();
    expect(set).toContain(`net-${holder ?? ''}`);
    expect(set).not.toContain(`net-${holder === PRO ? PERSO : PRO}`);
    expect(parseHolderFile(readFileSync(join(dir, 'ai-access-current'), 'utf8'))).toEqual({ holder });
    for (const service of ['ollama', 'speaches']) expect((await incusExec(AI, `${AI}1`, ['systemctl', 'is-active', service])).stdout.trim()).toBe('active');
    const other = holder === PRO ? PERSO : PRO;
    expect([await reaches(holder === PRO ? PRO : PERSO, `${holder ?? ''}1`), await reaches(other, `${other}1`)]).toEqual([true, false]);
  });
});
