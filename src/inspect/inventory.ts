import type { DesiredDomain, DesiredInfra } from '../schemas/model.js';
import { OLLAMA_PORT } from '../schemas/ports.js';
import { cidrContains, parseCidr, parseIpv4 } from '../shared/ipv4.js';
import type { Neighbour } from './neighbours.js';
import type { ScannedHost, ScannedPort } from './nmap.js';
import type { Flow } from './traffic.js';

/**
 * Level 2 of spec/000 §6, the part that needs no model: the raw outputs of
 * level 1 become one structured inventory of the domain, and rules written
 * in code compare it with what infra.yml declares and with the baseline.
 * A model may add a triage on top; it never decides what these rules find.
 */

/** One address seen in the domain, with what is known about it. */
export interface InventoryHost {
  readonly address: string;
  readonly mac?: string;
  /** The instance holding the address (Incus), or `host` for the bridge's gateway. */
  readonly name?: string;
  /** declared: a machine of infra.yml; instance: an Incus instance of the domain not in infra.yml; gateway: the host; probe: anklume's short-lived probe; unknown: nobody anklume knows. */
  readonly kind: 'declared' | 'instance' | 'gateway' | 'probe' | 'unknown';
  readonly ports: readonly ScannedPort[];
}

export interface Inventory {
  readonly domain: string;
  readonly subnet: string;
  /** The instance level 1 ran from. */
  readonly probe: string;
  readonly takenAt: string;
  /** Whether this run scanned (nmap): without a scan, ports are unknown rather than closed. */
  readonly scanned: boolean;
  readonly captured: boolean;
  readonly hosts: readonly InventoryHost[];
  readonly flows: readonly Flow[];
}

/** What Incus says about the domain's project at inspection time: each instance and its address. */
export interface ObservedInstance {
  readonly name: string;
  readonly address?: string;
  readonly status: string;
}

export interface InventoryInput {
  readonly model: DesiredInfra;
  readonly domain: DesiredDomain;
  readonly probe: string;
  /** The probe was created by anklume for this run (not a machine of infra.yml). */
  readonly probeIsTemporary: boolean;
  readonly instances: readonly ObservedInstance[];
  readonly scan: readonly ScannedHost[] | null;
  readonly neighbours: readonly Neighbour[];
  readonly flows: readonly Flow[] | null;
  readonly takenAt: string;
}

/** Put the level 1 outputs together: every address seen (scan, neighbours, traffic inside the subnet), named when anklume knows it. */
export function buildInventory(input: InventoryInput): Inventory {
  const { domain } = input;
  const subnet = parseCidr(domain.network.subnet);
  const inSubnet = (a: string): boolean => subnet !== null && cidrContains(subnet, parseIpv4(a) ?? -1);
  const byAddress = new Map<string, { address: string; mac?: string; ports: ScannedPort[] }>();
  const see = (address: string, mac?: string): { address: string; mac?: string; ports: ScannedPort[] } => {
    const entry = byAddress.get(address) ?? { address, ports: [] };
    if (mac !== undefined && entry.mac === undefined) entry.mac = mac;
    byAddress.set(address, entry);
    return entry;
  };
  for (const h of input.scan ?? []) see(h.address, h.mac).ports.push(...h.ports);
  for (const n of input.neighbours) if (inSubnet(n.address) && n.mac !== undefined && !n.state.includes('FAILED')) see(n.address, n.mac);
  for (const f of input.flows ?? []) for (const a of [f.from, f.to]) if (inSubnet(a)) see(a);

  const declared = new Map(domain.machines.map((m) => [m.ip, m.name]));
  const instanceAt = new Map(input.instances.filter((i) => i.address !== undefined).map((i) => [i.address ?? '', i.name]));
  const hosts = [...byAddress.values()].filter((h) => inSubnet(h.address)).map((h): InventoryHost => {
    const base = { address: h.address, ...(h.mac === undefined ? {} : { mac: h.mac }), ports: h.ports.sort((a, b) => a.port - b.port) };
    if (h.address === domain.network.gateway) return { ...base, name: 'host', kind: 'gateway' };
    const instance = instanceAt.get(h.address);
    if (instance === input.probe && input.probeIsTemporary) return { ...base, name: instance, kind: 'probe' };
    const machine = declared.get(h.address);
    if (machine !== undefined && (instance === undefined || instance === machine)) return { ...base, name: machine, kind: 'declared' };
    if (instance !== undefined) return { ...base, name: instance, kind: domain.machines.some((m) => m.name === instance) ? 'declared' : 'instance' };
    return { ...base, kind: 'unknown' };
  });
  hosts.sort((a, b) => (parseIpv4(a.address) ?? 0) - (parseIpv4(b.address) ?? 0));
  return { domain: domain.name, subnet: domain.network.subnet, probe: input.probe, takenAt: input.takenAt, scanned: input.scan !== null, captured: input.flows !== null, hosts, flows: input.flows ?? [] };
}

