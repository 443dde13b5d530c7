import * as z from 'zod';
import { durationSeconds } from '../shared/duration.js';
import { DEFAULT_DOMAIN_VIEW_PORT, DEFAULT_SANITIZER_PORT } from './ports.js';
import { TASK_TYPES } from './tasks.js';

/**
 * The zod schemas of infra.yml: the single source of truth for its shape.
 * Types come from z.infer, the JSON Schema in crd-like-schemas/ from z.toJSONSchema
 * (npm run gen:schemas). Cross-field rules (addresses, references, AI access) live in
 * src/config/rules.ts, because they need the whole file at once.
 */

export const TRUST_LEVELS = ['admin', 'trusted', 'semi-trusted', 'untrusted', 'disposable'] as const;

/**
 * What a domain reaches outside anklume's bridges (docs/firewall.md): `lan`
 * the internet and private ranges (the host's LAN, VPNs, other bridges),
 * `internet` public addresses only, `none` nothing (a sanitizer or a policy
 * is then its only way out).
 */
export const EGRESS = ['lan', 'internet', 'none'] as const;
export type Egress = (typeof EGRESS)[number];
/** Each trust level's egress when the domain sets none. */
export const DEFAULT_EGRESS: Readonly<Record<(typeof TRUST_LEVELS)[number], Egress>> = {
  admin: 'lan',
  trusted: 'internet',
  'semi-trusted': 'internet',
  untrusted: 'internet',
  disposable: 'none',
};
export const AI_PROVIDERS = ['local', 'cloud', 'local-first'] as const;
export const MACHINE_TYPES = ['lxc', 'vm'] as const;
export const PROTOCOLS = ['tcp', 'udp'] as const;

/** Roles whose meaning anklume's own controllers know; any other role is a label for a provisioner. */
export const KNOWN_ROLES = {
  ollama_server: 'GPU inference services that switch-ai stops and flushes',
  openclaw_server: "the domain's OpenClaw assistant",
  llm_sanitizer: 'the sanitizing LLM gateway (anklume-sanitizer)',
  claude_code: "a developer's machine: pinned Claude Code, claude-code-router and anklume-mcp-local, routed through the domain's AI (docs/claude-code.md)",
} as const;

const description = z.string().meta({ description: 'What this is for, in a sentence.' });

/** Incus config values are strings; YAML numbers and booleans are accepted and stringified. */
const configValue = z.union([z.string(), z.number(), z.boolean()]);
const incusConfig = z
  .record(z.string().min(1), configValue)
  .meta({ description: 'Incus config keys (e.g. limits.cpu: "2"). volatile.* and user.anklume.* are reserved.' });
const incusDevices = z
  .record(z.string().min(1), z.record(z.string().min(1), configValue))
  .meta({ description: 'Incus devices by name; each needs a `type` (disk, nic, gpu, proxy, ...).' });

/**
 * What may break a domain's boundary, refused per trust level by `validate`
 * (docs/firewall.md) unless a machine or profile names it in `allow_unsafe`.
 */
export const UNSAFE_KINDS = ['privileged', 'raw-config', 'host-disk', 'cross-domain-device', 'nesting'] as const;
export type UnsafeKind = (typeof UNSAFE_KINDS)[number];
const allowUnsafe = z
  .array(z.enum(UNSAFE_KINDS))
  .default([])
  .meta({ description: "What this may do although its domain's trust level forbids it: privileged, raw-config, host-disk, cross-domain-device, nesting. Shown as a warning in plan and status." });

/** Where on an Incus cluster: one member, or a cluster group (Incus picks the member). */
export const PlacementSchema = z
  .strictObject({
    member: z.string().min(1).optional().meta({ description: 'A cluster member by name (instances are created with ?target=<member>).' }),
    group: z.string().min(1).optional().meta({ description: 'A cluster group (?target=@<group>): Incus picks a member of it.' }),
  })
  .refine((p) => (p.member === undefined) !== (p.group === undefined), 'exactly one of member or group')
  .meta({ title: 'Placement', description: 'Where the instances run on an Incus cluster (docs/cluster.md). On a single Incus, a placement blocks the instances it places.' });

