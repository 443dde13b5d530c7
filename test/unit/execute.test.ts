import { describe, expect, it } from 'vitest';
import type { Action } from '../../src/reconcile/action.js';
import { executePlan } from '../../src/reconcile/execute.js';

function action(id: string, after: string[] = [], blocked?: string): Action {
  return { id, group: id.split('/')[0] ?? '', kind: 'x', name: id, verb: 'create', reason: 'missing', changes: [], after, payload: null, ...(blocked === undefined ? {} : { blocked }) };
}

/** Resolve tasks by hand, to observe ordering and parallelism without timers. */
function controlledRun() {
  const started: string[] = [];
  const waiting = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  let running = 0;
  let maxRunning = 0;
  const run = (a: Action): Promise<void> =>
    new Promise((resolve, reject) => {
      started.push(a.id);
      running++;
      maxRunning = Math.max(maxRunning, running);
      waiting.set(a.id, { resolve: () => { running--; resolve(); }, reject: (e) => { running--; reject(e); } });
    });
  const settle = async (id: string, error?: Error): Promise<void> => {
    const w = waiting.get(id);
    if (w === undefined) throw new Error(`${id} not started`);
    waiting.delete(id);
    if (error === undefined) w.resolve();
    else w.reject(error);
    await new Promise((r) => setImmediate(r));
  };
  return { run, started, settle, max: () => maxRunning };
}

describe('executePlan', () => {
  it('runs an action only after what it needs, with bounded parallelism', async () => {
    const c = controlledRun();
    const actions = [action('a/project'), action('a/vm1', ['a/project']), action('a/vm2', ['a/project']), action('b/project'), action('b/vm', ['b/project'])];
    const done = executePlan(actions, { concurrency: 2, run: c.run });
    await new Promise((r) => setImmediate(r));
    expect(c.started).toEqual(['a/project', 'b/project']);
    await c.settle('a/project');
    expect(c.started).toEqual(['a/project', 'b/project', 'a/vm1']);
    await c.settle('b/project');
    await c.settle('a/vm1');
    await c.settle('a/vm2');
    await c.settle('b/vm');
    const outcomes = await done;
    expect(outcomes.map((o) => o.status)).toEqual(['done', 'done', 'done', 'done', 'done']);
    expect(c.max()).toBe(2);
  });

  it('skips what depends on a failure and lets the other domains converge', async () => {
    const c = controlledRun();
    const actions = [action('a/project'), action('a/vm', ['a/project']), action('b/project'), action('b/vm', ['b/project'])];
    const done = executePlan(actions, { concurrency: 4, run: c.run });
    await new Promise((r) => setImmediate(r));
    await c.settle('a/project', new Error('Incus said no'));
    await c.settle('b/project');
    await c.settle('b/vm');
    const outcomes = await done;
    expect(outcomes.map((o) => [o.action.id, o.status, o.status === 'failed' ? o.error : o.status === 'skipped' ? o.reason : ''])).toEqual([
      ['a/project', 'failed', 'Incus said no'],
      ['a/vm', 'skipped', 'a/project did not succeed'],
      ['b/project', 'done', ''],
      ['b/vm', 'done', ''],
    ]);
  });

  it('never runs a blocked action, nor what waits on it', async () => {
    const c = controlledRun();
    const outcomes = await executePlan([action('a/x', [], 'needs replacement'), action('a/y', ['a/x'])], { concurrency: 2, run: c.run });
    expect(c.started).toEqual([]);
    expect(outcomes.map((o) => o.status)).toEqual(['skipped', 'skipped']);
  });

  it('orders by notBefore without making a failure spread', async () => {
    const c = controlledRun();
    const actions = [action('a/bridge'), action('b/bridge'), { ...action('b/vm'), notBefore: ['a/bridge', 'b/bridge'] }];
    const done = executePlan(actions, { concurrency: 4, run: c.run });
    await new Promise((r) => setImmediate(r));
    expect(c.started).toEqual(['a/bridge', 'b/bridge']);
    await c.settle('a/bridge', new Error('transient'));
    expect(c.started).toEqual(['a/bridge', 'b/bridge']);
    await c.settle('b/bridge');
    expect(c.started).toEqual(['a/bridge', 'b/bridge', 'b/vm']);
    await c.settle('b/vm');
    expect((await done).map((o) => o.status)).toEqual(['failed', 'done', 'done']);
  });

  it('starts the higher-ranked of the actions ready at once first, and reports in plan order', async () => {
    const c = controlledRun();
    // a's instances became ready when a's bridge was done; b's bridge was waiting for a slot.
    const actions = [action('a/bridge'), action('a/vm1', ['a/bridge']), action('a/vm2', ['a/bridge']), action('b/bridge'), action('b/vm', ['b/bridge'])];
    const rank = (a: Action): number => (a.id.endsWith('bridge') ? 1 : 0);
    const done = executePlan(actions, { concurrency: 1, run: c.run, rank });
    await new Promise((r) => setImmediate(r));
    expect(c.started).toEqual(['a/bridge']);
    await c.settle('a/bridge');
    expect(c.started).toEqual(['a/bridge', 'b/bridge']);
    await c.settle('b/bridge');
    await c.settle('a/vm1');
    await c.settle('a/vm2');
    await c.settle('b/vm');
    expect(c.started).toEqual(['a/bridge', 'b/bridge', 'a/vm1', 'a/vm2', 'b/vm']);
    expect((await done).map((o) => o.action.id)).toEqual(actions.map((a) => a.id));
  });

  it('treats dependencies outside the plan as already satisfied', async () => {
    const outcomes = await executePlan([action('a/vm', ['a/project'])], { concurrency: 1, run: () => Promise.resolve() });
    expect(outcomes.map((o) => o.status)).toEqual(['done']);
  });

  it('starts nothing new once aborted', async () => {
    const c = controlledRun();
    const abort = new AbortController();
    const done = executePlan([action('a/1'), action('a/2')], { concurrency: 1, run: c.run, signal: abort.signal });
    await new Promise((r) => setImmediate(r));
    abort.abort();
    await c.settle('a/1');
    const outcomes = await done;
    expect(outcomes.map((o) => o.status)).toEqual(['done', 'skipped']);
  });
});
