import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_INFRA_NAME } from '../../src/cli/demo-infra.js';
import type { StatusDocument } from '../../src/controllers/status.js';
import type { VerifyReport } from '../../src/shared/verify-report.js';
import type { IncusClient } from '../../src/incus/index.js';
import { MARK, ownership } from '../../src/reconcile/ownership.js';
import { runBin } from '../helpers/cli.js';
import { startDaemon, stopDaemon, waitAllReady } from '../helpers/daemon.js';
import { INCUS_SOCKET, shortPrefix, testClient, waitFor } from '../helpers/incus.js';

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

/** The little of the page's globals used in the browser (this file compiles without the DOM library). */
interface InPage {
  readonly document: { querySelector(selector: string): { textContent: string | null } | null; getElementById(id: string): unknown };
  readonly MutationObserver: new (callback: () => void) => { observe(target: unknown, options: { childList: boolean }): void };
  seen: string[];
}
type InPageElement = { getAttribute(name: string): string | null };

/**
 * What a newcomer looks at after `demo up`: anklumed on the demo's infra.yml
 * with its status page and its own verify, in headless Chromium. The page
 * shows every demo domain and the verify grid; an instance stopped by hand
 * changes its row without a reload.
 */
async function watchDemoInBrowser(): Promise<void> {
  const state = join(demoDir, 'state');
  const daemon = startDaemon(
    ['--config', join(demoDir, 'infra.yml'), '--web', '127.0.0.1:0', '--verify-every', '10m', '--resync', '0 0 1 1 *', '--lock', join(stateDir, 'anklume.lock')],
    join(stateDir, 'anklumed.sock'),
    { INCUS_SOCKET, ANKLUME_STATE_DIR: state, ANKLUME_AI_STATE_FILE: join(state, 'ai-access-current'), ANKLUME_AI_SWITCH_LOG: join(state, 'ai-switch.log') },
  );
  let browser: Browser | undefined;
  try {
    const address = await waitFor('the status page address in the log', () => Promise.resolve(/"address":"(127\.0\.0\.1:\d+)","msg":"status page served at \/"/.exec(daemon.log())?.[1]), { timeoutMs: 30_000 });
    // The daemon's own verify has run: every cell of the demo as declared.
    const status = await waitAllReady(daemon.socket, { timeoutMs: 120_000, also: (s) => s.verify !== undefined && s.verify !== null });
    expect(status.verify?.ok).toBe(true);

    browser = await puppeteer.launch({ executablePath: process.env['ANKLUME_CHROMIUM'] || '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    let navigations = 0;
    await page.goto(`http://${address}/`, { waitUntil: 'load' });
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations++;
    });
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelector('#live')?.textContent === 'live', { timeout: 15_000 });
    const domains = await page.$$eval('[data-domain]', (els) => (els as unknown as InPageElement[]).map((e) => e.getAttribute('data-domain')));
    expect(domains).toEqual(['demo-work', 'demo-lab', 'demo-ai']);
    // Every cell the daemon's verify measured is drawn, as declared (the diagonal is drawn too, as not probed).
    const verdicts = await page.$$eval('#verify table.grid td.cell[data-verdict]', (els) => (els as unknown as InPageElement[]).map((e) => e.getAttribute('data-verdict')));
    expect(verdicts.length).toBe(status.verify?.cells.length);
    expect(verdicts.every((v) => v === 'expected')).toBe(true);
    const shot = join(stateDir, 'demo-status-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');

    // An instance stopped by hand: its row changes, live.
    const row = 'demo-lab/demo-lab-box';
    await page.evaluate((instance) => {
      const w = globalThis as unknown as InPage;
      w.seen = [];
      new w.MutationObserver(() => w.seen.push(w.document.querySelector(`[data-instance="${instance}"] .state`)?.textContent ?? 'gone')).observe(w.document.getElementById('status'), { childList: true });
    }, row);
    execFileSync('incus', ['stop', '--project', 'demo-lab', 'demo-lab-box'], { env: { ...process.env, INCUS_SOCKET }, timeout: 60_000 });
    await waitFor('the row to show the instance stopped', async () => ((await page.evaluate(() => (globalThis as unknown as InPage).seen)).includes('Stopped') ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 });
    expect(navigations).toBe(0);
    // The daemon starts it again: infra.yml wants it running.
    await waitAllReady(daemon.socket, { timeoutMs: 120_000 });
  } finally {
    await browser?.close();
    await stopDaemon(daemon);
  }
}

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

    await watchDemoInBrowser();

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