export const MachineSchema = z
  .strictObject({
    description: description.optional(),
    type: z.enum(MACHINE_TYPES).default('lxc').meta({ description: 'lxc (container) or vm (virtual machine).' }),
    ip: z
      .string()
      .optional()
      .meta({ description: "Static IPv4 address in the domain's subnet (.1-.99). Auto-assigned in declaration order when absent." }),
    gpu: z.boolean().default(false).meta({ description: 'Attach the host GPU to this instance.' }),
    roles: z
      .array(z.string().min(1))
      .default([])
      .meta({ description: 'What runs inside. ollama_server, openclaw_server, llm_sanitizer and claude_code drive anklume; others are provisioner labels.' }),
    profiles: z
      .array(z.string().min(1))
      .default(['default'])
      .meta({ description: 'Incus profiles, in order; names other than `default` must be declared in the domain.' }),
    config: incusConfig.default({}),
    devices: incusDevices.default({}),
    ephemeral: z.boolean().optional().meta({ description: "Deletable without --force (no delete protection). Inherits the domain's value." }),
    os_image: z.string().min(1).optional().meta({ description: 'Image (remote:alias or a local alias). Defaults to global.default_os_image.' }),
    allow_unsafe: allowUnsafe,
    placement: PlacementSchema.optional(),
  })
  .meta({ title: 'Machine', description: 'An Incus instance. Its key is its full, globally unique name (e.g. pro-dev).' });

export const ProfileSchema = z
  .strictObject({
    description: description.optional(),
    config: incusConfig.default({}),
    devices: incusDevices.default({}),
    allow_unsafe: allowUnsafe,
  })
  .meta({ title: 'Profile', description: "An Incus profile created in the domain's project." });

const duration = z
  .string()
  .regex(/^(\d+[smhd])+$/, 'a duration such as 30m, 1h or 1h30m')
  .meta({ description: 'A duration: digits and a unit s, m, h or d (30m, 1h30m).' });

/** An exact version: npm would resolve a range differently on each install (and to a placeholder on Node 20). */
const OPENCLAW_VERSION = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

const hostPath = z.string().regex(/^\/[^\0\n]*$/, 'an absolute path').meta({ description: 'An absolute path on the host.' });

export const OpenClawTelegramSchema = z
  .strictObject({
    token_file: hostPath.meta({ description: 'File on the host holding the bot token. The token itself never goes in infra.yml.' }),
    allow_from: z
      .array(z.union([z.string().regex(/^-?\d+$/, 'a numeric Telegram user id'), z.number().int()]))
      .default([])
      .meta({ description: 'Telegram user ids allowed to talk to the assistant; the first ones are its owners (heartbeat alerts go to them). Empty: DMs need pairing.' }),
    api_root: z
      .string()
      .refine((url) => /^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(url) && !/\/bot[^/]*\/?$/.test(url), 'an http(s) URL of the Bot API root only: no /bot<token>, query or fragment')
      .optional()
      .meta({ description: "The Bot API root OpenClaw talks to (OpenClaw's channels.telegram.apiRoot): a self-hosted Bot API server, as the instance reaches it. Unset: Telegram's own." }),
  })
  .meta({ title: 'OpenClawTelegram', description: "The domain assistant's Telegram channel (long polling: no inbound port)." });

/**
 * A scheduled job of a domain's assistant (spec/000 §3: reports, maintenance,
 * snapshot triggers), reconciled into OpenClaw's own scheduler under the
 * declaration key `anklume:<domain>:<name>`. The schedule's syntax is checked
 * by src/config/rules.ts (cron-schedule), which can say more than a regex.
 */
export const OpenClawCronJobSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'lower-case letters, digits and inner hyphens')
      .max(63)
      .meta({ description: 'Unique in the domain; part of the job\'s key anklume:<domain>:<name>.' }),
    schedule: z.string().min(1).meta({ description: 'A five-field cron expression (minute hour day-of-month month day-of-week), in `tz` (default: the instance\'s time zone, UTC).' }),
    tz: z.string().min(1).optional().meta({ description: 'The IANA time zone the schedule is read in (Europe/Paris, America/New_York). Unset: UTC.' }),
    prompt: z.string().trim().min(1).meta({ description: 'What the assistant is asked at each run.' }),
    task_type: z
      .enum(TASK_TYPES)
      .meta({ description: 'The task type of spec/000 §4\'s routing table: local ones (parsing, reformatting, inventory, triage, summary, codegen) stay on Ollama; cloud ones (correlation, forensics, incident-analysis, architecture, report) go to the cloud through the sanitizer when ai_provider allows it.' }),
    deliver: z
      .enum(['owners', 'none'])
      .default('owners')
      .meta({ description: 'owners: the answer goes to the Telegram owners (when the domain has Telegram); none: kept in the run history only.' }),
  })
  .meta({ title: 'OpenClawCronJob' });

