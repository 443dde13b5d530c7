import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { VerifyReport } from '../shared/verify-report.js';

const probe = z.object({
  from: z.string(),
  to: z.string(),
  address: z.string(),
  protocol: z.enum(['tcp', 'icmp']),
  port: z.number().int().optional(),
  why: z.string(),
  expected: z.enum(['pass', 'block']),
  observed: z.enum(['pass', 'block', 'error']),
  detail: z.string().optional(),
});

/** The verify report's shape (src/shared/verify-report.ts), checked: the file is written by another program. */
const verifyReport = z.object({
  startedAt: z.string(),
  durationMs: z.number(),
  domains: z.array(z.string()),
  cells: z.array(z.object({ from: z.string(), to: z.string(), verdict: z.enum(['expected', 'unexpected', 'not-verifiable']), probes: z.array(probe) })),
  notVerifiable: z.array(z.object({ instance: z.string(), reason: z.string() })),
  probeCount: z.number(),
  ok: z.boolean(),
});

/**
 * A verify report kept in a file (`anklumed --verify-report`, the output of
 * `anklumectl verify --json`), shown in the status document. Read again only
 * when the file changes (its size or mtime), so the status stays cheap to make;
 * a missing or invalid file shows as no report, and is logged once per change.
 */
export class VerifyReportFile {
  private stamp = '';
  private report: VerifyReport | null = null;

  constructor(private readonly path: string, private readonly logger: Logger) {}

  current(): VerifyReport | null {
    let stamp: string;
    try {
      const st = statSync(this.path);
      stamp = `${st.size}:${st.mtimeMs}`;
    } catch {
      stamp = 'missing';
    }
    if (stamp === this.stamp) return this.report;
    this.stamp = stamp;
    this.report = null;
    if (stamp === 'missing') return null;
    try {
      const parsed = verifyReport.safeParse(JSON.parse(readFileSync(this.path, 'utf8')));
      if (parsed.success) this.report = parsed.data as VerifyReport;
      else this.logger.warn({ file: this.path, error: parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`) }, 'verify report file is not a verify report; not shown');
    } catch (err) {
      this.logger.warn({ file: this.path, err: describeError(err) }, 'verify report file could not be read; not shown');
    }
    return this.report;
  }
}
