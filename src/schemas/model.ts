import type { AiProvider, Egress, TrustLevel, UnsafeKind } from './infra.js';
import type { TaskType } from './tasks.js';

/**
 * The desired model: infra.yml validated, defaults resolved, addresses computed.
 * This is what controllers consume; nothing in it needs the file any more.
 */
export interface DesiredInfra {
  readonly projectName: string;
  readonly addressing: { readonly mode: 'zones'; readonly zoneBase: number } | { readonly mode: 'legacy'; readonly baseSubnet: string };
  readonly defaultOsImage: string;
  readonly ai: {
    readonly accessPolicy: 'open' | 'exclusive';
    /** With exclusive access: the domain that holds access until a switch. */
    readonly accessDefault: string | null;
    readonly vramFlush: boolean;
    /** The domain exclusive access guards: `ai-tools` unless global.ai_tools_domain says otherwise. */
    readonly toolsDomain: string;
    /** systemd services switch-ai stops and starts in the ai-tools instances. */
    readonly gpuServices: readonly string[];
    readonly gpuPolicy: 'exclusive' | 'shared';
  };
  readonly sanitizer: {
    readonly listenPort: number;
    readonly mode: 'mask' | 'pseudonymize';
    readonly audit: boolean;
    readonly auditRedactedOnly: boolean;
    readonly patterns: Readonly<Record<'ip' | 'incus' | 'fqdn' | 'service' | 'ansible' | 'credentials', boolean>>;
    readonly upstreams: { readonly anthropic: string; readonly openai: string; readonly anthropicKeyFile: string | null; readonly openaiKeyFile: string | null };
  };
  /** The domain view API on each gateway (docs/monitoring.md). */
  readonly domainView: { readonly enabled: boolean; readonly port: number };
  /** Every domain of the file, disabled ones included (they keep their addresses). */
  readonly domains: readonly DesiredDomain[];
  readonly policies: readonly DesiredPolicy[];
}

/** Where on an Incus cluster (docs/cluster.md): a member, or a cluster group. */
export type Placement = { readonly member: string; readonly group?: never } | { readonly group: string; readonly member?: never };

export interface DesiredDomain {
  readonly name: string;
  readonly description: string;
  readonly trustLevel: TrustLevel;
  readonly egress: Egress;
  readonly enabled: boolean;
  readonly ephemeral: boolean;
  readonly aiProvider: AiProvider;
  readonly aiSanitize: boolean | 'always';
  /** Binary content on cloud routes: refused, or allowed and audited (the gateway's `ai_binary`). */
  readonly aiBinary: 'refuse' | 'allow';
  /** Incus project of the domain (same name). */
  readonly project: string;
  /** Bridge `net-<domain>`, in the default project. */
  readonly bridge: string;
  readonly network: DomainNetwork;
  /** Where its machines run on a cluster; null: wherever Incus puts them. */
  readonly placement: Placement | null;
  readonly profiles: readonly DesiredProfile[];
  readonly machines: readonly DesiredMachine[];
  readonly openclaw: DesiredOpenClaw | null;
  /** The Claude Code set-up, when a machine has role claude_code. */
  readonly claudeCode: DesiredClaudeCode | null;
  /** What the domain view lets this domain ask for: snapshots, at most one per interval. */
  readonly view: { readonly snapshots: boolean; readonly snapshotIntervalMs: number };
}

export interface DomainNetwork {
  /** Third octet: the domain's sequence in its zone, or its legacy subnet_id. */
  readonly subnetId: number;
  /** `10.110.0.0/24`. */
  readonly subnet: string;
  /** `10.110.0.254`. */
  readonly gateway: string;
  readonly prefixLength: 24;
  /** Static hosts: `.1`–`.99`. */
  readonly staticRange: { readonly first: string; readonly last: string };
  /** Incus DHCP: `.100`–`.249`. */
  readonly dhcpRange: { readonly first: string; readonly last: string };
}

export interface DesiredProfile {
  readonly name: string;
  readonly description: string;
  readonly config: Readonly<Record<string, string>>;
  readonly devices: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly allowUnsafe: readonly UnsafeKind[];
}

export interface DesiredMachine {
  readonly name: string;
  readonly domain: string;
  readonly description: string;
  readonly type: 'lxc' | 'vm';
  /** The Incus instance type for `type`. */
  readonly instanceType: 'container' | 'virtual-machine';
  readonly ip: string;
  readonly ipSource: 'explicit' | 'auto';
  readonly gpu: boolean;
  readonly roles: readonly string[];
  readonly profiles: readonly string[];
  readonly config: Readonly<Record<string, string>>;
  readonly devices: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly ephemeral: boolean;
  readonly osImage: string;
  /** What it may do although its domain's trust level forbids it (a warning in plan and status). */
  readonly allowUnsafe: readonly UnsafeKind[];
  /** Its own placement, else its domain's; null: wherever Incus puts it. */
  readonly placement: Placement | null;
}

export interface DesiredOpenClaw {
  /** The machine with role openclaw_server. */
  readonly machine: string;
  /** Exact OpenClaw version: the domain's own pin, else global.openclaw.version. */
  readonly version: string;
  readonly port: number;
  /** A duration (`30m`) or `off`. */
  readonly heartbeatEvery: string;
  readonly localModel: string;
  readonly cloudModel: string | null;
  /** Host file with the gateway's client token; null: anklume generates one. */
  readonly gatewayTokenFile: string | null;
  readonly telegram: DesiredOpenClawTelegram | null;
  /** Scheduled jobs: global.openclaw.cron with the domain's own (same name: the domain's wins), in that order. */
  readonly cron: readonly DesiredCronJob[];
}

export interface DesiredClaudeCode {
  /** The machines with role claude_code. */
  readonly machines: readonly string[];
  readonly localModel: string;
  /** Null in a local domain (nothing goes to the cloud). */
  readonly cloudModel: string | null;
  readonly routerPort: number;
}

export interface DesiredCronJob {
  readonly name: string;
  /** Five-field cron expression. */
  readonly schedule: string;
  /** IANA time zone of the schedule; null: the instance's (UTC). */
  readonly tz: string | null;
  readonly prompt: string;
  readonly taskType: TaskType;
  readonly deliver: 'owners' | 'none';
}

export interface DesiredOpenClawTelegram {
  /** Host file with the bot token (never the token itself). */
  readonly tokenFile: string;
  /** Telegram user ids, as strings; empty means DMs need pairing. */
  readonly allowFrom: readonly string[];
  /** A self-hosted Bot API root (OpenClaw's `apiRoot`); null: Telegram's own. */
  readonly apiRoot: string | null;
}

export type PolicyEndpoint =
  | { readonly kind: 'host' }
  | { readonly kind: 'domain'; readonly domain: string }
  | { readonly kind: 'machine'; readonly domain: string; readonly machine: string; readonly ip: string }
  /** Addresses outside anklume (a LAN, a VPN), as a canonical IPv4 CIDR (a single address without /32); only ever a policy's `to`. */
  | { readonly kind: 'network'; readonly cidr: string };

export interface DesiredPolicy {
  /** Position in network_policies, for messages. */
  readonly index: number;
  readonly description: string;
  readonly from: PolicyEndpoint;
  readonly to: PolicyEndpoint;
  readonly ports: readonly number[] | 'all';
  readonly protocol: 'tcp' | 'udp';
  readonly bidirectional: boolean;
}
