import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncusClient } from '../../src/incus/index.js';
import { startDaemon, tearDown, waitAllReady, type RunningDaemon } from '../helpers/daemon.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, shortPrefix, testClient, waitFor, writeTemp } from '../helpers/incus.js';
import { verifyReport } from '../helpers/status-doc.js';

// Debian's Chromium (scripts/browser-setup.sh); puppeteer-core brings no browser of its own.
const CHROMIUM = process.env['ANKLUME_CHROMIUM'] || '/usr/bin/chromium';

const p = shortPrefix();
const octet = freeSecondOctet();
const [A, B, C] = [`${p}-a`, `${p}-b`, `${p}-c`];
const infraName = `${p}-page`;
const STOPPED = `${A}1`;

const infra = `project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
domains:
  ${A}:
    subnet_id: 1
    ephemeral: true
    machines:
      ${A}1: {}
      ${A}2: {}
  ${B}:
    subnet_id: 2
    ephemeral: true
    machines:
      ${B}1: {}
  ${C}:
    subnet_id: 3
    ephemeral: true
    machines:
      ${C}1: {}
network_policies:
  - { from: ${A}, to: ${B}, ports: [22], protocol: tcp }
`;

let client: IncusClient;
let daemon: RunningDaemon | undefined;
let browser: Browser | undefined;
let base = '';
let shots = '';
let livePage: Page;
let navigations = 0;

/** The state each swap of the page's fragment showed for one instance, with the page's clock. */
interface Seen {
  readonly state: string;
  readonly at: number;
}

/**
 * The little of the browser's globals the in-page functions use: this file
 * compiles without the DOM library (it would retype fetch for every test).
 * Casts only: these functions run in the page, where the real ones are.
 */
interface InPageElement {
  readonly textContent: string | null;
  readonly className: string;
  getAttribute(name: string): string | null;
  querySelectorAll(selector: string): Iterable<InPageElement>;
}

interface InPage {
  readonly document: {
    getElementById(id: string): { textContent: string | null } | null;
    querySelector(selector: string): { textContent: string | null } | null;
    querySelectorAll(selector: string): { readonly length: number };
  };
  getComputedStyle(element: unknown): { backgroundColor: string };
  readonly MutationObserver: new (callback: () => void) => { observe(target: unknown, options: { childList: boolean }): void };
  seen: Seen[];
  marker?: string;
}

beforeAll(async () => {
  client = testClient();
  const infraFile = writeTemp('infra.yml', infra);
  const dir = dirname(infraFile);
  shots = mkdtempSync(join(tmpdir(), 'anklume-page-'));
  // The daemon's own verify (--verify-every) is built elsewhere: this report stands in for its last run.
  const report = verifyReport([A, B, C], { [`${C}>${A}`]: 'not-verifiable', [`${B}>${A}`]: 'unexpected' });
  writeFileSync(join(dir, 'verify.json'), JSON.stringify(report));
  daemon = startDaemon(['--config', infraFile, '--resync', '0 0 1 1 *', '--web', '127.0.0.1:0', '--verify-report', join(dir, 'verify.json'), '--lock', join(dir, 'anklume.lock')], join(dir, 'anklumed.sock'), { INCUS_SOCKET, ANKLUME_STATE_DIR: dir });
  const started = daemon;
  const address = await waitFor('the status page address in the log', () => Promise.resolve(/"address":"(127\.0\.0\.1:\d+)","msg":"status page served at \/"/.exec(started.log())?.[1]), { timeoutMs: 30_000 });
  base = `http://${address}`;
  await waitAllReady(started.socket, { timeoutMs: 180_000 });
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
});

afterAll(async () => {
  try {
    await browser?.close();
    rmSync(shots, { recursive: true, force: true });
  } finally {
    await tearDown(client, { daemon, infraName, prefix: p });
  }
});

