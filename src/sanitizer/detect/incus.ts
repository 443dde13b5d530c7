import { DNS_NAME, escapeRegex, identBefore, wholeNameAt, type Push, type TriggeredDetector, type ValueKind } from './candidate.js';
import { fqdnTailEnd } from './fqdn.js';
import { COMPOUND_TAILS, ORDINARY_NAMES } from './words.js';

const IFNAME_MAX = 15;

function firstPart(name: string): string {
  const i = name.indexOf('-');
  return i < 0 ? name : name.slice(0, i);
}

/**
 * `net-<name>` bridges that infra.yml does not declare: a DNS-safe name that
 * fits the 15-character interface limit. English compounds (`net-zero`,
 * `net-new`, `net-positive`) are left alone: see COMPOUND_TAILS.
 */
export function bridgeDetector(): TriggeredDetector {
  return {
    trigger: 'net-(?=[a-z0-9])',
    detect(text, at, anchorEnd, push) {
      if (!text.startsWith('net-', at) || identBefore(text, at)) return null;
      const tail = wholeNameAt(text, anchorEnd);
      if (tail === null || 4 + tail.length > IFNAME_MAX || COMPOUND_TAILS.has(firstPart(tail))) return null;
      push({ start: at, end: anchorEnd + tail.length, category: 'incus', pattern: 'incus.bridge', kind: 'bridge' });
      return anchorEnd;
    },
  };
}

/**
 * `<domain>-<machine>` instance names of declared domains that infra.yml does
 * not (or no longer) declares. For a domain named after an ordinary word,
 * compounds such as `client-side` or `pro-rata` are left alone.
 */
export function instanceDetector(domains: readonly string[]): TriggeredDetector | null {
  if (domains.length === 0) return null;
  const sorted = [...domains].sort((a, b) => b.length - a.length).map(escapeRegex);
  const set = new Set(domains);
  return {
    trigger: `(?:${sorted.join('|')})-(?=[a-z0-9])`,
    detect(text, at, anchorEnd, push) {
      // Glued to what comes before first: `pro-a-pro-a-…` wakes an anchor every few characters,
      // and reading the name's tail at each one read the rest of the run again (quadratic).
      const domain = text.slice(at, anchorEnd - 1);
      if (!set.has(domain) || identBefore(text, at)) return null;
      const tail = wholeNameAt(text, anchorEnd);
      if (tail === null) return null;
      if (ORDINARY_NAMES.has(domain) && COMPOUND_TAILS.has(firstPart(tail))) return null;
      const end = anchorEnd + tail.length;
      // `perso-m1.acme.corp`: the whole host name, as for a declared instance (see infraNameDetector).
      const fqdnEnd = fqdnTailEnd(text, end, end - at);
      if (fqdnEnd > 0) push({ start: at, end: fqdnEnd, category: 'incus', pattern: 'incus.instance-fqdn', kind: 'fqdn' });
      else push({ start: at, end, category: 'incus', pattern: 'incus.instance', kind: 'instance' });
      return anchorEnd;
    },
  };
}

/** Top-level commands whose every positional name is an instance. */
const INSTANCE_COMMANDS = new Set(['start', 'stop', 'restart', 'delete', 'rm', 'exec', 'shell', 'console', 'info', 'pause', 'freeze', 'resume', 'unfreeze', 'publish', 'export', 'copy', 'cp', 'move', 'mv', 'rename', 'list', 'ls']);
/** First positional is an image, the second the instance. */
const LAUNCH_COMMANDS = new Set(['launch', 'init', 'create', 'rebuild']);
/** `<command> <verb...> <instance> ...`: only the first positional name is a resource. */
const FIRST_RESOURCE_COMMANDS = new Map<string, ValueKind>([
  ['config', 'instance'],
  ['profile', 'instance'],
  ['snapshot', 'instance'],
  ['file', 'instance'],
  ['network', 'bridge'],
  ['project', 'domain'],
]);
/** Sub-command verbs, never resource names. */
const VERBS = new Set(
  `add assign attach attach-profile create delete detach device edit get info list list-leases ls override
  pull push remove rename restore rm set show switch unset mount trust template metadata uefi acl forward
  load-balancer peer zone copy move`.split(/\s+/),
);
/** Profiles (`profile create <profile>`) are not resources worth hiding; only `profile add|assign|remove <instance>` name one. */
const PROFILE_INSTANCE_VERBS = new Set(['add', 'assign', 'remove', 'apply']);
/**
 * Flags that take a value; the value of --project/--target/--network is itself a
 * resource. Short flags whose meaning differs between commands (`-t`, `-f`, `-n`)
 * are left out: `exec -t` and `delete -f` take no value.
 */
const FLAG_VALUE_KIND = new Map<string, ValueKind | null>([
  ['--project', 'domain'],
  ['--target', 'host'],
  ['--network', 'bridge'],
  ['--storage', null],
  ['-s', null],
  ['--profile', null],
  ['-p', null],
  ['--config', null],
  ['-c', null],
  ['--type', null],
  ['--format', null],
  ['--mode', null],
  ['--user', null],
  ['--group', null],
  ['--cwd', null],
  ['--env', null],
  ['--device', null],
  ['-d', null],
  ['--columns', null],
  ['--alias', null],
]);

