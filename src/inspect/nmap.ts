/**
 * nmap's XML report (`nmap -oX -`), read into hosts and their open ports.
 * nmap writes a flat, well-formed document, so a scan of its tags is enough:
 * no XML library, and nothing in the text is evaluated.
 */
export interface ScannedPort {
  readonly protocol: 'tcp' | 'udp';
  readonly port: number;
  /** nmap's state: open, filtered, open|filtered… (closed ports are not listed). */
  readonly state: string;
  /** Service name from the probe or nmap's port table (`http-proxy`, `ssh`). */
  readonly service: string;
  /** Product and version when service detection saw them (`OpenSSH`, `10.0p2 Debian 7`). */
  readonly product?: string;
  readonly version?: string;
}

export interface ScannedHost {
  readonly address: string;
  readonly mac?: string;
  /** Reverse name (Incus's DNS answers `<instance>.incus`). */
  readonly hostname?: string;
  readonly ports: readonly ScannedPort[];
}

const TAG = /<(\/?)([A-Za-z]+)((?:\s+[A-Za-z_:-]+="[^"]*")*)\s*(\/?)>/g;
const ATTRIBUTE = /([A-Za-z_:-]+)="([^"]*)"/g;
const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(ATTRIBUTE)) out.set(m[1] ?? '', (m[2] ?? '').replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ENTITIES[e] ?? ''));
  return out;
}

/** Hosts nmap found up, in its order. Throws when the text is not an nmap XML report. */
export function parseNmapXml(xml: string): ScannedHost[] {
  if (!xml.includes('<nmaprun')) throw new Error('not an nmap XML report (no <nmaprun>)');
  const hosts: ScannedHost[] = [];
  let host: { address?: string | undefined; mac?: string | undefined; hostname?: string | undefined; up: boolean; ports: ScannedPort[] } | null = null;
  let port: { protocol: 'tcp' | 'udp'; port: number; state: string; service: string; product?: string; version?: string } | null = null;
  for (const m of xml.matchAll(TAG)) {
    const [, closing, name, attrText = '', selfClosing] = m;
    if (closing === '/') {
      if (name === 'port' && host !== null && port !== null) {
        if (port.state.startsWith('open')) host.ports.push(port);
        port = null;
      } else if (name === 'host' && host !== null) {
        if (host.up && host.address !== undefined) {
          hosts.push({ address: host.address, ...(host.mac === undefined ? {} : { mac: host.mac }), ...(host.hostname === undefined ? {} : { hostname: host.hostname }), ports: host.ports });
        }
        host = null;
      }
      continue;
    }
    const a = attributes(attrText);
    switch (name) {
      case 'host':
        host = { up: false, ports: [] };
        if (selfClosing === '/') host = null;
        break;
      case 'status':
        if (host !== null) host.up = a.get('state') === 'up';
        break;
      case 'address':
        if (host === null) break;
        if (a.get('addrtype') === 'ipv4' || a.get('addrtype') === 'ipv6') host.address = a.get('addr');
        else if (a.get('addrtype') === 'mac') host.mac = a.get('addr')?.toLowerCase();
        break;
      case 'hostname':
        if (host !== null && host.hostname === undefined) host.hostname = a.get('name');
        break;
      case 'port': {
        const protocol = a.get('protocol');
        const number = Number(a.get('portid'));
        port = (protocol === 'tcp' || protocol === 'udp') && Number.isInteger(number) ? { protocol, port: number, state: '', service: '' } : null;
        break;
      }
      case 'state':
        if (port !== null) port.state = a.get('state') ?? '';
        break;
      case 'service':
        if (port === null) break;
        port.service = a.get('name') ?? '';
        {
          const product = a.get('product');
          const version = a.get('version');
          if (product !== undefined) port.product = product;
          if (version !== undefined) port.version = version;
        }
        break;
      default:
        break;
    }
  }
  return hosts;
}
