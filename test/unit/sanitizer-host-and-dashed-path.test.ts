import { describe, expect, it } from 'vitest';
import { createSanitizer, MemoryMappingStore, type DomainSanitizer, type IdentifierDictionary } from '../../src/sanitizer/index.js';
import { exampleDictionary, found, sanitizer, SECRET } from './sanitizer-helpers.js';

// Issue 18's engine leaks, seen with Claude Code through the gateway: a host
// name whose first label is a declared instance kept its domain name in clear,
// and a declared name inside Claude Code's project folder name (its working
// directory with `/` turned into `-`) was not found at all.

function pseudonymizer(dictionary: IdentifierDictionary = exampleDictionary()): DomainSanitizer {
  return createSanitizer({ domain: 'pro', mode: 'pseudonymize', dictionary, secret: SECRET, mapping: new MemoryMappingStore() });
}

/** The pseudonym `s` gives `value` standing alone. */
function alone(s: DomainSanitizer, value: string): string {
  return s.sanitize(value).text;
}

describe('a host name whose first label is a declared instance', () => {
  it('is replaced whole: neither the instance nor its domain name leaves', () => {
    const s = pseudonymizer();
    const text = 'ssh admin@pro-dev.acme.corp, then curl https://pro-dev.example.com/health';
    const out = s.sanitize(text).text;
    for (const leak of ['pro-dev', 'acme', 'example']) expect(out).not.toContain(leak);
    expect(s.restore(out)).toBe(text);
  });

  it('keeps the instance’s own pseudonym as its first label, and one pseudonym for the domain name', () => {
    const s = pseudonymizer();
    const out = s.sanitize('pro-dev.acme.corp client-gw.acme.corp').text.split(' ');
    const instance = alone(s, 'pro-dev');
    const domain = alone(s, 'acme.corp');
    expect(out[0]).toBe(`${instance}.${domain}`);
    expect(out[1]).toBe(`${alone(s, 'client-gw')}.${domain}`);
    expect(domain).toMatch(/\.corp$/);
  });

  it('does the same for an undeclared machine of a declared domain (`perso-m1.acme.corp`)', () => {
    const s = pseudonymizer();
    const out = s.sanitize('perso-m1.acme.corp is down').text;
    expect(out).not.toContain('acme');
    expect(out).not.toContain('perso-m1');
    expect(out.split(' ')[0]).toBe(`${alone(s, 'perso-m1')}.${alone(s, 'acme.corp')}`);
    expect(s.restore(out)).toBe('perso-m1.acme.corp is down');
  });

  it('masks the whole host name in mask mode', () => {
    expect(found('ping pro-dev.acme.corp')).toEqual(['infra.instance-fqdn pro-dev.acme.corp']);
    expect(sanitizer().sanitize('ping pro-dev.acme.corp').text).not.toMatch(/acme|pro-dev/);
  });

  it('leaves a file name, a sentence’s full stop and a single suffix as they were', () => {
    const s = pseudonymizer();
    const instance = alone(s, 'pro-dev');
    expect(s.sanitize('see pro-dev.nginx.conf').text).toBe(`see ${instance}.nginx.conf`);
    expect(s.sanitize('restart pro-dev. Then').text).toBe(`restart ${instance}. Then`);
    expect(s.sanitize('pro-dev.internal').text).toBe(`${instance}.internal`);
    expect(s.sanitize('pro-dev.log.1').text).toBe(`${instance}.log.1`);
  });
});

describe('declared names in a path whose `/` became `-` (Claude Code’s project folder)', () => {
  const memory = (dir: string): string => `Your memory is in /root/.claude/projects/${dir}/memory/MEMORY.md.`;

  it('finds a declared instance glued after `-`, before `/` or `-`, with its usual pseudonym, and restores it', () => {
    const s = pseudonymizer();
    const instance = alone(s, 'pro-dev');
    for (const [dir, expected] of [
      ['-srv-work-pro-dev', `-srv-work-${instance}`],
      ['-srv-work-pro-dev-api', `-srv-work-${instance}-api`],
      ['-home-me-client-gw-pro-dev', `-home-me-${alone(s, 'client-gw')}-${instance}`],
    ] as const) {
      const out = s.sanitize(memory(dir)).text;
      expect(out).toBe(memory(expected));
      expect(s.restore(out)).toBe(memory(dir));
    }
  });

  it('takes the longest declared name and never a part of a word', () => {
    const s = pseudonymizer({ ...exampleDictionary(), instances: [...exampleDictionary().instances, 'pro-dev-api'] });
    expect(s.sanitize(memory('-srv-pro-dev-api')).text).toBe(memory(`-srv-${alone(s, 'pro-dev-api')}`));
    const plain = pseudonymizer();
    for (const dir of ['-srv-work-pro-devx', '-srv-xpro-dev', '-srv-work-prose']) expect(plain.sanitize(memory(dir)).text).toBe(memory(dir));
  });

  it('leaves declared names that are ordinary words alone there, as in any path', () => {
    // `pro` (a domain) and `web` (a machine) are words: `/srv/pro/web` keeps them, so does `-srv-pro-web`.
    const dictionary: IdentifierDictionary = { ...exampleDictionary(), instances: [...exampleDictionary().instances, 'web'] };
    const s = pseudonymizer(dictionary);
    expect(s.sanitize(memory('-srv-pro-web')).text).toBe(memory('-srv-pro-web'));
    expect(s.sanitize('/srv/pro/web').text).toBe('/srv/pro/web');
    // …while a hyphenated instance of the ordinary-word domain is a name wherever it is.
    expect(s.sanitize(memory('-srv-pro-dev')).text).not.toContain('pro-dev');
  });

  it('restores the path in a streamed answer split anywhere', () => {
    const s = pseudonymizer();
    const text = memory('-srv-work-pro-dev');
    const sent = s.sanitize(text).text;
    for (let cut = 0; cut <= sent.length; cut++) {
      const r = s.streamRestorer();
      expect(r.push(sent.slice(0, cut)) + r.push(sent.slice(cut)) + r.flush()).toBe(text);
    }
  });
});
