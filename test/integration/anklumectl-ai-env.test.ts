import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'anklume-ai-env-'));
const INFRA = `
global:
  claude_code: { cloud_model: claude-sonnet-4-5 }
domains:
  anklume:
    trust_level: admin
    machines:
      anklume-sanitizer: { ip: 10.100.0.20, roles: [llm_sanitizer] }
  ai-tools:
    machines:
      gpu: { ip: 10.120.0.10, roles: [ollama_server] }
  client:
    ai_provider: cloud
    machines:
      client-dev: { ip: 10.120.1.5, roles: [claude_code] }
  pro:
    trust_level: trusted
    ai_provider: local-first
    machines:
      pro-dev: { ip: 10.110.1.5, roles: [claude_code] }
      pro-web: { ip: 10.110.1.6 }
  perso:
    trust_level: trusted
    machines:
      perso-web: { ip: 10.110.0.5 }
`;
const infra = join(dir, 'infra.yml');
writeFileSync(infra, INFRA);
const state = join(dir, 'state');
mkdirSync(join(state, 'claude-code'), { recursive: true });
writeFileSync(join(state, 'claude-code', 'pro.router-key'), 'the-router-key\n');
const env = { ANKLUME_STATE_DIR: state };

describe('anklumectl ai env', () => {
  it('--shell prints export lines a shell evaluates to the way out of the domain', async () => {
    const run = await runBin('anklumectl', ['ai', 'env', 'client', '-f', infra, '--shell'], { env });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toContain("export ANTHROPIC_BASE_URL='http://10.100.0.20:8089'");
    expect(lines).toContain("export ANTHROPIC_MODEL='claude-sonnet-4-5'");
    expect(lines).toContain("export CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC='1'");
    for (const l of lines) expect(l).toMatch(/^export [A-Z_]+='[^']*'$/);
  });

  it('--json gives the env, the router (with the key anklume made) and the MCP config', async () => {
    const run = await runBin('anklumectl', ['ai', 'env', 'pro', '-f', infra, '--json'], { env });
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout) as { via: string; env: Record<string, string>; router: { url: string; key: string; config: { Router: Record<string, string> } }; mcp: { mcpServers: Record<string, { env: Record<string, string> }> } };
    expect(doc.via).toBe('sanitizer');
    expect(doc.env.ANTHROPIC_MODEL).toBe('qwen2.5-coder:32b');
    expect(doc.router.url).toBe('http://10.110.1.5:3456');
    expect(doc.router.key).toBe('the-router-key');
    expect(doc.router.config.Router.background).toBe('anklume-local,qwen2.5-coder:32b');
    expect(doc.router.config.Router.think).toBe('anklume-cloud,claude-sonnet-4-5');
    expect(doc.mcp.mcpServers['anklume-local']?.env).toEqual({ ANKLUME_LOCAL_BASE_URL: 'http://10.100.0.20:8089', ANKLUME_LOCAL_MODEL: 'qwen2.5-coder:32b' });
  });

  it('refuses an unknown domain, a domain without claude_code, and --shell with --json, with a clear error', async () => {
    const unknown = await runBin('anklumectl', ['ai', 'env', 'nope', '-f', infra], { env });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no domain "nope" in');
    const none = await runBin('anklumectl', ['ai', 'env', 'perso', '-f', infra], { env });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('domain "perso" has no machine with role claude_code');
    const both = await runBin('anklumectl', ['ai', 'env', 'pro', '-f', infra, '--shell', '--json'], { env });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--shell and --json are exclusive');
    expect(none.stdout + unknown.stdout + both.stdout).toBe('');
  });
});
