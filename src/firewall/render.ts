import type { DesiredInfra, DesiredPolicy, PolicyEndpoint } from '../schemas/model.js';
import { ollamaEndpoint, sanitizerEndpoint } from '../schemas/services.js';
import { parseCidr, parseIpv4 } from '../shared/ipv4.js';
import { AnklumeError } from '../shared/errors.js';
import { createHash } from 'node:crypto';
import { BRIDGE_WILDCARD, type Chain, type Match, type NamedSet, type Rule, type Ruleset } from './ruleset.js';

/** Before Incus's own chains (priority filter), so anklume decides first. */
export const CHAIN_PRIORITY = -10;
/** The named set of the bridges that hold exclusive AI access: a switch rewrites one element. */
export const AI_ACCESS_SET = 'ai_access';
/** The named set of the marks of the grants in force (see {@link granted}). */
export const GRANTS_SET = 'grants';

/**
 * A grant (a policy, a reverse, an ai_provider opening) marks the connections
 * it lets in with a mark of its own, derived from what it matches; established
 * traffic is accepted only while that mark is in the grants set. So removing or
 * changing a grant cuts the connections it carried at once, as a revoked AI
 * access holder's are. Connections no grant opened (inside a domain, out to
 * the uplink, from the host) carry mark 0 and are left as they are.
 */
function granted(rule: Rule): Rule {
  const digest = createHash('sha256').update(JSON.stringify(rule.matches)).digest();
  // 31 bits, never 0 (0 is "no grant"): stable for the same matches, whatever the comment.
  return { ...rule, mark: (digest.readUInt32BE(0) & 0x7fffffff) || 1 };
}

/** Established and related traffic: through a grant still in force, or through none; the rest was a grant since removed. */
function establishedRules(): Rule[] {
  const established: Match = { kind: 'ct-state', states: ['established', 'related'] };
  return [
    { matches: [established, { kind: 'ct-mark-set', set: GRANTS_SET }], verdict: 'accept' },
    { matches: [established, { kind: 'ct-mark', value: 0 }], verdict: 'accept' },
    { matches: [established], verdict: 'drop', comment: 'opened through a grant since removed' },
  ];
}

export interface RenderOptions {
  /**
   * With ai_access_policy: exclusive, the domain that holds access now (after
   * switch-ai), null for nobody. Defaults to ai_access_default.
   */
  readonly aiAccessHolder?: string | null;
}

export class FirewallRenderError extends AnklumeError {
  constructor(message: string) {
    super('FIREWALL_RENDER', message);
  }
}

// An interface name nft accepts and that cannot break out of its quotes.
const IFNAME = /^[a-z0-9][a-z0-9-]{0,14}$/;

function bridgeOf(domain: string): string {
  const name = `net-${domain}`;
  if (!IFNAME.test(name)) throw new FirewallRenderError(`bridge name "${name}" is not a valid interface name`);
  return name;
}

function address(value: string): string {
  if (parseIpv4(value) === null && parseCidr(value) === null) throw new FirewallRenderError(`"${value}" is not an IPv4 address or CIDR`);
  return value;
}

/**
 * Policy descriptions become rule comments. nft has no escape inside a quoted
 * string, so anything but plain characters is replaced: no description can
 * close the quote and inject a rule. nft keeps at most 128 bytes.
 */
export function safeComment(text: string): string {
  return text.replace(/[^A-Za-z0-9 _.,:;()/+=@%-]/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 120);
}

/** The policy's comment: its index (stable across edits of other text) and its description. */
function policyComment(policy: DesiredPolicy, suffix = ''): string {
  return safeComment(`policy ${policy.index}${suffix}${policy.description === '' ? '' : `: ${policy.description}`}`);
}

type Side = 'from' | 'to';

/** Matches that select one endpoint as source (`from`) or destination (`to`) of forwarded traffic. */
function endpointMatches(endpoint: PolicyEndpoint, side: Side, aiSet: boolean): Match[] {
  if (endpoint.kind === 'host') throw new FirewallRenderError('internal: host endpoints are not forwarded traffic');
  // Through the host's uplink, never into a bridge: a wide range (a VPN's 10.0.0.0/8) cannot open another domain.
  if (endpoint.kind === 'network') {
    if (side === 'from') throw new FirewallRenderError(`a policy cannot come from ${endpoint.cidr}: addresses outside anklume are destinations only`);
    return [{ kind: 'oifname', op: '!=', value: BRIDGE_WILDCARD }, { kind: 'daddr', value: address(endpoint.cidr) }];
  }
  if (aiSet) return [{ kind: side === 'from' ? 'iifname-set' : 'oifname-set', op: '==', set: AI_ACCESS_SET }];
  const iface: Match = { kind: side === 'from' ? 'iifname' : 'oifname', op: '==', value: bridgeOf(endpoint.domain) };
  if (endpoint.kind === 'domain') return [iface];
  return [iface, { kind: side === 'from' ? 'saddr' : 'daddr', value: address(endpoint.ip) }];
}

