import { resolveWriterLock } from '../config/paths.js';
import { acquireWriterLock, describeHolder, type WriterLock } from '../shared/writer-lock.js';
import { paint, type CliIo } from './io.js';

/** How long a direct write waits for the writer lock before giving up (naming the holder). */
export const WRITER_LOCK_WAIT_MS = 30_000;

export interface WriterLockFlags {
  /** `--lock`; else ANKLUME_LOCK, else /run/anklume/anklume.lock. */
  readonly lock?: string;
  /** commander turns --no-wait into wait: false: refuse at once when the lock is held. */
  readonly wait?: boolean;
}

/**
 * Take the host's writer lock before writing without a daemon (DESIGN.md §8:
 * one writer at a time). Held: wait up to 30 s, saying once for whom; with
 * --no-wait, refuse at once. Both refusals name the holder (WriterLockedError).
 */
export function holdWriterLock(flags: WriterLockFlags, io: CliIo, purpose: string): Promise<WriterLock> {
  return acquireWriterLock(resolveWriterLock({ flag: flags.lock, env: io.env }), {
    purpose,
    wait: flags.wait === false ? false : { timeoutMs: WRITER_LOCK_WAIT_MS },
    onWait: (holder) => io.stderr(`${paint(io, 'yellow', `waiting for the writer lock held by ${describeHolder(holder)}`)}; giving up after ${WRITER_LOCK_WAIT_MS / 1000} s\n`),
  });
}
