import type { IncusClient } from '../../incus/client.js';
import { isNotFound } from '../../incus/errors.js';
import type { DesiredInfra, DesiredMachine } from '../../schemas/model.js';
import { ollamaEndpoints } from '../../schemas/services.js';
import { describeError } from '../../shared/errors.js';
import type { VramReading } from '../status.js';
import type { StoppedService } from './holder.js';

/**
 * GPU chores of switch-ai, run in the ai-tools instances through the Incus
 * API: stop and start the GPU services (systemd units), unload Ollama's
 * models, kill what still holds an NVIDIA device, read VRAM with nvidia-smi.
 * The decisions are pure functions (tested on recorded outputs); the calls
 * around them are thin.
 */

/** The ai-tools machines: where the GPU services run. */
export function aiToolsMachines(model: DesiredInfra): readonly DesiredMachine[] {
  return model.domains.find((d) => d.name === model.ai.toolsDomain && d.enabled)?.machines ?? [];
}

/** The machines whose GPU is flushed: those of ai-tools that declare `gpu: true`. None: there is nothing to flush. */
export function gpuMachines(model: DesiredInfra): readonly DesiredMachine[] {
  return aiToolsMachines(model).filter((m) => m.gpu);
}

/**
 * Where status reads VRAM: the GPU machines, or every ai-tools machine when
 * none declares one (a board passed through by hand still shows; a machine
 * without nvidia-smi is skipped).
 */
function vramMachines(model: DesiredInfra): readonly DesiredMachine[] {
  const gpus = gpuMachines(model);
  return gpus.length > 0 ? gpus : aiToolsMachines(model);
}

const QUERY_GPU = ['nvidia-smi', '--query-gpu=index,memory.used,memory.total', '--format=csv,noheader,nounits'];
/**
 * The processes of the instance that hold an NVIDIA device open, listed from
 * inside it: pids of the instance's own namespace (nvidia-smi in a container
 * lists host pids, or none).
 */
const LIST_DEVICE_HOLDERS = ['sh', '-c', 'for p in /proc/[0-9]*; do ls -l "$p/fd" 2>/dev/null | grep -q " /dev/nvidia" && echo "${p#/proc/}"; done; true'];

/** `0, 1234, 24576` lines (nvidia-smi's CSV without header or units). */
export function parseGpuMemory(instance: string, csv: string): VramReading[] {
  return csv.split('\n').map((l) => l.split(',').map((c) => c.trim())).filter((c) => c.length === 3 && c.every((x) => /^\d+$/.test(x))).map(([gpu, used, total]) => ({ instance, gpu: gpu ?? '', usedMiB: Number(used), totalMiB: Number(total) }));
}

/** One pid per line (the device-holder listing): never pid 1, the instance's init. */
export function parseDeviceHolders(text: string): number[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => /^\d+$/.test(l)).map(Number).filter((pid) => pid > 1);
}

/**
 * GPU memory counts as idle at or below this much in use: what the driver and
 * the context of an idle board keep (a few hundred MiB), with room, and never
 * a model's weights (gigabytes).
 */
export function idleMiB(totalMiB: number): number {
  return Math.max(512, Math.round(totalMiB * 0.03));
}

/** Why the GPUs are not back to idle after a flush; null when every one is (pure). */
export function flushVerdict(machines: readonly string[], after: readonly VramReading[]): string | null {
  const unread = machines.filter((m) => !after.some((r) => r.instance === m));
  if (unread.length > 0) return `GPU memory could not be read after the flush in ${unread.join(', ')}`;
  const busy = after.filter((r) => r.usedMiB > idleMiB(r.totalMiB));
  if (busy.length === 0) return null;
  return `GPU memory is not back to idle after the flush: ${busy.map((r) => `${r.instance} GPU ${r.gpu} ${r.usedMiB}/${r.totalMiB} MiB in use (idle is at most ${idleMiB(r.totalMiB)})`).join(', ')}`;
}

