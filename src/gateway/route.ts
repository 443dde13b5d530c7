import type { DesiredDomain } from '../schemas/model.js';
import { cidrContains, parseCidr, parseIpv4, type Cidr } from '../shared/ipv4.js';
import type { ApiFormat } from './errors.js';
import { isCloudTask } from '../schemas/tasks.js';

/**
 * Per-domain policy, pure: who is asking (from the TCP source address, never
 * from a header) and where its request may go (spec/000 §4: ai_provider,
 * ai_sanitize, the local-first escalation table; exclusive AI access; a
 * disposable domain never reaches the cloud).
 */

/** What routing needs of a domain. */
export type RouteDomain = Pick<DesiredDomain, 'name' | 'enabled' | 'trustLevel' | 'aiProvider' | 'aiSanitize'>;

export interface SourceTable {
  readonly entries: readonly { readonly cidr: Cidr; readonly domain: string }[];
  /** The host's own address on each domain bridge (`.254`): the host, not a member of the domain. */
  readonly hostAddresses: ReadonlySet<number>;
  /** How many leading entries are domain subnets (the rest are `sources`). */
  readonly domainCount: number;
}

/**
 * The lookup table: every domain's subnet first, then the config's `sources`
 * (clients outside the domain subnets, such as the host), in file order. The
 * host's address on a bridge is in that domain's subnet but is not the
 * domain: it is matched by `sources` only.
 */
export function buildSourceTable(
  domains: readonly { readonly name: string; readonly network: { readonly subnet: string; readonly gateway?: string } }[],
  sources: readonly { readonly cidr: string; readonly domain: string }[],
): SourceTable {
  const entries: { cidr: Cidr; domain: string }[] = [];
  const hostAddresses = new Set<number>();
  for (const d of domains) {
    const cidr = parseCidr(d.network.subnet);
    if (cidr !== null) entries.push({ cidr, domain: d.name });
    const gateway = d.network.gateway === undefined ? null : parseIpv4(d.network.gateway);
    if (gateway !== null) hostAddresses.add(gateway);
  }
  const domainCount = entries.length;
  for (const s of sources) {
    const cidr = parseCidr(s.cidr);
    if (cidr !== null) entries.push({ cidr, domain: s.domain });
  }
  return { entries, hostAddresses, domainCount };
}

/** The domain a TCP peer address belongs to, or null. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) counts as IPv4; other IPv6 is unknown. */
export function domainOfAddress(table: SourceTable, remoteAddress: string | undefined): string | null {
  if (remoteAddress === undefined) return null;
  const v4 = remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : remoteAddress;
  const ip = parseIpv4(v4);
  if (ip === null) return null;
  const host = table.hostAddresses.has(ip);
  // Domain entries come first; for a host address only the `sources` entries count.
  return table.entries.find((e, i) => (!host || i >= table.domainCount) && cidrContains(e.cidr, ip))?.domain ?? null;
}

/**
 * Whether a source may read the gateway's details (`/health/details`,
 * `/metrics`): the host — loopback, or the host's own address on a domain
 * bridge (`.254`) — or a member of a domain whose trust level is admin.
 * Known from the TCP peer address like everything else, never a header.
 */
export function isPrivilegedSource(runtime: { readonly sourceTable: SourceTable; readonly model: { readonly domains: readonly { readonly name: string; readonly trustLevel: string }[] } }, remoteAddress: string | undefined): boolean {
  if (remoteAddress === undefined) return false;
  if (remoteAddress === '::1') return true;
  const ip = parseIpv4(remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : remoteAddress);
  if (ip === null) return false;
  if (ip >>> 24 === 127 || runtime.sourceTable.hostAddresses.has(ip)) return true;
  // Only a domain subnet says "admin": a `sources` entry maps an outside client to a policy, not to a trust level.
  const inSubnet = runtime.sourceTable.entries.slice(0, runtime.sourceTable.domainCount).find((e) => cidrContains(e.cidr, ip));
  return inSubnet !== undefined && runtime.model.domains.some((d) => d.name === inSubnet.domain && d.trustLevel === 'admin');
}

