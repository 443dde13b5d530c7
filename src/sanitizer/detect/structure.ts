import { isIdentChar, wholeNameAt, type Push, type TriggeredDetector } from './candidate.js';
import type { TextScan } from './text-scan.js';

/**
 * Declared domain and project names that are ordinary words (`pro`, `client`)
 * are not replaced wherever the word appears ("a pro tip" stays). They are
 * replaced where the text's structure says they name a domain: an INI or
 * Ansible group header (`[pro]`, `[pro:vars]`), a play (`PLAY [pro]`), a
 * graph node (`|--@pro:`), the value of a key that names groups or domains
 * (`hosts: pro`, `from: pro`, `to:`, `children: [pro]`), a mapping key under
 * `domains:` or `children:`, a JSON key whose value is an object or a list
 * (`"pro": {`), a cell of a table (`| pro |`, `| pro (current) |`).
 */

/** A name as inventories write it: a DNS label that may also hold `_`. */
const NAME_AT = /[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?/y;

const nameAt = (text: string, at: number): string | null => wholeNameAt(text, at, NAME_AT);

/** The line's indentation before `at` when only spaces or tabs (at most `max`) stand there; -1 otherwise. */
function indentBefore(text: string, at: number, max: number): number {
  for (let i = at; i > 0 && at - i <= max; i--) {
    const c = text.charCodeAt(i - 1);
    if (c === 10) return at - i;
    if (c !== 32 && c !== 9) return -1;
  }
  return at <= max ? at : -1;
}

/** Keys whose value names groups, hosts or domains. */
const NAME_KEYS = ['hosts', 'from', 'to', 'children', 'groups', 'limit'];
/** Keys whose mapping keys are domain or group names. */
const PARENT_KEY = /^[ \t]*["']?(?:domains|children)["']?[ \t]*:[ \t]*\{?[ \t]*\r?$/;
const LIST_ITEM = /"([^"\n]{1,64})"|'([^'\n]{1,64})'|([A-Za-z0-9][A-Za-z0-9_-]{0,63})/g;

interface IndentState {
  /** Lines before this offset are in `stack`. */
  pos: number;
  stack: { indent: number; parent: boolean }[];
}

