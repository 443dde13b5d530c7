import { createServer, type Server } from 'node:http';
import type { DomainStatus } from '../controllers/status.js';
import type { OperatorMetrics } from '../reconcile/metrics.js';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { formatListenAddress, listen, type ListenAddress } from './listen-address.js';
import type { StatusPage } from './web/page-server.js';

export interface MetricsServerOptions {
  /** Port 0 picks a free one. */
  readonly address: ListenAddress;
  readonly metrics: OperatorMetrics;
  readonly logger: Logger;
  /** Read at scrape time for `anklume_objects`. */
  readonly objects: () => readonly DomainStatus[];
  /** The status page, served beside the metrics when given. */
  readonly page?: StatusPage;
}

/** Prometheus text at `/metrics`, and the status page when it is given. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<Server> {
  const { address, metrics, logger } = options;
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      if (options.page?.handle(req, res) !== true) res.writeHead(404).end(options.page === undefined ? 'metrics are at /metrics\n' : 'metrics are at /metrics, the status page at /\n');
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
  const port = await listen(server, address);
  logger.info({ address: formatListenAddress(address.host, port), page: options.page !== undefined }, options.page === undefined ? 'metrics served at /metrics' : 'metrics served at /metrics, the status page at /');
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