export type Severity = 'critical' | 'suspect' | 'info';

export interface Finding {
  readonly severity: Severity;
  /** Stable identifier of the rule (for scripts and the model's triage). */
  readonly rule: string;
  readonly subject: string;
  readonly message: string;
}

const SEVERITY_ORDER: Readonly<Record<Severity, number>> = { critical: 0, suspect: 1, info: 2 };

/**
 * The ports infra.yml explains on an address of the domain: those its
 * policies open towards the domain or that machine, and those of the
 * services anklume runs there. On the gateway (the host), DNS and DHCP.
 */
export function explainedPorts(model: DesiredInfra, domain: DesiredDomain, host: InventoryHost): Map<number, string> {
  const out = new Map<number, string>();
  if (host.kind === 'gateway') {
    out.set(53, 'DNS of the domain (dnsmasq on the host)');
    out.set(67, 'DHCP of the domain (dnsmasq on the host)');
    return out;
  }
  const machine = domain.machines.find((m) => m.name === host.name);
  for (const p of model.policies) {
    const to = p.to;
    const aimsHere = (to.kind === 'domain' && to.domain === domain.name) || (to.kind === 'machine' && to.domain === domain.name && machine !== undefined && to.machine === machine.name);
    if (!aimsHere || p.ports === 'all') continue;
    for (const port of p.ports) out.set(port, `network_policies[${p.index}]${p.description === '' ? '' : ` (${p.description})`}`);
  }
  if (machine?.roles.includes('ollama_server') === true) out.set(OLLAMA_PORT, 'role ollama_server');
  if (machine?.roles.includes('llm_sanitizer') === true) out.set(model.sanitizer.listenPort, 'role llm_sanitizer');
  if (domain.openclaw !== null && domain.openclaw.machine === machine?.name) out.set(domain.openclaw.port, 'the domain\'s OpenClaw gateway');
  return out;
}

/** Whether a policy opens every port to this host (then no port of it is a finding). */
function allPortsOpen(model: DesiredInfra, domain: DesiredDomain, host: InventoryHost): boolean {
  return model.policies.some((p) => p.ports === 'all' && ((p.to.kind === 'domain' && p.to.domain === domain.name) || (p.to.kind === 'machine' && p.to.domain === domain.name && p.to.machine === host.name)));
}

