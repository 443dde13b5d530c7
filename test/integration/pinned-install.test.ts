import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPinnedSet, loadPinnedSet, type PinnedSet } from '../../src/controllers/service/pinned-install.js';

// The host installer with the real npm client against a package registry on
// loopback (this test's own HTTP server): the committed lockfile's integrity
// is what decides, install scripts stay off, two installers take turns.

const root = mkdtempSync(join(tmpdir(), 'anklume-pinned-'));
const PKG = 'anklume-pin-test';
const scriptMarker = join(root, 'install-script-ran');

/** npm pack of a package whose install script would leave a marker, and whose `real.sh` prints `text`. */
function pack(name: string, text: string): Buffer {
  const dir = join(root, `src-${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: PKG, version: '1.0.0', scripts: { install: `touch ${scriptMarker}` } }));
  writeFileSync(join(dir, 'real.sh'), `#!/bin/sh\necho ${text}\n`, { mode: 0o755 });
  const file = execFileSync('npm', ['pack', '--silent', '--pack-destination', root], { cwd: dir, encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  const renamed = join(root, `${name}.tgz`);
  execFileSync('mv', [join(root, file), renamed]);
  return readFileSync(renamed);
}

let good: Buffer;
let served: Buffer;
let tarballRequests = 0;
/** Held until released: the first install is still downloading while the second one arrives. */
let gate: Promise<void> = Promise.resolve();
let server: http.Server;
let registry = '';

beforeAll(async () => {
  good = pack('good', 'ok');
  served = good;
  server = http.createServer((req, res) => {
    void (async () => {
      if (req.url === `/${PKG}`) {
        const integrity = `sha512-${createHash('sha512').update(good).digest('base64')}`;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ name: PKG, 'dist-tags': { latest: '1.0.0' }, versions: { '1.0.0': { name: PKG, version: '1.0.0', dist: { tarball: `${registry}${PKG}/-/${PKG}-1.0.0.tgz`, integrity } } } }));
        return;
      }
      if (req.url === `/${PKG}/-/${PKG}-1.0.0.tgz`) {
        tarballRequests++;
        await gate;
        res.setHeader('content-type', 'application/octet-stream');
        res.end(served);
        return;
      }
      res.statusCode = 404;
      res.end('{}');
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  registry = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  // The committed pinned set, made the way deploy/pins/ is: package.json with an exact version, its lockfile from npm.
  const pins = join(root, 'pins', 'test-1.0.0');
  mkdirSync(pins, { recursive: true });
  writeFileSync(join(pins, 'package.json'), JSON.stringify({ name: 'pin', private: true, dependencies: { [PKG]: '1.0.0' } }));
  // Not execFileSync: the registry answering npm is on this event loop.
  await promisify(execFile)('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund', `--registry=${registry}`, `--cache=${join(root, 'lock-cache')}`], { cwd: pins });
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

function set(cacheRoot: string): PinnedSet {
  return loadPinnedSet('test-1.0.0', { cacheRoot, pinsRoot: join(root, 'pins'), copies: [{ from: `node_modules/${PKG}/real.sh`, to: 'bin/run' }], check: ['bin/run'] });
}
/** A fresh npm cache each time: a cached tarball would never be downloaded again. */
function npmEnv(): Record<string, string> {
  // No retries: npm downloads a tarball that fails its integrity again, with backoff.
  return { npm_config_registry: registry, npm_config_cache: mkdtempSync(join(root, 'npm-cache-')), npm_config_fetch_retries: '0' };
}

describe('installing a pinned npm set on the host', { timeout: 60_000 }, () => {
  it('a second install waits for the first, which downloads once; scripts stay off, copies and the check are done, the stamp is last', async () => {
    const cache = join(root, 'cache-ok');
    const s = set(cache);
    let release = (): void => undefined;
    gate = new Promise((r) => (release = r));
    const said: string[] = [];
    const first = installPinnedSet(s, { env: npmEnv(), progress: (m) => said.push(`1 ${m}`) });
    // The first holds the lock (it is downloading) before the second starts.
    while (tarballRequests === 0) await new Promise((r) => setTimeout(r, 20));
    let secondSawWait: () => void = () => undefined;
    const waited = new Promise<void>((r) => (secondSawWait = r));
    const second = installPinnedSet(s, { env: npmEnv(), progress: (m) => { said.push(`2 ${m}`); if (m.includes('waiting')) secondSawWait(); } });
    await waited;
    release();
    await Promise.all([first, second]);
    expect(tarballRequests).toBe(1);
    expect(said).toContain('2 test-1.0.0: another install of it is under way; waiting for it');
    expect(said.filter((m) => m.includes('npm ci'))).toEqual(['1 test-1.0.0: npm ci --ignore-scripts from the committed lockfile']);
    expect(readFileSync(join(s.dir, '.complete'), 'utf8')).toBe(`${s.stamp}\n`);
    expect(execFileSync(join(s.dir, 'bin/run'), { encoding: 'utf8' })).toBe('ok\n');
    expect(existsSync(scriptMarker)).toBe(false);
    expect(readdirSync(cache).sort()).toEqual([`${s.dir.split('/').pop() ?? ''}`, `${s.dir.split('/').pop() ?? ''}.lock`]);
  });

  it('a tarball that does not match the lockfile\'s integrity fails, saying so, and leaves no folder behind', async () => {
    const cache = join(root, 'cache-tampered');
    served = pack('tampered', 'pwned');
    gate = Promise.resolve();
    try {
      const s = set(cache);
      await expect(installPinnedSet(s, { env: npmEnv() })).rejects.toThrow(/test-1\.0\.0: a downloaded tarball does not match the integrity in .*package-lock\.json: refused, nothing installed/);
      expect(readdirSync(cache)).toEqual([`${s.dir.split('/').pop() ?? ''}.lock`]);
      expect(existsSync(scriptMarker)).toBe(false);
    } finally {
      served = good;
    }
  });

  it('a failing check leaves no folder either', async () => {
    const cache = join(root, 'cache-check');
    const s = { ...set(cache), check: ['bin/run-missing'] };
    await expect(installPinnedSet(s, { env: npmEnv() })).rejects.toThrow(/test-1\.0\.0: ".*bin\/run-missing" failed/);
    expect(readdirSync(cache)).toEqual([`${s.dir.split('/').pop() ?? ''}.lock`]);
  });

  it('refuses a set with a range, one whose lockfile lacks a package, and a set that is not committed', () => {
    const pins = join(root, 'pins');
    mkdirSync(join(pins, 'range'), { recursive: true });
    writeFileSync(join(pins, 'range', 'package.json'), JSON.stringify({ dependencies: { [PKG]: '^1.0.0' } }));
    writeFileSync(join(pins, 'range', 'package-lock.json'), readFileSync(join(pins, 'test-1.0.0', 'package-lock.json')));
    expect(() => loadPinnedSet('range', { cacheRoot: root, pinsRoot: pins, check: [] })).toThrow(/asks anklume-pin-test@\^1\.0\.0: only exact versions are pinned/);
    mkdirSync(join(pins, 'unlocked'), { recursive: true });
    writeFileSync(join(pins, 'unlocked', 'package.json'), JSON.stringify({ dependencies: { other: '1.0.0' } }));
    writeFileSync(join(pins, 'unlocked', 'package-lock.json'), readFileSync(join(pins, 'test-1.0.0', 'package-lock.json')));
    expect(() => loadPinnedSet('unlocked', { cacheRoot: root, pinsRoot: pins, check: [] })).toThrow(/does not hold other@1\.0\.0 with its integrity/);
    expect(() => loadPinnedSet('absent', { cacheRoot: root, pinsRoot: pins, check: [] })).toThrow(/pinned set absent has no readable package\.json/);
  });
});
