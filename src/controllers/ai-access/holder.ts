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

/** The holder read fresh from Incus (one GET): what a firewall pass and a switch must use. */
export async function readHolder(client: IncusClient, model: DesiredInfra, signal?: AbortSignal): Promise<AiHolder> {
  if (model.ai.accessPolicy === 'open') return holderFromConfig(model, undefined);
  try {
    const project = await client.get<Project>(`/1.0/projects/${model.ai.toolsDomain}`, signal === undefined ? {} : { signal });
    return holderFromConfig(model, project.config);
  } catch (err) {
    if (isNotFound(err)) return holderFromConfig(model, undefined);
    throw err;
  }
}

/** Record the holder on the ai-tools project (read-modify-write: every other key is kept). */
export async function writeHolder(client: IncusClient, model: DesiredInfra, record: { holder: string; since?: string; switching?: string | null }, signal?: AbortSignal): Promise<void> {
  await client.updateWithRetry<Project, { description: string; config: Record<string, string> }>(
    `/1.0/projects/${model.ai.toolsDomain}`,
    (current) => {
      const config: Record<string, string> = { ...current.config, [HOLDER_KEY]: record.holder };
      if (record.since !== undefined) config[SINCE_KEY] = record.since;
      if (record.switching === null) Reflect.deleteProperty(config, SWITCHING_KEY);
      else if (record.switching !== undefined) config[SWITCHING_KEY] = record.switching;
      return { description: current.description ?? '', config };
    },
    signal === undefined ? {} : { signal },
  );
}

/** Who holds AI access, for status. */
export function aiAccess(model: DesiredInfra, holder: AiHolder | null, vram?: readonly VramReading[]): AiAccessStatus {
  if (model.ai.accessPolicy === 'open') return { policy: 'open', holder: null, source: 'open access: every domain may reach ai-tools' };
  const gpu = vram === undefined || vram.length === 0 ? {} : { vram };
  if (holder === null) return { policy: 'exclusive', holder: null, since: null, source: 'unknown: Incus could not be read', ...gpu };
  const source = holder.source === 'switch-ai' ? 'switch-ai' : holder.source === 'ai_access_default' ? 'ai_access_default (no switch yet)' : `nobody: ${holder.note ?? 'no holder'}`;
  return { policy: 'exclusive', holder: holder.holder, since: holder.since, source, ...gpu };
}
