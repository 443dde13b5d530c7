import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { captureSeconds } from '../../src/cli/inspect.js';
import { escalationRefusal, modelInput, parseHttpResponse } from '../../src/inspect/ask-model.js';
import { validateInfraText } from '../../src/config/validate.js';
import { buildInventory, changesSince, findingsOf, type Inventory } from '../../src/inspect/inventory.js';
import { parseNeighbours } from '../../src/inspect/neighbours.js';
import { parseNmapXml } from '../../src/inspect/nmap.js';
import { mermaidTopology } from '../../src/inspect/topology.js';
import { parseTcpdump } from '../../src/inspect/traffic.js';
import type { DesiredInfra } from '../../src/schemas/model.js';

// Real outputs, captured in a test container on a domain 10.231.1.0/24 with
// three machines (xin-a .10, xin-b .11 with nc on 8080, xin-c .12 with nc on
// 5432) and a container started by hand (xin-rogue, DHCP .195); the scan and
// capture ran from xin-a.
const fixture = (name: string): string => readFileSync(new URL(`../fixtures/inspect/${name}`, import.meta.url), 'utf8');

function model(policies = ''): DesiredInfra {
  const result = validateInfraText(
    `
project_name: t
global: { base_subnet: "10.231", default_os_image: debian/13 }
domains:
  xin:
    subnet_id: 1
    trust_level: trusted
    machines:
      xin-a: { ip: 10.231.1.10 }
      xin-b: { ip: 10.231.1.11 }
      xin-c: { ip: 10.231.1.12 }
  other:
    subnet_id: 2
    trust_level: trusted
${policies}`,
    { file: 'infra.yml' },
  );
  if (!result.ok) throw new Error(result.issues.map((i) => i.message).join('\n'));
  return result.model;
}

const instances = [
  { name: 'xin-a', status: 'Running', address: '10.231.1.10' },
  { name: 'xin-b', status: 'Running', address: '10.231.1.11' },
  { name: 'xin-c', status: 'Running', address: '10.231.1.12' },
  { name: 'xin-rogue', status: 'Running', address: '10.231.1.195' },
];

function inventoryOf(m: DesiredInfra, overrides: { scan?: string | null; tcpdump?: string | null } = {}): Inventory {
  const domain = m.domains.find((d) => d.name === 'xin');
  if (domain === undefined) throw new Error('no xin');
  const scan = overrides.scan === undefined ? fixture('nmap.xml') : overrides.scan;
  const tcpdump = overrides.tcpdump === undefined ? fixture('tcpdump.txt') : overrides.tcpdump;
  return buildInventory({ model: m, domain, probe: 'xin-a', probeIsTemporary: false, instances, scan: scan === null ? null : parseNmapXml(scan), neighbours: parseNeighbours(fixture('neigh.json')), flows: tcpdump === null ? null : parseTcpdump(tcpdump).flows, takenAt: '2026-12-05T04:46:00.000Z' });
}

