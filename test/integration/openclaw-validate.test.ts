import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderOpenClawConfig, type JsonObject } from '../../src/controllers/service/openclaw-config.js';
import { renderInstallPolicy } from '../../src/controllers/service/openclaw-files.js';
import { domainOf, OPENCLAW_INFRA, openclawModel } from '../helpers/openclaw-infra.js';

/**
 * The generated configs against OpenClaw's own validator (`openclaw config
 * validate`), from the version infra.yml pins, on the Node 24 it needs. Both
 * come from the npm registry through scripts/openclaw-validator.sh, cached
 * under /var/cache/anklume-openclaw/<version> (ANKLUME_OPENCLAW_CACHE to move
 * it): the first run installs (~770 MB), later runs reuse it.
 */

const run = promisify(execFile);
const script = fileURLToPath(new URL('../../scripts/openclaw-validator.sh', import.meta.url));
const model = openclawModel();
const versions = [...new Set(model.domains.flatMap((d) => (d.openclaw === null ? [] : [d.openclaw.version])))];

/** Install folder per OpenClaw version. */
const installs = new Map<string, string>();
let work = '';

interface Verdict {
  code: number;
  report: { valid?: boolean; issues?: { path: string; message: string }[] };
  stderr: string;
}

/** `openclaw config validate --json` on `config`, with a fresh state dir: the exit code and its JSON report. */
async function validate(version: string, name: string, config: string): Promise<Verdict> {
  const dir = installs.get(version);
  if (dir === undefined) throw new Error(`OpenClaw ${version} is not installed`);
  const file = join(work, `${name}.json`);
  const state = await mkdtemp(join(work, 'state-'));
  await writeFile(file, config);
  const child = spawn(join(dir, 'node_modules/node/bin/node'), [join(dir, 'node_modules/openclaw/openclaw.mjs'), 'config', 'validate', '--json'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: state, OPENCLAW_STATE_DIR: state, OPENCLAW_CONFIG_PATH: file, OPENCLAW_NO_AUTO_UPDATE: '1', DO_NOT_TRACK: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? -1));
  });
  // The report is the JSON object on stdout; anything before it would be log noise.
  const start = stdout.indexOf('{');
  const report = start === -1 ? {} : (JSON.parse(stdout.slice(start)) as Verdict['report']);
  return { code, report, stderr };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'anklume-openclaw-validate-'));
  for (const version of versions) {
    const { stdout } = await run('bash', [script, version], { maxBuffer: 16 * 1024 * 1024 });
    installs.set(version, stdout.trim().split('\n').at(-1) ?? '');
  }
}, 900_000);

afterAll(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
});

describe("OpenClaw's own validator", () => {
  it.each([
    ['perso', 'local'],
    ['client', 'cloud'],
    ['pro', 'local-first with Telegram'],
    ['audit', 'local, sanitized always, heartbeat off'],
    ['sandbox', 'disposable'],
  ])('accepts the config of %s (%s)', async (name) => {
    const domain = domainOf(model, name);
    const rendered = renderOpenClawConfig(model, domain);
    const verdict = await validate(domain.openclaw?.version ?? '', name, rendered.text);
    expect(verdict.report.issues ?? []).toEqual([]);
    expect(verdict.report.valid).toBe(true);
    expect(verdict.code).toBe(0);
    // The validator does not check references; the generator must (and does).
    for (const ref of rendered.models) expect(rendered.defined).toContain(ref);
  }, 60_000);

  it('accepts the compound and day durations infra.yml allows, once converted', async () => {
    const m = openclawModel(OPENCLAW_INFRA.replace('heartbeat_every: 1h', 'heartbeat_every: 1d2h30m'));
    const domain = domainOf(m, 'pro');
    const verdict = await validate(domain.openclaw?.version ?? '', 'pro-duration', renderOpenClawConfig(m, domain).text);
    expect(verdict.code).toBe(0);
  }, 60_000);

  it('rejects a broken config, naming each bad key (so the checks above can fail)', async () => {
    const domain = domainOf(model, 'pro');
    const good = renderOpenClawConfig(model, domain).json as Record<string, JsonObject>;
    const broken = {
      ...good,
      gateway: { ...good.gateway, bind: '0.0.0.0' },
      agents: { defaults: { ...(good.agents?.defaults as JsonObject), heartbeat: { every: 'every half hour' } } },
      notAKey: true,
    };
    const verdict = await validate(domain.openclaw?.version ?? '', 'broken', JSON.stringify(broken));
    expect(verdict.code).toBe(1);
    expect(verdict.report.valid).toBe(false);
    const paths = (verdict.report.issues ?? []).map((i) => i.path);
    // The schema layer reports first; a second round would report the duration.
    expect(paths).toEqual(expect.arrayContaining(['gateway.bind', '<root>']));
    expect(verdict.report.issues?.find((i) => i.path === '<root>')?.message).toContain('notAKey');
  }, 60_000);

  it('rejects a heartbeat period it cannot parse (the semantic layer)', async () => {
    const domain = domainOf(model, 'perso');
    const good = renderOpenClawConfig(model, domain).json as Record<string, any>;
    good.agents.defaults.heartbeat.every = '30 minutes';
    const verdict = await validate(domain.openclaw?.version ?? '', 'bad-duration', JSON.stringify(good));
    expect(verdict.code).toBe(1);
    expect(verdict.report.issues?.map((i) => i.path)).toEqual(['agents.defaults.heartbeat.every']);
  }, 60_000);
});

describe('the install policy script', () => {
  it('answers block, in the protocol OpenClaw expects, to a ClawHub skill install', async () => {
    const file = join(work, 'install-policy');
    await writeFile(file, renderInstallPolicy(domainOf(model, 'pro')), { mode: 0o755 });
    const request = JSON.stringify({ protocolVersion: 1, targetType: 'skill', targetName: 'weather', source: { kind: 'clawhub' }, origin: { type: 'clawhub', registry: 'https://clawhub.openclaw.ai' } });
    const answer = await new Promise<string>((resolve, reject) => {
      const child = spawn(file, [], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${String(code)}`))));
      child.stdin.end(request);
    });
    expect(JSON.parse(answer)).toEqual({ protocolVersion: 1, decision: 'block', reason: expect.stringContaining('domain pro is not disposable') });
  });
});
