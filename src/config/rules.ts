import { validate as validCron } from 'node-cron';
import { OLLAMA_PORT } from '../schemas/ports.js';
import { KNOWN_ROLES, type Domain, type Global, type NetworkPolicy, type OpenClawCronJob } from '../schemas/infra.js';
import { cidrContains, cidrsOverlap, formatCidr, formatIpv4, parseAddressOrCidr, parseCidr, type Cidr } from '../shared/ipv4.js';
import { planAddresses, type AddressPlan } from './addressing.js';
import { checkBoundaries } from './boundary.js';
import { didYouMean, type ValidationIssue } from './issues.js';

/**
 * The cross-field rules of infra.yml (pure). They run on whatever part of the
 * file passed the schema, so one run reports every mistake.
 */

/** Names as DNS labels: RFC 1123, lower case, as the seed requires. */
const DNS_SAFE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
/** Linux interface names are at most 15 characters (IFNAMSIZ - 1). */
const IFNAME_MAX = 15;
const BRIDGE_PREFIX = 'net-';
const NAME_MAX = 63;
export const AI_TOOLS_DOMAIN = 'ai-tools';
/** Config keys anklume or Incus own; a user value would be overwritten or break ownership. */
const RESERVED_CONFIG = [/^volatile\./, /^user\.anklume\./, /^image\./];

export interface HostNetwork {
  readonly interface: string;
  readonly cidr: string;
}

export interface RuleInput {
  readonly global: Global;
  readonly domains: readonly (readonly [string, Domain])[];
  /** Policies that passed the schema, with their position in the file. */
  readonly policies: readonly { readonly index: number; readonly policy: NetworkPolicy }[];
  /** Every domain and machine name written in the file, even in parts the schema rejected (so references to them are not reported twice). */
  readonly writtenNames: { readonly domains: readonly string[]; readonly machines: ReadonlyMap<string, string> };
  /** The host's own networks; domain subnets must not overlap them. Bridges named net-* are anklume's own and skipped. */
  readonly hostNetworks?: readonly HostNetwork[];
}

export function checkRules(input: RuleInput): { issues: ValidationIssue[]; addresses: AddressPlan } {
  const issues: ValidationIssue[] = [];
  issues.push(...checkNames(input));
  const { plan, issues: addressIssues } = planAddresses(input.global, input.domains);
  issues.push(...addressIssues);
  issues.push(...checkHostOverlap(input, plan));
  issues.push(...checkMachines(input));
  issues.push(...checkBoundaries(input, plan));
  issues.push(...checkPolicies(input, plan));
  issues.push(...checkAiAccess(input));
  issues.push(...checkSanitizeAlways(input));
  issues.push(...checkGpu(input));
  issues.push(...checkOpenClaw(input));
  issues.push(...checkClaudeCode(input));
  issues.push(...checkCron(input));
  issues.push(...checkPlacement(input));
  return { issues, addresses: plan };
}

