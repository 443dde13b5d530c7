// Inputs built to make a detector rescan or backtrack: anchors repeated with
// nothing between them, runs without separators, many tiny strings, deep JSON,
// one long line. Shared by bench/sanitizer-adversarial.ts (timing) and
// test/unit/sanitizer-linear.test.ts (what comes out of them).
import { readFileSync } from 'node:fs';

export interface AdversarialInput {
  readonly name: string;
  /** About `bytes` characters of input, as the strings the gateway would hand the engine one at a time. */
  readonly build: (bytes: number) => string[];
}

function repeat(unit: string, bytes: number, head = '', tail = ''): string[] {
  return [head + unit.repeat(Math.max(1, Math.floor((bytes - head.length - tail.length) / unit.length))) + tail];
}

/** `10.<a>.<b>.<c>` with a new /24 every few addresses: many distinct values to pseudonymize. */
function distinctAddresses(bytes: number): string[] {
  const parts: string[] = [];
  for (let n = 0, size = 0; size < bytes; n++) {
    const part = `10.${(n >> 10) & 255}.${(n >> 2) & 255}.${1 + (n & 3)} `;
    parts.push(part);
    size += part.length;
  }
  return [parts.join('')];
}

/** `perso-<n>` instance names and `h<n>.acme.corp` hosts, all different. */
function distinctNames(bytes: number): string[] {
  const parts: string[] = [];
  for (let n = 0, size = 0; size < bytes; n++) {
    const part = n % 2 === 0 ? `perso-m${n.toString(36)} ` : `h${n.toString(36)}.acme.corp `;
    parts.push(part);
    size += part.length;
  }
  return [parts.join('')];
}

function tinyStrings(bytes: number): string[] {
  const samples = ['pro-dev', 'ok', '10.110.0.10', 'password=hunter22', 'fe80::216:3eff:fe12:3456', '00:16:3e:12:34:56', 'the', 'net-pro', 'a', '{"x":1}'];
  const out: string[] = [];
  for (let n = 0, size = 0; size < bytes; n++) {
    const s = `${samples[n % samples.length] ?? ''} ${n % 97}`;
    out.push(s);
    size += s.length;
  }
  return out;
}

function deepJson(bytes: number): string[] {
  const depth = Math.floor(bytes / 40);
  const open = '{"domains":{"pro":[{"host":"10.110.0.1",'.repeat(1);
  let text = '';
  for (let i = 0; i < depth; i++) text += i % 2 === 0 ? `{"k${i % 10}":[` : '{"v":"pro-dev 10.110.0.10",';
  return [open + text + 'null' + ']}'.repeat(depth)];
}

function longLine(bytes: number): string[] {
  const turn = readFileSync(new URL('./fixtures/sanitizer/conversation-turn.md', import.meta.url), 'utf8').replaceAll('\n', ' ');
  return repeat(turn, bytes);
}

export function adversarialInputs(): readonly AdversarialInput[] {
  return [
    { name: 'password= repeated', build: (b) => repeat('password=', b) },
    { name: 'password=" repeated (no closing quote)', build: (b) => repeat('password="', b) },
    { name: 'password=$ repeated (placeholder)', build: (b) => repeat('password=$', b) },
    { name: 'password=a then .: run', build: (b) => repeat('.:', b, 'password=a', 'b') },
    { name: 'keywords mixed: token=secret=api_key=', build: (b) => repeat('token=secret=api_key=Authorization: ', b) },
    { name: '--password --password', build: (b) => repeat('--password ', b) },
    { name: 'vendor prefixes: -sk- -eyJ xoxb-', build: (b) => repeat('-sk-aa-eyJaa-xoxb-aa', b) },
    { name: 'Bearer Bearer', build: (b) => repeat('Bearer ', b) },
    { name: 'PEM headers without footer', build: (b) => repeat('-----BEGIN RSA PRIVATE KEY-----\n', b) },
    { name: '(incus list ( on one line', build: (b) => repeat('(incus list a ', b) },
    { name: 'x.lan. repeated (fqdn suffixes)', build: (b) => repeat('x.lan.', b) },
    { name: '/run/incus/@ repeated', build: (b) => repeat('/run/incus/@', b) },
    { name: 'group_vars/a then dots', build: (b) => repeat('.', b, 'group_vars/a', 'b') },
    { name: 'dash-joined path of declared names', build: (b) => repeat('pro-dev-x-', b, '/root/.claude/projects/-') },
    { name: 'scheme:// repeated', build: (b) => repeat('a://u:p', b) },
    { name: 'net- and pro- repeated', build: (b) => repeat(' net-pro-pro-pro', b) },
    { name: 'pro-a- repeated (one long instance-like run)', build: (b) => repeat('pro-a-', b, ' ', 'b') },
    { name: 'run: letters', build: (b) => repeat('a', b) },
    { name: 'run: base64-like', build: (b) => repeat('aB3x', b) },
    { name: 'run: digits and dots', build: (b) => repeat('1.', b) },
    { name: 'run: colons', build: (b) => repeat(':', b) },
    { name: 'run: hex and colons', build: (b) => repeat('ab:', b) },
    { name: 'run: fe80:: repeated', build: (b) => repeat('fe80::', b) },
    { name: 'run: hex groups and dashes', build: (b) => repeat('00-16-', b) },
    { name: 'distinct private addresses', build: distinctAddresses },
    { name: 'distinct instance and host names', build: distinctNames },
    { name: 'tiny strings (~10 000 per MB)', build: tinyStrings },
    { name: 'deep JSON', build: deepJson },
    { name: 'one long line (conversation)', build: longLine },
  ];
}
