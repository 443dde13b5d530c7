/** Small IPv4 helpers: addresses as unsigned 32-bit numbers. */

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Parse a dotted quad ("10.110.0.5"); null when it is not one (no leading zeros, no CIDR). */
export function parseIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return null;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

export interface Cidr {
  /** Network address as a number. */
  readonly network: number;
  readonly prefix: number;
}

/** Parse "10.110.0.0/24" (host bits are cleared); null when malformed. */
export function parseCidr(text: string): Cidr | null {
  const [addr, len, ...rest] = text.split('/');
  if (addr === undefined || len === undefined || rest.length > 0 || !/^\d{1,2}$/.test(len)) return null;
  const ip = parseIpv4(addr);
  const prefix = Number(len);
  if (ip === null || prefix > 32) return null;
  return { network: ip - (ip % 2 ** (32 - prefix)), prefix };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefix}`;
}

export function cidrContains(cidr: Cidr, ip: number): boolean {
  return ip >= cidr.network && ip < cidr.network + 2 ** (32 - cidr.prefix);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b.network) || cidrContains(b, a.network);
}

/**
 * An address or network written where either may stand ("192.168.1.0/24";
 * "10.8.0.1" means 10.8.0.1/32); null when it is neither. `canonical` is false
 * when a CIDR has host bits set ("192.168.1.5/24"), which reads as a mistake.
 */
export function parseAddressOrCidr(text: string): { cidr: Cidr; canonical: boolean } | null {
  if (!text.includes('/')) {
    const ip = parseIpv4(text);
    return ip === null ? null : { cidr: { network: ip, prefix: 32 }, canonical: true };
  }
  const cidr = parseCidr(text);
  return cidr === null ? null : { cidr, canonical: formatCidr(cidr) === text };
}
