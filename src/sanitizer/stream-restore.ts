import type { Matcher, PseudonymIndex } from './restore.js';
import { restoreText } from './restore.js';
import type { StreamRestorer } from './types.js';

/** Raw text kept from what was already emitted, for the left boundary (and JSON escapes) of the next pseudonym. */
const CONTEXT = 16;
const TCPDUMP_PORT_TAIL = /\.\d{0,5}(?: >?|:)?$/;

/**
 * Restore a stream of fragments that may split a pseudonym anywhere. Each push
 * emits everything that can no longer change, and holds back only the tail
 * that could still become a pseudonym: the longest suffix that is a prefix of
 * one (or an address pseudonym followed by `.`, whose end is still undecided).
 * The hold-back is therefore never longer than the longest pseudonym + 8.
 * The concatenation of everything pushed out, flush included, is exactly
 * restore(whole text).
 */
export function createStreamRestorer(index: PseudonymIndex, escape?: (original: string) => string): StreamRestorer {
  let held = '';
  let context = '';
  const json = escape !== undefined;
  const esc = escape ?? ((s: string) => s);

  const holdStart = (matcher: Matcher, buffer: string, from: number): number => {
    for (let s = Math.max(from, buffer.length - matcher.maxLength - 8); s < buffer.length; s++) {
      if (!matcher.firstChars.has(buffer[s] ?? '')) continue;
      const tail = buffer.slice(s);
      if (matcher.prefixes.has(tail)) return s;
      // An address pseudonym then `.`, `.port`, `.port ` or `.port >`/`.port:`: tcpdump's port may follow, still undecided.
      const port = TCPDUMP_PORT_TAIL.exec(tail);
      if (port !== null && matcher.addresses.has(tail.slice(0, port.index))) return s;
      if (tail.endsWith(':') && matcher.hexColon.has(tail.slice(0, -1))) return s;
    }
    return buffer.length;
  };

  return {
    push(fragment) {
      const buffer = held + fragment;
      const matcher = index.matcher(json);
      if (matcher === null) {
        held = '';
        context = (context + buffer).slice(-CONTEXT);
        return buffer;
      }
      let hold = holdStart(matcher, buffer, 0);
      const { regex } = matcher;
      const full = context + buffer;
      regex.lastIndex = context.length;
      let out = '';
      let pos = 0;
      for (let m = regex.exec(full); m !== null; m = regex.exec(full)) {
        const start = m.index - context.length;
        if (start >= hold) break;
        out += buffer.slice(pos, start) + esc(index.originalOf(m[0]) ?? m[0]);
        pos = start + m[0].length;
        // A decided match may run past where the hold began: look again after it.
        if (pos > hold) hold = holdStart(matcher, buffer, pos);
      }
      const emitEnd = Math.max(pos, hold);
      out += buffer.slice(pos, emitEnd);
      context = (context + buffer.slice(0, emitEnd)).slice(-CONTEXT);
      held = buffer.slice(emitEnd);
      return out;
    },
    flush() {
      const rest = held;
      held = '';
      const out = restoreText(index, rest, { ...(escape === undefined ? {} : { escape }), context });
      context = (context + rest).slice(-CONTEXT);
      return out;
    },
  };
}