/**
 * Where a command ends: a newline that does not continue the line, a quote, a
 * shell operator, a parenthesis, a comment. `(` ends one too: every character
 * that can start a command ends the one before, so two commands never overlap
 * and each character is parsed once.
 */
const COMMAND_END = /(?<!\\)\n|[`'";|&<>()]|[ \t]#/g;
const TOKEN = /\S+/g;

/**
 * `incus <command> ... <resource>`: the resource arguments of an incus command
 * line (instances, networks, projects; `--project`, `--target`, `--network`
 * values) are replaced, the rest of the command stays. Only where `incus`
 * starts a command — at the start of a line (after an optional prompt or
 * sudo), after a backtick, quote, `(`, `;`, `|` or `&` — so prose that merely
 * mentions incus is left alone. Parsing stops at `--` (what follows runs
 * inside the instance), at the end of the command and at the next `incus`
 * (a continued line that starts another command).
 */
export function incusCommandDetector(): TriggeredDetector {
  return {
    trigger: 'incus[ \\t]+(?=[a-z])',
    detect(text, at, anchorEnd, push, scan) {
      if (!text.startsWith('incus', at) || !startsCommand(text, at)) return null;
      const end = scan.search(COMMAND_END, anchorEnd);
      parseCommand(text, anchorEnd, end < 0 ? text.length : end, push);
      // The scan goes on inside the command: a declared name there is found as such too (and ranks first).
      return anchorEnd;
    },
  };
}

const COMMAND_PREFIX = /(?:^|[`'"(;|&\n])[ \t]*(?:[$#>][ \t]+)?(?:sudo[ \t]+)?$/;

/** Whether `incus` at `at` starts a command: at a line start (after a prompt or sudo), or after a backtick, quote, `(`, `;`, `|`, `&`. */
function startsCommand(text: string, at: number): boolean {
  return COMMAND_PREFIX.test(text.slice(Math.max(0, at - 24), at)) || (at <= 24 && /^[ \t]*(?:[$#>][ \t]+)?(?:sudo[ \t]+)?$/.test(text.slice(0, at)));
}

function parseCommand(text: string, start: number, end: number, push: Push): void {
  const tokens: { value: string; at: number }[] = [];
  TOKEN.lastIndex = 0;
  const segment = text.slice(start, end);
  for (let m = TOKEN.exec(segment); m !== null; m = TOKEN.exec(segment)) {
    if (m[0] === '--' || m[0] === 'incus') break;
    if (m[0] !== '\\') tokens.push({ value: m[0], at: start + m.index });
  }
  const positionals: { value: string; at: number }[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === undefined) continue;
    if (token.value.startsWith('-')) {
      const eq = token.value.indexOf('=');
      const flag = eq < 0 ? token.value : token.value.slice(0, eq);
      if (!FLAG_VALUE_KIND.has(flag)) continue;
      const kind = FLAG_VALUE_KIND.get(flag) ?? null;
      const value = eq < 0 ? tokens[++i] : { value: token.value.slice(eq + 1), at: token.at + eq + 1 };
      if (kind !== null && value !== undefined) resource(value, kind, push);
      continue;
    }
    positionals.push(token);
  }
  const command = positionals.shift()?.value;
  if (command === undefined) return;
  if (INSTANCE_COMMANDS.has(command)) {
    for (const p of command === 'list' || command === 'ls' ? positionals.slice(0, 1) : positionals) resource(p, 'instance', push);
  } else if (LAUNCH_COMMANDS.has(command)) {
    for (const p of positionals.slice(1, 2)) resource(p, 'instance', push);
  } else {
    const kind = FIRST_RESOURCE_COMMANDS.get(command);
    if (kind === undefined) return;
    const verbs: string[] = [];
    while (positionals[0] !== undefined && VERBS.has(positionals[0].value)) verbs.push(positionals.shift()?.value ?? '');
    if (command === 'profile' && !verbs.some((v) => PROFILE_INSTANCE_VERBS.has(v))) return;
    // `file push <local> <instance>/<path>`: the instance is the one written with a path.
    const first = command === 'file' ? positionals.find((p) => /^[a-z0-9-]+(?::[a-z0-9-]+)?\//.test(p.value)) : positionals[0];
    if (first !== undefined) resource(first, kind, push);
    // `network attach <network> <instance>`.
    if (command === 'network' && verbs.some((v) => v === 'attach' || v === 'detach') && positionals[1] !== undefined) resource(positionals[1], 'instance', push);
  }
}

/** A resource token: `name`, `remote:name`, or `name/path` (file push/pull, snapshots). */
function resource(token: { value: string; at: number }, kind: ValueKind, push: Push): void {
  let { value, at } = token;
  const colon = value.indexOf(':');
  if (colon > 0 && DNS_NAME.test(value.slice(0, colon))) {
    at += colon + 1;
    value = value.slice(colon + 1);
  }
  const slash = value.indexOf('/');
  if (slash > 0) value = value.slice(0, slash);
  if (!DNS_NAME.test(value) || !/[a-z]/.test(value) || VERBS.has(value) || value === 'default') return;
  const resolved = kind === 'instance' && value.startsWith('net-') ? 'bridge' : kind;
  push({ start: at, end: at + value.length, category: 'incus', pattern: 'incus.command', kind: resolved });
}
