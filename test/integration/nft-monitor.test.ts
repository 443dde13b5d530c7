import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NftMonitor } from '../../src/firewall/monitor.js';
import { nftInNamespace } from '../helpers/fake-nft.js';
import { waitFor } from '../helpers/incus.js';

// The monitor against a real nft, in a network namespace of the test's own (the host's table is never touched).
const ns = `ak-mon-${process.pid}`;
let dir: string;
let nftBinary: string;
const nftIn = (...args: string[]): string => execFileSync('ip', ['netns', 'exec', ns, 'nft', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const pidsInNs = (): string => execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).trim();

function capturingLogger(): { logger: pino.Logger; lines: () => { level: number; msg: string }[] } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  return { logger, lines: () => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { level: number; msg: string }) };
}

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', ns]);
  dir = mkdtempSync(join(tmpdir(), 'anklume-nft-monitor-'));
  nftBinary = nftInNamespace(dir, ns);
  nftIn('add', 'table', 'inet', 'anklume');
});

afterAll(() => {
  execFileSync('ip', ['netns', 'delete', ns]);
  rmSync(dir, { recursive: true, force: true });
});

describe('NftMonitor with a real nft', () => {
  it('tells of every change of inet anklume, not of other tables, and its nft ends with stop', async () => {
    let changes = 0;
    const { logger } = capturingLogger();
    const monitor = new NftMonitor({ binary: nftBinary, onChange: () => changes++, logger });
    monitor.start();
    try {
      // Once at start: what changed before it was not seen.
      await waitFor('the start notice', () => Promise.resolve(changes >= 1 ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 });
      // nft subscribes a moment after it starts: change the table until a change is told.
      let chain = 0;
      await waitFor('a change told', () => {
        nftIn('add', 'chain', 'inet', 'anklume', `c${++chain}`);
        return Promise.resolve(changes >= 2 ? true : undefined);
      }, { timeoutMs: 5_000, intervalMs: 100 });
      await new Promise((r) => setTimeout(r, 300));
      const before = changes;
      nftIn('add', 'table', 'inet', 'other');
      nftIn('add', 'chain', 'inet', 'other', 'x');
      nftIn('add', 'chain', 'inet', 'anklume', 'last');
      await waitFor('the anklume change told', () => Promise.resolve(changes > before ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 });
      await new Promise((r) => setTimeout(r, 300));
      expect(changes).toBe(before + 1);
      // A flush by hand: each rule and chain deleted is a change.
      nftIn('flush', 'table', 'inet', 'anklume');
      nftIn('delete', 'table', 'inet', 'anklume');
      await waitFor('the deletion told', () => Promise.resolve(changes > before + 1 ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 });
      expect(pidsInNs()).not.toBe('');
    } finally {
      monitor.stop();
    }
    await waitFor('its nft gone', () => Promise.resolve(pidsInNs() === '' ? true : undefined), { timeoutMs: 5_000, intervalMs: 50 });
    const after = changes;
    nftIn('add', 'table', 'inet', 'anklume');
    await new Promise((r) => setTimeout(r, 300));
    expect(changes).toBe(after);
  });

  it('an nft that ends is started again with backoff, warned of once, and each start is told', async () => {
    const calls = join(dir, 'calls');
    writeFileSync(calls, '');
    const failing = join(dir, 'nft-failing');
    writeFileSync(failing, `#!/bin/sh\necho "$*" >> ${calls}\necho "Error: cannot open netlink socket: Operation not permitted" >&2\nexit 1\n`);
    chmodSync(failing, 0o755);
    let changes = 0;
    const { logger, lines } = capturingLogger();
    const monitor = new NftMonitor({ binary: failing, onChange: () => changes++, logger, backoff: { baseMs: 20, capMs: 80 } });
    monitor.start();
    const runs = (): number => readFileSync(calls, 'utf8').split('\n').filter((l) => l === '-j monitor ruleset').length;
    await waitFor('four starts', () => Promise.resolve(runs() >= 4 ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    monitor.stop();
    const stoppedAt = runs();
    await new Promise((r) => setTimeout(r, 300));
    expect(runs()).toBe(stoppedAt);
    expect(changes).toBeGreaterThanOrEqual(4);
    const warnings = lines().filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ msg: expect.stringContaining('nft monitor ended') as string, stderr: 'Error: cannot open netlink socket: Operation not permitted', code: 1 });
  });

  it('a binary that cannot be run is retried the same way', async () => {
    const { logger, lines } = capturingLogger();
    const monitor = new NftMonitor({ binary: join(dir, 'no-such-nft'), onChange: () => undefined, logger, backoff: { baseMs: 20, capMs: 40 } });
    monitor.start();
    await waitFor('three ends', () => Promise.resolve(lines().filter((l) => l.msg.startsWith('nft monitor ended')).length >= 3 ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    monitor.stop();
    expect(lines()[0]).toMatchObject({ level: 40, stderr: expect.stringContaining('ENOENT') as string });
  });
});
