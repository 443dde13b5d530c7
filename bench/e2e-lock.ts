import { spawn } from 'node:child_process';
import { once } from 'node:events';

/** The lock every test and benchmark that creates Incus objects on this shared Incus takes (as `flock /tmp/anklume-e2e.lock ...`). */
export const E2E_LOCK = process.env.E2E_LOCK ?? '/tmp/anklume-e2e.lock';

/**
 * Run `fn` holding the e2e lock: flock(1) holds it for a child that lives
 * until its stdin closes, which it also does when this process dies.
 */
export async function withE2eLock<T>(fn: () => Promise<T>): Promise<T> {
  const child = spawn('flock', [E2E_LOCK, 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [chunk] = (await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => [undefined])])) as [Buffer | undefined];
  if (chunk?.toString().trim() !== 'locked') throw new Error(`could not take ${E2E_LOCK} (is flock(1) installed?)`);
  try {
    return await fn();
  } finally {
    child.stdin.end();
    if (child.exitCode === null) await once(child, 'exit');
  }
}
