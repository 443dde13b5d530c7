import { decide, portsNamed, type Decision, type Packet } from '../firewall/evaluate.js';
import type { Ruleset } from '../firewall/ruleset.js';
import type { DesiredInfra, PolicyEndpoint } from '../schemas/model.js';

/**
 * Which probes `anklumectl verify` sends and what each should see (pure).
 * The expectation of every probe is the verdict of the rendered table
 * (src/firewall/evaluate.ts) on its first packet: the one home of what the
 * policies mean stays render.ts.
 */

/** The host itself: a row and a column of the matrix like a domain. */
export const HOST = 'host';

/** An instance probes are sent from and to. */
export interface InstanceEndpoint {
  readonly kind: 'instance';
  readonly domain: string;
  readonly project: string;
  readonly name: string;
  readonly ip: string;
  readonly bridge: string;
  /** The host's address on the domain's bridge: where the instance reaches the host. */
  readonly gateway: string;
}

export type Endpoint = InstanceEndpoint | { readonly kind: 'host' };

export const endpointLabel = (e: Endpoint): string => (e.kind === 'host' ? HOST : `${e.domain}/${e.name}`);
export const participantOf = (e: Endpoint): string => (e.kind === 'host' ? HOST : e.domain);

export interface PlannedProbe {
  readonly from: Endpoint;
  readonly to: Endpoint;
  readonly address: string;
  readonly protocol: 'tcp' | 'icmp';
  readonly port?: number;
  readonly why: string;
  readonly expected: 'pass' | 'block';
}

/** Machines a policy names, by domain: each is probed from and to, besides its domain's representative. */
function namedMachines(model: DesiredInfra): Set<string> {
  const named = new Set<string>();
  const add = (e: PolicyEndpoint): void => {
    if (e.kind === 'machine') named.add(e.machine);
  };
  for (const p of model.policies) {
    add(p.from);
    add(p.to);
  }
  return named;
}

export interface Candidates {
  /** Enabled domains with machines, in file order: the matrix's rows and columns (the host comes last). */
  readonly domains: readonly string[];
  /** Per domain: its representative (a running machine no policy names, when there is one) and every running machine a policy names. */
  readonly endpoints: ReadonlyMap<string, readonly InstanceEndpoint[]>;
  readonly notVerifiable: readonly { readonly instance: string; readonly reason: string }[];
}

/**
 * Choose the instances to probe from and to. `state` is what Incus says of an
 * instance (`Running`, `Stopped`, ...; undefined: it does not exist).
 */
export function chooseEndpoints(model: DesiredInfra, state: (project: string, name: string) => string | undefined): Candidates {
  const named = namedMachines(model);
  const endpoints = new Map<string, InstanceEndpoint[]>();
  const notVerifiable: { instance: string; reason: string }[] = [];
  const domains: string[] = [];
  for (const d of model.domains) {
    if (!d.enabled || d.machines.length === 0) continue;
    domains.push(d.name);
    const endpoint = (m: (typeof d.machines)[number]): InstanceEndpoint => ({ kind: 'instance', domain: d.name, project: d.project, name: m.name, ip: m.ip, bridge: d.bridge, gateway: d.network.gateway });
    const running = (m: (typeof d.machines)[number]): boolean => state(d.project, m.name) === 'Running';
    const chosen: InstanceEndpoint[] = [];
    const representative = d.machines.find((m) => running(m) && !named.has(m.name)) ?? d.machines.find(running);
    if (representative === undefined) {
      for (const m of d.machines) notVerifiable.push({ instance: `${d.name}/${m.name}`, reason: describeState(state(d.project, m.name)) });
    } else chosen.push(endpoint(representative));
    for (const m of d.machines) {
      if (!named.has(m.name) || m === representative) continue;
      if (running(m)) chosen.push(endpoint(m));
      else notVerifiable.push({ instance: `${d.name}/${m.name}`, reason: `${describeState(state(d.project, m.name))} (a policy names it)` });
    }
    endpoints.set(d.name, chosen);
  }
  return { domains, endpoints, notVerifiable };
}

