import type { Condition, DomainStatus } from '../controllers/status.js';
import type { VerifyReport } from '../shared/verify-report.js';
import { HOST } from './plan.js';
import { describeCell, unexpectedCells } from './report.js';

/** Why a domain is Degraded after a verify whose matrix differs. */
export const ISOLATION_MISMATCH = 'IsolationMismatch';

export interface IsolationMismatch {
  readonly message: string;
  /** When the domain's cells started to differ (kept while they go on differing). */
  readonly since: string;
}

/**
 * Per domain, the cells of the last report that differ, as a message (pure).
 * A cell concerns both its ends (the host is no domain). `previous` keeps the
 * time a mismatch began across reports.
 */
export function isolationMismatches(report: VerifyReport, now: string, previous: ReadonlyMap<string, IsolationMismatch>): Map<string, IsolationMismatch> {
  const byDomain = new Map<string, string[]>();
  for (const cell of unexpectedCells(report)) {
    for (const end of new Set([cell.from, cell.to])) {
      if (end === HOST) continue;
      byDomain.set(end, [...(byDomain.get(end) ?? []), describeCell(cell)]);
    }
  }
  const out = new Map<string, IsolationMismatch>();
  for (const [domain, cells] of byDomain) {
    out.set(domain, { message: `isolation differs from infra.yml (verify at ${report.startedAt}): ${cells.join('; ')}`, since: previous.get(domain)?.since ?? now });
  }
  return out;
}

/**
 * The domain's status with the mismatch on top: Degraded and not Ready, with
 * reason IsolationMismatch, whatever its objects say — they may all run while
 * packets go where infra.yml says they must not. Without a mismatch, the
 * status is the domain controller's own.
 */
export function withIsolationMismatch(status: DomainStatus, mismatch: IsolationMismatch | undefined): DomainStatus {
  if (mismatch === undefined || !status.enabled) return status;
  const set = (c: Condition, value: boolean): Condition => ({ ...c, status: value, reason: ISOLATION_MISMATCH, message: mismatch.message, lastTransitionTime: c.status === value ? c.lastTransitionTime : mismatch.since });
  return { ...status, conditions: status.conditions.map((c) => (c.type === 'Degraded' ? set(c, true) : c.type === 'Ready' ? set(c, false) : c)) };
}
