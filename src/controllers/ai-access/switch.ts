import { appendFile, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AiAccessPaths } from '../../config/paths.js';
import type { IncusClient } from '../../incus/client.js';
import type { DesiredInfra } from '../../schemas/model.js';
import { formatHolderFile, writeHolderFile } from '../../shared/ai-access-file.js';
import { AnklumeError, describeError } from '../../shared/errors.js';
import { NOBODY, canHold, readHolder, writeHolder } from './holder.js';
import { flushVram, startServices, stopServices, type FlushReport, type ServiceChange } from './gpu.js';

/**
 * `switch-ai <domain>` (spec/002): move exclusive AI access from the holder to
 * another domain, in this order: validate, lock, revoke (one atomic firewall
 * change that also cuts open connections), stop the GPU services, flush VRAM,
 * grant, start the services, record. The durable holder (on the ai-tools
 * project) is written before each firewall change, so a failure anywhere
 * leaves the old holder or nobody, never two.
 */
export interface SwitchRequest {
  readonly target: string;
  readonly flush: boolean;
  readonly dryRun: boolean;
}

export interface SwitchDeps {
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

/** The steps a switch takes, for --dry-run and the progress lines. */
export function plannedSteps(model: DesiredInfra, from: string | null, to: string, flush: boolean): string[] {
  const services = model.ai.gpuServices;
  return [
    `lock (one switch at a time)`,
    `revoke ${from ?? 'nobody'}: firewall set ai_access emptied in one transaction; open connections to ${model.ai.toolsDomain} cut`,
    `stop GPU services in ${model.ai.toolsDomain}: ${services.join(', ') || 'none configured'}`,
    flush ? 'flush VRAM: unload Ollama models, kill remaining GPU processes (nvidia-smi), try nvidia-smi --gpu-reset, report VRAM before and after' : 'no VRAM flush (--no-flush)',
    `grant ${to}: firewall set ai_access = { net-${to} }`,
    'start the GPU services that were stopped',
    'record: state file, switch log',
  ];
}

export async function switchAi(deps: SwitchDeps, request: SwitchRequest): Promise<SwitchResult> {
  const { client, model, paths, progress, signal } = deps;
  const now = deps.now ?? ((): Date => new Date());
  const why = refusal(model, request.target);
  if (why !== null) throw new SwitchRefusedError(why);
  const current = await readHolder(client, model, signal);
  const from = current.holder;
  // ai_vram_flush: false in infra.yml is a standing --no-flush.
  const flush = request.flush && model.ai.vramFlush;
  const warning = flush ? undefined : NO_FLUSH_WARNING;
  const base = { from, to: request.target, flush, dryRun: request.dryRun, ...(warning === undefined ? {} : { warning }) };
  if (from === request.target) return { ...base, changed: false, steps: [`${request.target} already holds AI access: nothing to do`] };
  const steps = plannedSteps(model, from, request.target, flush);
  if (request.dryRun) return { ...base, changed: false, steps };

  const release = await takeLock(paths.lockFile);
  let step = 'revoke';
  let state = `${from ?? 'nobody'} holds AI access (nothing changed)`;
  const stopped: ServiceChange[] = [];
  let flushReport: FlushReport | undefined;
  try {
    progress(`revoke ${from ?? 'nobody'}`);
    await writeHolder(client, model, { holder: NOBODY, switching: `${from ?? ''} -> ${request.target}` }, signal);
    state = 'nobody holds AI access (revoke recorded in Incus; the firewall may still let the old holder in until the next reconcile)';
    await deps.syncFirewall(signal);
    state = 'nobody holds AI access (the firewall lets no domain reach ai-tools)';

    step = 'stop services';
    progress(`stop GPU services in ${model.ai.toolsDomain}`);
    await stopServices(client, model, stopped, signal);
    progress(stopped.length === 0 ? '  no GPU service was running' : `  stopped ${stopped.map((s) => `${s.service}@${s.instance}`).join(', ')}`);
    state = `nobody holds AI access; GPU services stopped: ${stopped.map((s) => `${s.service}@${s.instance}`).join(', ') || 'none'}`;

    if (flush) {
      step = 'flush VRAM';
      progress('flush VRAM');
      flushReport = await flushVram(client, model, signal);
      for (const line of describeFlush(flushReport)) progress(`  ${line}`);
    }

    step = 'grant';
    progress(`grant ${request.target}`);
    const since = now().toISOString();
    await writeHolder(client, model, { holder: request.target, since, switching: null }, signal);
    state = `${request.target} holds AI access in Incus; the firewall may not show it yet (the next reconcile applies it)`;
    await deps.syncFirewall(signal);
    state = `${request.target} holds AI access; GPU services still stopped: ${stopped.map((s) => `${s.service}@${s.instance}`).join(', ') || 'none'}`;

    step = 'start services';
    progress('start GPU services');
    await startServices(client, stopped, signal);
    state = `${request.target} holds AI access`;

    step = 'record';
    await recordSwitch(paths, { from, to: request.target, flush, at: since });
    progress(`recorded in ${paths.stateFile} and ${paths.switchLog}`);
  } catch (err) {
    // Services stopped for the flush go back up: with nobody (or the old holder) allowed in, that is safe.
    if (stopped.length > 0 && step !== 'start services' && step !== 'record') {
      const restarted = await startServices(client, stopped, signal).then(() => true, () => false);
      state += restarted ? '; the GPU services stopped for the switch were started again' : '; the GPU services stopped for the switch could not be started again';
    }
    throw new SwitchFailedError(step, state, err);
  } finally {
    await release();
  }
  return { ...base, changed: true, steps, ...(flushReport === undefined ? {} : { flushReport }) };
}

function describeFlush(r: FlushReport): string[] {
  const vram = (readings: FlushReport['before']): string => (readings.length === 0 ? 'no GPU visible' : readings.map((v) => `${v.instance} GPU ${v.gpu} ${v.usedMiB}/${v.totalMiB} MiB`).join(', '));
  return [
    `VRAM before: ${vram(r.before)}`,
    ...(r.unloaded.length > 0 ? [`unloaded Ollama models: ${r.unloaded.join(', ')}`] : []),
    ...(r.killed.length > 0 ? [`killed GPU processes: ${r.killed.map((k) => `${k.pid}@${k.instance}`).join(', ')}`] : []),
    ...r.reset.map((x) => `gpu reset in ${x.instance}: ${x.ok ? 'done' : `not supported or failed (${x.message}); not fatal`}`),
    ...r.notes,
    `VRAM after: ${vram(r.after)}`,
  ];
}

/** The state file gets the new holder (atomically, shared/ai-access-file.ts); the log `<ISO time> <old> -> <new> flush=<bool>`. */
export async function recordSwitch(paths: AiAccessPaths, entry: { from: string | null; to: string; flush: boolean; at: string }): Promise<void> {
  await writeHolderFile(paths.stateFile, entry.to);
  await mkdir(dirname(paths.switchLog), { recursive: true });
  await appendFile(paths.switchLog, `${entry.at} ${entry.from ?? 'none'} -> ${entry.to} flush=${String(entry.flush)}\n`, { mode: 0o644 });
}

/** Mirror the holder recorded in Incus into the state file; nobody (null) is written as a record, never as an empty file. */
export async function mirrorStateFile(path: string, holder: string | null): Promise<void> {
  const have = await readFile(path, 'utf8').catch(() => null);
  if (have === formatHolderFile(holder)) return;
  await writeHolderFile(path, holder);
}

/**
 * One switch at a time, across anklumectl and anklumed: a lock file created
 * exclusively, holding the pid. A lock left by a dead process is taken over.
 */
export async function takeLock(path: string): Promise<() => Promise<void>> {
  await mkdir(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o644);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) throw new SwitchRefusedError(`another switch-ai is in progress (pid ${pid}, lock ${path}); nothing was changed`);
      await unlink(path).catch(() => undefined);
    }
  }
  throw new SwitchRefusedError(`could not take the switch lock ${path}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
