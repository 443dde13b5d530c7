import type { Domain, Global, TrustLevel } from '../schemas/infra.js';
import { formatIpv4, parseIpv4 } from '../shared/ipv4.js';
import type { ValidationIssue } from './issues.js';

/**
 * Addressing (pure): every domain gets a /24, every machine an address.
 *
 * - trust zones (default): 10.<zone_base + offset>.<seq>.0/24, offsets below; `seq` is the
 *   domain's subnet_id, or the smallest free one, given to the other domains of the zone in
 *   name order;
 * - legacy (`global.base_subnet: "10.100"`): <base_subnet>.<subnet_id>.0/24, subnet_id required.
 *
 * In each /24: gateway .254, static hosts .1-.99 (auto-assigned in declaration order,
 * skipping explicit ones), DHCP .100-.249.
 */
export const ZONE_OFFSETS: Readonly<Record<TrustLevel, number>> = {
  admin: 0,
  trusted: 10,
  'semi-trusted': 20,
  untrusted: 40,
  disposable: 50,
};

export const HOSTS = { staticFirst: 1, staticLast: 99, dhcpFirst: 100, dhcpLast: 249, gateway: 254 } as const;

export interface DomainAddress {
  readonly subnetId: number;
  /** Network address (x.y.z.0) as a number. */
  readonly network: number;
}

export interface MachineAddress {
  readonly ip: number;
  readonly source: 'explicit' | 'auto';
}

export interface AddressPlan {
  readonly mode: 'zones' | 'legacy';
  readonly domains: ReadonlyMap<string, DomainAddress>;
  readonly machines: ReadonlyMap<string, MachineAddress>;
}

const LEGACY_BASE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function planAddresses(global: Global, domains: readonly (readonly [string, Domain])[]): { plan: AddressPlan; issues: ValidationIssue[] } {
  const issues: ValidationIssue[] = [];
  const domainAddresses = new Map<string, DomainAddress>();
  const legacy = global.base_subnet !== undefined;

  if (legacy && global.addressing !== undefined) {
    issues.push({
      rule: 'addressing-mode',
      path: ['global', 'addressing'],
      atKey: true,
      message: 'base_subnet (legacy addressing) and addressing (trust zones) cannot both be set',
      hint: 'keep one: trust zones are the default when base_subnet is absent',
    });
  }

  if (legacy) {
    const base = global.base_subnet ?? '';
    const match = LEGACY_BASE.exec(base);
    if (match === null) {
      issues.push({ rule: 'base-subnet-format', path: ['global', 'base_subnet'], message: 'base_subnet must be the first two octets of a /16', expected: 'two octets such as "10.100"', found: JSON.stringify(base) });
    }
    const firstUse = new Map<number, string>();
    for (const [name, domain] of domains) {
      if (domain.subnet_id === undefined) {
        issues.push({ rule: 'subnet-id-required', path: ['domains', name], atKey: true, message: `domain "${name}" needs a subnet_id: global.base_subnet uses legacy addressing`, expected: 'subnet_id: 0-254' });
        continue;
      }
      const other = firstUse.get(domain.subnet_id);
      if (other !== undefined) {
        issues.push({ rule: 'subnet-id-unique', path: ['domains', name, 'subnet_id'], message: `subnet_id ${domain.subnet_id} is already used by domain "${other}"`, expected: 'a subnet_id no other domain uses', found: String(domain.subnet_id) });
        continue;
      }
      firstUse.set(domain.subnet_id, name);
      if (match !== null) {
        domainAddresses.set(name, { subnetId: domain.subnet_id, network: (Number(match[1]) * 256 ** 3) + Number(match[2]) * 256 ** 2 + domain.subnet_id * 256 });
      }
    }
  } else {
    const zoneBase = global.addressing?.zone_base ?? 100;
    const used = new Map<string, Map<number, string>>(); // zone → seq → domain
    const zoneOf = (d: Domain): string => d.trust_level;
    for (const [name, domain] of domains) {
      if (domain.subnet_id === undefined) continue;
      const zone = used.get(zoneOf(domain)) ?? new Map<number, string>();
      used.set(zoneOf(domain), zone);
      const other = zone.get(domain.subnet_id);
      if (other !== undefined) {
        issues.push({ rule: 'subnet-id-unique', path: ['domains', name, 'subnet_id'], message: `subnet_id ${domain.subnet_id} is already used by domain "${other}" in the ${domain.trust_level} zone`, expected: 'a subnet_id unique within its trust zone', found: String(domain.subnet_id) });
        continue;
      }
      zone.set(domain.subnet_id, name);
      domainAddresses.set(name, { subnetId: domain.subnet_id, network: zoneNetwork(zoneBase, domain.trust_level, domain.subnet_id) });
    }
    const auto = domains.filter(([, d]) => d.subnet_id === undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [name, domain] of auto) {
      const zone = used.get(zoneOf(domain)) ?? new Map<number, string>();
      used.set(zoneOf(domain), zone);
      let seq = 0;
      while (zone.has(seq)) seq++;
      if (seq > 255) {
        issues.push({ rule: 'subnet-exhausted', path: ['domains', name], atKey: true, message: `no free subnet left in the ${domain.trust_level} zone` });
        continue;
      }
      zone.set(seq, name);
      domainAddresses.set(name, { subnetId: seq, network: zoneNetwork(zoneBase, domain.trust_level, seq) });
    }
  }

  const machines = planMachineAddresses(domains, domainAddresses, issues);
  return { plan: { mode: legacy ? 'legacy' : 'zones', domains: domainAddresses, machines }, issues };
}

