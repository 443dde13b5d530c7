import { DEFAULT_EGRESS, type Domain, type Infra, type OpenClawCronJob } from '../schemas/infra.js';
import type { DesiredCronJob, DesiredDomain, DesiredInfra, DesiredMachine, DesiredPolicy, Placement, PolicyEndpoint } from '../schemas/model.js';
import { durationSeconds } from '../shared/duration.js';
import { formatCidr, formatIpv4, parseAddressOrCidr } from '../shared/ipv4.js';
import { HOSTS, type AddressPlan } from './addressing.js';

/** Incus config values are strings. */
function stringify(record: Readonly<Record<string, string | number | boolean>>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, String(v)]));
}

function stringifyDevices(devices: Readonly<Record<string, Readonly<Record<string, string | number | boolean>>>>): Record<string, Record<string, string>> {
  return Object.fromEntries(Object.entries(devices).map(([name, spec]) => [name, stringify(spec)]));
}

/**
 * Build the desired model from a file that passed every rule. Pure: the address
 * plan comes from the rules, which computed it while checking.
 */
export function normalize(infra: Infra, addresses: AddressPlan): DesiredInfra {
  const { global } = infra;
  const machineDomain = new Map<string, string>();
  for (const [domainName, domain] of Object.entries(infra.domains)) {
    for (const machineName of Object.keys(domain.machines)) machineDomain.set(machineName, domainName);
  }
  const machineIp = (name: string): string => formatIpv4(mustGet(addresses.machines, name).ip);

  const domains = Object.entries(infra.domains).map(([name, domain]): DesiredDomain => {
    const { subnetId, network } = mustGet(addresses.domains, name);
    const host = (n: number): string => formatIpv4(network + n);
    const machines = Object.entries(domain.machines).map(([machineName, m]): DesiredMachine => ({
      name: machineName,
      domain: name,
      description: m.description ?? '',
      type: m.type,
      instanceType: m.type === 'vm' ? 'virtual-machine' : 'container',
      ip: machineIp(machineName),
      ipSource: mustGet(addresses.machines, machineName).source,
      gpu: m.gpu,
      roles: m.roles,
      profiles: m.profiles,
      config: stringify(m.config),
      devices: stringifyDevices(m.devices),
      ephemeral: m.ephemeral ?? domain.ephemeral,
      osImage: m.os_image ?? global.default_os_image,
      allowUnsafe: m.allow_unsafe,
      placement: placementOf(m.placement ?? domain.placement),
    }));
    return {
      name,
      description: domain.description ?? '',
      trustLevel: domain.trust_level,
      egress: domain.egress ?? DEFAULT_EGRESS[domain.trust_level],
      enabled: domain.enabled,
      ephemeral: domain.ephemeral,
      aiProvider: domain.ai_provider,
      aiSanitize: resolveSanitize(domain),
      aiBinary: domain.ai_binary,
      project: name,
      bridge: `net-${name}`,
      placement: placementOf(domain.placement),
      network: {
        subnetId,
        subnet: `${formatIpv4(network)}/24`,
        gateway: host(HOSTS.gateway),
        prefixLength: 24,
        staticRange: { first: host(HOSTS.staticFirst), last: host(HOSTS.staticLast) },
        dhcpRange: { first: host(HOSTS.dhcpFirst), last: host(HOSTS.dhcpLast) },
      },
      profiles: Object.entries(domain.profiles).map(([profileName, p]) => ({
        name: profileName,
        description: p.description ?? '',
        config: stringify(p.config),
        devices: stringifyDevices(p.devices),
        allowUnsafe: p.allow_unsafe,
      })),
      machines,
      openclaw: domain.openclaw?.enabled === true
        ? {
            machine: machines.find((m) => m.roles.includes('openclaw_server'))?.name ?? '',
            version: domain.openclaw.version ?? global.openclaw.version,
            port: global.openclaw.port,
            heartbeatEvery: domain.openclaw.heartbeat_every ?? global.openclaw.heartbeat_every,
            localModel: domain.openclaw.local_model ?? global.openclaw.local_model,
            cloudModel: domain.openclaw.cloud_model ?? (domain.ai_provider === 'local' ? null : (global.openclaw.cloud_model ?? null)),
            gatewayTokenFile: domain.openclaw.gateway_token_file ?? null,
            telegram:
              domain.openclaw.telegram === undefined
                ? null
                : { tokenFile: domain.openclaw.telegram.token_file, allowFrom: domain.openclaw.telegram.allow_from.map(String), apiRoot: domain.openclaw.telegram.api_root ?? null },
            cron: cronJobs(global.openclaw.cron, domain.openclaw.cron ?? []),
          }
        : null,
      claudeCode: machines.some((m) => m.roles.includes('claude_code'))
        ? {
            machines: machines.filter((m) => m.roles.includes('claude_code')).map((m) => m.name),
            localModel: domain.claude_code?.local_model ?? global.claude_code.local_model,
            cloudModel: domain.ai_provider === 'local' ? null : (domain.claude_code?.cloud_model ?? global.claude_code.cloud_model ?? null),
            routerPort: global.claude_code.router_port,
          }
        : null,
      view: { snapshots: domain.domain_view.snapshots, snapshotIntervalMs: durationSeconds(domain.domain_view.snapshot_interval) * 1000 },
    };
  });

  const endpoint = (name: string): PolicyEndpoint => {
    if (name === 'host') return { kind: 'host' };
    if (name in infra.domains) return { kind: 'domain', domain: name };
    const network = parseAddressOrCidr(name);
    // A single address as nft lists it back (no /32), so the live table compares equal.
    if (network !== null) return { kind: 'network', cidr: network.cidr.prefix === 32 ? formatIpv4(network.cidr.network) : formatCidr(network.cidr) };
    return { kind: 'machine', domain: mustGet(machineDomain, name), machine: name, ip: machineIp(name) };
  };
  const policies = infra.network_policies.map((p, index): DesiredPolicy => ({
    index,
    description: p.description ?? '',
    from: endpoint(p.from),
    to: endpoint(p.to),
    ports: p.ports,
    protocol: p.protocol,
    bidirectional: p.bidirectional,
  }));

  return {
    projectName: infra.project_name,
    addressing: addresses.mode === 'legacy' ? { mode: 'legacy', baseSubnet: global.base_subnet ?? '' } : { mode: 'zones', zoneBase: global.addressing?.zone_base ?? 100 },
    defaultOsImage: global.default_os_image,
    ai: {
      accessPolicy: global.ai_access_policy,
      accessDefault: global.ai_access_policy === 'exclusive' ? (global.ai_access_default ?? null) : null,
      vramFlush: global.ai_vram_flush,
      gpuServices: global.ai_gpu_services,
      toolsDomain: global.ai_tools_domain,
      gpuPolicy: global.gpu_policy,
    },
    sanitizer: {
      listenPort: global.sanitizer.listen_port,
      mode: global.sanitizer.mode,
      audit: global.sanitizer.audit,
      auditRedactedOnly: global.sanitizer.audit_redacted_only,
      patterns: global.sanitizer.patterns,
      upstreams: {
        anthropic: global.sanitizer.upstreams.anthropic,
        openai: global.sanitizer.upstreams.openai,
        anthropicKeyFile: global.sanitizer.upstreams.anthropic_key_file ?? null,
        openaiKeyFile: global.sanitizer.upstreams.openai_key_file ?? null,
      },
    },
    domainView: { enabled: global.domain_view.enabled, port: global.domain_view.port },
    domains,
    policies,
  };
}

