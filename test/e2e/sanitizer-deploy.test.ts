import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncusClient, Instance } from '../../src/incus/index.js';
import { runBin } from '../helpers/cli.js';
import { fetchStatus, isReady, startDaemon, stopDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { startFakeLlmUpstream, type FakeLlmUpstream } from '../helpers/fake-llm-upstream.js';
import { STAND_IN_REQUEST_LOG, startStandInOllama } from '../helpers/stand-in-ollama.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, incusExec, removeTestInfra, shortPrefix, testClient, waitFor, waitForAddress, writeTemp } from '../helpers/incus.js';

// The sanitizer deployed by anklume into its instance, reached from real containers.
const p = shortPrefix();
const octet = freeSecondOctet();
const [ADM, CLOUD, LOCAL, FIRST, AI, ALWAYS] = [`${p}-adm`, `${p}-cl`, `${p}-lo`, `${p}-lf`, `${p}-ai`, `${p}-al`];
const SAN = `${p}-san`;
const infraName = `${p}-aiw`;
const ip = { san: `10.${octet}.1.20`, cloud: `10.${octet}.2.10`, local: `10.${octet}.3.10`, first: `10.${octet}.4.10`, ollama: `10.${octet}.5.10`, always: `10.${octet}.6.10` };
const PORT = 8089;
const SECRET_KEY = 'sk-ant-api03-e2e-host-only-key-0123456789';

let client: IncusClient;
let upstream: FakeLlmUpstream;
let infraFile: string;
let keyFile: string;
let daemon: RunningDaemon | undefined;
const env = { INCUS_SOCKET };

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
      # The "cloud" of this test: a recording fake on the host, reached through the admin bridge's gateway.
      anthropic: http://10.${octet}.1.254:${upstreamPort}
      anthropic_key_file: ${keyFile}
domains:
  ${ADM}:
    subnet_id: 1
    trust_level: admin
    ephemeral: true
    machines:
      ${SAN}: { ip: ${ip.san}, roles: [llm_sanitizer] }
  ${CLOUD}:
    subnet_id: 2
    ai_provider: cloud
    ephemeral: true
    machines:
      ${CLOUD}1: { ip: ${ip.cloud} }
  ${LOCAL}:
    subnet_id: 3
    ai_provider: local
    ephemeral: true
    machines:
      ${LOCAL}1: { ip: ${ip.local} }
  ${FIRST}:
    subnet_id: 4
    ai_provider: local-first
    ephemeral: true
    machines:
      ${FIRST}1: { ip: ${ip.first} }
  ${AI}:
    subnet_id: 5
    ephemeral: true
    machines:
      ${AI}1: { ip: ${ip.ollama}, roles: [ollama_server] }
  ${ALWAYS}:
    subnet_id: 6
    ai_provider: local
    ai_sanitize: always
    ephemeral: true
    machines:
      ${ALWAYS}1: { ip: ${ip.always} }
network_policies:
  - description: the sanitizer reaches the fake cloud on the host
    from: ${SAN}
    to: host
    ports: [${upstreamPort}]
`;
}

/** A raw HTTP request from inside a container (the test image has nc, not curl); returns the whole answer. */
async function postFrom(project: string, instance: string, path: string, body: unknown): Promise<string> {
  const json = JSON.stringify(body);
  const request = `POST ${path} HTTP/1.1\r\nHost: ${ip.san}:${PORT}\r\nContent-Type: application/json\r\nanthropic-version: 2023-06-01\r\nx-api-key: client-side-placeholder\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`;
  // Through the environment: the request holds quotes and line breaks.
  const out = await incusExec(project, instance, ['env', `REQ=${request}`, 'sh', '-c', `printf '%s' "$REQ" | nc -w 10 ${ip.san} ${PORT}`]);
  return out.stdout;
}

beforeAll(async () => {
  client = testClient();
  upstream = await startFakeLlmUpstream('0.0.0.0');
  const upstreamPort = Number(new URL(upstream.url).port);
  infraFile = writeTemp('infra.yml', 'placeholder');
  keyFile = join(dirname(infraFile), 'anthropic.key');
  writeFileSync(keyFile, `${SECRET_KEY}\n`, { mode: 0o600 });
  writeFileSync(infraFile, infraText(upstreamPort, keyFile));
});

afterAll(async () => {
  if (daemon !== undefined) await stopDaemon(daemon);
  await upstream.close();
  try {
    await removeTestInfra(client, { infraName, prefix: p });
  } finally {
    client.close();
  }
});

describe('the sanitizer deployed by anklume, with real containers', () => {
  it('deploys the gateway into its instance, healthy, and a second apply changes nothing', async () => {
    const plan = await runBin('anklumectl', ['plan', '-f', infraFile], { env });
    expect(plan.stdout).toMatch(/\+ create service sanitizer on .*-san +sanitizer not deployed/);
    const apply = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/ok +create service sanitizer on/);
    const health = await fetch(`http://${ip.san}:${PORT}/health`);
    expect(health.status).toBe(200);

    const again = await runBin('anklumectl', ['plan', '-f', infraFile, '--json'], { env });
    expect((JSON.parse(again.stdout) as { actions: unknown[] }).actions).toEqual([]);
    const status = await runBin('anklumectl', ['status', '-f', infraFile, '--json', '--socket', join(dirname(infraFile), 'none.sock')], { env });
    const adm = (JSON.parse(status.stdout) as { domains: { name: string; objects: { kind: string; conditions: { type: string; status: boolean }[] }[] }[] }).domains.find((d) => d.name === ADM);
    const service = adm?.objects.find((o) => o.kind === 'service');
    expect(service?.conditions.find((c) => c.type === 'Ready')?.status).toBe(true);
  });

  it('keeps the cloud key readable by the service only', async () => {
    const ls = await incusExec(ADM, SAN, ['stat', '-c', '%a %U', '/etc/anklume-sanitizer/keys/anthropic.key']);
    expect(ls.stdout.trim()).toBe('600 root');
    const infra = await incusExec(ADM, SAN, ['cat', '/etc/anklume-sanitizer/infra.yml', '/etc/anklume-sanitizer/sanitizer.yml']);
    expect(infra.stdout).not.toContain(SECRET_KEY);
  });

  it('a cloud domain: the request reaches the fake cloud sanitized, with the host key, and the answer comes back restored', async () => {
    await waitForAddress(CLOUD, `${CLOUD}1`, ip.cloud);
    const sensitive = `Our box ${CLOUD}1 at ${ip.cloud} fails; the admin password=hunter2hunter2 does not help.`;
    const answer = await postFrom(CLOUD, `${CLOUD}1`, '/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: sensitive }] });
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    const seen = upstream.requests.at(-1);
    expect(seen?.url).toBe('/v1/messages');
    expect(seen?.raw).not.toContain(ip.cloud);
    expect(seen?.raw).not.toContain(`${CLOUD}1`);
    expect(seen?.raw).not.toContain('hunter2hunter2');
    expect(seen?.headers['x-api-key']).toBe(SECRET_KEY);
    // The fake echoes what it received: the client reads its own values again.
    expect(answer).toContain(ip.cloud);
    expect(answer).toContain(`${CLOUD}1`);
  });

  it('a domain without cloud access cannot open the sanitizer port, so its requests never reach the cloud', async () => {
    await waitForAddress(LOCAL, `${LOCAL}1`, ip.local);
    const before = upstream.requests.length;
    const probe = await incusExec(LOCAL, `${LOCAL}1`, ['nc', '-z', '-w1', ip.san, String(PORT)]);
    expect(probe.code).not.toBe(0);
    await postFrom(LOCAL, `${LOCAL}1`, '/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'hello' }] });
    expect(upstream.requests.length).toBe(before);
  });

  it('a local-first domain: routed to Ollama in ai-tools through the sanitizer, never to the cloud', async () => {
    // A stand-in Ollama (Anthropic-compatible /v1/messages) on the ai-tools server, one shell per connection.
    const reply = '{"id":"msg_local","type":"message","role":"assistant","model":"llama-test","content":[{"type":"text","text":"answered locally"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2}}';
    await startStandInOllama(client, AI, `${AI}1`, ip.ollama, reply);

    await waitForAddress(FIRST, `${FIRST}1`, ip.first);
    const before = upstream.requests.length;
    const answer = await postFrom(FIRST, `${FIRST}1`, '/v1/messages', { model: 'llama-test', max_tokens: 8, messages: [{ role: 'user', content: `look at ${FIRST}1` }] });
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toContain('answered locally');
    // Raw on the local route (ai_sanitize true sanitizes what leaves for the cloud only): Ollama got the real name.
    expect((await incusExec(AI, `${AI}1`, ['cat', STAND_IN_REQUEST_LOG])).stdout).toContain(`${FIRST}1`);
    expect(upstream.requests.length).toBe(before);
  });

  it('a local domain with ai_sanitize: always: reaches its model through the sanitizer only, sanitized, and never Ollama directly', async () => {
    await waitForAddress(ALWAYS, `${ALWAYS}1`, ip.always);
    // The fake Ollama of the previous case listens on 11434: the firewall, not a missing server, must refuse.
    expect((await incusExec(FIRST, `${FIRST}1`, ['nc', '-z', '-w1', ip.ollama, '11434'])).code).toBe(0);
    expect((await incusExec(ALWAYS, `${ALWAYS}1`, ['nc', '-z', '-w1', ip.ollama, '11434'])).code).not.toBe(0);
    const before = upstream.requests.length;
    const answer = await postFrom(ALWAYS, `${ALWAYS}1`, '/v1/messages', { model: 'llama-test', max_tokens: 8, messages: [{ role: 'user', content: `look at ${ALWAYS}1 on ${ip.always}` }] });
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toContain('answered locally');
    const seenByOllama = (await incusExec(AI, `${AI}1`, ['cat', STAND_IN_REQUEST_LOG])).stdout;
    expect(seenByOllama).toContain('look at');
    expect(seenByOllama).not.toContain(`${ALWAYS}1`);
    expect(seenByOllama).not.toContain(ip.always);
    expect(upstream.requests.length).toBe(before);
  });

  it('restarts the gateway only when its build or config changes', async () => {
    const pid = async (): Promise<string> => (await incusExec(ADM, SAN, ['systemctl', 'show', '-p', 'MainPID', '--value', 'anklume-sanitizer'])).stdout.trim();
    const first = await pid();
    const same = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(same.stdout).toContain('Nothing to do');
    expect(await pid()).toBe(first);
    const instance = await client.get<Instance>(`/1.0/instances/${SAN}`, { project: ADM });
    const hash = instance.config['user.anklume.deploy-hash'];

    writeFileSync(infraFile, readFileSync(infraFile, 'utf8').replace('mode: pseudonymize', 'mode: mask'));
    const changed = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(changed.code, changed.stdout + changed.stderr).toBe(0);
    expect(changed.stdout).toMatch(/ok +update service sanitizer on/);
    expect(await pid()).not.toBe(first);
    expect((await client.get<Instance>(`/1.0/instances/${SAN}`, { project: ADM })).config['user.anklume.deploy-hash']).not.toBe(hash);
  });

  it('anklumed redeploys it by itself when infra.yml changes', async () => {
    const socket = join(dirname(infraFile), 'anklumed.sock');
    daemon = startDaemon(['--config', infraFile, '--resync', '0 0 1 1 *'], socket, { INCUS_SOCKET });
    const hashNow = async (): Promise<string | undefined> => (await client.get<Instance>(`/1.0/instances/${SAN}`, { project: ADM })).config['user.anklume.deploy-hash'];
    const before = await hashNow();
    await waitFor('anklumed to see every domain Ready', async () => {
      const st = await fetchStatus(socket);
      return st !== undefined && st.domains.every(isReady) && st.domains.every((d) => d.objects.every(isReady)) ? true : undefined;
    }, { timeoutMs: 60_000 });
    expect(await hashNow()).toBe(before);

    writeFileSync(infraFile, readFileSync(infraFile, 'utf8').replace('mode: mask', 'mode: pseudonymize'));
    await waitFor('the sanitizer to be redeployed', async () => ((await hashNow()) !== before ? true : undefined), { timeoutMs: 60_000 });
    expect((await fetch(`http://${ip.san}:${PORT}/health`)).status).toBe(200);
    // The outcome is logged once the deploy returns, a moment after its last write (the hash).
    const running = daemon;
    await waitFor('the deploy to be logged', () => Promise.resolve(/update service sanitizer on/.test(running.log()) ? true : undefined), { timeoutMs: 10_000 });
  });

  it('anklumed picks up a cloud key rotated on the host, without a restart', async () => {
    const ROTATED = 'sk-ant-api03-e2e-rotated-key-9876543210';
    // By rename, as an editor or a secrets tool does.
    writeFileSync(`${keyFile}.new`, `${ROTATED}\n`, { mode: 0o600 });
    renameSync(`${keyFile}.new`, keyFile);
    await waitFor('the rotated key to reach the cloud', async () => {
      await postFrom(CLOUD, `${CLOUD}1`, '/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'ping' }] });
      return upstream.requests.at(-1)?.headers['x-api-key'] === ROTATED ? true : undefined;
    }, { timeoutMs: 90_000, intervalMs: 3_000 });
    expect(daemon?.log()).toMatch(/update service sanitizer on/);
  });
});
