import { randomBytes } from 'node:crypto';
import type { IncusClient } from '../incus/client.js';
import { isNotFound } from '../incus/errors.js';
import type { Instance } from '../incus/types.js';
import { imageSource } from '../controllers/domain/desired-instance.js';
import type { DesiredDomain, DesiredInfra } from '../schemas/model.js';
import { AnklumeError, describeError } from '../shared/errors.js';
import type { ObservedInstance } from './inventory.js';

/**
 * Level 1 of spec/000 §6: ordinary tools, no LLM, run inside the domain from
 * one of its machines through the Incus exec API — the machine with role
 * `network_probe`, else a short-lived instance anklume creates on the
 * domain's bridge and removes. Only what the domain itself can see is seen.
 */

/** The role that names a domain's probe machine. */
export const PROBE_ROLE = 'network_probe';

export interface CollectOptions {
  /** nmap of the domain's subnet with service detection. */
  readonly scan: boolean;
  /** Seconds of tcpdump on the probe's interface; null: no capture. */
  readonly captureSeconds: number | null;
  /** Packets at most in a capture (tcpdump -c): bounds the work whatever the traffic. */
  readonly maxPackets: number;
  readonly signal?: AbortSignal;
  readonly progress: (line: string) => void;
}

/** The raw outputs, kept as they are under the state directory. */
export type RawOutputs = {
  readonly 'nmap.xml'?: string;
  readonly 'tcpdump.txt'?: string;
  readonly 'neigh.json': string;
  readonly 'ss.txt': string;
};

export interface Collected {
  readonly probe: string;
  readonly temporary: boolean;
  readonly raw: RawOutputs;
  readonly instances: readonly ObservedInstance[];
}

/** nmap bounded so that a silent service cannot hold the run: no retries, intensity 0, a per-host limit. */
export function nmapCommand(subnet: string): string[] {
  return ['nmap', '-sV', '--version-intensity', '0', '-T4', '--max-retries', '1', '--host-timeout', '60s', '-oX', '-', subnet];
}

/** -q and no -X/-A: headers only, never a payload byte; -c bounds the packet count, timeout the time. */
export function tcpdumpCommand(seconds: number, maxPackets: number): string[] {
  return ['sh', '-c', `timeout ${seconds} tcpdump -i eth0 -nn -e -tt -q -l -c ${maxPackets} 2>/dev/null; true`];
}