function portMatches(policy: DesiredPolicy): Match[] {
  if (policy.ports === 'all') return [];
  for (const p of policy.ports) if (!Number.isInteger(p) || p < 1 || p > 65535) throw new FirewallRenderError(`port ${p} is out of range`);
  return [{ kind: 'dport', protocol: policy.protocol, ports: policy.ports }];
}

/**
 * With exclusive access, traffic between ai-tools and any other domain's
 * bridge that is not in the holder set is dropped, new or established: a
 * switch (one set element) cuts the previous holder's open connections at once.
 */
function exclusiveAccessGuards(aiBridge: string, sanitizerIp: string | null): Rule[] {
  const comment = 'exclusive AI access: only the holder, open connections included';
  // The sanitizer serves every domain and checks the holder itself before it routes to Ollama.
  const notSanitizer = (kind: 'saddr' | 'daddr'): Match[] => (sanitizerIp === null ? [] : [{ kind, op: '!=', value: sanitizerIp }]);
  return [
    { matches: [{ kind: 'iifname', op: '==', value: BRIDGE_WILDCARD }, { kind: 'iifname', op: '!=', value: aiBridge }, { kind: 'iifname-set', op: '!=', set: AI_ACCESS_SET }, ...notSanitizer('saddr'), { kind: 'oifname', op: '==', value: aiBridge }], verdict: 'drop', comment },
    { matches: [{ kind: 'iifname', op: '==', value: aiBridge }, { kind: 'oifname', op: '==', value: BRIDGE_WILDCARD }, { kind: 'oifname', op: '!=', value: aiBridge }, { kind: 'oifname-set', op: '!=', set: AI_ACCESS_SET }, ...notSanitizer('daddr')], verdict: 'drop', comment },
  ];
}

/**
 * What ai_provider implies (spec/000 §3-4): a domain that uses the cloud
 * (cloud, local-first) or sanitizes everything (`ai_sanitize: always`) reaches
 * the sanitizer's port and nothing else of its domain; with open access, a
 * domain that uses local AI (local, local-first) without `always` reaches
 * Ollama (with exclusive access only the holder does, through the set); the
 * sanitizer reaches Ollama.
 */
function aiOpenings(model: DesiredInfra): Rule[] {
  const sanitizer = sanitizerEndpoint(model);
  const ollama = ollamaEndpoint(model);
  const rules: Rule[] = [];
  for (const d of model.domains.filter((x) => x.enabled)) {
    const from: Match = { kind: 'iifname', op: '==', value: bridgeOf(d.name) };
    const cloud = d.aiProvider === 'cloud' || d.aiProvider === 'local-first';
    const local = d.aiProvider === 'local' || d.aiProvider === 'local-first';
    const always = d.aiSanitize === 'always';
    if (sanitizer !== null && ((cloud && d.trustLevel !== 'disposable') || always) && d.name !== sanitizer.domain) {
      rules.push({ matches: [from, { kind: 'oifname', op: '==', value: bridgeOf(sanitizer.domain) }, { kind: 'daddr', value: address(sanitizer.ip) }, { kind: 'dport', protocol: 'tcp', ports: [sanitizer.port] }], verdict: 'accept', comment: safeComment(`ai_provider ${d.aiProvider}${always ? ', ai_sanitize always' : ''}: ${d.name} reaches the sanitizer`) });
    }
    if (ollama !== null && local && !always && model.ai.accessPolicy === 'open' && d.name !== ollama.domain) {
      rules.push({ matches: [from, { kind: 'oifname', op: '==', value: bridgeOf(ollama.domain) }, { kind: 'daddr', value: address(ollama.ip) }, { kind: 'dport', protocol: 'tcp', ports: [ollama.port] }], verdict: 'accept', comment: safeComment(`ai_provider ${d.aiProvider}: ${d.name} reaches Ollama`) });
    }
  }
  if (sanitizer !== null && ollama !== null && sanitizer.domain !== ollama.domain) {
    rules.push({ matches: [{ kind: 'iifname', op: '==', value: bridgeOf(sanitizer.domain) }, { kind: 'saddr', value: address(sanitizer.ip) }, { kind: 'oifname', op: '==', value: bridgeOf(ollama.domain) }, { kind: 'daddr', value: address(ollama.ip) }, { kind: 'dport', protocol: 'tcp', ports: [ollama.port] }], verdict: 'accept', comment: 'the sanitizer reaches Ollama' });
  }
  return rules;
}

