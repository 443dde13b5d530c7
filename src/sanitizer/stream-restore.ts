import type { PseudonymIndex } from './restore.js';
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

  /**
   * Where the held-back tail of `full` (context + buffer) begins, searching
   * from `from`: the first position where a pseudonym may start and the rest
   * is the beginning of one, or an address or IPv6/MAC pseudonym whose end is
   * still undecided. `full.length` when nothing needs holding.
   */
  const holdStart = (full: string, from: number): number => {
    for (let s = Math.max(from, full.length - index.maxLength - 8); s < full.length; s++) {
      if (!index.mayStartAt(full, s, json)) continue;
      if (index.isPrefix(full, s)) return s;
      const tail = full.slice(s);
      // An address pseudonym then `.`, `.port`, `.port ` or `.port >`/`.port:`: tcpdump's port may follow, still undecided.
      const port = TCPDUMP_PORT_TAIL.exec(tail);
      if (port !== null && index.shapeOf(tail.slice(0, port.index)) === 'address') return s;
      if (tail.endsWith(':') && index.shapeOf(tail.slice(0, -1)) === 'hex') return s;
    }
    return full.length;
  };

  return {
    push(fragment) {
      const buffer = held + fragment;
      if (index.size === 0) {
        held = '';
        context = (context + buffer).slice(-CONTEXT);
        return buffer;
      }
      const full = context + buffer;
      const base = context.length;
      let hold = holdStart(full, base);
      let out = '';
      let pos = base;
      for (let m = index.find(full, pos, json); m !== null; m = index.find(full, pos, json)) {
        if (m.start >= hold) break;
        out += full.slice(pos, m.start) + esc(m.original);
        pos = m.end;
        // A decided match may run past where the hold began: look again after it.
        if (pos > hold) hold = holdStart(full, pos);
      }
      const emitEnd = Math.max(pos, hold) - base;
      pos -= base;
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
