import type { KeyChange } from './action.js';

/** A config map and a devices map, as Incus objects carry them. */
type IncusConfig = Readonly<Record<string, string>>;
type IncusDevices = Readonly<Record<string, Readonly<Record<string, string>>>>;

/**
 * Compare only what anklume manages: keys it wants now, and keys it set before
 * (recorded in a mark) that must be unset. Keys others set are left alone;
 * volatile/image keys are never looked at.
 */
export interface ConfigDiff {
  readonly set: Readonly<Record<string, string>>;
  readonly unset: readonly string[];
  readonly changes: readonly KeyChange[];
}

export function diffConfig(desired: IncusConfig, actual: IncusConfig, previouslyManaged: readonly string[]): ConfigDiff {
  const set: Record<string, string> = {};
  const unset: string[] = [];
  const changes: KeyChange[] = [];
  for (const [key, value] of Object.entries(desired)) {
    const current = actual[key];
    if (current !== value) {
      set[key] = value;
      changes.push(current === undefined ? { key, to: value } : { key, from: current, to: value });
    }
  }
  for (const key of previouslyManaged) {
    const current = actual[key];
    if (!(key in desired) && current !== undefined) {
      unset.push(key);
      changes.push({ key, from: current });
    }
  }
  return { set, unset, changes };
}

export interface DevicesDiff {
  readonly set: IncusDevices;
  readonly remove: readonly string[];
  readonly changes: readonly KeyChange[];
}

export function renderDevice(device: Readonly<Record<string, string>>): string {
  return Object.keys(device)
    .sort()
    .map((k) => `${k}=${device[k]}`)
    .join(',');
}

export function diffDevices(desired: IncusDevices, actual: IncusDevices, previouslyManaged: readonly string[]): DevicesDiff {
  const set: Record<string, Readonly<Record<string, string>>> = {};
  const remove: string[] = [];
  const changes: KeyChange[] = [];
  for (const [name, device] of Object.entries(desired)) {
    const current = actual[name];
    const want = renderDevice(device);
    const have = current === undefined ? undefined : renderDevice(current);
    if (want !== have) {
      set[name] = device;
      changes.push(have === undefined ? { key: `devices.${name}`, to: want } : { key: `devices.${name}`, from: have, to: want });
    }
  }
  for (const name of previouslyManaged) {
    const current = actual[name];
    if (!(name in desired) && current !== undefined) {
      remove.push(name);
      changes.push({ key: `devices.${name}`, from: renderDevice(current) });
    }
  }
  return { set, remove, changes };
}

export function descriptionChange(desired: string, actual: string): KeyChange[] {
  return desired === actual ? [] : [{ key: 'description', from: actual, to: desired }];
}