/**
 * `ai_sanitize: always` means the domain's prompts reach the local model only
 * through the sanitizer: its traffic to Ollama's port is dropped whatever opens
 * it (holding exclusive access; validate refuses a policy that would), new or
 * established, so turning `always` on cuts a direct connection already open.
 */
function sanitizeAlwaysGuards(model: DesiredInfra): Rule[] {
  const ollama = ollamaEndpoint(model);
  if (ollama === null) return [];
  const sanitizer = sanitizerEndpoint(model);
  return model.domains
    .filter((d) => d.enabled && d.aiSanitize === 'always' && d.name !== ollama.domain)
    .map((d) => ({
      matches: [
        { kind: 'iifname', op: '==', value: bridgeOf(d.name) },
        // The sanitizer itself may live in this domain: its own way to Ollama stays open.
        ...(sanitizer !== null && sanitizer.domain === d.name ? [{ kind: 'saddr', op: '!=', value: address(sanitizer.ip) } as const] : []),
        { kind: 'oifname', op: '==', value: bridgeOf(ollama.domain) },
        { kind: 'daddr', value: address(ollama.ip) },
        { kind: 'dport', protocol: 'tcp', ports: [ollama.port] },
      ],
      verdict: 'drop',
      comment: safeComment(`ai_sanitize always: ${d.name} reaches Ollama only through the sanitizer`),
    }));
}

const domainOf = (e: PolicyEndpoint): string | null => (e.kind === 'domain' || e.kind === 'machine' ? e.domain : null);

/**
 * Addresses that are not the internet: the host's LAN and VPNs (RFC 1918),
 * carrier-grade NAT, link-local, loopback, multicast and reserved. A domain
 * with `egress: internet` reaches none of them through the host.
 */
export const NOT_INTERNET = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', '127.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4'] as const;

/**
 * What leaves a domain for somewhere that is not an anklume bridge, after the
 * policies: `lan` everything, `internet` public addresses only, `none` nothing;
 * then everything else out of a domain is dropped (IPv6 included).
 */
function egressRules(domains: DesiredInfra['domains']): Rule[] {
  const out: Match = { kind: 'oifname', op: '!=', value: BRIDGE_WILDCARD };
  // A grant like a policy: narrowing a domain's egress cuts what it had open.
  const accept = (d: DesiredInfra['domains'][number]): Rule => granted({ matches: [{ kind: 'iifname', op: '==', value: bridgeOf(d.name) }, out], verdict: 'accept', comment: safeComment(`egress ${d.egress}: ${d.name}`) });
  return [
    ...domains.filter((d) => d.egress === 'lan').map(accept),
    ...NOT_INTERNET.map((cidr): Rule => ({ matches: [{ kind: 'iifname', op: '==', value: BRIDGE_WILDCARD }, out, { kind: 'daddr', value: cidr }], verdict: 'drop', comment: 'egress internet: not to private ranges' })),
    ...domains.filter((d) => d.egress === 'internet').map(accept),
    { matches: [{ kind: 'iifname', op: '==', value: BRIDGE_WILDCARD }], verdict: 'drop', comment: 'out of a domain: only what egress and policies declare' },
  ];
}

/**
 * The firewall of the whole model (pure). Never of a subset: the table is
 * replaced as a whole, so rendering one domain alone would wipe the others.
 *
 * forward: traffic that involves no anklume bridge is left alone; anklume
 * traffic is accepted when established or inside one domain or declared by a
 * policy, and dropped otherwise (between bridges, and into a bridge from
 * anywhere else). input: what instances send to the host itself is dropped
 * except DHCP, DNS and the domain view to their own gateway, and policies
 * `to: host`.
 */
