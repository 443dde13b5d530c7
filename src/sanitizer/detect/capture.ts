import type { Push } from './candidate.js';
import type { TextScan } from './text-scan.js';

/**
 * Packet contents in capture output (spec/000 §6: "never send the content,
 * only the metadata"). A dump is replaced whole by its length; the packet's
 * summary line — timestamps, addresses (found by the address detectors),
 * ports, protocols, flags, lengths — stays.
 */

function payload(push: Push, start: number, end: number, bytes: number): void {
  if (end > start) push({ start, end, category: 'credentials', pattern: 'credentials.payload', kind: 'secret', marker: `[packet contents: ${bytes} bytes]` });
}

/** The end of the line holding `at` (text.length on the last line). */
function lineEnd(text: string, at: number, scan: TextScan): number {
  const nl = scan.indexOf('\n', at);
  return nl < 0 ? text.length : nl;
}

/** The start of the line holding `at` when it is at most `max` characters back (-1 otherwise): a bounded look back. */
function lineStartWithin(text: string, at: number, max: number): number {
  for (let i = at; i > 0 && at - i <= max; i--) if (text.charCodeAt(i - 1) === 10) return i;
  return at <= max ? 0 : -1;
}

/** Whether only spaces and tabs stand between the line start and `at`, at most `max` of them. */
function onlyIndent(text: string, at: number, max: number): number {
  const start = lineStartWithin(text, at, max);
  return start >= 0 && /^[ \t]*$/.test(text.slice(start, at)) ? start : -1;
}

/** Hex bytes of a dump line's hex column: `4500 003c …` (tcpdump) or `45 00 3c …` (tshark, hexdump -C). */
function hexBytes(column: string): number {
  let digits = 0;
  for (const group of column.split(' ')) {
    if (group === '') break; // two spaces: the ASCII column starts
    if (!/^(?:[0-9a-f]{2}){1,2}$/.test(group)) break;
    digits += group.length;
  }
  return digits / 2;
}

interface DumpFormat {
  /** One line of the dump, offsets: where the hex column starts. */
  readonly line: RegExp;
}

const TCPDUMP_HEX: DumpFormat = { line: /^[ \t]+0x[0-9a-f]{4}: {2}(?=[0-9a-f])/ };
const TSHARK_HEX: DumpFormat = { line: /^[0-9a-f]{4} {2}(?=[0-9a-f]{2} )/ };
const HEXDUMP_C: DumpFormat = { line: /^[0-9a-f]{8} {2}(?=[0-9a-f]{2} )/ };

/** Consecutive dump lines from the line starting at `from`: where they end and how many bytes they hold. */
function readDump(text: string, from: number, format: DumpFormat, scan: TextScan): { end: number; bytes: number } {
  let bytes = 0;
  let end = from;
  for (let start = from; start < text.length; ) {
    const stop = lineEnd(text, start, scan);
    // Lines longer than any dump line are not dump lines (and are not read further).
    const line = stop - start > 120 ? '' : text.slice(start, stop);
    const m = format.line.exec(line);
    if (m === null) break;
    const hex = hexBytes(line.slice(m[0].length));
    if (hex === 0) break;
    bytes += hex;
    end = stop;
    start = stop + 1;
  }
  return { end, bytes };
}

/**
 * Hex dumps: tcpdump -x/-X/-XX (`\t0x0000:  4500 003c …  E..<`), tshark -x
 * (`0000  10 66 6a …`), hexdump -C / xxd-like (`00000000  45 00 …  |E..|`).
 * Looked for at each line start: the first line of a dump has offset zero.
 */
export function hexDumpLine(text: string, lineStart: number, push: Push, scan: TextScan): void {
  let at = lineStart;
  while (at < lineStart + 8 && (text[at] === ' ' || text[at] === '\t')) at++;
  if (text.charCodeAt(at) !== 48) return;
  const format = text.startsWith('0x0000:  ', at) ? TCPDUMP_HEX : text.startsWith('00000000  ', at) ? HEXDUMP_C : text.startsWith('0000  ', at) ? TSHARK_HEX : null;
  if (format === null) return;
  const { end, bytes } = readDump(text, lineStart, format, scan);
  if (bytes > 0) payload(push, at, end, bytes);
}

