import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusDocument } from '../../src/controllers/status.js';
import { openclawCliCommand } from '../../src/controllers/service/cron-apply.js';
import { OPENCLAW_PATHS } from '../../src/controllers/service/openclaw-paths.js';
import type { IncusClient } from '../../src/incus/index.js';
import { startDaemon, tearDown, waitAllReady, type RunningDaemon } from '../helpers/daemon.js';
import { startFakeLlmUpstream, type FakeLlmUpstream } from '../helpers/fake-llm-upstream.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, incusExec, shortPrefix, testClient, waitFor, waitForAddress, writeTemp } from '../helpers/incus.js';
import { startStandInModel, type HeartbeatTurn, type StandInModel } from '../helpers/stand-in-model.js';
import { startStandInTelegram, type StandInTelegram } from '../helpers/stand-in-telegram.js';

// The heartbeat of a domain's assistant, end to end: anklumed deploys the real
// OpenClaw (the pinned version, from the host's cache) with anklume's skills;
// its local model is a stand-in Ollama on the host (reached through an Incus
// proxy device of the ai-tools machine, as the real Ollama would be on its
// address) and its Telegram channel points, through infra.yml's
// `telegram.api_root`, at a stand-in Bot API on the host (an Incus proxy
// device of the assistant's machine: the firewall stays as anklume made it).
// Heartbeats are triggered with OpenClaw's own `system event --mode now`.
const p = shortPrefix();
const octet = freeSecondOctet();
const [ADM, AI, A] = [`${p}-adm`, `${p}-ai`, `${p}-a`];
const [SAN, GPU, CLAW, WEB, INTRUDER] = [`${p}-san`, `${p}-gpu`, `${A}-claw`, `${A}-web`, `${p}-intruder`];
const infraName = `${p}-hb`;
const ip = { san: `10.${octet}.1.20`, gpu: `10.${octet}.2.10`, claw: `10.${octet}.3.10`, web: `10.${octet}.3.20`, intruder: `10.${octet}.3.50` };
const OWNER = '123456789';
/** Where the assistant's machine reaches the stand-in Bot API (its proxy device listens there). */
const BOT_API_IN_INSTANCE = 'http://127.0.0.1:8081';

function infraText(o: { modelPort: number; telegramPort: number; cloudPort: number; keyFile: string; tokenFile: string }): string {
  return `
project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
  ai_tools_domain: ${AI}
  sanitizer:
    listen_port: 8089
    mode: pseudonymize
    upstreams:
      # The "cloud": a recording fake on the host. A local domain must never reach it.
      anthropic: http://10.${octet}.1.254:${o.cloudPort}
      anthropic_key_file: ${o.keyFile}
domains:
  ${ADM}:
    subnet_id: 1
    trust_level: admin
    ephemeral: true
    machines:
      ${SAN}: { ip: ${ip.san}, roles: [llm_sanitizer] }
  ${AI}:
    subnet_id: 2
    ephemeral: true
    machines:
      ${GPU}:
        ip: ${ip.gpu}
        roles: [ollama_server]
        devices:
          stand-in-ollama: { type: proxy, bind: instance, listen: "tcp:0.0.0.0:11434", connect: "tcp:127.0.0.1:${o.modelPort}" }
  ${A}:
    subnet_id: 3
    ai_provider: local
    ephemeral: true
    openclaw:
      enabled: true
      heartbeat_every: 6h
      telegram: { token_file: ${o.tokenFile}, allow_from: [${OWNER}], api_root: "${BOT_API_IN_INSTANCE}" }
    machines:
      ${CLAW}:
        ip: ${ip.claw}
        roles: [openclaw_server]
        devices:
          stand-in-telegram: { type: proxy, bind: instance, listen: "tcp:127.0.0.1:8081", connect: "tcp:127.0.0.1:${o.telegramPort}" }
      ${WEB}: { ip: ${ip.web} }
network_policies:
  - description: the sanitizer reaches the fake cloud on the host
    from: ${SAN}
    to: host
    ports: [${o.cloudPort}]
`;
}

let client: IncusClient;
let daemon: RunningDaemon | undefined;
let model: StandInModel;
let telegram: StandInTelegram;
let cloud: FakeLlmUpstream;