export function renderFirewall(model: DesiredInfra, options: RenderOptions = {}): Ruleset {
  const exclusive = model.ai.accessPolicy === 'exclusive';
  const holder = options.aiAccessHolder === undefined ? model.ai.accessDefault : options.aiAccessHolder;
  const enabled = model.domains.filter((d) => d.enabled);
  const enabledNames = new Set(enabled.map((d) => d.name));
  const active = (p: DesiredPolicy): boolean => [p.from, p.to].map(domainOf).every((d) => d === null || enabledNames.has(d));

  const forward: Rule[] = [
    { matches: [{ kind: 'iifname', op: '!=', value: BRIDGE_WILDCARD }, { kind: 'oifname', op: '!=', value: BRIDGE_WILDCARD }], verdict: 'accept', comment: 'not anklume traffic: left alone' },
    // Before established connections are accepted: revoking access cuts the connections already open.
    ...sanitizeAlwaysGuards(model),
    ...(exclusive && enabledNames.has(model.ai.toolsDomain) ? exclusiveAccessGuards(bridgeOf(model.ai.toolsDomain), sanitizerEndpoint(model)?.ip ?? null) : []),
    ...establishedRules(),
    { matches: [{ kind: 'ct-state', states: ['invalid'] }], verdict: 'drop' },
  ];
  for (const d of enabled) {
    const bridge = bridgeOf(d.name);
    forward.push({ matches: [{ kind: 'iifname', op: '==', value: bridge }, { kind: 'oifname', op: '==', value: bridge }], verdict: 'accept', comment: safeComment(`inside domain ${d.name}`) });
  }

  const input: Rule[] = [
    { matches: [{ kind: 'iifname', op: '!=', value: BRIDGE_WILDCARD }], verdict: 'accept', comment: 'not from an anklume bridge: left alone' },
    ...establishedRules(),
    { matches: [{ kind: 'ct-state', states: ['invalid'] }], verdict: 'drop' },
    // DHCP requests are broadcast: no destination address to pin.
    { matches: [{ kind: 'iifname', op: '==', value: BRIDGE_WILDCARD }, { kind: 'dport', protocol: 'udp', ports: [67] }], verdict: 'accept', comment: 'DHCP from instances' },
  ];
  for (const d of enabled) {
    const bridge = bridgeOf(d.name);
    const gateway = address(d.network.gateway);
    for (const protocol of ['udp', 'tcp'] as const) {
      input.push({ matches: [{ kind: 'iifname', op: '==', value: bridge }, { kind: 'daddr', value: gateway }, { kind: 'dport', protocol, ports: [53] }], verdict: 'accept', comment: safeComment(`DNS of domain ${d.name}`) });
    }
    // The domain view (anklumed, docs/monitoring.md): this bridge to its own gateway only, so
    // no other domain reaches it (the server also checks that the addresses match the bridge).
    if (model.domainView.enabled) {
      input.push({ matches: [{ kind: 'iifname', op: '==', value: bridge }, { kind: 'daddr', value: gateway }, { kind: 'dport', protocol: 'tcp', ports: [model.domainView.port] }], verdict: 'accept', comment: safeComment(`domain view of ${d.name}`) });
    }
  }

  // With exclusive access, the one policy into ai-tools follows the holder; with none declared, the spec's default applies.
  const policies: { policy: DesiredPolicy; aiAccess: boolean }[] = [];
  let aiPolicy = false;
  for (const p of model.policies) {
    if (!active(p)) continue;
    const aiAccess = exclusive && domainOf(p.to) === model.ai.toolsDomain && p.from.kind !== 'host' && domainOf(p.from) !== model.ai.toolsDomain;
    aiPolicy ||= aiAccess;
    policies.push({ policy: p, aiAccess });
  }
  if (exclusive && !aiPolicy && enabledNames.has(model.ai.toolsDomain)) {
    policies.push({
      policy: { index: -1, description: 'exclusive AI access (default: holder and ai-tools, both ways)', from: { kind: 'domain', domain: holder ?? model.ai.toolsDomain }, to: { kind: 'domain', domain: model.ai.toolsDomain }, ports: 'all', protocol: 'tcp', bidirectional: true },
      aiAccess: true,
    });
  }

  for (const { policy, aiAccess } of policies) {
    const comment = policy.index < 0 ? safeComment(policy.description) : policyComment(policy);
    const reverseComment = policy.index < 0 ? comment : policyComment(policy, ' reverse');
    const ports = portMatches(policy);
    const { from, to } = policy;
    if (to.kind === 'host' && from.kind !== 'host') {
      input.push(granted({ matches: [...endpointMatches(from, 'from', false), ...ports], verdict: 'accept', comment }));
      continue;
    }
    if (from.kind === 'host' && to.kind !== 'host') {
      // The host reaches instances through its output path, which anklume leaves open; the reverse is an input rule.
      if (policy.bidirectional) input.push(granted({ matches: [...endpointMatches(to, 'from', false), ...ports], verdict: 'accept', comment: reverseComment }));
      continue;
    }
    if (from.kind === 'host' || to.kind === 'host') continue;
    if (to.kind === 'network') {
      // Before the egress drops, which it overrides for its ports; one way only (validate refuses bidirectional).
      forward.push(granted({ matches: [...endpointMatches(from, 'from', false), ...endpointMatches(to, 'to', false), ...ports], verdict: 'accept', comment }));
      continue;
    }
    if (!aiAccess && domainOf(from) === to.domain) continue; // inside one domain: already accepted
    forward.push(granted({ matches: [...endpointMatches(from, 'from', aiAccess), ...endpointMatches(to, 'to', false), ...ports], verdict: 'accept', comment }));
    if (policy.bidirectional) {
      forward.push(granted({ matches: [...endpointMatches(to, 'from', false), ...endpointMatches(from, 'to', aiAccess), ...ports], verdict: 'accept', comment: reverseComment }));
    }
  }

  forward.push(...aiOpenings(model).map(granted));
  forward.push(
    { matches: [{ kind: 'iifname', op: '==', value: BRIDGE_WILDCARD }, { kind: 'oifname', op: '==', value: BRIDGE_WILDCARD }], verdict: 'drop', comment: 'between domains: only what network_policies declare' },
    { matches: [{ kind: 'oifname', op: '==', value: BRIDGE_WILDCARD }], verdict: 'drop', comment: 'into a domain from outside anklume' },
    ...egressRules(enabled),
  );
  input.push({ matches: [], verdict: 'drop', comment: 'instances reach the host only as declared' });

  const chains: Chain[] = [
    { name: 'forward', type: 'filter', hook: 'forward', priority: CHAIN_PRIORITY, policy: 'accept', rules: forward },
    { name: 'input', type: 'filter', hook: 'input', priority: CHAIN_PRIORITY, policy: 'accept', rules: input },
    // Incus masquerades everything leaving a NAT bridge, other bridges included. Between
    // domains the source address must survive: the sanitizer tells domains apart by it.
    { name: 'postrouting', type: 'nat', hook: 'postrouting', priority: CHAIN_PRIORITY, policy: 'accept', rules: [{ matches: [{ kind: 'iifname', op: '==', value: BRIDGE_WILDCARD }, { kind: 'oifname', op: '==', value: BRIDGE_WILDCARD }], verdict: 'keep-source', comment: 'source addresses survive between domains' }] },
  ];
  const sets: NamedSet[] = exclusive ? [{ name: AI_ACCESS_SET, type: 'ifname', elements: holder !== null && enabledNames.has(holder) ? [bridgeOf(holder)] : [] }] : [];
  const marks = [...forward, ...input].flatMap((r) => (r.mark === undefined ? [] : [String(r.mark)]));
  sets.push({ name: GRANTS_SET, type: 'mark', elements: [...new Set(marks)] });
  return { sets, chains };
}

/**
 * The table loaded at boot when anklume has never applied one: nothing enters
 * or leaves any `net-*` bridge, not even DHCP or DNS to the host. anklumed
 * replaces it with the rendered table on its first pass. Its shipped copy
 * (deploy/anklume-firewall-load.sh) is compared with this by a test.
 */
export function renderClosedFirewall(): Ruleset {
  const closed = (hook: 'forward' | 'input', rules: Rule[]): Chain => ({ name: hook, type: 'filter', hook, priority: CHAIN_PRIORITY, policy: 'accept', rules });
  const from: Match = { kind: 'iifname', op: '==', value: BRIDGE_WILDCARD };
  const to: Match = { kind: 'oifname', op: '==', value: BRIDGE_WILDCARD };
  return {
    sets: [],
    chains: [
      closed('forward', [
        { matches: [from], verdict: 'drop', comment: 'closed until anklume applies its rules' },
        { matches: [to], verdict: 'drop', comment: 'closed until anklume applies its rules' },
      ]),
      closed('input', [{ matches: [from], verdict: 'drop', comment: 'closed until anklume applies its rules' }]),
    ],
  };
}
