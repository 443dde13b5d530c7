import { chmod, close, constants, fchmod, ftruncate, mkdir, open, read, write } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { AnklumeError } from './errors.js';

/**
 * One writer at a time on the host (DESIGN.md §8): anklumed holds this lock
 * for as long as it runs, a direct `anklumectl apply` or `switch-ai` while it
 * acts. The lock is flock(2) on a file: the kernel releases it when the holder's
 * descriptor closes, so a holder that crashes or is killed (SIGKILL, OOM) never
 * leaves it behind. After taking it the holder writes "<pid> <purpose>" into
 * the file; that text only names the holder in messages, it never decides who
 * holds the lock (a pid file as a lock races between create and write, and
 * outlives its process). The file is never removed: a second writer would
 * lock a new file of the same name while the first still holds the old one.
 *
 * flock comes from fs-ext (a small native binding of flock/fcntl that Node
 * services use, built with node-gyp at install). Node has no flock of its own;
 * a child `flock(1)` process would hold the lock in another process, whose
 * death or survival would no longer follow ours.
 */

const openAsync = promisify(open);
const closeAsync = promisify(close);
const readAsync = promisify(read);
const writeAsync = promisify(write);
const ftruncateAsync = promisify(ftruncate);
const fchmodAsync = promisify(fchmod);
const mkdirAsync = promisify(mkdir);
const chmodAsync = promisify(chmod);

/** Who holds the lock, as the holder wrote it into the file: for messages only. */
export interface LockHolder {
  readonly pid: number;
  readonly purpose: string;
}

/** "pid 1234 (anklumectl apply)", or why nobody is named. */
export function describeHolder(holder: LockHolder | undefined): string {
  return holder === undefined ? 'a process that has not written its name yet' : `pid ${holder.pid} (${holder.purpose})`;
}

/** The lock is held by another writer (another process, or another descriptor of this one). */
export class WriterLockedError extends AnklumeError {
  readonly path: string;
  readonly holder: LockHolder | undefined;

  constructor(path: string, holder: LockHolder | undefined, options: { waitedMs?: number } = {}) {
    const holds = options.waitedMs === undefined ? `holds ${path}` : `still holds ${path} after ${Number((options.waitedMs / 1000).toFixed(1))} s`;
    super('LOCKED', `another anklume writer ${holds}: ${describeHolder(holder)}; wait for it or stop it`);
    this.path = path;
    this.holder = holder;
  }
}

/** The lock file cannot be created, opened or locked at all (permissions, a file system without flock). */
export class WriterLockError extends AnklumeError {
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('LOCK_FAILED', `cannot take the writer lock ${path}: ${message}`, options);
    this.path = path;
  }
}

/** A held lock. Keep a reference for as long as you write: it is released by release() or by the process ending. */
export interface WriterLock {
  readonly path: string;
  /** Give the lock back (idempotent). */
  release(): Promise<void>;
}

export interface AcquireWriterLockOptions {
  /** false: refuse at once when held; true: wait as long as it takes; or wait at most timeoutMs. */
  readonly wait: boolean | { readonly timeoutMs: number };
  /** Written into the file after the pid, to name this holder in others' messages ("anklumed", "anklumectl apply"). */
  readonly purpose: string;
  /** Called once, when the lock is found held and we start waiting (this module prints nothing). */
  readonly onWait?: (holder: LockHolder | undefined) => void;
  /** Stops waiting (the promise rejects with the signal's reason). */
  readonly signal?: AbortSignal;
  /** Time between two tries while waiting. Default 100 ms. */
  readonly pollMs?: number;
}

type Flock = (fd: number, flags: 'exnb' | 'un') => void;

/** The binding is loaded when a lock is first taken: commands that never write do not need the native addon. */
let flockSync: Promise<Flock> | undefined;
function loadFlock(path: string): Promise<Flock> {
  flockSync ??= import('fs-ext').then(
    (m) => m.flockSync as Flock,
    (err: unknown) => {
      flockSync = undefined;
      throw new WriterLockError(path, 'the flock binding (npm package fs-ext) is not built; run `npm rebuild fs-ext`', { cause: err });
    },
  );
  return flockSync;
}

