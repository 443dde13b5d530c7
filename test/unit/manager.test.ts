import { describe, expect, it } from 'vitest';
import { Manager } from '../../src/reconcile/manager.js';
import type { RunEvent } from '../../src/reconcile/queue.js';
import { DeadlineExceededError, type Reconciler, type ReconcileResult } from '../../src/reconcile/reconciler.js';
import { createLogger } from '../../src/shared/logger.js';
import { FakeTime, flush } from '../helpers/fake-time.js';

const logger = createLogger({ name: 'test', level: 'silent', pretty: false });

/** A reconciler whose calls are recorded and answered by the test. */
function recording(name: string, answer: (key: string, signal: AbortSignal) => Promise<ReconcileResult>): Reconciler & { calls: string[] } {
  const calls: string[] = [];
  return {
    name,
    calls,
    reconcile: (ctx, key) => {
      calls.push(key);
      return answer(key, ctx.signal);
    },
  };
}

const never = (signal: AbortSignal): Promise<never> => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));

function manager(time: FakeTime): Manager {
  return new Manager({ logger, now: time.now, schedule: time.schedule });
}

/** Shut down on fake time: the shutdown deadline and the abort grace are timers too. */
async function stopNow(m: Manager, time: FakeTime): Promise<void> {
  const stopping = m.stop({ deadlineMs: 0 });
  for (let i = 0; i < 3; i++) {
    await flush();
    time.advance(2_000);
  }
  await stopping;
}

describe('Manager', () => {
  it('routes each key to its controller, and a stuck controller holds up no other', async () => {
    const time = new FakeTime();
    const m = manager(time);
    const stuck = recording('ai-access', (_key, signal) => never(signal));
    const firewall = recording('firewall', () => Promise.resolve(undefined));
    m.register({ reconciler: stuck, concurrency: 1, deadlineMs: 60_000 });
    m.register({ reconciler: firewall, concurrency: 1, deadlineMs: 60_000 });
    m.start();
    m.enqueue('ai-access', 'ai-access');
    const first = m.nextRun('firewall', 'firewall');
    m.enqueue('firewall', 'firewall');
    expect((await first).result).toBe('success');
    const second = m.nextRun('firewall', 'firewall');
    m.enqueue('firewall', 'firewall');
    expect((await second).result).toBe('success');
    expect(firewall.calls).toEqual(['firewall', 'firewall']);
    expect(stuck.calls).toEqual(['ai-access']);
    expect(m.inFlight()).toBe(1);
    await stopNow(m, time);
  });

  it('aborts a call at its deadline and fails it with DeadlineExceededError, then retries after the backoff', async () => {
    const time = new FakeTime();
    const m = manager(time);
    let signalSeen: AbortSignal | undefined;
    const r = recording('domain', (_key, signal) => {
      signalSeen = signal;
      return never(signal);
    });
    m.register({ reconciler: r, concurrency: 1, deadlineMs: 5_000, backoff: { baseMs: 1_000, capMs: 10_000, jitter: 'none' } });
    m.start();
    const run = m.nextRun('domain', 'domain/pro');
    m.enqueue('domain', 'domain/pro');
    await flush();
    time.advance(4_999);
    await flush();
    expect(signalSeen?.aborted).toBe(false);
    time.advance(1);
    const ended: RunEvent = await run;
    expect(signalSeen?.aborted).toBe(true);
    expect(ended.result).toBe('error');
    expect(ended.error).toBeInstanceOf(DeadlineExceededError);
    expect(String(ended.error)).toContain('domain domain/pro: no result within its 5 s deadline');
    expect(m.retries('domain', 'domain/pro')).toBe(1);
    time.advance(999);
    await flush();
    expect(r.calls).toHaveLength(1);
    time.advance(1);
    await flush();
    expect(r.calls).toHaveLength(2);
    await stopNow(m, time);
  });

  it('runs a key again after the delay its reconciler asked for', async () => {
    const time = new FakeTime();
    const m = manager(time);
    const r = recording('ai-access', () => Promise.resolve({ requeueAfterMs: 30_000 }));
    m.register({ reconciler: r, concurrency: 1, deadlineMs: 60_000 });
    m.start();
    const run = m.nextRun('ai-access', 'ai-access');
    m.enqueue('ai-access', 'ai-access');
    expect((await run).result).toBe('requeue');
    time.advance(29_999);
    await flush();
    expect(r.calls).toHaveLength(1);
    time.advance(1);
    await flush();
    expect(r.calls).toHaveLength(2);
    await stopNow(m, time);
  });

  it('nextRun waits for a run that starts after it was asked, not the one in flight', async () => {
    const time = new FakeTime();
    const m = manager(time);
    const releases: (() => void)[] = [];
    const r = recording('domain', () => new Promise<undefined>((resolve) => releases.push(() => resolve(undefined))));
    m.register({ reconciler: r, concurrency: 1, deadlineMs: 60_000 });
    m.start();
    m.enqueue('domain', 'domain/pro');
    await flush();
    expect(r.calls).toHaveLength(1);
    let done = false;
    const next = m.nextRun('domain', 'domain/pro').then((e) => ((done = true), e));
    m.enqueue('domain', 'domain/pro');
    releases[0]?.();
    await flush();
    expect(done).toBe(false); // the run in flight ended; ours is the rerun
    expect(r.calls).toHaveLength(2);
    releases[1]?.();
    expect((await next).result).toBe('success');
    await stopNow(m, time);
  });

  it('refuses a controller registered twice or after start, and a key of no controller', () => {
    const m = manager(new FakeTime());
    const r = recording('domain', () => Promise.resolve(undefined));
    m.register({ reconciler: r, concurrency: 1, deadlineMs: 1_000 });
    expect(() => m.register({ reconciler: r, concurrency: 1, deadlineMs: 1_000 })).toThrow('registered twice');
    m.start();
    expect(() => m.register({ reconciler: recording('firewall', () => Promise.resolve(undefined)), concurrency: 1, deadlineMs: 1_000 })).toThrow('after start');
    expect(() => m.enqueue('nope', 'x')).toThrow('no controller named nope');
  });
});