function checkNames(input: RuleInput): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const seen = new Map<string, string>(); // machine → domain
  for (const [name, domain] of input.domains) {
    if (!DNS_SAFE.test(name)) {
      issues.push({ rule: 'name-dns-safe', path: ['domains', name], atKey: true, message: `domain name "${name}" is not DNS-safe`, expected: 'lower-case letters, digits and inner hyphens', found: JSON.stringify(name) });
    } else if (BRIDGE_PREFIX.length + name.length > IFNAME_MAX) {
      issues.push({ rule: 'bridge-name-length', path: ['domains', name], atKey: true, message: `bridge "${BRIDGE_PREFIX}${name}" would exceed the ${IFNAME_MAX}-character interface name limit`, expected: `a domain name of at most ${IFNAME_MAX - BRIDGE_PREFIX.length} characters`, found: `${name.length} characters` });
    }
    if (name === 'host') {
      issues.push({ rule: 'name-reserved', path: ['domains', name], atKey: true, message: '"host" is reserved: network policies use it for the host itself' });
    }
    for (const profileName of Object.keys(domain.profiles)) {
      if (!DNS_SAFE.test(profileName) || profileName.length > NAME_MAX) {
        issues.push({ rule: 'name-dns-safe', path: ['domains', name, 'profiles', profileName], atKey: true, message: `profile name "${profileName}" is not DNS-safe`, expected: 'lower-case letters, digits and inner hyphens', found: JSON.stringify(profileName) });
      }
      if (profileName === 'default') {
        issues.push({ rule: 'profile-reserved', path: ['domains', name, 'profiles', profileName], atKey: true, message: 'the "default" profile is managed by anklume (root disk and eth0 on the domain bridge)', hint: 'give your profile another name and list it in the machines\' profiles' });
      }
    }
    for (const machineName of Object.keys(domain.machines)) {
      const path = ['domains', name, 'machines', machineName];
      if (!DNS_SAFE.test(machineName) || machineName.length > NAME_MAX) {
        issues.push({ rule: 'name-dns-safe', path, atKey: true, message: `machine name "${machineName}" is not DNS-safe`, expected: `lower-case letters, digits and inner hyphens, at most ${NAME_MAX} characters`, found: JSON.stringify(machineName) });
      }
      if (machineName === 'host') {
        issues.push({ rule: 'name-reserved', path, atKey: true, message: '"host" is reserved: network policies use it for the host itself' });
      }
      const other = seen.get(machineName);
      if (other !== undefined) {
        issues.push({ rule: 'machine-name-unique', path, atKey: true, message: `machine "${machineName}" is already declared in domain "${other}"`, expected: 'machine names unique across all domains' });
      } else {
        seen.set(machineName, name);
      }
      if (input.writtenNames.domains.includes(machineName)) {
        issues.push({ rule: 'name-ambiguous', path, atKey: true, message: `machine "${machineName}" has the name of a domain; network policies could not tell them apart`, hint: `prefix machines with their domain, e.g. "${name}-${machineName}"` });
      }
    }
  }
  return issues;
}

function checkHostOverlap(input: RuleInput, plan: AddressPlan): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const subnets = [...plan.domains].map(([name, a]) => ({ name, cidr: { network: a.network, prefix: 24 } }));
  // Domains cannot overlap each other: each has its own /24, and subnet-id-unique
  // rejects two domains on the same one. What remains is the host's own networks.
  for (const a of subnets) {
    for (const host of input.hostNetworks ?? []) {
      if (host.interface === `${BRIDGE_PREFIX}${a.name}`) continue; // our own bridge, once created
      const cidr = parseCidr(host.cidr);
      if (cidr !== null && cidrsOverlap(a.cidr, cidr)) {
        issues.push({ rule: 'subnet-host-overlap', path: ['domains', a.name], atKey: true, message: `subnet ${formatIpv4(a.cidr.network)}/24 of domain "${a.name}" overlaps the host network ${host.cidr} on ${host.interface}`, hint: 'set another subnet_id, or another addressing base' });
      }
    }
  }
  return issues;
}

function checkMachines(input: RuleInput): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const [domainName, domain] of input.domains) {
    const declared = Object.keys(domain.profiles);
    const checkKeys = (config: Record<string, unknown>, path: (string | number)[]): void => {
      for (const key of Object.keys(config)) {
        if (RESERVED_CONFIG.some((re) => re.test(key))) {
          issues.push({ rule: 'config-reserved-key', path: [...path, key], atKey: true, message: `config key "${key}" is reserved (Incus's volatile/image keys, or anklume's ownership marks)` });
        }
      }
    };
    const checkDevices = (devices: Record<string, Record<string, unknown>>, path: (string | number)[]): void => {
      for (const [device, spec] of Object.entries(devices)) {
        if (spec.type === undefined) {
          issues.push({ rule: 'device-type-required', path: [...path, device], atKey: true, message: `device "${device}" has no type`, expected: 'type: disk, nic, gpu, proxy, unix-char, ...' });
        }
      }
    };
    for (const [profileName, profile] of Object.entries(domain.profiles)) {
      checkKeys(profile.config, ['domains', domainName, 'profiles', profileName, 'config']);
      checkDevices(profile.devices, ['domains', domainName, 'profiles', profileName, 'devices']);
    }
    for (const [machineName, machine] of Object.entries(domain.machines)) {
      const base = ['domains', domainName, 'machines', machineName];
      for (const [i, profile] of machine.profiles.entries()) {
        if (profile !== 'default' && !declared.includes(profile)) {
          const hint = didYouMean(profile, ['default', ...declared]);
          issues.push({ rule: 'profile-known', path: [...base, 'profiles', i], message: `profile "${profile}" is not declared in domain "${domainName}"`, expected: `default${declared.length > 0 ? ` or one of ${declared.join(', ')}` : ''}`, found: JSON.stringify(profile), ...(hint === undefined ? {} : { hint }) });
        }
      }
      checkKeys(machine.config, [...base, 'config']);
      checkDevices(machine.devices, [...base, 'devices']);
    }
  }
  return issues;
}

