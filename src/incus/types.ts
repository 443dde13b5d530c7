/**
 * The Incus REST objects anklume reads and writes: only the fields it uses.
 * Field names are Incus's own (snake_case) so values pass through unchanged.
 * Reference: https://linuxcontainers.org/incus/docs/main/rest-api/ and
 * `shared/api/*.go` in lxc/incus.
 */

/** Incus `config` maps are flat string→string (`"ipv4.nat": "false"`). */
export type IncusConfig = Record<string, string>;

/** A device (`nic`, `disk`, `gpu`, ...): `type` plus flat string options. */
export type IncusDevice = Record<string, string>;

/** Devices keyed by device name (`eth0`, `root`, ...). */
export type IncusDevices = Record<string, IncusDevice>;

/**
 * Numeric status codes, stable across versions: compare these, never the
 * `status` strings. https://linuxcontainers.org/incus/docs/main/rest-api/#list-of-current-status-codes
 */
export const StatusCode = {
  OperationCreated: 100,
  Started: 101,
  Stopped: 102,
  Running: 103,
  Cancelling: 104,
  Pending: 105,
  Starting: 106,
  Stopping: 107,
  Aborting: 108,
  Freezing: 109,
  Frozen: 110,
  Thawed: 111,
  Error: 112,
  Ready: 113,
  Success: 200,
  Failure: 400,
  Cancelled: 401,
} as const;

/**
 * Every Incus answer is wrapped in this envelope. `type` says which of the
 * three shapes it is: `sync` (200/201), `async` (202, `metadata` is the
 * Operation) or `error` (`error_code` + `error`, also sent under HTTP 200 by
 * `/operations/{id}/wait`).
 */
export interface IncusEnvelope<T = unknown> {
  type: 'sync' | 'async' | 'error';
  status: string;
  status_code: number;
  /** URL of the operation for async answers, else "". */
  operation: string;
  /** HTTP-like code of an error answer, 0 otherwise. */
  error_code: number;
  /** Incus's message for an error answer, "" otherwise. */
  error: string;
  metadata: T;
}

/** A background task: what async writes return and `/wait` resolves. */
export interface Operation {
  id: string;
  /** `task`, `websocket` or `token`. */
  class: string;
  description: string;
  created_at: string;
  updated_at: string;
  status: string;
  /** See {@link StatusCode}: 103 running, 200 success, 400 failure, 401 cancelled. */
  status_code: number;
  /** Objects the operation touches, by kind: `{instances: ["/1.0/instances/c1"]}`. */
  resources: Record<string, string[]> | null;
  metadata: Record<string, unknown> | null;
  may_cancel: boolean;
  /** Incus's error message when `status_code` is 400 (failure). */
  err: string;
  location: string;
}

/** `GET /1.0`: server identity, extensions and environment. */
export interface ServerInfo {
  api_extensions: string[];
  api_status: string;
  api_version: string;
  /** `trusted` when our identity is accepted. */
  auth: string;
  auth_user_name?: string;
  auth_user_method?: string;
  public: boolean;
  config: IncusConfig;
  environment?: {
    server_version: string;
    server_clustered: boolean;
    server_name?: string;
    firewall?: string;
    kernel_version?: string;
    storage?: string;
    driver?: string;
    [key: string]: unknown;
  };
}

/** An instance (container or VM) as listed with `recursion=1`. */
export interface Instance {
  name: string;
  project: string;
  type: 'container' | 'virtual-machine';
  description: string;
  architecture: string;
  /** Local config only; includes `volatile.*` keys a PUT must carry back. */
  config: IncusConfig;
  /** Local devices only (profile devices are in `expanded_devices`). */
  devices: IncusDevices;
  profiles: string[];
  ephemeral: boolean;
  stateful: boolean;
  status: string;
  /** See {@link StatusCode}: 103 running, 102 stopped, 110 frozen, 112 error. */
  status_code: number;
  /** Config merged from profiles and local config. */
  expanded_config?: IncusConfig;
  expanded_devices?: IncusDevices;
  created_at?: string;
  last_used_at?: string;
  location?: string;
  /** Present only in a `recursion=2` list (`listInstances({ withState: true })`). */
  state?: InstanceState | null;
}

