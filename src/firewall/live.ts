import { chainHeader, ruleText, setElements } from './nft-text.js';
import { TABLE_FAMILY, TABLE_NAME, type Chain, type Match, type NamedSet, type Rule, type Ruleset } from './ruleset.js';

/** A set's type and elements on one line (sorted: nft lists them in order). */
export function setLine(set: NamedSet): string {
  return `type ${set.type}; elements { ${setElements(set).join(', ')} }`;
}

/**
 * What `nft -j list table inet anklume` says, decoded into the shapes of
 * ruleset.ts. Anything anklume never writes (a counter, a jump, a rule typed
 * by hand) decodes to an `unknown` rule carrying its JSON: it is drift.
 */
export interface LiveRule {
  readonly text: string;
  readonly known: boolean;
}

export interface LiveChain {
  readonly name: string;
  /** `type filter hook forward priority filter - 10; policy accept;`, or what nft says instead. */
  readonly header: string;
  readonly rules: readonly LiveRule[];
}

export interface LiveTable {
  /** One line per set: `type ifname; elements { "net-pro" }`. */
  readonly sets: readonly { readonly name: string; readonly line: string }[];
  readonly chains: readonly LiveChain[];
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function decodeMatch(expr: unknown): Match | null {
  if (!isObject(expr) || !isObject(expr.match)) return null;
  const { op, left, right } = expr.match;
  if (!isObject(left)) return null;
  if (isObject(left.meta) && (left.meta.key === 'iifname' || left.meta.key === 'oifname') && typeof right === 'string') {
    const kind = left.meta.key;
    if (op !== '==' && op !== '!=') return null;
    if (right.startsWith('@')) return { kind: kind === 'iifname' ? 'iifname-set' : 'oifname-set', op, set: right.slice(1) };
    return { kind, op, value: right };
  }
  if (isObject(left.payload) && left.payload.protocol === 'ip' && (left.payload.field === 'saddr' || left.payload.field === 'daddr') && (op === '==' || op === '!=')) {
    const kind = left.payload.field;
    const negated = op === '!=' ? { op: '!=' as const } : {};
    if (typeof right === 'string') return { kind, value: right, ...negated };
    if (isObject(right) && isObject(right.prefix) && typeof right.prefix.addr === 'string' && typeof right.prefix.len === 'number') return { kind, value: `${right.prefix.addr}/${right.prefix.len}`, ...negated };
    return null;
  }
  if (isObject(left.payload) && (left.payload.protocol === 'tcp' || left.payload.protocol === 'udp') && left.payload.field === 'dport' && op === '==') {
    const protocol = left.payload.protocol;
    if (typeof right === 'number') return { kind: 'dport', protocol, ports: [right] };
    if (isObject(right) && Array.isArray(right.set) && right.set.every((p): p is number => typeof p === 'number')) return { kind: 'dport', protocol, ports: right.set };
    return null;
  }
  if (isObject(left.ct) && left.ct.key === 'mark' && op === '==') {
    if (typeof right === 'number') return { kind: 'ct-mark', value: right };
    if (typeof right === 'string' && right.startsWith('@')) return { kind: 'ct-mark-set', set: right.slice(1) };
    return null;
  }
  if (isObject(left.ct) && left.ct.key === 'state' && (op === 'in' || op === '==')) {
    if (typeof right === 'string') return { kind: 'ct-state', states: [right] };
    if (Array.isArray(right) && right.every((s): s is string => typeof s === 'string')) return { kind: 'ct-state', states: right };
  }
  return null;
}

function decodeRule(rule: Json): LiveRule {
  const exprs = Array.isArray(rule.expr) ? (rule.expr as unknown[]) : [];
  const comment = typeof rule.comment === 'string' ? rule.comment : undefined;
  const last = exprs.at(-1);
  const keepsSource = isObject(last) && isObject(last.snat) && last.snat.family === 'ip' && isObject(last.snat.addr) && isObject(last.snat.addr.payload) && last.snat.addr.payload.protocol === 'ip' && last.snat.addr.payload.field === 'saddr';
  const verdict = isObject(last) && 'accept' in last ? 'accept' : isObject(last) && 'drop' in last ? 'drop' : keepsSource ? 'keep-source' : null;
  // `ct mark set <n>` just before the verdict.
  const beforeVerdict = exprs.at(-2);
  const mark = isObject(beforeVerdict) && isObject(beforeVerdict.mangle) && isObject(beforeVerdict.mangle.key) && isObject(beforeVerdict.mangle.key.ct) && beforeVerdict.mangle.key.ct.key === 'mark' && typeof beforeVerdict.mangle.value === 'number' ? beforeVerdict.mangle.value : undefined;
  const matches = exprs.slice(0, mark === undefined ? -1 : -2).map(decodeMatch);
  if (verdict === null || matches.some((m) => m === null)) {
    return { text: `[not written by anklume] ${JSON.stringify(exprs)}${comment === undefined ? '' : ` comment "${comment}"`}`, known: false };
  }
  const decoded: Rule = { matches: matches as Match[], verdict, ...(mark === undefined ? {} : { mark }), ...(comment === undefined ? {} : { comment }) };
  return { text: ruleText(decoded), known: true };
}

/** Decode the JSON document; null when it holds no `inet anklume` table. */
export function decodeLiveTable(document: unknown): LiveTable | null {
  const items = isObject(document) && Array.isArray(document.nftables) ? (document.nftables as unknown[]) : [];
  const ours = (o: Json): boolean => o.family === TABLE_FAMILY && o.table === TABLE_NAME;
  let present = false;
  const sets: LiveTable['sets'][number][] = [];
  const chains = new Map<string, { header: string; rules: LiveRule[] }>();
  for (const item of items) {
    if (!isObject(item)) continue;
    if (isObject(item.table) && item.table.family === TABLE_FAMILY && item.table.name === TABLE_NAME) present = true;
    if (isObject(item.set) && ours(item.set)) {
      const s = item.set;
      const elements = Array.isArray(s.elem) ? s.elem.filter((e): e is string | number => typeof e === 'string' || typeof e === 'number').map(String) : [];
      sets.push({ name: String(s.name), line: s.type === 'ifname' || s.type === 'mark' ? setLine({ name: String(s.name), type: s.type, elements }) : `[not written by anklume] type ${String(s.type)}` });
    }
    if (isObject(item.chain) && ours(item.chain)) {
      const c = item.chain;
      // nft lists priorities as numbers: srcnat is 100.
      const known = typeof c.prio === 'number' && (c.policy === 'accept' || c.policy === 'drop') && ((c.type === 'filter' && (c.hook === 'forward' || c.hook === 'input')) || (c.type === 'nat' && c.hook === 'postrouting'));
      const header = known
        ? chainHeader({ type: c.type as Chain['type'], hook: c.hook as Chain['hook'], priority: (c.prio as number) - (c.type === 'nat' ? 100 : 0), policy: c.policy as Chain['policy'] })
        : `[not written by anklume] ${JSON.stringify({ type: c.type, hook: c.hook, prio: c.prio, policy: c.policy })}`;
      chains.set(String(c.name), { header, rules: chains.get(String(c.name))?.rules ?? [] });
    }
    if (isObject(item.rule) && ours(item.rule)) {
      const name = String(item.rule.chain);
      const chain = chains.get(name) ?? { header: '', rules: [] };
      chain.rules.push(decodeRule(item.rule));
      chains.set(name, chain);
    }
  }
  if (!present) return null;
  return { sets, chains: [...chains].map(([name, c]) => ({ name, header: c.header, rules: c.rules })) };
}

/** The desired ruleset in the same shape, for comparing and diffing. */
export function expectedTable(ruleset: Ruleset): LiveTable {
  return {
    sets: ruleset.sets.map((s) => ({ name: s.name, line: setLine(s) })),
    chains: ruleset.chains.map((c: Chain) => ({ name: c.name, header: chainHeader(c), rules: c.rules.map((r) => ({ text: ruleText(r), known: true })) })),
  };
}

/** One line per construct, in order: what both sides are compared on. */
export function tableDigestLines(table: LiveTable): string[] {
  const lines: string[] = [];
  for (const s of table.sets) lines.push(`set ${s.name}: ${s.line}`);
  for (const c of table.chains) {
    lines.push(`chain ${c.name}: ${c.header}`);
    for (const r of c.rules) lines.push(`chain ${c.name}: ${r.text}`);
  }
  return lines;
}

export interface FirewallDiff {
  readonly inSync: boolean;
  /** Lines the live table lacks (`+`) or has in excess (`-`), in desired order first. */
  readonly changes: readonly { readonly sign: '+' | '-'; readonly line: string }[];
  readonly tablePresent: boolean;
}

/**
 * Compare desired and live rule by rule, order included (nft evaluates in
 * order: the same rules reordered are not the same firewall).
 */
export function diffFirewall(desired: Ruleset, live: LiveTable | null): FirewallDiff {
  const want = tableDigestLines(expectedTable(desired));
  if (live === null) return { inSync: false, tablePresent: false, changes: want.map((line) => ({ sign: '+', line })) };
  const have = tableDigestLines(live);
  if (want.length === have.length && want.every((l, i) => l === have[i])) return { inSync: true, tablePresent: true, changes: [] };
  return { inSync: false, tablePresent: true, changes: lineDiff(have, want) };
}

/** A minimal line diff (longest common subsequence): enough for tables of a few hundred rules. */
function lineDiff(from: readonly string[], to: readonly string[]): { sign: '+' | '-'; line: string }[] {
  const n = from.length;
  const m = to.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = from[i] === to[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: { sign: '+' | '-'; line: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && from[i] === to[j]) {
      i++;
      j++;
    } else if (j < m && (i === n || lcs[i]![j + 1]! > lcs[i + 1]![j]!)) {
      out.push({ sign: '+', line: to[j++]! });
    } else {
      out.push({ sign: '-', line: from[i++]! });
    }
  }
  return out;
}

