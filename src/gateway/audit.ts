import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Replacement } from '../sanitizer/types.js';
import type { BinaryPassed } from './request-sanitizer.js';

/** How many infrastructure originals' hashes the log keeps at hand. */
const MAX_REMEMBERED_HASHES = 4096;

/** One proxied request, as the audit log needs it. */
export interface AuditRequest {
  readonly requestId: string;
  readonly domain: string;
  readonly endpoint: string;
  readonly model: string | null;
  readonly route: 'local' | 'cloud';
  readonly sanitized: boolean;
  readonly replacements: readonly Replacement[];
  /** Binary content sent to the cloud because the domain allows it (`ai_binary: allow`). */
  readonly binary?: readonly BinaryPassed[];
}

export interface AuditOptions {
  readonly path: string;
  /** spec/003 `audit_log_redacted_only`: only requests with at least one redaction leave lines. */
  readonly redactedOnly: boolean;
  /**
   * Keep the originals of infrastructure identifiers in clear beside their
   * keyed hash (`audit.store_originals`). Credentials are never kept, whatever this says.
   */
  readonly storeOriginals: boolean;
  /** The per-gateway HMAC key (see loadAuditKey): hashes of originals cannot be brute-forced without it. */
  readonly key: Uint8Array;
  /** Rotate when the file would grow past this. */
  readonly maxBytes: number;
  /** Rotated files kept: path.1 (newest) … path.<keep>. */
  readonly keep: number;
  readonly now?: () => Date;
}

/**
 * The local audit trail (spec/003 "Journal d'audit"): JSON lines, mode 0600,
 * one line per distinct replacement of a request (timestamp, request id,
 * domain, category, pattern, the original's keyed hash, replacement, how many
 * times, model, endpoint, route). The hash is HMAC-SHA256 under a key kept
 * beside the log: the same value always has the same hash (one can follow
 * it across requests, or check a suspected value with the key), and nobody
 * who only reads the log can recover it, even an IP address with few
 * possible values. A credential is never written, only its category and
 * hash; infrastructure originals are written too only with `storeOriginals`. With `redactedOnly` off, a request without
 * any replacement still leaves one line (`replacements: 0`), so the log shows
 * every request that went through. Size-based rotation, written
 * synchronously: a line is on disk before the request goes upstream.
 */
export class AuditLog {
  private readonly options: AuditOptions;
  private fd: number;
  private size: number;
  /**
   * Keyed hashes of infrastructure originals already seen: a conversation
   * resends the same few on every turn, and an HMAC object per value per
   * request was a third of the audit's cost. Credentials are never kept
   * here (they are hashed each time); cleared when full.
   */
  private readonly hashes = new Map<string, string>();

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
    if (r.replacements.length === 0 && (r.binary ?? []).length === 0) {
      return this.options.redactedOnly ? [] : [`${JSON.stringify({ ...base, sanitized: r.sanitized, replacements: 0 })}\n`];
    }
    // The request's fields open every line: serialised once, without the closing brace, and each
    // line appends its own fields. The same bytes as one JSON.stringify of the whole object per
    // line (same keys, same order), without copying the request's fields into each line's object.
    const head = JSON.stringify(base).slice(0, -1);
    // A conversation resends its history on every turn: one line per distinct value, with a count.
    const distinct = new Map<string, { replacement: Replacement; count: number }>();
    for (const rep of r.replacements) {
      const key = `${rep.category}\0${rep.pattern}\0${rep.original}\0${rep.replacement}`;
      const seen = distinct.get(key);
      if (seen === undefined) distinct.set(key, { replacement: rep, count: 1 });
      else seen.count++;
    }
    const lines: string[] = [];
    for (const { replacement: rep, count } of distinct.values()) {
      const hmac = this.hash(rep.original, rep.category !== 'credentials');
      const clear = this.options.storeOriginals && rep.category !== 'credentials' ? `,"original":${JSON.stringify(rep.original)}` : '';
      lines.push(`${head},"category":${JSON.stringify(rep.category)},"pattern":${JSON.stringify(rep.pattern)},"original_hmac":"${hmac}"${clear},"replacement":${JSON.stringify(rep.replacement)},"count":${count}}\n`);
    }
    for (const b of r.binary ?? []) lines.push(`${head},"binary":${JSON.stringify(b.what)},"bytes":${JSON.stringify(b.bytes)},"field":${JSON.stringify(b.path)}}\n`);
    return lines;
  }

  private hash(original: string, remember: boolean): string {
    const known = this.hashes.get(original);
    if (known !== undefined) return known;
    const hmac = createHmac('sha256', this.options.key).update(original).digest('hex');
    if (remember) {
      if (this.hashes.size >= MAX_REMEMBERED_HASHES) this.hashes.clear();
      this.hashes.set(original, hmac);
    }
    return hmac;
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

/**
 * The audit log's HMAC key: `audit.key` beside the log, 32 random bytes
 * created 0600 on first start and kept across restarts (hashes stay
 * comparable). A key readable by others is refused: it is what makes the
 * hashes one-way.
 */
export function loadAuditKey(auditPath: string): Buffer {
  const file = join(dirname(auditPath), 'audit.key');
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, randomBytes(32), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) throw new Error(`audit key ${file} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 it`);
  const key = readFileSync(file);
  if (key.length < 16) throw new Error(`audit key ${file} is too short (${key.length} bytes, at least 16)`);
  return key;
}