describe('level 1 parsers, on real tool output', () => {
  it('nmap -oX: every host up, its MAC and reverse name, open ports with service and version', () => {
    const hosts = parseNmapXml(fixture('nmap.xml'));
    expect(hosts.map((h) => h.address)).toEqual(['10.231.1.11', '10.231.1.12', '10.231.1.195', '10.231.1.254', '10.231.1.10']);
    expect(hosts[0]).toEqual({ address: '10.231.1.11', mac: '10:66:6a:d6:4d:d2', hostname: 'xin-b.incus', ports: [{ protocol: 'tcp', port: 8080, state: 'open', service: 'http-proxy' }] });
    expect(hosts[3]?.ports).toEqual([{ protocol: 'tcp', port: 53, state: 'open', service: 'domain', product: 'dnsmasq', version: '2.90' }]);
    // The scanning machine itself has no MAC in nmap's view.
    expect(hosts[4]).toEqual({ address: '10.231.1.10', hostname: 'xin-a.incus', ports: [] });
  });

  it('refuses what is not an nmap report', () => {
    expect(() => parseNmapXml('Starting Nmap 7.95\nFailed to resolve')).toThrow(/not an nmap XML report/);
  });

  it('tcpdump -e -q: flows keyed client → service, packets and bytes; other lines counted apart', () => {
    const { flows, otherLines } = parseTcpdump(fixture('tcpdump.txt'));
    const toB = flows.find((f) => f.to === '10.231.1.11' && f.port === 8080);
    expect(toB).toMatchObject({ from: '10.231.1.10', protocol: 'tcp' });
    expect(toB?.packets).toBeGreaterThanOrEqual(6);
    expect(toB?.bytes).toBeGreaterThan(toB?.packets ?? 0);
    expect(otherLines).toBeGreaterThan(0);
  });

  it('ip -j neigh: address, MAC, state', () => {
    expect(parseNeighbours(fixture('neigh.json'))).toContainEqual({ address: '10.231.1.195', mac: '10:66:6a:55:2c:d0', state: 'STALE' });
    expect(() => parseNeighbours('{"not":"a list"}')).toThrow(/JSON array/);
  });
});

