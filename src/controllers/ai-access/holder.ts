import type { IncusClient } from '../../incus/client.js';
import { isNotFound } from '../../incus/errors.js';
import type { Project } from '../../incus/types.js';
import type { AiAccessStatus, VramReading } from '../status.js';
import type { DesiredInfra } from '../../schemas/model.js';
import type { Observed } from '../observed.js';

/**
 * The holder of exclusive AI access is durable state kept in Incus, on the
 * ai-tools project (so it survives daemon restarts and reboots, and a remote
 * or reinstalled operator finds it): absent means ai_access_default, NOBODY
 * means nobody (a switch stopped between revoke and grant).
 */
export const HOLDER_KEY = 'user.anklume.ai-access-holder';
export const SINCE_KEY = 'user.anklume.ai-access-since';
/**
 * The recorded value for "nobody": Incus drops keys set to "", and "-" is no
 * domain name (names are DNS labels).
 */
export const NOBODY = '-';
/** Set while a switch runs: `old -> new`. */
export const SWITCHING_KEY = 'user.anklume.ai-access-switching';
/** The holder `switch-ai` asked for (desired state); absent: the current holder is wanted. */
export const WANTED_KEY = 'user.anklume.ai-access-wanted';
/** Whether the switch to the wanted holder flushes VRAM (`true`/`false`), written with it. */
export const FLUSH_KEY = 'user.anklume.ai-access-flush';
/** The phase a switch is in, written before it is acted on; absent: no switch in flight. */
export const PHASE_KEY = 'user.anklume.ai-access-phase';
/** The switch in flight: when it began (ISO time), which names its line in the switch log. */
export const SWITCH_ID_KEY = 'user.anklume.ai-access-switch-id';
/** JSON list of the GPU services the switch in flight stopped: each is recorded before it is stopped. */
export const STOPPED_KEY = 'user.anklume.ai-access-stopped';
/** Why the last switch failed (it left nobody holding access); cleared by the next request. */
export const FAILED_KEY = 'user.anklume.ai-access-failed';

/** The phases of a switch, in order: revocation comes before anything is stopped, the grant after the flush. */
export const PHASES = ['revoking', 'stopping', 'flushing', 'granting', 'starting'] as const;
export type Phase = (typeof PHASES)[number];

export interface StoppedService {
  readonly instance: string;
  readonly service: string;
}

/** Everything recorded about AI access on the ai-tools project. */
export interface AccessRecord {
  readonly holder: AiHolder;
  /** The domain wanted; null for nobody (a failed switch); undefined when nothing was asked. */
  readonly wanted: string | null | undefined;
  readonly flush: boolean;
  readonly phase: Phase | null;
  readonly switchId: string | null;
  readonly switching: string | null;
  readonly stopped: readonly StoppedService[];
  readonly failed: string | null;
}

/** The whole record from the ai-tools project's config (pure). A phase or list that does not parse is read as none. */
export function recordFromConfig(model: DesiredInfra, config: Readonly<Record<string, string>> | undefined): AccessRecord {
  const wanted = config?.[WANTED_KEY];
  const phase = config?.[PHASE_KEY];
  return {
    holder: holderFromConfig(model, config),
    wanted: wanted === undefined ? undefined : wanted === NOBODY ? null : wanted,
    flush: config?.[FLUSH_KEY] !== 'false',
    phase: (PHASES as readonly string[]).includes(phase ?? '') ? (phase as Phase) : null,
    switchId: config?.[SWITCH_ID_KEY] ?? null,
    switching: config?.[SWITCHING_KEY] ?? null,
    stopped: parseStopped(config?.[STOPPED_KEY]),
    failed: config?.[FAILED_KEY] ?? null,
  };
}

function parseStopped(text: string | undefined): StoppedService[] {
  if (text === undefined) return [];
  try {
    const list = JSON.parse(text) as unknown;
    if (!Array.isArray(list)) return [];
    return list.filter((x): x is StoppedService => typeof x === 'object' && x !== null && typeof (x as StoppedService).instance === 'string' && typeof (x as StoppedService).service === 'string');
  } catch {
    return [];
  }
}

export function formatStopped(list: readonly StoppedService[]): string {
  return JSON.stringify(list.map(({ instance, service }) => ({ instance, service })));
}

/** The record read fresh from Incus (one GET). */
export async function readRecord(client: IncusClient, model: DesiredInfra, signal?: AbortSignal): Promise<AccessRecord> {
  try {
    const project = await client.get<Project>(`/1.0/projects/${model.ai.toolsDomain}`, signal === undefined ? {} : { signal });
    return recordFromConfig(model, project.config);
  } catch (err) {
    if (isNotFound(err)) return recordFromConfig(model, undefined);
    throw err;
  }
}

