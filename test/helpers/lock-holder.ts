/**
 * A separate process that takes the writer lock, for tests of what other
 * processes see: `node --import tsx test/helpers/lock-holder.ts <path> <purpose> [wait-ms|no-wait]`.
 * Prints one JSON line when it holds the lock (`{"locked": pid}`) or could not
 * take it (`{"code", "message"}`), then holds it until "release" arrives on
 * stdin (or stdin closes), releases, prints `{"released": true}` and exits.
 */
import { createInterface } from 'node:readline';
import { acquireWriterLock } from '../../src/shared/writer-lock.js';
import { AnklumeError } from '../../src/shared/errors.js';

const [path, purpose = 'lock-holder', mode = 'no-wait'] = process.argv.slice(2);
if (path === undefined) throw new Error('usage: lock-holder <path> [purpose] [wait-ms|no-wait]');
const say = (value: unknown): boolean => process.stdout.write(`${JSON.stringify(value)}\n`);

try {
  const lock = await acquireWriterLock(path, {
    purpose,
    wait: mode === 'no-wait' ? false : { timeoutMs: Number(mode) },
    onWait: (holder) => say({ waiting: holder ?? null }),
    pollMs: 20,
  });
  say({ locked: process.pid });
  const lines = createInterface({ input: process.stdin });
  const done = new Promise<void>((resolve) => {
    lines.on('line', (line) => line.trim() === 'release' && resolve());
    lines.on('close', () => resolve());
  });
  await done;
  await lock.release();
  say({ released: true });
  lines.close();
} catch (err) {
  say(err instanceof AnklumeError ? { code: err.code, message: err.message } : { code: 'UNEXPECTED', message: String(err) });
  process.exitCode = 1;
}
