import { isIdentChar, type TriggeredDetector } from './candidate.js';
import type { CharClass } from './text-scan.js';

/** Characters of a path segment, and the slash between them. */
const isPathChar: CharClass = (c) => isIdentChar(c) || c === 46 || c === 64 || c === 43 || c === 47;
/** What a sentence may put after a path: its final dot (and a directory's slash). */
const isTrailing: CharClass = (c) => c === 46 || c === 47;

/**
 * Incus paths: `/var/lib/incus/unix.socket` and everything under
 * /var/lib/incus, /run/incus, /var/log/incus and /var/cache/incus.
 */
export function incusPathDetector(): TriggeredDetector {
  return {
    trigger: '/(?:var/lib|run|var/log|var/cache)/incus(?![\\w.-])',
    detect(text, at, anchorEnd, push, scan) {
      if (at > 0 && (isIdentChar(text.charCodeAt(at - 1)) || text[at - 1] === '.')) return null;
      // The path goes on with `/segment`s, up to the first character of no path or an empty segment (`//`).
      let end = anchorEnd;
      if (text.charCodeAt(anchorEnd) === 47) {
        end = scan.runEnd(isPathChar, anchorEnd);
        const empty = scan.indexOf('//', anchorEnd);
        if (empty >= 0 && empty < end) end = empty;
      }
      // A sentence's final dot is not part of the path.
      end = Math.max(anchorEnd, scan.runStart(isTrailing, end));
      const socket = text.slice(at, end).endsWith('.socket');
      push({ start: at, end, category: 'service', pattern: socket ? 'service.incus-socket' : 'service.incus-path', kind: 'path', marker: socket ? '[INCUS_SOCKET]' : '[INCUS_PATH]' });
      return anchorEnd;
    },
  };
}
