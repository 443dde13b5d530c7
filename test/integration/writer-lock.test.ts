import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { acquireWriterLock, readLockHolder, WriterLockedError, type WriterLock } from '../../src/shared/writer-lock.js';
import { startLockProcess, type LockProcess } from '../helpers/lock-process.js';

// Real flock(2) between real processes: each holder is its own Node process.
const dir = mkdtempSync(join(tmpdir(), 'anklume-writer-lock-'));
let n = 0;
const lockPath = (): string => join(dir, `case-${++n}`, 'anklume.lock');

const started: LockProcess[] = [];
const held: WriterLock[] = [];
function holder(path: string, purpose: string, options: Parameters<typeof startLockProcess>[2] = {}): LockProcess {
  const p = startLockProcess(path, purpose, options);
  started.push(p);
  return p;
}

afterEach(async () => {
  for (const p of started.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  for (const lock of held.splice(0)) await lock.release();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the writer lock between processes', () => {
  it('refuses a second process at once, naming the first one\'s pid and purpose', async () => {
    const path = lockPath();
    const first = holder(path, 'anklumectl apply');
    expect(await first.next()).toEqual({ locked: first.pid });

    const second = holder(path, 'second');
    expect(await second.next()).toEqual({
      code: 'LOCKED',
      message: `another anklume writer holds ${path}: pid ${first.pid} (anklumectl apply); wait for it or stop it`,
    });
    expect(await second.exited).toBe(1);
    // The refused one wrote nothing: the file still names the holder.
    expect(readFileSync(path, 'utf8')).toBe(`${first.pid} anklumectl apply\n`);
  });

  it('lets a waiting process in once the holder releases, and the file then names it', async () => {
    const path = lockPath();
    const first = holder(path, 'first');
    await first.next();
    const second = holder(path, 'second', { mode: 10_000 });
    expect(await second.next()).toEqual({ waiting: { pid: first.pid, purpose: 'first' } });

    await first.release();
    expect(await second.next()).toEqual({ locked: second.pid });
    expect(readFileSync(path, 'utf8')).toBe(`${second.pid} second\n`);
  });

  it('lets a waiting process in once the holder exits without releasing', async () => {
    const path = lockPath();
    const first = holder(path, 'first');
    await first.next();
    const second = holder(path, 'second', { mode: 10_000 });
    expect(await second.next()).toMatchObject({ waiting: { pid: first.pid } });

    first.child.kill('SIGTERM');
    await first.exited;
    expect(await second.next()).toEqual({ locked: second.pid });
  });

  it('is released by the kernel when the holder is killed with SIGKILL, though its pid is still in the file', async () => {
    const path = lockPath();
    const first = holder(path, 'killed');
    await first.next();
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    // Nothing cleaned up after it: the file still names the dead holder...
    expect(readFileSync(path, 'utf8')).toBe(`${first.pid} killed\n`);
    expect(await readLockHolder(path)).toEqual({ pid: first.pid, purpose: 'killed' });

    // ...and that does not matter: flock says the lock is free.
    const second = holder(path, 'after');
    expect(await second.next()).toEqual({ locked: second.pid });
    expect(readFileSync(path, 'utf8')).toBe(`${second.pid} after\n`);
  });

  it('never decides from the file: a live pid written in it does not hold the lock', async () => {
    const path = lockPath();
    const first = holder(path, 'first');
    await first.next();
    await first.release();
    // A live process (this very test runner) named as the holder, without the flock.
    writeFileSync(path, `${process.pid} a pid file pretending\n`);

    const second = holder(path, 'second');
    expect(await second.next()).toEqual({ locked: second.pid });
  });

  it('gives up after the timeout, naming the holder', async () => {
    const path = lockPath();
    const first = holder(path, 'slow writer');
    await first.next();
    const second = holder(path, 'impatient', { mode: 300 });
    expect(await second.next()).toMatchObject({ waiting: { pid: first.pid } });
    const line = await second.next();
    expect(line).toMatchObject({ code: 'LOCKED' });
    expect('message' in line && line.message).toMatch(new RegExp(`^another anklume writer still holds ${path} after 0\\.\\d s: pid ${first.pid} \\(slow writer\\); wait for it or stop it$`));
  });

  it('creates the directory 0755 and the file 0644 whatever the holder\'s umask', async () => {
    const path = lockPath();
    const first = holder(path, 'umask 077', { umask: '077' });
    expect(await first.next()).toEqual({ locked: first.pid });
    expect(statSync(join(path, '..')).mode & 0o777).toBe(0o755);
    expect(statSync(path).mode & 0o777).toBe(0o644);
  });
});

describe('the writer lock in one process', () => {
  it('conflicts with itself: a second take in the same process is refused too', async () => {
    const path = lockPath();
    const lock = await acquireWriterLock(path, { wait: false, purpose: 'anklumed' });
    held.push(lock);
    const second = acquireWriterLock(path, { wait: false, purpose: 'again' });
    await expect(second).rejects.toBeInstanceOf(WriterLockedError);
    await expect(second).rejects.toMatchObject({ code: 'LOCKED', holder: { pid: process.pid, purpose: 'anklumed' } });
  });

  it('can be taken again after release (release is idempotent), and release clears the holder\'s name', async () => {
    const path = lockPath();
    const lock = await acquireWriterLock(path, { wait: false, purpose: 'once' });
    await lock.release();
    await lock.release();
    expect(readFileSync(path, 'utf8')).toBe('');
    const again = await acquireWriterLock(path, { wait: false, purpose: 'twice' });
    held.push(again);
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid} twice\n`);
  });

  it('waits without blocking the event loop, and stops waiting when its signal aborts', async () => {
    const path = lockPath();
    const first = holder(path, 'holder');
    await first.next();
    const stop = new AbortController();
    let ticks = 0;
    const timer = setInterval(() => {
      if (++ticks === 5) stop.abort();
    }, 20);
    const onWait: unknown[] = [];
    try {
      await expect(acquireWriterLock(path, { wait: true, purpose: 'waiter', signal: stop.signal, pollMs: 10, onWait: (h) => onWait.push(h) })).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      clearInterval(timer);
    }
    // The timer kept running while it waited (it fired the abort); a loaded machine may fire it again before the rejection settles.
    expect(ticks).toBeGreaterThanOrEqual(5);
    expect(onWait).toEqual([{ pid: first.pid, purpose: 'holder' }]);
  });

  it('says why when the lock file cannot be made at all', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    await expect(acquireWriterLock(join(file, 'anklume.lock'), { wait: false, purpose: 'x' })).rejects.toMatchObject({
      code: 'LOCK_FAILED',
      message: expect.stringContaining(`cannot take the writer lock ${join(file, 'anklume.lock')}`) as unknown,
    });
  });
});
