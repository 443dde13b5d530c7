import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncusClient } from '../../src/incus/index.js';
import { runBin } from '../helpers/cli.js';
import { json, startFakeLlmUpstream, type FakeLlmUpstream, type RecordedRequest } from '../helpers/fake-llm-upstream.js';
import { STAND_IN_REQUEST_LOG, startStandInOllama } from '../helpers/stand-in-ollama.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, incusExec, removeTestInfra, shortPrefix, testClient, waitForAddress, writeTemp } from '../helpers/incus.js';

// The role claude_code deployed by anklume, and the real pinned Claude Code
// (print mode, stream-json) run in its machine against the deployed
// sanitizer, whose "cloud" is a recording fake Anthropic on the host that
// answers with text and a tool_use of the Bash tool. Then the router's
// background route, and a local domain.
const p = shortPrefix();
const octet = freeSecondOctet();
const [ADM, AI, CLOUD, FIRST, LOCAL] = [`${p}-adm`, `${p}-ai`, `${p}-cl`, `${p}-lf`, `${p}-lo`];
const SAN = `${p}-san`;
const CC = `${p}-cc1`;
const LF = `${p}-lf1`;
const LO = `${p}-lo1`;
const infraName = `${p}-ccw`;
const ip = { san: `10.${octet}.1.20`, ollama: `10.${octet}.2.10`, cc: `10.${octet}.3.10`, lf: `10.${octet}.4.10`, lo: `10.${octet}.5.10` };
const PORT = 8089;
// Declared things that must never reach the cloud: the machine's name and address, its domain, secrets.
const WORKDIR = `/srv/${CC}/app`;
const CLAUDE_MD_SECRET = 'password=Zq8vR2mK9xT4wQ7n';
const PROMPT_SECRET = 'sk-ant-api03-e2e-prompt-secret-0123456789abcdef';
const PROMPT = `MARKER-PROMPT check the box ${CC} at ${ip.cc} in domain ${CLOUD}, token ${PROMPT_SECRET}`;

let client: IncusClient;
let upstream: FakeLlmUpstream;
let infraFile: string;
const env = { INCUS_SOCKET };

function infraText(upstreamPort: number): string {
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
  claude_code:
    cloud_model: claude-sonnet-4-5
    local_model: llama-test
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
      ${AI}1: { ip: ${ip.ollama}, roles: [ollama_server] }
  ${CLOUD}:
    subnet_id: 3
    ai_provider: cloud
    ephemeral: true
    machines:
      ${CC}: { ip: ${ip.cc}, roles: [claude_code] }
  ${FIRST}:
    subnet_id: 4
    ai_provider: local-first
    ephemeral: true
    machines:
      ${LF}: { ip: ${ip.lf}, roles: [claude_code] }
  ${LOCAL}:
    subnet_id: 5
    ai_provider: local
    ephemeral: true
    machines:
      ${LO}: { ip: ${ip.lo}, roles: [claude_code] }
network_policies:
  - description: the sanitizer reaches the fake cloud on the host
    from: ${SAN}
    to: host
    ports: [${upstreamPort}]
`;
}

/** Every text a user turn of the request holds (prompt, CLAUDE.md reminders, tool results). */
function userTexts(body: any): string[] {
  const out: string[] = [];
  for (const m of (body?.messages ?? []) as { role: string; content: unknown }[]) {
    if (m.role !== 'user') continue;
    if (typeof m.content === 'string') out.push(m.content);
    else for (const b of (m.content ?? []) as any[]) {
      if (b.type === 'text') out.push(String(b.text));
      if (b.type === 'tool_result') out.push(typeof b.content === 'string' ? b.content : ((b.content ?? []) as { text?: string }[]).map((c) => c.text ?? '').join(''));
    }
  }
  return out;
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** An Anthropic answer with these content blocks, streamed when the request asks for it. */
function answer(req: RecordedRequest, res: http.ServerResponse, content: any[]): void {
  const stop = content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn';
  const message = { id: 'msg_e2e', type: 'message', role: 'assistant', model: req.body?.model ?? 'claude-sonnet-4-5', content, stop_reason: stop, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 10 } };
  if (req.body?.stream !== true) return json(res, 200, message);
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  let out = sse('message_start', { type: 'message_start', message: { ...message, content: [], stop_reason: null } });
  content.forEach((block, index) => {
    if (block.type === 'text') {
      out += sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      out += sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: block.text } });
    } else {
      out += sse('content_block_start', { type: 'content_block_start', index, content_block: { ...block, input: {} } });
      out += sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
    }
    out += sse('content_block_stop', { type: 'content_block_stop', index });
  });
  out += sse('message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 10 } });
  out += sse('message_stop', { type: 'message_stop' });
  res.end(out);
}

/**
 * The fake cloud's script: the turn that holds the marked prompt gets a text
 * and a Bash tool_use whose command carries the prompt as the fake received
 * it (pseudonyms: the gateway must restore them for the tool to see real
 * names); the turn with the tool's result gets that result echoed; any
 * other request (a title, a probe) a short text.
 */
function scriptCloud(): void {
  upstream.override((req, res) => {
    if (req.url.startsWith('/v1/messages/count_tokens')) {
      json(res, 200, { input_tokens: 10 });
      return true;
    }
    if (!req.url.startsWith('/v1/messages')) return false;
    const texts = userTexts(req.body);
    const last = (req.body?.messages ?? []).at(-1);
    const toolResult = Array.isArray(last?.content) ? (last.content as any[]).find((b) => b.type === 'tool_result') : undefined;
    const prompt = texts.find((t) => t.includes('MARKER-PROMPT'));
    if (toolResult !== undefined) {
      answer(req, res, [{ type: 'text', text: `Done. The tool said: ${userTexts({ messages: [last] }).join(' ').trim()}` }]);
    } else if (prompt !== undefined && Array.isArray(req.body?.tools) && (req.body.tools as { name: string }[]).some((t) => t.name === 'Bash')) {
      const said = prompt.slice(prompt.indexOf('MARKER-PROMPT')).split('\n')[0]?.replace(/["`$\\]/g, '') ?? '';
      answer(req, res, [
        { type: 'text', text: `Checking: ${said}` },
        { type: 'tool_use', id: 'toolu_e2e_1', name: 'Bash', input: { command: `echo "RAN ${said}" > /tmp/anklume-tool-ran; echo "RESULT ${said}"`, description: 'Record what was asked' } },
      ]);
    } else {
      answer(req, res, [{ type: 'text', text: 'ok' }]);
    }
    return true;
  });
}

