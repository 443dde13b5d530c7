import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { describeError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { ViewBinding } from './addresses.js';

/**
 * One listener per gateway address, not one on every address of the host.
 *
 * One socket on 0.0.0.0 would also answer on the host's LAN and VPN
 * addresses, where anklume's table leaves input alone: the server's address
 * check would still refuse, but a whole API would stand open to the LAN for
 * one mistake to expose. Bound to the gateways only, the view exists where
 * the firewall opens it and nowhere else, and a socket bound to A's gateway
 * can only ever see connections to A's gateway. The cost is that listeners
 * follow the bridges: {@link ViewListeners.sync} is called when the model or
 * a bridge changes, and on a timer, and opens what is wanted and closes what
 * is not. It fails closed: a listener that cannot bind is retried on the next
 * sync, never replaced by a wider one.
 */
export class ViewListeners {
  private readonly open = new Map<string, { readonly binding: ViewBinding; readonly port: number; readonly server: Server }>();
  private readonly failing = new Map<string, string>();
  private syncing: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: {
      readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
      readonly logger: Logger;
      /** Most connections one view holds at once (a domain's machines polling it, not a crowd). */
      readonly maxConnections?: number;
    },
  ) {}

  /** Listen on `port` of each binding's gateway, and on nothing else; one sync at a time. */
  sync(bindings: readonly ViewBinding[], port: number): Promise<void> {
    const run = this.syncing.then(() => this.syncNow(bindings, port));
    this.syncing = run.catch(() => undefined);
    return run;
  }

  /** Where a domain's view listens now (port 0 in tests picks a free one). */
  addressOf(domain: string): { readonly address: string; readonly port: number } | undefined {
    for (const { binding, server } of this.open.values()) {
      const a = server.address();
      if (binding.domain === domain && a !== null && typeof a === 'object') return { address: a.address, port: a.port };
    }
    return undefined;
  }

  /** The domains listened for now. */
  domains(): string[] {
    return [...this.open.values()].map((o) => o.binding.domain).sort();
  }

  close(): Promise<void> {
    return this.sync([], 0);
  }

  private async syncNow(bindings: readonly ViewBinding[], port: number): Promise<void> {
    const { logger } = this.options;
    const wanted = new Map(bindings.map((b) => [`${b.domain}@${b.gateway}:${port}`, b]));
    for (const [key, entry] of [...this.open]) {
      if (wanted.has(key)) continue;
      this.open.delete(key);
      await new Promise<void>((resolve) => {
        entry.server.close(() => resolve());
        entry.server.closeAllConnections();
      });
      logger.info({ domain: entry.binding.domain, address: `${entry.binding.gateway}:${entry.port}` }, 'domain view stopped');
    }
    for (const key of this.failing.keys()) if (!wanted.has(key)) this.failing.delete(key);
    for (const [key, binding] of wanted) {
      if (this.open.has(key)) continue;
      const server = createServer({ requestTimeout: 15_000, headersTimeout: 5_000, keepAliveTimeout: 2_000, maxHeaderSize: 8 * 1024 }, this.options.handler);
      server.maxConnections = this.options.maxConnections ?? 32;
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: binding.gateway, port, exclusive: true }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        const message = describeError(err);
        // Once per cause, not on every sync: a bridge without its address yet is normal for a moment.
        if (this.failing.get(key) !== message) logger.warn({ domain: binding.domain, address: `${binding.gateway}:${port}`, err: message }, 'domain view cannot listen yet');
        this.failing.set(key, message);
        continue;
      }
      server.on('error', (err) => logger.warn({ domain: binding.domain, err: describeError(err) }, 'domain view listener error'));
      this.failing.delete(key);
      this.open.set(key, { binding, port, server });
      const a = server.address();
      logger.info({ domain: binding.domain, address: `${binding.gateway}:${a !== null && typeof a === 'object' ? a.port : port}` }, 'domain view listening');
    }
  }
}
