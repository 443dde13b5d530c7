import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Replacement } from '../sanitizer/types.js';

/** One proxied request, as the audit log needs it. */
export interface AuditRequest {
  readonly requestId: string;
  readonly domain: string;
  readonly endpoint: string;
  readonly model: string | null;
  readonly route: 'local' | 'cloud';
  readonly sanitized: boolean;
  readonly replacements: readonly Replacement[];
}

export interface AuditOptions {
  readonly path: string;
  /** spec/003 `audit_log_redacted_only`: only requests with at least one redaction leave lines. */
  readonly redactedOnly: boolean;
  /** Write sha256 of originals instead of the originals. */
  readonly hashOriginals: boolean;
  /** Rotate when the file would grow past this. */
  readonly maxBytes: number;
  /** Rotated files kept: path.1 (newest) … path.<keep>. */
  readonly keep: number;
  readonly now?: () => Date;
}

/**
 * The local audit trail (spec/003 "Journal d'audit"): JSON lines, mode 0600,
 * one line per distinct replacement of a request (timestamp, request id,
 * domain, category, pattern, original or its sha256, replacement, how many
 * times, model, endpoint, route). With `redactedOnly` off, a request without
 * any replacement still leaves one line (`replacements: 0`), so the log shows
 * every request that went through. Size-based rotation, written
 * synchronously: a line is on disk before the request goes upstream.
 */
export class AuditLog {
  private readonly options: AuditOptions;
  private fd: number;
  private size: number;

  constructor(options: AuditOptions) {
    this.options = options;
    mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
    this.fd = this.open();
    this.size = fstatSync(this.fd).size;
  }

  record(request: AuditRequest): void {
    const lines = this.lines(request);
    if (lines.length === 0) return;
    const text = lines.join('');
    const bytes = Buffer.byteLength(text);
    if (this.size > 0 && this.size + bytes > this.options.maxBytes) this.rotate();
    writeSync(this.fd, text);
    this.size += bytes;
  }

  close(): void {
    closeSync(this.fd);
  }

  private lines(r: AuditRequest): string[] {
    const ts = (this.options.now?.() ?? new Date()).toISOString();
    const base = { ts, request_id: r.requestId, domain: r.domain, endpoint: r.endpoint, model: r.model, route: r.route };
    if (r.replacements.length === 0) {
      return this.options.redactedOnly ? [] : [`${JSON.stringify({ ...base, sanitized: r.sanitized, replacements: 0 })}\n`];
    }
    // A conversation resends its history on every turn: one line per distinct value, with a count.
    const distinct = new Map<string, { replacement: Replacement; count: number }>();
    for (const rep of r.replacements) {
      const key = `${rep.category}\0${rep.pattern}\0${rep.original}\0${rep.replacement}`;
      const seen = distinct.get(key);
      if (seen === undefined) distinct.set(key, { replacement: rep, count: 1 });
      else seen.count++;
    }
    return [...distinct.values()].map(({ replacement: rep, count }) => {
      const original = this.options.hashOriginals ? { original_sha256: createHash('sha256').update(rep.original).digest('hex') } : { original: rep.original };
      return `${JSON.stringify({ ...base, category: rep.category, pattern: rep.pattern, ...original, replacement: rep.replacement, count })}\n`;
    });
  }

  private open(): number {
    const fd = openSync(this.options.path, 'a', 0o600);
    chmodSync(this.options.path, 0o600);
    return fd;
  }

  private rotate(): void {
    closeSync(this.fd);
    const { path, keep } = this.options;
    if (keep === 0) {
      rmSync(path, { force: true });
    } else {
      rmSync(`${path}.${keep}`, { force: true });
      for (let i = keep - 1; i >= 1; i--) if (existsSync(`${path}.${i}`)) renameSync(`${path}.${i}`, `${path}.${i + 1}`);
      renameSync(path, `${path}.1`);
    }
    this.fd = this.open();
    this.size = 0;
  }
}