/**
 * Change keys of the record on the ai-tools project in one write
 * (read-modify-write with the ETag: every other key is kept; null removes a key).
 */
export async function writeRecord(client: IncusClient, model: DesiredInfra, patch: Readonly<Record<string, string | null>>, signal?: AbortSignal): Promise<void> {
  await client.updateWithRetry<Project, { description: string; config: Record<string, string> }>(
    `/1.0/projects/${model.ai.toolsDomain}`,
    (current) => {
      const config: Record<string, string> = { ...current.config };
      for (const [key, value] of Object.entries(patch)) {
        if (value === null) Reflect.deleteProperty(config, key);
        else config[key] = value;
      }
      return { description: current.description ?? '', config };
    },
    signal === undefined ? {} : { signal },
  );
}

export interface AiHolder {
  /** The domain that may reach ai-tools now; null for nobody (or open access: everyone). */
  readonly holder: string | null;
  readonly since: string | null;
  readonly source: 'open' | 'ai_access_default' | 'switch-ai' | 'none';
  /** Why nobody holds it, or what is odd about the record. */
  readonly note?: string;
}

/** Who may hold access: a known, enabled domain other than ai-tools. */
export function canHold(model: DesiredInfra, domain: string): boolean {
  return domain !== model.ai.toolsDomain && model.domains.some((d) => d.name === domain && d.enabled);
}

/** Read the holder from the ai-tools project's config (pure). */
export function holderFromConfig(model: DesiredInfra, config: Readonly<Record<string, string>> | undefined): AiHolder {
  if (model.ai.accessPolicy === 'open') return { holder: null, since: null, source: 'open' };
  const recorded = config?.[HOLDER_KEY];
  const since = config?.[SINCE_KEY] ?? null;
  if (recorded === undefined) {
    const holder = model.ai.accessDefault;
    return holder !== null && canHold(model, holder) ? { holder, since: null, source: 'ai_access_default' } : { holder: null, since: null, source: 'none', note: `ai_access_default "${holder ?? ''}" cannot hold access` };
  }
  if (recorded === NOBODY) {
    const switching = config?.[SWITCHING_KEY];
    return { holder: null, since, source: 'none', note: switching === undefined ? 'access revoked, not granted to anyone' : `a switch (${switching}) stopped before granting access` };
  }
  if (!canHold(model, recorded)) return { holder: null, since, source: 'none', note: `the recorded holder "${recorded}" is no longer an enabled domain of infra.yml; switch-ai gives access to another` };
  return { holder: recorded, since, source: 'switch-ai' };
}

/** The holder as the last observation of Incus says. */
export function holderFromObserved(model: DesiredInfra, observed: Observed): AiHolder {
  return holderFromConfig(model, observed.projects.get(model.ai.toolsDomain)?.config);
}

/** The holder read fresh from Incus (one GET): what a firewall pass must use. */
export async function readHolder(client: IncusClient, model: DesiredInfra, signal?: AbortSignal): Promise<AiHolder> {
  if (model.ai.accessPolicy === 'open') return holderFromConfig(model, undefined);
  return (await readRecord(client, model, signal)).holder;
}

/** Who holds AI access, what is wanted and how a switch stands, for status (record null: Incus could not be read). */
export function aiAccess(model: DesiredInfra, record: AccessRecord | null, more: { vram?: readonly VramReading[]; vramError?: string | undefined; switches?: readonly string[] } = {}): AiAccessStatus {
  if (model.ai.accessPolicy === 'open') return { policy: 'open', holder: null, source: 'open access: every domain may reach ai-tools' };
  const gpu = { ...(more.vram === undefined || more.vram.length === 0 ? {} : { vram: more.vram }), ...(more.vramError === undefined ? {} : { vramError: more.vramError }) };
  const switches = more.switches === undefined ? {} : { lastSwitches: more.switches };
  if (record === null) return { policy: 'exclusive', holder: null, since: null, source: 'unknown: Incus could not be read', ...gpu, ...switches };
  const { holder } = record;
  const source = holder.source === 'switch-ai' ? 'switch-ai' : holder.source === 'ai_access_default' ? 'ai_access_default (no switch yet)' : `nobody: ${holder.note ?? 'no holder'}`;
  return {
    policy: 'exclusive',
    holder: holder.holder,
    since: holder.since,
    source,
    wanted: record.wanted === undefined ? holder.holder : record.wanted,
    phase: record.phase,
    ...(record.failed === null ? {} : { lastFailure: record.failed }),
    ...gpu,
    ...switches,
  };
}
