import type { DesiredInfra } from '../schemas/model.js';
import { formatIpv4, parseCidr } from '../shared/ipv4.js';
import { AI_ACCESS_SET, FirewallRenderError, NOT_INTERNET } from './render.js';
import { BRIDGE_WILDCARD, type Match, type Rule, type Ruleset } from './ruleset.js';

/**
 * The firewall as Incus network ACLs (docs/cluster.md), for an Incus cluster or
 * a remote Incus, where anklume cannot write the host's nftables: one ACL per
 * domain, set on its bridge with both default actions `drop`, so every member
 * renders it into its own `table inet incus`.
 *
 * It is not a second reading of infra.yml: it translates the ruleset that
 * render.ts builds for the host table (the one home of what a policy, an AI
 * opening, exclusive access or an egress level means), rule by rule. A rule
 * the ACL form cannot say exactly is either inherent in it (established
 * traffic, the closing drops: the default action), made stricter, or listed
 * in `limits`; a rule it does not know is an error (fail closed), never
 * silently left out.
 */

/** One Incus ACL rule, with every field Incus returns (so desired and live compare field by field). */
export interface AclRule {
  readonly action: 'allow' | 'drop';
  readonly source: string;
  readonly destination: string;
  readonly protocol: string;
  readonly source_port: string;
  readonly destination_port: string;
  readonly icmp_type: string;
  readonly icmp_code: string;
  readonly description: string;
  readonly state: 'enabled';
}

export interface DomainAcl {
  readonly domain: string;
  /** `anklume-<domain>`, in the default project (beside the bridge). */
  readonly name: string;
  readonly bridge: string;
  /** Traffic leaving the domain's instances (to other bridges, the host, the uplink). */
  readonly egress: readonly AclRule[];
  /** Traffic into the domain's instances. */
  readonly ingress: readonly AclRule[];
}

export interface AclRuleset {
  readonly acls: readonly DomainAcl[];
  /** What the ACL form does not enforce as the host table does (said in plan and status, never hidden). */
  readonly limits: readonly string[];
}

/** The ACL of a domain's bridge. */
export function aclName(domain: string): string {
  return `anklume-${domain}`;
}

/** What the bridge carries to use it (desired-bridge.ts): the ACL, and drop for whatever no rule allows, both ways. */
export function bridgeAclConfig(domain: string): Record<string, string> {
  return { 'security.acls': aclName(domain), 'security.acls.default.egress.action': 'drop', 'security.acls.default.ingress.action': 'drop' };
}

/** The limits every ACL rendering has (docs/cluster.md, "What the ACL form cannot say"). */
export const ACL_LIMITS = [
  'DNS, DHCP and ICMP errors from instances to their gateway are always accepted by Incus (the host table also refuses other ICMP to the host)',
  'inside a domain, what the ACL allows is by subnet: an instance using another address of its subnet is not told apart (the NIC filtering of each instance still refuses spoofed addresses)',
  'a removed or changed policy, or an AI access switch, does not cut connections already established (Incus accepts established traffic first); the host table cuts them',
  'Incus masquerades traffic leaving a bridge, between domains too: a domain sees another domain\'s gateway as the source (the sanitizer cannot tell domains apart by address)',
] as const;

const EMPTY: Omit<AclRule, 'action' | 'description'> = { source: '', destination: '', protocol: '', source_port: '', destination_port: '', icmp_type: '', icmp_code: '', state: 'enabled' };

function aclRule(action: AclRule['action'], fields: Partial<Pick<AclRule, 'source' | 'destination' | 'protocol' | 'destination_port'>>, description: string): AclRule {
  return { ...EMPTY, ...fields, action, description: description.slice(0, 120) };
}

/** The public IPv4 space (everything but {@link NOT_INTERNET}) as Incus ranges: "egress internet" without a negation. */
export function publicRanges(): string {
  const blocks = NOT_INTERNET.map((c) => {
    const cidr = parseCidr(c);
    if (cidr === null) throw new FirewallRenderError(`internal: ${c} is not a CIDR`);
    return [cidr.network, cidr.network + 2 ** (32 - cidr.prefix) - 1] as const;
  }).sort((a, b) => a[0] - b[0]);
  const ranges: string[] = [];
  let next = 0;
  for (const [first, last] of blocks) {
    if (first > next) ranges.push(`${formatIpv4(next)}-${formatIpv4(first - 1)}`);
    next = Math.max(next, last + 1);
  }
  if (next <= 0xffffffff) ranges.push(`${formatIpv4(next)}-${formatIpv4(0xffffffff)}`);
  return ranges.join(',');
}

