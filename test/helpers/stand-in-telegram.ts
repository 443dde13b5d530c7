import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in Telegram Bot API on the host: a real HTTP server that records
 * every Bot API call (`/bot<token>/<method>`) and answers the few methods a
 * bot in long polling needs (getMe, getUpdates with no update, sendMessage,
 * anything else `true`). OpenClaw's Telegram channel reaches it through its
 * documented `channels.telegram.apiRoot` (infra.yml's `telegram.api_root`).
 */

export interface BotApiCall {
  readonly method: string;
  readonly token: string;
  /** The JSON body, or the raw text when it was not JSON. */
  readonly body: any;
  readonly at: number;
}

export interface StandInTelegram {
  /** `http://127.0.0.1:<port>`, the Bot API root. */
  readonly url: string;
  readonly port: number;
  readonly calls: BotApiCall[];
  /** Calls other than the long poll itself, from index `since` on. */
  callsSince(since: number): BotApiCall[];
  /** The texts of `sendMessage` calls, from index `since` on. */
  messagesSince(since: number): { chatId: string; text: string }[];
  close(): Promise<void>;
}

const BOT = { id: 4242, is_bot: true, first_name: 'anklume e2e', username: 'anklume_e2e_bot', can_join_groups: false, can_read_all_group_messages: false, supports_inline_queries: false };

export async function startStandInTelegram(): Promise<StandInTelegram> {
  const calls: BotApiCall[] = [];
  const polls = new Set<NodeJS.Timeout>();
  let messageId = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      const match = /^\/bot([^/]+)\/([A-Za-z]+)/.exec(req.url ?? '');
      const answer = (result: unknown): void => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true, result }));
      };
      if (match === null) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"ok":false,"error_code":404,"description":"Not Found"}');
        return;
      }
      const [, token = '', method = ''] = match;
      let body: any = raw;
      try {
        body = raw === '' ? {} : JSON.parse(raw);
      } catch {
        // kept as text
      }
      calls.push({ method, token, body, at: Date.now() });
      if (method === 'getMe') return answer(BOT);
      if (method === 'getUpdates') {
        // A short long poll with nothing in it: the bot keeps polling, nobody writes.
        const timer = setTimeout(() => {
          polls.delete(timer);
          answer([]);
        }, 1_000);
        polls.add(timer);
        return undefined;
      }
      if (method === 'sendMessage') {
        messageId += 1;
        return answer({ message_id: messageId, date: Math.floor(Date.now() / 1000), chat: { id: Number(body.chat_id), type: 'private' }, from: BOT, text: String(body.text ?? '') });
      }
      return answer(true);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    calls,
    callsSince: (since) => calls.slice(since).filter((c) => c.method !== 'getUpdates'),
    messagesSince: (since) => calls.slice(since).filter((c) => c.method === 'sendMessage').map((c) => ({ chatId: String(c.body.chat_id), text: String(c.body.text) })),
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of polls) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