function structureAt(domains: ReadonlySet<string>): TriggeredDetector {
  const found = (push: Push, start: number, name: string): void => {
    if (domains.has(name)) push({ start, end: start + name.length, category: 'infra', pattern: 'infra.domain', kind: 'domain' });
  };
  const states = new WeakMap<TextScan, IndentState>();
  const names = [...domains].sort((a, b) => b.length - a.length).map((n) => n.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'));

  /** A mapping key `  pro:` whose nearest less-indented line is `domains:` or `children:`, read line by line once per text. */
  const isChildKey = (text: string, lineStart: number, indent: number, scan: TextScan): boolean => {
    let state = states.get(scan);
    if (state === undefined || state.pos > lineStart) {
      state = { pos: 0, stack: [] };
      states.set(scan, state);
    }
    while (state.pos < lineStart) {
      const nl = scan.indexOf('\n', state.pos);
      const end = nl < 0 || nl >= lineStart ? lineStart : nl;
      let i = state.pos;
      while (i < end && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
      if (i < end && text[i] !== '#') {
        const lineIndent = i - state.pos;
        while ((state.stack.at(-1)?.indent ?? -1) >= lineIndent) state.stack.pop();
        state.stack.push({ indent: lineIndent, parent: end - state.pos <= 80 && PARENT_KEY.test(text.slice(state.pos, end)) });
      }
      state.pos = end + 1;
    }
    let top = state.stack.length - 1;
    while (top >= 0 && (state.stack[top]?.indent ?? 0) >= indent) top--;
    return state.stack[top]?.parent === true;
  };

  return {
    trigger: `(?:\\[|PLAY \\[|\\|--@?|\\| +|(?:${NAME_KEYS.join('|')})["']?[ \\t]*[:=][ \\t]*|(?:"(?:${names.join('|')})"|'(?:${names.join('|')})'|(?:${names.join('|')}))[ \\t]*:)`,
    detect(text, at, anchorEnd, push, scan) {
      const c = text[at];
      if (c === '[') {
        // `[pro]`, `[pro:vars]`, `[pro:children]` alone on their line.
        if (indentBefore(text, at, 8) < 0) return null;
        const name = nameAt(text, at + 1);
        if (name === null) return null;
        const after = at + 1 + name.length;
        if (!(text[after] === ']' || text.startsWith(':vars]', after) || text.startsWith(':children]', after))) return null;
        found(push, at + 1, name);
        return anchorEnd;
      }
      if (c === 'P' && text.startsWith('PLAY [', at)) {
        // `PLAY [pro]`, `PLAY [pro:perso]`: a host pattern, when the play has no name of its own.
        const close = scan.indexOf(']', anchorEnd);
        if (close < 0 || close - anchorEnd > 256) return null;
        const pattern = text.slice(anchorEnd, close);
        if (!/^[A-Za-z0-9_:,!&*-]+$/.test(pattern)) return null;
        for (const m of pattern.matchAll(/[A-Za-z0-9_-]+/g)) found(push, anchorEnd + m.index, m[0]);
        return anchorEnd;
      }
      if (c === '|') {
        if (text.startsWith('|--@', at)) {
          const name = nameAt(text, anchorEnd);
          if (name !== null && text[anchorEnd + name.length] === ':') found(push, anchorEnd, name);
          return anchorEnd;
        }
        if (text.startsWith('|--', at)) {
          // A host of `ansible-inventory --graph`: `|  |--pro-web`.
          const name = nameAt(text, anchorEnd);
          const end = anchorEnd + (name?.length ?? 0);
          if (name !== null && (end >= text.length || text[end] === '\n' || text[end] === '\r')) {
            push({ start: anchorEnd, end, category: 'ansible', pattern: 'ansible.host', kind: 'host' });
          }
          return anchorEnd;
        }
        // A table cell: `| pro |`, `| pro (current) |`.
        const name = nameAt(text, anchorEnd);
        if (name === null) return null;
        let after = anchorEnd + name.length;
        if (text.startsWith(' (current)', after)) after += 10;
        while (text[after] === ' ') after++;
        if (text[after] === '|') found(push, anchorEnd, name);
        return null;
      }
      const quoted = c === '"' || c === "'";
      const word = text.slice(quoted ? at + 1 : at, anchorEnd).replace(/["'\s:=]+$/, '');
      if (domains.has(word) && !NAME_KEYS.includes(word)) {
        // A key named after a domain: under `domains:`/`children:` (YAML), or a JSON key of an object or a list.
        if (at > 0 && isIdentChar(text.charCodeAt(at - 1))) return null;
        const start = quoted ? at + 1 : at;
        if (quoted) {
          let v = anchorEnd;
          while (text[v] === ' ') v++;
          if (text[v] === '{' || text[v] === '[') found(push, start, word);
          return null;
        }
        const indent = indentBefore(text, at, 64);
        const rest = text.charCodeAt(anchorEnd);
        if (indent > 0 && (anchorEnd >= text.length || rest === 10 || rest === 13 || rest === 32) && isChildKey(text, at - indent, indent, scan)) found(push, start, word);
        return null;
      }
      // `hosts: pro`, `from: pro`, `children: ["pro", "perso"]`, `hosts: pro:&perso`.
      if (at > 0 && isIdentChar(text.charCodeAt(at - 1))) return null;
      let pos = anchorEnd;
      if (text[pos] === '"' || text[pos] === "'") pos++;
      let stop: number;
      if (text[pos] === '[') {
        stop = scan.indexOf(']', pos);
        if (stop < 0 || stop - pos > 4096) return null;
      } else {
        const nl = scan.indexOf('\n', pos);
        stop = Math.min(nl < 0 ? text.length : nl, pos + 256);
      }
      const value = text.slice(pos, stop);
      LIST_ITEM.lastIndex = 0;
      for (let m = LIST_ITEM.exec(value); m !== null; m = LIST_ITEM.exec(value)) {
        const name = m[1] ?? m[2] ?? m[3] ?? '';
        const offset = m[3] === undefined ? 1 : 0;
        if (m[3] !== undefined && m.index > 0 && /[\w.-]/.test(value[m.index - 1] ?? '')) continue;
        found(push, pos + m.index + offset, name);
        // An unquoted scalar value is one pattern (`pro:&perso`); prose after it is not.
        if (m[3] !== undefined && text[pos] !== '[' && !/^[:,!&]/.test(value.slice(m.index + name.length))) break;
      }
      return anchorEnd;
    },
  };
}

export interface StructureDetectors {
  /** Looks at what the line starting at `lineStart` starts with. */
  readonly line: (text: string, lineStart: number, push: Push, scan: TextScan) => void;
  /** Wakes on a quoted key inside a line: `{"children": ["pro"]`, `"pro": {`. */
  readonly inline: TriggeredDetector;
}


/**
 * The structural detectors, anchored where structure is: line starts, and
 * quoted keys. (Anchoring on `[`, `|`, `to` or every declared name anywhere
 * made the combined regex wake all the time: the engine lost half its speed.)
 */
export function structureDetectors(domains: ReadonlySet<string>): StructureDetectors | null {
  if (domains.size === 0) return null;
  const inner = structureAt(domains);
  const sticky = new RegExp(inner.trigger, 'y');
  const tryAt = (text: string, pos: number, push: Push, scan: TextScan): boolean => {
    sticky.lastIndex = pos;
    const m = sticky.exec(text);
    if (m === null) return false;
    inner.detect(text, pos, pos + m[0].length, push, scan);
    return true;
  };
  // What a structural line can start with: most lines start otherwise and cost one lookup.
  const firsts = new Set(['[', 'P', '|', '"', "'", ...NAME_KEYS.map((k) => k[0] ?? ''), ...[...domains].map((d) => d[0] ?? '')]);
  const line = (text: string, lineStart: number, push: Push, scan: TextScan): void => {
    let pos = lineStart;
    while (pos < lineStart + 64 && (text.charCodeAt(pos) === 32 || text.charCodeAt(pos) === 9)) pos++;
    if (text.charCodeAt(pos) === 45 && text.charCodeAt(pos + 1) === 32) pos += 2;
    if (!firsts.has(text[pos] ?? '')) return;
    // `ansible-inventory --graph`: `  |  |--@pro:`, the node after the tree's bars.
    if (text[pos] === '|') {
      let i = pos;
      while (i < pos + 60 && (text[i] === '|' || text[i] === ' ')) i++;
      if (text.startsWith('--', i) && text[i - 1] === '|') {
        tryAt(text, i - 1, push, scan);
        return;
      }
    }
    tryAt(text, pos, push, scan);
  };
  const names = [...domains].sort((a, b) => b.length - a.length).map((n) => n.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'));
  return {
    line,
    inline: {
      trigger: `"(?:${[...NAME_KEYS, ...names].join('|')})"[ \\t]*:`,
      detect(text, at, _anchorEnd, push, scan) {
        if (!tryAt(text, at, push, scan)) tryAt(text, at + 1, push, scan);
        return null;
      },
    },
  };
}
