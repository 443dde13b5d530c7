/**
 * Validation issues: what a rule found wrong, where, and what was expected.
 * Rules produce paths; src/config/validate.ts turns paths into file:line:col.
 */

export type IssuePath = readonly (string | number)[];

export interface ValidationIssue {
  /** Stable rule id, e.g. `ip-in-subnet`; the test corpus is keyed by it. */
  readonly rule: string;
  /** Where in the document: ['domains', 'pro', 'ai_provider']. */
  readonly path: IssuePath;
  /** Point at the mapping key rather than its value (unknown keys, bad names). */
  readonly atKey?: boolean;
  /** One sentence saying what is wrong. */
  readonly message: string;
  readonly expected?: string;
  readonly found?: string;
  readonly hint?: string;
}

export interface LocatedIssue extends ValidationIssue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** `domains.pro.machines.pro-dev.ip`, `network_policies[2].to`. */
export function formatPath(path: IssuePath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out === '' ? '(root)' : out;
}

/** One line per issue, as compilers print them: `file:line:col: path: message (expected …, found …) hint`. */
export function formatIssue(issue: LocatedIssue): string {
  const parts = [`${issue.file}:${issue.line}:${issue.column}: ${formatPath(issue.path)}: ${issue.message}`];
  const detail = [
    issue.expected === undefined ? undefined : `expected ${issue.expected}`,
    issue.found === undefined ? undefined : `found ${issue.found}`,
  ].filter((s) => s !== undefined);
  if (detail.length > 0) parts.push(`(${detail.join(', ')})`);
  if (issue.hint !== undefined) parts.push(`— ${issue.hint}`);
  return parts.join(' ');
}

/** Show a found value the way the user wrote it. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${value}`;
  return typeof value;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] ?? 0;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(above + 1, (row[j - 1] ?? 0) + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return row[b.length] ?? 0;
}

/** The closest candidate within a typo's distance, as a `did you mean` hint. */
export function didYouMean(input: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(input.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  const tolerance = Math.max(2, Math.floor(best.length / 3));
  return bestDistance <= tolerance ? `did you mean "${best}"?` : undefined;
}
