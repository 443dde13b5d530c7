/**
 * Server-sent events to a bounded set of clients
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html): a heartbeat
 * comment keeps proxies from closing an idle stream, a client that stops
 * reading is dropped once its unsent output passes a cap, and past
 * `maxClients` new ones are refused, so no number of open tabs grows the
 * daemon's memory without bound.
 */

/** What the fan-out needs of an HTTP response (node's ServerResponse has it). */
export interface SseClient {
  write(chunk: string): boolean;
  /** Bytes written but not yet sent. */
  readonly writableLength: number;
  end(): void;
  destroy(): void;
}

export interface SseFanoutOptions {
  readonly maxClients: number;
  /** A client with more unsent bytes than this is dropped (default 1 MiB). */
  readonly maxBufferedBytes?: number;
  /** Period of the heartbeat comment (default 15 s). */
  readonly heartbeatMs?: number;
  /** Repeating timer, injected for tests; returns its cancel. */
  readonly every?: (ms: number, fn: () => void) => () => void;
}

const realEvery = (ms: number, fn: () => void): (() => void) => {
  const timer = setInterval(fn, ms);
  timer.unref();
  return () => clearInterval(timer);
};

/** One event in the wire format: every line of `data` on its own `data:` line (the client joins them with \n). */
export function formatEvent(event: string, data: string, id?: number): string {
  const lines = data.split(/\r\n|\r|\n/).map((l) => `data: ${l}\n`).join('');
  return `event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}${lines}\n`;
}

export class SseFanout {
  private readonly clients = new Set<SseClient>();
  private readonly maxBufferedBytes: number;
  private readonly heartbeatMs: number;
  private readonly every: (ms: number, fn: () => void) => () => void;
  private stopHeartbeat: (() => void) | undefined;
  private nextId = 1;

  constructor(private readonly options: SseFanoutOptions) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.every = options.every ?? realEvery;
  }

  get size(): number {
    return this.clients.size;
  }

  /** No room for another client. */
  get full(): boolean {
    return this.clients.size >= this.options.maxClients;
  }

  /** Take a client whose headers are sent; false (and nothing written) when the fan-out is full. */
  add(client: SseClient): boolean {
    if (this.clients.size >= this.options.maxClients) return false;
    this.clients.add(client);
    // The browser waits this long before reconnecting after the stream ends.
    this.write(client, 'retry: 2000\n\n');
    this.stopHeartbeat ??= this.every(this.heartbeatMs, () => this.writeAll(': heartbeat\n\n'));
    return true;
  }

  remove(client: SseClient): void {
    if (!this.clients.delete(client)) return;
    if (this.clients.size === 0) {
      this.stopHeartbeat?.();
      this.stopHeartbeat = undefined;
    }
  }

  /** One event to one client (its first view). */
  send(client: SseClient, event: string, data: string): void {
    this.write(client, formatEvent(event, data, this.nextId++));
  }

  /** One event to every client. */
  broadcast(event: string, data: string): void {
    this.writeAll(formatEvent(event, data, this.nextId++));
  }

  /** End every stream (shutdown: lets the HTTP server close). */
  close(): void {
    for (const client of [...this.clients]) {
      this.remove(client);
      client.end();
    }
  }

  private writeAll(chunk: string): void {
    for (const client of [...this.clients]) this.write(client, chunk);
  }

  private write(client: SseClient, chunk: string): void {
    if (!this.clients.has(client)) return;
    client.write(chunk);
    // A client that does not read keeps its events in our memory: past the cap it is cut.
    if (client.writableLength > this.maxBufferedBytes) {
      this.remove(client);
      client.destroy();
    }
  }
}
