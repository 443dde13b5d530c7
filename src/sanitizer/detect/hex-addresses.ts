import { isHexDigit, isWordChar, type Push } from './candidate.js';
import { ipv6Candidate, isHexOrColon, readIpv6At, type Ipv6DetectorOptions } from './ipv6.js';
import { readMacAt } from './mac.js';

/** Longer than any IPv6 text (45) or MAC (17): a run this long before a colon is no address's start. */
const MAX_BACK = 46;

export interface HexAddressOptions extends Ipv6DetectorOptions {
  /** Whether MAC addresses are replaced (category ip). */
  readonly mac: boolean;
}

function pushMac(text: string, at: number, push: Push): number | null {
  const mac = readMacAt(text, at);
  if (mac === null) return null;
  const [first = 0] = mac.bytes;
  // Broadcast, all-zero and multicast (`33:33:…`, `01:00:5e:…`) come from no one's hardware.
  if ((first & 1) === 0 && !mac.bytes.every((b) => b === 0)) push({ start: at, end: mac.end, category: 'ip', pattern: 'ip.mac', kind: 'mac' });
  return mac.end;
}

/**
 * IPv6 and MAC addresses, in one pass per separator. They are not anchors of
 * the combined regex: their first character is any hex digit, so every word
 * starting with a-f would wake the regex (measured: the engine fell from ~70 to
 * ~12 MB/s). Here native indexOf finds each `:`, `-` and `.`, and a few
 * characters around it decide; each run of hex digits and colons is read once.
 */
export function scanHexAddresses(text: string, push: Push, options: HexAddressOptions): void {
  // Colons: IPv6 in every notation, colon MACs.
  for (let i = text.indexOf(':'); i >= 0; ) {
    let start = i;
    const limit = Math.max(0, i - MAX_BACK);
    while (start > limit && isHexOrColon(text.charCodeAt(start - 1))) start--;
    let end = i + 1;
    while (end < text.length && isHexOrColon(text.charCodeAt(end))) end++;
    const before = start > 0 ? text.charCodeAt(start - 1) : 32;
    if (!(start === limit && limit > 0) && !isWordChar(before) && before !== 46) {
      const macEnd = options.mac && end - start >= 17 ? pushMac(text, start, push) : null;
      if (macEnd === null) {
        const ip = readIpv6At(text, start, end);
        const candidate = ip === null ? null : ipv6Candidate(ip, options);
        if (candidate !== null) push(candidate);
      }
    }
    i = end < text.length ? text.indexOf(':', end) : -1;
  }
  if (!options.mac) return;
  // Dashes: `00-16-3e-12-34-56`.
  for (let i = text.indexOf('-'); i >= 0; i = text.indexOf('-', i + 1)) {
    if (i < 2 || text.charCodeAt(i + 3) !== 45 || !isHexDigit(text.charCodeAt(i - 1)) || !isHexDigit(text.charCodeAt(i - 2)) || !isHexDigit(text.charCodeAt(i + 1)) || !isHexDigit(text.charCodeAt(i + 2))) continue;
    const before = i > 2 ? text.charCodeAt(i - 3) : 32;
    if (isWordChar(before) || before === 45 || before === 58 || before === 46) continue;
    const end = pushMac(text, i - 2, push);
    if (end !== null) i = end;
  }
  // Dots: Cisco's `0016.3e12.3456`.
  for (let i = text.indexOf('.'); i >= 0; i = text.indexOf('.', i + 1)) {
    if (i < 4 || text.charCodeAt(i + 5) !== 46) continue;
    let hex = true;
    for (let k = 1; k <= 4 && hex; k++) hex = isHexDigit(text.charCodeAt(i - k)) && isHexDigit(text.charCodeAt(i + k));
    if (!hex) continue;
    const before = i > 4 ? text.charCodeAt(i - 5) : 32;
    if (isWordChar(before) || before === 46 || before === 58 || before === 45) continue;
    const end = pushMac(text, i - 4, push);
    if (end !== null) i = end;
  }
}
