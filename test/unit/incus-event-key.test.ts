import { describe, expect, it } from 'vitest';
import { eventKey, eventKeys, RELEVANT_LIFECYCLE_ACTIONS, sentBeforeCommit, type IncusEvent, type WorkKey } from '../../src/incus/index.js';

function lifecycle(action: string, source: string, extra: { project?: string; name?: string; metaProject?: string; context?: Record<string, unknown> } = {}): IncusEvent {
  const metadata: Record<string, unknown> = { action, source, requestor: { username: 'root', protocol: 'unix', address: '@' } };
  if (extra.name !== undefined) metadata['name'] = extra.name;
  if (extra.metaProject !== undefined) metadata['project'] = extra.metaProject;
  if (extra.context !== undefined) metadata['context'] = extra.context;
  const event: IncusEvent = { type: 'lifecycle', timestamp: '2026-11-22T02:39:13.42448568Z', metadata, location: 'none' };
  if (extra.project !== undefined) event.project = extra.project;
  return event;
}

describe('eventKey', () => {
  const cases: [string, IncusEvent, WorkKey | null][] = [
    ['an instance start in the default project', lifecycle('instance-started', '/1.0/instances/c1', { project: 'default' }), { kind: 'instance', name: 'c1', project: 'default' }],
    ['the project from the source query first', lifecycle('instance-updated', '/1.0/instances/pro-dev?project=pro', { project: 'default' }), { kind: 'instance', name: 'pro-dev', project: 'pro' }],
    ['the envelope project when the source has no query', lifecycle('instance-stopped', '/1.0/instances/pro-dev', { project: 'pro' }), { kind: 'instance', name: 'pro-dev', project: 'pro' }],
    ['metadata.project when the envelope has none', lifecycle('instance-created', '/1.0/instances/c2', { metaProject: 'perso' }), { kind: 'instance', name: 'c2', project: 'perso' }],
    ['default when nothing names a project', lifecycle('instance-deleted', '/1.0/instances/c3'), { kind: 'instance', name: 'c3', project: 'default' }],
    ['the source name even when metadata.name differs', lifecycle('instance-renamed', '/1.0/instances/new', { name: 'old', project: 'default' }), { kind: 'instance', name: 'new', project: 'default' }],
    ['a percent-encoded name', lifecycle('instance-ready', '/1.0/instances/a%2Db', { project: 'default' }), { kind: 'instance', name: 'a-b', project: 'default' }],
    ['instance shutdown', lifecycle('instance-shutdown', '/1.0/instances/c1', { project: 'default' }), { kind: 'instance', name: 'c1', project: 'default' }],
    ['instance restarted', lifecycle('instance-restarted', '/1.0/instances/c1', { project: 'default' }), { kind: 'instance', name: 'c1', project: 'default' }],
    ['instance paused', lifecycle('instance-paused', '/1.0/instances/c1', { project: 'default' }), { kind: 'instance', name: 'c1', project: 'default' }],
    ['instance resumed', lifecycle('instance-resumed', '/1.0/instances/c1', { project: 'default' }), { kind: 'instance', name: 'c1', project: 'default' }],
    ['a network update', lifecycle('network-updated', '/1.0/networks/net-pro', { project: 'default' }), { kind: 'network', name: 'net-pro', project: 'default' }],
    ['a network created in a project', lifecycle('network-created', '/1.0/networks/ovn1?project=lab', { project: 'lab' }), { kind: 'network', name: 'ovn1', project: 'lab' }],
    ['a network deletion', lifecycle('network-deleted', '/1.0/networks/net-x', { project: 'default' }), { kind: 'network', name: 'net-x', project: 'default' }],
    ['a profile in a project', lifecycle('profile-updated', '/1.0/profiles/default?project=pro', { project: 'pro' }), { kind: 'profile', name: 'default', project: 'pro' }],
    ['a network ACL edited (the isolation on a cluster)', lifecycle('network-acl-updated', '/1.0/network-acls/anklume-pro', { project: 'default' }), { kind: 'network-acl', name: 'anklume-pro', project: 'default' }],
    ['a network ACL deleted', lifecycle('network-acl-deleted', '/1.0/network-acls/anklume-pro?project=default', { project: 'default' }), { kind: 'network-acl', name: 'anklume-pro', project: 'default' }],
    ['a project: its own name as project', lifecycle('project-created', '/1.0/projects/pro', { project: 'default' }), { kind: 'project', name: 'pro', project: 'pro' }],
    ['a project deletion', lifecycle('project-deleted', '/1.0/projects/sandbox', { project: 'default' }), { kind: 'project', name: 'sandbox', project: 'sandbox' }],
    // Read noise: emitted by GETs, including the operator's own.
    ['instance-metadata-retrieved', lifecycle('instance-metadata-retrieved', '/1.0/instances/c1/metadata', { project: 'default' }), null],
    ['instance-log-retrieved (with its wrong 6.0.4 source)', lifecycle('instance-log-retrieved', '/1.0/instances/c1/backups/lxc.log', { project: 'default' }), null],
    ['instance-exec', lifecycle('instance-exec', '/1.0/instances/c1', { project: 'default' }), null],
    ['instance-file-retrieved', lifecycle('instance-file-retrieved', '/1.0/instances/c1/files?path=/etc/hostname', { project: 'default' }), null],
    ['instance-file-pushed', lifecycle('instance-file-pushed', '/1.0/instances/c1/files?path=/x', { project: 'default' }), null],
    ['instance-console', lifecycle('instance-console', '/1.0/instances/c1/console', { project: 'default' }), null],
    ['instance-console-retrieved', lifecycle('instance-console-retrieved', '/1.0/instances/c1/console', { project: 'default' }), null],
    ['instance-log-deleted', lifecycle('instance-log-deleted', '/1.0/instances/c1/logs/x.log', { project: 'default' }), null],
    ['instance-metadata-updated', lifecycle('instance-metadata-updated', '/1.0/instances/c1/metadata', { project: 'default' }), null],
    ['instance-metadata-template-retrieved', lifecycle('instance-metadata-template-retrieved', '/1.0/instances/c1/metadata/templates', { project: 'default' }), null],
    ['an image event (no work kind)', lifecycle('image-created', '/1.0/images/abc', { project: 'default' }), null],
    ['a snapshot event', lifecycle('instance-snapshot-created', '/1.0/instances/c1/snapshots/s1', { project: 'default' }), null],
    ['server config-updated', lifecycle('config-updated', '/1.0', { project: 'default' }), null],
    ['an unknown action', lifecycle('instance-teleported', '/1.0/instances/c1', { project: 'default' }), null],
    // Defensive parsing.
    ['a source of another collection than the action says', lifecycle('instance-updated', '/1.0/networks/n1', { project: 'default' }), null],
    ['a source without a name', lifecycle('network-updated', '/1.0/networks', { project: 'default' }), null],
    ['a source of another API version', lifecycle('instance-started', '/2.0/instances/c1', { project: 'default' }), null],
    ['an empty source', lifecycle('instance-started', '', { project: 'default' }), null],
    ['a malformed percent escape', lifecycle('instance-started', '/1.0/instances/%E0%A4%A', { project: 'default' }), null],
    ['a logging event', { type: 'logging', timestamp: '', metadata: { message: 'x', level: 'debug' } }, null],
    ['an operation event', { type: 'operation', timestamp: '', metadata: { id: 'x', status_code: 200 } }, null],
    ['metadata missing', { type: 'lifecycle', timestamp: '', metadata: null }, null],
    ['action missing', { type: 'lifecycle', timestamp: '', metadata: { source: '/1.0/instances/c1' } }, null],
  ];

  it.each(cases)('%s', (_name, event, expected) => {
    expect(eventKey(event)).toEqual(expected);
  });

  it('allows no read-noise action', () => {
    const noise = /-retrieved$|^instance-exec$|^instance-file-|^instance-console|^instance-log-|^instance-metadata-/;
    expect(RELEVANT_LIFECYCLE_ACTIONS.filter((a) => noise.test(a))).toEqual([]);
  });
});

