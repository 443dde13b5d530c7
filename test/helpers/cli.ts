import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The longest a program run by a test may take: the end-to-end test timeout.
 * A hung program is killed then, so it never outlives the test run.
 */
const RUN_LIMIT_MS = 300_000;

/** Run a built program of dist/bin (npm run build first) as a user would. */
export function runBin(bin: 'anklumectl' | 'anklumed' | 'anklume-sanitizer', args: readonly string[], options: { env?: Record<string, string>; input?: string; cwd?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  const limitMs = options.timeoutMs ?? RUN_LIMIT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${ROOT}dist/bin/${bin}.js`, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, NO_COLOR: '1', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: limitMs,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, stdout, stderr: signal === 'SIGKILL' ? `${stderr}\n[${bin} got SIGKILL: the test helper ends a run after ${limitMs} ms]` : stderr }));
    child.stdin.end(options.input ?? '');
  });
}
