import { describe, expect, it } from 'vitest';
import { formatEvent, SseFanout, type SseClient } from '../../src/daemon/web/sse.js';

class Client implements SseClient {
  out = '';
  ended = false;
  destroyed = false;
  writableLength = 0;
  /** Bytes this client leaves unsent per write (a reader that stopped). */
  constructor(private readonly stalls = false) {}
  write(chunk: string): boolean {
    this.out += chunk;
    if (this.stalls) this.writableLength += chunk.length;
    return !this.stalls;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

/** A heartbeat timer the test fires by hand. */
function manualTimer(): { every: (ms: number, fn: () => void) => () => void; fire(): void; running(): number } {
  const timers = new Set<() => void>();
  return {
    every: (_ms, fn) => {
      timers.add(fn);
      return () => timers.delete(fn);
    },
    fire: () => {
      for (const fn of timers) fn();
    },
    running: () => timers.size,
  };
}

describe('server-sent events fan-out', () => {
  it('writes every line of the data on its own data: line, with the event name and id', () => {
    expect(formatEvent('status', '<p>a</p>\n<p>b</p>\r\nc', 3)).toBe('event: status\nid: 3\ndata: <p>a</p>\ndata: <p>b</p>\ndata: c\n\n');
  });

  it('sends an event to every client, and a retry hint to each on arrival', () => {
    const fanout = new SseFanout({ maxClients: 4, every: manualTimer().every });
    const [a, b] = [new Client(), new Client()];
    fanout.add(a);
    fanout.add(b);
    fanout.broadcast('status', 'x');
    for (const c of [a, b]) expect(c.out).toMatch(/^retry: 2000\n\nevent: status\nid: \d+\ndata: x\n\n$/);
  });

  it('refuses clients past its bound and takes them again once one leaves', () => {
    const fanout = new SseFanout({ maxClients: 2, every: manualTimer().every });
    const [a, b, c] = [new Client(), new Client(), new Client()];
    expect(fanout.add(a)).toBe(true);
    expect(fanout.add(b)).toBe(true);
    expect(fanout.full).toBe(true);
    expect(fanout.add(c)).toBe(false);
    expect(c.out).toBe('');
    fanout.remove(a);
    expect(fanout.add(c)).toBe(true);
    fanout.broadcast('status', 'y');
    expect(a.out).not.toContain('data: y');
    expect(c.out).toContain('data: y');
  });

  it('keeps streams open with a heartbeat comment, only while someone listens', () => {
    const timer = manualTimer();
    const fanout = new SseFanout({ maxClients: 2, every: timer.every });
    expect(timer.running()).toBe(0);
    const a = new Client();
    fanout.add(a);
    expect(timer.running()).toBe(1);
    timer.fire();
    expect(a.out.endsWith(': heartbeat\n\n')).toBe(true);
    fanout.remove(a);
    expect(timer.running()).toBe(0);
  });

  it('drops a client that stops reading once its unsent output passes the cap', () => {
    const fanout = new SseFanout({ maxClients: 2, maxBufferedBytes: 100, every: manualTimer().every });
    const [reader, stalled] = [new Client(), new Client(true)];
    fanout.add(reader);
    fanout.add(stalled);
    fanout.broadcast('status', 'a'.repeat(50));
    expect(stalled.destroyed).toBe(false);
    fanout.broadcast('status', 'b'.repeat(50));
    expect(stalled.destroyed).toBe(true);
    expect(fanout.size).toBe(1);
    fanout.broadcast('status', 'c');
    expect(reader.out).toContain('data: c');
    expect(stalled.out).not.toContain('data: c');
  });

  it('ends every stream on close', () => {
    const timer = manualTimer();
    const fanout = new SseFanout({ maxClients: 2, every: timer.every });
    const [a, b] = [new Client(), new Client()];
    fanout.add(a);
    fanout.add(b);
    fanout.close();
    expect([a.ended, b.ended]).toEqual([true, true]);
    expect(fanout.size).toBe(0);
    expect(timer.running()).toBe(0);
  });
});