/** Why a flush cannot be done before a switch begins (a GPU without the tool to read it); null when it can (pure). */
export function flushRefusal(missingTool: readonly string[]): string | null {
  if (missingTool.length === 0) return null;
  return `cannot flush GPU memory: no nvidia-smi in ${missingTool.join(', ')} to read it (a flush that cannot be checked is no flush); install the NVIDIA tools in the instance, or switch with --no-flush and accept the risk`;
}

/** The GPU machines without nvidia-smi (only running ones can be asked: a stopped one holds no VRAM). */
export async function gpuMachinesWithoutTool(client: IncusClient, model: DesiredInfra, signal?: AbortSignal): Promise<string[]> {
  const missing: string[] = [];
  for (const m of gpuMachines(model)) {
    try {
      if (!(await hasNvidiaSmi(client, model.ai.toolsDomain, m.name, signal))) missing.push(m.name);
    } catch (err) {
      if (signal?.aborted === true) throw err;
      if (!isNotFound(err) && !/not running/i.test(describeError(err))) throw err;
    }
  }
  return missing;
}

async function hasNvidiaSmi(client: IncusClient, project: string, instance: string, signal?: AbortSignal): Promise<boolean> {
  const r = await client.exec(project, instance, ['sh', '-c', 'command -v nvidia-smi'], signal === undefined ? {} : { signal });
  return r.code === 0;
}

/** VRAM of every GPU visible in the ai-tools GPU instances, and why a reading failed (a stopped instance is no failure: it has no GPU in use). */
export async function readVram(client: IncusClient, model: DesiredInfra, signal?: AbortSignal): Promise<{ readings: VramReading[]; errors: string[] }> {
  const readings: VramReading[] = [];
  const errors: string[] = [];
  for (const m of vramMachines(model)) {
    try {
      if (!(await hasNvidiaSmi(client, model.ai.toolsDomain, m.name, signal))) continue;
      const r = await client.exec(model.ai.toolsDomain, m.name, QUERY_GPU, signal === undefined ? {} : { signal });
      if (r.code === 0) readings.push(...parseGpuMemory(m.name, r.stdout));
      else errors.push(`nvidia-smi in ${m.name}: ${r.stderr.trim() || `exit ${r.code}`}`);
    } catch (err) {
      if (signal?.aborted === true) throw err;
      // An instance not created yet, or stopped (Incus refuses exec then): no reading, not a failure.
      if (!isNotFound(err) && !/not running/i.test(describeError(err))) errors.push(`nvidia-smi in ${m.name}: ${describeError(err)}`);
    }
  }
  return { readings, errors };
}

/** The GPU services that run now in the ai-tools instances (they exist and are active). */
export async function activeServices(client: IncusClient, model: DesiredInfra, signal?: AbortSignal): Promise<StoppedService[]> {
  const active: StoppedService[] = [];
  for (const m of aiToolsMachines(model)) {
    for (const service of model.ai.gpuServices) {
      try {
        const r = await client.exec(model.ai.toolsDomain, m.name, ['systemctl', 'is-active', '--quiet', `${service}.service`], signal === undefined ? {} : { signal });
        if (r.code === 0) active.push({ instance: m.name, service });
      } catch (err) {
        // An instance not created yet, or stopped, runs no service.
        if (signal?.aborted === true || !(isNotFound(err) || /not running/i.test(describeError(err)))) throw err;
        break;
      }
    }
  }
  return active;
}