describe('level 2 by code', () => {
  it('names every address and finds what infra.yml does not explain', () => {
    const m = model();
    const inv = inventoryOf(m);
    expect(inv.hosts.map((h) => [h.address, h.name, h.kind])).toEqual([
      ['10.231.1.10', 'xin-a', 'declared'],
      ['10.231.1.11', 'xin-b', 'declared'],
      ['10.231.1.12', 'xin-c', 'declared'],
      ['10.231.1.195', 'xin-rogue', 'instance'],
      ['10.231.1.254', 'host', 'gateway'],
    ]);
    const findings = findingsOf(m, m.domains[0]!, inv).map((f) => `${f.severity} ${f.rule} ${f.subject}`);
    expect(findings).toEqual(['suspect undeclared-instance xin-rogue', 'suspect undeclared-port xin-b:8080', 'suspect undeclared-port xin-c:5432']);
  });

  it('a port a policy opens is explained; an address nobody holds is critical', () => {
    const m = model(`network_policies:\n  - { from: host, to: xin-c, ports: [5432] }\n  - { from: other, to: xin, ports: [8080] }\n`);
    const withStranger = fixture('nmap.xml').replaceAll('10.231.1.195', '10.231.1.77').replaceAll('xin-rogue', 'stranger');
    const findings = findingsOf(m, m.domains[0]!, inventoryOf(m, { scan: withStranger })).map((f) => `${f.severity} ${f.rule} ${f.subject}`);
    // xin-rogue is still in the probe's neighbour table (as real tables keep a stale entry).
    expect(findings).toEqual(['critical unknown-host 10.231.1.77', 'suspect undeclared-instance xin-rogue']);
  });

  it('traffic reaching another domain\'s range is critical', () => {
    const m = model();
    const line = '1796445945.807243 10:66:6a:c4:4b:0f > 10:66:6a:a9:fa:d6, IPv4, length 74: 10.231.1.10.40000 > 10.231.2.5.22: tcp 0\n';
    const findings = findingsOf(m, m.domains[0]!, inventoryOf(m, { tcpdump: line }));
    expect(findings[0]).toMatchObject({ severity: 'critical', rule: 'cross-domain-traffic', subject: '10.231.1.10->10.231.2.5' });
    expect(findings[0]?.message).toMatch(/reaches domain other's range/);
  });

  it('changes since the baseline: none for the same inventory; new host, new and closed ports, changed service otherwise', () => {
    const m = model();
    const base = inventoryOf(m);
    expect(changesSince(base, inventoryOf(m))).toEqual([]);
    const changed = fixture('nmap.xml')
      .replace('portid="8080"', 'portid="8081"')
      .replace('<service name="domain" product="dnsmasq" version="2.90"', '<service name="domain" product="dnsmasq" version="2.91"')
      .replaceAll('10.231.1.12', '10.231.1.13');
    const changes = changesSince(base, inventoryOf(m, { scan: changed })).map((f) => `${f.rule} ${f.subject}`);
    // xin-c no longer answers at .12 (the neighbour table still has it, so it stays listed, without ports); .13 is new.
    expect(changes).toEqual(['new-host 10.231.1.13', 'new-port xin-b:8081', 'changed-service host:53', 'closed-port xin-b:8080', 'closed-port xin-c:5432']);
  });

  it('without a scan, ports are unknown rather than closed: no port change is reported', () => {
    const m = model();
    expect(changesSince(inventoryOf(m), inventoryOf(m, { scan: null })).filter((f) => f.rule.includes('port'))).toEqual([]);
  });

  it('draws who talks to whom as Mermaid, undeclared hosts as hexagons', () => {
    const text = mermaidTopology(inventoryOf(model()));
    expect(text).toMatch(/^flowchart LR\n/);
    expect(text).toMatch(/a10_231_1_195\{\{"xin-rogue<br\/>10\.231\.1\.195"\}\}/);
    expect(text).toMatch(/a10_231_1_10 -->\|"tcp\/8080 · \d+ pkts · \d+ B"\| a10_231_1_11/);
  });
});

describe('flags', () => {
  it.each([['30s', 30], ['2m', 120], ['45', 45]])('--capture %s is %i seconds', (text, seconds) => {
    expect(captureSeconds(text)).toBe(seconds);
  });
  it.each(['0s', '6m', '1h', 'soon', '-5s', '500ms'])('--capture %s is refused', (text) => {
    expect(() => captureSeconds(text)).toThrow(/--capture must be a duration from 1s to 5m/);
  });
});

describe('levels 2 and 3: what is sent to a model', () => {
  it('replaces the names of instances infra.yml does not declare by labels, and puts them back in the answer', () => {
    const m = model();
    const inv = inventoryOf(m);
    const findings = findingsOf(m, m.domains[0]!, inv);
    const { input, restore } = modelInput(inv, findings, []);
    const sent = JSON.stringify(input);
    expect(sent).not.toContain('xin-rogue');
    expect(input.hosts.find((h) => h.address === '10.231.1.195')?.name).toBe('undeclared-1');
    expect(input.findings.map((f) => f.message).join(' ')).toContain('instance undeclared-1 (10.231.1.195)');
    expect(restore('look at undeclared-1 first')).toBe('look at xin-rogue first');
    // Declared names stay: the gateway knows them and pseudonymizes them itself.
    expect(sent).toContain('xin-b');
  });

  it('refuses to escalate a local or disposable domain, an unknown task type, or without a gateway — before anything runs', () => {
    const m = model();
    const xin = m.domains[0]!;
    expect(escalationRefusal(xin, 'forensics', m)).toMatch(/ai_provider: local: nothing of it leaves for a cloud model, so --escalate is refused and nothing was sent/);
    const cloud = { ...xin, aiProvider: 'local-first' as const };
    expect(escalationRefusal(cloud, 'gossip', m)).toMatch(/--escalate takes a cloud task type of spec\/000 §4: correlation, forensics, incident-analysis, architecture, report \(got "gossip"\)/);
    expect(escalationRefusal(cloud, 'forensics', m)).toMatch(/no sanitizing gateway in infra.yml/);
    expect(escalationRefusal({ ...cloud, trustLevel: 'disposable' }, 'report', m)).toMatch(/is disposable/);
  });

  it('reads an HTTP answer, chunked or not', () => {
    expect(parseHttpResponse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}')).toEqual({ status: 200, body: '{}' });
    expect(parseHttpResponse('HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n5\r\n"é"}\r\n0\r\n\r\n')).toEqual({ status: 403, body: '{"a":"é"}' });
    expect(parseHttpResponse('')).toEqual({ status: 0, body: '' });
  });
});
