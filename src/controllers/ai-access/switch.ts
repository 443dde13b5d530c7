import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AiAccessPaths } from '../../config/paths.js';
import type { IncusClient } from '../../incus/client.js';
import type { DesiredInfra } from '../../schemas/model.js';
import { formatHolderFile, writeHolderFile } from '../../shared/ai-access-file.js';
import { AnklumeError, describeError } from '../../shared/errors.js';
import {
  FAILED_KEY,
  FLUSH_KEY,
  HOLDER_KEY,
  NOBODY,
  PHASE_KEY,
  SINCE_KEY,
  STOPPED_KEY,
  SWITCHING_KEY,
  SWITCH_ID_KEY,
  WANTED_KEY,
  canHold,
  formatStopped,
  readRecord,
  writeRecord,
  type AccessRecord,
  type Phase,
  type StoppedService,
} from './holder.js';
import { activeServices, flushRefusal, flushVram, gpuMachines, gpuMachinesWithoutTool, startServices, stopService, unloadOllamaModels, type FlushReport } from './gpu.js';

/**
 * Exclusive AI access as desired state (spec/002): `switch-ai <domain>` only
 * records the wanted holder on the ai-tools project; {@link convergeAccess}
 * brings the current holder to it through phases — revoking, stopping,
 * flushing, granting, starting — each written to Incus before it is acted on,
 * with the services it stopped. Killed at any point (OOM, a reboot), the next
 * run resumes from the recorded phase and always starts again what the switch
 * stopped. One writer runs it: anklumed, or anklumectl under the writer lock.
 */
export interface SwitchRequest {
  readonly target: string;
  readonly flush: boolean;
  readonly dryRun: boolean;
}

export interface SwitchResult {
  readonly changed: boolean;
  readonly from: string | null;
  readonly to: string;
  readonly flush: boolean;
  readonly dryRun: boolean;
  readonly steps: readonly string[];
  readonly flushReport?: FlushReport;
  readonly warning?: string;
}

/** What the control API answers to a switch (the daemon runs it; anklumectl prints it). */
export type SwitchAnswer =
  | { readonly ok: true; readonly result: SwitchResult; readonly progress: readonly string[] }
  | { readonly ok: false; readonly error: string; readonly step?: string; readonly state?: string; readonly progress: readonly string[] };

/** A refused target: nothing was changed. */
export class SwitchRefusedError extends AnklumeError {
  constructor(message: string) {
    super('SWITCH_REFUSED', message);
  }
}

/** A switch that stopped midway: says which step and what state it left. */
export class SwitchFailedError extends AnklumeError {
  constructor(readonly step: string, readonly state: string, cause: unknown) {
    super('SWITCH_FAILED', `switch-ai failed at step "${step}": ${describeError(cause)}. State left: ${state}`, { cause });
  }
}

export const NO_FLUSH_WARNING =
  'WARNING: --no-flush: GPU memory is not cleared. The next domain may read what the previous one left in VRAM (model weights, KV cache, prompts). Use it only between domains you trust alike.';

/** Why `target` cannot receive access; null when it can (pure). */
export function refusal(model: DesiredInfra, target: string): string | null {
  if (model.ai.accessPolicy !== 'exclusive') return 'AI access is open (ai_access_policy: open): every domain may reach ai-tools; there is nothing to switch';
  if (target === model.ai.toolsDomain) return `${model.ai.toolsDomain} is the domain that is accessed; give access to a client domain`;
  const domain = model.domains.find((d) => d.name === target);
  if (domain === undefined) return `unknown domain "${target}" (domains: ${model.domains.filter((d) => d.name !== model.ai.toolsDomain).map((d) => d.name).join(', ')})`;
  if (!domain.enabled) return `domain "${target}" is disabled (enabled: false)`;
  return canHold(model, target) ? null : `domain "${target}" cannot hold AI access`;
}

/** The steps a switch takes, for --dry-run. */
export function plannedSteps(model: DesiredInfra, from: string | null, to: string, flush: boolean): string[] {
  const services = model.ai.gpuServices;
  const gpus = gpuMachines(model).map((m) => m.name);
  return [
    `record ${to} as the wanted holder (anklumed, or this command under the writer lock, converges to it)`,
    `revoke ${from ?? 'nobody'}: firewall set ai_access emptied in one transaction; open connections to ${model.ai.toolsDomain} cut`,
    `stop GPU services in ${model.ai.toolsDomain}: ${services.join(', ') || 'none configured'}${flush && gpus.length > 0 ? ' (Ollama unloads its models first)' : ''}`,
    !flush
      ? 'no VRAM flush (--no-flush)'
      : gpus.length === 0
        ? 'flush VRAM: no ai-tools machine declares gpu: true, nothing to flush'
        : `flush VRAM in ${gpus.join(', ')}: kill what holds /dev/nvidia*, try nvidia-smi --gpu-reset, check the memory is back to idle (else nobody gets access)`,
    `grant ${to}: firewall set ai_access = { net-${to} }`,
    'start the GPU services that were stopped',
    'record: state file, switch log',
  ];
}

