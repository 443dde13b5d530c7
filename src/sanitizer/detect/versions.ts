import type { Push, TriggeredDetector } from './candidate.js';
import type { TextScan } from './text-scan.js';

/**
 * Service versions in scan output (spec/000 §6: "generalise versions, keep the
 * type of service"): `OpenSSH 10.0p2 Debian 7+deb13u4` becomes `OpenSSH 10.x`.
 * The exact build and distribution patch level say which vulnerabilities a
 * host has; the major version and the product are what a diagnosis needs.
 */

const VERSION_TOKEN = /^v?(\d+)[.\d]/;

function generalize(push: Push, start: number, end: number, major: string): void {
  if (end > start) push({ start, end, category: 'service', pattern: 'service.version', kind: 'generalized', marker: `${major}.x` });
}

function lineEnd(text: string, at: number, scan: TextScan): number {
  const nl = scan.indexOf('\n', at);
  return nl < 0 ? text.length : nl;
}

const PORT_LINE = /^(\d{1,5})\/(?:tcp|udp|sctp)[ \t]+\S+[ \t]+\S+[ \t]+/;

/**
 * nmap -sV's port table: `22/tcp open ssh OpenSSH 10.0p2 Debian 7+deb13u4
 * (protocol 2.0)`. The version runs from the first token that starts with a
 * number to the parenthesised extra information or the end of the line.
 * Called for each line start (see scan.ts).
 */
export function nmapPortLine(text: string, lineStart: number, push: Push, scan: TextScan): void {
  const end = lineEnd(text, lineStart, scan);
  if (end - lineStart > 400 || !isDigit(text.charCodeAt(lineStart))) return;
  const line = text.slice(lineStart, end);
  const m = PORT_LINE.exec(line);
  if (m === null) return;
  let pos = m[0].length;
  for (const token of line.slice(pos).split(' ')) {
    const v = VERSION_TOKEN.exec(token);
    if (v !== null) {
      const paren = line.indexOf(' (', pos);
      let stop = paren < 0 ? line.length : paren;
      while (stop > pos && line[stop - 1] === ' ') stop--;
      generalize(push, lineStart + pos, lineStart + stop, v[1] ?? '');
      return;
    }
    pos += token.length + 1;
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

const XML_VERSION = /version="(v?(\d+)[^"]*)"/y;

/** nmap -oX: `<service name="ssh" product="OpenSSH" version="10.0p2 Debian 7+deb13u4" …>`, and the version in a CPE. */
export function nmapXmlVersionDetector(): TriggeredDetector {
  return {
    trigger: '(?:<service |cpe:/[aho]:)',
    detect(text, at, anchorEnd, push, scan) {
      if (text.startsWith('cpe:', at)) {
        // cpe:/a:vendor:product:version
        let colons = 0;
        let i = anchorEnd;
        const stop = Math.min(text.length, anchorEnd + 200);
        while (i < stop && colons < 2 && /[^\s<"]/.test(text[i] ?? ' ')) if (text[i++] === ':') colons++;
        if (colons < 2) return null;
        let end = i;
        while (end < stop && /[^\s<":]/.test(text[end] ?? ' ')) end++;
        const v = VERSION_TOKEN.exec(text.slice(i, end));
        if (v !== null) generalize(push, i, end, v[1] ?? '');
        return anchorEnd;
      }
      const close = scan.indexOf('>', anchorEnd);
      if (close < 0 || close - anchorEnd > 1000) return null;
      const attrs = text.slice(anchorEnd, close);
      const at2 = attrs.search(/ ?version="/);
      if (at2 < 0) return null;
      const start = anchorEnd + attrs.indexOf('version="', at2);
      XML_VERSION.lastIndex = start;
      const m = XML_VERSION.exec(text);
      if (m?.[1] === undefined) return null;
      generalize(push, start + 9, start + 9 + m[1].length, m[2] ?? '');
      return anchorEnd;
    },
  };
}

const SSH_BANNER = /SSH-[12]\.\d+-([A-Za-z]+)[_-](\d+)[^\s"'<]*(?:[ ][A-Za-z][^\s"'<]*)?/y;

/** SSH identification strings (RFC 4253 §4.2): `SSH-2.0-OpenSSH_10.0p2 Debian-7+deb13u4` → `SSH-2.0-OpenSSH_10.x`. */
export function sshBannerDetector(): TriggeredDetector {
  return {
    trigger: 'SSH-[12]\\.\\d+-',
    detect(text, at, anchorEnd, push) {
      SSH_BANNER.lastIndex = at;
      const m = SSH_BANNER.exec(text);
      if (m === null) return null;
      const versionStart = anchorEnd + (m[1]?.length ?? 0) + 1;
      generalize(push, versionStart, at + m[0].length, m[2] ?? '');
      return at + m[0].length;
    },
  };
}
