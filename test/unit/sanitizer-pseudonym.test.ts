import { describe, expect, it } from 'vitest';
import { MemoryMappingStore, type DomainSanitizer } from '../../src/sanitizer/index.js';
import { sanitizer, SECRET } from './sanitizer-helpers.js';

function pseudonymizer(options: { secret?: Uint8Array; mapping?: MemoryMappingStore; domain?: string } = {}): DomainSanitizer {
  return sanitizer({ mode: 'pseudonymize', secret: options.secret ?? SECRET, mapping: options.mapping ?? new MemoryMappingStore(), domain: options.domain ?? 'pro' });
}

/** The replacement of each original in `text`. */
function pseudonyms(s: DomainSanitizer, text: string): Record<string, string> {
  return Object.fromEntries(s.sanitize(text).replacements.map((r) => [r.original, r.replacement]));
}

const SAMPLE = 'pro-dev 10.110.0.10 10.110.0.254 10.110.0.0/24 net-pro pro-openclaw 192.168.1.5 192.168.1.77 192.168.2.5 db01.acme.corp /var/lib/incus/unix.socket ai-tools net-ai-tools';

describe('pseudonymize: format-preserving', () => {
  const p = pseudonyms(pseudonymizer(), SAMPLE);
  const prefix = (ip: string | undefined): string => (ip ?? '').split('.').slice(0, 3).join('.');

  it('maps addresses into 198.18.0.0/15, keeping each /24 together and the host octet', () => {
    for (const original of ['10.110.0.10', '10.110.0.254', '192.168.1.5', '192.168.1.77', '192.168.2.5']) expect(p[original]).toMatch(/^198\.1[89]\.\d{1,3}\.\d{1,3}$/);
    expect(prefix(p['10.110.0.10'])).toBe(prefix(p['10.110.0.254']));
    expect(p['10.110.0.254']).toMatch(/\.254$/);
    expect(p['10.110.0.10']).toMatch(/\.10$/);
    expect(prefix(p['192.168.1.5'])).toBe(prefix(p['192.168.1.77']));
    expect(prefix(p['192.168.1.5'])).not.toBe(prefix(p['192.168.2.5']));
    expect(p['10.110.0.0/24']).toBe(`${prefix(p['10.110.0.10'])}.0/24`);
  });

  it("keeps names plausible and related: the instance and the bridge carry their domain's pseudonym", () => {
    const domain = p['ai-tools'] ?? '';
    expect(domain).toMatch(/^[a-z]{6}$/);
    expect(p['net-ai-tools']).toBe(`net-${domain}`);
    const pro = (p['net-pro'] ?? '').slice(4);
    expect(p['pro-dev']).toMatch(new RegExp(`^${pro}-[a-z]+$`));
    expect(p['pro-openclaw']).toMatch(new RegExp(`^${pro}-[a-z]+$`));
    expect((p['net-pro'] ?? '').length).toBeLessThanOrEqual(15);
  });

  it('keeps the suffix of an internal name and the shape of a path', () => {
    expect(p['db01.acme.corp']).toMatch(/^[a-z]+01\.[a-z]+\.corp$/);
    expect(p['/var/lib/incus/unix.socket']).toMatch(/^\/[a-z]+\/[a-z]+\/[a-z]+\/[a-z]+\.socket$/);
  });

  it('produces JSON-safe pseudonyms, even for extra-pattern values with quotes and backslashes', () => {
    const s = sanitizer({ mode: 'pseudonymize', mapping: new MemoryMappingStore(), extraPatterns: [{ name: 'account', regex: 'ACME\\\\[a-z"]+' }] });
    const out = s.sanitize(`${SAMPLE} ACME\\bo"b`);
    // JSON.stringify escapes nothing in a JSON-safe string: no quote, backslash or control character.
    for (const r of out.replacements) expect(JSON.stringify(r.replacement)).toBe(`"${r.replacement}"`);
    expect(out.replacements.find((r) => r.category === 'custom')?.replacement).toMatch(/^[A-Z]{4}-[a-z]{2}-[a-z]$/);
  });

  it('never pseudonymizes a credential: masked in both modes and never recorded', () => {
    const mapping = new MemoryMappingStore();
    const out = sanitizer({ mode: 'pseudonymize', mapping }).sanitize('password=hunter22 Bearer abcdef0123456789');
    expect(out.text).toBe('password=[REDACTED] Bearer [REDACTED]');
    expect(mapping.size).toBe(0);
  });
});

describe('pseudonymize: consistent', () => {
  it('gives the same pseudonyms on two instances with the same secret and fresh mappings', () => {
    expect(pseudonyms(pseudonymizer(), SAMPLE)).toEqual(pseudonyms(pseudonymizer(), SAMPLE));
  });

  it('gives the same pseudonym to a value every time it appears, request after request', () => {
    const s = pseudonymizer();
    const first = s.sanitize('pro-dev at 10.110.0.10').text;
    s.sanitize('something else: 192.168.9.9 and perso-laptop');
    expect(s.sanitize('pro-dev at 10.110.0.10').text).toBe(first);
  });

  it("gives other pseudonyms with another domain's secret", () => {
    const a = pseudonyms(pseudonymizer(), SAMPLE);
    const b = pseudonyms(pseudonymizer({ secret: new Uint8Array(32).fill(8), domain: 'perso' }), SAMPLE);
    for (const original of ['pro-dev', '10.110.0.10', 'net-pro', 'db01.acme.corp']) expect(b[original]).not.toBe(a[original]);
  });

  it('keeps pseudonyms and restores them after a restart on the same mapping', () => {
    const mapping = new MemoryMappingStore();
    const before = pseudonymizer({ mapping }).sanitize(SAMPLE).text;
    // A new process: the store comes back from disk, the sanitizer is new.
    const after = pseudonymizer({ mapping: new MemoryMappingStore(mapping.entries()) });
    expect(after.restore(before)).toBe(SAMPLE);
    expect(after.sanitize(SAMPLE).text).toBe(before);
  });
});

describe('pseudonymize: collision-free', () => {
  const first = (s: DomainSanitizer, original: string): string => pseudonyms(s, original)[original] ?? '';

  it('does not hand out a pseudonym that appears in the text being sanitized', () => {
    const taken = first(pseudonymizer(), 'pro-dev');
    const text = `${taken} is a word here, and pro-dev an instance`;
    const s = pseudonymizer();
    const out = s.sanitize(text);
    expect(pseudonyms(s, 'pro-dev')['pro-dev']).not.toBe(taken);
    expect(s.restore(out.text)).toBe(text);
  });

  it("does not hand out another value's pseudonym, nor a known original", () => {
    const taken = first(pseudonymizer(), 'gpu-server');
    const mapping = new MemoryMappingStore([['something-else', taken]]);
    const s = pseudonymizer({ mapping });
    expect(first(s, 'gpu-server')).not.toBe(taken);
    const mapping2 = new MemoryMappingStore([[taken, 'zzz-zzz']]);
    expect(first(pseudonymizer({ mapping: mapping2 }), 'gpu-server')).not.toBe(taken);
  });

  it('gives a /24 whose pseudonymous prefix is taken another /24', () => {
    const taken = first(pseudonymizer(), '10.110.0.0/24');
    const s = pseudonymizer({ mapping: new MemoryMappingStore([['10.99.99.0/24', taken]]) });
    const net = first(s, '10.110.0.0/24');
    expect(net).not.toBe(taken);
    expect(net).toMatch(/^198\.1[89]\.\d+\.0\/24$/);
    expect(first(s, '10.110.0.10').startsWith(net.replace(/0\/24$/, ''))).toBe(true);
  });
});