export interface ConvergeDeps {
  readonly client: IncusClient;
  readonly model: DesiredInfra;
  readonly paths: AiAccessPaths;
  /** Bring the firewall to the holder now recorded in Incus (the daemon's serialised pass, or nft directly). */
  readonly syncFirewall: (signal?: AbortSignal) => Promise<void>;
  /** One line per step, as it starts or ends. */
  readonly progress: (line: string) => void;
  readonly now?: () => Date;
  readonly signal?: AbortSignal;
}

/**
 * Record what `switch-ai` asks (the caller holds the writer lock, or is the
 * daemon): validated, then the wanted holder and its flush choice in one
 * write. A GPU that cannot be read refuses a flushing switch here, before
 * anything changes. Returns the record as it was (the holder it switches from).
 */
export async function requestSwitch(deps: Pick<ConvergeDeps, 'client' | 'model' | 'signal'>, request: SwitchRequest): Promise<AccessRecord> {
  const { client, model, signal } = deps;
  const why = refusal(model, request.target);
  if (why !== null) throw new SwitchRefusedError(why);
  const record = await readRecord(client, model, signal);
  const flush = request.flush && model.ai.vramFlush;
  if (flush && !request.dryRun && !(record.holder.holder === request.target && record.phase === null)) {
    const missing = flushRefusal(await gpuMachinesWithoutTool(client, model, signal));
    if (missing !== null) throw new SwitchRefusedError(missing);
  }
  if (!request.dryRun) await writeRecord(client, model, { [WANTED_KEY]: request.target, [FLUSH_KEY]: String(flush), [FAILED_KEY]: null }, signal);
  return record;
}

export interface ConvergeResult {
  /** The switch carried out (or resumed and finished) by this run; null when nothing was to do. */
  readonly switched: { readonly from: string | null; readonly to: string | null; readonly flush: boolean; readonly flushReport?: FlushReport } | null;
  readonly holder: string | null;
  /** Why the switch failed (nobody holds access then). */
  readonly failure: string | null;
}

/**
 * Bring the current holder to the wanted one, one recorded phase at a time.
 * Every phase is written before it is acted on and every action is safe to
 * repeat, so a run killed anywhere is finished by the next one.
 */
