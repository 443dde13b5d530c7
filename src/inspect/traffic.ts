/**
 * Who talks to whom, from `tcpdump -nn -e -tt -q` text on the probe machine's
 * interface: one flow per (source, destination, protocol, destination port),
 * with packets and bytes. Lines that are not IPv4 (ARP, IPv6 router
 * solicitations) are counted apart; payloads are never read (-q prints none).
 */
export interface Flow {
  readonly from: string;
  readonly to: string;
  readonly protocol: string;
  /** The lower port of the two, which is the service's in nearly every case (ephemeral ports are high). */
  readonly port?: number;
  readonly packets: number;
  readonly bytes: number;
}

// 1796445945.807243 10:66:6a:c4:4b:0f > 10:66:6a:d6:4d:d2, IPv4, length 66: 10.231.1.10.59050 > 10.231.1.11.8080: tcp 0
const IPV4_LINE = /^\d+\.\d+ \S+ > \S+, IPv4, length (\d+): (\d+\.\d+\.\d+\.\d+)(?:\.(\d+))? > (\d+\.\d+\.\d+\.\d+)(?:\.(\d+))?: (\w+)/;

export interface Traffic {
  readonly flows: readonly Flow[];
  /** Lines that were not IPv4 packets (ARP, IPv6, tcpdump's own messages). */
  readonly otherLines: number;
}

export function parseTcpdump(text: string): Traffic {
  const flows = new Map<string, { from: string; to: string; protocol: string; port?: number; packets: number; bytes: number }>();
  let otherLines = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const m = IPV4_LINE.exec(line);
    if (m === null) {
      otherLines++;
      continue;
    }
    const [, length, src = '', sport, dst = '', dport, proto = ''] = m;
    const protocol = proto.toLowerCase();
    const ports = [sport, dport].filter((p): p is string => p !== undefined).map(Number);
    const port = ports.length === 2 ? Math.min(...ports) : undefined;
    // A flow is keyed by the client side → service side, whichever way the packet went.
    const serviceIsSource = port !== undefined && Number(sport) === port && Number(dport) !== port;
    const [from, to] = serviceIsSource ? [dst, src] : [src, dst];
    const key = `${from}>${to}/${protocol}/${port ?? ''}`;
    const flow = flows.get(key) ?? { from, to, protocol, ...(port === undefined ? {} : { port }), packets: 0, bytes: 0 };
    flow.packets++;
    flow.bytes += Number(length);
    flows.set(key, flow);
  }
  return { flows: [...flows.values()], otherLines };
}