/** `GET /1.0/instances/{name}/state` (and `state` of a recursion=2 list entry), as far as anklume reads it. */
export interface InstanceState {
  status?: string;
  processes?: number;
  cpu?: { usage?: number };
  memory?: { usage?: number; usage_peak?: number; total?: number };
  disk?: Record<string, { usage?: number; total?: number } | undefined>;
  network?: Record<string, InstanceNicState | undefined> | null;
}

export interface InstanceNicState {
  addresses?: { family?: string; address?: string; netmask?: string; scope?: string }[];
  counters?: { bytes_received?: number; bytes_sent?: number };
}

/** The global IPv4 addresses an instance holds on eth0 (where anklume's NIC is), from its state. */
export function eth0Ipv4(instance: Pick<Instance, 'state'>): string[] {
  const addresses = instance.state?.network?.eth0?.addresses ?? [];
  return addresses.filter((a) => a.family === 'inet' && a.scope === 'global' && a.address !== undefined).map((a) => a.address as string);
}

/** The writable part of an instance: the body of `PUT /1.0/instances/{name}`. */
export interface InstancePut {
  architecture?: string;
  config: IncusConfig;
  devices: IncusDevices;
  profiles: string[];
  ephemeral?: boolean;
  stateful?: boolean;
  description?: string;
}

/** `POST /1.0/instances` body (`shared/api/instance.go` InstancesPost). */
export interface InstancesPost {
  name: string;
  type?: 'container' | 'virtual-machine';
  source:
    | { type: 'image'; alias?: string; fingerprint?: string; properties?: Record<string, string>; server?: string; protocol?: string; mode?: string }
    | { type: 'none' }
    | { type: 'copy'; source: string; project?: string; instance_only?: boolean; refresh?: boolean };
  profiles?: string[];
  config?: IncusConfig;
  devices?: IncusDevices;
  ephemeral?: boolean;
  description?: string;
  /** Start once created (extension `instance_create_start`). */
  start?: boolean;
}

/** `PUT /1.0/instances/{name}/state` body. */
export interface InstanceStatePut {
  action: 'start' | 'stop' | 'restart' | 'freeze' | 'unfreeze';
  /** Seconds to wait for a clean stop before failing (or forcing, with `force`). */
  timeout?: number;
  force?: boolean;
  stateful?: boolean;
}

/** A network (managed bridge or host interface). */
export interface Network {
  name: string;
  /** `bridge`, `ovn`, `macvlan`, ... or host kinds (`physical`, `loopback`) when unmanaged. */
  type: string;
  description: string;
  config: IncusConfig;
  /** Only managed networks are Incus's to configure. */
  managed: boolean;
  status?: string;
  used_by?: string[] | null;
  locations?: string[] | null;
  project?: string;
}

/** The writable part of a network: `PUT /1.0/networks/{name}`. */
export interface NetworkPut {
  description?: string;
  config: IncusConfig;
}

/** A project. */
export interface Project {
  name: string;
  description: string;
  /** `features.*`, `restricted.*`, `limits.*`, `user.*`, ... */
  config: IncusConfig;
  used_by?: string[] | null;
}

/** The writable part of a project: `PUT /1.0/projects/{name}`. */
export interface ProjectPut {
  description?: string;
  config: IncusConfig;
}

/** A profile. */
export interface Profile {
  name: string;
  description: string;
  config: IncusConfig;
  devices: IncusDevices;
  project?: string;
  used_by?: string[] | null;
}

/** The writable part of a profile: `PUT /1.0/profiles/{name}`. */
export interface ProfilePut {
  description?: string;
  config: IncusConfig;
  devices: IncusDevices;
}

/**
 * A message of the `/1.0/events` websocket (`shared/api/event.go`).
 * https://linuxcontainers.org/incus/docs/main/events/
 */
export interface IncusEvent<M = unknown> {
  /** `lifecycle`, `operation`, `logging`, ... */
  type: string;
  timestamp: string;
  metadata: M;
  location?: string;
  /** Project the event belongs to; often the only reliable project field. */
  project?: string;
}

/**
 * `metadata` of a lifecycle event. `name` and `project` are set only by some
 * instance events: key work off `source` and the envelope `project` instead.
 */
export interface LifecycleMetadata {
  /** `instance-started`, `network-updated`, ... */
  action: string;
  /** URL of the object: `/1.0/instances/c1?project=pro`. */
  source: string;
  context?: Record<string, unknown>;
  requestor?: { username?: string; protocol?: string; address?: string };
  name?: string;
  project?: string;
}
