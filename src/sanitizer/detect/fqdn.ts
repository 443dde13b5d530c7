import type { TriggeredDetector } from './candidate.js';

const MAX_NAME = 253;
/** `.incus`: the DNS domain Incus gives each bridge's instances by default. */
const SUFFIXES = ['internal', 'corp', 'local', 'lan', 'incus'];
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** `this.local`, `self.lan`, `config.local`: a property access in code, not a host. */
const CODE_RECEIVERS = new Set(['this', 'self', 'window', 'global', 'globalthis', 'ctx', 'config', 'opts', 'options', 'settings', 'env', 'app', 'cls', 'super', 'module', 'exports', 'props', 'state', 'os', 'sys', 'thread']);

function isLabelChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 46;
}

/**
 * Internal names: `<labels>.internal|corp|local|lan`, all lower-case or all
 * upper-case (an AD realm such as `CORP.EXAMPLE.LOCAL`; `Foo.Local` is code).
 * Found from the suffix backwards, so the scan only wakes on the four suffixes.
 * Not a file name (`x.local.json`), not a path (`~/.local/share`), not a
 * property access (`this.local`).
 */
export function fqdnDetector(): TriggeredDetector {
  return {
    trigger: `\\.(?:${[...SUFFIXES, ...SUFFIXES.map((s) => s.toUpperCase())].join('|')})(?![\\w-]|\\.\\w)`,
    detect(text, at, anchorEnd, push) {
      // Backwards at most as far as a DNS name can be long (RFC 1035: 253 characters).
      const limit = Math.max(0, at - MAX_NAME);
      let start = at;
      while (start > limit && isLabelChar(text.charCodeAt(start - 1))) start--;
      if (start === limit && limit > 0 && isLabelChar(text.charCodeAt(limit - 1))) return null;
      while (start < at && (text[start] === '.' || text[start] === '-')) start++;
      if (start === at) return null;
      const before = start > 0 ? text.charCodeAt(start - 1) : 0;
      if (before === 95) return null; // `my_host.local`: not a DNS name
      const name = text.slice(start, anchorEnd);
      const labels = name.split('.');
      if (!labels.every((l) => LABEL.test(l))) return null;
      if (name !== name.toLowerCase() && name !== name.toUpperCase()) return null;
      if (labels.length === 2 && CODE_RECEIVERS.has((labels[0] ?? '').toLowerCase())) return null;
      const suffix = (labels[labels.length - 1] ?? '').toLowerCase();
      push({ start, end: anchorEnd, category: 'fqdn', pattern: `fqdn.${suffix}`, kind: 'fqdn' });
      return anchorEnd;
    },
  };
}

const TAIL_LABEL = /[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?/y;
/** A top-level label that is letters only. */
const TLD = /^[a-z]{2,63}$/;
/** Last labels that make a file name, not a host: `pro-dev.nginx.conf`, `pro-web.tar.gz`. */
const FILE_EXTENSIONS = new Set(
  `bak bz2 cfg cjs cnf conf crt csr csv css d db deb env err gz htm html img ini iso j2 jar java js json key list lock log md mjs
  mount nft out path pem pid pub py qcow2 raw rb rpm rs rules service sh slice socket sources sql sqlite swp target tar tgz
  timer tmp toml ts tsv txt xml xz yaml yml zip zst`.split(/\s+/),
);

/**
 * Where the DNS tail of a name ends: `.acme.corp` after `pro-db` in
 * `pro-db.acme.corp`. Two labels or more, lower-case, the last one letters and
 * not a file extension, the whole within DNS's 253 characters, nothing of an
 * identifier right after. -1 when what follows `at` (a `.`) is no such tail:
 * a sentence's full stop, a file name, a version. Reads at most 254 characters.
 */
export function fqdnTailEnd(text: string, at: number, nameLength: number): number {
  let end = at;
  let labels = 0;
  let last = '';
  while (text.charCodeAt(end) === 46) {
    TAIL_LABEL.lastIndex = end + 1;
    const m = TAIL_LABEL.exec(text);
    if (m === null) break;
    end += 1 + m[0].length;
    labels++;
    last = m[0];
    if (end - at + nameLength > MAX_NAME) return -1;
  }
  if (labels < 2 || !TLD.test(last) || FILE_EXTENSIONS.has(last)) return -1;
  const after = text.charCodeAt(end);
  // `_`, `-`, a letter or digit right after: not where a host name ends (`.Corp`, `.corp_x`).
  if ((after >= 48 && after <= 57) || (after >= 65 && after <= 90) || (after >= 97 && after <= 122) || after === 95 || after === 45) return -1;
  return end;
}
