import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ROOT } from './cli.js';

/** What test/helpers/lock-holder.ts says, one JSON object a line. */
export type HolderLine =
  | { locked: number }
  | { waiting: { pid: number; purpose: string } | null }
  | { released: true }
  | { code: string; message: string };

/** Another process that takes the writer lock (real flock, real pid). */
export interface LockProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The next line it prints (in order; waits for it). */
  next(): Promise<HolderLine>;
  /** Ask it to release and wait until it says so. */
  release(): Promise<void>;
  /** Resolves with the exit code, or the signal that ended it. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
}

/**
 * Start test/helpers/lock-holder.ts in its own Node process (through tsx, so
 * no build is needed). `mode`: 'no-wait', or the milliseconds it may wait.
 * `umask`: run it under this umask (to check the file mode does not follow it).
 */
export function startLockProcess(path: string, purpose: string, options: { mode?: 'no-wait' | number; umask?: string } = {}): LockProcess {
  const node = [process.execPath, '--import', 'tsx', `${ROOT}test/helpers/lock-holder.ts`, path, purpose, String(options.mode ?? 'no-wait')];
  const child =
    options.umask === undefined
      ? spawn(node[0] ?? 'node', node.slice(1), { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn('sh', ['-c', `umask ${options.umask} && exec "$@"`, 'sh', ...node], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: HolderLine[] = [];
  const waiters: ((line: HolderLine) => void)[] = [];
  let closed = false;
  const reader = createInterface({ input: child.stdout });
  reader.on('line', (text) => {
    const line = JSON.parse(text) as HolderLine;
    const waiter = waiters.shift();
    if (waiter === undefined) lines.push(line);
    else waiter(line);
  });
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.on('exit', (code, signal) => {
      closed = true;
      resolve(code ?? signal);
    }),
  );
  const next = (): Promise<HolderLine> => {
    const line = lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (closed) return Promise.reject(new Error('the lock process exited'));
    return new Promise((resolve) => waiters.push(resolve));
  };
  return {
    child,
    pid: child.pid ?? -1,
    next,
    async release() {
      child.stdin?.write('release\n');
      const line = await next();
      if (!('released' in line)) throw new Error(`expected {"released": true}, got ${JSON.stringify(line)}`);
      await exited;
    },
    exited,
  };
}
