import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { nftScript, tableLines as markedLines } from '../../src/firewall/nft-text.js';
import { FirewallRenderError, renderFirewall, safeComment } from '../../src/firewall/render.js';
import type { DesiredInfra } from '../../src/schemas/model.js';
import type { Ruleset } from '../../src/firewall/ruleset.js';

/** The table's lines without the grant marks (their own tests are below): what the rules match and do. */
const tableLines = (r: Ruleset): string[] => markedLines(r).map((l) => l.replace(/ ct mark set \d+/, ''));

const GOLDEN = new URL('../fixtures/firewall/', import.meta.url);

/** Every kind of endpoint and port list, host both ways, a disabled domain, exclusive AI access. */
const INFRA = `
project_name: fwtest
global:
  addressing: { zone_base: 100 }
  ai_access_policy: exclusive
  ai_access_default: pro
domains:
  pro:
    trust_level: trusted
    machines:
      pro-dev: { ip: 10.110.1.10 }
      pro-web: {}
  perso:
    trust_level: trusted
    machines:
      perso-desk: {}
  ai-tools:
    trust_level: semi-trusted
    machines:
      ai-gpu: { ip: 10.120.0.10 }
  lab:
    trust_level: untrusted
    machines:
      lab-box: {}
  old:
    trust_level: untrusted
    enabled: false
    machines:
      old-box: {}
network_policies:
  - description: web from perso
    from: perso
    to: pro-web
    ports: [443, 80]
  - description: 'dev and lab talk, "both" ways; flush ruleset'
    from: pro-dev
    to: lab
    ports: all
    bidirectional: true
  - description: Ollama for the holder
    from: pro
    to: ai-tools
    ports: [11434]
  - description: syslog to the host
    from: lab
    to: host
    ports: [514]
    protocol: udp
  - description: ssh from the host, answers allowed
    from: host
    to: pro-dev
    ports: [22]
    bidirectional: true
  - description: to a disabled domain
    from: pro
    to: old
    ports: all
`;

function model(text = INFRA): DesiredInfra {
  const r = validateInfraText(text, { file: 'infra.yml', hostNetworks: [] });
  if (!r.ok) throw new Error(JSON.stringify(r.issues, null, 2));
  return r.model;
}

/** Compare with the golden file; UPDATE_GOLDEN=1 rewrites it (then review the diff). */
function golden(name: string, actual: string): void {
  const url = new URL(name, GOLDEN);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(url, actual);
  expect(actual).toBe(readFileSync(url, 'utf8'));
}

