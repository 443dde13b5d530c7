import { randomBytes } from 'node:crypto';
import type { IncusClient } from '../incus/client.js';
import { isNotFound } from '../incus/errors.js';
import { eth0Ipv4 } from '../incus/types.js';
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

/** The instance level 1 runs from, kept for the whole run (levels 2 and 3 send their model requests from it too). */
export interface Probe {
  readonly name: string;
  readonly project: string;
  /** Created by anklume for this run; removed by close(). */
  readonly temporary: boolean;
  /** Run a command; a non-zero exit is an error naming `what`. */
  run(what: string, command: readonly string[], timeoutSeconds: number): Promise<string>;
  pushFile(path: string, content: string): Promise<void>;
  close(): Promise<void>;
}

/** The domain's network_probe machine, else a short-lived instance on its bridge; with the tools `tools` checked. */
export async function openProbe(client: IncusClient, model: DesiredInfra, domain: DesiredDomain, tools: readonly string[], progress: (line: string) => void, signal?: AbortSignal): Promise<Probe> {
  const project = domain.project;
  const named = domain.machines.find((m) => m.roles.includes(PROBE_ROLE));
  let name: string;
  let temporary = false;
  if (named !== undefined) {
    const state = (await observedInstances(client, project, signal)).find((i) => i.name === named.name);
    if (state?.status !== 'Running') throw new AnklumeError('INSPECT_PROBE', `the probe machine ${named.name} (role ${PROBE_ROLE}) is ${state === undefined ? 'missing' : state.status.toLowerCase()}: start it (anklumectl apply), then inspect again`);
    name = named.name;
    progress(`probing from ${name} (role ${PROBE_ROLE})`);
  } else {
    name = `anklume-probe-${randomBytes(3).toString('hex')}`;
    temporary = true;
    progress(`creating the short-lived probe ${name} on ${domain.bridge} (no machine of ${domain.name} has role ${PROBE_ROLE})`);
    try {
      await createProbe(client, model, domain, name, signal);
    } catch (err) {
      await removeProbe(client, project, name).catch(() => undefined);
      throw err;
    }
  }
  const probe: Probe = {
    name,
    project,
    temporary,
    run: async (what, command, timeoutSeconds) => {
      const r = await client.exec(project, name, command, { timeoutSeconds, ...(signal === undefined ? {} : { signal }) });
      if (r.code !== 0) throw new AnklumeError('INSPECT_TOOL', `${what} failed on ${name} (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
      return r.stdout;
    },
    pushFile: (path, content) => client.pushFile(project, name, path, content, { mode: 0o600, ...(signal === undefined ? {} : { signal }) }),
    close: async () => {
      if (!temporary) return;
      progress(`removing the probe ${name}`);
      await removeProbe(client, project, name);
    },
  };
  try {
    await requireTools(client, project, name, tools, temporary, signal);
  } catch (err) {
    await probe.close();
    throw err;
  }
  return probe;
}

/** The tools level 1 needs for these options. */
export function toolsFor(options: Pick<CollectOptions, 'scan' | 'captureSeconds'>): string[] {
  return ['ip', 'ss', 'nc', ...(options.scan ? ['nmap'] : []), ...(options.captureSeconds === null ? [] : ['tcpdump', 'timeout'])];
}

export async function collect(client: IncusClient, probe: Probe, domain: DesiredDomain, options: CollectOptions): Promise<Collected> {
  const { progress, signal } = options;
  // The capture runs while the rest is collected, so it sees the domain as it is, not the scan's own packets only.
  const capture = options.captureSeconds === null ? null : (progress(`capturing ${options.captureSeconds}s on ${probe.name}:eth0 (headers only, at most ${options.maxPackets} packets)`), probe.run('tcpdump', tcpdumpCommand(options.captureSeconds, options.maxPackets), options.captureSeconds + 30));
  let nmap: string | undefined;
  if (options.scan) {
    progress(`nmap of ${domain.network.subnet} from ${probe.name} (service detection)`);
    nmap = await probe.run('nmap', nmapCommand(domain.network.subnet), 600);
  }
  const neigh = await probe.run('ip neigh', ['ip', '-j', 'neigh'], 30);
  const ss = await probe.run('ss', ['ss', '-tunaH'], 30);
  const tcpdump = capture === null ? undefined : await capture;
  return {
    probe: probe.name,
    temporary: probe.temporary,
    raw: { ...(nmap === undefined ? {} : { 'nmap.xml': nmap }), ...(tcpdump === undefined ? {} : { 'tcpdump.txt': tcpdump }), 'neigh.json': neigh, 'ss.txt': ss },
    instances: await observedInstances(client, domain.project, signal),
  };
}

/** Every instance of the domain's project with its IPv4 on eth0 (Incus state), whether infra.yml declares it or not. */
async function observedInstances(client: IncusClient, project: string, signal: AbortSignal | undefined): Promise<ObservedInstance[]> {
  const list = await client.listInstances({ project, withState: true, ...(signal === undefined ? {} : { signal }) });
  return list.map((i) => {
    const address = eth0Ipv4(i)[0];
    return { name: i.name, status: i.status, ...(address === undefined ? {} : { address }) };
  });
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
