import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InspectReport } from '../../src/cli/inspect.js';
import type { IncusClient } from '../../src/incus/index.js';
import { runBin } from '../helpers/cli.js';
import { startFakeLlmUpstream, type FakeLlmUpstream } from '../helpers/fake-llm-upstream.js';
import { STAND_IN_REQUEST_LOG, startStandInOllama } from '../helpers/stand-in-ollama.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, incusExec, removeTestInfra, shortPrefix, testClient, waitForAddress, writeTemp } from '../helpers/incus.js';

// Levels 2 and 3 of `anklumectl inspect`, with the sanitizer anklume deploys:
// the triage goes to a stand-in Ollama in ai-tools, the escalation to a
// recording fake cloud on the host, both from inside the inspected domain.
const p = shortPrefix();
const octet = freeSecondOctet();
const [ADM, WORK, LOC, AI] = [`${p}-adm`, `${p}-wk`, `${p}-lo`, `${p}-ai`];
const SAN = `${p}-san`;
const [W1, W2] = [`${p}-w1`, `${p}-w2`];
const ROGUE = `${p}-rogue`;
const infraName = `${p}-insm`;
const ip = { san: `10.${octet}.1.20`, w1: `10.${octet}.2.10`, w2: `10.${octet}.2.11`, ollama: `10.${octet}.5.10`, lo: `10.${octet}.3.10` };
const PORT = 8089;
const PAYLOAD = 'PAYLOAD-SHOULD-NEVER-LEAVE-0123';
const stateDir = mkdtempSync(join(tmpdir(), 'anklume-e2e-inspectm-'));
const env = { INCUS_SOCKET, ANKLUME_STATE_DIR: stateDir, ANKLUME_SOCKET: join(stateDir, 'no-daemon.sock') };

let client: IncusClient;
let upstream: FakeLlmUpstream;
let infraFile: string;

function infraText(upstreamPort: number, keyFile: string): string {
  return `
project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
  ai_tools_domain: ${AI}
  sanitizer:
    listen_port: ${PORT}
    mode: pseudonymize
    upstreams:
      anthropic: http://10.${octet}.1.254:${upstreamPort}
      anthropic_key_file: ${keyFile}
domains:
  ${ADM}:
    subnet_id: 1
    trust_level: admin
    ephemeral: true
    machines:
      ${SAN}: { ip: ${ip.san}, roles: [llm_sanitizer] }
  ${WORK}:
    subnet_id: 2
    ai_provider: local-first
    ephemeral: true
    machines:
      ${W1}: { ip: ${ip.w1} }
      ${W2}: { ip: ${ip.w2} }
  ${LOC}:
    subnet_id: 3
    ai_provider: local
    ephemeral: true
    machines:
      ${LOC}1: { ip: ${ip.lo} }
  ${AI}:
    subnet_id: 5
    ephemeral: true
    machines:
      ${AI}1: { ip: ${ip.ollama}, roles: [ollama_server] }
network_policies:
  - description: the sanitizer reaches the fake cloud on the host
    from: ${SAN}
    to: host
    ports: [${upstreamPort}]
`;
}

