import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncusClient } from '../../src/incus/index.js';
import { runBin } from '../helpers/cli.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, incusExec, removeTestInfra, shortPrefix, testClient, writeTemp } from '../helpers/incus.js';

// Per-domain OpenClaw assistants deployed by anklume on the real Incus (OpenClaw 2026.9.6 on
// Node 24 from the host's cache; the integration test of the validator fills that cache).
const p = shortPrefix();
const octet = freeSecondOctet();
const [ADM, AI, A, B] = [`${p}-adm`, `${p}-ai`, `${p}-a`, `${p}-b`];
const infraName = `${p}-oc`;
const ip = { san: `10.${octet}.1.20`, ollama: `10.${octet}.2.10`, a: `10.${octet}.3.10`, b: `10.${octet}.4.10` };

const INFRA = `
project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
  ai_tools_domain: ${AI}
  openclaw:
    cloud_model: claude-sonnet-4-5
domains:
  ${ADM}:
    subnet_id: 1
    trust_level: admin
    ephemeral: true
    machines:
      ${p}-san: { ip: ${ip.san}, roles: [llm_sanitizer] }
  ${AI}:
    subnet_id: 2
    ephemeral: true
    machines:
      ${p}-gpu: { ip: ${ip.ollama}, roles: [ollama_server] }
  ${A}:
    subnet_id: 3
    ai_provider: local
    ephemeral: true
    openclaw: { enabled: true }
    machines:
      ${A}-claw: { ip: ${ip.a}, roles: [openclaw_server] }
  ${B}:
    subnet_id: 4
    ai_provider: local
    ephemeral: true
    openclaw: { enabled: true }
    machines:
      ${B}-claw: { ip: ${ip.b}, roles: [openclaw_server] }
`;

let client: IncusClient;
let infraFile: string;
let env: Record<string, string>;

const mainPid = async (project: string, instance: string): Promise<string> => (await incusExec(project, instance, ['systemctl', 'show', '-p', 'MainPID', '--value', 'openclaw-gateway'])).stdout.trim();

beforeAll(() => {
  client = testClient();
  infraFile = writeTemp('infra.yml', INFRA);
  // Gateway tokens anklume generates are kept here (the host's /var/lib/anklume otherwise).
  env = { INCUS_SOCKET, ANKLUME_STATE_DIR: join(dirname(infraFile), 'state') };
});

afterAll(async () => {
  try {
    await removeTestInfra(client, { infraName, prefix: p });
  } finally {
    client.close();
  }
});

describe('OpenClaw assistants deployed by anklume', () => {
  it('deploys one per domain, healthy, with the operator-managed config read-only', async () => {
    const apply = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(new RegExp(`ok +create service openclaw on ${A}-claw`));
    expect(apply.stdout).toMatch(new RegExp(`ok +create service openclaw on ${B}-claw`));
    for (const at of [ip.a, ip.b]) expect((await fetch(`http://${at}:18789/healthz`)).status).toBe(200);
    const stat = await incusExec(A, `${A}-claw`, ['stat', '-c', '%a %U', '/etc/openclaw/openclaw.json', '/etc/openclaw/secrets.env']);
    expect(stat.stdout.trim().split('\n')).toEqual(['444 root', '600 root']);
    const config = JSON.parse((await incusExec(A, `${A}-claw`, ['cat', '/etc/openclaw/openclaw.json'])).stdout) as unknown;
    expect(JSON.stringify(config)).toContain(`http://${ip.ollama}:11434`);
    const again = await runBin('anklumectl', ['plan', '-f', infraFile, '--json'], { env });
    expect((JSON.parse(again.stdout) as { actions: { id: string; reason: string }[] }).actions.map((a) => `${a.id}: ${a.reason}`)).toEqual([]);
  });

  it("changing one domain's ai_provider re-renders and restarts only that domain's assistant", async () => {
    const [pidA, pidB] = [await mainPid(A, `${A}-claw`), await mainPid(B, `${B}-claw`)];
    writeFileSync(infraFile, readFileSync(infraFile, 'utf8').replace(`  ${A}:\n    subnet_id: 3\n    ai_provider: local`, `  ${A}:\n    subnet_id: 3\n    ai_provider: local-first`));
    const plan = await runBin('anklumectl', ['plan', '-f', infraFile, '--json'], { env });
    const ids = (JSON.parse(plan.stdout) as { actions: { id: string }[] }).actions.map((x) => x.id);
    // Of the assistants, only A's; the sanitizer is redeployed too, as it must: its routing follows ai_provider.
    expect(ids.filter((id) => id.startsWith('service/')).sort()).toEqual([`service/${ADM}/${p}-san`, `service/${A}/${A}-claw`].sort());

    const apply = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(new RegExp(`ok +update service openclaw on ${A}-claw`));
    expect(apply.stdout).not.toContain(`openclaw on ${B}-claw`);
    expect(await mainPid(A, `${A}-claw`)).not.toBe(pidA);
    expect(await mainPid(B, `${B}-claw`)).toBe(pidB);
    // local-first: the sanitizer is the fallback now.
    expect((await incusExec(A, `${A}-claw`, ['cat', '/etc/openclaw/openclaw.json'])).stdout).toContain(`http://${ip.san}:8089`);
    expect((await fetch(`http://${ip.a}:18789/healthz`)).status).toBe(200);
  });

  it('ai_sanitize: always points the assistant\'s local model at the sanitizer, and the firewall opens that way for it', async () => {
    const reachesSanitizer = async (): Promise<boolean> => (await incusExec(B, `${B}-claw`, ['nc', '-z', '-w2', ip.san, '8089'])).code === 0;
    expect(await reachesSanitizer()).toBe(false);
    writeFileSync(infraFile, readFileSync(infraFile, 'utf8').replace(`  ${B}:\n    subnet_id: 4\n    ai_provider: local`, `  ${B}:\n    subnet_id: 4\n    ai_provider: local\n    ai_sanitize: always`));
    const apply = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    const config = JSON.parse((await incusExec(B, `${B}-claw`, ['cat', '/etc/openclaw/openclaw.json'])).stdout) as { models: { providers: Record<string, { baseUrl: string }> } };
    expect(config.models.providers.ollama?.baseUrl).toBe(`http://${ip.san}:8089`);
    expect(await reachesSanitizer()).toBe(true);
    expect((await fetch(`http://${ip.b}:18789/healthz`)).status).toBe(200);
  });
});
