import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import type { Observed } from '../../src/controllers/observed.js';
import { DEPLOY_HASH_KEY } from '../../src/controllers/service/deployment.js';
import { openclawDeployment } from '../../src/controllers/service/openclaw-deployment.js';
import { secretFilesOf, secretFilesStamp } from '../../src/controllers/service/inputs.js';
import { planDeployment } from '../../src/controllers/service/plan.js';
import { SANITIZER_PATHS, sanitizerDeployment, type SanitizerInputs } from '../../src/controllers/service/sanitizer-deployment.js';
import type { DesiredInfra } from '../../src/schemas/model.js';

const INFRA = `
project_name: t
global:
  ai_access_policy: exclusive
  ai_access_default: pro
  sanitizer: { mode: pseudonymize, upstreams: { anthropic_key_file: /etc/anklume/anthropic.key } }
  openclaw: { cloud_model: claude-sonnet-4-5 }
domains:
  anklume:
    trust_level: admin
    machines:
      anklume-sanitizer: { ip: 10.100.0.20, roles: [llm_sanitizer] }
  ai-tools:
    machines:
      gpu: { ip: 10.120.0.10, roles: [ollama_server] }
  pro:
    trust_level: trusted
    ai_provider: local-first
    openclaw: { enabled: true }
    machines:
      pro-claw: { ip: 10.110.0.5, roles: [openclaw_server] }
`;

function model(text = INFRA): DesiredInfra {
  const r = validateInfraText(text, { file: 'infra.yml', hostNetworks: [] });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}

const inputs: SanitizerInputs = { bundle: '// gateway', infraText: INFRA, nodeBinary: '/usr/bin/node', aiStateDir: '/opt/anklume', aiStateFile: '/opt/anklume/ai-access-current', keys: { anthropic: 'sk-ant-secret\n' } };
const EMPTY: Observed = { projects: new Map(), networks: new Map(), profiles: new Map(), instances: new Map() };

describe('sanitizerDeployment', () => {
  const d = sanitizerDeployment(model(), inputs);

  it('runs the gateway from the instance with role llm_sanitizer, with its config from infra.yml', () => {
    expect(d).toMatchObject({ project: 'anklume', instance: 'anklume-sanitizer', unit: 'anklume-sanitizer.service', healthUrl: 'http://10.100.0.20:8089/health' });
    const config = d?.files.find((f) => f.path === SANITIZER_PATHS.config)?.content ?? '';
    expect(config).toContain('mode: pseudonymize');
    expect(config).toContain('ollama: http://10.120.0.10:11434');
    expect(config).toContain('anthropic_key_file: /run/credentials/anklume-sanitizer.service/anthropic.key');
    expect(config).toContain('holder_file: /mnt/anklume-ai/ai-access-current');
  });

  it('keeps the key out of every file but its own, which only root reads (systemd hands it to the service)', () => {
    const key = d?.files.find((f) => f.path.endsWith('/anthropic.key'));
    expect(key).toMatchObject({ mode: 0o600, content: 'sk-ant-secret' });
    expect(d?.files.filter((f) => f !== key && f.content.includes('sk-ant-secret'))).toEqual([]);
    expect(d?.files.find((f) => f.path.endsWith('.service'))?.content).toContain('LoadCredential=anthropic.key:/etc/anklume-sanitizer/keys/anthropic.key');
  });

  it('changes its hash with the build or the config, and only then', () => {
    expect(sanitizerDeployment(model(), inputs)?.hash).toBe(d?.hash);
    expect(sanitizerDeployment(model(), { ...inputs, bundle: '// gateway v2' })?.hash).not.toBe(d?.hash);
    expect(sanitizerDeployment(model(INFRA.replace('mode: pseudonymize', 'mode: mask')), inputs)?.hash).not.toBe(d?.hash);
  });

  it('is absent without a sanitizer machine', () => {
    expect(sanitizerDeployment(model(INFRA.replace('roles: [llm_sanitizer]', 'roles: []')), inputs)).toBeNull();
  });
});

