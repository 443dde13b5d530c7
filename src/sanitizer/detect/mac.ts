import { isHexDigit, isWordChar } from './candidate.js';

const COLON_OR_DASH = /([0-9A-Fa-f]{2})([:-])([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})/y;
const CISCO = /([0-9A-Fa-f]{4})\.([0-9A-Fa-f]{4})\.([0-9A-Fa-f]{4})/y;

/** The six bytes of the MAC address written at `at` (`10:66:6a:70:0d:e4`, `10-66-6A-…`, `1066.6a70.0de4`), or null. */
export function readMacAt(text: string, at: number): { end: number; bytes: number[] } | null {
  COLON_OR_DASH.lastIndex = at;
  let m = COLON_OR_DASH.exec(text);
  let hex: string;
  let sep: number;
  if (m !== null) {
    hex = [m[1], m[3], m[4], m[5], m[6], m[7]].join('');
    sep = (m[2] ?? ':').charCodeAt(0);
  } else {
    CISCO.lastIndex = at;
    m = CISCO.exec(text);
    if (m === null) return null;
    hex = `${m[1]}${m[2]}${m[3]}`;
    sep = 46;
    // Twelve digits and no letter is more often a number than an address.
    if (!/[A-Fa-f]/.test(hex)) return null;
  }
  const end = at + m[0].length;
  const next = text.charCodeAt(end);
  // Not a longer run: another group, a word character (`…:e4x`).
  if (end < text.length && (isWordChar(next) || (next === sep && isHexDigit(text.charCodeAt(end + 1))))) return null;
  const bytes: number[] = [];
  for (let i = 0; i < 12; i += 2) bytes.push(parseInt(hex.slice(i, i + 2), 16));
  return { end, bytes };
}
