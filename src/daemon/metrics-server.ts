import { createServer, type Server } from 'node:http';
import type { DomainStatus } from '../controllers/status.js';
import type { OperatorMetrics } from '../reconcile/metrics.js';
import { AnklumeError, describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

export interface MetricsServerOptions {
  /** `host:port`; port 0 picks a free one. */
  readonly address: string;
  readonly metrics: OperatorMetrics;
  readonly logger: Logger;
  /** Read at scrape time for `anklume_objects`. */
  readonly objects: () => readonly DomainStatus[];
}

/** Prometheus text at `/metrics`. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<Server> {
  const { address, metrics, logger } = options;
  const colon = address.lastIndexOf(':');
  const host = colon <= 0 ? '127.0.0.1' : address.slice(0, colon);
  const port = Number(address.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new AnklumeError('USAGE', `--metrics "${address}" is not host:port`);
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('metrics are at /metrics\n');
      return;
    }
    metrics.setObjects(objectCounts(options.objects()));
    const { registry } = metrics;
    void registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) => {
        logger.warn({ err: describeError(err) }, 'metrics could not be rendered');
        res.writeHead(500).end('metrics could not be rendered\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  logger.info({ address: `${host}:${(server.address() as { port: number }).port}` }, 'metrics served at /metrics');
  return server;
}

/** Objects per kind and condition, for `anklume_objects`. */
function objectCounts(domains: readonly DomainStatus[]): { kind: string; condition: string; count: number }[] {
  const counts = new Map<string, { kind: string; condition: string; count: number }>();
  for (const d of domains) {
    for (const o of d.objects) {
      const is = (type: string): boolean => o.conditions.find((c) => c.type === type)?.status === true;
      const condition = is('Degraded') ? 'Degraded' : is('Ready') ? 'Ready' : 'Progressing';
      const entry = counts.get(`${o.kind}/${condition}`) ?? { kind: o.kind, condition, count: 0 };
      entry.count++;
      counts.set(`${o.kind}/${condition}`, entry);
    }
  }
  return [...counts.values()];
}