export const DomainOpenClawSchema = z
  .strictObject({
    enabled: z.boolean().default(false).meta({ description: 'Run an OpenClaw assistant in this domain (on its openclaw_server machine).' }),
    heartbeat_every: z.union([duration, z.literal('off')]).optional().meta({ description: 'Heartbeat period, or off. Defaults to global.openclaw.heartbeat_every.' }),
    local_model: z.string().min(1).optional().meta({ description: 'Ollama model for local work. Defaults to global.openclaw.local_model.' }),
    cloud_model: z.string().min(1).optional().meta({ description: 'Cloud model for escalation; needs ai_provider cloud or local-first.' }),
    version: z
      .string()
      .regex(OPENCLAW_VERSION, 'an exact OpenClaw version such as 2026.9.6')
      .optional()
      .meta({ description: 'OpenClaw version for this domain only (a sandbox can try a new one first). Defaults to global.openclaw.version.' }),
    gateway_token_file: hostPath
      .optional()
      .meta({ description: "File on the host holding the token clients present to this domain's OpenClaw gateway. Unset: anklume generates one." }),
    telegram: OpenClawTelegramSchema.optional(),
    cron: z
      .array(OpenClawCronJobSchema)
      .optional()
      .meta({ description: 'Scheduled jobs of this assistant, added to global.openclaw.cron (a job with the same name replaces the global one).' }),
  })
  .meta({ title: 'DomainOpenClaw' });

/** A model name as the LLM APIs take it: no whitespace, no quotes (it goes into JSON, env files and shell lines). */
const modelName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/@-]*$/, 'a model name such as claude-sonnet-4-5 or qwen2.5-coder:32b (letters, digits and . _ : / @ -)');

export const DomainClaudeCodeSchema = z
  .strictObject({
    local_model: modelName.optional().meta({ description: 'Ollama model for background and local tasks. Defaults to global.claude_code.local_model.' }),
    cloud_model: modelName.optional().meta({ description: 'Cloud model, reached through the sanitizer; needs ai_provider cloud or local-first. Defaults to global.claude_code.cloud_model.' }),
  })
  .meta({ title: 'DomainClaudeCode', description: 'Models of the Claude Code set-up on the machines with role claude_code.' });

export const DomainViewSchema = z
  .strictObject({
    snapshots: z
      .boolean()
      .default(false)
      .meta({ description: "Let the domain's own machines ask for a snapshot of one of its instances (POST /v1/instances/<name>/snapshots on the domain view). Off by default." }),
    snapshot_interval: duration
      .refine((d) => durationSeconds(d) > 0, 'a period longer than zero (0m would remove the rate limit)')
      .default('10m')
      .meta({ description: 'At most one snapshot request per this period for the whole domain (30m, 1h).' }),
  })
  .meta({ title: 'DomainView', description: "What the domain view API (served on the domain's gateway) lets this domain do beyond reading." });

export const DomainSchema = z
  .strictObject({
    description: description.optional(),
    trust_level: z.enum(TRUST_LEVELS).default('semi-trusted').meta({ description: 'Security posture; picks the address zone.' }),
    egress: z
      .enum(EGRESS)
      .optional()
      .meta({ description: 'What it reaches outside anklume bridges: lan (internet and private ranges), internet (public addresses only), none. Default by trust level: admin lan, disposable none, others internet.' }),
    subnet_id: z
      .number()
      .int()
      .min(0)
      .max(255)
      .optional()
      .meta({ description: 'Third octet of the subnet. Required with global.base_subnet; optional with zones (auto-assigned in name order).' }),
    enabled: z.boolean().default(true).meta({ description: 'false keeps the domain in the file but creates nothing for it.' }),
    ephemeral: z.boolean().default(false).meta({ description: 'Default for its machines: deletable without --force.' }),
    ai_provider: z.enum(AI_PROVIDERS).default('local').meta({ description: 'Where LLM traffic goes: local (nothing leaves), cloud, local-first.' }),
    ai_sanitize: z
      .union([z.boolean(), z.literal('always')])
      .optional()
      .meta({ description: 'Anonymise prompts: false, true (cloud-bound only), always. Default: false for local, true otherwise.' }),
    ai_binary: z
      .enum(['refuse', 'allow'])
      .default('refuse')
      .meta({ description: 'Binary content (images, PDFs, audio) cannot be sanitized: refuse it on cloud routes, or allow it (each one audited).' }),
    profiles: z.record(z.string(), ProfileSchema).default({}),
    openclaw: DomainOpenClawSchema.optional(),
    claude_code: DomainClaudeCodeSchema.optional(),
    domain_view: DomainViewSchema.prefault({}),
    placement: PlacementSchema.optional(),
    machines: z.record(z.string(), MachineSchema).default({}),
  })
  .meta({ title: 'Domain', description: 'An isolated domain: one Incus project, one bridge net-<domain>, its machines.' });