beforeAll(async () => {
  client = testClient();
  upstream = await startFakeLlmUpstream('0.0.0.0');
  scriptCloud();
  infraFile = writeTemp('infra.yml', infraText(Number(new URL(upstream.url).port)));
});

afterAll(async () => {
  await upstream.close();
  try {
    await removeTestInfra(client, { infraName, prefix: p });
  } finally {
    client.close();
  }
});

describe('role claude_code with the real Claude Code, on real containers', () => {
  it('plans and deploys Claude Code, its router and its MCP config; a second apply changes nothing', async () => {
    const plan = await runBin('anklumectl', ['plan', '-f', infraFile], { env });
    expect(plan.stdout).toMatch(new RegExp(`\\+ create service claude-code on ${CC}`));
    const apply = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(new RegExp(`ok +create service claude-code on ${CC}`));
    const again = await runBin('anklumectl', ['plan', '-f', infraFile, '--json'], { env });
    expect((JSON.parse(again.stdout) as { actions: unknown[] }).actions).toEqual([]);
    // Read-only install, root's config.
    const ro = await incusExec(CLOUD, CC, ['sh', '-c', 'touch /opt/claude-code/x 2>&1; stat -c "%a %U" /etc/claude-code/managed-settings.json; claude --version']);
    expect(ro.stdout).toMatch(/Read-only file system/);
    expect(ro.stdout).toContain('644 root');
    expect(ro.stdout).toMatch(/2\.1\.332/);
    expect((await incusExec(CLOUD, CC, ['test', '-e', '/etc/claude-code/managed-mcp.json'])).code).not.toBe(0);
    expect((await incusExec(FIRST, LF, ['cat', '/etc/claude-code/managed-mcp.json'])).stdout).toContain('anklume-mcp-local');
  }, 600_000);

  it('a cloud domain: Claude Code -p answers with real names, the Bash tool runs with real names, and nothing declared reaches the fake cloud', async () => {
    await waitForAddress(CLOUD, CC, ip.cc);
    const before = upstream.requests.length;
    const script = [
      `mkdir -p ${WORKDIR} && cd ${WORKDIR}`,
      `printf '%s\\n' "# Notes" "The staging box is ${CC} at ${ip.cc}, domain ${CLOUD}." "Deploy with ${CLAUDE_MD_SECRET}." > CLAUDE.md`,
      `HOME=/root timeout 240 claude -p "$PROMPT" --output-format stream-json --verbose --allowedTools Bash`,
    ].join(' && ');
    const run = await incusExec(CLOUD, CC, ['env', `PROMPT=${PROMPT}`, 'sh', '-c', script], { timeoutMs: 300_000 });
    expect(run.code, run.stderr + run.stdout.slice(-2000)).toBe(0);
    const events = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; result?: string; is_error?: boolean });
    const result = events.find((e) => e.type === 'result');
    expect(result?.is_error).toBe(false);
    // The answer the user sees: the fake echoed pseudonyms, the gateway restored them.
    expect(result?.result).toContain(`RESULT MARKER-PROMPT check the box ${CC} at ${ip.cc}`);
    // The tool ran with the real names.
    expect((await incusExec(CLOUD, CC, ['cat', '/tmp/anklume-tool-ran'])).stdout).toContain(`RAN MARKER-PROMPT check the box ${CC} at ${ip.cc} in domain ${CLOUD}`);

    const seen = upstream.requests.slice(before);
    // The prompt turn and the tool-result turn at least, all through the sanitizer.
    expect(seen.filter((r) => r.url.startsWith('/v1/messages')).length).toBeGreaterThanOrEqual(2);
    expect(seen.some((r) => JSON.stringify(r.body?.messages ?? []).includes('tool_result'))).toBe(true);
    const leaks = [CC, ip.cc, CLOUD, CLAUDE_MD_SECRET, 'Zq8vR2mK9xT4wQ7n', PROMPT_SECRET, WORKDIR, `-srv-${CC}`];
    // Every leak at once, each with where it was: one assertion that names them all.
    const found = new Set<string>();
    for (const r of seen) {
      const text = `${r.url}\n${JSON.stringify(r.headers)}\n${r.raw}`;
      for (const leak of leaks) {
        for (let at = text.indexOf(leak); at !== -1; at = text.indexOf(leak, at + 1)) found.add(`${leak}: …${text.slice(Math.max(0, at - 60), at + leak.length + 20)}…`);
      }
    }
    expect([...found]).toEqual([]);
    // The sanitizer got what the fake did not: the CLAUDE.md and the working directory were in the requests.
    expect(seen.some((r) => r.raw.includes('The staging box is'))).toBe(true);
  }, 360_000);

  it('a local-first domain: the router sends a background request to the stand-in Ollama, and nothing of it to the cloud', async () => {
    const reply = '{"id":"msg_local","type":"message","role":"assistant","model":"llama-test","content":[{"type":"text","text":"answered locally"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2}}';
    await startStandInOllama(client, AI, `${AI}1`, ip.ollama, reply);
    await waitForAddress(FIRST, LF, ip.lf);
    const before = upstream.requests.length;
    const body = JSON.stringify({ model: 'claude-3-5-haiku-20241022', max_tokens: 16, messages: [{ role: 'user', content: `MARKER-BACKGROUND summarize the work on ${LF}` }] });
    const request = `POST /v1/messages HTTP/1.1\r\nHost: ${ip.lf}:3456\r\nContent-Type: application/json\r\nanthropic-version: 2023-06-01\r\nx-api-key: KEY\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
    const out = await incusExec(FIRST, LF, ['env', `REQ=${request}`, 'sh', '-c', `printf '%s' "$REQ" | sed "s/x-api-key: KEY/x-api-key: $(cat /etc/claude-code-router/api-key)/" | nc -w 30 ${ip.lf} 3456`]);
    expect(out.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(out.stdout).toContain('answered locally');
    const seenByOllama = (await incusExec(AI, `${AI}1`, ['cat', STAND_IN_REQUEST_LOG])).stdout;
    expect(seenByOllama).toContain('MARKER-BACKGROUND');
    expect(seenByOllama).toContain('"model":"llama-test"');
    expect(upstream.requests.length).toBe(before);
  }, 120_000);

  it('a local domain: Claude Code goes to Ollama itself, and nothing reaches the fake cloud', async () => {
    await waitForAddress(LOCAL, LO, ip.lo);
    await incusExec(AI, `${AI}1`, ['rm', '-f', STAND_IN_REQUEST_LOG]);
    const before = upstream.requests.length;
    // The stand-in answers JSON where Claude Code streams: what it got is the point, not the answer.
    await incusExec(LOCAL, LO, ['sh', '-c', 'cd /tmp && HOME=/root timeout 60 claude -p "MARKER-LOCAL hello" --output-format json'], { timeoutMs: 120_000 });
    const seenByOllama = (await incusExec(AI, `${AI}1`, ['cat', STAND_IN_REQUEST_LOG])).stdout;
    expect(seenByOllama).toContain('"model":"llama-test"');
    expect(upstream.requests.length).toBe(before);
  }, 180_000);
});
