import { isIdentChar, type TriggeredDetector } from './candidate.js';

const PATH_REST = /(?:\/[A-Za-z0-9_.@+-]+)*\/?/y;

/**
 * Incus paths: `/var/lib/incus/unix.socket` and everything under
 * /var/lib/incus, /run/incus, /var/log/incus and /var/cache/incus.
 */
export function incusPathDetector(): TriggeredDetector {
  return {
    trigger: '/(?:var/lib|run|var/log|var/cache)/incus(?![\\w.-])',
    detect(text, at, anchorEnd, push) {
      if (at > 0 && (isIdentChar(text.charCodeAt(at - 1)) || text[at - 1] === '.')) return null;
      PATH_REST.lastIndex = anchorEnd;
      const m = PATH_REST.exec(text);
      let end = anchorEnd + (m?.[0].length ?? 0);
      // A sentence's final dot is not part of the path.
      while (end > anchorEnd && (text[end - 1] === '.' || text[end - 1] === '/')) end--;
      const socket = text.slice(at, end).endsWith('.socket');
      push({ start: at, end, category: 'service', pattern: socket ? 'service.incus-socket' : 'service.incus-path', kind: 'path', marker: socket ? '[INCUS_SOCKET]' : '[INCUS_PATH]' });
      return anchorEnd;
    },
  };
}
