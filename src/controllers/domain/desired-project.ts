import type { DesiredDomain, DesiredInfra } from '../../schemas/model.js';
import { sanitizerEndpoint } from '../../schemas/services.js';
import { markedConfig, type DesiredObject } from './desired-object.js';

/**
 * Features, fixed at creation (Incus locks them once instances exist):
 * own profiles (each domain's default profile puts eth0 on its own bridge),
 * no own networks (Incus only allows bridges in the default project), and the
 * default project's images, so a local image alias works in every domain.
 */
export const PROJECT_FEATURES = {
  'features.images': 'false',
  'features.profiles': 'true',
  'features.storage.volumes': 'true',
  'features.networks': 'false',
} as const;

/** Device types a restricted project blocks unless allowed (doc/reference/projects.md). */
const RESTRICTED_DEVICE_TYPES = new Set(['gpu', 'unix-char', 'unix-block', 'unix-hotplug', 'usb', 'pci', 'infiniband', 'proxy']);

/**
 * The project of a domain, confined to its own bridge: `restricted=true` with
 * `restricted.networks.access=net-<domain>`. What the domain's own machines
 * declare (a GPU, nesting, host disks, ...) is allowed explicitly, nothing more.
 */
export function desiredProject(domain: DesiredDomain, infra: DesiredInfra): DesiredObject {
  const restricted: Record<string, string> = {
    restricted: 'true',
    'restricted.networks.access': domain.bridge,
  };
  const declared = [...domain.machines, ...domain.profiles];
  const devices = declared.flatMap((m) => Object.values(m.devices));
  const configs = declared.map((m) => m.config);
  if (domain.machines.some((m) => m.gpu)) restricted['restricted.devices.gpu'] = 'allow';
  for (const device of devices) {
    const type = device.type ?? '';
    if (RESTRICTED_DEVICE_TYPES.has(type)) restricted[`restricted.devices.${type}`] = 'allow';
    // A disk from a host path (not a storage volume) is blocked by the default `managed`.
    if (type === 'disk' && device.source?.startsWith('/') === true) restricted['restricted.devices.disk'] = 'allow';
  }
  // The sanitizer runs the host's Node and reads the AI access state, OpenClaw its pinned install: read-only host mounts.
  if (sanitizerEndpoint(infra)?.domain === domain.name || domain.openclaw !== null || domain.claudeCode !== null) restricted['restricted.devices.disk'] = 'allow';
  // A restricted project blocks snapshots; the domain view's snapshot requests need them (domain_view.snapshots).
  if (domain.view.snapshots) restricted['restricted.snapshots'] = 'allow';
  if (configs.some((c) => c['security.nesting'] === 'true')) restricted['restricted.containers.nesting'] = 'allow';
  if (configs.some((c) => c['security.privileged'] === 'true')) restricted['restricted.containers.privilege'] = 'allow';
  if (configs.some((c) => Object.keys(c).some((k) => k.startsWith('raw.')))) {
    restricted['restricted.containers.lowlevel'] = 'allow';
    restricted['restricted.virtual-machines.lowlevel'] = 'allow';
  }
  return {
    kind: 'project',
    group: domain.name,
    project: null,
    name: domain.project,
    description: domain.description === '' ? `anklume domain ${domain.name}` : domain.description,
    config: markedConfig(infra.projectName, domain.name, restricted),
    createOnly: PROJECT_FEATURES,
    // The confinement is anklume's alone: a `restricted.*` loosened by hand is put back.
    owns: ['restricted', 'restricted.*'],
  };
}