const openclaw = async (args: string[]): Promise<string> => {
  const r = await incusExec(A, CLAW, openclawCliCommand(args), { timeoutMs: 120_000 });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r.stdout;
};

interface LastHeartbeat {
  ts: number;
  status: string;
  silent?: boolean;
  to?: string;
  preview?: string;
}

/** Wake the heartbeat now, wait for the stand-in to finish its turn and OpenClaw to settle what it delivers. */
async function heartbeat(): Promise<{ turn: HeartbeatTurn; last: LastHeartbeat }> {
  const done = model.heartbeats.length;
  const since = Date.now();
  await openclaw(['system', 'event', '--text', 'anklume e2e: heartbeat now', '--mode', 'now', '--json']);
  const turn = await waitFor('the heartbeat turn to end', () => Promise.resolve(model.heartbeats[done]), { timeoutMs: 420_000, intervalMs: 1_000 });
  const last = await waitFor(
    'OpenClaw to record the heartbeat',
    async () => {
      const l = JSON.parse(await openclaw(['system', 'heartbeat', 'last'])) as LastHeartbeat;
      return l.ts >= since ? l : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 2_000 },
  );
  return { turn, last };
}

const probe = (turn: HeartbeatTurn, name: string): any => turn.probes.find((r) => r.probe === name)?.json;
const memory = async (): Promise<string> => (await incusExec(A, CLAW, ['cat', `${OPENCLAW_PATHS.workspace}/memory/anklume-heartbeat.md`])).stdout;
const requestsFromA = async (): Promise<string[]> => {
  const metrics = await (await fetch(`http://${ip.san}:8089/metrics`)).text();
  return metrics.split('\n').filter((l) => l.startsWith('anklume_gateway_requests_total{') && l.includes(`domain="${A}"`));
};

beforeAll(async () => {
  client = testClient();
  [model, telegram, cloud] = await Promise.all([startStandInModel(), startStandInTelegram(), startFakeLlmUpstream('0.0.0.0')]);
  const infraFile = writeTemp('infra.yml', 'placeholder');
  const keyFile = join(dirname(infraFile), 'anthropic.key');
  const tokenFile = join(dirname(infraFile), 'telegram.token');
  writeFileSync(keyFile, 'sk-ant-api03-e2e-host-only-key-0123456789\n', { mode: 0o600 });
  writeFileSync(tokenFile, '424242:e2e-stand-in-bot-token\n', { mode: 0o600 });
  writeFileSync(infraFile, infraText({ modelPort: model.port, telegramPort: telegram.port, cloudPort: Number(new URL(cloud.url).port), keyFile, tokenFile }));
  const socket = join(dirname(infraFile), 'anklumed.sock');
  daemon = startDaemon(['--config', infraFile, '--resync', '0 0 1 1 *', '--firewall-check', '1'], socket, { INCUS_SOCKET, ANKLUME_STATE_DIR: join(dirname(infraFile), 'state') });
  const inSync = (s: StatusDocument): boolean => s.firewall.managed && s.firewall.state === 'InSync';
  await waitAllReady(socket, { also: inSync, timeoutMs: 420_000 });
  await waitForAddress(A, WEB, ip.web);
  // The channel is up once the bot polls the stand-in.
  await waitFor('the assistant to poll the stand-in Bot API', () => Promise.resolve(telegram.calls.some((c) => c.method === 'getUpdates') ? true : undefined), { timeoutMs: 120_000 });
}, 600_000);

afterAll(async () => {
  try {
    await tearDown(client, { daemon, infraName, prefix: p });
  } finally {
    await Promise.all([model?.close(), telegram?.close(), cloud?.close()]);
  }
});