describe('eventKeys', () => {
  it('adds the old name of a renamed instance', () => {
    const event = lifecycle('instance-renamed', '/1.0/instances/new?project=pro', { project: 'pro', context: { old_name: 'old' } });
    expect(eventKeys(event)).toEqual([
      { kind: 'instance', name: 'new', project: 'pro' },
      { kind: 'instance', name: 'old', project: 'pro' },
    ]);
  });

  it('adds the old name of a renamed project as its own project', () => {
    const event = lifecycle('project-renamed', '/1.0/projects/work', { context: { old_name: 'pro' } });
    expect(eventKeys(event)).toEqual([
      { kind: 'project', name: 'work', project: 'work' },
      { kind: 'project', name: 'pro', project: 'pro' },
    ]);
  });

  it('returns one key for other actions and none for noise', () => {
    expect(eventKeys(lifecycle('network-updated', '/1.0/networks/n1', { context: { old_name: 'x' } }))).toHaveLength(1);
    expect(eventKeys(lifecycle('instance-exec', '/1.0/instances/c1'))).toEqual([]);
  });
});

describe('sentBeforeCommit', () => {
  // Incus 6.0's projectPut, projectPatch and profilePatch send their event, then write.
  it('names the project and profile updates', () => {
    expect(sentBeforeCommit(lifecycle('project-updated', '/1.0/projects/pro'))).toBe(true);
    expect(sentBeforeCommit(lifecycle('profile-updated', '/1.0/profiles/default?project=pro'))).toBe(true);
  });

  it('not the events Incus sends once the change is written, nor other event types', () => {
    for (const action of ['instance-updated', 'network-updated', 'project-created', 'project-deleted', 'profile-created'])
      expect(sentBeforeCommit(lifecycle(action, '/1.0/projects/pro')), action).toBe(false);
    expect(sentBeforeCommit({ type: 'logging', timestamp: '', metadata: { action: 'project-updated' } })).toBe(false);
    expect(sentBeforeCommit({ type: 'lifecycle', timestamp: '', metadata: null })).toBe(false);
  });
});
