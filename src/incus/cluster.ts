import type { IncusClient } from './client.js';

/** A cluster member as `GET /1.0/cluster/members?recursion=1` gives it (the fields anklume reads). */
export interface ClusterMemberInfo {
  server_name: string;
  url?: string;
  /** `Online`, `Offline`, `Evacuated`, `Blocked`... */
  status: string;
  message?: string;
  groups?: string[] | null;
  roles?: string[] | null;
}

/** What anklume knows of the Incus it talks to: one server, or a cluster and its members. */
export interface ClusterView {
  readonly clustered: boolean;
  /** The member that answered (the one whose socket or URL anklume uses). */
  readonly serverName: string;
  readonly members: readonly { readonly name: string; readonly status: string; readonly message: string; readonly groups: readonly string[] }[];
}

/** A single, not clustered Incus. */
export const SINGLE_SERVER: ClusterView = { clustered: false, serverName: '', members: [] };

/** `GET /1.0` (environment.server_clustered), then the member list when it is a cluster: two requests at most. */
export async function readCluster(client: IncusClient, options: { signal?: AbortSignal } = {}): Promise<ClusterView> {
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const info = await client.serverInfo(signal);
  const serverName = info.environment?.server_name ?? '';
  if (info.environment?.server_clustered !== true) return { ...SINGLE_SERVER, serverName };
  const members = await client.get<ClusterMemberInfo[]>('/1.0/cluster/members', { query: { recursion: 1 }, ...signal });
  return {
    clustered: true,
    serverName,
    members: members
      .map((m) => ({ name: m.server_name, status: m.status, message: m.message ?? '', groups: m.groups ?? [] }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  };
}

/** Members that cannot take a write now: Incus refuses network and ACL writes while any member is down. */
export function unavailableMembers(view: ClusterView): string[] {
  return view.members.filter((m) => m.status !== 'Online').map((m) => m.name);
}
