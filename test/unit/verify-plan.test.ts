import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { decide, portsNamed } from '../../src/firewall/evaluate.js';
import { renderFirewall } from '../../src/firewall/render.js';
import type { DesiredInfra } from '../../src/schemas/model.js';
import { mapBounded } from '../../src/verify/bounded.js';
import { chooseEndpoints, planProbes, type PlannedProbe } from '../../src/verify/plan.js';

const INFRA = `
project_name: vtest
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
      pro-mail: {}
  perso:
    trust_level: trusted
    machines:
      perso-desk: {}
  ai-tools:
    machines:
      ai-gpu: { ip: 10.120.0.10 }
  lab:
    trust_level: untrusted
    machines:
      lab-box: {}
  empty:
    trust_level: untrusted
  old:
    enabled: false
    machines:
      old-box: {}
network_policies:
  - description: web from perso
    from: perso
    to: pro-web
    ports: [443, 80]
  - description: dev and lab, every port, both ways
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
  - description: ssh from the host
    from: host
    to: pro-dev
    ports: [22]
`;

function model(text = INFRA): DesiredInfra {
  const r = validateInfraText(text, { file: 'infra.yml', hostNetworks: [] });
  if (!r.ok) throw new Error(JSON.stringify(r.issues, null, 2));
  return r.model;
}

const m = model();
const ruleset = renderFirewall(m);
const ip = (name: string): string => m.domains.flatMap((d) => d.machines).find((x) => x.name === name)!.ip;
const domain = (name: string) => m.domains.find((d) => d.name === name)!;
const forward = (from: string, fromDomain: string, to: string, toDomain: string) => ({ hook: 'forward' as const, iifname: `net-${fromDomain}`, oifname: `net-${toDomain}`, saddr: ip(from), daddr: ip(to) });

describe('the table\'s verdict on a first packet (decide)', () => {
  it('passes a policy\'s ports to the machine it names, and nothing else', () => {
    const p = forward('perso-desk', 'perso', 'pro-web', 'pro');
    expect(decide(ruleset, { ...p, protocol: 'tcp', dport: 443 })).toMatchObject({ verdict: 'accept', because: 'policy 0: web from perso' });
    expect(decide(ruleset, { ...p, protocol: 'tcp', dport: 22 })).toMatchObject({ verdict: 'drop', because: 'between domains: only what network_policies declare' });
    expect(decide(ruleset, { ...p, protocol: 'icmp' }).verdict).toBe('drop');
    // Another machine of the same domain is not the one the policy names.
    expect(decide(ruleset, { ...forward('perso-desk', 'perso', 'pro-mail', 'pro'), protocol: 'tcp', dport: 443 }).verdict).toBe('drop');
  });

  it('passes every protocol of a `ports: all` policy, both ways, from the named machine only', () => {
    expect(decide(ruleset, { ...forward('pro-dev', 'pro', 'lab-box', 'lab'), protocol: 'icmp' }).verdict).toBe('accept');
    expect(decide(ruleset, { ...forward('lab-box', 'lab', 'pro-dev', 'pro'), protocol: 'tcp', dport: 4999 }).verdict).toBe('accept');
    expect(decide(ruleset, { ...forward('pro-mail', 'pro', 'lab-box', 'lab'), protocol: 'icmp' }).verdict).toBe('drop');
  });

  it('follows the exclusive access holder: the holder reaches ai-tools, another domain does not', () => {
    const toGpu = (from: string, d: string) => ({ ...forward(from, d, 'ai-gpu', 'ai-tools'), protocol: 'tcp' as const, dport: 11434 });
    expect(decide(ruleset, toGpu('pro-mail', 'pro')).verdict).toBe('accept');
    expect(decide(ruleset, toGpu('perso-desk', 'perso')).verdict).toBe('drop');
    const switched = renderFirewall(m, { aiAccessHolder: 'perso' });
    expect(decide(switched, toGpu('perso-desk', 'perso')).verdict).toBe('accept');
    expect(decide(switched, toGpu('pro-mail', 'pro'))).toMatchObject({ verdict: 'drop', because: 'exclusive AI access: only the holder, open connections included' });
  });

  it('on the host: DNS to the own gateway and `to: host` ports pass, the rest is dropped; the host\'s own output is not filtered', () => {
    const lab = { hook: 'input' as const, iifname: 'net-lab', saddr: ip('lab-box'), daddr: domain('lab').network.gateway };
    expect(decide(ruleset, { ...lab, protocol: 'tcp', dport: 53 }).verdict).toBe('accept');
    expect(decide(ruleset, { ...lab, protocol: 'tcp', dport: 22 }).verdict).toBe('drop');
    expect(decide(ruleset, { ...lab, protocol: 'icmp' })).toMatchObject({ verdict: 'drop', because: 'instances reach the host only as declared' });
    expect(decide(ruleset, { hook: 'output', daddr: ip('pro-mail'), protocol: 'tcp', dport: 4999 })).toEqual({ verdict: 'accept', because: 'anklume does not filter the output path' });
  });

  it('lists the ports the rules name for a pair, whatever the port', () => {
    expect(portsNamed(ruleset, { ...forward('perso-desk', 'perso', 'pro-web', 'pro'), protocol: 'tcp' })).toEqual([80, 443]);
    expect(portsNamed(ruleset, { ...forward('perso-desk', 'perso', 'pro-mail', 'pro'), protocol: 'tcp' })).toEqual([]);
    expect(portsNamed(ruleset, { hook: 'input', iifname: 'net-lab', saddr: ip('lab-box'), daddr: domain('lab').network.gateway, protocol: 'tcp' })).toEqual([53, 514, 8187]);
  });
});

