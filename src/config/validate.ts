import { DomainSchema, GlobalSchema, InfraSchema, NetworkPolicySchema, type Domain, type NetworkPolicy } from '../schemas/infra.js';
import type { DesiredInfra } from '../schemas/model.js';
import type { LocatedIssue, ValidationIssue } from './issues.js';
import { normalize } from './normalize.js';
import { checkRules, type HostNetwork } from './rules.js';
import { salvage } from './salvage.js';
import { parseSource } from './yaml-document.js';
import { fromZodIssues } from './zod-issues.js';

export type ValidationResult =
  | { readonly ok: true; readonly model: DesiredInfra; readonly issues: readonly [] }
  | { readonly ok: false; readonly issues: readonly LocatedIssue[] };

export interface ValidateOptions {
  /** Name shown in messages (the path given by the user). */
  readonly file: string;
  /** The host's networks, for the overlap rule; omitted in pure tests. */
  readonly hostNetworks?: readonly HostNetwork[];
}

/**
 * Validate infra.yml text (pure): YAML syntax, the schema, then every cross-field
 * rule on what the schema accepted, so one run reports all mistakes, each with
 * file, line and column. On success, the normalised desired model.
 */
export function validateInfraText(text: string, options: ValidateOptions): ValidationResult {
  const source = parseSource(text);
  const locate = (issue: ValidationIssue): LocatedIssue => ({
    ...issue,
    file: options.file,
    ...source.locate(issue.path, issue.atKey === true ? { atKey: true } : {}),
  });

  if (source.syntaxIssues.length > 0) {
    return { ok: false, issues: source.syntaxIssues.map((i) => ({ ...i, file: options.file })) };
  }
  const data = source.data;
  if (data === null || data === undefined || typeof data !== 'object' || Array.isArray(data)) {
    return {
      ok: false,
      issues: [locate({ rule: 'schema', path: [], message: 'infra.yml must be a mapping with at least a `domains` key', expected: 'a mapping', found: data === null || data === undefined ? 'an empty file' : 'something else' })],
    };
  }

  const parsed = InfraSchema.safeParse(data);
  const issues: ValidationIssue[] = parsed.success ? [] : fromZodIssues(parsed.error.issues, InfraSchema, data);

  // Cross-field rules run on the parts that passed the schema.
  const raw = data as Record<string, unknown>;
  const rawDomains = isRecord(raw.domains) ? raw.domains : {};
  const domains: (readonly [string, Domain])[] = [];
  const machines = new Map<string, string>();
  for (const [name, value] of Object.entries(rawDomains)) {
    if (isRecord(value) && isRecord(value.machines)) {
      for (const machineName of Object.keys(value.machines)) if (!machines.has(machineName)) machines.set(machineName, name);
    }
    const domain = salvage(DomainSchema, value ?? {});
    if (domain !== undefined) domains.push([name, domain]);
  }
  const policies: { index: number; policy: NetworkPolicy }[] = [];
  if (Array.isArray(raw.network_policies)) {
    for (const [index, value] of (raw.network_policies as unknown[]).entries()) {
      const policy = salvage(NetworkPolicySchema, value);
      if (policy !== undefined) policies.push({ index, policy });
    }
  }
  const global = salvage(GlobalSchema, raw.global ?? {}) ?? GlobalSchema.parse({});
  const rules = checkRules({
    global,
    domains,
    policies,
    writtenNames: { domains: Object.keys(rawDomains), machines },
    ...(options.hostNetworks === undefined ? {} : { hostNetworks: options.hostNetworks }),
  });
  issues.push(...rules.issues);

  if (issues.length > 0 || !parsed.success) {
    const located = issues.map(locate).sort((a, b) => a.line - b.line || a.column - b.column);
    return { ok: false, issues: located };
  }
  return { ok: true, model: normalize(parsed.data, rules.addresses), issues: [] };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
