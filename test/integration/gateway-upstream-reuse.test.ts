import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/gateway/errors.js';
import { Upstreams } from '../../src/gateway/upstream.js';

// A keep-alive server closes an idle connection after its own timeout (Node's
// default: 5 s). When the gateway writes its next request on that connection
// at that moment, the request fails with ECONNRESET: this made the 30 MB stall
// test answer 502 now and then (its upstream connection sat idle while the
// large body was sanitized). Here the server closes a connection that already
// served one request as soon as the next one arrives: that moment, every time.

interface RawServer {
  readonly url: URL;
  /** Per connection, how many requests it received whole and answered. */
  readonly answered: number[];
  close(): Promise<void>;
}

/** `mode`: `reused` closes a connection on its second request; `always` resets every connection on its first bytes. */
async function rawServer(mode: 'reused' | 'always'): Promise<RawServer> {
  const answered: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const id = answered.push(0) - 1;
    let buffer = '';
    socket.on('data', (data: Buffer) => {
      if (mode === 'always' || (answered[id] ?? 0) > 0) {
        socket.resetAndDestroy();
        return;
      }
      buffer += data.toString('latin1');
      const head = buffer.indexOf('\r\n\r\n');
      if (head < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(buffer.slice(0, head))?.[1] ?? 0);
      if (buffer.length < head + 4 + length) return;
      answered[id] = 1;
      buffer = '';
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/v1/messages`),
    answered,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function drained(res: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of res) body += String(chunk);
  return body;
}

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function send(upstreams: Upstreams, url: URL): Promise<IncomingMessage> {
  return upstreams.request({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"model":"m"}'), signal: new AbortController().signal, timeoutMs: 10_000 });
}

describe('upstream keep-alive connections', () => {
  it('sends a request again on a new connection when the reused one is closed under it', async () => {
    const server = await rawServer('reused');
    const upstreams = new Upstreams();
    cleanup.push(() => server.close(), () => upstreams.close());
    const first = await send(upstreams, server.url);
    expect(await drained(first)).toBe('{}');
    // Same agent, the first connection back in its pool: the second request goes on it, and the server closes it.
    const second = await send(upstreams, server.url);
    expect(second.statusCode).toBe(200);
    expect(await drained(second)).toBe('{}');
    // Two connections, each answered once: the request was sent whole on the second one.
    expect(server.answered).toEqual([1, 1]);
  });

  it('does not send again when a new connection fails: the client gets a 502', async () => {
    const server = await rawServer('always');
    const upstreams = new Upstreams();
    cleanup.push(() => server.close(), () => upstreams.close());
    const error = await send(upstreams, server.url).then(
      () => null,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).status).toBe(502);
    expect(server.answered).toEqual([0]);
  });
});
