import { describe, expect, it } from 'vitest';
import { TurnLock } from '../../src/reconcile/turn-lock.js';

/** A holder that records when it got in and stays until released. */
function holder(lock: TurnLock<'a' | 'b'>, group: 'a' | 'b', name: string, log: string[]): { release: () => void; done: Promise<void> } {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const done = lock.with(group, async () => {
    log.push(`in ${name}`);
    await held;
    log.push(`out ${name}`);
  });
  return { release, done };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('TurnLock', () => {
  it('lets holders of one group in together, and another group only once they are all out', async () => {
    const lock = new TurnLock<'a' | 'b'>();
    const log: string[] = [];
    const a1 = holder(lock, 'a', 'a1', log);
    const a2 = holder(lock, 'a', 'a2', log);
    const b1 = holder(lock, 'b', 'b1', log);
    await turn();
    expect(log).toEqual(['in a1', 'in a2']);
    a1.release();
    await a1.done;
    await turn();
    expect(log).toEqual(['in a1', 'in a2', 'out a1']);
    a2.release();
    await a2.done;
    await turn();
    expect(log).toEqual(['in a1', 'in a2', 'out a1', 'out a2', 'in b1']);
    b1.release();
    await b1.done;
  });

  it('serves a waiting group before later arrivals of the group that holds it (no starvation)', async () => {
    const lock = new TurnLock<'a' | 'b'>();
    const log: string[] = [];
    const a1 = holder(lock, 'a', 'a1', log);
    const b1 = holder(lock, 'b', 'b1', log);
    const b2 = holder(lock, 'b', 'b2', log);
    const a2 = holder(lock, 'a', 'a2', log);
    await turn();
    expect(log).toEqual(['in a1']);
    a1.release();
    await a1.done;
    await turn();
    // b1 and b2 wait at the head together: both go in; a2 came later and waits for them.
    expect(log).toEqual(['in a1', 'out a1', 'in b1', 'in b2']);
    b1.release();
    b2.release();
    await Promise.all([b1.done, b2.done]);
    await turn();
    expect(log.at(-1)).toBe('in a2');
    a2.release();
    await a2.done;
  });

  it('lets the next turn in when a holder throws', async () => {
    const lock = new TurnLock<'a' | 'b'>();
    await expect(lock.with('a', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(lock.with('b', () => Promise.resolve(7))).resolves.toBe(7);
  });
});