describe('the status page in a real browser, against anklumed on a real Incus', () => {
  it('shows every domain, its instances and the verify grid, live, in a screenshot', async () => {
    if (browser === undefined) throw new Error('no browser');
    livePage = await browser.newPage();
    await livePage.setViewport({ width: 1280, height: 900 });
    await livePage.goto(`${base}/`, { waitUntil: 'load' });
    livePage.on('framenavigated', (frame) => {
      if (frame === livePage.mainFrame()) navigations++;
    });
    // The event stream is open: the script says so.
    await livePage.waitForFunction(() => (globalThis as unknown as InPage).document.getElementById('live')?.textContent === 'live', { timeout: 15_000 });

    const domains = await livePage.$$eval('[data-domain]', (els) => (els as unknown as InPageElement[]).map((e) => e.getAttribute('data-domain')));
    expect(domains).toEqual([A, B, C]);
    const instances = await livePage.$$eval('[data-instance]', (els) => (els as unknown as InPageElement[]).map((e) => e.getAttribute('data-instance')));
    expect(instances.sort()).toEqual([`${A}/${A}1`, `${A}/${A}2`, `${B}/${B}1`, `${C}/${C}1`]);
    const cells = await livePage.$$eval('#verify table.grid td.cell', (els) => (els as unknown as InPageElement[]).map((e) => ({ from: e.getAttribute('data-from'), to: e.getAttribute('data-to'), colour: (globalThis as unknown as InPage).getComputedStyle(e).backgroundColor, title: e.getAttribute('title') ?? '' })));
    expect(cells).toHaveLength(9);
    const colour = (from: string, to: string): string | undefined => cells.find((c) => c.from === from && c.to === to)?.colour;
    expect(colour(A, B)).toBe('rgb(26, 127, 55)'); // green: expected
    expect(colour(B, A)).toBe('rgb(207, 34, 46)'); // red: unexpected
    expect(colour(C, A)).toBe('rgb(110, 119, 129)'); // grey: not verifiable
    expect(cells.find((c) => c.from === B && c.to === A)?.title).toContain(`${B}/${B}1 → ${A}/${A}1 tcp`);
    for (const id of ['summary', 'domains', 'firewall', 'ai-access', 'sanitizer', 'verify']) expect(await livePage.$(`section#${id}`), id).not.toBeNull();

    const file = join(shots, 'status-page.png');
    await livePage.screenshot({ path: file, fullPage: true });
    const png = readFileSync(file);
    expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
    expect(png.length).toBeGreaterThan(10_000);
    const html = await (await fetch(`${base}/`)).text();
    console.log(`status page: ${Buffer.byteLength(html)} bytes of HTML, screenshot ${png.length} bytes at ${file}`);
  });

  it('changes an instance row within seconds of `incus stop`, without a reload', async () => {
    const row = `${A}/${STOPPED}`;
    // Every swap of the fragment records the row's state, so a short-lived one is seen too.
    await livePage.evaluate((instance) => {
      const w = globalThis as unknown as InPage;
      w.marker = 'same document';
      w.seen = [];
      const read = (): string => w.document.querySelector(`[data-instance="${instance}"] .state`)?.textContent ?? 'gone';
      new w.MutationObserver(() => w.seen.push({ state: read(), at: Date.now() })).observe(w.document.getElementById('status'), { childList: true });
    }, row);
    const before = await livePage.$eval(`[data-instance="${row}"] .state`, (e) => (e as unknown as InPageElement).textContent);
    expect(before).toBe('Running');

    const stopAt = Date.now();
    execFileSync('incus', ['stop', '--project', A, STOPPED], { env: { ...process.env, INCUS_SOCKET }, timeout: 60_000 });
    const stoppedAt = Date.now();
    const seen = (): Promise<Seen[]> => livePage.evaluate(() => (globalThis as unknown as InPage).seen);
    const change = await waitFor('the row to leave Running', async () => (await seen()).find((s) => s.state !== 'Running'), { timeoutMs: 15_000, intervalMs: 100 });
    expect(change.state).toBe('Stopped');
    console.log(`row changed ${change.at - stoppedAt} ms after incus stop returned (${change.at - stopAt} ms after it was issued)`);
    // The daemon starts it again (infra.yml wants it running): that shows too.
    await waitFor('the row back to Running', async () => ((await seen()).some((s, i, all) => s.state === 'Running' && all.slice(0, i).some((x) => x.state === 'Stopped')) ? true : undefined), { timeoutMs: 60_000, intervalMs: 200 });

    expect(navigations).toBe(0);
    expect(await livePage.evaluate(() => (globalThis as unknown as InPage).marker)).toBe('same document');
  });

  it('shows the same content with JavaScript off (server-rendered, reloading by itself)', async () => {
    if (browser === undefined || daemon === undefined) throw new Error('no browser');
    await waitAllReady(daemon.socket, { timeoutMs: 60_000 });
    const rows = (page: Page): Promise<string[]> => page.$$eval('[data-object]', (els) => (els as unknown as InPageElement[]).map((e) => [...e.querySelectorAll('td')].slice(0, 5).map((td) => td.textContent).join(' | ')));
    const grid = (page: Page): Promise<string[]> => page.$$eval('#verify td.cell', (els) => (els as unknown as InPageElement[]).map((e) => `${e.getAttribute('data-from')}>${e.getAttribute('data-to')}:${e.className}`));
    // The live page has caught up with the daemon (every row Ready) before it is compared.
    await livePage.waitForFunction((n) => (globalThis as unknown as InPage).document.querySelectorAll('[data-object] .badge.good').length === n, { timeout: 30_000 }, (await rows(livePage)).length);

    const noScript = await browser.newPage();
    await noScript.setJavaScriptEnabled(false);
    await noScript.goto(`${base}/`, { waitUntil: 'load' });
    expect(await noScript.$eval('#live', (e) => (e as unknown as InPageElement).textContent)).toBe('reloads every 10 s');
    // Without scripting, <noscript> holds a real refresh; with it, none.
    expect(await noScript.$('meta[http-equiv="refresh"]')).not.toBeNull();
    expect(await livePage.$('meta[http-equiv="refresh"]')).toBeNull();
    expect(await noScript.$$eval('[data-domain]', (els) => (els as unknown as InPageElement[]).map((e) => e.getAttribute('data-domain')))).toEqual([A, B, C]);
    expect(await rows(noScript)).toEqual(await rows(livePage));
    expect(await grid(noScript)).toEqual(await grid(livePage));
    await noScript.close();
  });

  it('is read-only: POST is refused with 405', async () => {
    const res = await fetch(`${base}/`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(405);
  });
});
