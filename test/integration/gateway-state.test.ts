import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { ROOT } from '../helpers/cli.js';
import { json, SOURCE, startFakeLlmUpstream, startTestGateway, TEST_INFRA, type FakeLlmUpstream } from '../helpers/fake-llm-upstream.js';

// What the gateway keeps on disk, across restarts, and the program itself:
// exit 1 on a bad config (fail closed), SIGTERM drains and exits.

let upstream: FakeLlmUpstream;
let dir: string;

beforeAll(async () => {
  upstream = await startFakeLlmUpstream();
});
afterAll(async () => {
  await upstream.close();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'anklume-gw-restart-'));
  upstream.requests.length = 0;
  upstream.override(undefined);
  return () => rmSync(dir, { recursive: true, force: true });
});

const PROMPT = 'deploy on pro-dev at 10.110.0.10 then client-gw';
const post = (url: string, content: string): Promise<Response> =>
  fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'x-anklume-test-source': SOURCE.client }, body: JSON.stringify({ model: 'claude-x', max_tokens: 5, messages: [{ role: 'user', content }] }) });
const mode = (p: string): number => statSync(p).mode & 0o777;

describe('across a restart', () => {
  it('gives the same pseudonyms (prompt caching keeps working) and restores pseudonyms handed out before the restart', async () => {
    const first = await startTestGateway({ upstream, dir });
    await post(first.url, PROMPT);
    await first.close();
    const sentBefore = upstream.requests[0]?.body.messages[0].content as string;
    expect(sentBefore).not.toContain('pro-dev');

    const second = await startTestGateway({ upstream, dir });
    try {
      // First, before this process has sanitized anything: an answer holding only
      // pseudonyms of the first run, to a prompt with none. The journal restores them.
      upstream.override((_req, res) => {
        json(res, 200, { type: 'message', role: 'assistant', content: [{ type: 'text', text: `recall: ${sentBefore}` }] });
        return true;
      });
      const res = (await (await post(second.url, 'hello')).json()) as any;
      expect(res.content[0].text).toBe(`recall: ${PROMPT}`);
      upstream.override(undefined);
      await post(second.url, PROMPT);
      expect(upstream.requests.at(-1)?.body.messages[0].content).toBe(sentBefore);
    } finally {
      await second.close();
    }
  });

  it('keeps secrets, mappings and the audit log private (0600)', async () => {
    const gw = await startTestGateway({ upstream, dir });
    await post(gw.url, PROMPT);
    await gw.close();
    const files = [
      ...readdirSync(join(dir, 'state', 'secrets')).map((f) => join(dir, 'state', 'secrets', f)),
      ...readdirSync(join(dir, 'state', 'mappings')).map((f) => join(dir, 'state', 'mappings', f)),
      gw.auditPath,
    ];
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) expect(mode(f), f).toBe(0o600);
    expect(readFileSync(join(dir, 'state', 'mappings', 'client.jsonl'), 'utf8')).toContain('pro-dev');
  });
});