type Endpoint = { kind: 'host' } | { kind: 'domain'; domain: string } | { kind: 'machine'; domain: string } | { kind: 'network'; cidr: Cidr; canonical: boolean };

function resolveEndpoint(name: string, input: RuleInput): Endpoint | undefined {
  if (name === 'host') return { kind: 'host' };
  if (input.writtenNames.domains.includes(name)) return { kind: 'domain', domain: name };
  const domain = input.writtenNames.machines.get(name);
  if (domain !== undefined) return { kind: 'machine', domain };
  const network = parseAddressOrCidr(name);
  return network === null ? undefined : { kind: 'network', ...network };
}

/** The domain an endpoint lives in, when it is one of anklume's. */
function domainOfEndpoint(endpoint: Endpoint | undefined): string | undefined {
  return endpoint?.kind === 'domain' || endpoint?.kind === 'machine' ? endpoint.domain : undefined;
}

function checkPolicies(input: RuleInput, plan: AddressPlan): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const candidates = ['host', ...input.writtenNames.domains, ...input.writtenNames.machines.keys()];
  for (const { index, policy } of input.policies) {
    const ends: Partial<Record<'from' | 'to', Endpoint>> = {};
    for (const side of ['from', 'to'] as const) {
      const name = policy[side];
      const endpoint = resolveEndpoint(name, input);
      if (endpoint === undefined) {
        const hint = didYouMean(name, candidates);
        issues.push({ rule: 'policy-endpoint-known', path: ['network_policies', index, side], message: `"${name}" is neither a domain, a machine, host nor an IPv4 address or CIDR`, expected: side === 'to' ? 'a declared domain or machine, host, or an address or CIDR outside anklume' : 'a declared domain or machine, or host', found: JSON.stringify(name), ...(hint === undefined ? {} : { hint }) });
      } else {
        ends[side] = endpoint;
      }
    }
    if (policy.from === policy.to) {
      issues.push({ rule: 'policy-self', path: ['network_policies', index, 'to'], message: 'a policy from a place to itself means nothing: traffic inside a domain is always allowed', found: JSON.stringify(policy.to) });
    } else if (ends.from?.kind === 'host' && ends.to?.kind === 'host') {
      issues.push({ rule: 'policy-self', path: ['network_policies', index, 'to'], message: 'a policy from host to host means nothing' });
    }
    issues.push(...checkNetworkEndpoints(index, policy, ends, plan));
  }
  return issues;
}

/**
 * A CIDR is a destination outside anklume reached through the host's uplink:
 * nothing can come from it (that would need a proxy device), the host's own
 * traffic is never filtered, and a range inside a domain's subnet is that
 * domain, which the policy must name so its isolation rules apply.
 */
function checkNetworkEndpoints(index: number, policy: NetworkPolicy, ends: Partial<Record<'from' | 'to', Endpoint>>, plan: AddressPlan): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const { from, to } = ends;
  if (from?.kind === 'network') {
    issues.push({ rule: 'policy-network-from', path: ['network_policies', index, 'from'], message: 'an address or CIDR can only be a destination: anklume opens no way in from outside', expected: 'a declared domain or machine, or host', found: JSON.stringify(policy.from), hint: 'to publish a service, give its machine a proxy device' });
  }
  if (to?.kind !== 'network') return issues;
  const path = ['network_policies', index, 'to'];
  if (!to.canonical) {
    issues.push({ rule: 'policy-network-canonical', path, message: `"${policy.to}" has host bits set: it is not the network it seems to name`, expected: formatCidr(to.cidr), found: JSON.stringify(policy.to), hint: `write ${formatCidr(to.cidr)}, or the single address without /prefix` });
  }
  if (from?.kind === 'host') {
    issues.push({ rule: 'policy-network-from-host', path, message: "the host's own traffic is not filtered by anklume: a policy from host to an address means nothing" });
  }
  if (policy.bidirectional) {
    issues.push({ rule: 'policy-network-bidirectional', path: ['network_policies', index, 'bidirectional'], message: 'a policy to an address outside anklume works one way: nothing can come in from there', expected: 'false', found: 'true' });
  }
  for (const [domain, address] of plan.domains) {
    const subnet = { network: address.network, prefix: 24 };
    if (to.cidr.prefix >= subnet.prefix && cidrContains(subnet, to.cidr.network)) {
      issues.push({ rule: 'policy-network-inside-domain', path, message: `${formatCidr(to.cidr)} is inside domain "${domain}"'s subnet ${formatCidr(subnet)}`, hint: `name the domain "${domain}" or one of its machines, so its isolation rules apply` });
    }
  }
  return issues;
}

