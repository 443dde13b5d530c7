import { readFileSync, statSync } from 'node:fs';
import type { AccessState } from './route.js';

/**
 * Who holds exclusive access to the local AI: the state file that
 * `anklumectl switch-ai` writes (spec path /opt/anklume/ai-access-current),
 * else infra.yml's ai_access_default. The file holds a domain name (first
 * non-empty line) or JSON `{"domain": "..."}`. It is stat'ed on each check and
 * read again only when its inode, size or mtime changed: a few microseconds,
 * and a switch applies to the very next request.
 */
export class AccessHolder {
  private readonly file: string;
  private readonly policy: 'open' | 'exclusive';
  private readonly fallback: string | null;
  private stamp = '';
  private cached: string | null = null;

  constructor(options: { file: string; policy: 'open' | 'exclusive'; accessDefault: string | null }) {
    this.file = options.file;
    this.policy = options.policy;
    this.fallback = options.accessDefault;
  }

  current(): AccessState {
    if (this.policy === 'open') return { policy: 'open', holder: null };
    return { policy: 'exclusive', holder: this.fromFile() ?? this.fallback };
  }

  private fromFile(): string | null {
    let stamp: string;
    try {
      const s = statSync(this.file);
      stamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      this.stamp = '';
      this.cached = null;
      return null;
    }
    if (stamp !== this.stamp) {
      this.stamp = stamp;
      try {
        this.cached = parseHolder(readFileSync(this.file, 'utf8'));
      } catch {
        this.cached = null;
      }
    }
    return this.cached;
  }
}

/** The domain named in the holder file's text, or null when it names none. */
export function parseHolder(text: string): string | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  if (trimmed.startsWith('{')) {
    try {
      const data = JSON.parse(trimmed) as { domain?: unknown };
      return typeof data.domain === 'string' && data.domain !== '' ? data.domain : null;
    } catch {
      return null;
    }
  }
  return trimmed.split(/\r?\n/)[0]?.trim() || null;
}