describe('renderFirewall', () => {
  it('renders the whole model to the golden script', () => {
    golden('fwtest.nft', nftScript(renderFirewall(model())));
  });

  it('renders the example infra to the golden script', () => {
    golden('example.nft', nftScript(renderFirewall(model(readFileSync(new URL('../../infra.example.yml', import.meta.url), 'utf8')))));
  });

  it('replaces the whole table in one transaction and names no other table', () => {
    const script = nftScript(renderFirewall(model()));
    expect(script.split('\n').slice(0, 3)).toEqual(['table inet anklume', 'delete table inet anklume', 'table inet anklume {']);
    const tables = [...script.matchAll(/\btable\s+(\S+)\s+(\S+)/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(new Set(tables)).toEqual(new Set(['inet anklume']));
    // Outside comments (a description may say anything), no statement but the table's own.
    expect(script.replace(/comment "[^"]*"/g, '')).not.toMatch(/flush|\bjump\b|\bgoto\b/);
  });

  it('accepts traffic inside every enabled domain and drops everything else between bridges, last', () => {
    const forward = renderFirewall(model()).chains.find((c) => c.name === 'forward');
    const lines = forward?.rules.map((r) => tableLines({ sets: [], chains: [{ ...forward, rules: [r] }] })[2]?.trim()) ?? [];
    for (const d of ['pro', 'perso', 'ai-tools', 'lab']) expect(lines).toContain(`iifname "net-${d}" oifname "net-${d}" accept comment "inside domain ${d}"`);
    expect(lines.some((l) => l?.includes('net-old') === true)).toBe(false);
    const between = lines.indexOf('iifname "net-*" oifname "net-*" drop comment "between domains: only what network_policies declare"');
    expect(between).toBeGreaterThan(0);
    expect(lines[between + 1]).toBe('oifname "net-*" drop comment "into a domain from outside anklume"');
    // Then only egress, closed by a drop of everything else that leaves a domain.
    expect(lines.slice(between + 2).every((l) => l?.includes('egress') === true || l?.includes('out of a domain') === true)).toBe(true);
    expect(lines.at(-1)).toBe('iifname "net-*" drop comment "out of a domain: only what egress and policies declare"');
    expect(lines[0]).toBe('iifname != "net-*" oifname != "net-*" accept comment "not anklume traffic: left alone"');
  });

  it('never renders a subset: every enabled domain keeps its rules whatever the order of domains', () => {
    const m = model();
    const reversed: DesiredInfra = { ...m, domains: [...m.domains].reverse() };
    const text = (x: DesiredInfra): string[] => tableLines(renderFirewall(x)).sort();
    expect(text(reversed)).toEqual(text(m));
  });

  it('puts the exclusive AI access holder in a named set, so a switch changes one element', () => {
    const m = model();
    expect(renderFirewall(m).sets).toEqual([{ name: 'ai_access', type: 'ifname', elements: ['net-pro'] }, expect.objectContaining({ name: 'grants', type: 'mark' })]);
    expect(renderFirewall(m, { aiAccessHolder: 'perso' }).sets[0]?.elements).toEqual(['net-perso']);
    expect(renderFirewall(m, { aiAccessHolder: null }).sets[0]?.elements).toEqual([]);
    const withoutSet = (x: ReturnType<typeof renderFirewall>): unknown => x.chains;
    expect(withoutSet(renderFirewall(m, { aiAccessHolder: 'perso' }))).toEqual(withoutSet(renderFirewall(m)));
  });

  it('opens both ways between the holder and ai-tools when no policy targets ai-tools (spec/002)', () => {
    const text = tableLines(renderFirewall(model(INFRA.replace('  - description: Ollama for the holder\n    from: pro\n    to: ai-tools\n    ports: [11434]\n', ''))));
    expect(text).toContain('\tiifname @ai_access oifname "net-ai-tools" accept comment "exclusive AI access (default: holder and ai-tools, both ways)"');
    expect(text).toContain('\tiifname "net-ai-tools" oifname @ai_access accept comment "exclusive AI access (default: holder and ai-tools, both ways)"');
  });

  it('renders policies literally with open AI access', () => {
    const text = tableLines(renderFirewall(model(INFRA.replace('ai_access_policy: exclusive\n  ai_access_default: pro', 'ai_access_policy: open'))));
    expect(text.some((l) => l.includes('@ai_access'))).toBe(false);
    expect(text).toContain('\tiifname "net-pro" oifname "net-ai-tools" tcp dport 11434 accept comment "policy 2: Ollama for the holder"');
  });
});

describe('openings that follow ai_provider', () => {
  const EX = readFileSync(new URL('../../infra.example.yml', import.meta.url), 'utf8');
  const forwardOf = (text: string): string[] => tableLines(renderFirewall(model(text))).map((l) => l.trim());

  it('lets cloud and local-first domains reach the sanitizer port only, and no other domain', () => {
    const lines = forwardOf(EX);
    expect(lines).toContain('iifname "net-pro" oifname "net-anklume" ip daddr 10.100.0.20 tcp dport 8089 accept comment "ai_provider local-first: pro reaches the sanitizer"');
    expect(lines).toContain('iifname "net-client" oifname "net-anklume" ip daddr 10.100.0.20 tcp dport 8089 accept comment "ai_provider cloud, ai_sanitize always: client reaches the sanitizer"');
    // local (perso) and disposable (sandbox) domains get nothing of the admin domain.
    expect(lines.filter((l) => l.includes('oifname "net-anklume"') && (l.includes('net-perso') || l.includes('net-sandbox')))).toEqual([]);
  });

  it('lets the sanitizer reach Ollama, and exempts it from the exclusive guards', () => {
    const lines = forwardOf(EX);
    expect(lines).toContain('iifname "net-anklume" ip saddr 10.100.0.20 oifname "net-ai-tools" ip daddr 10.120.0.10 tcp dport 11434 accept comment "the sanitizer reaches Ollama"');
    expect(lines.filter((l) => l.startsWith('iifname "net-*" iifname != "net-ai-tools" iifname != @ai_access ip saddr != 10.100.0.20'))).toHaveLength(1);
  });

  it('with open access, local and local-first domains reach Ollama; with exclusive access only the holder does', () => {
    const open = forwardOf(EX.replace('ai_access_policy: exclusive', 'ai_access_policy: open').replace('\n  ai_access_default: pro', ''));
    expect(open).toContain('iifname "net-perso" oifname "net-ai-tools" ip daddr 10.120.0.10 tcp dport 11434 accept comment "ai_provider local: perso reaches Ollama"');
    expect(open).toContain('iifname "net-pro" oifname "net-ai-tools" ip daddr 10.120.0.10 tcp dport 11434 accept comment "ai_provider local-first: pro reaches Ollama"');
    expect(open.some((l) => l.includes('net-client" oifname "net-ai-tools') && l.includes('accept'))).toBe(false);
    expect(forwardOf(EX).some((l) => l.includes('reaches Ollama') && !l.includes('sanitizer'))).toBe(false);
  });

  it('with ai_sanitize: always, a local domain reaches the sanitizer and never Ollama, even holding exclusive access', () => {
    const text = EX.replace('    ai_provider: local                     # nothing leaves the machine', '    ai_provider: local\n    ai_sanitize: always').replace('ai_access_default: pro', 'ai_access_default: perso');
    const lines = forwardOf(text);
    expect(lines).toContain('iifname "net-perso" oifname "net-anklume" ip daddr 10.100.0.20 tcp dport 8089 accept comment "ai_provider local, ai_sanitize always: perso reaches the sanitizer"');
    const guard = lines.indexOf('iifname "net-perso" oifname "net-ai-tools" ip daddr 10.120.0.10 tcp dport 11434 drop comment "ai_sanitize always: perso reaches Ollama only through the sanitizer"');
    // Before the holder's policy and before established traffic: turning always on cuts a direct connection.
    expect(guard).toBeGreaterThan(0);
    expect(guard).toBeLessThan(lines.findIndex((l) => l.startsWith('ct state established,related')));
    expect(guard).toBeLessThan(lines.findIndex((l) => l.startsWith('iifname @ai_access oifname "net-ai-tools"')));
    const open = forwardOf(text.replace('ai_access_policy: exclusive', 'ai_access_policy: open').replace('\n  ai_access_default: perso', ''));
    expect(open.some((l) => l.includes('perso reaches Ollama') && l.includes('accept'))).toBe(false);
  });

  it('keeps the sanitizer\'s own way to Ollama when its domain sanitizes always', () => {
    const text = EX.replace('    trust_level: admin                     # → 10.100.0.0/24', '    trust_level: admin\n    ai_sanitize: always');
    expect(forwardOf(text)).toContain('iifname "net-anklume" ip saddr != 10.100.0.20 oifname "net-ai-tools" ip daddr 10.120.0.10 tcp dport 11434 drop comment "ai_sanitize always: anklume reaches Ollama only through the sanitizer"');
  });
});

describe('safeComment', () => {
  it('leaves no way out of the quoted comment', () => {
    const hostile = 'x" accept; flush ruleset; add rule inet anklume forward accept comment "\\\n\u0000é';
    const safe = safeComment(hostile);
    for (const c of ['"', '\\', '\n', '\u0000']) expect(safe).not.toContain(c);
    expect(safe).toMatch(/^[A-Za-z0-9 _.,:;()/+=@%-]*$/);
    expect(safeComment('a'.repeat(500)).length).toBeLessThanOrEqual(120);
  });

  it('escapes what the policy description says in the rendered rule', () => {
    const script = nftScript(renderFirewall(model()));
    expect(script).toContain('comment "policy 1: dev and lab talk, both ways; flush ruleset"');
    // Each line holds at most one quoted comment, and it closes on the same line.
    for (const line of script.split('\n')) expect((line.match(/"/g) ?? []).length % 2).toBe(0);
  });
});

describe('names are checked before they reach nft', () => {
  const m = model();
  it('refuses a bridge that is not an interface name', () => {
    const bad: DesiredInfra = { ...m, domains: m.domains.map((d, i) => (i === 0 ? { ...d, name: 'pro"; flush' } : d)) };
    expect(() => renderFirewall(bad)).toThrow(FirewallRenderError);
  });

  it('refuses an address that is not IPv4', () => {
    const bad: DesiredInfra = { ...m, policies: m.policies.map((p) => (p.to.kind === 'machine' ? { ...p, to: { ...p.to, ip: '10.0.0.1; drop' } } : p)) };
    expect(() => renderFirewall(bad)).toThrow(/not an IPv4 address/);
  });
});

describe('grants: a removed grant cuts what it carried', () => {
  const grantRules = (r: Ruleset) => r.chains.flatMap((c) => c.rules).filter((x) => x.mark !== undefined);
  const grantsSet = (r: Ruleset) => r.sets.find((x) => x.name === 'grants')?.elements ?? [];

  it('marks every policy and AI opening with a non-zero mark of its own, listed in the grants set', () => {
    const r = renderFirewall(model());
    const rules = grantRules(r);
    expect(rules.length).toBeGreaterThan(3);
    expect(rules.every((x) => x.verdict === 'accept' && (x.mark ?? 0) > 0 && (x.mark ?? 0) <= 0x7fffffff)).toBe(true);
    expect(new Set(rules.map((x) => x.mark)).size).toBe(rules.length);
    expect([...grantsSet(r)].sort()).toEqual(rules.map((x) => String(x.mark)).sort());
  });

  it('keeps a grant\'s mark when other text changes, and drops it from the set when the grant goes', () => {
    const before = renderFirewall(model());
    const renamed = renderFirewall(model(INFRA.replace('web from perso', 'the web, for perso')));
    expect(grantsSet(renamed)).toEqual(grantsSet(before));
    const without = renderFirewall(model(INFRA.replace(/ {2}- description: web from perso\n( {4}.*\n)*?(?= {2}- )/, '')));
    const gone = grantsSet(before).filter((m) => !grantsSet(without).includes(m));
    expect(gone).toHaveLength(1);
    expect(grantRules(before).find((x) => String(x.mark) === gone[0])?.comment).toContain('web from perso');
  });

  it('accepts established traffic only through a grant in force or through none, and drops the rest', () => {
    const forward = markedLines(renderFirewall(model())).map((l) => l.trim());
    const at = (line: string): number => forward.indexOf(line);
    expect(at('ct state established,related ct mark @grants accept')).toBeGreaterThan(0);
    expect(at('ct state established,related ct mark 0 accept')).toBe(at('ct state established,related ct mark @grants accept') + 1);
    expect(at('ct state established,related drop comment "opened through a grant since removed"')).toBe(at('ct state established,related ct mark 0 accept') + 1);
    expect(forward.some((l) => /^ct state established,related accept/.test(l))).toBe(false);
  });
});

describe('egress by trust level', () => {
  const forwardLines = (text: string): string[] => tableLines(renderFirewall(model(text))).map((l) => l.trim());
  const egress = (lines: string[]) => lines.filter((l) => l.includes('egress') || l.includes('out of a domain'));

  it('lets trusted, semi-trusted and untrusted domains reach public addresses only, and disposable ones nothing', () => {
    const withSandbox = INFRA.replace('network_policies:', '  sandbox:\n    trust_level: disposable\nnetwork_policies:');
    const lines = egress(forwardLines(withSandbox));
    const at = (l: string): number => lines.indexOf(l);
    const privateDrop = at('iifname "net-*" oifname != "net-*" ip daddr 192.168.0.0/16 drop comment "egress internet: not to private ranges"');
    expect(privateDrop).toBeGreaterThanOrEqual(0);
    for (const d of ['pro', 'perso', 'ai-tools', 'lab']) expect(at(`iifname "net-${d}" oifname != "net-*" accept comment "egress internet: ${d}"`)).toBeGreaterThan(privateDrop);
    expect(lines.some((l) => l.includes('net-sandbox'))).toBe(false);
    expect(lines.at(-1)).toBe('iifname "net-*" drop comment "out of a domain: only what egress and policies declare"');
  });

  it('lets an admin domain (or egress: lan) reach private ranges too, and egress: none nothing at all', () => {
    const text = INFRA.replace('  pro:\n    trust_level: trusted', '  pro:\n    trust_level: trusted\n    egress: lan').replace('  perso:\n    trust_level: trusted', '  perso:\n    trust_level: trusted\n    egress: none');
    const lines = egress(forwardLines(text));
    const lan = lines.indexOf('iifname "net-pro" oifname != "net-*" accept comment "egress lan: pro"');
    expect(lan).toBeGreaterThanOrEqual(0);
    expect(lan).toBeLessThan(lines.findIndex((l) => l.includes('not to private ranges')));
    expect(lines.some((l) => l.includes('net-perso'))).toBe(false);
  });

  it('makes egress a grant: narrowing it cuts what it had open', () => {
    const r = renderFirewall(model());
    const accepts = r.chains.flatMap((c) => c.rules).filter((x) => x.comment?.startsWith('egress internet: ') === true && x.verdict === 'accept');
    expect(accepts.length).toBe(4);
    expect(accepts.every((x) => r.sets.find((s) => s.name === 'grants')?.elements.includes(String(x.mark)) === true)).toBe(true);
  });
});

describe('policies to an address or CIDR outside anklume', () => {
  const lines = (policies: string): string[] => tableLines(renderFirewall(model(INFRA.replace('network_policies:', `network_policies:\n${policies}`)))).map((l) => l.trim());
  const LAN = '  - { description: printer, from: lab-box, to: 192.168.7.0/24, ports: [631] }\n  - { from: perso, to: 10.0.0.0/8, ports: all }\n';

  it('opens only the declared ports, out of the uplink and never into a bridge, before the egress drops', () => {
    const all = lines(LAN);
    const printer = all.findIndex((l) => l.includes('"policy 0: printer"'));
    expect(all[printer]).toMatch(/^iifname "net-lab" ip saddr 10\.140\.0\.\d+ oifname != "net-\*" ip daddr 192\.168\.7\.0\/24 tcp dport 631 accept/);
    const vpn = all.findIndex((l) => l.includes('ip daddr 10.0.0.0/8') && l.includes('accept'));
    expect(all[vpn]).toMatch(/^iifname "net-perso" oifname != "net-\*" ip daddr 10\.0\.0\.0\/8 accept comment "policy 1"$/);
    const firstEgressDrop = all.findIndex((l) => l.includes('egress internet: not to private ranges'));
    expect(printer).toBeLessThan(firstEgressDrop);
    expect(vpn).toBeLessThan(firstEgressDrop);
    // No reverse rule: nothing comes in from there.
    expect(all.filter((l) => l.includes('192.168.7.0/24'))).toHaveLength(1);
  });

  it('makes it a grant like any policy, so removing it cuts what it carried', () => {
    const r = renderFirewall(model(INFRA.replace('network_policies:', `network_policies:\n${LAN}`)));
    const rule = r.chains.flatMap((c) => c.rules).find((x) => x.comment === 'policy 0: printer');
    expect(rule?.mark).toBeGreaterThan(0);
    expect(r.sets.find((s) => s.name === 'grants')?.elements).toContain(String(rule?.mark));
  });

  it('renders nothing for a policy from a disabled domain to an address', () => {
    expect(lines('  - { from: old-box, to: 192.168.7.0/24, ports: [631] }\n').some((l) => l.includes('192.168.7.0/24'))).toBe(false);
  });
});