/** Parse "<pid> <purpose>" as a holder wrote it; anything else names nobody. */
export function parseHolder(text: string): LockHolder | undefined {
  const match = /^(\d+) ([^\n]*)\n?$/.exec(text);
  if (match === null) return undefined;
  const pid = Number(match[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? { pid, purpose: match[2] ?? '' } : undefined;
}

async function readHolderFd(fd: number): Promise<LockHolder | undefined> {
  const buffer = Buffer.alloc(512);
  const { bytesRead } = await readAsync(fd, buffer, 0, buffer.length, 0).catch(() => ({ bytesRead: 0 }));
  return parseHolder(buffer.subarray(0, bytesRead).toString('utf8'));
}

/** Who the lock file names (it may be stale: only flock says whether anyone holds the lock). */
export async function readLockHolder(path: string): Promise<LockHolder | undefined> {
  const fd = await openAsync(path, constants.O_RDONLY).catch(() => undefined);
  if (fd === undefined) return undefined;
  try {
    return await readHolderFd(fd);
  } finally {
    await closeAsync(fd).catch(() => undefined);
  }
}

function isBusy(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
}

/**
 * Take the host's writer lock at `path` (its directory is created 0755, the
 * file 0644). Busy and not waiting: WriterLockedError (code LOCKED) naming the
 * holder. Waiting never blocks the event loop: a blocking flock would hold a
 * libuv pool thread until the holder leaves and could not be given up on a
 * timeout, so we try LOCK_EX|LOCK_NB again every pollMs instead.
 */
export async function acquireWriterLock(path: string, options: AcquireWriterLockOptions): Promise<WriterLock> {
  const flock = await loadFlock(path);
  const purpose = options.purpose.replace(/\s+/g, ' ').trim();
  const pollMs = options.pollMs ?? 100;
  const started = performance.now();
  const deadline = options.wait === false ? started : options.wait === true ? Infinity : started + options.wait.timeoutMs;

  try {
    // 0755 whatever the umask: the directory (/run/anklume) also holds anklumed's control socket, which its group must reach.
    const first = await mkdirAsync(dirname(path), { recursive: true, mode: 0o755 });
    for (let d = dirname(path); first !== undefined && d.startsWith(first); d = dirname(d)) await chmodAsync(d, 0o755);
  } catch (err) {
    throw new WriterLockError(path, `cannot create its directory (${(err as Error).message})`, { cause: err });
  }
  let fd: number;
  try {
    // Not O_TRUNC: the holder's name stays until we hold the lock. libuv opens every file O_CLOEXEC, so
    // processes we spawn (nft, ...) never inherit the descriptor and cannot keep the lock after we die.
    fd = await openAsync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? '; run as root, or point --lock (ANKLUME_LOCK) at a file you may write' : '';
    throw new WriterLockError(path, `${(err as Error).message}${hint}`, { cause: err });
  }

  try {
    let announced = false;
    for (;;) {
      try {
        flock(fd, 'exnb');
        break;
      } catch (err) {
        if (!isBusy(err)) throw new WriterLockError(path, `flock failed (${(err as Error).message})`, { cause: err });
      }
      const holder = await readHolderFd(fd);
      const now = performance.now();
      if (now >= deadline) throw new WriterLockedError(path, holder, options.wait === false ? {} : { waitedMs: now - started });
      if (!announced) {
        announced = true;
        options.onWait?.(holder);
      }
      await sleep(Math.min(pollMs, deadline - now), undefined, options.signal === undefined ? {} : { signal: options.signal });
    }
    // Ours now: name ourselves (truncate first, so a shorter line leaves nothing of the last holder's).
    await ftruncateAsync(fd, 0);
    await writeAsync(fd, `${process.pid} ${purpose}\n`, 0, 'utf8');
    // Readable by every user, whatever the umask (the daemon's is 0027): anyone may learn who writes.
    await fchmodAsync(fd, 0o644).catch(() => undefined);
  } catch (err) {
    await closeAsync(fd).catch(() => undefined);
    throw err;
  }

  let released = false;
  return {
    path,
    async release(): Promise<void> {
      if (released) return;
      released = true;
      // Still ours while we clear our name; closing the last descriptor would unlock anyway.
      await ftruncateAsync(fd, 0).catch(() => undefined);
      try {
        flock(fd, 'un');
      } finally {
        await closeAsync(fd).catch(() => undefined);
      }
    },
  };
}
