import { describe, expect, it } from 'vitest';
import { InterfaceLock } from '../../src/controllers/domain/interface-lock.js';

const vanished = (): Error => new Error('Failed to delete bridge children interfaces: Failed to run: ip -d -j link show veth0a1b2c3d: exit status 1 (Device "veth0a1b2c3d" does not exist.)');

describe('a bridge create', () => {
  it('is sent again while Incus trips on a vanished interface, with growing pauses, and gives up after six attempts with that error', async () => {
    const pauses: number[] = [];
    let calls = 0;
    const create = (): Promise<string> => {
      calls++;
      return Promise.reject(vanished());
    };
    await expect(new InterfaceLock().bridgeCreate([create], (ms) => Promise.resolve(pauses.push(ms)))).rejects.toThrow(/does not exist/);
    expect(calls).toBe(6);
    expect(pauses).toHaveLength(5);
    for (const [i, ms] of pauses.entries()) expect(ms).toBeGreaterThanOrEqual(Math.min(100 * 2 ** i, 1000) / 2);
  });

  it('sends each step again on its own: a step that tripped is sent again, the one before it is not', async () => {
    const sent: string[] = [];
    let updates = 0;
    const create = (): Promise<void> => Promise.resolve(void sent.push('create'));
    const update = (): Promise<void> => {
      sent.push('update');
      return ++updates < 3 ? Promise.reject(vanished()) : Promise.resolve();
    };
    await new InterfaceLock().bridgeCreate([create, update], () => Promise.resolve());
    expect(sent).toEqual(['create', 'update', 'update', 'update']);
  });

  it('stops at the first step that fails: the next one is not sent', async () => {
    const sent: string[] = [];
    const create = (): Promise<void> => Promise.reject(new Error('Network "net-a" already exists'));
    const update = (): Promise<void> => Promise.resolve(void sent.push('update'));
    await expect(new InterfaceLock().bridgeCreate([create, update], () => Promise.resolve())).rejects.toThrow(/already exists/);
    expect(sent).toEqual([]);
  });

  it('is not sent again on any other error', async () => {
    let calls = 0;
    const create = (): Promise<never> => {
      calls++;
      return Promise.reject(new Error('Network "net-a" already exists'));
    };
    await expect(new InterfaceLock().bridgeCreate([create], () => Promise.resolve())).rejects.toThrow(/already exists/);
    expect(calls).toBe(1);
  });

  it('holds the bridges\' turn across its attempts and steps: an instance start waits for the last one', async () => {
    const lock = new InterfaceLock();
    const events: string[] = [];
    let attempts = 0;
    let finish: () => void = () => undefined;
    const create = lock.bridgeCreate(
      [
        () => {
          events.push(`create ${++attempts}`);
          return attempts === 1 ? Promise.reject(vanished()) : Promise.resolve();
        },
        () => {
          events.push('update');
          return new Promise<void>((resolve) => (finish = resolve));
        },
      ],
      () => new Promise((resolve) => setTimeout(resolve, 5)),
    );
    const start = lock.instanceWrite(() => Promise.resolve(events.push('start')));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(events).toEqual(['create 1', 'create 2', 'update']);
    finish();
    await Promise.all([create, start]);
    expect(events).toEqual(['create 1', 'create 2', 'update', 'start']);
  });
});
