import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSanitizer, MemoryMappingStore, type DomainSanitizer } from '../../src/sanitizer/index.js';
import { exampleDictionary, sanitizer, SECRET } from './sanitizer-helpers.js';

const EXTRA = [{ name: 'account', regex: 'ACME\\\\[a-z"]+' }];

function fresh(): DomainSanitizer {
  return sanitizer({ mode: 'pseudonymize', mapping: new MemoryMappingStore(), extraPatterns: EXTRA });
}

/** A mask sanitizer that knows nothing but credentials: what one-way masking alone makes of a text. */
const credentialsOnly = createSanitizer({
  domain: 'pro',
  mode: 'mask',
  secret: SECRET,
  dictionary: { domains: [], projects: [], bridges: [], instances: [], addresses: [], subnets: [], fqdns: [] },
  categories: { ip: false, incus: false, fqdn: false, service: false, ansible: false, credentials: true },
});

const dictionary = exampleDictionary();
const octet = fc.integer({ min: 0, max: 255 });
const hex16 = fc.integer({ min: 1, max: 0xffff }).map((n) => n.toString(16));
const word = fc.constantFrom('the', 'pro', 'client', 'project', 'prose', 'net-zero', 'well-known', 'server', 'version', 'v1.2.3', '1.2.3.4', '8.8.8.8', 'claude-sonnet-4-5', 'llama3.1:8b', 'sha', 'a', 'x', '42', 'kelaso', '198.18.0.1');
const ipv6 = fc.oneof(
  fc.tuple(fc.constantFrom('fe80::', 'fd42:5a17:d2c0:7e1b:', 'FD42:5A17:D2C0:7E1B:', 'fd42:0a17:00c0:7e1b:'), hex16, hex16, fc.constantFrom('', '/64', '%eth0')).map(([p, a, b, z]) => `${p}${p.endsWith('::') ? '' : '1266:'}${a}:fe12:${b}${z}`),
  fc.tuple(hex16, fc.constantFrom('fd42:5a17:d2c0:7e1b::', 'fd42:1::')).map(([a, p]) => `[${p}${a}]:8443`),
);
const mac = fc
  .tuple(fc.constantFrom('10:66:6a', '00:16:3e', '52:54:00'), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 3, maxLength: 3 }), fc.constantFrom(':', '-', 'upper', 'dot'))
  .map(([oui, nic, style]) => {
    const hex = [...oui.split(':'), ...nic.map((n) => n.toString(16).padStart(2, '0'))];
    if (style === 'dot') return `${hex[0]}${hex[1]}.${hex[2]}${hex[3]}.${hex[4]}${hex[5]}`;
    const text = hex.join(style === 'upper' ? ':' : style);
    return style === 'upper' ? text.toUpperCase() : text;
  })
  // Twelve digits in Cisco's dots are taken for a number, not a MAC (see detect/mac.ts).
  .filter((m) => !/^[\d.]+$/.test(m));
