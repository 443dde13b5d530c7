import { createHash } from 'node:crypto';
import type { CronJobSpec } from './openclaw-cron.js';
import type { PinnedSet } from './pinned-install.js';

/**
 * A service anklume runs inside one of its instances (the sanitizer, an
 * OpenClaw assistant): files pushed through the Incus API, devices the
 * instance needs, and a systemd unit restarted when any of it changes. The
 * content hash, recorded on the instance, is how "changed" is decided: a
 * converged service costs no request at all.
 */
/**
 * What every unit anklume writes for a service that runs as its own user
 * (OpenClaw, claude-code-router) declares: no privilege gained through
 * setuid, /usr and /etc read-only (its config cannot be rewritten even by a
 * bug), a private /tmp.
 */
export const SERVICE_UNIT_HARDENING = ['NoNewPrivileges=yes', 'ProtectSystem=full', 'PrivateTmp=yes'] as const;

export interface ServiceFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

export interface ServiceDeployment {
  /** The Incus project (the domain) and instance that run it. */
  readonly project: string;
  readonly instance: string;
  readonly domain: string;
  /** What status shows: `sanitizer`, `openclaw`. */
  readonly name: string;
  readonly files: readonly ServiceFile[];
  /** Devices added to the instance (bind mounts of host paths). */
  readonly devices: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Host directories that the devices need to exist. */
  readonly hostDirs: readonly string[];
  readonly unit: string;
  /** Polled after a restart until it answers 200. */
  readonly healthUrl: string;
  readonly hash: string;
  /** Shell run in the instance before the files are pushed (create a user, ...). */
  readonly setup?: string;
  /** Shell run in the instance after the files are pushed (ownership by a group the setup created, ...). */
  readonly afterFiles?: string;
  /** Why it cannot be deployed now (a key file unreadable, ...): the action is planned blocked with this reason. */
  readonly problem?: string;
  /** An OpenClaw assistant's cron jobs, reconciled through its CLI once it answers (src/controllers/service/openclaw-cron.ts). */
  readonly cron?: CronDeployment;
  /** Something the host must have first: a pinned npm set the devices mount (pinned-install.ts), installed when its stamp is missing. */
  readonly hostInstall?: PinnedSet;
}

/** The cron jobs of an OpenClaw gateway, as a deployment carries them. */
export interface CronDeployment {
  readonly jobs: readonly CronJobSpec[];
  /** cronHash(jobs): recorded on the instance (CRON_HASH_KEY) after a sync. */
  readonly hash: string;
  /** The gateway's port inside the instance. */
  readonly port: number;
}

/** The instance config key holding the hash of the cron jobs last synced. */
export const CRON_HASH_KEY = 'user.anklume.cron-hash';

/** The instance config key holding the hash of what was deployed. */
export const DEPLOY_HASH_KEY = 'user.anklume.deploy-hash';

export function deploymentHash(parts: { files: readonly ServiceFile[]; devices: ServiceDeployment['devices']; unit: string }): string {
  const h = createHash('sha256');
  for (const f of [...parts.files].sort((a, b) => a.path.localeCompare(b.path))) h.update(`${f.path}\0${f.mode}\0${f.content}\0`);
  h.update(JSON.stringify(Object.entries(parts.devices).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, Object.entries(v).sort()])));
  h.update(parts.unit);
  return h.digest('hex').slice(0, 32);
}