describe('planDeployment', () => {
  const d = sanitizerDeployment(model(), inputs);
  if (d === null) throw new Error('no deployment');
  const running = (hash?: string): Observed => ({
    ...EMPTY,
    instances: new Map([['anklume/anklume-sanitizer', { name: 'anklume-sanitizer', project: 'anklume', type: 'container', status: 'Running', description: '', profiles: [], config: hash === undefined ? {} : { [DEPLOY_HASH_KEY]: hash }, devices: {} }]]),
  });

  it('deploys what was never deployed, after the instance exists', () => {
    const action = planDeployment(d, EMPTY, [{ id: 'instance/anklume/anklume-sanitizer', group: 'anklume', kind: 'instance', name: 'anklume-sanitizer', verb: 'create', reason: 'missing', changes: [], after: [], payload: null }]);
    expect(action).toMatchObject({ verb: 'create', kind: 'service', after: ['instance/anklume/anklume-sanitizer'] });
  });

  it('does nothing when the running instance carries the hash, and updates when it differs', () => {
    expect(planDeployment(d, running(d.hash), [])).toBeNull();
    expect(planDeployment(d, running('old'), [])).toMatchObject({ verb: 'update', reason: 'sanitizer build or config changed' });
  });

  it('deploys again what carries the hash but does not answer its health check now', () => {
    const health = new Map([['anklume/anklume-sanitizer', 'HTTP 502']]);
    expect(planDeployment(d, running(d.hash), [], health)).toMatchObject({ verb: 'update', reason: 'sanitizer does not answer its health check at http://10.100.0.20:8089/health (HTTP 502)' });
    expect(planDeployment(d, running(d.hash), [], new Map([['anklume/anklume-sanitizer', null]]))).toBeNull();
  });
});

describe('openclawDeployment', () => {
  const m = model();
  const pro = m.domains.find((x) => x.name === 'pro');
  if (pro === undefined) throw new Error('no pro');

  it("mounts the pinned install, creates the service user, and checks the gateway's health", () => {
    const d = openclawDeployment(m, pro, { gatewayToken: 'tok' });
    expect(d?.devices['anklume-openclaw']).toMatchObject({ type: 'disk', path: '/opt/openclaw', readonly: 'true' });
    expect(d?.setup).toContain('useradd --system');
    expect(d?.healthUrl).toBe('http://10.110.0.5:18789/healthz');
    expect(d?.hostInstall?.name).toMatch(/^openclaw-\d/);
    expect(d?.devices['anklume-openclaw']?.source).toBe(d?.hostInstall?.dir);
    expect(d?.problem).toBeUndefined();
  });

  it('a version with no committed lockfile is blocked, saying so, and installs nothing', () => {
    const other = model(INFRA.replace('openclaw: { enabled: true }', 'openclaw: { enabled: true, version: 2099.1.1 }'));
    const d = openclawDeployment(other, other.domains.find((x) => x.name === 'pro') ?? pro, { gatewayToken: 'tok' });
    expect(d?.problem).toMatch(/pinned set openclaw-2099\.1\.1 has no readable package\.json and package-lock\.json/);
    expect(d?.hostInstall).toBeUndefined();
  });

  it('changes its hash with the domain it serves, not with another domain', () => {
    const before = openclawDeployment(m, pro, { gatewayToken: 'tok' })?.hash;
    const local = model(INFRA.replace('ai_provider: local-first', 'ai_provider: local'));
    expect(openclawDeployment(local, local.domains.find((x) => x.name === 'pro')!, { gatewayToken: 'tok' })?.hash).not.toBe(before);
    const otherDomainChanged = model(INFRA.replace('mode: pseudonymize', 'mode: mask'));
    expect(openclawDeployment(otherDomainChanged, otherDomainChanged.domains.find((x) => x.name === 'pro')!, { gatewayToken: 'tok' })?.hash).toBe(before);
  });
});

describe('secretFilesStamp', () => {
  it('names every key and token file of the model, and changes when one is rotated in place or by rename', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anklume-keys-'));
    const key = join(dir, 'anthropic.key');
    writeFileSync(key, 'sk-one\n');
    const m = model(INFRA.replace('/etc/anklume/anthropic.key', key));
    expect(secretFilesOf(m)).toEqual([key]);
    const first = secretFilesStamp(m);
    expect(secretFilesStamp(m)).toBe(first);
    writeFileSync(`${key}.new`, 'sk-two-longer\n');
    renameSync(`${key}.new`, key);
    const renamed = secretFilesStamp(m);
    expect(renamed).not.toBe(first);
    writeFileSync(key, 'sk-three-in-place-and-longer\n');
    expect(secretFilesStamp(m)).not.toBe(renamed);
    rmSync(key);
    expect(secretFilesStamp(m)).toBe(`${key}:-`);
  });
});
