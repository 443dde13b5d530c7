import { describe, expect, it } from 'vitest';
import { LOOK_AGAIN_AFTER_MS, LookAgain } from '../../src/daemon/look-again.js';
import type { WorkKey } from '../../src/incus/events.js';
import { FakeTime } from '../helpers/fake-time.js';

const pro: WorkKey = { kind: 'project', name: 'pro', project: 'pro' };
const perso: WorkKey = { kind: 'project', name: 'perso', project: 'perso' };

function setUp(): { time: FakeTime; looks: LookAgain; seen: { at: number; keys: readonly WorkKey[] }[] } {
  const time = new FakeTime();
  const seen: { at: number; keys: readonly WorkKey[] }[] = [];
  const looks = new LookAgain((keys) => seen.push({ at: time.now(), keys }), time.schedule);
  return { time, looks, seen };
}

describe('LookAgain', () => {
  it('handles the keys again after each delay, then forgets them', () => {
    const { time, looks, seen } = setUp();
    looks.after([pro]);
    time.advance(60_000);
    expect(seen).toEqual(LOOK_AGAIN_AFTER_MS.map((at) => ({ at, keys: [pro] })));
    expect(looks.size).toBe(0);
  });

  it('a new event of the same object restarts its looks: two timers at most, counted from the last event', () => {
    const { time, looks, seen } = setUp();
    looks.after([pro]);
    time.advance(500);
    looks.after([pro]);
    expect(looks.size).toBe(1);
    time.advance(60_000);
    expect(seen.map((s) => s.at)).toEqual(LOOK_AGAIN_AFTER_MS.map((ms) => 500 + ms));
  });

  it('keeps the looks of different objects apart', () => {
    const { time, looks, seen } = setUp();
    looks.after([pro]);
    looks.after([perso]);
    time.advance(60_000);
    expect(seen.filter((s) => s.keys[0] === pro)).toHaveLength(LOOK_AGAIN_AFTER_MS.length);
    expect(seen.filter((s) => s.keys[0] === perso)).toHaveLength(LOOK_AGAIN_AFTER_MS.length);
  });

  it('close cancels every waiting look; no keys, no look', () => {
    const { time, looks, seen } = setUp();
    looks.after([pro]);
    looks.after([]);
    time.advance(LOOK_AGAIN_AFTER_MS[0] ?? 0);
    looks.close();
    time.advance(60_000);
    expect(seen).toHaveLength(1);
    expect(looks.size).toBe(0);
  });
});