const identifier = fc.oneof(
  fc.constantFrom(...dictionary.instances, ...dictionary.bridges, ...dictionary.addresses, ...dictionary.subnets, ...dictionary.domains),
  fc.tuple(octet, octet, octet).map(([b, c, d]) => `10.${b}.${c}.${d}`),
  fc.tuple(octet, octet).map(([c, d]) => `192.168.${c}.${d}`),
  fc.tuple(fc.integer({ min: 16, max: 31 }), octet, octet, fc.integer({ min: 8, max: 32 })).map(([b, c, d, p]) => `172.${b}.${c}.${d}/${p}`),
  fc.tuple(fc.constantFrom('perso', 'ai-tools', 'sandbox'), fc.stringMatching(/^[a-z][a-z0-9]{1,6}$/)).map(([d, m]) => `${d}-${m}`),
  fc.stringMatching(/^[a-z][a-z0-9]{1,8}$/).map((n) => `${n}.acme.corp`),
  // IPv6 in every notation, MACs in every notation, ordinary-word domains where structure names them, Incus volume names.
  ipv6,
  mac,
  fc.constantFrom('pro', 'perso', 'client').chain((d) => fc.constantFrom(`\n[${d}]\n`, `\n[${d}:vars]\n`, `\n- hosts: ${d}\n`, `\n  - from: ${d}\n    to: ${d}\n`, `PLAY [${d}] ***`, `| ${d} | YES |`, `"${d}": {`, `${d}_${d}-dev`)),
  fc.constantFrom('pro-dev.acme.corp', 'perso-m1.example.com', '/root/.claude/projects/-srv-work-pro-dev/memory/', 'net-lab2', 'net-db', '/var/lib/incus/unix.socket', 'group_vars/web.yml', 'ansible_host=203.0.113.9', 'incus exec build-1 -- ls', 'http://ollama-box:11434/api', 'ACME\\bob'),
);
const secret = fc.constantFrom('password=hunter22', 'Bearer abcdef0123456789', 'AKIAIOSFODNN7EXAMPLE', 'postgres://u:pa55word@db.example.com', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl');
const separator = fc.constantFrom(' ', ' ', '\n', ', ', '. ', ': ', '(', ')', '"', '/', '`', '\t', '=', '-', ' - ');
const pieces = (item: fc.Arbitrary<string>): fc.Arbitrary<string> => fc.array(fc.tuple(item, separator), { maxLength: 30 }).map((ps) => ps.map(([a, b]) => a + b).join(''));
const textWithoutSecrets = pieces(fc.oneof(word, identifier));
const textWithSecrets = pieces(fc.oneof(word, identifier, secret));

const cuts = (length: number): fc.Arbitrary<number[]> => fc.uniqueArray(fc.integer({ min: 0, max: length }), { maxLength: 12 }).map((c) => c.sort((a, b) => a - b));

function streamed(s: DomainSanitizer, text: string, at: readonly number[], escape?: (v: string) => string): string {
  const r = s.streamRestorer(escape);
  let out = '';
  let last = 0;
  for (const c of [...at, text.length]) {
    out += r.push(text.slice(last, c));
    last = c;
  }
  return out + r.flush();
}

const jsonEscape = (v: string): string => JSON.stringify(v).slice(1, -1);

describe('restore', () => {
  it('gives the original back for any text without credentials', () => {
    fc.assert(
      fc.property(textWithoutSecrets, (text) => {
        // Pieces glued by '-' can make a long mixed-case run that the base64 detector takes
        // for a key (masked one-way, on purpose): such a text holds a credential after all.
        fc.pre(credentialsOnly.sanitize(text).replacements.length === 0);
        const s = fresh();
        expect(s.restore(s.sanitize(text).text)).toBe(text);
      }),
      { numRuns: 400 },
    );
  });

  it('replaces every planted IPv6 and MAC address, and restores it', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(ipv6, mac), { minLength: 1, maxLength: 5 }), (planted) => {
        const s = fresh();
        const text = `seen: ${planted.join(', ')}.`;
        const out = s.sanitize(text).text;
        for (const p of planted) expect(out).not.toContain(p.replace(/^\[|\]:8443$|%eth0$|\/64$/g, ''));
        expect(s.restore(out)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('gives the original back with each credential masked: credentials are one-way', () => {
    fc.assert(
      fc.property(textWithSecrets, (text) => {
        const mapping = new MemoryMappingStore();
        const s = sanitizer({ mode: 'pseudonymize', mapping, extraPatterns: EXTRA });
        const out = s.sanitize(text);
        expect(s.restore(out.text)).toBe(credentialsOnly.sanitize(text).text);
        for (const r of out.replacements.filter((x) => x.category === 'credentials')) {
          expect(r.replacement).toBe('[REDACTED]');
          expect(mapping.pseudonymOf(r.original)).toBeUndefined();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('restores pseudonyms in an answer written around them, but not inside longer words', () => {
    const s = fresh();
    const dev = s.sanitize('pro-dev').text;
    const ip = s.sanitize('10.110.0.10').text;
    expect(s.restore(`Connect to ${dev} (${ip}): ssh root@${ip}\n${dev}.`)).toBe('Connect to pro-dev (10.110.0.10): ssh root@10.110.0.10\npro-dev.');
    expect(s.restore(`x${dev} ${ip}5 ${ip}.7 1.${ip}`)).toBe(`x${dev} ${ip}5 ${ip}.7 1.${ip}`);
  });

  it('restores nothing of another domain', () => {
    const pro = fresh();
    const answer = pro.sanitize('pro-dev 10.110.0.10').text;
    const perso = sanitizer({ mode: 'pseudonymize', mapping: new MemoryMappingStore(), domain: 'perso', secret: new Uint8Array(32).fill(9) });
    expect(perso.restore(answer)).toBe(answer);
  });
});

describe('streamed restore', () => {
  const answer = fc.tuple(textWithoutSecrets, textWithoutSecrets).map(([a, b]) => ({ question: a + b, noise: b }));

  it('gives restore(whole) for every split offset of an answer', () => {
    const s = fresh();
    const text = s.sanitize('Try pro-dev on 10.110.0.10 (gateway 10.110.0.254) via net-pro; db01.acme.corp. ACME\\bob').text + ' 198.18.9.9 pro-devx';
    const whole = s.restore(text);
    for (let i = 0; i <= text.length; i++) expect(streamed(s, text, [i])).toBe(whole);
  });

  it('gives restore(whole) for random multi-splits of generated answers', () => {
    fc.assert(
      fc.property(
        answer.chain(({ question, noise }) => {
          const s = fresh();
          const text = s.sanitize(question).text + noise;
          return fc.tuple(fc.constant(s), fc.constant(text), cuts(text.length));
        }),
        ([s, text, at]) => {
          expect(streamed(s, text, at)).toBe(s.restore(text));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('emits early: holds back only what could still become a pseudonym', () => {
    const s = fresh();
    const dev = s.sanitize('pro-dev').text;
    const r = s.streamRestorer();
    expect(r.push('hello world ')).toBe('hello world ');
    expect(r.push(dev.slice(0, 3))).toBe('');
    expect(r.push(`${dev.slice(3)} and`)).toBe('pro-dev and');
    expect(r.flush()).toBe('');
  });

  it('restores JSON-escaped values inside tool-input JSON split anywhere, and the result parses', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(identifier, word), { minLength: 1, maxLength: 6 }).chain((values) => {
          const s = fresh();
          const input = { path: '/srv/app', hosts: values, note: `line1\n${values.join('\t')}`, quoted: 'say "hi" \\ ok' };
          // As the gateway does: each string leaf is sanitized, never the raw JSON.
          const leaf = (v: string): string => s.sanitize(v).text;
          const sanitizedInput = { path: leaf(input.path), hosts: input.hosts.map(leaf), note: leaf(input.note), quoted: leaf(input.quoted) };
          // The model answers with the pseudonymized values inside a JSON tool input, escaped as JSON.
          const json = JSON.stringify(sanitizedInput);
          return fc.tuple(fc.constant(s), fc.constant(input), fc.constant(json), cuts(json.length));
        }),
        ([s, input, json, at]) => {
          expect(JSON.parse(streamed(s, json, at, jsonEscape))).toEqual(input);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('treats a JSON escape before a pseudonym as a boundary', () => {
    const s = fresh();
    const dev = s.sanitize('pro-dev').text;
    const json = JSON.stringify({ cmd: `ls\n${dev}\t"${dev}"` });
    expect(JSON.parse(streamed(s, json, [5, 9], jsonEscape))).toEqual({ cmd: 'ls\npro-dev\t"pro-dev"' });
  });
});
