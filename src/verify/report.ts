import type { VerifyCell, VerifyProbe, VerifyReport } from '../shared/verify-report.js';
import { HOST } from './plan.js';

/** The matrix row or column a probe's end belongs to: `domain/instance` → domain; `host` → host. */
export const participantOfLabel = (label: string): string => (label === HOST ? HOST : (label.split('/')[0] ?? label));

const differs = (p: VerifyProbe): boolean => p.observed !== 'error' && p.observed !== p.expected;

/**
 * A cell is `expected` only when every probe in it ran and saw what the table
 * declares; one probe that saw otherwise makes it `unexpected`; a probe that
 * could not run (or no probe at all) leaves it `not-verifiable`, never passing.
 */
export function cellVerdict(probes: readonly VerifyProbe[]): VerifyCell['verdict'] {
  if (probes.some(differs)) return 'unexpected';
  if (probes.length === 0 || probes.some((p) => p.observed === 'error')) return 'not-verifiable';
  return 'expected';
}

export interface ReportInput {
  readonly startedAt: string;
  readonly durationMs: number;
  readonly participants: readonly string[];
  readonly probes: readonly VerifyProbe[];
  readonly notVerifiable: readonly { readonly instance: string; readonly reason: string }[];
  /** Probes actually sent (those that could not be sent are in `probes` as errors). */
  readonly probeCount: number;
}

/** The report: a cell per ordered pair of different participants, rows in `participants` order. */
export function buildReport(input: ReportInput): VerifyReport {
  const cells: VerifyCell[] = [];
  for (const from of input.participants) {
    for (const to of input.participants) {
      if (from === to) continue;
      const probes = input.probes.filter((p) => participantOfLabel(p.from) === from && participantOfLabel(p.to) === to);
      cells.push({ from, to, verdict: cellVerdict(probes), probes });
    }
  }
  return {
    startedAt: input.startedAt,
    durationMs: Math.round(input.durationMs),
    domains: input.participants,
    cells,
    notVerifiable: input.notVerifiable,
    probeCount: input.probeCount,
    ok: cells.every((c) => c.verdict !== 'unexpected'),
  };
}

/** `tcp/80` or `icmp`. */
export const probeName = (p: Pick<VerifyProbe, 'protocol' | 'port'>): string => (p.protocol === 'tcp' ? `tcp/${p.port ?? '?'}` : 'icmp');

const seen = (r: VerifyProbe['observed']): string => (r === 'pass' ? 'passed' : r === 'block' ? 'blocked' : 'not sent');

/** One probe that did not see what the table declares, in words: `pro/pro-dev → perso/perso-web tcp/22 passed, expected blocked`. */
export function describeProbe(p: VerifyProbe): string {
  return `${p.from} → ${p.to} ${probeName(p)} ${seen(p.observed)}, expected ${p.expected === 'pass' ? 'passed' : 'blocked'}${p.detail === undefined ? '' : ` (${p.detail})`}`;
}

/** A cell that differs, in a few words: `a → b: tcp/4999 passed (expected blocked)`. */
export function describeCell(cell: VerifyCell): string {
  const wrong = cell.probes.filter(differs).map((p) => `${probeName(p)} ${seen(p.observed)} (expected ${p.expected === 'pass' ? 'passed' : 'blocked'})`);
  return `${cell.from} → ${cell.to}: ${wrong.join(', ')}`;
}

/** The cells that differ from what the model declares. */
export const unexpectedCells = (report: VerifyReport): VerifyCell[] => report.cells.filter((c) => c.verdict === 'unexpected');

/** True when every cell was verified and matched: what exit 0 means. */
export const fullyVerified = (report: VerifyReport): boolean => report.cells.every((c) => c.verdict === 'expected') && report.notVerifiable.length === 0;
