import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { applyToTarget } from '../../src/controllers/firewall/check.js';
import { planFirewall } from '../../src/controllers/firewall/table.js';
import { withFirewallFirst } from '../../src/controllers/whole-pass.js';
import { planInfra } from '../../src/controllers/domain/plan.js';
import { Nft } from '../../src/firewall/nft.js';
import { nftScript } from '../../src/firewall/nft-text.js';
import { renderClosedFirewall, renderFirewall } from '../../src/firewall/render.js';
import { ROOT } from '../helpers/cli.js';
import { nftInNamespace } from '../helpers/fake-nft.js';

// The firewall from boot: every applied table is saved; the loader that runs
// before Incus loads it, or a closed table. Real nft, in a network namespace
// of the test's own.
const LOADER = join(ROOT, 'deploy/anklume-firewall-load.sh');
const ns = `ak-boot-${process.pid}`;
let dir: string;
let nftBinary: string;
const nftIn = (...args: string[]): string => execFileSync('ip', ['netns', 'exec', ns, 'nft', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function model() {
  const r = validateInfraText('project_name: boot\ndomains:\n  pro: { machines: { pro-a: {} } }\n  perso: { machines: { perso-a: {} } }\n', { file: 'infra.yml', hostNetworks: [] });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}

function load(stateDir: string): { code: number | null; out: string } {
  const r = spawnSync('sh', [LOADER], { env: { ...process.env, ANKLUME_STATE_DIR: stateDir, ANKLUME_NFT: nftBinary }, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', ns]);
  dir = mkdtempSync(join(tmpdir(), 'anklume-boot-'));
  nftBinary = nftInNamespace(dir, ns);
});

afterAll(() => {
  execFileSync('ip', ['netns', 'delete', ns]);
});

describe('the firewall from boot', () => {
  it('ships the closed table exactly as anklume renders it', () => {
    const script = readFileSync(LOADER, 'utf8');
    const shipped = script.slice(script.indexOf("<<'NFT'\n") + "<<'NFT'\n".length, script.indexOf('\nNFT\n') + 1);
    expect(shipped).toBe(nftScript(renderClosedFirewall()));
  });

  it('saves every applied table, root-only, where the loader finds it', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'anklume-state-'));
    const bootFile = join(stateDir, 'sub', 'firewall.nft');
    const action = planFirewall(renderFirewall(model()), { ok: true, table: null });
    if (action === null) throw new Error('expected an action');
    await applyToTarget({ nft: new Nft(nftBinary), bootFile }, action.payload);
    expect(readFileSync(bootFile, 'utf8')).toBe(action.payload.script);
    expect(statSync(bootFile).mode & 0o777).toBe(0o600);
  });

  it('loads the closed table when anklume never applied one: nothing leaves or enters a net-* bridge', () => {
    try {
      nftIn('delete', 'table', 'inet', 'anklume');
    } catch {
      // absent already
    }
    const r = load(mkdtempSync(join(tmpdir(), 'anklume-empty-')));
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('loading the closed table');
    const table = nftIn('list', 'table', 'inet', 'anklume');
    expect(table).toMatch(/iifname "net-\*" drop/);
    expect(table).toMatch(/oifname "net-\*" drop/);
  });

  it('loads the last applied table when there is one, over whatever the kernel holds', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'anklume-state-'));
    const action = planFirewall(renderFirewall(model()), { ok: true, table: null });
    if (action === null) throw new Error('expected an action');
    await applyToTarget({ nft: new Nft(nftBinary), bootFile: join(stateDir, 'firewall.nft') }, action.payload);
    nftIn('flush', 'table', 'inet', 'anklume');
    const r = load(stateDir);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('loaded the last applied table');
    expect(nftIn('list', 'table', 'inet', 'anklume')).toContain('iifname "net-pro" oifname "net-pro" accept');
  });

  it('falls back to the closed table when the saved one is damaged', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'anklume-state-'));
    writeFileSync(join(stateDir, 'firewall.nft'), 'table inet anklume {\n chain forward { type filter hook forward priority filter - 10; policy accept;\n');
    const r = load(stateDir);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('could not be loaded; loading the closed table instead');
    expect(nftIn('list', 'table', 'inet', 'anklume')).toContain('closed until anklume applies its rules');
  });

  it('fails, so that Incus does not start, when nft cannot load even the closed table', () => {
    const r = spawnSync('sh', [LOADER], { env: { ...process.env, ANKLUME_STATE_DIR: dir, ANKLUME_NFT: '/nonexistent/nft' }, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
  });
});

describe('instances never run without the firewall', () => {
  it('plans no instance create or start when the firewall cannot be applied, and says why', () => {
    const m = model();
    const empty = { projects: new Map(), networks: new Map(), profiles: new Map(), instances: new Map() };
    const plan = planInfra(m, empty, { storagePool: 'default', prune: false, force: false });
    const blocked = planFirewall(renderFirewall(m), { ok: false, unavailable: true, error: 'nft not found at /x/nft' });
    if (blocked === null) throw new Error('expected an action');
    const gated = withFirewallFirst(plan, blocked);
    const instances = gated.actions.filter((a) => a.kind === 'instance');
    expect(instances.length).toBeGreaterThan(0);
    expect(instances.every((a) => a.blocked?.startsWith('the firewall is not in place (cannot manage the firewall: nft not found at /x/nft'))).toBe(true);
    expect(gated.actions.filter((a) => a.kind === 'network').every((a) => a.blocked === undefined)).toBe(true);
  });

  it('makes every instance create depend on the firewall action when it can be applied', () => {
    const m = model();
    const empty = { projects: new Map(), networks: new Map(), profiles: new Map(), instances: new Map() };
    const plan = planInfra(m, empty, { storagePool: 'default', prune: false, force: false });
    const action = planFirewall(renderFirewall(m), { ok: true, table: null });
    if (action === null) throw new Error('expected an action');
    const gated = withFirewallFirst(plan, action);
    expect(gated.actions.filter((a) => a.kind === 'instance').every((a) => a.after.includes(action.id))).toBe(true);
  });
});
