import { cidrContains, parseCidr, parseIpv4 } from '../shared/ipv4.js';
import { BRIDGE_WILDCARD, type Chain, type Match, type Rule, type Ruleset } from './ruleset.js';

/**
 * What the rendered table does to the first packet of a connection (pure):
 * the rules are walked in order as nft walks them, so `anklumectl verify`
 * expects exactly what the table it applies says, without a second reading of
 * the policies that could drift from render.ts.
 */

/** The first packet of a new connection, as the table sees it. */
export interface Packet {
  /**
   * `forward`: routed between bridges (or out of one); `input`: sent to the
   * host itself; `output`: sent by the host (anklume has no chain there).
   */
  readonly hook: 'forward' | 'input' | 'output';
  readonly iifname?: string;
  readonly oifname?: string;
  readonly saddr?: string;
  readonly daddr: string;
  readonly protocol: 'tcp' | 'udp' | 'icmp';
  /** TCP and UDP only. */
  readonly dport?: number;
}

export interface Decision {
  readonly verdict: 'accept' | 'drop';
  /** The rule that decided; absent when no rule matched (the chain's policy, or no chain on this path). */
  readonly rule?: Rule;
  /** In words: the deciding rule's comment, or why no rule decided. */
  readonly because: string;
}

function nameMatches(pattern: string, name: string | undefined): boolean {
  if (name === undefined) return false;
  // nft's interface wildcard: a trailing `*` matches any suffix.
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

function inRange(value: string, address: string | undefined): boolean {
  if (address === undefined) return false;
  const ip = parseIpv4(address);
  if (ip === null) return false;
  const exact = parseIpv4(value);
  if (exact !== null) return exact === ip;
  const cidr = parseCidr(value);
  return cidr !== null && cidrContains(cidr, ip);
}

function setOf(ruleset: Ruleset, name: string): readonly string[] {
  return ruleset.sets.find((s) => s.name === name)?.elements ?? [];
}

/**
 * One match against a new connection's first packet. `ignorePort` answers
 * "would this rule concern the packet on some port": how the probes find the
 * ports the table treats apart for a pair.
 */
function matches(ruleset: Ruleset, m: Match, p: Packet, ignorePort: boolean): boolean {
  const negate = (ok: boolean, op: '==' | '!=' | undefined): boolean => (op === '!=' ? !ok : ok);
  switch (m.kind) {
    case 'iifname':
      return negate(nameMatches(m.value, p.iifname), m.op);
    case 'oifname':
      return negate(nameMatches(m.value, p.oifname), m.op);
    case 'iifname-set':
      return negate(p.iifname !== undefined && setOf(ruleset, m.set).includes(p.iifname), m.op);
    case 'oifname-set':
      return negate(p.oifname !== undefined && setOf(ruleset, m.set).includes(p.oifname), m.op);
    case 'saddr':
      return negate(inRange(m.value, p.saddr), m.op);
    case 'daddr':
      return negate(inRange(m.value, p.daddr), m.op);
    case 'ct-state':
      // A first packet is `new`: established, related and invalid never match it.
      return m.states.includes('new');
    case 'ct-mark':
      // No grant marked a connection that does not exist yet.
      return m.value === 0;
    case 'ct-mark-set':
      return setOf(ruleset, m.set).includes('0');
    case 'dport':
      if (p.protocol !== m.protocol) return false;
      return ignorePort || (p.dport !== undefined && m.ports.includes(p.dport));
  }
}

function chainOf(ruleset: Ruleset, hook: Packet['hook']): Chain | undefined {
  return ruleset.chains.find((c) => c.type === 'filter' && c.hook === hook);
}

/** The verdict of the table on the first packet of a connection. */
export function decide(ruleset: Ruleset, packet: Packet): Decision {
  const chain = chainOf(ruleset, packet.hook);
  if (chain === undefined) return { verdict: 'accept', because: `anklume does not filter the ${packet.hook} path` };
  for (const rule of chain.rules) {
    if (rule.verdict === 'keep-source') continue;
    if (rule.matches.every((m) => matches(ruleset, m, packet, false))) return { verdict: rule.verdict, rule, because: rule.comment ?? `${rule.verdict} by an unnamed rule` };
  }
  return { verdict: chain.policy, because: `the ${chain.name} chain's policy` };
}

/**
 * The TCP or UDP ports rules name for this packet's endpoints, whatever its
 * port: a policy's ports, DNS to the gateway, Ollama's port an `ai_sanitize:
 * always` guard drops. Rules that cannot see the packet (another bridge,
 * another address) are left out, so the list stays short.
 */
export function portsNamed(ruleset: Ruleset, packet: Omit<Packet, 'dport'>): number[] {
  const chain = chainOf(ruleset, packet.hook);
  if (chain === undefined) return [];
  const ports = new Set<number>();
  for (const rule of chain.rules) {
    if (!rule.matches.every((m) => matches(ruleset, m, packet, true))) continue;
    for (const m of rule.matches) if (m.kind === 'dport' && m.protocol === packet.protocol) for (const port of m.ports) ports.add(port);
  }
  return [...ports].sort((a, b) => a - b);
}

/** Whether an interface name is an anklume bridge (what the table's `net-*` matches). */
export const isAnklumeBridge = (name: string): boolean => nameMatches(BRIDGE_WILDCARD, name);
