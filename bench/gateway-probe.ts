// Loaded into the benchmarked gateway process (node --expose-gc --import):
// answers the bench's messages over the IPC channel. `gc`: collect garbage
// and send the process's memory, so the bench reads the heap that is still
// live, not what the collector has not got round to. `gc-stats`: the
// collections V8 has made so far (count and pauses, minor and major), which
// is what turns allocation into latency: a request that arrives during a
// pause waits for it. Benchmark only; the gateway itself knows nothing of it.
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { memoryUsage } from 'node:process';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined || process.send === undefined) throw new Error('gateway-probe needs --expose-gc and an IPC channel');

export interface GcStats {
  minor: number;
  major: number;
  pauseMs: number;
  maxPauseMs: number;
}

const stats: GcStats = { minor: 0, major: 0, pauseMs: 0, maxPauseMs: 0 };
// The bench reads these in its latency part, before it forces any collection (`gc`, memory part).
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) stats.minor++;
    else stats.major++;
    stats.pauseMs += entry.duration;
    stats.maxPauseMs = Math.max(stats.maxPauseMs, entry.duration);
  }
}).observe({ entryTypes: ['gc'] });

process.on('message', (message: unknown) => {
  if (message === 'gc-stats') {
    process.send?.({ ...stats });
    stats.maxPauseMs = 0;
  } else if (message === 'gc') {
    // Two passes: the first can leave objects with finalizers (weak refs, sockets) for the next.
    gc();
    gc();
    process.send?.({ ...memoryUsage() });
  }
});
// A bench that dies without stopping the gateway (killed, or its output cut) closes the
// channel: the gateway then stops as on SIGTERM rather than linger, listening, with no one to stop it.
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
// The IPC channel must not keep the gateway alive once it has been asked to stop.
process.channel?.unref();
