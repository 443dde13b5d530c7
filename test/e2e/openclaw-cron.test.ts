import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openclawCliCommand } from '../../src/controllers/service/cron-apply.js';
import type { IncusClient } from '../../src/incus/index.js';
import { runBin } from '../helpers/cli.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, incusExec, removeTestInfra, shortPrefix, testClient, waitForAddress, writeTemp } from '../helpers/incus.js';

// Cron jobs of infra.yml reconciled into a real OpenClaw (the pinned version, from the
// host's cache) through its own CLI inside the assistant's instance.
// Every schedule here falls on 29 February: a job that fires during the test has its
// updatedAtMs moved by OpenClaw, and "not written" is checked on updatedAtMs.
const p = shortPrefix();
const octet = freeSecondOctet();
const [AI, A] = [`${p}-ai`, `${p}-a`];
const infraName = `${p}-cr`;
const ip = { ollama: `10.${octet}.2.10`, a: `10.${octet}.3.10` };
const claw = `${A}-claw`;

const INFRA = `
project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
  ai_tools_domain: ${AI}
  openclaw:
    cron:
      - { name: disk-check, schedule: "0 3 29 2 *", prompt: "Run anklume-disk and report.", task_type: triage }
domains:
  ${AI}:
    subnet_id: 2
    ephemeral: true
    machines:
      ${p}-gpu: { ip: ${ip.ollama}, roles: [ollama_server] }
  ${A}:
    subnet_id: 3
    ai_provider: local
    ephemeral: true
    openclaw:
      enabled: true
      cron:
        - { name: weekly-report, schedule: "0 7 29 2 *", prompt: "Write the weekly report.", task_type: report, deliver: none }
    machines:
      ${claw}: { ip: ${ip.a}, roles: [openclaw_server] }
`;

interface Job {
  id: string;
  declarationKey?: string;
  name: string;
  updatedAtMs: number;
  schedule: { expr?: string };
  payload: { message?: string; model?: string; fallbacks?: string[] };
}

let client: IncusClient;
let infraFile: string;
let env: Record<string, string>;

async function jobs(): Promise<Job[]> {
  const r = await incusExec(A, claw, openclawCliCommand(['cron', 'list', '--all', '--json', '--port', '18789']));
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { jobs: Job[] }).jobs;
}
const ours = async (): Promise<Job[]> => (await jobs()).filter((j) => j.declarationKey?.startsWith(`anklume:${A}:`) === true).sort((x, y) => x.name.localeCompare(y.name));
const planActions = async (): Promise<{ id: string; reason: string; changes: { key: string }[] }[]> => {
  const plan = await runBin('anklumectl', ['plan', '-f', infraFile, '--json'], { env });
  expect(plan.code, plan.stderr).toBe(0);
  return (JSON.parse(plan.stdout) as { actions: { id: string; reason: string; changes: { key: string }[] }[] }).actions;
};
const apply = async (): Promise<string> => {
  const r = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r.stdout;
};
const edit = (from: string, to: string): void => {
  const text = readFileSync(infraFile, 'utf8');
  expect(text).toContain(from);
  writeFileSync(infraFile, text.replace(from, to));
};

beforeAll(() => {
  client = testClient();
  infraFile = writeTemp('infra.yml', INFRA);
  env = { INCUS_SOCKET, ANKLUME_STATE_DIR: join(dirname(infraFile), 'state') };
});

afterAll(async () => {
  try {
    await removeTestInfra(client, { infraName, prefix: p });
  } finally {
    client.close();
  }
});