/** Rules that need no model: what infra.yml does not explain (what changed since the baseline is {@link changesSince}). */
export function findingsOf(model: DesiredInfra, domain: DesiredDomain, inventory: Inventory): Finding[] {
  const findings: Finding[] = [];
  const add = (severity: Severity, rule: string, subject: string, message: string): void => {
    findings.push({ severity, rule, subject, message });
  };

  for (const h of inventory.hosts) {
    if (h.kind === 'unknown') add('critical', 'unknown-host', h.address, `${h.address}${h.mac === undefined ? '' : ` (${h.mac})`} answers in ${domain.name}, but no instance of the domain holds that address`);
    if (h.kind === 'instance') add('suspect', 'undeclared-instance', h.name ?? h.address, `instance ${h.name ?? '?'} (${h.address}) runs in ${domain.name} but is not in infra.yml`);
    if (h.kind === 'probe' || allPortsOpen(model, domain, h)) continue;
    const explained = explainedPorts(model, domain, h);
    for (const p of h.ports) {
      if (explained.has(p.port)) continue;
      const what = `${p.port}/${p.protocol}${p.service === '' ? '' : ` (${p.service}${p.product === undefined ? '' : `, ${p.product}${p.version === undefined ? '' : ` ${p.version}`}`})`}`;
      add('suspect', 'undeclared-port', `${h.name ?? h.address}:${p.port}`, `${h.name ?? h.address} (${h.address}) listens on ${what}, which no policy or anklume service of ${domain.name} explains`);
    }
  }

  if (inventory.scanned) {
    const seen = new Set(inventory.hosts.map((h) => h.address));
    for (const m of domain.machines) {
      if (!seen.has(m.ip)) add('info', 'declared-host-silent', m.name, `${m.name} (${m.ip}) is in infra.yml but did not answer`);
    }
  }

  const subnets = model.domains.filter((d) => d.name !== domain.name).map((d) => ({ name: d.name, cidr: parseCidr(d.network.subnet) }));
  for (const f of inventory.flows) {
    for (const address of [f.from, f.to]) {
      const other = subnets.find((s) => s.cidr !== null && cidrContains(s.cidr, parseIpv4(address) ?? -1));
      if (other !== undefined) add('critical', 'cross-domain-traffic', `${f.from}->${f.to}`, `traffic between ${f.from} and ${f.to}${f.port === undefined ? '' : ` port ${f.port}`} (${f.protocol}, ${f.packets} packets) reaches domain ${other.name}'s range`);
    }
  }

  return bySeverity(findings);
}

export function bySeverity(findings: readonly Finding[]): Finding[] {
  return [...findings].sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || a.rule.localeCompare(b.rule) || a.subject.localeCompare(b.subject));
}

/** What differs from the baseline: hosts that came or went, ports that opened or closed, services that changed. */
export function changesSince(baseline: Inventory, now: Inventory): Finding[] {
  const out: Finding[] = [];
  const before = new Map(baseline.hosts.filter((h) => h.kind !== 'probe').map((h) => [h.address, h]));
  const after = new Map(now.hosts.filter((h) => h.kind !== 'probe').map((h) => [h.address, h]));
  const label = (h: InventoryHost): string => `${h.name ?? h.address}${h.name === undefined ? '' : ` (${h.address})`}`;
  for (const [address, h] of after) {
    const old = before.get(address);
    if (old === undefined) {
      out.push({ severity: 'suspect', rule: 'new-host', subject: address, message: `${label(h)} is new since the baseline of ${baseline.takenAt}` });
      continue;
    }
    if (old.mac !== undefined && h.mac !== undefined && old.mac !== h.mac) out.push({ severity: 'suspect', rule: 'changed-mac', subject: address, message: `${label(h)} changed MAC: ${old.mac} → ${h.mac}` });
    if (!(baseline.scanned && now.scanned)) continue;
    const oldPorts = new Map(old.ports.map((p) => [`${p.port}/${p.protocol}`, p]));
    const newPorts = new Map(h.ports.map((p) => [`${p.port}/${p.protocol}`, p]));
    for (const [key, p] of newPorts) {
      const was = oldPorts.get(key);
      if (was === undefined) out.push({ severity: 'suspect', rule: 'new-port', subject: `${h.name ?? address}:${p.port}`, message: `${label(h)} opened ${key} (${p.service})` });
      else if (serviceLine(was) !== serviceLine(p)) out.push({ severity: 'info', rule: 'changed-service', subject: `${h.name ?? address}:${p.port}`, message: `${label(h)} ${key}: ${serviceLine(was)} → ${serviceLine(p)}` });
    }
    for (const [key] of oldPorts) if (!newPorts.has(key)) out.push({ severity: 'info', rule: 'closed-port', subject: `${h.name ?? address}:${key.split('/')[0]}`, message: `${label(h)} closed ${key}` });
  }
  for (const [address, h] of before) {
    if (!after.has(address) && now.scanned) out.push({ severity: 'info', rule: 'gone-host', subject: address, message: `${label(h)} no longer answers (it did at the baseline)` });
  }
  return bySeverity(out);
}

function serviceLine(p: ScannedPort): string {
  return [p.service, p.product, p.version].filter((x) => x !== undefined && x !== '').join(' ');
}