function checkAiAccess(input: RuleInput): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const { global } = input;
  const domainNames = input.writtenNames.domains;

  for (const [name, domain] of input.domains) {
    if (domain.trust_level === 'disposable' && domain.ai_provider !== 'local') {
      issues.push({ rule: 'disposable-no-cloud', path: ['domains', name, 'ai_provider'], message: 'a disposable domain never sends prompts to a cloud LLM', expected: 'local', found: JSON.stringify(domain.ai_provider) });
    }
  }

  if (global.ai_access_policy !== 'exclusive') {
    if (global.ai_access_default !== undefined) {
      issues.push({ rule: 'ai-access-default-needs-exclusive', path: ['global', 'ai_access_default'], message: 'ai_access_default only applies with ai_access_policy: exclusive; here it would silently do nothing', hint: 'set ai_access_policy: exclusive, or remove ai_access_default' });
    }
    return issues;
  }

  const AI_TOOLS = global.ai_tools_domain ?? AI_TOOLS_DOMAIN;
  if (!domainNames.includes(AI_TOOLS)) {
    issues.push({ rule: 'ai-tools-required', path: ['global', 'ai_access_policy'], message: `ai_access_policy: exclusive needs a domain named "${AI_TOOLS}" to guard`, hint: `declare the ${AI_TOOLS} domain, or use ai_access_policy: open` });
  }
  const accessDefault = global.ai_access_default;
  if (accessDefault === undefined) {
    issues.push({ rule: 'ai-access-default-required', path: ['global', 'ai_access_policy'], message: 'ai_access_policy: exclusive needs ai_access_default: the domain that holds AI access at first', expected: 'global.ai_access_default: <domain>' });
  } else if (accessDefault === AI_TOOLS) {
    issues.push({ rule: 'ai-access-default-not-ai-tools', path: ['global', 'ai_access_default'], message: `ai_access_default names the domain that is accessed, not one that accesses it`, expected: `a domain other than ${AI_TOOLS}`, found: JSON.stringify(accessDefault) });
  } else if (!domainNames.includes(accessDefault)) {
    const hint = didYouMean(accessDefault, domainNames);
    issues.push({ rule: 'ai-access-default-known', path: ['global', 'ai_access_default'], message: `"${accessDefault}" is not a declared domain`, expected: 'a declared domain', found: JSON.stringify(accessDefault), ...(hint === undefined ? {} : { hint }) });
  }

  const toAiTools = input.policies.filter(({ policy }) => {
    return domainOfEndpoint(resolveEndpoint(policy.to, input)) === AI_TOOLS;
  });
  for (const extra of toAiTools.slice(1)) {
    issues.push({ rule: 'ai-tools-single-policy', path: ['network_policies', extra.index, 'to'], message: `with exclusive AI access, only one network policy may target ${AI_TOOLS} (network_policies[${toAiTools[0]?.index}] already does); switch-ai moves it between domains`, hint: 'merge the ports into that one policy' });
  }
  return issues;
}

/**
 * `ai_sanitize: always` sends even local prompts through the sanitizer: the
 * firewall drops the domain's direct traffic to Ollama's port. A policy that
 * opens that way would silently not apply, so it is refused. With exclusive
 * access a policy into ai-tools takes its source from the holder, not from
 * what it names: nothing to check (an always domain holding access still goes
 * through the sanitizer).
 */
