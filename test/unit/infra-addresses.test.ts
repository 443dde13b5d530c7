import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import type { DesiredInfra } from '../../src/schemas/model.js';

function model(text: string): DesiredInfra {
  const result = validateInfraText(text, { file: 'infra.yml' });
  if (!result.ok) throw new Error(JSON.stringify(result.issues, null, 1));
  return result.model;
}

/** domain → [subnet, gateway, dhcp range, machine=ip ...] */
function table(m: DesiredInfra): Record<string, string[]> {
  return Object.fromEntries(
    m.domains.map((d) => [
      d.name,
      [d.network.subnet, d.network.gateway, `${d.network.dhcpRange.first}-${d.network.dhcpRange.last}`, ...d.machines.map((x) => `${x.name}=${x.ip}${x.ipSource === 'auto' ? ' (auto)' : ''}`)],
    ]),
  );
}

describe('computed addresses', () => {
  it('trust zones: 10.<zone_base + offset>.<seq>.0/24, seq by subnet_id then by name, hosts in declaration order', () => {
    const m = model(`
domains:
  anklume: { trust_level: admin, machines: { anklume-instance: {} } }
  pro:
    trust_level: trusted
    machines:
      pro-a: {}
      pro-b: { ip: 10.110.2.2 }
      pro-c: {}
  perso: { trust_level: trusted, subnet_id: 0, machines: { perso-desktop: {} } }
  lab: { trust_level: trusted, machines: { lab-1: {} } }
  ai-tools: { machines: { gpu-server: { ip: 10.120.0.10 } } }
  tor: { trust_level: untrusted, machines: { tor-proxy: {} } }
  sandbox: { trust_level: disposable, machines: { sandbox-x: {} } }
`);
    expect(m.addressing).toEqual({ mode: 'zones', zoneBase: 100 });
    expect(table(m)).toEqual({
      anklume: ['10.100.0.0/24', '10.100.0.254', '10.100.0.100-10.100.0.249', 'anklume-instance=10.100.0.1 (auto)'],
      // perso pins seq 0; lab and pro follow by name: lab 1, pro 2.
      pro: ['10.110.2.0/24', '10.110.2.254', '10.110.2.100-10.110.2.249', 'pro-a=10.110.2.1 (auto)', 'pro-b=10.110.2.2', 'pro-c=10.110.2.3 (auto)'],
      perso: ['10.110.0.0/24', '10.110.0.254', '10.110.0.100-10.110.0.249', 'perso-desktop=10.110.0.1 (auto)'],
      lab: ['10.110.1.0/24', '10.110.1.254', '10.110.1.100-10.110.1.249', 'lab-1=10.110.1.1 (auto)'],
      'ai-tools': ['10.120.0.0/24', '10.120.0.254', '10.120.0.100-10.120.0.249', 'gpu-server=10.120.0.10'],
      tor: ['10.140.0.0/24', '10.140.0.254', '10.140.0.100-10.140.0.249', 'tor-proxy=10.140.0.1 (auto)'],
      sandbox: ['10.150.0.0/24', '10.150.0.254', '10.150.0.100-10.150.0.249', 'sandbox-x=10.150.0.1 (auto)'],
    });
  });

  it('rejects an explicit address that the name order moved to another subnet', () => {
    // By name, lab is seq 0 and pro seq 1: 10.110.0.1 is lab's, and the rule says so.
    const result = validateInfraText(`
domains:
  pro: { trust_level: trusted, machines: { pro-b: { ip: 10.110.0.1 } } }
  lab: { trust_level: trusted }
`, { file: 'infra.yml' });
    expect(result.ok).toBe(false);
    expect(result.issues.map((i) => i.rule)).toEqual(['ip-in-subnet']);
  });

  it('auto-assigned hosts skip the explicit ones, in declaration order', () => {
    const m = model(`
domains:
  pro:
    trust_level: trusted
    machines:
      pro-a: {}
      pro-b: { ip: 10.110.0.2 }
      pro-c: {}
      pro-d: { ip: 10.110.0.1 }
      pro-e: {}
`);
    expect(table(m).pro?.slice(3)).toEqual(['pro-a=10.110.0.3 (auto)', 'pro-b=10.110.0.2', 'pro-c=10.110.0.4 (auto)', 'pro-d=10.110.0.1', 'pro-e=10.110.0.5 (auto)']);
  });

  it('zone_base moves every zone', () => {
    const m = model(`
global: { addressing: { zone_base: 200 } }
domains:
  a: { trust_level: admin }
  d: { trust_level: disposable }
`);
    expect(m.domains.map((d) => d.network.subnet)).toEqual(['10.200.0.0/24', '10.250.0.0/24']);
  });

  it('legacy: <base_subnet>.<subnet_id>.0/24 whatever the trust level', () => {
    const m = model(`
global: { base_subnet: "10.100" }
domains:
  ai-tools: { subnet_id: 10, machines: { gpu-server: { ip: 10.100.10.10 } } }
  pro: { subnet_id: 2, trust_level: trusted, machines: { pro-dev: { ip: 10.100.2.10 }, pro-web: {} } }
  perso: { subnet_id: 1, trust_level: disposable, machines: { perso-desktop: {} } }
`);
    expect(m.addressing).toEqual({ mode: 'legacy', baseSubnet: '10.100' });
    expect(table(m)).toEqual({
      'ai-tools': ['10.100.10.0/24', '10.100.10.254', '10.100.10.100-10.100.10.249', 'gpu-server=10.100.10.10'],
      pro: ['10.100.2.0/24', '10.100.2.254', '10.100.2.100-10.100.2.249', 'pro-dev=10.100.2.10', 'pro-web=10.100.2.1 (auto)'],
      perso: ['10.100.1.0/24', '10.100.1.254', '10.100.1.100-10.100.1.249', 'perso-desktop=10.100.1.1 (auto)'],
    });
  });
});

