import { connect, createServer, type Server } from 'node:net';

/**
 * The host's side of verify, from this very process: no namespace of its own
 * is needed, since what the host sends leaves through its output path (which
 * anklume does not filter) and what instances send to the host arrives on
 * its input path (which it does) — the same paths a service on the host uses.
 */

/** Connect once; null when it connected, else the error code (`ETIMEDOUT` after `timeoutMs` of silence). */
export function hostConnect(address: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    const done = (code: string | null): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(code);
    };
    const timer = setTimeout(() => done('ETIMEDOUT'), timeoutMs);
    socket.once('connect', () => done(null));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

/** Listeners on the host for the probes instances send to it, closed together. */
export interface HostListeners {
  /** `address:port` pairs something listens on (ours, or a service that already held the port). */
  readonly listening: ReadonlySet<string>;
  close(): Promise<void>;
}

/** Listen on each `address:port` the probes go to; a port already in use means a service answers there, which is as good. */
export async function startHostListeners(targets: readonly { readonly address: string; readonly port: number }[]): Promise<HostListeners> {
  const servers: Server[] = [];
  const listening = new Set<string>();
  await Promise.all(
    targets.map(
      ({ address, port }) =>
        new Promise<void>((resolve) => {
          // Every connection is closed at once: a connect is all a probe needs.
          const server = createServer((s) => s.destroy());
          server.once('error', (err: NodeJS.ErrnoException) => {
            if (err.code === 'EADDRINUSE') listening.add(`${address}:${port}`);
            resolve();
          });
          server.listen({ host: address, port }, () => {
            servers.push(server);
            listening.add(`${address}:${port}`);
            resolve();
          });
        }),
    ),
  );
  return {
    listening,
    close: () => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined),
  };
}
