// @ts-check
// Pure parts of the anklume-scan skill: read nmap's XML, compare a scan with the
// declared inventory and the last baseline. No I/O here, so anklume's unit tests
// run it on real nmap output. Runs on the Node of the pinned OpenClaw install;
// no dependency, since nothing is installed in the instance.

/**
 * @typedef {{ port: number, protocol: string, service: string, product: string, version: string }} OpenPort
 * @typedef {{ ip: string, hostnames: string[], ports: OpenPort[] }} ScannedHost
 * @typedef {{ ip: string, name: string, roles: string[], ports: number[] | 'all' }} DeclaredHost
 * @typedef {{ domain: string, subnet: string, gateway: string, scanner: string, hosts: DeclaredHost[] }} Inventory
 * @typedef {{ scannedAt: string, hosts: ScannedHost[] }} Baseline
 * @typedef {{ kind: string, severity: 'info' | 'suspect' | 'critical', ip: string, port?: number, detail: string }} Finding
 */

/** @param {string} s */
const unescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');

/** Attributes of one XML start tag. @param {string} tag @returns {Record<string, string>} */
function attributes(tag) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const m of tag.matchAll(/([\w:-]+)="([^"]*)"/g)) out[/** @type {string} */ (m[1])] = unescape(/** @type {string} */ (m[2]));
  return out;
}

/**
 * The hosts that are up and their open ports, from `nmap -oX -`. nmap's XML
 * is flat and regular (one <host> per host, one <port> per port), so a small
 * reader is enough; anything else than nmap's root element is refused.
 * @param {string} xml
 * @returns {ScannedHost[]}
 */
export function parseNmapXml(xml) {
  if (!/<nmaprun[\s>]/.test(xml)) throw new Error('not nmap XML output (no <nmaprun> element)');
  /** @type {ScannedHost[]} */
  const hosts = [];
  for (const block of xml.match(/<host[\s>][\s\S]*?<\/host>/g) ?? []) {
    const status = block.match(/<status\s[^>]*>/);
    if (status === null || attributes(status[0]).state !== 'up') continue;
    const address = [...block.matchAll(/<address\s[^>]*>/g)].map((m) => attributes(m[0])).find((a) => a.addrtype === 'ipv4');
    if (address?.addr === undefined) continue;
    const hostnames = [...block.matchAll(/<hostname\s[^>]*>/g)].map((m) => attributes(m[0]).name ?? '').filter((n) => n !== '');
    /** @type {OpenPort[]} */
    const ports = [];
    for (const p of block.match(/<port\s[\s\S]*?<\/port>/g) ?? []) {
      const head = attributes(/** @type {string} */ (p.match(/<port\s[^>]*>/)?.[0]));
      const state = attributes(p.match(/<state\s[^>]*>/)?.[0] ?? '').state;
      if (state !== 'open') continue;
      const service = attributes(p.match(/<service\s[^>]*>/)?.[0] ?? '');
      ports.push({ port: Number(head.portid), protocol: head.protocol ?? 'tcp', service: service.name ?? '', product: service.product ?? '', version: service.version ?? '' });
    }
    ports.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
    hosts.push({ ip: address.addr, hostnames, ports });
  }
  return hosts.sort((a, b) => ipOrder(a.ip) - ipOrder(b.ip));
}

