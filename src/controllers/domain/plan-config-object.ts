import { objectId } from '../object-id.js';
import type { Action, KeyChange } from '../../reconcile/action.js';
import { isOwnedKey, type DesiredObject } from './desired-object.js';
import { descriptionChange, diffConfig, diffDevices } from '../../reconcile/diff.js';
import type { IncusConfig, IncusDevices } from '../observed.js';
import { MARK, conflictReason, listMark, ownership, type Ownership } from '../../reconcile/ownership.js';

/** What the controller needs to create or update a project, network or profile. */
export type ConfigObjectPayload =
  /** Blocked actions carry nothing to do. */
  | { readonly op: 'none' }
  | { readonly op: 'create'; readonly desired: DesiredObject }
  | {
      readonly op: 'update';
      readonly desired: DesiredObject;
      readonly set: IncusConfig;
      readonly unset: readonly string[];
      readonly setDevices: IncusDevices;
      readonly removeDevices: readonly string[];
      readonly description: string | null;
    };

export interface ActualConfigObject {
  readonly description: string;
  readonly config: IncusConfig;
  readonly devices?: IncusDevices;
  readonly type?: string;
  readonly managed?: boolean;
}

/**
 * Plan one project, network or profile (pure): create it when missing, update
 * only the keys anklume manages when they differ, nothing when they match.
 * An object anklume does not own is never touched: the action is blocked.
 */
export function planConfigObject(
  desired: DesiredObject,
  actual: ActualConfigObject | undefined,
  context: { readonly infra: string; readonly after: readonly string[]; readonly owner?: Ownership },
): Action<ConfigObjectPayload> | null {
  const base = { id: objectId(desired.kind, desired.project, desired.name), group: desired.group, kind: desired.kind, name: desired.name, after: context.after };
  if (actual === undefined) {
    const changes: KeyChange[] = Object.entries({ ...desired.createOnly, ...desired.config }).map(([key, to]) => ({ key, to }));
    return { ...base, verb: 'create', reason: 'missing', changes, payload: { op: 'create', desired } };
  }
  const owner = context.owner ?? ownership(actual.config, context.infra);
  if (owner !== 'ours') {
    return { ...base, verb: 'update', reason: 'not ours', changes: [], blocked: conflictReason(desired.kind, desired.name, owner, actual.config), payload: { op: 'none' } };
  }
  const immutable = diffConfig(desired.createOnly ?? {}, actual.config, []).changes;
  const typeChange: KeyChange[] = desired.type !== undefined && actual.type !== desired.type ? [{ key: 'type', from: actual.type ?? '', to: desired.type }] : [];
  if (immutable.length > 0 || typeChange.length > 0) {
    const changes = [...typeChange, ...immutable];
    return { ...base, verb: 'replace', reason: 'needs replacement', changes, blocked: `${desired.kind} ${desired.name} needs replacement: ${changes.map((c) => c.key).join(', ')} cannot change in place`, payload: { op: 'none' } };
  }
  // Keys anklume owns outright count as set by it: a value added by hand is unset.
  const owned = Object.keys(actual.config).filter((k) => isOwnedKey(desired.owns, k));
  const config = diffConfig(desired.config, actual.config, [...listMark(actual.config[MARK.keys]), ...owned]);
  const devices = desired.devices === undefined ? { set: {}, remove: [], changes: [] } : diffDevices(desired.devices, actual.devices ?? {}, listMark(actual.config[MARK.devices]));
  const description = descriptionChange(desired.description, actual.description);
  const changes = [...description, ...config.changes, ...devices.changes];
  if (changes.length === 0) return null;
  return {
    ...base,
    verb: 'update',
    reason: `${changes.length} key${changes.length === 1 ? '' : 's'} differ`,
    changes,
    payload: { op: 'update', desired, set: config.set, unset: config.unset, setDevices: devices.set, removeDevices: devices.remove, description: description.length > 0 ? desired.description : null },
  };
}
