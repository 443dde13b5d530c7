import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DaemonClient, DaemonRequestError } from '../../src/cli/daemon-client.js';
import type { ApplyActionRef, ApplyEvent, ApplyRequest, ApplySummary } from '../../src/controllers/apply-protocol.js';
import type { StatusDocument } from '../../src/controllers/status.js';
import { RequestError, startControlServer, type ControlHandlers } from '../../src/daemon/control-server.js';
import { createLogger } from '../../src/shared/logger.js';
import { ROOT, runBin } from '../helpers/cli.js';
import { startFakeIncus, type FakeIncus } from '../helpers/fake-incus.js';
import { waitFor } from '../helpers/incus.js';
import { startLockProcess, type LockProcess } from '../helpers/lock-process.js';

// anklumectl apply against a real control server (the daemon's own code) on a
// temporary unix socket, with a fake apply handler in place of the manager.
const dir = mkdtempSync(join(tmpdir(), 'anklume-apply-'));
const socket = join(dir, 'anklumed.sock');
const noDaemon = join(dir, 'nobody.sock');
const infraFile = join(dir, 'infra.yml');
const otherFile = join(dir, 'other.yml');
const T = '2026-01-02T03:04:05.000Z';

copyFileSync(join(ROOT, 'infra.example.yml'), infraFile);
copyFileSync(join(ROOT, 'infra.example.yml'), otherFile);

function statusDoc(config: Partial<StatusDocument['config']> = {}): StatusDocument {
  return {
    generatedAt: T,
    daemon: { running: true, pid: 777, startedAt: T },
    config: { file: infraFile, valid: true, errors: [], specHash: 'abcdef0123456789', loadedAt: T, ...config },
    incus: { endpoint: '/var/lib/incus/unix.socket', reachable: true },
    events: { connected: true, reconnects: 0, lastEventAt: null },
    queue: { depth: 0, inFlight: 0 },
    firewall: { managed: true, state: 'InSync', message: 'matches', rules: 1, checkedAt: T, appliedAt: T },
    aiAccess: { policy: 'open', holder: null, source: 'open access' },
    domains: [],
  };
}

const action = (verb: ApplyActionRef['verb'], kind: string, name: string, reason: string): ApplyActionRef => ({ id: `${kind}/pro/${name}`, group: 'pro', kind, name, verb, reason });
const CREATE = action('create', 'instance', 'pro-dev', 'missing');
const START = action('start', 'instance', 'pro-dev', 'stopped');

type ApplyImpl = (request: ApplyRequest, onEvent: (event: ApplyEvent) => void, signal: AbortSignal) => Promise<ApplySummary>;
let status: StatusDocument = statusDoc();
let applyImpl: ApplyImpl;
let calls: ApplyRequest[] = [];
let server: Server;

beforeAll(async () => {
  const handlers: ControlHandlers = {
    status: () => status,
    reconcile: () => [],
    switchAi: () => Promise.reject(new RequestError('not in this test')),
    apply: (request, onEvent, signal) => {
      calls.push(request);
      return applyImpl(request, onEvent, signal);
    },
  };
  server = await startControlServer({ path: socket, handlers, logger: createLogger({ name: 'test', level: 'silent', pretty: false }) });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  status = statusDoc();
  calls = [];
  applyImpl = () => Promise.reject(new Error('no apply expected'));
});

