import type { DesiredDomain, DesiredInfra, DesiredMachine } from '../../schemas/model.js';
import { markedConfig } from './desired-object.js';
import type { IncusConfig, IncusDevices } from '../observed.js';
import { MARK } from '../../reconcile/ownership.js';
import { domainBridges, withAddressFiltering } from './nic-filtering.js';

/** Where an instance's image comes from, as the Incus instance source object. */
export type ImageSource =
  | { readonly type: 'image'; readonly alias: string }
  | { readonly type: 'image'; readonly alias: string; readonly server: string; readonly protocol: 'simplestreams'; readonly mode: 'pull' };

/** Remotes anklume knows by name, as the incus CLI does. */
const REMOTES: Readonly<Record<string, string>> = { images: 'https://images.linuxcontainers.org' };

/** `images:debian/13` → the public image server; `local:x` or `x` → a local alias. */
export function imageSource(osImage: string): ImageSource | { readonly error: string } {
  const colon = osImage.indexOf(':');
  if (colon === -1) return { type: 'image', alias: osImage };
  const remote = osImage.slice(0, colon);
  const alias = osImage.slice(colon + 1);
  if (remote === 'local') return { type: 'image', alias };
  const server = REMOTES[remote];
  if (server === undefined) return { error: `unknown image remote "${remote}" in "${osImage}" (known: local, ${Object.keys(REMOTES).join(', ')})` };
  return { type: 'image', alias, server, protocol: 'simplestreams', mode: 'pull' };
}

export interface DesiredInstance {
  readonly group: string;
  readonly project: string;
  readonly name: string;
  readonly type: 'container' | 'virtual-machine';
  readonly osImage: string;
  readonly description: string;
  readonly profiles: readonly string[];
  readonly config: IncusConfig;
  readonly devices: IncusDevices;
}

/**
 * A machine as an Incus instance: declared config and devices, eth0 pinned to its
 * address on the domain bridge, every NIC on that bridge filtering its addresses
 * (no spoofing of another machine's MAC or IPv4), a GPU device when `gpu: true`,
 * and delete protection unless ephemeral. Ownership marks record the image it came from.
 */
export function desiredInstance(machine: DesiredMachine, domain: DesiredDomain, infra: DesiredInfra): DesiredInstance {
  const devices = withAddressFiltering(
    {
      ...(machine.gpu && !('gpu' in machine.devices) ? { gpu: { type: 'gpu', gputype: 'physical' } } : {}),
      ...machine.devices,
      // Ours wins over a declared eth0: the pinned address is what policies and the firewall rely on.
      eth0: { type: 'nic', network: domain.bridge, name: 'eth0', 'ipv4.address': machine.ip },
    },
    domainBridges(infra),
  );
  const config: Record<string, string> = {
    ...machine.config,
    ...(machine.ephemeral ? {} : { 'security.protection.delete': 'true' }),
  };
  return {
    group: domain.name,
    project: domain.project,
    name: machine.name,
    type: machine.instanceType,
    osImage: machine.osImage,
    description: machine.description,
    profiles: machine.profiles,
    config: { ...markedConfig(infra.projectName, domain.name, config, devices), [MARK.image]: machine.osImage },
    devices,
  };
}
