import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_INFRA_NAME } from '../../src/cli/demo-infra.js';
import type { StatusDocument } from '../../src/controllers/status.js';
import type { VerifyReport } from '../../src/shared/verify-report.js';
import type { IncusClient } from '../../src/incus/index.js';
import { MARK, ownership } from '../../src/reconcile/ownership.js';
import { runBin } from '../helpers/cli.js';
import { INCUS_SOCKET, shortPrefix, testClient } from '../helpers/incus.js';

// `anklumectl demo up|status|down` as a newcomer runs it, on the real Incus and
// the real nftables. The demo's names are fixed (demo-*, infra anklume-demo):
// this file creates them and `demo down` removes exactly those.
const p = shortPrefix();
const stateDir = mkdtempSync(join(tmpdir(), 'anklume-e2e-demo-'));
const demoDir = join(stateDir, 'demo');
// No daemon listens here: the demo works without one.
const env = { INCUS_SOCKET, ANKLUME_STATE_DIR: stateDir, ANKLUME_SOCKET: join(stateDir, 'no-daemon.sock') };
let client: IncusClient;

const demo = (args: string[], extra: Record<string, string> = {}) => runBin('anklumectl', ['demo', ...args], { env: { ...env, ...extra } });

/** Everything Incus holds that is marked as the demo's. */
async function demoObjects(): Promise<string[]> {
  const ours = (config: Readonly<Record<string, string>> | undefined): boolean => ownership(config, DEMO_INFRA_NAME) === 'ours';
  const [projects, networks, instances] = await Promise.all([client.listProjects(), client.listNetworks({ project: 'default' }), client.listInstances()]);
  return [...instances.filter((i) => ours(i.config)).map((i) => i.name), ...projects.filter((x) => ours(x.config)).map((x) => x.name), ...networks.filter((n) => ours(n.config)).map((n) => n.name)];
}

const firewallTablePresent = (): boolean => execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).includes('table inet anklume');

beforeAll(() => {
  client = testClient();
});

afterAll(async () => {
  try {
    // Whatever a failure left: demo down removes only the demo's own objects.
    await demo(['down']);
  } finally {
    client.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

describe('anklumectl demo', () => {
  it('refuses, changing nothing, when Incus does not answer, and says what to run', async () => {
    const run = await demo(['up'], { INCUS_SOCKET: join(stateDir, 'no-incus.sock') });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/Incus does not answer at .*no-incus\.sock/);
    expect(run.stderr).toMatch(/bash scripts\/incus-setup\.sh/);
    expect(existsSync(demoDir)).toBe(false);
  });

  it('refuses bad flags with a usage error', async () => {
    const run = await demo(['up', '--timeout', 'soon']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--timeout must be a positive number of seconds \(got "soon"\)/);
    expect(existsSync(demoDir)).toBe(false);
  });

  it('says there is no demo before one was made', async () => {
    const run = await demo(['status']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/no demo on this host/);
  });

  it('refuses, changing nothing, on a host another anklume infra manages (its firewall would be replaced)', async () => {
    const other = `${p}-other`;
    await client.create('/1.0/projects', { name: other, config: { [MARK.managed]: 'true', [MARK.infra]: `${p}-infra` } });
    try {
      const run = await demo(['up']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(new RegExp(`managed by another anklume infra \\(project ${other} of "${p}-infra"\\)`));
      expect(run.stderr).toMatch(/Nothing was changed/);
      expect(existsSync(demoDir)).toBe(false);
      expect(await demoObjects()).toEqual([]);
    } finally {
      await client.delete(`/1.0/projects/${other}`);
    }
  });

  it('up converges the demo with progress and every domain Ready; down leaves no object of it', async () => {
    const up = await demo(['up']);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    // Progress: a line per step with its elapsed time, a line per action.
    expect(up.stdout).toMatch(/\[\s*\d+\.\ds\] checking the host/);
    expect(up.stdout).toMatch(/ok\s+create instance demo-work-dev/);
    expect(up.stdout).toMatch(/demo-work\s+trusted\s+10\.\d+\.\d+\.0\/24\s+net-demo-work\s+Ready/);
    // verify ran, with real packets, and every cell is as declared.
    expect(up.stdout).toMatch(/verifying isolation with real packets/);

    const status = await demo(['status', '--json']);
    expect(status.code).toBe(0);
    const doc = JSON.parse(status.stdout) as StatusDocument;
    expect(doc.domains.map((d) => d.name).sort()).toEqual(['demo-ai', 'demo-lab', 'demo-work']);
    expect(doc.firewall.state).toBe('InSync');
    expect(doc.aiAccess.holder).toBe('demo-work');
    expect((await demoObjects()).length).toBe(10);

    // A second up changes nothing, is still Ready, and verify proves every pair as declared.
    const again = await demo(['up', '--json']);
    expect(again.code).toBe(0);
    const second = JSON.parse(again.stdout) as { status: StatusDocument; verify: VerifyReport };
    expect(second.status.domains.every((d) => d.conditions.some((c) => c.type === 'Ready' && c.status))).toBe(true);
    expect(second.verify.ok).toBe(true);
    expect(second.verify.notVerifiable).toEqual([]);
    expect(second.verify.domains).toEqual(expect.arrayContaining(['demo-work', 'demo-lab', 'demo-ai']));
    expect(second.verify.cells.every((c) => c.verdict === 'expected')).toBe(true);
    // The policy demo-work → demo-ai:11434 passes; demo-lab reaches nothing.
    const probe = (from: string, to: string) => second.verify.cells.find((c) => c.from === from && c.to === to)?.probes ?? [];
    expect(probe('demo-work', 'demo-ai').some((x) => x.port === 11434 && x.observed === 'pass')).toBe(true);
    expect(probe('demo-lab', 'demo-work').every((x) => x.observed === 'block')).toBe(true);

    const down = await demo(['down']);
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/The demo is gone: \d+ objects removed, no object of anklume-demo left in Incus, firewall removed\./);
    expect(await demoObjects()).toEqual([]);
    expect(firewallTablePresent()).toBe(false);
    expect(existsSync(demoDir)).toBe(false);

    // Down again: nothing left to remove, still a success.
    const twice = await demo(['down', '--json']);
    expect(twice.code).toBe(0);
    expect(JSON.parse(twice.stdout)).toMatchObject({ removed: 0, remaining: [], firewall: 'absent' });
  });
});
