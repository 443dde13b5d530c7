import type { IncusClient } from '../../incus/client.js';
import { isNotFound } from '../../incus/errors.js';
import type { DesiredInfra, DesiredMachine } from '../../schemas/model.js';
import { ollamaEndpoints } from '../../schemas/services.js';
import { describeError } from '../../shared/errors.js';
import type { VramReading } from '../status.js';

/**
 * GPU chores of switch-ai, run in the ai-tools instances through the Incus
 * API: stop and start the GPU services (systemd units), unload Ollama's
 * models, read VRAM and kill what still holds it with nvidia-smi.
 */

/** The ai-tools machines: where the GPU services run. */
export function aiToolsMachines(model: DesiredInfra): readonly DesiredMachine[] {
  return model.domains.find((d) => d.name === model.ai.toolsDomain && d.enabled)?.machines ?? [];
}

/** Where nvidia-smi is asked: the machines with the GPU, or every ai-tools machine when none declares it. */
export function gpuMachines(model: DesiredInfra): readonly DesiredMachine[] {
  const machines = aiToolsMachines(model);
  const withGpu = machines.filter((m) => m.gpu);
  return withGpu.length > 0 ? withGpu : machines;
}

const QUERY_GPU = ['nvidia-smi', '--query-gpu=index,memory.used,memory.total', '--format=csv,noheader,nounits'];
const QUERY_APPS = ['nvidia-smi', '--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'];

/** `0, 1234, 24576` lines (nvidia-smi's CSV without header or units). */
export function parseGpuMemory(instance: string, csv: string): VramReading[] {
  return csv.split('\n').map((l) => l.split(',').map((c) => c.trim())).filter((c) => c.length === 3 && c.every((x) => /^\d+$/.test(x))).map(([gpu, used, total]) => ({ instance, gpu: gpu ?? '', usedMiB: Number(used), totalMiB: Number(total) }));
}

/** `12345, 1200` lines: the pids of compute processes. */
export function parseComputePids(csv: string): number[] {
  return csv.split('\n').map((l) => l.split(',')[0]?.trim() ?? '').filter((p) => /^\d+$/.test(p)).map(Number);
}

async function hasNvidiaSmi(client: IncusClient, project: string, instance: string, signal?: AbortSignal): Promise<boolean> {
  const r = await client.exec(project, instance, ['sh', '-c', 'command -v nvidia-smi'], signal === undefined ? {} : { signal });
  return r.code === 0;
}

/** VRAM of every GPU visible in the ai-tools GPU instances, and why a reading failed (a stopped instance is no failure: it has no GPU in use). */
export async function readVram(client: IncusClient, model: DesiredInfra, signal?: AbortSignal): Promise<{ readings: VramReading[]; errors: string[] }> {
  const readings: VramReading[] = [];
  const errors: string[] = [];
  for (const m of gpuMachines(model)) {
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

export interface ServiceChange {
  readonly project: string;
  readonly instance: string;
  readonly service: string;
}

/**
 * Stop the services that run (and exist) in every ai-tools instance. What was
 * stopped is pushed to `stopped` as it goes, so a failure midway still says
 * what to start again.
 */
export async function stopServices(client: IncusClient, model: DesiredInfra, stopped: ServiceChange[], signal?: AbortSignal): Promise<void> {
  for (const m of aiToolsMachines(model)) {
    for (const service of model.ai.gpuServices) {
      const active = await client.exec(model.ai.toolsDomain, m.name, ['systemctl', 'is-active', '--quiet', `${service}.service`], signal === undefined ? {} : { signal });
      if (active.code !== 0) continue;
      const r = await client.exec(model.ai.toolsDomain, m.name, ['systemctl', 'stop', `${service}.service`], signal === undefined ? {} : { signal });
      if (r.code !== 0) throw new Error(`systemctl stop ${service} in ${m.name} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
      stopped.push({ project: model.ai.toolsDomain, instance: m.name, service });
    }
  }
}

export async function startServices(client: IncusClient, services: readonly ServiceChange[], signal?: AbortSignal): Promise<void> {
  for (const { project, instance, service } of services) {
    const r = await client.exec(project, instance, ['systemctl', 'start', `${service}.service`], signal === undefined ? {} : { signal });
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
  readonly unloaded: string[];
  readonly notes: string[];
}

/** Unload models, kill the compute processes still on the GPU, try a reset (not all GPUs allow it), read VRAM around it. */
export async function flushVram(client: IncusClient, model: DesiredInfra, signal?: AbortSignal): Promise<FlushReport> {
  const opts = signal === undefined ? {} : { signal };
  const notes: string[] = [];
  const before = (await readVram(client, model, signal)).readings;
  const { unloaded, notAnswering } = await unloadOllamaModels(model, opts);
  if (notAnswering.length > 0) notes.push(`Ollama not answering (already stopped): ${notAnswering.join(', ')}`);
  const killed: FlushReport['killed'] = [];
  const reset: FlushReport['reset'] = [];
  let visible = false;
  for (const m of gpuMachines(model)) {
    if (!(await hasNvidiaSmi(client, model.ai.toolsDomain, m.name, signal))) continue;
    visible = true;
    const apps = await client.exec(model.ai.toolsDomain, m.name, QUERY_APPS, opts);
    if (apps.code !== 0) throw new Error(`nvidia-smi in ${m.name} could not list GPU processes: ${apps.stderr.trim() || `exit ${apps.code}`}`);
    for (const pid of parseComputePids(apps.stdout)) {
      const k = await client.exec(model.ai.toolsDomain, m.name, ['kill', '-9', String(pid)], opts);
      if (k.code === 0) killed.push({ instance: m.name, pid });
      else notes.push(`pid ${pid} in ${m.name} was gone already`);
    }
    const r = await client.exec(model.ai.toolsDomain, m.name, ['nvidia-smi', '--gpu-reset'], opts);
    reset.push({ instance: m.name, ok: r.code === 0, message: (r.stdout + r.stderr).trim().split('\n')[0] ?? '' });
  }
  if (!visible) notes.push('no GPU visible (no nvidia-smi in the ai-tools instances): nothing to flush');
  const after = (await readVram(client, model, signal)).readings;
  return { before, after, killed, reset, unloaded, notes };
}
