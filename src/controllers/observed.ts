/**
 * What the engine reads from Incus: only the fields it compares. Shapes follow
 * the Incus REST API (incus-api.md §B); lists come from recursion=1 (all-projects).
 */
export type IncusConfig = Readonly<Record<string, string>>;
export type IncusDevices = Readonly<Record<string, Readonly<Record<string, string>>>>;

export interface ObservedProject {
  readonly name: string;
  readonly description: string;
  readonly config: IncusConfig;
}

export interface ObservedNetwork {
  readonly name: string;
  readonly description: string;
  readonly type: string;
  readonly managed: boolean;
  readonly config: IncusConfig;
  /** `Created`; on a cluster `Pending` or `Errored` while its create is not finished (absent: not said). */
  readonly status?: string;
}

export interface ObservedProfile {
  readonly name: string;
  readonly project: string;
  readonly description: string;
  readonly config: IncusConfig;
  readonly devices: IncusDevices;
}

export interface ObservedInstance {
  readonly name: string;
  readonly project: string;
  readonly type: 'container' | 'virtual-machine';
  readonly status: string;
  readonly description: string;
  readonly profiles: readonly string[];
  readonly config: IncusConfig;
  readonly devices: IncusDevices;
  /** The cluster member it runs on (absent or `none` on a single Incus). */
  readonly location?: string;
}

/** Everything anklume looks at, keyed for lookups: profiles and instances by `project/name`. */
export interface Observed {
  readonly projects: ReadonlyMap<string, ObservedProject>;
  readonly networks: ReadonlyMap<string, ObservedNetwork>;
  readonly profiles: ReadonlyMap<string, ObservedProfile>;
  readonly instances: ReadonlyMap<string, ObservedInstance>;
}

export function scoped(project: string, name: string): string {
  return `${project}/${name}`;
}