function checkSanitizeAlways(input: RuleInput): ValidationIssue[] {
  if (input.global.ai_access_policy === 'exclusive') return [];
  const toolsDomain = input.global.ai_tools_domain ?? AI_TOOLS_DOMAIN;
  const tools = input.domains.find(([name]) => name === toolsDomain)?.[1];
  const ollamaMachines = Object.entries(tools?.machines ?? {}).filter(([, m]) => m.roles.includes('ollama_server')).map(([name]) => name);
  if (ollamaMachines.length === 0) return [];
  const always = new Set(input.domains.filter(([, d]) => d.ai_sanitize === 'always').map(([name]) => name));
  const issues: ValidationIssue[] = [];
  for (const { index, policy } of input.policies) {
    const fromDomain = domainOfEndpoint(resolveEndpoint(policy.from, input));
    if (fromDomain === undefined || !always.has(fromDomain) || fromDomain === toolsDomain) continue;
    const to = resolveEndpoint(policy.to, input);
    if (domainOfEndpoint(to) !== toolsDomain) continue;
    const reachesOllama = to?.kind === 'domain' || ollamaMachines.includes(policy.to);
    const opensPort = policy.ports === 'all' || policy.ports.includes(OLLAMA_PORT);
    if (reachesOllama && opensPort) {
      issues.push({ rule: 'ai-sanitize-always-direct', path: ['network_policies', index, 'ports'], message: `domain "${fromDomain}" has ai_sanitize: always: it reaches Ollama (port ${OLLAMA_PORT}) only through the sanitizer, so this policy's way to it would never apply`, hint: policy.ports === 'all' ? `list the ports it needs, without ${OLLAMA_PORT}` : `remove ${OLLAMA_PORT}, or set ai_sanitize: true on "${fromDomain}"` });
    }
  }
  return issues;
}

function checkGpu(input: RuleInput): ValidationIssue[] {
  if (input.global.gpu_policy !== 'exclusive') return [];
  const gpuMachines = input.domains.flatMap(([domainName, domain]) =>
    Object.entries(domain.machines)
      .filter(([, m]) => m.gpu && domain.enabled)
      .map(([machineName]) => ({ domainName, machineName })),
  );
  return gpuMachines.slice(1).map(({ domainName, machineName }) => ({
    rule: 'gpu-exclusive',
    path: ['domains', domainName, 'machines', machineName, 'gpu'],
    message: `gpu_policy: exclusive allows one GPU instance, and "${gpuMachines[0]?.machineName}" already has it`,
    hint: 'set global.gpu_policy: shared to let several instances share the GPU',
  }));
}

function checkOpenClaw(input: RuleInput): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const [name, domain] of input.domains) {
    const servers = Object.entries(domain.machines).filter(([, m]) => m.roles.includes('openclaw_server'));
    const enabled = domain.openclaw?.enabled === true;
    if (enabled && servers.length !== 1) {
      issues.push({ rule: 'openclaw-server', path: ['domains', name, 'openclaw', 'enabled'], message: `OpenClaw needs exactly one machine with role openclaw_server in domain "${name}"`, expected: '1 machine', found: `${servers.length}` });
    }
    if (!enabled) {
      for (const [machineName] of servers) {
        issues.push({ rule: 'openclaw-server', path: ['domains', name, 'machines', machineName, 'roles'], message: `role openclaw_server (${KNOWN_ROLES.openclaw_server}) needs openclaw.enabled: true in domain "${name}"; otherwise nothing would run there` });
      }
    }
    const cloudModel = domain.openclaw?.cloud_model;
    if (enabled && domain.ai_provider === 'cloud' && cloudModel === undefined && input.global.openclaw.cloud_model === undefined) {
      issues.push({ rule: 'openclaw-cloud-model', path: ['domains', name, 'openclaw', 'cloud_model'], message: `ai_provider cloud gives OpenClaw only the sanitizer's cloud models, and none is named`, expected: 'domains.<d>.openclaw.cloud_model or global.openclaw.cloud_model', hint: 'e.g. cloud_model: claude-sonnet-4-5' });
    }
    if (cloudModel !== undefined && domain.ai_provider === 'local') {
      issues.push({ rule: 'openclaw-cloud-needs-provider', path: ['domains', name, 'openclaw', 'cloud_model'], message: 'a cloud model is never used when ai_provider is local', hint: 'set ai_provider: local-first or cloud, or remove cloud_model' });
    }
  }
  return issues;
}