describe('cron jobs of infra.yml in the domain assistant', () => {
  it('adds the global and the domain job, local ones pinned to Ollama, and a second pass changes nothing', async () => {
    const out = await apply();
    expect(out).toMatch(new RegExp(`ok +create service openclaw on ${claw}`));
    expect(out).toMatch(new RegExp(`ok +create cron cron jobs of openclaw on ${claw}`));
    const made = await ours();
    expect(made.map((j) => [j.declarationKey, j.schedule.expr, j.payload.message])).toEqual([
      [`anklume:${A}:disk-check`, '0 3 29 2 *', 'Run anklume-disk and report.'],
      [`anklume:${A}:weekly-report`, '0 7 29 2 *', 'Write the weekly report.'],
    ]);
    // ai_provider local: even a cloud task type (report) stays on Ollama, with no fallback.
    expect(made.map((j) => [j.payload.model, j.payload.fallbacks])).toEqual([
      ['ollama/qwen2.5-coder:32b', []],
      ['ollama/qwen2.5-coder:32b', []],
    ]);
    // OpenClaw's own jobs (its heartbeat) are not anklume's to touch.
    expect((await jobs()).some((j) => j.declarationKey === 'heartbeat:main')).toBe(true);

    expect((await planActions()).map((a) => `${a.id}: ${a.reason}`)).toEqual([]);
    await apply();
    expect((await ours()).map((j) => [j.id, j.updatedAtMs])).toEqual(made.map((j) => [j.id, j.updatedAtMs]));
  });

  it('an edited job is updated in place: same id, new schedule, and plan names it first', async () => {
    const before = await ours();
    edit('schedule: "0 7 29 2 *"', 'schedule: "30 6 29 2 *"');
    const actions = await planActions();
    expect(actions.map((a) => a.id)).toEqual([`cron/${A}/${claw}`]);
    expect(actions[0]?.reason).toBe('0 to add, 1 to update, 0 to remove');
    expect(actions[0]?.changes.map((c) => c.key)).toEqual(['cron weekly-report']);
    await apply();
    const after = await ours();
    const report = after.find((j) => j.name === 'weekly-report');
    expect(report?.id).toBe(before.find((j) => j.name === 'weekly-report')?.id);
    expect(report?.schedule.expr).toBe('30 6 29 2 *');
    // The other job was not written.
    expect(after.find((j) => j.name === 'disk-check')?.updatedAtMs).toBe(before.find((j) => j.name === 'disk-check')?.updatedAtMs);
  });

  it('a job removed from infra.yml is removed from the assistant; a bad schedule is refused and changes nothing', async () => {
    edit('      - { name: disk-check, schedule: "0 3 29 2 *", prompt: "Run anklume-disk and report.", task_type: triage }\n', '');
    edit('  openclaw:\n    cron:\n', '  openclaw:\n    cron: []\n');
    await apply();
    expect((await ours()).map((j) => j.name)).toEqual(['weekly-report']);
    expect((await jobs()).some((j) => j.declarationKey === 'heartbeat:main')).toBe(true);

    const kept = await ours();
    edit('schedule: "30 6 29 2 *"', 'schedule: "30 25 29 2 *"');
    const bad = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(bad.code).toBe(1);
    expect(bad.stdout + bad.stderr).toContain('"30 25 29 2 *" is not a five-field cron expression');
    expect((await ours()).map((j) => [j.id, j.updatedAtMs, j.schedule.expr])).toEqual(kept.map((j) => [j.id, j.updatedAtMs, j.schedule.expr]));
  });
});

describe('the scan skill in the assistant', () => {
  const scan = async (): Promise<{ ok: boolean; verdict: string; findings: { kind: string; severity: string; ip: string; port?: number }[]; undeclaredHosts: string[] }> => {
    const r = await incusExec(A, claw, ['runuser', '-u', 'openclaw', '--', 'env', 'OPENCLAW_STATE_DIR=/var/lib/openclaw', '/opt/openclaw/node_modules/node/bin/node', '/usr/local/share/anklume/skills/anklume-scan/scan.mjs'], { timeoutMs: 600_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Awaited<ReturnType<typeof scan>>;
  };

  it('reports a machine started by hand in the domain and its open port, once; the next scan is quiet', async () => {
    const first = await scan();
    expect(first).toMatchObject({ ok: true, verdict: 'normal', undeclaredHosts: [] });

    // Not in infra.yml: created straight through Incus, on the domain's bridge, listening on 8080.
    const intruder = `${p}-intruder`;
    const address = `10.${octet}.3.50`;
    await client.create('/1.0/instances', {
      name: intruder,
      type: 'container',
      source: { type: 'image', alias: TEST_IMAGE },
      profiles: ['default'],
      devices: { eth0: { type: 'nic', network: `net-${A}`, name: 'eth0', 'ipv4.address': address } },
      start: true,
    }, { project: A, operationTimeoutSeconds: 300 });
    await waitForAddress(A, intruder, address);
    await client.pushFile(A, intruder, '/etc/systemd/system/intruder.socket', '[Socket]\nListenStream=8080\nAccept=yes\n');
    await client.pushFile(A, intruder, '/etc/systemd/system/intruder@.service', '[Service]\nExecStart=/bin/echo hello\nStandardOutput=socket\n');
    const listen = await incusExec(A, intruder, ['sh', '-c', 'systemctl daemon-reload && systemctl start intruder.socket']);
    expect(listen.code, listen.stderr).toBe(0);

    const second = await scan();
    expect(second.verdict).toBe('suspect');
    expect(second.undeclaredHosts).toEqual([address]);
    expect(second.findings.find((f) => f.ip === address)).toMatchObject({ kind: 'new-host', severity: 'suspect' });
    // Each change is told once: it is the baseline now.
    expect((await scan()).findings).toEqual([]);
  });
});