const TCPDUMP_TIME = /^\d{2}:\d{2}:\d{2}\.\d{6} /;
const TSHARK_BODY = /^[ \t]+/;

/**
 * tcpdump -A: after a packet's summary line (`… length 76: HTTP: GET /`), its
 * contents printed as text, starting with the IP header (`E` for IPv4, `` ` ``
 * for IPv6). They run to the next summary line (a timestamp), to tcpdump's
 * closing count, or to the end.
 */
export function tcpdumpAsciiLine(text: string, lineStart: number, push: Push, scan: TextScan): void {
  {
    {
      // A summary line of tcpdump's: it starts with a time.
      const c = text.charCodeAt(lineStart);
      if (!(c >= 48 && c <= 57) || !TCPDUMP_TIME.test(text.slice(lineStart, lineStart + 16))) return;
      const headerEnd = lineEnd(text, lineStart, scan);
      const first = text.charCodeAt(headerEnd + 1);
      if (headerEnd >= text.length || (first !== 69 && first !== 96) || !/length \d+/.test(text.slice(Math.max(lineStart, headerEnd - 200), headerEnd))) return;
      let end = headerEnd + 1;
      for (let start = headerEnd + 1; start < text.length; ) {
        const stop = lineEnd(text, start, scan);
        const head = text.slice(start, Math.min(stop, start + 24));
        if (TCPDUMP_TIME.test(head) || /^\d+ packets? (?:captured|received)/.test(head)) break;
        end = stop;
        start = stop + 1;
      }
      // Blank lines between packets are layout, not contents.
      while (end > headerEnd + 1 && (text[end - 1] === '\n' || text[end - 1] === '\r')) end--;
      payload(push, headerEnd + 1, end, new TextEncoder().encode(text.slice(headerEnd + 1, end)).length);
    }
  }
}

/**
 * tshark -V: the body of an HTTP message (`Line-based text data: text/html
 * (3 lines)` and the lines under it), and raw `Data: 4745…` fields.
 */
const TSHARK_DATA = /[ \t]{0,40}(Line-based text data: |JavaScript Object Notation: |Data: (?=[0-9a-f]{8}))/y;

export function tsharkDataLine(text: string, lineStart: number, push: Push, scan: TextScan): void {
  let i = lineStart;
  while (i < lineStart + 40 && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
  const c = text[i];
  if (c !== 'L' && c !== 'J' && c !== 'D') return;
  TSHARK_DATA.lastIndex = lineStart;
  const m = TSHARK_DATA.exec(text);
  if (m?.[1] !== undefined) tsharkData(text, lineStart + m[0].length - m[1].length, lineStart + m[0].length, push, scan);
}

function tsharkData(text: string, at: number, anchorEnd: number, push: Push, scan: TextScan): number | null {
  {
    {
      const lineStart = onlyIndent(text, at, 40);
      if (lineStart < 0) return null;
      const indent = at - lineStart;
      const headerEnd = lineEnd(text, anchorEnd, scan);
      if (text.startsWith('Data: ', at)) {
        const hex = text.slice(anchorEnd, headerEnd);
        if (!/^[0-9a-f]+(?:…|\.\.\.)?$/.test(hex)) return null;
        payload(push, anchorEnd, headerEnd, Math.floor(hex.replace(/\W+$/, '').length / 2));
        return headerEnd;
      }
      // The lines indented deeper than the header are the body.
      let end = headerEnd;
      let bytes = 0;
      for (let start = headerEnd + 1; start < text.length; ) {
        const stop = lineEnd(text, start, scan);
        const lead = TSHARK_BODY.exec(text.slice(start, Math.min(stop, start + indent + 2)))?.[0].length ?? 0;
        if (lead <= indent || stop === start) break;
        bytes += stop - start - lead + 1;
        end = stop;
        start = stop + 1;
      }
      if (end === headerEnd) return null;
      push({ start: headerEnd + 1, end, category: 'credentials', pattern: 'credentials.payload', kind: 'secret', marker: `${' '.repeat(indent + 4)}[message body: ${bytes} bytes]` });
      return end;
    }
  }
}