/** Task types of spec/000 §4's table, as `x-anklume-task` values (src/schemas/tasks.ts); any other value stays local, the safe side. */
export { LOCAL_TASKS, CLOUD_TASKS } from '../schemas/tasks.js';

export interface RouteRequest {
  readonly api: ApiFormat;
  /** `x-anklume-task` (lower-cased, trimmed) or undefined. */
  readonly task?: string | undefined;
  /** `x-anklume-escalate` is true/1/yes. */
  readonly escalate: boolean;
}

export interface AccessState {
  readonly policy: 'open' | 'exclusive';
  /** With exclusive access: the domain that holds it, or null when none does. */
  readonly holder: string | null;
  /** Why nobody holds it when the record itself is missing or broken (fail closed). */
  readonly note?: string;
}

export type RouteDecision =
  | { readonly ok: true; readonly target: 'local' | 'cloud'; readonly sanitize: boolean; readonly reason: string }
  | { readonly ok: false; readonly status: number; readonly code: string; readonly message: string };

function refuse(status: number, code: string, message: string): RouteDecision {
  return { ok: false, status, code, message };
}

/**
 * Where one request of `domain` goes, and whether it is sanitized on the way.
 * `access` is asked only for a local route (it may stat a file).
 */
export function decideRoute(domain: RouteDomain, request: RouteRequest, access: () => AccessState): RouteDecision {
  if (!domain.enabled) return refuse(403, 'domain_disabled', `domain ${domain.name} is disabled in infra.yml`);

  let target: 'local' | 'cloud';
  let reason: string;
  switch (domain.aiProvider) {
    case 'local':
      // "Nothing leaves the machine": an escalation header does not change that.
      target = 'local';
      reason = 'ai_provider local';
      break;
    case 'cloud':
      target = 'cloud';
      reason = 'ai_provider cloud';
      break;
    case 'local-first': {
      const cloudTask = request.task !== undefined && isCloudTask(request.task);
      // Never on the model's self-assessed confidence (spec/000 §4): only the task table or the user.
      target = cloudTask || request.escalate ? 'cloud' : 'local';
      reason = cloudTask ? `local-first, cloud task ${request.task ?? ''}` : request.escalate ? 'local-first, explicit escalation' : 'local-first';
      break;
    }
  }

  if (target === 'cloud') {
    if (domain.trustLevel === 'disposable') return refuse(403, 'disposable_no_cloud', `domain ${domain.name} is disposable: its requests never reach a cloud LLM`);
    if (request.api === 'ollama') {
      return refuse(400, 'ollama_api_not_for_cloud', `domain ${domain.name} routes this request to the cloud (${reason}), which the Ollama API cannot reach: send it in the Anthropic (/v1/messages) or OpenAI (/v1/chat/completions) format`);
    }
    // ai_sanitize false on a cloud route means raw (spec/000 §4: "no sanitization").
    return { ok: true, target, sanitize: domain.aiSanitize !== false, reason };
  }

  const { policy, holder, note } = access();
  if (policy === 'exclusive' && holder !== domain.name) {
    const held = holder !== null ? `domain ${holder} holds it` : note === undefined ? 'no domain holds it' : `no domain holds it: ${note}`;
    return refuse(403, 'ai_access_not_held', `domain ${domain.name} does not hold access to the local AI (exclusive access: ${held}); run \`anklumectl switch-ai ${domain.name}\` to take it`);
  }
  return { ok: true, target, sanitize: domain.aiSanitize === 'always', reason };
}

/** `x-anklume-escalate` values that mean yes. */
export function isTruthyHeader(value: string | undefined): boolean {
  return value !== undefined && ['true', '1', 'yes'].includes(value.trim().toLowerCase());
}