describe('resolved defaults', () => {
  const m = model(`
global: { default_os_image: "local:deb13" }
domains:
  loc: { machines: { loc-1: {} } }
  cld: { ai_provider: cloud, machines: { cld-1: { type: vm, os_image: "images:alpine/3.20" } } }
  lf: { ai_provider: local-first, ai_sanitize: always }
  off: { ai_provider: cloud, ai_sanitize: false, enabled: false }
  eph: { ephemeral: true, machines: { eph-1: {}, eph-2: { ephemeral: false } } }
`);
  const byName = Object.fromEntries(m.domains.map((d) => [d.name, d]));

  it('ai_sanitize follows ai_provider: false for local, true otherwise, unless set', () => {
    expect(byName.loc?.aiSanitize).toBe(false);
    expect(byName.cld?.aiSanitize).toBe(true);
    expect(byName.lf?.aiSanitize).toBe('always');
    expect(byName.off?.aiSanitize).toBe(false);
  });

  it('ai_access_policy defaults to open, trust_level to semi-trusted, gpu_policy to exclusive, the GPU services to ollama and speaches', () => {
    expect(m.ai).toEqual({ accessPolicy: 'open', accessDefault: null, vramFlush: true, gpuPolicy: 'exclusive', toolsDomain: 'ai-tools', gpuServices: ['ollama', 'speaches'] });
    expect(byName.loc?.trustLevel).toBe('semi-trusted');
  });

  it('machines inherit ephemeral and the default image; names give project and bridge', () => {
    const eph = byName.eph;
    expect(eph?.machines.map((x) => x.ephemeral)).toEqual([true, false]);
    expect(byName.loc?.machines[0]?.osImage).toBe('local:deb13');
    expect(byName.cld?.machines[0]).toMatchObject({ osImage: 'images:alpine/3.20', instanceType: 'virtual-machine', profiles: ['default'] });
    expect(byName.loc).toMatchObject({ project: 'loc', bridge: 'net-loc', enabled: true });
    expect(byName.off?.enabled).toBe(false);
  });
});
