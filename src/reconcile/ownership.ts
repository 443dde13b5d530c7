/**
 * Ownership marks. Incus has no owner references, so every object anklume creates
 * carries `user.anklume.*` keys, and only objects marked as this infra's own are
 * ever changed or deleted (reference: incus-api.md §0.13).
 */
export const MARK = {
  /** "true" on everything anklume created. */
  managed: 'user.anklume.managed',
  /** project_name of the infra.yml that owns it: two infras on one host never touch each other's objects. */
  infra: 'user.anklume.infra',
  domain: 'user.anklume.domain',
  /** Config keys anklume set, comma-separated, so that keys removed from infra.yml can be unset and keys set by others left alone. */
  keys: 'user.anklume.managed-keys',
  /** Devices anklume set, likewise. */
  devices: 'user.anklume.managed-devices',
  /** The os_image an instance was created from (Incus keeps only the fingerprint). */
  image: 'user.anklume.image',
  /** The subnet a bridge was given: a different one in infra.yml is a renumbering, not drift. */
  subnet: 'user.anklume.subnet',
} as const;

export type Ownership = 'ours' | 'other-infra' | 'unmanaged';

export function ownership(config: Readonly<Record<string, string>> | undefined, infra: string): Ownership {
  if (config?.[MARK.managed] !== 'true') return 'unmanaged';
  return config[MARK.infra] === infra ? 'ours' : 'other-infra';
}

export function ownershipMarks(infra: string, domain: string): Record<string, string> {
  return { [MARK.managed]: 'true', [MARK.infra]: infra, [MARK.domain]: domain };
}

/** Why anklume will not touch an object it did not create. */
export function conflictReason(kind: string, name: string, owner: Ownership, config: Readonly<Record<string, string>> | undefined): string {
  return owner === 'other-infra'
    ? `${kind} ${name} belongs to another anklume infra ("${config?.[MARK.infra] ?? '?'}")`
    : `${kind} ${name} exists but was not created by anklume; rename the domain or remove it by hand`;
}

export function listMark(value: string | undefined): string[] {
  return value === undefined || value === '' ? [] : value.split(',');
}

export function formatListMark(names: Iterable<string>): string {
  return [...names].sort().join(',');
}