interface Parsed {
  fromBridges: string[] | null; // null: not from a bridge named here
  toBridges: string[] | null; // null: not to a bridge named here
  toOutside: boolean; // oifname != net-*
  fromOutside: boolean; // iifname != net-*
  fromAny: boolean; // iifname == net-*
  toAny: boolean; // oifname == net-*
  notFromSet: boolean;
  notBridge: string[]; // iifname/oifname != net-x
  saddr: string | null;
  daddr: string | null;
  saddrNot: boolean;
  daddrNot: boolean;
  protocol: string;
  ports: string;
  stateful: boolean;
}

function parse(rule: Rule, sets: ReadonlyMap<string, readonly string[]>): Parsed {
  const p: Parsed = { fromBridges: null, toBridges: null, toOutside: false, fromOutside: false, fromAny: false, toAny: false, notFromSet: false, notBridge: [], saddr: null, daddr: null, saddrNot: false, daddrNot: false, protocol: '', ports: '', stateful: false };
  for (const m of rule.matches) parseMatch(p, m, sets);
  return p;
}

function parseMatch(p: Parsed, m: Match, sets: ReadonlyMap<string, readonly string[]>): void {
  switch (m.kind) {
    case 'iifname':
      if (m.value === BRIDGE_WILDCARD) {
        if (m.op === '==') p.fromAny = true;
        else p.fromOutside = true;
      } else if (m.op === '==') p.fromBridges = [m.value];
      else p.notBridge.push(m.value);
      return;
    case 'oifname':
      if (m.value === BRIDGE_WILDCARD) {
        if (m.op === '==') p.toAny = true;
        else p.toOutside = true;
      } else if (m.op === '==') p.toBridges = [m.value];
      else p.notBridge.push(m.value);
      return;
    case 'iifname-set':
      if (m.set !== AI_ACCESS_SET) throw new FirewallRenderError(`ACL rendering: unknown set ${m.set}`);
      if (m.op === '==') p.fromBridges = [...(sets.get(m.set) ?? [])];
      else p.notFromSet = true;
      return;
    case 'oifname-set':
      if (m.set !== AI_ACCESS_SET) throw new FirewallRenderError(`ACL rendering: unknown set ${m.set}`);
      if (m.op === '==') p.toBridges = [...(sets.get(m.set) ?? [])];
      else p.notFromSet = true;
      return;
    case 'saddr':
      p.saddr = m.value;
      p.saddrNot = m.op === '!=';
      return;
    case 'daddr':
      p.daddr = m.value;
      p.daddrNot = m.op === '!=';
      return;
    case 'dport':
      p.protocol = m.protocol;
      p.ports = m.ports.join(',');
      return;
    case 'ct-state':
    case 'ct-mark':
    case 'ct-mark-set':
      p.stateful = true;
      return;
  }
}

/**
 * Translate the host ruleset (renderFirewall's output for this model) into one
 * ACL per enabled domain. Pure.
 */