export async function collect(client: IncusClient, model: DesiredInfra, domain: DesiredDomain, options: CollectOptions): Promise<Collected> {
  const { progress, signal } = options;
  const project = domain.project;
  const instances = await observedInstances(client, project, signal);
  const named = domain.machines.find((m) => m.roles.includes(PROBE_ROLE));
  let probe: string;
  let temporary = false;
  if (named !== undefined) {
    const state = instances.find((i) => i.name === named.name);
    if (state?.status !== 'Running') throw new AnklumeError('INSPECT_PROBE', `the probe machine ${named.name} (role ${PROBE_ROLE}) is ${state === undefined ? 'missing' : state.status.toLowerCase()}: start it (anklumectl apply), then inspect again`);
    probe = named.name;
    progress(`probing from ${probe} (role ${PROBE_ROLE})`);
  } else {
    probe = `anklume-probe-${randomBytes(3).toString('hex')}`;
    temporary = true;
    progress(`creating the short-lived probe ${probe} on ${domain.bridge} (no machine of ${domain.name} has role ${PROBE_ROLE})`);
    await createProbe(client, model, domain, probe, signal);
  }
  try {
    await requireTools(client, project, probe, ['ip', 'ss', ...(options.scan ? ['nmap'] : []), ...(options.captureSeconds === null ? [] : ['tcpdump', 'timeout'])], temporary, signal);
    const run = async (what: string, command: readonly string[], timeoutSeconds: number): Promise<string> => {
      const r = await client.exec(project, probe, command, { timeoutSeconds, ...(signal === undefined ? {} : { signal }) });
      if (r.code !== 0) throw new AnklumeError('INSPECT_TOOL', `${what} failed on ${probe} (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
      return r.stdout;
    };
    // The capture runs while the rest is collected, so it sees the domain as it is, not the scan's own packets only.
    const capture = options.captureSeconds === null ? null : (progress(`capturing ${options.captureSeconds}s on ${probe}:eth0 (headers only, at most ${options.maxPackets} packets)`), run('tcpdump', tcpdumpCommand(options.captureSeconds, options.maxPackets), options.captureSeconds + 30));
    let nmap: string | undefined;
    if (options.scan) {
      progress(`nmap of ${domain.network.subnet} from ${probe} (service detection)`);
      nmap = await run('nmap', nmapCommand(domain.network.subnet), 600);
    }
    const neigh = await run('ip neigh', ['ip', '-j', 'neigh'], 30);
    const ss = await run('ss', ['ss', '-tunaH'], 30);
    const tcpdump = capture === null ? undefined : await capture;
    return {
      probe,
      temporary,
      raw: { ...(nmap === undefined ? {} : { 'nmap.xml': nmap }), ...(tcpdump === undefined ? {} : { 'tcpdump.txt': tcpdump }), 'neigh.json': neigh, 'ss.txt': ss },
      instances: await observedInstances(client, project, signal),
    };
  } finally {
    if (temporary) {
      progress(`removing the probe ${probe}`);
      await removeProbe(client, project, probe);
    }
  }
}

/** Every instance of the domain's project with its IPv4 on eth0 (Incus state), whether infra.yml declares it or not. */
async function observedInstances(client: IncusClient, project: string, signal: AbortSignal | undefined): Promise<ObservedInstance[]> {
  const list = await client.listInstances({ project, withState: true, ...(signal === undefined ? {} : { signal }) });
  return list.map((i) => {
    const address = ipv4Of(i);
    return { name: i.name, status: i.status, ...(address === undefined ? {} : { address }) };
  });
}

function ipv4Of(instance: Instance): string | undefined {
  const state = (instance as Instance & { state?: { network?: Record<string, { addresses?: { family?: string; address?: string; scope?: string }[] }> } }).state;
  return state?.network?.eth0?.addresses?.find((a) => a.family === 'inet' && a.scope === 'global')?.address;
}

async function createProbe(client: IncusClient, model: DesiredInfra, domain: DesiredDomain, name: string, signal: AbortSignal | undefined): Promise<void> {
  const osImage = domain.machines[0]?.osImage ?? model.defaultOsImage;
  const source = imageSource(osImage);
  if ('error' in source) throw new AnklumeError('INSPECT_PROBE', source.error);
  const target = { project: domain.project, ...(signal === undefined ? {} : { signal }) };
  await client.create('/1.0/instances', {
    name,
    type: 'container',
    source,
    // Ephemeral: should anklumectl die before it removes the probe, stopping the probe removes it.
    ephemeral: true,
    profiles: ['default'],
    description: 'anklume inspect: short-lived probe, removed after the run',
    devices: { eth0: { type: 'nic', network: domain.bridge, name: 'eth0' } },
  }, target);
  await client.put(`/1.0/instances/${name}/state`, { action: 'start', timeout: 60 }, target);
  const deadline = Date.now() + 90_000;
  for (;;) {
    const [self] = (await observedInstances(client, domain.project, signal)).filter((i) => i.name === name);
    if (self?.address !== undefined) return;
    if (Date.now() > deadline) throw new AnklumeError('INSPECT_PROBE', `the probe ${name} got no address on ${domain.bridge} within 90 s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function removeProbe(client: IncusClient, project: string, name: string): Promise<void> {
  try {
    await client.put(`/1.0/instances/${name}/state`, { action: 'stop', force: true, timeout: 30 }, { project }).catch(() => undefined);
    await client.delete(`/1.0/instances/${name}`, { project });
  } catch (err) {
    // An ephemeral instance deletes itself when it stops.
    if (!isNotFound(err)) throw new AnklumeError('INSPECT_PROBE', `the probe ${name} could not be removed: ${describeError(err)}; remove it with incus delete --force --project ${project} ${name}`, { cause: err });
  }
}

async function requireTools(client: IncusClient, project: string, probe: string, tools: readonly string[], temporary: boolean, signal: AbortSignal | undefined): Promise<void> {
  const r = await client.exec(project, probe, ['sh', '-c', `for t in ${tools.join(' ')}; do command -v "$t" >/dev/null || echo "$t"; done`], { timeoutSeconds: 30, ...(signal === undefined ? {} : { signal }) });
  const missing = r.stdout.split('\n').filter((l) => l.trim() !== '');
  if (missing.length === 0) return;
  const fix = temporary ? `the image of the domain lacks them: give role ${PROBE_ROLE} to a machine that has them` : `install them in ${probe}`;
  throw new AnklumeError('INSPECT_TOOL', `${probe} has no ${missing.join(', ')}: ${fix}`);
}
