import type { IncusClient } from '../incus/client.js';
import type { Reconciler, ReconcileContext } from '../reconcile/reconciler.js';
import type { DesiredInfra } from '../schemas/model.js';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { VerifyReport } from '../shared/verify-report.js';
import { isolationMismatches, type IsolationMismatch } from './conditions.js';
import type { VerifyLimits } from './limits.js';
import { describeCell, unexpectedCells } from './report.js';
import { runVerify } from './run.js';

/** The verify controller's one key: the matrix is one measurement of the whole host. */
export const VERIFY_KEY = 'verify';

export interface VerifyReconcilerDeps {
  readonly client: IncusClient;
  readonly model: () => DesiredInfra;
  readonly limits: VerifyLimits;
  /** Time between the end of one run and the start of the next. */
  readonly everyMs: number;
  /** Probe from and to the host (false with a remote Incus). */
  readonly host: boolean;
  readonly logger: Logger;
  readonly now?: () => Date;
}

/**
 * anklumed's `--verify-every`: runs verify on a queue of its own (one run at
 * a time, never in the way of a reconcile), keeps the last report for the
 * status document, and the domains whose cells differ, which status shows
 * Degraded until a run finds them as declared again.
 */
export class VerifyReconciler implements Reconciler {
  readonly name = 'verify';
  private last: VerifyReport | null = null;
  private mismatches = new Map<string, IsolationMismatch>();

  constructor(private readonly deps: VerifyReconcilerDeps) {}

  /** The last report; null until the first run ends. */
  report(): VerifyReport | null {
    return this.last;
  }

  /** What differs for this domain in the last report; undefined when nothing does. */
  mismatch(domain: string): IsolationMismatch | undefined {
    return this.mismatches.get(domain);
  }

  async reconcile(ctx: ReconcileContext): Promise<{ requeueAfterMs: number }> {
    const { deps } = this;
    let report: VerifyReport;
    try {
      report = await runVerify(deps.client, deps.model(), { ...deps.limits, host: deps.host, signal: ctx.signal });
    } catch (err) {
      // Incus unreachable, too many probes: the last report stays; the queue backs off.
      ctx.log.warn({ err: describeError(err) }, 'verify failed');
      throw err;
    }
    const wasOk = this.last?.ok ?? true;
    this.last = report;
    this.mismatches = isolationMismatches(report, (deps.now?.() ?? new Date()).toISOString(), this.mismatches);
    const wrong = unexpectedCells(report);
    if (wrong.length > 0) ctx.log.error({ cells: wrong.map(describeCell), probes: report.probeCount, ms: report.durationMs }, 'verify: isolation differs from infra.yml');
    else if (!wasOk) ctx.log.info({ probes: report.probeCount, ms: report.durationMs }, 'verify: isolation matches infra.yml again');
    else ctx.log.debug({ probes: report.probeCount, ms: report.durationMs }, 'verify: isolation matches infra.yml');
    return { requeueAfterMs: deps.everyMs };
  }
}
