import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { didYouMean, formatIssue } from '../config/issues.js';
import { detectHostNetworks, loadInfraFile } from '../config/load.js';
import { buildDictionary, createSanitizer, MemoryMappingStore, type Replacement, type SanitizeMode } from '../sanitizer/index.js';
import { AnklumeError, describeError } from '../shared/errors.js';
import { EXIT, paint, type CliIo } from './io.js';
import { issueJson } from './validate.js';

export interface SanitizeCommandOptions {
  /** infra.yml, resolved (flag, ANKLUME_CONFIG, default). */
  readonly file: string;
  readonly mode?: SanitizeMode;
  readonly domain?: string;
  readonly secretFile?: string;
  readonly json: boolean;
}

/** The secret of a preview without --secret-file: fixed per domain, so previews are stable, but not the gateway's. */
export function previewSecret(domain: string): Uint8Array {
  return createHash('sha256').update(`anklume sanitize preview\u0000${domain}`).digest();
}

/**
 * `anklumectl sanitize`: run the gateway's engine on stdin for one domain and
 * print what would leave (stdout) and what was replaced (a table on stderr, so
 * stdout stays pipeable; with --json both in one document on stdout).
 * Nothing is recorded anywhere: the mapping lives only for this run.
 */
export async function runSanitize(options: SanitizeCommandOptions, io: CliIo, readInput: () => Promise<string>): Promise<number> {
  const result = await loadInfraFile(options.file, { hostNetworks: detectHostNetworks() });
  if (!result.ok) {
    // The same report as `anklumectl validate`.
    if (options.json) {
      io.stdout(`${JSON.stringify({ valid: false, file: options.file, errors: result.issues.map(issueJson) }, null, 2)}\n`);
    } else {
      for (const issue of result.issues) io.stderr(`${paint(io, 'red', 'error')} ${formatIssue(issue)}\n`);
      const n = result.issues.length;
      io.stderr(`${n} error${n === 1 ? '' : 's'} in ${options.file}; nothing was sanitized\n`);
    }
    return EXIT.failure;
  }
  const { model } = result;
  const names = model.domains.map((d) => d.name);
  const domain = options.domain ?? names[0];
  if (domain === undefined) throw new AnklumeError('UNKNOWN_DOMAIN', `${options.file} declares no domain to sanitize for`);
  if (!names.includes(domain)) {
    const hint = didYouMean(domain, names);
    throw new AnklumeError('UNKNOWN_DOMAIN', `unknown domain "${domain}"${hint === undefined ? '' : ` (${hint})`}; ${options.file} declares ${names.join(', ')}`);
  }
  const mode = options.mode ?? model.sanitizer.mode;
  let secret = previewSecret(domain);
  if (options.secretFile !== undefined) {
    try {
      secret = await readFile(options.secretFile);
    } catch (err) {
      throw new AnklumeError('SECRET_UNREADABLE', `cannot read the secret file ${options.secretFile}: ${describeError(err)}`, { cause: err });
    }
  }
  const sanitizer = createSanitizer({
    domain,
    mode,
    categories: model.sanitizer.patterns,
    dictionary: buildDictionary(model),
    secret,
    mapping: new MemoryMappingStore(),
  });
  const { text, replacements } = sanitizer.sanitize(await readInput());
  const shown = replacements.map(forDisplay);
  if (options.json) {
    io.stdout(`${JSON.stringify({ domain, mode, text, replacements: shown }, null, 2)}\n`);
    return EXIT.ok;
  }
  io.stdout(text);
  io.stderr(renderTable(io, shown, { domain, mode }));
  return EXIT.ok;
}

/** Credentials are not echoed back whole: the first characters and the length say which one it was. */
function forDisplay(r: Replacement): Replacement {
  if (r.category !== 'credentials') return r;
  return { ...r, original: `${r.original.slice(0, 4)}… (${r.original.length} characters)` };
}

function cell(text: string): string {
  const s = JSON.stringify(text).slice(1, -1);
  return s.length > 48 ? `${s.slice(0, 47)}…` : s;
}

function renderTable(io: CliIo, rows: readonly Replacement[], meta: { domain: string; mode: SanitizeMode }): string {
  const head = `${rows.length} replacement${rows.length === 1 ? '' : 's'} (domain ${meta.domain}, mode ${meta.mode})`;
  if (rows.length === 0) return `${paint(io, 'dim', head)}\n`;
  const cells = rows.map((r) => [r.category, r.pattern, cell(r.original), cell(r.replacement)] as const);
  const width = (i: 0 | 1 | 2, title: string): number => Math.max(title.length, ...cells.map((c) => c[i].length));
  const w = [width(0, 'CATEGORY'), width(1, 'PATTERN'), width(2, 'ORIGINAL')];
  const line = (c: readonly string[]): string => `  ${(c[0] ?? '').padEnd(w[0] ?? 0)}  ${(c[1] ?? '').padEnd(w[1] ?? 0)}  ${(c[2] ?? '').padEnd(w[2] ?? 0)}  → ${c[3] ?? ''}\n`;
  return `\n${paint(io, 'bold', head)}\n${line(['CATEGORY', 'PATTERN', 'ORIGINAL', 'REPLACEMENT'])}${cells.map(line).join('')}`;
}

