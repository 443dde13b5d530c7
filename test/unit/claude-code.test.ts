import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { claudeCodeEnv, claudeCodeRoutes, renderCustomRouter, renderMcpConfig, renderRouterConfig } from '../../src/controllers/service/claude-code-config.js';
import { CLAUDE_CODE_PATHS, claudeCodeDeployments, claudeCodeInstall } from '../../src/controllers/service/claude-code-deployment.js';
import type { DesiredDomain, DesiredInfra } from '../../src/schemas/model.js';

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
    trust_level: semi-trusted
    ai_provider: cloud
    machines:
      client-dev: { ip: 10.120.1.5, roles: [claude_code] }
  pro:
    trust_level: trusted
    ai_provider: local-first
    claude_code: { local_model: 'qwen3:32b' }
    machines:
      pro-dev: { ip: 10.110.2.5, roles: [claude_code] }
  perso:
    trust_level: trusted
    ai_provider: local
    machines:
      perso-dev: { ip: 10.110.1.5, roles: [claude_code] }
  audit:
    trust_level: trusted
    ai_provider: local
    ai_sanitize: always
    machines:
      audit-dev: { ip: 10.110.0.5, roles: [claude_code] }
`;

function validate(text: string): ReturnType<typeof validateInfraText> {
  return validateInfraText(text, { file: 'infra.yml', hostNetworks: [] });
}
function model(text = INFRA): DesiredInfra {
  const r = validate(text);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}
function domain(m: DesiredInfra, name: string): DesiredDomain {
  const d = m.domains.find((x) => x.name === name);
  if (d === undefined) throw new Error(name);
  return d;
}
const m = model();
const inputs = { routerKey: 'rk', mcpBundle: '// bundle' };

describe('role claude_code: where each domain\'s requests go', () => {
  it('a cloud domain: everything to the cloud model through the sanitizer, no local route, no MCP server', () => {
    const routes = claudeCodeRoutes(m, domain(m, 'client'));
    expect(routes).toEqual({ baseUrl: 'http://10.100.0.20:8089', via: 'sanitizer', local: null, cloud: { baseUrl: 'http://10.100.0.20:8089', model: 'claude-sonnet-4-5' }, mainModel: 'claude-sonnet-4-5' });
    const env = claudeCodeEnv(routes);
    expect(env).toMatchObject({ ANTHROPIC_BASE_URL: 'http://10.100.0.20:8089', ANTHROPIC_MODEL: 'claude-sonnet-4-5', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_TELEMETRY: '1', DISABLE_AUTOUPDATER: '1', DISABLE_ERROR_REPORTING: '1' });
    expect(env.ANTHROPIC_DEFAULT_HAIKU_MODEL).toBeUndefined();
    const router = renderRouterConfig(domain(m, 'client'), routes, { host: '10.110.0.5', port: 3456, apiKey: 'k', customRouterPath: '/r.cjs' });
    expect(router.Router).toMatchObject({ background: 'anklume-cloud,claude-sonnet-4-5', default: 'anklume-cloud,claude-sonnet-4-5' });
    expect(renderMcpConfig(routes, '/usr/local/bin/anklume-mcp-local')).toBeNull();
  });

  it('a local-first domain: background and coding local, thinking and long context to the cloud, all through the sanitizer with the task header', () => {
    const routes = claudeCodeRoutes(m, domain(m, 'pro'));
    expect(routes.local).toEqual({ baseUrl: 'http://10.100.0.20:8089', model: 'qwen3:32b' });
    expect(routes.mainModel).toBe('qwen3:32b');
    const router = renderRouterConfig(domain(m, 'pro'), routes, { host: '10.110.2.5', port: 3456, apiKey: 'k', customRouterPath: '/r.cjs' });
    expect(router.Router).toEqual({ background: 'anklume-local,qwen3:32b', default: 'anklume-local,qwen3:32b', think: 'anklume-cloud,claude-sonnet-4-5', longContext: 'anklume-cloud,claude-sonnet-4-5', webSearch: 'anklume-cloud,claude-sonnet-4-5', longContextThreshold: 60000 });
    expect(router.Providers).toEqual([
      { name: 'anklume-local', api_base_url: 'http://10.100.0.20:8089/v1/messages', api_key: 'anklume-sanitizer-injects-the-key', models: ['qwen3:32b'], transformer: { use: ['Anthropic'] } },
      { name: 'anklume-cloud', api_base_url: 'http://10.100.0.20:8089/v1/messages', api_key: 'anklume-sanitizer-injects-the-key', models: ['claude-sonnet-4-5'], transformer: { use: ['Anthropic'] } },
    ]);
    expect(renderMcpConfig(routes, '/x')).toEqual({ mcpServers: { 'anklume-local': { type: 'stdio', command: '/x', args: [], env: { ANKLUME_LOCAL_BASE_URL: 'http://10.100.0.20:8089', ANKLUME_LOCAL_MODEL: 'qwen3:32b' } } } });
  });

  it('a local domain reaches Ollama itself (the firewall opens it), with ai_sanitize always the sanitizer; nothing names a cloud model', () => {
    const perso = claudeCodeRoutes(m, domain(m, 'perso'));
    expect(perso).toEqual({ baseUrl: 'http://10.120.0.10:11434', via: 'ollama', local: { baseUrl: 'http://10.120.0.10:11434', model: 'qwen2.5-coder:32b' }, cloud: null, mainModel: 'qwen2.5-coder:32b' });
    const audit = claudeCodeRoutes(m, domain(m, 'audit'));
    expect(audit.via).toBe('sanitizer');
    expect(audit.cloud).toBeNull();
    for (const d of ['perso', 'audit']) {
      const text = JSON.stringify(claudeCodeDeployments(m, domain(m, d), inputs)[0]?.files);
      expect(text).not.toContain('claude-sonnet');
      expect(text).not.toContain('anklume-cloud');
    }
  });

  it('the custom router sets the task header of each scenario and returns the configured route', async () => {
    // Loaded the way the router loads it: require() of the file.
    const dir = mkdtempSync(join(tmpdir(), 'anklume-router-'));
    writeFileSync(join(dir, 'anklume-router.cjs'), renderCustomRouter());
    const route = createRequire(import.meta.url)(join(dir, 'anklume-router.cjs')) as (req: unknown, config: unknown) => Promise<string>;
    rmSync(dir, { recursive: true });
    const config = { Router: { background: 'b', default: 'd', think: 't', longContext: 'l', webSearch: 'w', longContextThreshold: 100 } };
    const cases: [Record<string, unknown>, number, string, string][] = [
      [{ model: 'claude-haiku-4-5' }, 10, 'b', 'summary'],
      [{ model: 'claude-sonnet-4-5' }, 10, 'd', 'codegen'],
      [{ model: 'claude-sonnet-4-5', thinking: { type: 'enabled' } }, 10, 't', 'architecture'],
      [{ model: 'claude-sonnet-4-5' }, 1000, 'l', 'report'],
      [{ model: 'claude-sonnet-4-5', tools: [{ type: 'web_search_20250305' }] }, 10, 'w', 'report'],
    ];
    for (const [body, tokenCount, want, task] of cases) {
      const req = { body, tokenCount, headers: {} as Record<string, string> };
      expect(await route(req, config)).toBe(want);
      expect(req.headers['x-anklume-task']).toBe(task);
    }
  });
});

describe('role claude_code: the deployment', () => {
  it('mounts the pinned set read-only, writes managed settings, router config and MCP config, and checks the router', () => {
    const [d] = claudeCodeDeployments(m, domain(m, 'pro'), inputs);
    expect(d?.instance).toBe('pro-dev');
    expect(d?.devices['anklume-claude-code']).toEqual({ type: 'disk', source: claudeCodeInstall().dir, path: '/opt/claude-code', readonly: 'true' });
    expect(d?.hostInstall?.name).toBe('claude-code-2.1.332');
    expect(d?.hostInstall?.allowScripts).toEqual([]);
    expect(d?.healthUrl).toBe('http://10.110.2.5:3456/health');
    const paths = d?.files.map((f) => f.path) ?? [];
    expect(paths).toEqual(expect.arrayContaining([CLAUDE_CODE_PATHS.managedSettings, CLAUDE_CODE_PATHS.managedMcp, CLAUDE_CODE_PATHS.routerConfig, CLAUDE_CODE_PATHS.customRouter, CLAUDE_CODE_PATHS.routerUnit, CLAUDE_CODE_PATHS.mcpCommand]));
    const settings = JSON.parse(d?.files.find((f) => f.path === CLAUDE_CODE_PATHS.managedSettings)?.content ?? '{}') as { env: Record<string, string> };
    expect(settings.env.ANTHROPIC_BASE_URL).toBe('http://10.100.0.20:8089');
    expect(d?.files.find((f) => f.path === CLAUDE_CODE_PATHS.routerConfig)?.mode).toBe(0o640);
    expect(d?.problem).toBeUndefined();
  });

  it('its hash changes with what it renders and not with another domain', () => {
    const base = claudeCodeDeployments(m, domain(m, 'pro'), inputs)[0]?.hash;
    expect(claudeCodeDeployments(m, domain(m, 'pro'), { ...inputs, routerKey: 'other' })[0]?.hash).not.toBe(base);
    const m2 = model(INFRA.replace("claude_code: { local_model: 'qwen3:32b' }", "claude_code: { local_model: 'qwen3:8b' }"));
    expect(claudeCodeDeployments(m2, domain(m2, 'pro'), inputs)[0]?.hash).not.toBe(base);
    const m3 = model(INFRA.replace('perso-dev: { ip: 10.110.1.5', 'perso-dev: { ip: 10.110.1.6'));
    expect(claudeCodeDeployments(m3, domain(m3, 'pro'), inputs)[0]?.hash).toBe(base);
  });
});

describe('role claude_code: validation', () => {
  const bad: [string, string, RegExp][] = [
    ['a cloud domain with no cloud model', INFRA.replace('  claude_code: { cloud_model: claude-sonnet-4-5 }\n', ''), /ai_provider cloud sends Claude Code to a cloud model, and none is named/],
    ['no sanitizer for a cloud domain', INFRA.replace('roles: [llm_sanitizer]', 'roles: []'), /reaches its models only through the sanitizer, and no enabled machine has role llm_sanitizer/],
    ['no Ollama for a local domain', INFRA.replace('roles: [ollama_server]', 'roles: []'), /uses the local model, and the ai-tools domain has no enabled machine with role ollama_server/],
    ['a cloud model in a local domain', INFRA.replace('    ai_provider: local\n    machines:\n      perso-dev', '    ai_provider: local\n    claude_code: { cloud_model: claude-opus-4-8 }\n    machines:\n      perso-dev'), /a cloud model is never used when ai_provider is local/],
    ['settings with no machine', INFRA.replace('roles: [ollama_server] }', 'roles: [ollama_server] }\n    claude_code: { local_model: x }'), /claude_code settings apply to the machines with role claude_code/],
    ['a machine shared with another service', INFRA.replace('pro-dev: { ip: 10.110.2.5, roles: [claude_code] }', 'pro-dev: { ip: 10.110.2.5, roles: [claude_code, openclaw_server] }'), /role claude_code needs a machine of its own: pro-dev also has role openclaw_server/],
    ['a model name with a space', INFRA.replace("local_model: 'qwen3:32b'", "local_model: 'qwen3 32b'"), /a model name such as/],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what}`, () => {
      const r = validate(text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues.map((i) => `${i.message} ${i.expected ?? ''}`).join('\n')).toMatch(message);
    });
  }
});