describe('the heartbeat of a domain assistant, with the real OpenClaw', () => {
  it('a heartbeat with nothing new: the probes run, the verdict normal goes to memory, and Telegram gets nothing', async () => {
    const mark = telegram.calls.length;
    const { turn, last } = await heartbeat();
    // The probes ran in the assistant, on the domain's own state.
    expect(turn.prompt).toBe(`anklume heartbeat of domain ${A}. Triage its state; you see only this domain.`);
    expect(turn.probes.map((r): [string, unknown] => [r.probe, r.json?.ok]), JSON.stringify(turn.probes.map((r) => r.output.slice(0, 600)))).toEqual([
      ['anklume-status', true],
      ['anklume-scan', true],
      ['anklume-disk', true],
    ]);
    expect(probe(turn, 'anklume-status').instances.map((i: { name: string }) => i.name).sort()).toEqual([CLAW, WEB].sort());
    expect(probe(turn, 'anklume-scan').undeclaredHosts).toEqual([]);
    expect(turn.verdict).toBe('normal');
    expect(turn.reply).toBe('NO_REPLY');
    expect(last).toMatchObject({ status: 'ok-empty', silent: true });
    expect(telegram.callsSince(mark)).toEqual([]);
    expect(await memory()).toMatch(/"verdict":"normal"/);
    expect(model.unexpected).toEqual([]);
  });

  it('a machine started by hand and a new open port: the scan reports both, the verdict is suspect, the owner gets the alert', async () => {
    // Not in infra.yml: created straight through Incus, on the domain's bridge, listening on 8080.
    await client.create('/1.0/instances', {
      name: INTRUDER,
      type: 'container',
      source: { type: 'image', alias: TEST_IMAGE },
      profiles: ['default'],
      devices: { eth0: { type: 'nic', network: `net-${A}`, name: 'eth0', 'ipv4.address': ip.intruder } },
      start: true,
    }, { project: A, operationTimeoutSeconds: 300 });
    await waitForAddress(A, INTRUDER, ip.intruder);
    // A declared machine opens a port no policy opens.
    for (const at of [INTRUDER, WEB]) {
      await client.pushFile(A, at, '/etc/systemd/system/e2e-listen.socket', '[Socket]\nListenStream=8080\nAccept=yes\n');
      await client.pushFile(A, at, '/etc/systemd/system/e2e-listen@.service', '[Service]\nExecStart=/bin/echo hello\nStandardOutput=socket\n');
      const listen = await incusExec(A, at, ['sh', '-c', 'systemctl daemon-reload && systemctl start e2e-listen.socket']);
      expect(listen.code, listen.stderr).toBe(0);
    }

    const mark = telegram.calls.length;
    const { turn, last } = await heartbeat();
    const scan = probe(turn, 'anklume-scan');
    expect(scan.verdict).toBe('suspect');
    expect(scan.findings).toContainEqual(expect.objectContaining({ kind: 'new-host', severity: 'suspect', ip: ip.intruder }));
    expect(scan.findings).toContainEqual(expect.objectContaining({ kind: 'new-port', severity: 'suspect', ip: ip.web, port: 8080 }));
    expect(probe(turn, 'anklume-status').findings).toContainEqual(expect.objectContaining({ kind: 'undeclared-instance', subject: INTRUDER }));
    expect(turn.verdict).toBe('suspect');

    // OpenClaw delivered the reply to the owner's DM through the (stand-in) Bot API.
    const sent = await waitFor('the alert on Telegram', () => Promise.resolve(telegram.messagesSince(mark).length > 0 ? telegram.messagesSince(mark) : undefined), { timeoutMs: 30_000 });
    expect(sent).toHaveLength(1);
    expect(sent[0]?.chatId).toBe(OWNER);
    expect(sent[0]?.text).toContain('"verdict":"suspect"');
    expect(sent[0]?.text).toContain(`new-host ${ip.intruder}`);
    expect(sent[0]?.text).toContain(`new-port ${ip.web}:8080`);
    expect(last).toMatchObject({ status: 'sent', to: `telegram:${OWNER}` });
    expect(await memory()).toMatch(/"verdict":"suspect"/);
  });

  it('the skills ran from a local domain without any request for the sanitizer or the cloud', async () => {
    // Every model turn of the assistant went to the (stand-in) local Ollama...
    expect(model.requests.length).toBeGreaterThan(0);
    expect(model.heartbeats).toHaveLength(2);
    // ...its config names no sanitizer at all...
    expect((await incusExec(A, CLAW, ['cat', OPENCLAW_PATHS.configFile])).stdout).not.toContain(ip.san);
    // ...the sanitizer, up and counting, answered nothing from this domain, and the fake cloud heard nothing.
    expect((await fetch(`http://${ip.san}:8089/health`)).status).toBe(200);
    expect(await requestsFromA()).toEqual([]);
    expect(cloud.requests).toEqual([]);
  });
});