/**
 * The role claude_code: its Claude Code must have a way to a model, which
 * the firewall opens (docs/claude-code.md): the sanitizer for cloud,
 * local-first and sanitize-always domains, Ollama for local ones. A domain
 * block with no machine to apply to, or a cloud model that would never be
 * used, is a mistake said now rather than a setting silently ignored.
 */
function checkClaudeCode(input: RuleInput): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const all = input.domains;
  const hasRole = (role: string): boolean => all.some(([, d]) => d.enabled && Object.values(d.machines).some((m) => m.roles.includes(role)));
  const toolsDomain = input.global.ai_tools_domain ?? AI_TOOLS_DOMAIN;
  const tools = all.find(([name]) => name === toolsDomain)?.[1];
  const hasOllama = tools !== undefined && tools.enabled && Object.values(tools.machines).some((m) => m.roles.includes('ollama_server'));
  for (const [name, domain] of all) {
    const machines = Object.entries(domain.machines).filter(([, m]) => m.roles.includes('claude_code')).map(([m]) => m);
    if (domain.claude_code !== undefined && machines.length === 0) {
      issues.push({ rule: 'claude-code-machine', path: ['domains', name, 'claude_code'], message: `claude_code settings apply to the machines with role claude_code, and domain "${name}" has none`, hint: 'add claude_code to a machine\'s roles, or remove this block' });
    }
    if (domain.claude_code?.cloud_model !== undefined && domain.ai_provider === 'local') {
      issues.push({ rule: 'claude-code-cloud-needs-provider', path: ['domains', name, 'claude_code', 'cloud_model'], message: 'a cloud model is never used when ai_provider is local', hint: 'set ai_provider: local-first or cloud, or remove cloud_model' });
    }
    for (const m of machines) {
      const other = (domain.machines[m]?.roles ?? []).find((r) => r === 'openclaw_server' || r === 'llm_sanitizer' || r === 'ollama_server');
      if (other !== undefined) issues.push({ rule: 'claude-code-machine', path: ['domains', name, 'machines', m, 'roles'], message: `role claude_code needs a machine of its own: ${m} also has role ${other}, whose service anklume deploys there too`, hint: 'give claude_code to another machine of the domain' });
    }
    if (machines.length === 0 || !domain.enabled) continue;
    const at = ['domains', name, 'machines', machines[0] ?? '', 'roles'];
    const provider = domain.ai_provider;
    const throughSanitizer = (provider !== 'local' && domain.trust_level !== 'disposable') || domain.ai_sanitize === 'always';
    if (throughSanitizer && !hasRole('llm_sanitizer')) {
      issues.push({ rule: 'claude-code-route', path: at, message: `role claude_code in domain "${name}" (ai_provider ${provider}) reaches its models only through the sanitizer, and no enabled machine has role llm_sanitizer`, hint: 'give a machine of the admin domain the role llm_sanitizer' });
    }
    if (!throughSanitizer && !hasOllama) {
      issues.push({ rule: 'claude-code-route', path: at, message: `role claude_code in domain "${name}" (ai_provider ${provider}) uses the local model, and the ${toolsDomain} domain has no enabled machine with role ollama_server`, hint: `give a machine of ${toolsDomain} the role ollama_server` });
    }
    if (provider === 'cloud' && domain.trust_level !== 'disposable' && domain.claude_code?.cloud_model === undefined && input.global.claude_code.cloud_model === undefined) {
      issues.push({ rule: 'claude-code-cloud-model', path: ['domains', name, 'claude_code', 'cloud_model'], message: `ai_provider cloud sends Claude Code to a cloud model, and none is named`, expected: 'domains.<d>.claude_code.cloud_model or global.claude_code.cloud_model', hint: 'e.g. cloud_model: claude-sonnet-4-5' });
    }
  }
  return issues;
}

/**
 * Cron jobs (openclaw.cron): names unique in their list (they are the job's
 * key in OpenClaw, so a duplicate would silently overwrite), and a schedule
 * OpenClaw and anklume read the same way: five fields, each valid.
 */
/**
 * An IANA zone name (Area/City, or UTC) that this Node's time zone data knows;
 * offsets such as +01:00 are refused: OpenClaw's scheduler asks for a zone name.
 */