export async function convergeAccess(deps: ConvergeDeps): Promise<ConvergeResult> {
  const { client, model, signal } = deps;
  const write = (patch: Record<string, string | null>): Promise<void> => writeRecord(client, model, patch, signal);
  const enter = (phase: Phase, extra: Record<string, string | null> = {}): Promise<void> => write({ [PHASE_KEY]: phase, ...extra });
  let from: string | null = null;
  let flushReport: FlushReport | undefined;
  let failure: string | null = null;
  let began = false;
  // Bounded: one switch is five phases; a request arriving midway changes only whom the grant goes to.
  for (let round = 0; round < 12; round++) {
    const record = await readRecord(client, model, signal);
    const phase = record.phase;
    if (phase === null) {
      const wanted = record.wanted === undefined ? record.holder.holder : record.wanted;
      if (wanted === record.holder.holder || (wanted !== null && !canHold(model, wanted))) {
        return { switched: began ? { from, to: record.holder.holder, flush: record.flush, ...(flushReport === undefined ? {} : { flushReport }) } : null, holder: record.holder.holder, failure };
      }
      from = record.holder.holder;
      began = true;
      const id = (deps.now?.() ?? new Date()).toISOString();
      deps.progress(`switch ${from ?? 'nobody'} -> ${wanted ?? 'nobody'} (flush=${String(record.flush)})`);
      await enter('revoking', { [SWITCH_ID_KEY]: id, [SWITCHING_KEY]: `${from ?? 'nobody'} -> ${wanted ?? 'nobody'}`, [STOPPED_KEY]: formatStopped([]) });
      continue;
    }
    if (!began) {
      // Resuming a switch another run began: its origin is in the record.
      began = true;
      const origin = record.switching?.split(' -> ')[0];
      from = origin === undefined || origin === 'nobody' ? null : origin;
    }
    switch (phase) {
      case 'revoking':
        deps.progress(`revoke ${record.holder.holder ?? 'nobody'}`);
        await write({ [HOLDER_KEY]: NOBODY });
        await deps.syncFirewall(signal);
        await mirrorStateFile(deps.paths.stateFile, null);
        await enter('stopping');
        break;
      case 'stopping': {
        deps.progress(`stop GPU services in ${model.ai.toolsDomain}`);
        // Before the services go: Ollama can only unload its models while it runs.
        if (record.flush && gpuMachines(model).length > 0) {
          const { unloaded } = await unloadOllamaModels(model, signal === undefined ? {} : { signal });
          if (unloaded.length > 0) deps.progress(`  unloaded Ollama models: ${unloaded.join(', ')}`);
        }
        const stopped = [...record.stopped];
        try {
          for (const service of await activeServices(client, model, signal)) {
            if (!stopped.some((s) => s.instance === service.instance && s.service === service.service)) stopped.push(service);
            // Recorded before it is stopped: a crash in between still starts it again.
            await write({ [STOPPED_KEY]: formatStopped(stopped) });
            await stopService(client, model, service, signal);
          }
        } catch (err) {
          signal?.throwIfAborted();
          // A GPU service that will not stop may keep the previous domain's data: nobody gets access.
          failure = `could not stop the GPU services: ${describeError(err)}`;
          deps.progress(`  ${failure}`);
          await enter('starting', { [WANTED_KEY]: NOBODY, [FAILED_KEY]: failure });
          break;
        }
        deps.progress(stopped.length === 0 ? '  no GPU service was running' : `  stopped ${describeServices(stopped)}`);
        await enter(record.flush ? 'flushing' : 'granting');
        break;
      }
      case 'flushing': {
        deps.progress('flush VRAM');
        flushReport = await flushVram(client, model, signal);
        for (const line of describeFlush(flushReport)) deps.progress(`  ${line}`);
        if (flushReport.failure !== null) {
          failure = flushReport.failure;
          // Nobody gets a GPU that may still hold the previous domain's data; the services come back.
          await enter('starting', { [WANTED_KEY]: NOBODY, [FAILED_KEY]: failure });
        } else {
          await enter('granting');
        }
        break;
      }
      case 'granting': {
        // Whoever is wanted now: a request that came during the switch gets the clean GPU.
        const to = record.wanted === undefined ? null : record.wanted;
        if (to !== null && canHold(model, to)) {
          deps.progress(`grant ${to}`);
          await write({ [HOLDER_KEY]: to, [SINCE_KEY]: (deps.now?.() ?? new Date()).toISOString() });
          await deps.syncFirewall(signal);
          await mirrorStateFile(deps.paths.stateFile, to);
        }
        await enter('starting');
        break;
      }
      case 'starting': {
        deps.progress('start GPU services');
        await startServices(client, model, record.stopped, signal);
        const to = record.holder.holder;
        await appendSwitchLog(deps.paths.switchLog, { id: record.switchId ?? (deps.now?.() ?? new Date()).toISOString(), from, to, flush: record.flush, failure: record.failed });
        await write({ [PHASE_KEY]: null, [STOPPED_KEY]: null, [SWITCHING_KEY]: null, [SWITCH_ID_KEY]: null });
        await mirrorStateFile(deps.paths.stateFile, to);
        deps.progress(`recorded in ${deps.paths.stateFile} and ${deps.paths.switchLog}`);
        failure ??= record.failed;
        break;
      }
    }
  }
  throw new AnklumeError('SWITCH_LOOP', 'internal: AI access did not settle after 12 rounds (is another writer changing the wanted holder?)');
}

function describeServices(list: readonly StoppedService[]): string {
  return list.map((s) => `${s.service}@${s.instance}`).join(', ');
}

function describeFlush(r: FlushReport): string[] {
  const vram = (readings: FlushReport['before']): string => readings.map((v) => `${v.instance} GPU ${v.gpu} ${v.usedMiB}/${v.totalMiB} MiB`).join(', ');
  return [
    ...(r.before.length > 0 ? [`VRAM before: ${vram(r.before)}`] : []),
    ...(r.killed.length > 0 ? [`killed processes holding the GPU: ${r.killed.map((k) => `${k.pid}@${k.instance}`).join(', ')}`] : []),
    ...r.reset.map((x) => `gpu reset in ${x.instance}: ${x.ok ? 'done' : `not supported or failed (${x.message}); not fatal`}`),
    ...r.notes,
    ...(r.after.length > 0 ? [`VRAM after: ${vram(r.after)}`] : []),
    ...(r.failure === null ? [] : [`FAILED: ${r.failure}`]),
  ];
}