/** @param {string} ip */
function ipOrder(ip) {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

/** Ports well-known services use above 1024, scanned besides 1-1024 and the declared ones. */
const COMMON_HIGH_PORTS = [1433, 1521, 2049, 2375, 2376, 3000, 3306, 3389, 5000, 5432, 5900, 6379, 6443, 8000, 8006, 8080, 8081, 8089, 8443, 8888, 9000, 9090, 9200, 11434, 18789, 27017];

/**
 * The TCP ports to scan (nmap `-p`): the well-known range, common service
 * ports above it, and every port the inventory expects open, so a declared
 * service that stops is seen wherever it listens.
 * @param {Inventory} inventory
 */
export function portSpec(inventory) {
  const ports = new Set(COMMON_HIGH_PORTS);
  for (const h of inventory.hosts) if (h.ports !== 'all') for (const p of h.ports) if (p > 1024) ports.add(p);
  return ['1-1024', ...[...ports].sort((a, b) => a - b)].join(',');
}

/**
 * Without a baseline (the first scan), what the inventory declares stands in
 * for it: declared machines are expected, with the ports their policies open.
 * @param {Inventory} inventory
 * @returns {Baseline}
 */
export function baselineFromInventory(inventory) {
  return {
    scannedAt: '',
    hosts: inventory.hosts.map((h) => ({ ip: h.ip, hostnames: [h.name], ports: h.ports === 'all' ? [] : h.ports.map((port) => ({ port, protocol: 'tcp', service: '', product: '', version: '' })) })),
  };
}

/** @param {OpenPort} p */
const serviceOf = (p) => [p.service, p.product, p.version].filter((x) => x !== '').join(' ');

/**
 * What changed since the baseline, each change judged against the inventory:
 * an undeclared host, or a port no policy opens, is suspect; a declared
 * machine that stopped answering is suspect; the rest is information. The
 * domain's gateway (the host's side of the bridge) is anklume's own: info.
 * @param {{ scan: ScannedHost[], inventory: Inventory, baseline: Baseline | null }} input
 * @returns {{ findings: Finding[], verdict: 'normal' | 'suspect' | 'critical', undeclared: string[] }}
 */
export function compareScan({ scan, inventory, baseline }) {
  const base = baseline ?? baselineFromInventory(inventory);
  const declared = new Map(inventory.hosts.map((h) => [h.ip, h]));
  const before = new Map(base.hosts.map((h) => [h.ip, h]));
  const now = new Map(scan.map((h) => [h.ip, h]));
  /** @type {Finding[]} */
  const findings = [];
  /** @param {string} ip @param {number} port */
  const expected = (ip, port) => {
    const d = declared.get(ip);
    return d !== undefined && (d.ports === 'all' || d.ports.includes(port));
  };
  /** @param {string} ip @param {'info' | 'suspect'} severity @returns {'info' | 'suspect'} */
  const judged = (ip, severity) => (ip === inventory.gateway ? 'info' : severity);

  for (const host of scan) {
    const old = before.get(host.ip);
    const name = declared.get(host.ip)?.name;
    if (old === undefined) {
      const open = host.ports.map((p) => `${p.port}/${p.protocol}`).join(', ') || 'no open port';
      findings.push({ kind: 'new-host', severity: judged(host.ip, name === undefined ? 'suspect' : 'info'), ip: host.ip, detail: `${name === undefined ? 'undeclared host' : `declared machine ${name}`} answers (${open})` });
    }
    const oldPorts = new Map((old?.ports ?? []).map((p) => [`${p.port}/${p.protocol}`, p]));
    for (const p of host.ports) {
      const was = oldPorts.get(`${p.port}/${p.protocol}`);
      if (was === undefined) {
        if (old === undefined && name === undefined) continue; // already told as part of the new host
        findings.push({ kind: 'new-port', severity: judged(host.ip, expected(host.ip, p.port) ? 'info' : 'suspect'), ip: host.ip, port: p.port, detail: `${p.port}/${p.protocol} open (${serviceOf(p) || 'unknown service'})${expected(host.ip, p.port) ? '' : ', not opened by any policy'}` });
      } else if (serviceOf(was) !== '' && serviceOf(p) !== serviceOf(was)) {
        findings.push({ kind: 'service-changed', severity: judged(host.ip, 'suspect'), ip: host.ip, port: p.port, detail: `${p.port}/${p.protocol} was "${serviceOf(was)}", now "${serviceOf(p) || 'unknown'}"` });
      }
    }
    if (old !== undefined) {
      const open = new Set(host.ports.map((p) => `${p.port}/${p.protocol}`));
      for (const p of old.ports) {
        if (open.has(`${p.port}/${p.protocol}`)) continue;
        // A port the inventory expects that closed is a service down.
        const severity = judged(host.ip, expected(host.ip, p.port) && baseline !== null ? 'suspect' : 'info');
        // Before the first real scan, an expected port not (yet) open is not news.
        if (baseline === null && severity === 'info') continue;
        findings.push({ kind: 'closed-port', severity, ip: host.ip, port: p.port, detail: `${p.port}/${p.protocol} closed (was ${serviceOf(p) || 'open'})` });
      }
    }
  }
  for (const old of base.hosts) {
    // The host's side of the bridge may well not answer a domain (the firewall): its silence is not news.
    if (now.has(old.ip) || old.ip === inventory.gateway) continue;
    const name = declared.get(old.ip)?.name;
    findings.push({ kind: 'host-gone', severity: judged(old.ip, name !== undefined ? 'suspect' : 'info'), ip: old.ip, detail: `${name === undefined ? 'host' : `declared machine ${name}`} no longer answers` });
  }
  const undeclared = scan.filter((h) => !declared.has(h.ip) && h.ip !== inventory.gateway).map((h) => h.ip);
  const verdict = findings.some((f) => f.severity === 'critical') ? 'critical' : findings.some((f) => f.severity === 'suspect') ? 'suspect' : 'normal';
  return { findings, verdict, undeclared };
}
