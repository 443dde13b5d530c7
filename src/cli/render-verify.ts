import type { VerifyCell, VerifyReport } from '../shared/verify-report.js';
import { describeCell, describeProbe, fullyVerified, probeName, unexpectedCells } from '../verify/report.js';
import { paint, type CliIo, type Style } from './io.js';

/** What a cell shows: its verdict and, when it matched, what passed (`closed` when nothing did). */
export function cellText(cell: VerifyCell): { text: string; style: Style } {
  if (cell.verdict === 'unexpected') return { text: 'UNEXPECTED', style: 'red' };
  if (cell.verdict === 'not-verifiable') return { text: 'not verifiable', style: 'yellow' };
  const passed = cell.probes.filter((p) => p.observed === 'pass').map(probeName);
  return { text: `ok ${passed.length === 0 ? 'closed' : passed.join(',')}`, style: 'green' };
}

/**
 * The matrix as text (pure): rows are senders, columns receivers, `-` on the
 * diagonal (inside a domain is not between bridges); then every probe that
 * differs, what could not be verified, and a summary line.
 */
export function renderVerify(report: VerifyReport, io: CliIo): string {
  const names = report.domains;
  type Cell = { readonly text: string; readonly style?: Style };
  const header: Cell[] = ['from \\ to', ...names].map((text) => ({ text, style: 'bold' }));
  const at = (from: string, to: string): Cell => {
    if (from === to) return { text: '-', style: 'dim' };
    const cell = report.cells.find((c) => c.from === from && c.to === to);
    return cell === undefined ? { text: '?', style: 'yellow' } : cellText(cell);
  };
  const rows: Cell[][] = names.map((from) => [{ text: from, style: 'bold' }, ...names.map((to) => at(from, to))]);
  const widths = header.map((h, i) => Math.max(h.text.length, ...rows.map((r) => r[i]?.text.length ?? 0)));
  // Padded on the plain text, then painted: colour codes never break alignment; no trailing blanks.
  const line = (cells: readonly Cell[]): string =>
    cells.map((c, i) => (c.style === undefined ? c.text : paint(io, c.style, c.text)) + (i === cells.length - 1 ? '' : ' '.repeat((widths[i] ?? 0) - c.text.length))).join('  ');
  const out = ['Isolation measured with real packets (rows: from, columns: to; "ok" lists what passed):', '', line(header), ...rows.map(line)];
  const wrong = report.cells.filter((c) => c.verdict === 'unexpected').flatMap((c) => c.probes.filter((p) => p.observed !== 'error' && p.observed !== p.expected));
  if (wrong.length > 0) {
    out.push('', paint(io, 'red', 'Unexpected:'));
    for (const p of wrong) out.push(`  ${describeProbe(p)}`);
  }
  const unsent = report.cells.filter((c) => c.verdict === 'not-verifiable');
  if (report.notVerifiable.length > 0 || unsent.length > 0) {
    out.push('', paint(io, 'yellow', 'Not verifiable (never counted as passing):'));
    for (const n of report.notVerifiable) out.push(`  ${n.instance}: ${n.reason}`);
    for (const c of unsent) {
      const reasons = [...new Set(c.probes.filter((p) => p.observed === 'error').map((p) => p.detail ?? 'not sent'))];
      out.push(`  ${c.from} → ${c.to}: ${c.probes.length === 0 ? 'no instance to probe from or to' : reasons.join('; ')}`);
    }
  }
  out.push('', summaryLine(report, io));
  return `${out.join('\n')}\n`;
}

/** One line: how many cells matched, which differ, how many probes, how long. */
export function summaryLine(report: VerifyReport, io: CliIo): string {
  const count = (v: VerifyCell['verdict']): number => report.cells.filter((c) => c.verdict === v).length;
  const cells = `${report.cells.length} cell${report.cells.length === 1 ? '' : 's'}: ${count('expected')} expected, ${count('unexpected')} unexpected, ${count('not-verifiable')} not verifiable`;
  const text = `Verify: ${cells}; ${report.probeCount} probe${report.probeCount === 1 ? '' : 's'} in ${(report.durationMs / 1000).toFixed(1)}s.`;
  const style: Style = !report.ok ? 'red' : fullyVerified(report) ? 'green' : 'yellow';
  return paint(io, style, text);
}

/** `anklumectl status`'s line about the daemon's last verify: when, the counts, and the cells that differ. */
export function verifyStatusLine(report: VerifyReport | null, io: CliIo): string {
  if (report === null) return paint(io, 'dim', 'not run yet');
  const wrong = unexpectedCells(report);
  const when = paint(io, 'dim', ` (at ${report.startedAt})`);
  const count = (v: VerifyCell['verdict']): number => report.cells.filter((c) => c.verdict === v).length;
  if (wrong.length > 0) return `${paint(io, 'red', `${wrong.length} cell${wrong.length === 1 ? '' : 's'} UNEXPECTED`)}: ${wrong.map(describeCell).join('; ')}${when}`;
  const nv = count('not-verifiable') > 0 || report.notVerifiable.length > 0 ? `, ${paint(io, 'yellow', `${count('not-verifiable')} cell(s) and ${report.notVerifiable.length} instance(s) not verifiable`)}` : '';
  return `${paint(io, 'green', `${count('expected')}/${report.cells.length} cells as declared`)}${nv}, ${report.probeCount} probes in ${(report.durationMs / 1000).toFixed(1)}s${when}`;
}
