import type { AiAccessPaths } from '../../config/paths.js';
import type { IncusClient } from '../../incus/client.js';
import type { Reconciler, ReconcileContext } from '../../reconcile/reconciler.js';
import type { DesiredInfra } from '../../schemas/model.js';
import { AnklumeError, describeError } from '../../shared/errors.js';
import { aiAccess, readRecord, type AccessRecord } from './holder.js';
import { convergeAccess, lastSwitches, mirrorStateFile, type ConvergeResult } from './switch.js';
import { readVram } from './gpu.js';
import type { AiAccessStatus, VramReading } from '../status.js';

export const AI_ACCESS_KEY = 'ai-access';

/** GPU memory is read this often (nvidia-smi through Incus exec: a few requests); nothing sends events for it. */
export const VRAM_PERIOD_MS = 30_000;

export interface AiAccessReconcilerDeps {
  readonly client: IncusClient;
  readonly model: () => DesiredInfra;
  readonly paths: AiAccessPaths;
  /** Bring the firewall to the holder recorded in Incus now (the firewall controller's serialised pass). */
  readonly syncFirewall: (signal: AbortSignal) => Promise<void>;
}

/**
 * The AI access controller: converges the holder recorded on the ai-tools
 * project to the wanted one (`switch-ai`), through the recorded phases of
 * {@link convergeAccess}, resuming a switch a crash interrupted; mirrors the
 * holder into the spec's state file; reads the GPUs' memory for status. Its
 * exec calls (nvidia-smi, systemctl) run on a queue of their own: a hung one
 * fails here, with its timeout, and holds up neither the firewall nor the domains.
 */
export class AiAccessReconciler implements Reconciler {
  readonly name = 'ai-access';
  private record: AccessRecord | null = null;
  private vram: VramReading[] = [];
  private vramError: string | undefined;
  private switches: string[] = [];
  private lastResult: ConvergeResult | null = null;
  private convergences = 0;
  private readonly listeners = new Set<(line: string) => void>();

  constructor(private readonly deps: AiAccessReconcilerDeps) {}

  status(): AiAccessStatus {
    return aiAccess(this.deps.model(), this.record, { vram: this.vram, vramError: this.vramError, switches: this.switches });
  }

  /** The outcome of the last convergence, and how many there were (the daemon's switch-ai answers from it). */
  lastConvergence(): { readonly result: ConvergeResult | null; readonly count: number } {
    return { result: this.lastResult, count: this.convergences };
  }

  /** Progress lines of the switches this controller carries out, as they happen. */
  onProgress(listener: (line: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async reconcile(ctx: ReconcileContext): Promise<{ requeueAfterMs: number } | undefined> {
    const { deps } = this;
    const model = deps.model();
    if (model.ai.accessPolicy !== 'exclusive') {
      this.publish(await readRecord(deps.client, model, ctx.signal), [], undefined);
      return undefined;
    }
    try {
      this.lastResult = await convergeAccess({
        client: deps.client,
        model,
        paths: deps.paths,
        syncFirewall: (signal) => deps.syncFirewall(signal ?? ctx.signal),
        progress: (line) => {
          ctx.log.info(line);
          for (const listener of this.listeners) listener(line);
        },
        signal: ctx.signal,
      });
      this.convergences++;
    } finally {
      // What the record says now, converged or stopped midway (status shows the phase).
      this.record = await readRecord(deps.client, model, ctx.signal).catch(() => this.record);
      this.switches = await lastSwitches(deps.paths.switchLog);
    }
    const record = this.record ?? (await readRecord(deps.client, model, ctx.signal));
    await mirrorStateFile(deps.paths.stateFile, record.holder.holder).catch((err: unknown) => ctx.log.warn({ err: describeError(err), file: deps.paths.stateFile }, 'cannot write the AI access state file'));
    const { readings, errors } = await readVram(deps.client, model, ctx.signal);
    const error = errors.length === 0 ? undefined : errors.join('; ');
    this.publish(record, readings, error);
    // Shown in status, and retried with backoff (access itself converged: lastConvergence says so).
    if (error !== undefined) throw new AnklumeError('VRAM_READ_FAILED', `reading VRAM failed: ${error}`);
    return { requeueAfterMs: VRAM_PERIOD_MS };
  }

  /** Holder and VRAM change together: status never shows one pass's holder with another's reading. */
  private publish(record: AccessRecord, vram: VramReading[], vramError: string | undefined): void {
    this.record = record;
    this.vram = vram;
    this.vramError = vramError;
  }
}