export function renderAcls(model: DesiredInfra, ruleset: Ruleset): AclRuleset {
  const domains = model.domains.filter((d) => d.enabled);
  const byBridge = new Map(domains.map((d) => [d.bridge, d]));
  const egress = new Map<string, AclRule[]>(domains.map((d) => [d.bridge, []]));
  const ingress = new Map<string, AclRule[]>(domains.map((d) => [d.bridge, []]));
  const limits = new Set<string>(ACL_LIMITS);
  const sets = new Map(ruleset.sets.map((s) => [s.name, s.elements]));
  const subnet = (bridge: string): string => {
    const d = byBridge.get(bridge);
    if (d === undefined) throw new FirewallRenderError(`ACL rendering: bridge ${bridge} is not an enabled domain's`);
    return d.network.subnet;
  };
  const add = (map: Map<string, AclRule[]>, bridge: string, rule: AclRule): void => {
    const list = map.get(bridge);
    if (list === undefined) throw new FirewallRenderError(`ACL rendering: bridge ${bridge} is not an enabled domain's`);
    if (!list.some((r) => JSON.stringify(r) === JSON.stringify(rule))) list.push(rule);
  };
  const ports = (p: Parsed): Partial<AclRule> => (p.protocol === '' ? {} : { protocol: p.protocol, destination_port: p.ports });

  for (const chain of ruleset.chains) {
    if (chain.type !== 'filter') continue; // NAT (source kept between domains): see ACL_LIMITS
    for (const rule of chain.rules) {
      const p = parse(rule, sets);
      const comment = rule.comment ?? '';
      if (p.stateful) continue; // established/related: Incus accepts them first; invalid: conntrack drops them
      if (p.fromOutside) continue; // not from an anklume bridge: left alone in both forms
      if (rule.verdict === 'drop') {
        if (p.fromBridges === null && p.toBridges === null) continue; // a closing drop: the ACLs' default action
        if (p.notFromSet) continue; // exclusive access: only the holder has an allow rule (see ACL_LIMITS for open connections)
        // A guard on named bridges (ai_sanitize always): an ACL drop wins over every allow, as the guard comes first in the table.
        if (p.saddrNot) limits.add(`${comment}: the ACL form drops it for the whole domain, the exception for ${p.saddr ?? ''} included`);
        for (const from of p.fromBridges ?? []) {
          for (const to of p.toBridges ?? [null]) {
            const rule = aclRule('drop', { source: subnet(from), destination: p.daddr ?? (to === null ? '' : subnet(to)), ...ports(p) }, comment);
            add(egress, from, rule);
            if (to !== null) add(ingress, to, rule);
          }
        }
        continue;
      }
      if (rule.verdict !== 'accept') throw new FirewallRenderError(`ACL rendering: no ACL form for verdict ${rule.verdict}`);
      if (p.notBridge.length > 0 || p.daddrNot) throw new FirewallRenderError(`ACL rendering: no ACL form for "${comment}"`);
      const froms = p.fromBridges ?? [];
      if (p.fromBridges === null && !p.fromAny) throw new FirewallRenderError(`ACL rendering: no ACL form for "${comment}" (no source bridge)`);
      if (p.fromAny) {
        if (chain.hook === 'input' && p.protocol === 'udp' && p.ports === '67') continue; // DHCP: always accepted by Incus
        throw new FirewallRenderError(`ACL rendering: no ACL form for "${comment}" (from every bridge)`);
      }
      for (const from of froms) {
        const source = p.saddrNot ? subnet(from) : (p.saddr ?? subnet(from));
        if (chain.hook === 'input') {
          // To the host: DNS is always accepted by Incus; the rest goes to this bridge's gateway (the member's address on it).
          if (p.ports === '53') continue;
          const gateway = byBridge.get(from)?.network.gateway ?? '';
          add(egress, from, aclRule('allow', { source, destination: p.daddr ?? gateway, ...ports(p) }, comment));
          if (p.daddr === null) limits.add(`${comment}: "host" is this domain's gateway on the member, not every address of the host`);
          continue;
        }
        if (p.toBridges !== null) {
          for (const to of p.toBridges) {
            if (to === from) {
              // Inside one domain: with bridge netfilter on (Incus turns it on for bridge ACLs), traffic
              // between two instances of one bridge goes through the ACL too: allowed, as in the host table.
              const inside = aclRule('allow', { source: subnet(from), destination: subnet(from) }, comment);
              add(egress, from, inside);
              add(ingress, from, inside);
              continue;
            }
            const rule = aclRule('allow', { source, destination: p.daddr ?? subnet(to), ...ports(p) }, comment);
            add(egress, from, rule);
            add(ingress, to, rule);
          }
          continue;
        }
        if (p.toOutside) {
          // Out through the uplink: a network policy's CIDR, or the domain's egress level.
          const egressLevel = byBridge.get(from)?.egress;
          const destination = p.daddr ?? (egressLevel === 'internet' ? publicRanges() : '');
          if (p.daddr === null && egressLevel === 'lan') limits.add(`egress lan of ${from}: the ACL cannot tell the host's own addresses from the LAN; they are reachable like the LAN`);
          add(egress, from, aclRule('allow', { source, destination, ...ports(p) }, comment));
          continue;
        }
        throw new FirewallRenderError(`ACL rendering: no ACL form for "${comment}"`);
      }
    }
  }
  const acls = domains.map((d): DomainAcl => ({ domain: d.name, name: aclName(d.name), bridge: d.bridge, egress: egress.get(d.bridge) ?? [], ingress: ingress.get(d.bridge) ?? [] }));
  return { acls, limits: [...limits] };
}