/** The CLI as a user runs it, its output readable while it runs. */
function startCli(args: readonly string[], env: Record<string, string> = {}): { stdout: () => string; stderr: () => string; done: Promise<number | null> } {
  const child = spawn(process.execPath, [`${ROOT}dist/bin/anklumectl.js`, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { stdout: () => out, stderr: () => err, done: new Promise((resolve) => child.on('close', resolve)) };
}

describe('anklumectl apply with a daemon', () => {
  it('prints each action as anklumed streams it, before the pass ends, and exits 0', async () => {
    // The handler is set before this event loop turn ends, long before the CLI connects.
    const cli = startCli(['apply', '-f', infraFile, '--socket', socket, '--prune']);
    // Each event waits until the CLI has printed the one before: only a stream, not a buffered answer, gets through.
    const printed = (text: string): Promise<true> => waitFor(`the CLI to print "${text}"`, () => Promise.resolve(cli.stdout().includes(text) ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    applyImpl = async (_request, onEvent) => {
      onEvent({ type: 'start', action: CREATE });
      await printed('start   create instance pro-dev (missing)');
      onEvent({ type: 'outcome', action: CREATE, status: 'done', ms: 1234.4 });
      await printed('ok      create instance pro-dev (1234 ms)');
      onEvent({ type: 'note', message: 'firewall checked' });
      await printed('note    firewall checked');
      return { actions: 1, done: 1, failed: 0, skipped: 0, notes: [{ group: 'pro', kind: 'instance', name: 'old-box', message: 'left infra.yml; kept without --prune' }], requests: { requests: 12, writes: 3 }, ms: 1300 };
    };
    const code = await cli.done;
    expect(cli.stderr()).toBe('');
    expect(code).toBe(0);
    expect(calls).toEqual([{ prune: true, force: false }]);
    const lines = cli.stdout().trimEnd().split('\n');
    expect(lines[0]).toBe(`Applying ${infraFile} through anklumed (pid 777).`);
    expect(lines.slice(1, 4).map((l) => l.replace(/^\[\s*\d+\.\d+s\] /, ''))).toEqual([
      'start   create instance pro-dev (missing)',
      'ok      create instance pro-dev (1234 ms)',
      'note    firewall checked',
    ]);
    expect(cli.stdout()).toContain('old-box');
    expect(lines.at(-1)).toMatch(/^Apply: 1 done, 0 failed, 0 not done, in \d+\.\ds \(12 Incus requests, 3 writes\)\.$/);
  });

  it('exits 1 when an action failed or was not done, with the same lines as a direct apply', async () => {
    applyImpl = (_request, onEvent) => {
      onEvent({ type: 'start', action: CREATE });
      onEvent({ type: 'outcome', action: CREATE, status: 'failed', ms: 20, error: 'Incus: image not found' });
      onEvent({ type: 'outcome', action: START, status: 'skipped', reason: 'instance/pro/pro-dev did not succeed' });
      return Promise.resolve({ actions: 2, done: 0, failed: 1, skipped: 1, notes: [], ms: 25 });
    };
    const run = await runBin('anklumectl', ['apply', '-f', infraFile, '--socket', socket, '--force']);
    expect(run.code).toBe(1);
    expect(calls).toEqual([{ prune: false, force: true }]);
    expect(run.stdout).toMatch(/\] failed {2}create instance pro-dev: Incus: image not found\n/);
    expect(run.stdout).toMatch(/\] skipped start instance pro-dev: instance\/pro\/pro-dev did not succeed\n/);
    // No request count: this daemon did not count its pass apart.
    expect(run.stdout).toMatch(/Apply: 0 done, 1 failed, 1 not done, in \d+\.\ds\.\n$/);
  });

  it('says there is nothing to do when the plan was empty', async () => {
    applyImpl = () => Promise.resolve({ actions: 0, done: 0, failed: 0, skipped: 0, notes: [], ms: 3 });
    const run = await runBin('anklumectl', ['apply', '--socket', socket], { env: { ANKLUME_CONFIG: infraFile } });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Nothing to do: Incus matches ${infraFile}.`);
  });

  it('refuses a --parallel that is not a whole number from 1 to 64, before asking anything of anyone', async () => {
    const runs = await Promise.all(['0', '1.5', 'four', '65'].map(async (bad) => ({ bad, run: await runBin('anklumectl', ['apply', '-f', infraFile, '--socket', socket, '--parallel', bad]) })));
    for (const { bad, run } of runs) {
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`--parallel must be a whole number from 1 to 64 (got "${bad}")`);
    }
    expect(calls).toEqual([]);
    // Without a daemon: refused before the writer lock and Incus.
    const direct = await runBin('anklumectl', ['apply', '-f', infraFile, '--socket', noDaemon, '--parallel', '-2']);
    expect(direct.code).toBe(2);
    expect(direct.stderr).toContain('--parallel must be a whole number from 1 to 64 (got "-2")');
  });

  it('accepts the daemon\'s file named through a symlink', async () => {
    const link = join(dir, 'link.yml');
    symlinkSync(infraFile, link);
    applyImpl = () => Promise.resolve({ actions: 0, done: 0, failed: 0, skipped: 0, notes: [], ms: 3 });
    const run = await runBin('anklumectl', ['apply', '-f', link, '--socket', socket]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(calls).toHaveLength(1);
  });

  it('refuses another -f file than the daemon\'s, and asks the daemon to do nothing', async () => {
    const run = await runBin('anklumectl', ['apply', '-f', otherFile, '--socket', socket]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`error: the daemon runs on ${infraFile}; edit that file, or stop the daemon to apply ${otherFile}; nothing was changed\n`);
    expect(run.stdout).toBe('');
    expect(calls).toEqual([]);
  });

  it('refuses while the daemon\'s infra.yml is invalid, showing its errors', async () => {
    status = statusDoc({ valid: false, errors: [`${infraFile}:3:5: domains.pro.trust_level: expected one of ...`] });
    const run = await runBin('anklumectl', ['apply', '-f', infraFile, '--socket', socket]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error ${infraFile}:3:5: domains.pro.trust_level`);
    expect(run.stderr).toContain(`${infraFile} is invalid (1 error); anklumed keeps the last valid version; nothing was changed`);
    expect(calls).toEqual([]);
  });

  it('prints the daemon\'s refusal before the pass and exits 1', async () => {
    applyImpl = () => Promise.reject(new RequestError('a switch-ai is in progress'));
    const run = await runBin('anklumectl', ['apply', '-f', infraFile, '--socket', socket]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('error: a switch-ai is in progress; nothing was changed\n');
  });

  it('ends with the daemon\'s error when the pass fails after it began, exit 1', async () => {
    applyImpl = (_request, onEvent) => {
      onEvent({ type: 'start', action: CREATE });
      return Promise.reject(new Error('the manager stopped'));
    };
    const run = await runBin('anklumectl', ['apply', '-f', infraFile, '--socket', socket]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('start   create instance pro-dev (missing)');
    expect(run.stderr).toBe('error: anklumed failed during the apply: the manager stopped\n');
  });
});

describe('the apply stream of the control API', () => {
  it('aborts the daemon\'s pass when the client goes away', async () => {
    let aborted: Promise<unknown> | undefined;
    applyImpl = (_request, onEvent, signal) => {
      aborted = new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));
      onEvent({ type: 'start', action: CREATE });
      return aborted.then(() => ({ actions: 1, done: 0, failed: 0, skipped: 1, notes: [], ms: 1 }));
    };
    const stop = new AbortController();
    const seen: ApplyEvent[] = [];
    const client = new DaemonClient({ socketPath: socket });
    const call = client.apply({ prune: false, force: false }, (event) => {
      seen.push(event);
      stop.abort();
    }, { signal: stop.signal });
    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).toEqual([{ type: 'start', action: CREATE }]);
    await expect(aborted).resolves.toMatchObject({ code: 'CLIENT_GONE' });
  });

  it('answers 400 to a request that is not an apply request', async () => {
    const client = new DaemonClient({ socketPath: socket });
    const call = client.apply({ prune: 'yes' } as unknown as ApplyRequest, () => undefined);
    await expect(call).rejects.toBeInstanceOf(DaemonRequestError);
    await expect(call).rejects.toMatchObject({ status: 400, daemonMessage: 'expected {"prune": true|false, "force": true|false}' });
    expect(calls).toEqual([]);
  });
});

