import type { DesiredDomain, DesiredInfra, DesiredPolicy, PolicyEndpoint } from '../../schemas/model.js';

/** One end of a policy as the domain sees it. */
export type InventoryEndpoint =
  | { readonly kind: 'host' }
  | { readonly kind: 'domain'; readonly domain: string }
  | { readonly kind: 'machine'; readonly domain: string; readonly machine: string; readonly ip: string }
  | { readonly kind: 'network'; readonly cidr: string };

/** A declared flow into or out of the domain. */
export interface InventoryFlow {
  /** `in`: the peer opens connections to the domain; `out`: the domain opens them to the peer. */
  readonly direction: 'in' | 'out';
  /** The domain's side: the whole domain or one of its machines. */
  readonly local: InventoryEndpoint;
  readonly peer: InventoryEndpoint;
  readonly ports: readonly number[] | 'all';
  readonly protocol: 'tcp' | 'udp';
  /** Position in network_policies. */
  readonly policy: number;
  readonly description: string;
}

export interface DomainInventory {
  readonly domain: string;
  readonly description: string;
  readonly trustLevel: string;
  readonly egress: string;
  readonly bridge: string;
  readonly subnet: string;
  readonly gateway: string;
  readonly dhcpRange: { readonly first: string; readonly last: string };
  readonly machines: readonly {
    readonly name: string;
    readonly description: string;
    readonly type: 'lxc' | 'vm';
    readonly ip: string;
    readonly roles: readonly string[];
    readonly gpu: boolean;
    readonly ephemeral: boolean;
    readonly osImage: string;
  }[];
  readonly flows: readonly InventoryFlow[];
}

const endpoint = (e: PolicyEndpoint): InventoryEndpoint => ({ ...e });
const isOf = (e: PolicyEndpoint, domain: string): boolean => (e.kind === 'domain' || e.kind === 'machine') && e.domain === domain;

/**
 * The flows one policy declares for `domain`, as many as it opens: out when
 * the domain is the `from`, in when it is the `to`, both again reversed when
 * bidirectional. A policy inside the domain gives both directions (its
 * traffic is allowed anyway, but it is what the file says).
 */
function flowsOf(policy: DesiredPolicy, domain: string): InventoryFlow[] {
  const flows: InventoryFlow[] = [];
  const base = { ports: policy.ports, protocol: policy.protocol, policy: policy.index, description: policy.description };
  const pairs: [PolicyEndpoint, PolicyEndpoint][] = [[policy.from, policy.to]];
  if (policy.bidirectional) pairs.push([policy.to, policy.from]);
  for (const [from, to] of pairs) {
    if (isOf(from, domain)) flows.push({ direction: 'out', local: endpoint(from), peer: endpoint(to), ...base });
    if (isOf(to, domain)) flows.push({ direction: 'in', local: endpoint(to), peer: endpoint(from), ...base });
  }
  return flows;
}

/** What infra.yml declares about one domain (pure): its machines and addresses, and the flows its policies open. */
export function domainInventory(model: DesiredInfra, domain: DesiredDomain): DomainInventory {
  return {
    domain: domain.name,
    description: domain.description,
    trustLevel: domain.trustLevel,
    egress: domain.egress,
    bridge: domain.bridge,
    subnet: domain.network.subnet,
    gateway: domain.network.gateway,
    dhcpRange: domain.network.dhcpRange,
    machines: domain.machines.map((m) => ({ name: m.name, description: m.description, type: m.type, ip: m.ip, roles: m.roles, gpu: m.gpu, ephemeral: m.ephemeral, osImage: m.osImage })),
    flows: model.policies.flatMap((p) => flowsOf(p, domain.name)),
  };
}
