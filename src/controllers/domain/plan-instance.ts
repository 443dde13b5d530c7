import type { Action, KeyChange } from '../../reconcile/action.js';
import { objectId } from '../object-id.js';
import { descriptionChange, diffConfig, diffDevices } from '../../reconcile/diff.js';
import type { IncusConfig, IncusDevices, ObservedInstance } from '../observed.js';
import { MARK, conflictReason, listMark, ownership } from '../../reconcile/ownership.js';
import { imageSource, type DesiredInstance, type ImageSource } from './desired-instance.js';

export type InstancePayload =
  /** Blocked actions carry nothing to do. */
  | { readonly op: 'none' }
  | { readonly op: 'create'; readonly desired: DesiredInstance; readonly source: ImageSource }
  | {
      readonly op: 'update';
      readonly desired: DesiredInstance;
      readonly set: IncusConfig;
      readonly unset: readonly string[];
      readonly setDevices: IncusDevices;
      readonly removeDevices: readonly string[];
      readonly profiles: readonly string[] | null;
      readonly description: string | null;
    }
  | { readonly op: 'start'; readonly project: string; readonly name: string; readonly action: 'start' | 'unfreeze' }
  | { readonly op: 'delete'; readonly project: string; readonly name: string; readonly running: boolean; readonly unprotect: boolean };

/**
 * Plan one instance (pure): create (started) when missing; update managed keys,
 * devices, profiles and description; start when stopped. Type and image cannot
 * change in place: that is reported as needing replacement and never done.
 */
export function planInstance(desired: DesiredInstance, actual: ObservedInstance | undefined, context: { readonly infra: string; readonly after: readonly string[] }): Action<InstancePayload>[] {
  const id = objectId('instance', desired.project, desired.name);
  const base = { group: desired.group, kind: 'instance', name: desired.name };
  if (actual === undefined) {
    const source = imageSource(desired.osImage);
    const changes: KeyChange[] = [{ key: 'image', to: desired.osImage }, { key: 'type', to: desired.type }];
    if ('error' in source) {
      return [{ ...base, id, verb: 'create', reason: 'missing', changes, after: context.after, blocked: source.error, payload: { op: 'none' } }];
    }
    return [{ ...base, id, verb: 'create', reason: 'missing', changes, after: context.after, payload: { op: 'create', desired, source } }];
  }

  const owner = ownership(actual.config, context.infra);
  if (owner !== 'ours') {
    return [{ ...base, id, verb: 'update', reason: 'not ours', changes: [], after: context.after, blocked: conflictReason('instance', desired.name, owner, actual.config), payload: { op: 'none' } }];
  }

  const actions: Action<InstancePayload>[] = [];
  const immutable: KeyChange[] = [];
  if (actual.type !== desired.type) immutable.push({ key: 'type', from: actual.type, to: desired.type });
  const image = actual.config[MARK.image];
  if (image !== desired.osImage) immutable.push({ key: 'image', ...(image === undefined ? {} : { from: image }), to: desired.osImage });
  if (immutable.length > 0) {
    actions.push({
      ...base,
      id: `${id}#replace`,
      verb: 'replace',
      reason: 'needs replacement',
      changes: immutable,
      after: [],
      blocked: `instance ${desired.name} needs replacement: ${immutable.map((c) => c.key).join(' and ')} cannot change in place; delete it to let anklume recreate it`,
      payload: { op: 'none' },
    });
  }

  // The image mark is compared above; leave it out of the key diff.
  const { [MARK.image]: _image, ...wantConfig } = desired.config;
  const config = diffConfig(wantConfig, actual.config, listMark(actual.config[MARK.keys]));
  const devices = diffDevices(desired.devices, actual.devices, listMark(actual.config[MARK.devices]));
  const description = descriptionChange(desired.description, actual.description);
  const profilesDiffer = desired.profiles.join(',') !== actual.profiles.join(',');
  const profileChange: KeyChange[] = profilesDiffer ? [{ key: 'profiles', from: actual.profiles.join(','), to: desired.profiles.join(',') }] : [];
  const changes = [...description, ...profileChange, ...config.changes, ...devices.changes];
  let updateId: string | null = null;
  if (changes.length > 0) {
    updateId = id;
    actions.push({
      ...base,
      id,
      verb: 'update',
      reason: `${changes.length} key${changes.length === 1 ? '' : 's'} differ`,
      changes,
      after: context.after,
      payload: {
        op: 'update',
        desired,
        set: config.set,
        unset: config.unset,
        setDevices: devices.set,
        removeDevices: devices.remove,
        profiles: profilesDiffer ? desired.profiles : null,
        description: description.length > 0 ? desired.description : null,
      },
    });
  }

  if (actual.status !== 'Running') {
    const frozen = actual.status === 'Frozen';
    actions.push({
      ...base,
      id: `${id}#start`,
      verb: 'start',
      reason: actual.status.toLowerCase(),
      changes: [{ key: 'status', from: actual.status, to: 'Running' }],
      after: updateId === null ? context.after : [updateId],
      payload: { op: 'start', project: desired.project, name: desired.name, action: frozen ? 'unfreeze' : 'start' },
    });
  }
  return actions;
}
