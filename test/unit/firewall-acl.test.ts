import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { ACL_LIMITS, aclName, publicRanges, renderAcls, type AclRule, type DomainAcl } from '../../src/firewall/acl.js';
import { renderFirewall } from '../../src/firewall/render.js';
import type { DesiredInfra } from '../../src/schemas/model.js';

// Exclusive AI access, a one-way policy to a machine, a bidirectional one, a policy to the host, one to a network, egress levels.
const INFRA = `
project_name: acltest
global:
  addressing: { zone_base: 100 }
  ai_access_policy: exclusive
  ai_access_default: pro
domains:
  pro:
    trust_level: trusted
    egress: internet
    machines:
      pro-dev: { ip: 10.110.1.10 }
      pro-web: {}
  perso:
    trust_level: trusted
    egress: none
    machines:
      perso-desk: {}
  ai-tools:
    trust_level: semi-trusted
    machines:
      ai-gpu: { ip: 10.120.0.10, roles: [ollama_server] }
  lab:
    trust_level: untrusted
    egress: none
    machines:
      lab-box: {}
network_policies:
  - description: web from perso
    from: perso
    to: pro-web
    ports: [443, 80]
  - description: dev and lab talk
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
  - description: backups
    from: perso
    to: 192.168.5.0/24
    ports: [873]
`;

function model(text = INFRA): DesiredInfra {
  const r = validateInfraText(text, { file: 'infra.yml', hostNetworks: [] });
  if (!r.ok) throw new Error(JSON.stringify(r.issues, null, 2));
  return r.model;
}

const acl = (acls: readonly DomainAcl[], domain: string): DomainAcl => {
  const found = acls.find((a) => a.domain === domain);
  if (found === undefined) throw new Error(`no ACL for ${domain}`);
  return found;
};
const brief = (rules: readonly AclRule[]): string[] => rules.map((r) => `${r.action} ${r.source} -> ${r.destination} ${r.protocol}/${r.destination_port}`);

describe('network ACLs rendered from the host ruleset', () => {
  const m = model();
  const subnet = (d: string): string => m.domains.find((x) => x.name === d)?.network.subnet ?? '';
  const gateway = (d: string): string => m.domains.find((x) => x.name === d)?.network.gateway ?? '';
  const ip = (machine: string): string => m.domains.flatMap((d) => d.machines).find((x) => x.name === machine)?.ip ?? '';

  it('a policy is an egress rule on its source and an ingress rule on its destination; nothing else crosses', () => {
    const { acls } = renderAcls(m, renderFirewall(m, { aiAccessHolder: 'pro' }));
    expect(brief(acl(acls, 'perso').egress)).toContain(`allow ${subnet('perso')} -> ${ip('pro-web')} tcp/443,80`);
    expect(brief(acl(acls, 'pro').ingress)).toContain(`allow ${subnet('perso')} -> ${ip('pro-web')} tcp/443,80`);
    // Bidirectional from a machine: its address, both ways.
    expect(brief(acl(acls, 'pro').egress)).toContain(`allow 10.110.1.10 -> ${subnet('lab')} /`);
    expect(brief(acl(acls, 'lab').egress)).toContain(`allow ${subnet('lab')} -> 10.110.1.10 /`);
    // perso has no way into lab and lab none into perso: no rule names the other's subnet.
    expect(brief(acl(acls, 'lab').ingress).some((r) => r.includes(subnet('perso')))).toBe(false);
    // Inside a domain: its subnet to itself, both ways (Incus filters traffic inside a bridge with ACLs on).
    expect(brief(acl(acls, 'perso').ingress)).toEqual([`allow ${subnet('perso')} -> ${subnet('perso')} /`]);
  });

  it('exclusive AI access is the holder\'s rule into ai-tools: a switch changes the ACLs', () => {
    const toPro = renderAcls(m, renderFirewall(m, { aiAccessHolder: 'pro' }));
    const toPerso = renderAcls(m, renderFirewall(m, { aiAccessHolder: 'perso' }));
    expect(brief(acl(toPro.acls, 'ai-tools').ingress)).toContain(`allow ${subnet('pro')} -> ${subnet('ai-tools')} tcp/11434`);
    expect(brief(acl(toPro.acls, 'ai-tools').ingress).some((r) => r.includes(subnet('perso')))).toBe(false);
    expect(brief(acl(toPerso.acls, 'ai-tools').ingress)).toContain(`allow ${subnet('perso')} -> ${subnet('ai-tools')} tcp/11434`);
    expect(brief(acl(toPerso.acls, 'ai-tools').ingress).some((r) => r.includes(subnet('pro')))).toBe(false);
    const nobody = renderAcls(m, renderFirewall(m, { aiAccessHolder: null }));
    expect(brief(acl(nobody.acls, 'ai-tools').ingress)).toEqual([`allow ${subnet('ai-tools')} -> ${subnet('ai-tools')} /`]);
  });

  it('egress levels: internet is the public ranges, none is nothing; a network policy opens its CIDR and ports', () => {
    const { acls } = renderAcls(m, renderFirewall(m, { aiAccessHolder: 'pro' }));
    expect(brief(acl(acls, 'pro').egress)).toContain(`allow ${subnet('pro')} -> ${publicRanges()} /`);
    // egress none: the policies and its own gateway's domain view, nothing out.
    expect(brief(acl(acls, 'perso').egress)).toEqual([`allow ${subnet('perso')} -> ${subnet('perso')} /`, `allow ${subnet('perso')} -> ${ip('pro-web')} tcp/443,80`, `allow ${subnet('perso')} -> 192.168.5.0/24 tcp/873`, `allow ${subnet('perso')} -> ${gateway('perso')} tcp/${m.domainView.port}`]);
    expect(publicRanges()).not.toMatch(/^10\.|,10\.|,192\.168\./);
    expect(publicRanges().split(',')).toContain('11.0.0.0-100.63.255.255');
  });

  it('to the host is the domain\'s gateway, and said as a limit', () => {
    const { acls, limits } = renderAcls(m, renderFirewall(m, { aiAccessHolder: 'pro' }));
    expect(brief(acl(acls, 'lab').egress)).toContain(`allow ${subnet('lab')} -> ${gateway('lab')} udp/514`);
    expect(limits.some((l) => l.includes('syslog to the host'))).toBe(true);
    for (const l of ACL_LIMITS) expect(limits).toContain(l);
  });

  it('is one ACL per enabled domain, named after it, with every field Incus returns', () => {
    const { acls } = renderAcls(m, renderFirewall(m, { aiAccessHolder: 'pro' }));
    expect(acls.map((a) => a.name).sort()).toEqual(['ai-tools', 'lab', 'perso', 'pro'].map(aclName).sort());
    for (const a of acls) for (const r of [...a.egress, ...a.ingress]) expect(Object.keys(r).sort()).toEqual(['action', 'description', 'destination', 'destination_port', 'icmp_code', 'icmp_type', 'protocol', 'source', 'source_port', 'state']);
  });
});
