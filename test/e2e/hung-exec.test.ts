import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusDocument } from '../../src/controllers/status.js';
import type { IncusClient, Project } from '../../src/incus/index.js';
import { fetchStatus, startDaemon, waitAllReady, type RunningDaemon, tearDown } from '../helpers/daemon.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, incusExec, shortPrefix, testClient, waitFor, writeTemp } from '../helpers/incus.js';

// A controller stuck on a hung exec inside an instance must not hold up the
// others: the firewall has a queue of its own, and the exec its own timeout.
const p = shortPrefix();
const octet = freeSecondOctet();
const [PRO, AI] = [`${p}-pro`, `${p}-ai`];
const infraName = `${p}-hung`;
const EXEC_TIMEOUT_S = 20;

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
      ${PRO}1: {}
  ${AI}:
    subnet_id: 2
    ephemeral: true
    machines:
      ${AI}1: { roles: [ollama_server] }
`;

// An nvidia-smi that answers `command -v` (it exists) and then never returns.
const HUNG_NVIDIA_SMI = '#!/bin/sh\necho "$*" >> /var/log/nvidia-smi-calls\nexec sleep 100000\n';

let client: IncusClient;
let daemon: RunningDaemon | undefined;
let socket: string;

beforeAll(() => {
  client = testClient();
});

afterAll(() => tearDown(client, { daemon, infraName, prefix: p }));

describe('a hung exec in one controller', () => {
  it('does not delay the firewall repair, and fails its own action with its timeout', async () => {
    const infraFile = writeTemp('infra.yml', INFRA);
    const dir = dirname(infraFile);
    socket = join(dir, 'anklumed.sock');
    daemon = startDaemon(
      ['--config', infraFile, '--resync', '0 0 1 1 *', '--firewall-check', '1', '--exec-timeout', String(EXEC_TIMEOUT_S), '--lock', join(dir, 'anklume.lock'), '--ai-state-file', join(dir, 'ai-current'), '--ai-switch-log', join(dir, 'ai-switch.log')],
      socket,
      { INCUS_SOCKET },
    );
    await waitAllReady(socket, { also: (s) => s.firewall.managed });

    // The stand-in goes in, then a change of the ai-tools project brings the AI access controller back at once.
    await client.pushFile(AI, `${AI}1`, '/usr/local/bin/nvidia-smi', HUNG_NVIDIA_SMI, { mode: 0o755 });
    await client.updateWithRetry<Project, { description: string; config: Record<string, string> }>(`/1.0/projects/${AI}`, (current) => ({ description: current.description ?? '', config: { ...current.config, 'user.e2e.poke': String(Date.now()) } }));
    await waitFor('nvidia-smi to hang in the instance', async () => {
      const r = await incusExec(AI, `${AI}1`, ['sh', '-c', 'cat /var/log/nvidia-smi-calls 2>/dev/null']);
      return r.stdout.includes('--query-gpu') ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    const hung = (await incusExec(AI, `${AI}1`, ['pgrep', '-f', 'sleep 100000'])).stdout.trim();
    expect(hung).toMatch(/^\d+$/);

    // While it hangs, the firewall is flushed by hand: the next check (every second) must repair it.
    const before = (await fetchStatus(socket))?.firewall;
    execFileSync('nft', ['flush', 'table', 'inet', 'anklume']);
    const repaired = await waitFor('the firewall to be repaired', async () => {
      const s = await fetchStatus(socket);
      return s !== undefined && s.firewall.managed && s.firewall.appliedAt !== before?.appliedAt ? s : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200 });
    // Repaired while nvidia-smi still hangs: the AI access controller has not failed yet.
    expect(repaired.aiAccess.vramError).toBeUndefined();
    expect(execFileSync('nft', ['list', 'table', 'inet', 'anklume']).toString()).toContain(`net-${PRO}`);

    // The stuck reading then fails by itself, saying what timed out, and status says so.
    const failed = await waitFor('the hung exec to time out', async () => {
      const s: StatusDocument | undefined = await fetchStatus(socket);
      return s?.aiAccess.vramError !== undefined ? s : undefined;
    }, { timeoutMs: (EXEC_TIMEOUT_S + 30) * 1000, intervalMs: 500 });
    expect(failed.aiAccess.vramError).toMatch(new RegExp(`nvidia-smi in ${AI}1: exec "nvidia-smi --query-gpu=.*" in ${AI}/${AI}1 timed out after ${EXEC_TIMEOUT_S} s`));
    // timeout(1) in the instance ended the hung process: it is not left behind (a retry may hang anew).
    await waitFor('the hung process to be gone', async () => ((await incusExec(AI, `${AI}1`, ['kill', '-0', hung])).code !== 0 ? true : undefined), { timeoutMs: 20_000 });
    expect(daemon.log()).toMatch(/"controller":"ai-access".*reconcile failed; retrying with backoff/);
  });
});