describe('the audit log through the gateway', () => {
  it('records each replacement of a request with its request id, domain, model and endpoint', async () => {
    const gw = await startTestGateway({ upstream, dir });
    const res = await post(gw.url, PROMPT);
    await gw.close();
    const lines = readFileSync(gw.auditPath, 'utf8').trim().split('\n').map((l): any => JSON.parse(l));
    const id = res.headers.get('x-anklume-request-id');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines) expect(l).toMatchObject({ request_id: id, domain: 'client', model: 'claude-x', endpoint: 'anthropic.messages', route: 'cloud' });
    // Originals are not in the log by default: a keyed hash each (the key beside the log, 0600).
    expect(readFileSync(gw.auditPath, 'utf8')).not.toMatch(/pro-dev|10\.110\.0\.10|client-gw/);
    const key = readFileSync(join(dirname(gw.auditPath), 'audit.key'));
    const hmac = (v: string): string => createHmac('sha256', key).update(v).digest('hex');
    expect(lines.map((l): any => l.original_hmac)).toEqual(expect.arrayContaining(['pro-dev', '10.110.0.10', 'client-gw'].map(hmac)));
    const sent = upstream.requests[0]?.raw ?? '';
    for (const l of lines) expect(sent).toContain(l.replacement);
  });

  it('store_originals keeps infrastructure originals (never credentials); redacted_only false logs raw requests too', async () => {
    const gw = await startTestGateway({ upstream, dir, config: { audit: { store_originals: true, redacted_only: false } } });
    await post(gw.url, 'ssh pro-dev with password=hunter2-very-secret');
    const kept = readFileSync(gw.auditPath, 'utf8');
    expect(kept).toContain('"original":"pro-dev"');
    expect(kept).not.toContain('hunter2');
    expect(kept).toContain('"category":"credentials"');
    await gw.close();
  });

  it('refuses the removed hash_originals with a message saying what replaced it', () => {
    expect(() => parseGatewayConfig('audit: { hash_originals: true }\n', 'sanitizer.yml')).toThrow(/hash_originals was removed.*store_originals/s);
  });

  it('without store_originals no original is logged; redacted_only false logs raw requests too', async () => {
    const gw = await startTestGateway({ upstream, dir, config: { audit: { redacted_only: false } } });
    await post(gw.url, PROMPT);
    await fetch(`${gw.url}/v1/messages`, { method: 'POST', headers: { 'x-anklume-test-source': SOURCE.rawcloud }, body: JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: PROMPT }] }) });
    await gw.close();
    const text = readFileSync(gw.auditPath, 'utf8');
    expect(text).not.toContain('pro-dev');
    const lines = text.trim().split('\n').map((l): any => JSON.parse(l));
    expect(lines.find((l) => l.domain === 'rawcloud')).toMatchObject({ sanitized: false, replacements: 0, route: 'cloud' });
  });
});

/** Run the program from source (no build needed). */
function runSanitizer(args: string[], onListening?: (child: ReturnType<typeof spawn>, stdout: () => string) => void): Promise<{ code: number | null; signal: string | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/anklume-sanitizer.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let told = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!told && stdout.includes('anklume-sanitizer listening')) {
        told = true;
        onListening?.(child, () => stdout);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr, stdout }));
  });
}

describe('anklume-sanitizer', () => {
  function config(extra: string, infra = TEST_INFRA): string {
    writeFileSync(join(dir, 'infra.yml'), infra);
    const path = join(dir, 'sanitizer.yml');
    writeFileSync(path, `listen: 127.0.0.1:0\ninfra: ${join(dir, 'infra.yml')}\nstate_dir: ${join(dir, 'state')}\naudit: { path: ${join(dir, 'audit.log')} }\nupstreams: { anthropic: "${upstream.url}" }\n${extra}`);
    return path;
  }

  it('exits 1 with the problem named when the config is invalid', async () => {
    const r = await runSanitizer(['--config', config('mode: scramble\n'), '--log-format', 'json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('mode');
  });

  it('exits 1 with file:line:col when infra.yml is invalid', async () => {
    const r = await runSanitizer(['--config', config('', TEST_INFRA.replace('ai_provider: local-first', 'ai_provider: everywhere')), '--log-format', 'json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/infra\.yml:\d+:\d+: domains\.pro\.ai_provider/);
  });

  it('exits 1 when sources name a domain infra.yml does not have', async () => {
    const r = await runSanitizer(['--config', config('sources: [{ cidr: 127.0.0.0/8, domain: nowhere }]\n'), '--log-format', 'json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('sources[0].domain: "nowhere"');
  });

  it('--help and --version exit 0', async () => {
    expect((await runSanitizer(['--version'])).stdout.trim()).toBe('0.1.0');
    const help = await runSanitizer(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--config <path>');
  });

  it('serves, and on SIGTERM drains and exits 0', async () => {
    const path = config('');
    let healthy: unknown;
    const r = await runSanitizer(['--config', path, '--log-format', 'json'], (child, stdout) => {
      const line = stdout()
        .split('\n')
        .find((l) => l.includes('listening'));
      const listen = (JSON.parse(line ?? '{}') as { listen: string }).listen;
      void fetch(`http://${listen}/health`)
        .then(async (res) => (healthy = await res.json()))
        .finally(() => child.kill('SIGTERM'));
    });
    expect(r.code).toBe(0);
    expect(healthy).toEqual({ ok: true });
  });
});