/**
 * One line per switch: `<id> <old> -> <new> flush=<bool>` (plus why it failed),
 * where the id is the time the switch began. A line already there for this id
 * is not written again: a switch resumed after a crash logs once.
 */
export async function appendSwitchLog(path: string, entry: { id: string; from: string | null; to: string | null; flush: boolean; failure: string | null }): Promise<void> {
  const existing = await readFile(path, 'utf8').catch(() => '');
  if (existing.split('\n').some((l) => l.startsWith(`${entry.id} `))) return;
  await mkdir(dirname(path), { recursive: true });
  const failed = entry.failure === null ? '' : ` failed: ${entry.failure.replace(/\s+/g, ' ')}`;
  await appendFile(path, `${entry.id} ${entry.from ?? 'none'} -> ${entry.to ?? 'none'} flush=${String(entry.flush)}${failed}\n`, { mode: 0o644 });
}

/** The last switches from the log, newest last (for status). */
export async function lastSwitches(path: string, count = 5): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '').slice(-count);
}

/**
 * Mirror the holder recorded in Incus into the state file the gateway reads
 * (atomically, nobody as an explicit record: src/shared/ai-access-file.ts);
 * an identical file is left alone.
 */
export async function mirrorStateFile(path: string, holder: string | null): Promise<void> {
  const have = await readFile(path, 'utf8').catch(() => null);
  if (have === formatHolderFile(holder)) return;
  await writeHolderFile(path, holder);
}

/**
 * `switch-ai` from end to end, for the daemon and for anklumectl alone: record
 * the request, converge (`converge`: the daemon's controller run, or
 * {@link convergeAccess} in this process) and say what came of it.
 */
export async function performSwitch(
  deps: Pick<ConvergeDeps, 'client' | 'model' | 'signal'> & { readonly oneAtATime?: <T>(record: () => Promise<T>) => Promise<T> },
  request: SwitchRequest,
  converge: () => Promise<ConvergeResult>,
  progress: () => readonly string[],
): Promise<SwitchAnswer> {
  const { client, model, signal } = deps;
  const flush = request.flush && model.ai.vramFlush;
  const warning = flush ? {} : { warning: NO_FLUSH_WARNING };
  // Many requests at once (scripts, several terminals) would race on the record's ETag: one at a time.
  const before = await (deps.oneAtATime ?? ((f) => f()))(() => requestSwitch(deps, request));
  const from = before.holder.holder;
  const base = { from, to: request.target, flush, dryRun: request.dryRun, ...warning };
  if (from === request.target && before.phase === null) return { ok: true, result: { ...base, changed: false, steps: [`${request.target} already holds AI access: nothing to do`] }, progress: [] };
  if (request.dryRun) return { ok: true, result: { ...base, changed: false, steps: plannedSteps(model, from, request.target, flush) }, progress: [] };
  let result: ConvergeResult;
  try {
    result = await converge();
  } catch (err) {
    const now = await readRecord(client, model, signal).catch(() => null);
    const phase = now?.phase ?? 'unknown';
    return { ok: false, error: `switch-ai stopped in phase "${phase}": ${describeError(err)}. It resumes where it stopped on the next run (anklumed retries by itself; without it, run switch-ai again)`, step: phase, state: describeRecord(now), progress: progress() };
  }
  const after = await readRecord(client, model, signal);
  if (after.holder.holder === request.target) return { ok: true, result: { ...base, changed: true, steps: [], ...(result.switched?.flushReport === undefined ? {} : { flushReport: result.switched.flushReport }) }, progress: progress() };
  if (after.failed !== null) return { ok: false, error: `switch-ai failed: ${after.failed}`, step: 'switch', state: `${describeRecord(after)}; the GPU services stopped for the switch were started again`, progress: progress() };
  return { ok: false, error: `switch-ai to ${request.target} was superseded: ${after.wanted ?? 'nobody'} is wanted now`, step: 'superseded', state: describeRecord(after), progress: progress() };
}

function describeRecord(record: AccessRecord | null): string {
  if (record === null) return 'unknown (Incus could not be read)';
  const holder = record.holder.holder === null ? 'nobody holds AI access' : `${record.holder.holder} holds AI access`;
  return record.phase === null ? holder : `${holder}; a switch is in phase ${record.phase} (services it stopped: ${describeServices(record.stopped) || 'none'})`;
}

