/**
 * The UTF-16 code units a match of a regex source can start with, read from
 * the source itself, or null when that cannot be told simply (then any unit
 * may start one). Always a superset: a unit left out can never start a match
 * (flags g/m/y only; no `i`, no `u`). It reads what anchors are made of
 * (candidate.ts: a literal or a small character class first, groups of
 * alternatives); anything else — a lookaround, a `.`, a class escape other
 * than `\d`, a negated class, an element that may match nothing — gives null.
 */
export function firstUnits(source: string): Uint8Array | null {
  const units = new Uint8Array(65536);
  return alternatives(source, 0, source.length, units) ? units : null;
}

const DIGITS: readonly number[] = Array.from({ length: 10 }, (_, i) => 48 + i);
/** Escapes that stand for one character; any other letter escape is refused. */
const CONTROL_ESCAPES: Readonly<Record<string, number>> = { t: 9, n: 10, r: 13, f: 12, v: 11, '0': 0 };

/** Every alternative of source[from, to) (top-level `|`) adds its first units; false when one cannot be told. */
function alternatives(source: string, from: number, to: number, units: Uint8Array): boolean {
  let start = from;
  let depth = 0;
  for (let i = from; i < to; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '[') {
      i = classEnd(source, i);
      if (i < 0) return false;
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      if (!sequence(source, start, i, units)) return false;
      start = i + 1;
    }
  }
  return sequence(source, start, to, units);
}

/** The first element of the sequence source[from, to): its units, when it cannot match nothing. */
function sequence(source: string, from: number, to: number, units: Uint8Array): boolean {
  if (from >= to) return false;
  const c = source[from] as string;
  let end: number;
  if (c === '\\') {
    const e = source[from + 1];
    if (e === undefined) return false;
    if (e === 'd') DIGITS.forEach((d) => (units[d] = 1));
    else if (e in CONTROL_ESCAPES) units[CONTROL_ESCAPES[e] as number] = 1;
    else if (/[A-Za-z0-9]/.test(e)) return false;
    else units[e.charCodeAt(0)] = 1;
    end = from + 2;
  } else if (c === '[') {
    end = classEnd(source, from);
    if (end < 0 || !classUnits(source, from + 1, end, units)) return false;
    end++;
  } else if (c === '(') {
    const close = groupEnd(source, from);
    if (close < 0) return false;
    let body = from + 1;
    if (source.startsWith('?:', body)) body += 2;
    else if (source[body] === '?') return false; // a lookaround or a named group: not read
    if (!alternatives(source, body, close, units)) return false;
    end = close + 1;
  } else if ('.^$)|*+?{'.includes(c)) {
    return false;
  } else {
    units[c.charCodeAt(0)] = 1;
    end = from + 1;
  }
  // An element that may be absent lets the next one start the match: not read.
  const q = source[end];
  return !(q === '?' || q === '*' || (q === '{' && /^\{0[,}]/.test(source.slice(end, end + 3))));
}

/** Index of the `]` closing the class opened at `open`, or -1. */
function classEnd(source: string, open: number): number {
  for (let i = open + 1; i < source.length; i++) {
    if (source[i] === '\\') i++;
    else if (source[i] === ']') return i;
  }
  return -1;
}

/** Index of the `)` closing the group opened at `open`, or -1. */
function groupEnd(source: string, open: number): number {
  let depth = 0;
  for (let i = open; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (c === '[') {
      i = classEnd(source, i);
      if (i < 0) return -1;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return -1;
}

/** The units of the class body source[from, to): literals, ranges and `\d`; false for a negated class or another class escape. */
function classUnits(source: string, from: number, to: number, units: Uint8Array): boolean {
  if (source[from] === '^' || from >= to) return false;
  const read = (i: number): [code: number, next: number] | null => {
    const c = source[i] as string;
    if (c !== '\\') return [c.charCodeAt(0), i + 1];
    const e = source[i + 1];
    if (e === undefined) return null;
    if (e in CONTROL_ESCAPES) return [CONTROL_ESCAPES[e] as number, i + 2];
    if (/[A-Za-z0-9]/.test(e)) return null;
    return [e.charCodeAt(0), i + 2];
  };
  let i = from;
  while (i < to) {
    if (source.startsWith('\\d', i)) {
      DIGITS.forEach((d) => (units[d] = 1));
      i += 2;
      continue;
    }
    const low = read(i);
    if (low === null) return false;
    if (source[low[1]] === '-' && low[1] + 1 < to) {
      const high = read(low[1] + 1);
      if (high === null || high[0] < low[0]) return false;
      for (let u = low[0]; u <= high[0]; u++) units[u] = 1;
      i = high[1];
    } else {
      units[low[0]] = 1;
      i = low[1];
    }
  }
  return true;
}