export async function stopService(client: IncusClient, model: DesiredInfra, s: StoppedService, signal?: AbortSignal): Promise<void> {
  const r = await client.exec(model.ai.toolsDomain, s.instance, ['systemctl', 'stop', `${s.service}.service`], signal === undefined ? {} : { signal });
  if (r.code !== 0) throw new Error(`systemctl stop ${s.service} in ${s.instance} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
}

/** Start what a switch stopped (starting a running service is a no-op, so a resumed switch may ask again). */
export async function startServices(client: IncusClient, model: DesiredInfra, services: readonly StoppedService[], signal?: AbortSignal): Promise<void> {
  for (const { instance, service } of services) {
    const r = await client.exec(model.ai.toolsDomain, instance, ['systemctl', 'start', `${service}.service`], signal === undefined ? {} : { signal });
    if (r.code !== 0) throw new Error(`systemctl start ${service} in ${instance} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
}

/** Ask each Ollama server that answers to unload its models (`keep_alive: 0`). Returns the models unloaded. */
export async function unloadOllamaModels(model: DesiredInfra, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<{ unloaded: string[]; notAnswering: string[] }> {
  const unloaded: string[] = [];
  const notAnswering: string[] = [];
  for (const server of ollamaEndpoints(model)) {
    const base = server.url;
    const timeout = (): AbortSignal => AbortSignal.any([AbortSignal.timeout(options.timeoutMs ?? 2000), ...(options.signal === undefined ? [] : [options.signal])]);
    try {
      const ps = (await (await fetch(`${base}/api/ps`, { signal: timeout() })).json()) as { models?: { name?: string; model?: string }[] };
      for (const loaded of ps.models ?? []) {
        const name = loaded.model ?? loaded.name;
        if (name === undefined) continue;
        await fetch(`${base}/api/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: name, keep_alive: 0 }), signal: timeout() });
        unloaded.push(`${server.machine}:${name}`);
      }
    } catch (err) {
      notAnswering.push(`${server.machine} (${describeError(err)})`);
    }
  }
  return { unloaded, notAnswering };
}

export interface FlushReport {
  readonly before: VramReading[];
  readonly after: VramReading[];
  readonly killed: { instance: string; pid: number }[];
  readonly reset: { instance: string; ok: boolean; message: string }[];
  readonly notes: string[];
  /** Why the GPUs are not clean: the switch fails and nobody holds access. */
  readonly failure: string | null;
}

/**
 * With the GPU services stopped (and Ollama's models unloaded before): kill
 * what still holds an NVIDIA device in each GPU machine, try a reset (not all
 * boards allow it), and read the memory back. No GPU machine: nothing to flush.
 */
export async function flushVram(client: IncusClient, model: DesiredInfra, signal?: AbortSignal): Promise<FlushReport> {
  const opts = signal === undefined ? {} : { signal };
  const machines = gpuMachines(model).map((m) => m.name);
  if (machines.length === 0) return { before: [], after: [], killed: [], reset: [], notes: [`no ai-tools machine declares gpu: true: nothing to flush`], failure: null };
  const missing = await gpuMachinesWithoutTool(client, model, signal);
  if (missing.length > 0) return { before: [], after: [], killed: [], reset: [], notes: [], failure: flushRefusal(missing) };
  const notes: string[] = [];
  const before = (await readVram(client, model, signal)).readings;
  const killed: FlushReport['killed'] = [];
  const reset: FlushReport['reset'] = [];
  for (const name of machines) {
    const holders = await client.exec(model.ai.toolsDomain, name, LIST_DEVICE_HOLDERS, opts);
    for (const pid of parseDeviceHolders(holders.stdout)) {
      const k = await client.exec(model.ai.toolsDomain, name, ['kill', '-9', String(pid)], opts);
      if (k.code === 0) killed.push({ instance: name, pid });
      else notes.push(`pid ${pid} in ${name} was gone already`);
    }
    const r = await client.exec(model.ai.toolsDomain, name, ['nvidia-smi', '--gpu-reset'], opts);
    reset.push({ instance: name, ok: r.code === 0, message: (r.stdout + r.stderr).trim().split('\n')[0] ?? '' });
  }
  const after = (await readVram(client, model, signal)).readings;
  return { before, after, killed, reset, notes, failure: flushVerdict(machines, after) };
}
