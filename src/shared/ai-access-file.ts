import { mkdir, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * The AI access holder file (`/opt/anklume/ai-access-current`): who holds
 * exclusive access to the local AI, as the daemon and `switch-ai` record it
 * and the gateway reads it. One JSON line, `{"holder":"pro"}`, or
 * `{"holder":null}` for nobody: "nobody" is a record, never the absence of
 * one, so a missing, empty, unreadable or unparseable file can be read as
 * "deny everybody" (fail closed). The format lives here only; both sides
 * import it.
 */

/** A domain name as infra.yml allows it (a DNS label). */
const DOMAIN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export type HolderRecord = { readonly holder: string | null };

/** The file's text for a holder, or for nobody (null). */
export function formatHolderFile(holder: string | null): string {
  if (holder !== null && !DOMAIN.test(holder)) throw new Error(`not a domain name: ${JSON.stringify(holder)}`);
  return `${JSON.stringify({ holder })}\n`;
}

/**
 * The record in the file's text, or null when the text is not one (empty,
 * truncated, anything else). An older anklume wrote the bare domain name or
 * `{"domain": …}`: still read, so an upgrade does not lock the holder out
 * until the daemon writes the file again.
 */
export function parseHolderFile(text: string): HolderRecord | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  if (trimmed.startsWith('{')) {
    let data: unknown;
    try {
      data = JSON.parse(trimmed);
    } catch {
      return null;
    }
    if (data === null || typeof data !== 'object' || Array.isArray(data)) return null;
    const record = data as Record<string, unknown>;
    if ('holder' in record) {
      const h = record.holder;
      return h === null ? { holder: null } : typeof h === 'string' && DOMAIN.test(h) ? { holder: h } : null;
    }
    return typeof record.domain === 'string' && DOMAIN.test(record.domain) ? { holder: record.domain } : null;
  }
  return DOMAIN.test(trimmed) ? { holder: trimmed } : null;
}

/**
 * Write the holder file atomically: a temporary file beside it, written and
 * fsync'ed, renamed over the old one, then the directory fsync'ed. A reader
 * sees the old record or the new one, never a half-written file, and a
 * crash never leaves an empty one. Mode 0644 whatever the umask.
 */
export async function writeHolderFile(path: string, holder: string | null): Promise<void> {
  const text = formatHolderFile(holder);
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const file = await open(tmp, 'w', 0o644);
  try {
    // World-readable whatever the umask (anklumed runs with UMask=0027): the
    // sanitizer's service reads it through a read-only mount where it is
    // neither owner nor group.
    await file.chmod(0o644);
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