function ianaTimeZone(tz: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function checkCron(input: RuleInput): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const lists: { path: (string | number)[]; jobs: readonly OpenClawCronJob[] }[] = [{ path: ['global', 'openclaw', 'cron'], jobs: input.global.openclaw.cron }];
  for (const [name, domain] of input.domains) if (domain.openclaw?.cron !== undefined) lists.push({ path: ['domains', name, 'openclaw', 'cron'], jobs: domain.openclaw.cron });
  for (const { path, jobs } of lists) {
    const seen = new Map<string, number>();
    jobs.forEach((job, index) => {
      const first = seen.get(job.name);
      if (first !== undefined) {
        issues.push({ rule: 'cron-name-unique', path: [...path, index, 'name'], message: `cron job "${job.name}" is already declared at position ${first + 1} of this list`, expected: 'job names unique in a list', found: JSON.stringify(job.name) });
      } else seen.set(job.name, index);
      const fields = job.schedule.trim().split(/\s+/);
      if (fields.length !== 5 || !validCron(fields.join(' '))) {
        issues.push({
          rule: 'cron-schedule',
          path: [...path, index, 'schedule'],
          message: `"${job.schedule}" is not a five-field cron expression`,
          expected: 'minute hour day-of-month month day-of-week, e.g. "0 7 * * 1"',
          found: fields.length !== 5 ? `${fields.length} field${fields.length === 1 ? '' : 's'}` : JSON.stringify(job.schedule),
        });
      }
      if (job.tz !== undefined && !ianaTimeZone(job.tz)) {
        issues.push({ rule: 'cron-tz', path: [...path, index, 'tz'], message: `"${job.tz}" is not an IANA time zone`, expected: 'a zone such as Europe/Paris, America/New_York or UTC', found: JSON.stringify(job.tz) });
      }
    });
  }
  return issues;
}

/** The one member a domain's machines run on, when infra.yml says it; undefined when Incus decides. */
function memberOfDomain(domain: Domain): string | undefined {
  const members = new Set(Object.values(domain.machines).map((m) => (m.placement ?? domain.placement)?.member));
  const [only] = members;
  return members.size === 1 ? only : undefined;
}

/**
 * On a cluster a domain's bridge is one bridge per member, with the same
 * subnet and no link between them: machines of one domain on two members do
 * not reach each other, and traffic between domains on two members has no
 * route. Both need an OVN network (docs/cluster.md), which anklume does not
 * build yet, so such a layout is refused here rather than half working.
 */
function checkPlacement(input: RuleInput): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const OVN = 'a bridge exists separately on each member: spreading a domain (or joining two members) needs an OVN network, which anklume does not build yet (docs/cluster.md)';
  for (const [name, domain] of input.domains) {
    const machines = Object.entries(domain.machines);
    const placements = machines.map(([, m]) => m.placement ?? domain.placement);
    const members = new Set(placements.flatMap((p) => (p?.member === undefined ? [] : [p.member])));
    if (members.size > 1) {
      issues.push({ rule: 'placement-one-member', path: ['domains', name], message: `domain "${name}" places its machines on several members (${[...members].sort().join(', ')}); ${OVN}`, expected: 'every machine of a domain on one member' });
      continue;
    }
    const byGroup = placements.some((p) => p?.group !== undefined);
    if (byGroup && (machines.length > 1 || members.size > 0)) {
      issues.push({ rule: 'placement-group-single-machine', path: ['domains', name, 'placement'], message: `domain "${name}" places machines by cluster group, and Incus may pick a different member for each; ${OVN}`, expected: 'a member, or a group for a domain of one machine' });
    }
  }
  const memberOf = new Map(input.domains.map(([name, d]) => [name, memberOfDomain(d)]));
  for (const { index, policy } of input.policies) {
    const ends = (['from', 'to'] as const).map((side) => domainOfEndpoint(resolveEndpoint(policy[side], input)));
    const [from, to] = ends.map((d) => (d === undefined ? undefined : memberOf.get(d)));
    if (from !== undefined && to !== undefined && from !== to) {
      issues.push({ rule: 'placement-policy-one-member', path: ['network_policies', index], message: `policy from ${policy.from} (member ${from}) to ${policy.to} (member ${to}): there is no route between bridges of two members; ${OVN}`, expected: 'both ends placed on the same member' });
    }
  }
  return issues;
}