export const NetworkPolicySchema = z
  .strictObject({
    description: description.optional(),
    from: z.string().min(1).meta({ description: 'A domain, a machine, or host.' }),
    to: z.string().min(1).meta({ description: 'A domain, a machine, host, or an IPv4 address or CIDR outside anklume (a LAN, a VPN).' }),
    ports: z
      .union([z.literal('all'), z.array(z.number().int().min(1).max(65535)).min(1)])
      .meta({ description: 'Destination ports (1-65535), or all.' }),
    protocol: z.enum(PROTOCOLS).default('tcp'),
    bidirectional: z.boolean().default(false).meta({ description: 'true lets either side open connections.' }),
  })
  .meta({ title: 'NetworkPolicy', description: 'An allowed flow between domains; everything else between domains is dropped.' });

export const AddressingSchema = z
  .strictObject({
    zone_base: z
      .number()
      .int()
      .min(0)
      .max(205)
      .default(100)
      .meta({ description: 'Second octet of the admin zone; zones are 10.<zone_base + offset>.<seq>.0/24.' }),
  })
  .meta({ title: 'Addressing', description: 'Trust-zone addressing (the default).' });

export const SanitizerSettingsSchema = z
  .strictObject({
    listen_port: z.number().int().min(1).max(65535).default(DEFAULT_SANITIZER_PORT),
    mode: z.enum(['mask', 'pseudonymize']).default('mask'),
    audit: z.boolean().default(true).meta({ description: 'Keep a local audit trail of what was sent and redacted.' }),
    audit_redacted_only: z.boolean().default(true).meta({ description: 'Audit only requests where something was redacted.' }),
    patterns: z
      .strictObject({
        ip: z.boolean().default(true),
        incus: z.boolean().default(true),
        fqdn: z.boolean().default(true),
        service: z.boolean().default(true),
        ansible: z.boolean().default(true),
        credentials: z.boolean().default(true),
      })
      .prefault({})
      .meta({ description: 'Detection categories, each switchable.' }),
    upstreams: z
      .strictObject({
        anthropic: z.url({ protocol: /^https?$/ }).default('https://api.anthropic.com'),
        openai: z.url({ protocol: /^https?$/ }).default('https://api.openai.com'),
        anthropic_key_file: z.string().startsWith('/').optional().meta({ description: 'Host file with the Anthropic API key; pushed to the sanitizer readable by its service only. Never the key itself in infra.yml.' }),
        openai_key_file: z.string().startsWith('/').optional().meta({ description: 'Host file with the OpenAI API key (same handling).' }),
      })
      .prefault({})
      .meta({ description: 'Where cloud-bound prompts go once sanitized.' }),
  })
  .meta({ title: 'SanitizerSettings' });

export const OpenClawDefaultsSchema = z
  .strictObject({
    version: z.string().regex(OPENCLAW_VERSION, 'an exact OpenClaw version such as 2026.9.6').default('2026.9.6').meta({ description: 'Pinned OpenClaw version.' }),
    port: z.number().int().min(1).max(65535).default(18789),
    heartbeat_every: z.union([duration, z.literal('off')]).default('30m'),
    local_model: z.string().min(1).default('qwen2.5-coder:32b'),
    cloud_model: z.string().min(1).optional(),
    cron: z.array(OpenClawCronJobSchema).default([]).meta({ description: 'Scheduled jobs every assistant gets (a domain can replace one by naming its own job the same).' }),
  })
  .meta({ title: 'OpenClawDefaults' });

