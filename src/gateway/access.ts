import { readFileSync, statSync } from 'node:fs';
import { parseHolderFile } from '../shared/ai-access-file.js';
import type { AccessState } from './route.js';

/**
 * Who holds exclusive access to the local AI: the holder file that anklumed
 * and `anklumectl switch-ai` write (format: shared/ai-access-file.ts). It is
 * stat'ed on each check and read again only when its inode, size or mtime
 * changed: a few microseconds, and a switch applies to the very next request.
 * Fails closed: a missing, unreadable or unparseable file means nobody holds
 * access (there is no fallback to ai_access_default: the default is what the
 * daemon writes into the file).
 */
export class AccessHolder {
  private readonly file: string;
  private readonly policy: 'open' | 'exclusive';
  private stamp = '';
  private cached: AccessState = { policy: 'exclusive', holder: null };

  constructor(options: { file: string; policy: 'open' | 'exclusive' }) {
    this.file = options.file;
    this.policy = options.policy;
  }

  current(): AccessState {
    if (this.policy === 'open') return { policy: 'open', holder: null };
    let stamp: string;
    try {
      const s = statSync(this.file);
      stamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (err) {
      this.stamp = '';
      return { policy: 'exclusive', holder: null, note: `the holder file ${this.file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    if (stamp !== this.stamp) {
      this.stamp = stamp;
      this.cached = this.read();
    }
    return this.cached;
  }

  private read(): AccessState {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      // Not cached as read: the next check tries again.
      this.stamp = '';
      return { policy: 'exclusive', holder: null, note: `the holder file ${this.file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    const record = parseHolderFile(text);
    if (record === null) return { policy: 'exclusive', holder: null, note: `the holder file ${this.file} holds no valid record` };
    return { policy: 'exclusive', holder: record.holder };
  }
}
