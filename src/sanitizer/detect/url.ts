import { OLLAMA_PORT } from '../../schemas/services.js';
import type { Category } from '../types.js';
import type { TriggeredDetector } from './candidate.js';
import { readIpv4At } from './ip.js';

const SCHEME_CHAR = /[A-Za-z0-9+.-]/;
/** `user:password@`, or `:password@` (Redis: a password and no user). */
const USERINFO = /([^\s/?#@:"'<>`]*):([^\s/?#@"'<>`]+)@/y;
const HOST_NAME = /[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?/y;
const PORT = /:(\d{1,5})(?!\d)/y;
const OLLAMA_PORT_TEXT = String(OLLAMA_PORT);
const LOCALHOST = new Set(['localhost', 'ip6-localhost']);

/**
 * URLs: the password of `scheme://user:password@` (credentials), and the host
 * of a service on a private address or of an Ollama endpoint (`:11434`, any
 * host but localhost) (service). The private address of a URL is also found by
 * the ip category; the service category finds it even when ip is switched off.
 */
export function urlDetector(enabled: (category: Category) => boolean): TriggeredDetector {
  return {
    trigger: '://',
    detect(text, at, anchorEnd, push) {
      let s = at;
      while (s > 0 && SCHEME_CHAR.test(text[s - 1] ?? '')) s--;
      if (s === at) return null;
      let pos = anchorEnd;
      USERINFO.lastIndex = pos;
      const userinfo = USERINFO.exec(text);
      if (userinfo !== null) {
        const user = userinfo[1] ?? '';
        const password = userinfo[2] ?? '';
        const passwordAt = pos + user.length + 1;
        if (enabled('credentials') && !password.startsWith('$') && !password.startsWith('{')) {
          push({ start: passwordAt, end: passwordAt + password.length, category: 'credentials', pattern: 'credentials.url-password', kind: 'secret' });
        }
        pos += userinfo[0].length;
      }
      if (!enabled('service')) return anchorEnd;
      const ip = readIpv4At(text, pos);
      let hostEnd: number;
      let kind: 'ip' | 'host';
      if (ip !== null && ip.prefix === null) {
        hostEnd = ip.end;
        kind = 'ip';
      } else {
        HOST_NAME.lastIndex = pos;
        const m = HOST_NAME.exec(text);
        if (m === null) return anchorEnd;
        hostEnd = pos + m[0].length;
        kind = 'host';
      }
      PORT.lastIndex = hostEnd;
      const port = PORT.exec(text)?.[1];
      const host = text.slice(pos, hostEnd);
      if (port === OLLAMA_PORT_TEXT && !LOCALHOST.has(host.toLowerCase()) && !host.startsWith('127.')) {
        push({ start: pos, end: hostEnd, category: 'service', pattern: 'service.ollama', kind });
      } else if (ip !== null && kind === 'ip' && ip.class !== 'public') {
        push({ start: pos, end: hostEnd, category: 'service', pattern: 'service.url', kind });
      }
      return anchorEnd;
    },
  };
}
