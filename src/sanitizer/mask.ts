import type { Candidate } from './detect/candidate.js';
import { classifyIp, type IpClass } from './detect/ip.js';

/** The spec's generic markers (spec/003): `10.ZONE.SEQ.HOST`, `net-DOMAIN`, `Bearer [REDACTED]`. */
export const REDACTED = '[REDACTED]';

const IP_MARKERS: Readonly<Record<IpClass, string>> = {
  'anklume-zone': '10.ZONE.SEQ.HOST',
  'rfc1918-a': '10.X.X.X',
  'rfc1918-b': '172.X.X.X',
  'rfc1918-c': '192.168.X.X',
  public: 'X.X.X.X',
};

function ipMarker(address: string): string {
  return IP_MARKERS[classifyIp(address.split('.').map(Number))];
}

/** What a found value becomes in mask mode. */
export function maskFor(candidate: Candidate, value: string): string {
  if (candidate.marker !== undefined) return candidate.marker;
  switch (candidate.kind) {
    case 'secret':
      return REDACTED;
    case 'ip':
      return ipMarker(value);
    case 'cidr': {
      const [address = '', prefix = ''] = value.split('/');
      const marker = ipMarker(address);
      // A network address keeps its zero host: `10.ZONE.SEQ.0/24`.
      return `${address.endsWith('.0') && marker.endsWith('.HOST') ? marker.replace(/HOST$/, '0') : marker}/${prefix}`;
    }
    case 'ip6':
    case 'cidr6': {
      const slash = value.indexOf('/');
      const marker = /^fe[89ab]/i.test(value) ? 'fe80::HOST' : /^f[cd]/i.test(value) ? 'fdXX:XXXX:XXXX:XXXX::HOST' : 'XXXX::HOST';
      return slash < 0 ? marker : `${marker.replace(/HOST$/, '')}${value.slice(slash)}`;
    }
    case 'mac':
      // The separators stay: the model still sees which notation it was.
      return value.replace(/[0-9A-Fa-f]/g, 'X');
    case 'generalized':
      return value;
    case 'domain':
      return 'DOMAIN';
    case 'bridge':
      return 'net-DOMAIN';
    case 'instance':
      return 'DOMAIN-MACHINE';
    case 'fqdn': {
      const dot = value.lastIndexOf('.');
      return `HOST${value.slice(dot)}`;
    }
    case 'host':
      return 'HOST';
    case 'path':
      return '[PATH]';
    case 'name':
      return 'NAME';
    case 'custom':
      return REDACTED;
  }
}
