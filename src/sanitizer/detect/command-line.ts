import { identBefore, type Push, type TriggeredDetector } from './candidate.js';

/** Where a shell command ends: a newline that does not continue it, or an operator. */
const COMMAND_END = /(?<!\\)\n|[;|&`()]/g;
const TOKEN = /\S+/g;

/** How each tool takes a password on its command line. */
type Rule = (tokens: readonly Token[], i: number, push: Push) => void;

interface Token {
  readonly value: string;
  readonly at: number;
}

const TOOLS = ['sshpass', 'mysql', 'mysqldump', 'mysqladmin', 'mariadb', 'mariadb-dump', 'curl', 'wget', 'redis-cli', 'smbclient'];

function secret(push: Push, start: number, end: number): void {
  if (end > start) push({ start, end, category: 'credentials', pattern: 'credentials.command-password', kind: 'secret' });
}

/** A value as a token holds it: without the quotes around it. */
function unquoted(token: Token, from = 0): { start: number; end: number } {
  let start = token.at + from;
  let end = token.at + token.value.length;
  const q = token.value[from];
  if ((q === "'" || q === '"') && token.value.length - from >= 2 && token.value.endsWith(q)) {
    start++;
    end--;
  }
  return { start, end };
}

function isPlaceholderValue(token: Token, from = 0): boolean {
  return /^["']?[$<{%]/.test(token.value.slice(from));
}

/** `-p <pw>` or `-p<pw>` (sshpass), `-a <pw>` (redis-cli): the flag's value. */
function flagValue(flags: readonly string[], forms: { glued: boolean; separate: boolean }): Rule {
  const { glued, separate } = forms;
  return (tokens, i, push) => {
    const token = tokens[i];
    if (token === undefined) return;
    for (const flag of flags) {
      if (token.value === flag) {
        if (!separate) return;
        const next = tokens[i + 1];
        if (next !== undefined && !next.value.startsWith('-') && !isPlaceholderValue(next)) {
          const { start, end } = unquoted(next);
          secret(push, start, end);
        }
        return;
      }
      if (glued && token.value.startsWith(flag) && token.value.length > flag.length && !flag.startsWith('--') && !isPlaceholderValue(token, flag.length)) {
        const { start, end } = unquoted(token, flag.length);
        secret(push, start, end);
        return;
      }
    }
  };
}

/** `-u user:pw`, `--user=user:pw`, `-U user%pw`: what follows the separator. */
function userPassword(flags: readonly string[], separator: string): Rule {
  return (tokens, i, push) => {
    const token = tokens[i];
    if (token === undefined) return;
    for (const flag of flags) {
      let value: Token | undefined;
      if (token.value === flag) value = tokens[i + 1];
      else if (token.value.startsWith(`${flag}=`)) value = { value: token.value.slice(flag.length + 1), at: token.at + flag.length + 1 };
      else if (!flag.startsWith('--') && token.value.startsWith(flag) && token.value.length > flag.length) value = { value: token.value.slice(flag.length), at: token.at + flag.length };
      if (value === undefined) continue;
      const { end } = unquoted(value);
      const sep = value.value.indexOf(separator);
      if (sep < 0 || value.at + sep + 1 >= end) return;
      const from = value.at + sep + 1;
      if (!/^[$<{]/.test(value.value.slice(sep + 1))) secret(push, from, end);
      return;
    }
  };
}

const RULES: Readonly<Record<string, Rule>> = {
  sshpass: flagValue(['-p'], { glued: true, separate: true }),
  // `-p secret` is the database name for mysql: only the glued `-psecret` is a password.
  mysql: flagValue(['-p'], { glued: true, separate: false }),
  curl: userPassword(['-u', '--user', '--proxy-user', '-U'], ':'),
  wget: userPassword(['--user'], ':'),
  'redis-cli': flagValue(['-a', '--pass'], { glued: false, separate: true }),
  smbclient: userPassword(['-U', '--user'], '%'),
};
const RULE_OF: Readonly<Record<string, Rule | undefined>> = {
  sshpass: RULES['sshpass'],
  mysql: RULES['mysql'],
  mysqldump: RULES['mysql'],
  mysqladmin: RULES['mysql'],
  mariadb: RULES['mysql'],
  'mariadb-dump': RULES['mysql'],
  curl: RULES['curl'],
  wget: RULES['wget'],
  'redis-cli': RULES['redis-cli'],
  smbclient: RULES['smbclient'],
};

/**
 * Passwords given on a command line: `sshpass -p …`, `mysql -p…`, `curl -u
 * user:…`, `redis-cli -a …`, `smbclient -U user%…` (`--password …`,
 * `--password=…` and `PGPASSWORD=…` are keys, found by the key=value
 * detector). The arguments are read up to the end of the command or the next
 * of these tools, so each character is read once.
 */
export function commandLineDetector(): TriggeredDetector {
  return {
    trigger: `(?:${TOOLS.sort((a, b) => b.length - a.length).join('|')})(?![\\w-])`,
    detect(text, at, anchorEnd, push, scan) {
      if (identBefore(text, at)) return null;
      const rule = RULE_OF[text.slice(at, anchorEnd)];
      if (rule === undefined) return null;
      const found = scan.search(COMMAND_END, anchorEnd);
      const end = found < 0 ? text.length : found;
      const tokens: Token[] = [];
      // Tokens of the command alone: a regex over the rest of the text would read past its end.
      const command = text.slice(anchorEnd, end);
      TOKEN.lastIndex = 0;
      for (let m = TOKEN.exec(command); m !== null; m = TOKEN.exec(command)) {
        if (RULE_OF[m[0]] !== undefined) break;
        tokens.push({ value: m[0], at: anchorEnd + m.index });
      }
      for (let i = 0; i < tokens.length; i++) rule(tokens, i, push);
      return anchorEnd;
    },
  };
}
