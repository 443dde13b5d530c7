import type { IncusConfig, IncusDevices } from '../observed.js';
import { MARK, formatListMark, ownershipMarks } from '../../reconcile/ownership.js';

/** A project, network or profile as anklume wants it. */
export interface DesiredObject {
  readonly kind: 'project' | 'network' | 'profile';
  /** The domain it belongs to. */
  readonly group: string;
  /** The Incus project it lives in; null for projects themselves. */
  readonly project: string | null;
  readonly name: string;
  readonly description: string;
  /** Managed config, ownership marks included. */
  readonly config: IncusConfig;
  /** Managed devices (profiles only). */
  readonly devices?: IncusDevices;
  /** Keys Incus only takes at creation (project features): drift there needs replacement. */
  readonly createOnly?: IncusConfig;
  /** For networks: the type, which cannot change in place. */
  readonly type?: string;
  /**
   * Keys anklume owns whether or not it set them (`name`, or `prefix.*`):
   * one set by hand is drift, unset on the next pass. For what decides
   * isolation, where a key someone adds weakens the domain's boundary.
   */
  readonly owns?: readonly string[];
}

/** Does `key` fall under one of these owned patterns? */
export function isOwnedKey(owns: readonly string[] | undefined, key: string): boolean {
  return (owns ?? []).some((p) => (p.endsWith('.*') ? key.startsWith(p.slice(0, -1)) : key === p));
}

/**
 * Config with the ownership marks and the lists of managed keys and devices, so
 * the next pass knows what to unset when infra.yml drops something.
 */
export function markedConfig(infra: string, domain: string, config: IncusConfig, devices?: IncusDevices): Record<string, string> {
  // Incus drops keys set to "" (that is how a key is unset), so an empty list is no key at all.
  const keys = formatListMark(Object.keys(config));
  const deviceNames = formatListMark(Object.keys(devices ?? {}));
  return {
    ...config,
    ...ownershipMarks(infra, domain),
    ...(keys === '' ? {} : { [MARK.keys]: keys }),
    ...(deviceNames === '' ? {} : { [MARK.devices]: deviceNames }),
  };
}