export const ClaudeCodeDefaultsSchema = z
  .strictObject({
    local_model: modelName.default('qwen2.5-coder:32b').meta({ description: 'Ollama model for background and local tasks.' }),
    cloud_model: modelName.optional().meta({ description: 'Cloud model for cloud and local-first domains (required for a cloud domain with a claude_code machine).' }),
    router_port: z.number().int().min(1024).max(65535).default(3456).meta({ description: "claude-code-router's port on the claude_code machine." }),
  })
  .meta({ title: 'ClaudeCodeDefaults' });

export const DomainViewSettingsSchema = z
  .strictObject({
    enabled: z.boolean().default(true).meta({ description: "Serve each domain's read-only view of itself on its gateway address (docs/monitoring.md)." }),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .refine((p) => p !== 53 && p !== 67, 'a port other than 53 and 67 (DNS and DHCP hold them on the gateway)')
      .default(DEFAULT_DOMAIN_VIEW_PORT)
      .meta({ description: `TCP port of the domain view on every gateway address (default ${DEFAULT_DOMAIN_VIEW_PORT}).` }),
  })
  .meta({ title: 'DomainViewSettings' });

export const GlobalSchema = z
  .strictObject({
    base_subnet: z
      .string()
      .optional()
      .meta({ description: 'Legacy addressing: "10.100" gives <base_subnet>.<subnet_id>.0/24. Excludes `addressing`.' }),
    addressing: AddressingSchema.optional(),
    default_os_image: z.string().min(1).default('images:debian/13'),
    ai_access_policy: z.enum(['open', 'exclusive']).default('open').meta({ description: 'exclusive: one domain at a time reaches ai-tools.' }),
    ai_access_default: z.string().optional().meta({ description: 'With exclusive: the domain that holds AI access at first.' }),
    ai_vram_flush: z.boolean().default(true).meta({ description: 'Flush GPU memory when AI access switches domain.' }),
    ai_tools_domain: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'a domain name')
      .default('ai-tools')
      .meta({ description: 'The domain that exclusive AI access guards (the GPU services live there).' }),
    ai_gpu_services: z
      .array(z.string().regex(/^[A-Za-z0-9@._-]+$/, 'a systemd unit name without .service'))
      .default(['ollama', 'speaches'])
      .meta({ description: 'systemd services in the ai-tools instances that switch-ai stops before flushing GPU memory and starts again after.' }),
    gpu_policy: z.enum(['exclusive', 'shared']).default('exclusive').meta({ description: 'exclusive: at most one instance with gpu: true.' }),
    host_disk_paths: z
      .array(z.string().regex(/^\/[^\0\n]*$/, 'an absolute path'))
      .default([])
      .meta({ description: 'Host directories that machines outside the admin domain may mount as disks (with what is below them). Empty: none.' }),
    sanitizer: SanitizerSettingsSchema.prefault({}),
    openclaw: OpenClawDefaultsSchema.prefault({}),
    claude_code: ClaudeCodeDefaultsSchema.prefault({}),
    domain_view: DomainViewSettingsSchema.prefault({}),
  })
  .meta({ title: 'Global' });

export const InfraSchema = z
  .strictObject({
    $schema: z.string().optional().meta({ description: 'JSON Schema reference for editors; ignored by anklume.' }),
    project_name: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'lower-case letters, digits and inner hyphens')
      .default('anklume')
      .meta({ description: 'Name of this infrastructure; stamped on every object anklume owns.' }),
    global: GlobalSchema.prefault({}),
    domains: z.record(z.string(), DomainSchema),
    network_policies: z.array(NetworkPolicySchema).default([]),
  })
  .meta({ title: 'Infra', description: 'anklume infra.yml: the desired state of the host.' });

export type InfraInput = z.input<typeof InfraSchema>;
export type Infra = z.output<typeof InfraSchema>;
export type Domain = z.output<typeof DomainSchema>;
export type Machine = z.output<typeof MachineSchema>;
export type NetworkPolicy = z.output<typeof NetworkPolicySchema>;
export type Global = z.output<typeof GlobalSchema>;
export type TrustLevel = (typeof TRUST_LEVELS)[number];
export type AiProvider = (typeof AI_PROVIDERS)[number];
export type OpenClawCronJob = z.output<typeof OpenClawCronJobSchema>;