describe('choosing the instances to probe', () => {
  const running = (): string => 'Running';

  it('takes a representative no policy names, plus every machine a policy names; skips disabled and empty domains', () => {
    const c = chooseEndpoints(m, running);
    expect(c.domains).toEqual(['pro', 'perso', 'ai-tools', 'lab']);
    expect(c.endpoints.get('pro')!.map((e) => e.name)).toEqual(['pro-mail', 'pro-dev', 'pro-web']);
    expect(c.endpoints.get('lab')!.map((e) => e.name)).toEqual(['lab-box']);
    expect(c.notVerifiable).toEqual([]);
  });

  it('reports stopped or missing instances as not verifiable, and falls back to a running one', () => {
    const c = chooseEndpoints(m, (_p, name) => (name === 'pro-mail' ? 'Stopped' : name === 'pro-web' ? undefined : name === 'lab-box' ? 'Stopped' : 'Running'));
    expect(c.endpoints.get('pro')!.map((e) => e.name)).toEqual(['pro-dev']);
    expect(c.endpoints.get('lab')).toEqual([]);
    expect(c.notVerifiable).toEqual([
      { instance: 'pro/pro-web', reason: 'no such instance in Incus (a policy names it)' },
      { instance: 'lab/lab-box', reason: 'not running (Stopped)' },
    ]);
  });
});

describe('planning the probes', () => {
  const plan = planProbes(m, ruleset, chooseEndpoints(m, () => 'Running'), { controlPort: 4999, host: true });
  const between = (from: string, to: string): PlannedProbe[] => plan.probes.filter((p) => label(p.from) === from && label(p.to) === to);
  const label = (e: PlannedProbe['from']): string => (e.kind === 'host' ? 'host' : e.name);
  const summary = (ps: PlannedProbe[]): string[] => ps.map((p) => `${p.protocol}${p.port === undefined ? '' : `/${p.port}`} ${p.expected}`);

  it('orders the matrix as the file, the host last, and probes no pair inside a domain', () => {
    expect(plan.participants).toEqual(['pro', 'perso', 'ai-tools', 'lab', 'host']);
    expect(plan.probes.some((p) => p.from.kind === 'instance' && p.to.kind === 'instance' && p.from.domain === p.to.domain)).toBe(false);
  });

  it('probes the ports a policy names, the closed control port and ICMP, each expected as the table decides', () => {
    expect(summary(between('perso-desk', 'pro-web'))).toEqual(['tcp/80 pass', 'tcp/443 pass', 'tcp/4999 block', 'icmp block']);
    expect(summary(between('perso-desk', 'pro-mail'))).toEqual(['tcp/4999 block', 'icmp block']);
    expect(summary(between('lab-box', 'pro-dev'))).toEqual(['tcp/4999 pass', 'icmp pass']);
    expect(between('perso-desk', 'pro-web')[0]!.why).toBe('tcp/80, a port the rules name; the table: accept (policy 0: web from perso)');
    expect(between('perso-desk', 'pro-web')[2]!.why).toMatch(/^tcp\/4999, the control port no rule names; the table: drop/);
  });

  it('probes the host at each domain\'s gateway, and each instance from the host on its `from: host` ports', () => {
    const toHost = between('lab-box', 'host');
    // 8187: the domain's own view of itself (docs/monitoring.md), opened to its bridge only.
    expect(summary(toHost)).toEqual(['tcp/53 pass', 'tcp/514 pass', 'tcp/4999 block', 'tcp/8187 pass', 'icmp block']);
    expect(toHost[0]!.address).toBe(domain('lab').network.gateway);
    expect(summary(between('host', 'pro-dev'))).toEqual(['tcp/22 pass', 'tcp/4999 pass']);
  });

  it('leaves the host out with a remote Incus', () => {
    const remote = planProbes(m, ruleset, chooseEndpoints(m, () => 'Running'), { controlPort: 4999, host: false });
    expect(remote.participants).not.toContain('host');
    expect(remote.probes.some((p) => p.from.kind === 'host' || p.to.kind === 'host')).toBe(false);
  });
});

describe('bounded parallelism', () => {
  it('never has more calls in flight than the limit, and keeps the input order', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapBounded([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, n));
      inFlight--;
      return n * 10;
    });
    expect(most).toBe(3);
    expect(out).toEqual([50, 10, 40, 20, 30, 0, 60]);
    await expect(mapBounded([1], 0, (n) => Promise.resolve(n))).rejects.toThrow(/positive integer/);
  });
});
