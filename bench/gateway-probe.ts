// Loaded into the benchmarked gateway process (node --expose-gc --import):
// on the bench's message over the IPC channel, collect garbage and answer
// with the process's memory, so the bench reads the heap that is still live,
// not what the collector has not got round to. Benchmark only; the gateway
// itself knows nothing of it.
import { memoryUsage } from 'node:process';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined || process.send === undefined) throw new Error('gateway-probe needs --expose-gc and an IPC channel');

process.on('message', (message: unknown) => {
  if (message !== 'gc') return;
  // Two passes: the first can leave objects with finalizers (weak refs, sockets) for the next.
  gc();
  gc();
  process.send?.({ ...memoryUsage() });
});
// The IPC channel must not keep the gateway alive once it has been asked to stop.
process.channel?.unref();