function zoneNetwork(zoneBase: number, trust: TrustLevel, seq: number): number {
  return 10 * 256 ** 3 + (zoneBase + ZONE_OFFSETS[trust]) * 256 ** 2 + seq * 256;
}

function planMachineAddresses(
  domains: readonly (readonly [string, Domain])[],
  domainAddresses: ReadonlyMap<string, DomainAddress>,
  issues: ValidationIssue[],
): Map<string, MachineAddress> {
  const result = new Map<string, MachineAddress>();
  const owner = new Map<number, string>(); // ip → machine, across all domains

  for (const [domainName, domain] of domains) {
    const address = domainAddresses.get(domainName);
    const taken = new Set<number>();
    for (const [machineName, machine] of Object.entries(domain.machines)) {
      if (machine.ip === undefined) continue;
      const path = ['domains', domainName, 'machines', machineName, 'ip'];
      const ip = parseIpv4(machine.ip);
      if (ip === null) {
        issues.push({ rule: 'ip-valid', path, message: 'not an IPv4 address', expected: 'a dotted quad such as 10.110.0.10', found: JSON.stringify(machine.ip) });
        continue;
      }
      if (address === undefined) continue; // the domain's own error is reported already
      const subnet = `${formatIpv4(address.network)}/24`;
      if (ip < address.network || ip >= address.network + 256) {
        issues.push({ rule: 'ip-in-subnet', path, message: `${machine.ip} is outside the subnet of domain "${domainName}"`, expected: `an address in ${subnet}`, found: machine.ip });
        continue;
      }
      const host = ip - address.network;
      if (host < HOSTS.staticFirst || host > HOSTS.staticLast) {
        issues.push({ rule: 'ip-static-range', path, message: `${machine.ip} is not a static host address (the gateway is .254, DHCP uses .100-.249)`, expected: `${formatIpv4(address.network + HOSTS.staticFirst)} to ${formatIpv4(address.network + HOSTS.staticLast)}`, found: machine.ip });
        continue;
      }
      const other = owner.get(ip);
      if (other !== undefined) {
        issues.push({ rule: 'ip-unique', path, message: `${machine.ip} is already the address of machine "${other}"`, expected: 'an address no other machine uses', found: machine.ip });
        continue;
      }
      owner.set(ip, machineName);
      taken.add(host);
      result.set(machineName, { ip, source: 'explicit' });
    }
    if (address === undefined) continue;
    let next: number = HOSTS.staticFirst;
    for (const [machineName, machine] of Object.entries(domain.machines)) {
      if (machine.ip !== undefined) continue;
      while (taken.has(next)) next++;
      if (next > HOSTS.staticLast) {
        issues.push({ rule: 'ip-pool-exhausted', path: ['domains', domainName, 'machines', machineName], atKey: true, message: `no static address left in domain "${domainName}" (.1-.99 are all taken)` });
        continue;
      }
      taken.add(next);
      const ip = address.network + next;
      owner.set(ip, machineName);
      result.set(machineName, { ip, source: 'auto' });
    }
  }
  return result;
}