const describeState = (s: string | undefined): string => (s === undefined ? 'no such instance in Incus' : `not running (${s})`);

export interface ProbePlanOptions {
  /** A port no rule names: where a block is expected, and a pass shows a hole. */
  readonly controlPort: number;
  /** Probe from and to the host (false with a remote Incus: this machine is not its host). */
  readonly host: boolean;
}

function expectation(ruleset: Ruleset, packet: Packet, reason: string): { expected: 'pass' | 'block'; why: string } {
  const d: Decision = decide(ruleset, packet);
  return { expected: d.verdict === 'accept' ? 'pass' : 'block', why: `${reason}; the table: ${d.verdict} (${d.because})` };
}

/** TCP ports a policy `from: host` opens to this instance (the host's output path has no rule to read them from). */
function hostPolicyPorts(model: DesiredInfra, to: InstanceEndpoint): number[] {
  const ports = new Set<number>();
  for (const p of model.policies) {
    if (p.from.kind !== 'host' || p.protocol !== 'tcp' || p.ports === 'all') continue;
    const hit = (p.to.kind === 'domain' && p.to.domain === to.domain) || (p.to.kind === 'machine' && p.to.machine === to.name);
    if (hit) for (const port of p.ports) ports.add(port);
  }
  return [...ports];
}

/** Every probe between two endpoints of different participants. */
export function probesBetween(model: DesiredInfra, ruleset: Ruleset, from: Endpoint, to: Endpoint, options: ProbePlanOptions): PlannedProbe[] {
  if (from.kind === 'host' && to.kind === 'host') return [];
  let base: Omit<Packet, 'protocol' | 'dport'>;
  let address: string;
  let named: number[];
  if (from.kind === 'host' && to.kind === 'instance') {
    base = { hook: 'output', daddr: to.ip };
    address = to.ip;
    named = hostPolicyPorts(model, to);
  } else if (from.kind === 'instance' && to.kind === 'host') {
    // The host as an instance reaches it: its gateway, on the input path.
    base = { hook: 'input', iifname: from.bridge, saddr: from.ip, daddr: from.gateway };
    address = from.gateway;
    named = portsNamed(ruleset, { ...base, protocol: 'tcp' });
  } else if (from.kind === 'instance' && to.kind === 'instance') {
    base = { hook: 'forward', iifname: from.bridge, oifname: to.bridge, saddr: from.ip, daddr: to.ip };
    address = to.ip;
    named = portsNamed(ruleset, { ...base, protocol: 'tcp' });
  } else return [];
  const ports = [...new Set([...named, options.controlPort])].sort((a, b) => a - b);
  const probes: PlannedProbe[] = ports.map((port) => {
    const reason = named.includes(port) ? `tcp/${port}, a port the rules name` : `tcp/${port}, the control port no rule names`;
    return { from, to, address, protocol: 'tcp', port, ...expectation(ruleset, { ...base, protocol: 'tcp', dport: port }, reason) };
  });
  // The host has no ping of ours to rely on; from an instance, ICMP echo.
  if (from.kind === 'instance') probes.push({ from, to, address, protocol: 'icmp', ...expectation(ruleset, { ...base, protocol: 'icmp' }, 'ICMP echo') });
  return probes;
}

/** The participants in matrix order (domains, then the host) and every probe between them. */
export function planProbes(model: DesiredInfra, ruleset: Ruleset, candidates: Candidates, options: ProbePlanOptions): { participants: string[]; probes: PlannedProbe[] } {
  const participants = [...candidates.domains, ...(options.host ? [HOST] : [])];
  const endpointsOf = (p: string): readonly Endpoint[] => (p === HOST ? [{ kind: 'host' }] : (candidates.endpoints.get(p) ?? []));
  const probes: PlannedProbe[] = [];
  for (const a of participants) {
    for (const b of participants) {
      // Inside one domain traffic stays on its bridge, not between bridges: not what this matrix proves.
      if (a === b) continue;
      for (const from of endpointsOf(a)) for (const to of endpointsOf(b)) probes.push(...probesBetween(model, ruleset, from, to, options));
    }
  }
  return { participants, probes };
}