describe('anklumectl apply without a daemon', () => {
  let incus: FakeIncus;
  let holder: LockProcess | undefined;
  const lock = join(dir, 'run', 'anklume.lock');
  // Every host path the command may touch, moved into the temporary directory.
  const env = { ANKLUME_STATE_DIR: join(dir, 'state'), ANKLUME_AI_STATE_FILE: join(dir, 'ai-access-current') };
  const args = (): string[] => ['apply', '-f', infraFile, '--socket', noDaemon, '--incus-socket', incus.socketPath, '--nft', join(dir, 'no-nft')];

  beforeEach(async () => {
    incus = await startFakeIncus();
    holder = startLockProcess(lock, 'anklumectl apply (test holder)');
    expect(await holder.next()).toEqual({ locked: holder.pid });
  });
  afterEach(async () => {
    if (holder !== undefined && holder.child.exitCode === null && holder.child.signalCode === null) holder.child.kill('SIGKILL');
    await incus.close();
  });

  it('with --no-wait, refuses at once naming the holder, and makes no Incus request', async () => {
    const run = await runBin('anklumectl', [...args(), '--lock', lock, '--no-wait'], { env });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`error: another anklume writer holds ${lock}: pid ${holder?.pid} (anklumectl apply (test holder)); wait for it or stop it\n`);
    expect(run.stdout).toBe('');
    expect(incus.requests).toEqual([]);
  });

  it('finds the lock through ANKLUME_LOCK', async () => {
    const run = await runBin('anklumectl', [...args(), '--no-wait'], { env: { ...env, ANKLUME_LOCK: lock } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`holds ${lock}: pid ${holder?.pid}`);
    expect(incus.requests).toEqual([]);
  });

  it('waits for the holder, saying so once, and talks to Incus only after it let go', async () => {
    let releasedAt = Infinity;
    const firstRequestAt: number[] = [];
    incus.route(() => {
      firstRequestAt.push(Date.now());
      return { status: 500, body: { type: 'error', error: 'fake Incus says no', error_code: 500 } };
    });
    const cli = startCli([...args(), '--lock', lock], env);
    await waitFor('the waiting line', () => Promise.resolve(cli.stderr().includes('waiting for the writer lock') ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    expect(cli.stderr()).toBe(`waiting for the writer lock held by pid ${holder?.pid} (anklumectl apply (test holder)); giving up after 30 s\n`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(incus.requests).toEqual([]);
    releasedAt = Date.now();
    await holder?.release();
    await cli.done;
    expect(incus.requests.length).toBeGreaterThan(0);
    expect(Math.min(...firstRequestAt)).toBeGreaterThanOrEqual(releasedAt);
  });

  it('switch-ai without a daemon waits for the same lock', async () => {
    const cli = startCli(['switch-ai', 'pro', '-f', infraFile, '--socket', noDaemon, '--incus-socket', incus.socketPath, '--nft', join(dir, 'no-nft'), '--lock', lock,
      '--ai-state-file', join(dir, 'ai-access-current'), '--ai-switch-log', join(dir, 'ai-switch.log')], env);
    await waitFor('the waiting line', () => Promise.resolve(cli.stderr().includes('waiting for the writer lock') ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    expect(cli.stderr()).toContain(`held by pid ${holder?.pid} (anklumectl apply (test holder))`);
    expect(incus.requests).toEqual([]);
    await holder?.release();
    await cli.done;
    expect(incus.requests.length).toBeGreaterThan(0);
  });
});