/** The seed's default: sanitize when prompts may leave (cloud, local-first), not when they stay local. */
export function resolveSanitize(domain: Pick<Domain, 'ai_provider' | 'ai_sanitize'>): boolean | 'always' {
  return domain.ai_sanitize ?? domain.ai_provider !== 'local';
}

function mustGet<K, V>(map: ReadonlyMap<K, V>, key: K): V {
  const value = map.get(key);
  if (value === undefined) throw new Error(`internal: no address computed for ${String(key)}`);
  return value;
}

/** The global jobs, each replaced by the domain's job of the same name, then the domain's other jobs. */
function cronJobs(global: readonly OpenClawCronJob[], own: readonly OpenClawCronJob[]): DesiredCronJob[] {
  const desired = (j: OpenClawCronJob): DesiredCronJob => ({ name: j.name, schedule: j.schedule.trim().split(/\s+/).join(' '), tz: j.tz ?? null, prompt: j.prompt, taskType: j.task_type, deliver: j.deliver });
  const mine = new Map(own.map((j) => [j.name, j]));
  return [...global.map((g) => desired(mine.get(g.name) ?? g)), ...own.filter((j) => !global.some((g) => g.name === j.name)).map(desired)];
}

function placementOf(p: { member?: string | undefined; group?: string | undefined } | undefined): Placement | null {
  if (p?.member !== undefined) return { member: p.member };
  if (p?.group !== undefined) return { group: p.group };
  return null;
}