const inspect = async (domain: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => runBin('anklumectl', ['inspect', domain, '-f', infraFile, ...args], { env });

beforeAll(async () => {
  client = testClient();
  upstream = await startFakeLlmUpstream('0.0.0.0');
  infraFile = writeTemp('infra.yml', 'placeholder');
  const keyFile = join(dirname(infraFile), 'anthropic.key');
  writeFileSync(keyFile, 'sk-ant-api03-e2e-inspect-host-only-key-0123\n', { mode: 0o600 });
  writeFileSync(infraFile, infraText(Number(new URL(upstream.url).port), keyFile));
  const apply = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
  expect(apply.code, apply.stdout + apply.stderr).toBe(0);
  const triage = JSON.stringify({ verdict: 'suspect', summary: 'an instance runs that infra.yml does not declare', findings: ['check the undeclared instance first'] });
  await startStandInOllama(client, AI, `${AI}1`, ip.ollama, JSON.stringify({ model: 'qwen-test', created_at: '2026-12-05T00:00:00Z', message: { role: 'assistant', content: triage }, done: true }));
  for (const [project, m, a] of [[WORK, W1, ip.w1], [WORK, W2, ip.w2], [LOC, `${LOC}1`, ip.lo]] as const) await waitForAddress(project, m, a);
  execFileSync('incus', ['launch', TEST_IMAGE, ROGUE, '--project', WORK, '--network', `net-${WORK}`, '--ephemeral', '-q'], { env: { ...process.env, INCUS_SOCKET } });
  // W2 serves a port; W1 talks to it during the capture, with a payload that must never leave.
  await incusExec(WORK, W2, ['sh', '-c', 'nohup nc -lk -p 7000 >/dev/null 2>&1 & sleep 0.2']);
}, 300_000);

afterAll(async () => {
  await upstream.close();
  try {
    await removeTestInfra(client, { infraName, prefix: p });
  } finally {
    client.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

describe('anklumectl inspect, levels 2 and 3 through the deployed sanitizer', () => {
  it('a local domain: --escalate is refused before anything runs, and nothing leaves', async () => {
    const before = upstream.requests.length;
    const run = await inspect(LOC, ['--escalate', 'forensics']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/ai_provider: local: nothing of it leaves for a cloud model, so --escalate is refused and nothing was sent/);
    expect(upstream.requests.length).toBe(before);
  });

  it('level 2 asks the local model with the structured inventory; level 3 sends nothing real and no payload, and the answer comes back restored', async () => {
    const talk = incusExec(WORK, W1, ['sh', '-c', `for i in 1 2 3 4 5 6; do echo ${PAYLOAD} | nc -w1 ${ip.w2} 7000; sleep 0.5; done`]);
    const before = upstream.requests.length;
    const run = await inspect(WORK, ['--scan', '--capture', '4s', '--escalate', 'forensics', '--json']);
    await talk;
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout) as InspectReport;

    // Level 2: the stand-in Ollama got the inventory (raw: the local route is not sanitized), and the report has its verdict.
    const local = JSON.parse((await incusExec(AI, `${AI}1`, ['cat', STAND_IN_REQUEST_LOG])).stdout) as { messages: { content: string }[]; format?: unknown };
    const sent = JSON.parse(local.messages.at(-1)?.content ?? '{}') as { hosts?: { address: string; name: string }[]; findings?: unknown[] };
    expect(sent.hosts?.map((h) => h.address)).toEqual(expect.arrayContaining([ip.w1, ip.w2]));
    expect(sent.findings?.length).toBeGreaterThan(0);
    expect(local.format).toBeDefined();
    expect(report.triage).toMatchObject({ verdict: 'suspect', summary: 'an instance runs that infra.yml does not declare' });

    // Level 3: exactly one request reached the fake cloud, and nothing real was in it.
    expect(upstream.requests.length).toBe(before + 1);
    const cloud = upstream.requests.at(-1);
    expect(cloud?.headers['x-anklume-task']).toBeUndefined();
    const raw = cloud?.raw ?? '';
    for (const secret of [ip.w1, ip.w2, ip.san, W1, W2, ROGUE, WORK, PAYLOAD, `10.${octet}.2.`]) expect(raw).not.toContain(secret);
    for (const h of report.inventory.hosts) if (h.mac !== undefined) expect(raw.toLowerCase()).not.toContain(h.mac);
    // The fake echoes what it got: the report shows the answer with the real names put back.
    expect(report.escalation?.task).toBe('forensics');
    expect(report.escalation?.text).toContain(W2);
    expect(report.escalation?.text).toContain(ip.w2);
    expect(report.escalation?.text).toContain(ROGUE);

    // The capture kept headers only.
    expect(readFileSync(join(report.folder, 'tcpdump.txt'), 'utf8')).not.toContain(PAYLOAD);
    expect(report.inventory.flows.some((f) => f.to === ip.w2 && f.port === 7000)).toBe(true);
  });
});
