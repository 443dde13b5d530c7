import type { Domain, Global, TrustLevel, UnsafeKind } from '../schemas/infra.js';
import { cidrContains, parseIpv4 } from '../shared/ipv4.js';
import type { AddressPlan } from './addressing.js';
import type { ValidationIssue } from './issues.js';

/**
 * What breaks a domain's boundary, refused per trust level (docs/firewall.md)
 * unless the machine or profile names it in `allow_unsafe`. The admin domain
 * is the host's own: nothing is refused there. Elsewhere, a privileged
 * container, a raw.* key or a host path owns the host; a proxy or NIC device
 * reaching another domain goes around the firewall; nesting gives an
 * untrusted or disposable domain's root its own Incus and network stack.
 */
export const REFUSED_BY_TRUST: Readonly<Record<TrustLevel, readonly UnsafeKind[]>> = {
  admin: [],
  trusted: ['privileged', 'raw-config', 'host-disk', 'cross-domain-device'],
  'semi-trusted': ['privileged', 'raw-config', 'host-disk', 'cross-domain-device'],
  untrusted: ['privileged', 'raw-config', 'host-disk', 'cross-domain-device', 'nesting'],
  disposable: ['privileged', 'raw-config', 'host-disk', 'cross-domain-device', 'nesting'],
};

/** Incus's booleans: https://linuxcontainers.org/incus/docs/main/reference/instance_options/ (true, 1, yes, on). */
const TRUE = new Set(['true', '1', 'yes', 'on']);
const isTrue = (value: unknown): boolean => TRUE.has(String(value).toLowerCase());

type Config = Record<string, string | number | boolean>;
type Devices = Record<string, Record<string, string | number | boolean>>;

interface Finding {
  readonly kind: UnsafeKind;
  /** Where, under the machine or profile: ['config', 'security.privileged']. */
  readonly at: readonly string[];
  readonly message: string;
}

/** A host path is allowed when it is one of the allowed directories or below one (`..` never is). */
function hostPathAllowed(source: string, allowed: readonly string[]): boolean {
  if (source.split('/').includes('..')) return false;
  return allowed.some((dir) => {
    const base = dir.endsWith('/') ? dir.slice(0, -1) : dir;
    return source === base || source.startsWith(`${base}/`);
  });
}

/** The IPv4 address in a proxy endpoint such as `tcp:10.120.0.5:80`, if any. */
function proxyAddress(endpoint: string): number | null {
  const [, host] = endpoint.split(':');
  return host === undefined ? null : parseIpv4(host);
}

/** What in one machine's or profile's config and devices would break the boundary of `domain`. */
export function unsafeFindings(domain: string, config: Config, devices: Devices, context: { readonly global: Global; readonly addresses: AddressPlan }): Finding[] {
  const findings: Finding[] = [];
  if (isTrue(config['security.privileged'])) findings.push({ kind: 'privileged', at: ['config', 'security.privileged'], message: 'a privileged container: root inside is root on the host' });
  if (isTrue(config['security.nesting'])) findings.push({ kind: 'nesting', at: ['config', 'security.nesting'], message: 'nesting: root inside may run its own containers and network stack' });
  for (const key of Object.keys(config).filter((k) => k.startsWith('raw.'))) findings.push({ kind: 'raw-config', at: ['config', key], message: `${key} hands raw settings to LXC or QEMU, below every restriction` });
  const ownBridge = `net-${domain}`;
  const otherSubnet = (ip: number | null): string | undefined =>
    ip === null ? undefined : [...context.addresses.domains].find(([name, a]) => name !== domain && cidrContains({ network: a.network, prefix: 24 }, ip))?.[0];
  for (const [name, device] of Object.entries(devices)) {
    const at = ['devices', name];
    const type = String(device.type ?? '');
    const source = device.source === undefined ? '' : String(device.source);
    if (type === 'disk' && source.startsWith('/') && !hostPathAllowed(source, context.global.host_disk_paths)) {
      findings.push({ kind: 'host-disk', at, message: `disk "${name}" mounts the host path ${source}, outside global.host_disk_paths` });
    }
    if (type === 'nic') {
      const link = String(device.network ?? device.parent ?? '');
      if (link !== ownBridge) findings.push({ kind: 'cross-domain-device', at, message: `NIC "${name}" is attached to ${link === '' ? 'no bridge of this domain' : `"${link}"`}, not to the domain's bridge ${ownBridge}: it goes around the firewall` });
    }
    if (type === 'proxy') {
      for (const end of ['connect', 'listen'] as const) {
        const other = otherSubnet(proxyAddress(String(device[end] ?? '')));
        if (other !== undefined) findings.push({ kind: 'cross-domain-device', at: [...at, end], message: `proxy "${name}" ${end === 'connect' ? 'connects to' : 'listens on'} an address of domain "${other}": it goes around the firewall` });
      }
    }
  }
  return findings;
}

/** The boundary rule over the whole file: every finding the domain's trust level refuses and allow_unsafe does not name. */
export function checkBoundaries(input: { readonly global: Global; readonly domains: readonly (readonly [string, Domain])[] }, addresses: AddressPlan): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const [domainName, domain] of input.domains) {
    const refused = REFUSED_BY_TRUST[domain.trust_level];
    const owners: [readonly string[], { config: Config; devices: Devices; allow_unsafe: readonly UnsafeKind[] }][] = [
      ...Object.entries(domain.profiles).map(([n, p]): [readonly string[], typeof p] => [['domains', domainName, 'profiles', n], p]),
      ...Object.entries(domain.machines).map(([n, m]): [readonly string[], typeof m] => [['domains', domainName, 'machines', n], m]),
    ];
    for (const [path, owner] of owners) {
      for (const f of unsafeFindings(domainName, owner.config, owner.devices, { global: input.global, addresses })) {
        if (!refused.includes(f.kind) || owner.allow_unsafe.includes(f.kind)) continue;
        issues.push({
          rule: `boundary-${f.kind}`,
          path: [...path, ...f.at],
          atKey: true,
          message: `${f.message}; refused in a ${domain.trust_level} domain`,
          hint: `if this is really meant, add "allow_unsafe: [${f.kind}]" to ${path[path.length - 2] === 'profiles' ? 'the profile' : 'the machine'}; plan and status will warn about it`,
        });
      }
    }
  }
  return issues;
}
