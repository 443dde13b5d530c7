import type { AiAccessPaths } from '../../config/paths.js';
import type { IncusClient } from '../../incus/client.js';
import type { Reconciler, ReconcileContext } from '../../reconcile/reconciler.js';
import type { DesiredInfra } from '../../schemas/model.js';
import { AnklumeError, describeError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { aiAccess, readHolder, type AiHolder } from './holder.js';
import { mirrorStateFile, SwitchFailedError, SwitchRefusedError, switchAi, type SwitchAnswer, type SwitchRequest } from './switch.js';
import { readVram } from './gpu.js';
import type { AiAccessStatus, VramReading } from '../status.js';

export const AI_ACCESS_KEY = 'ai-access';

/** GPU memory is read this often (nvidia-smi through Incus exec: a few requests); nothing sends events for it. */
export const VRAM_PERIOD_MS = 30_000;

export interface AiAccessReconcilerDeps {
  readonly client: IncusClient;
  readonly model: () => DesiredInfra;
  readonly paths: AiAccessPaths;
  readonly logger: Logger;
}

/**
 * The AI access controller: the holder recorded in Incus, mirrored into the
 * spec's state file, and the VRAM of the GPU instances for status. Runs the
 * switches asked of the daemon. Its exec calls (nvidia-smi, systemctl) run on
 * a queue of their own: a hung one fails here, with its timeout, and holds up
 * neither the firewall nor the domains.
 */
export class AiAccessReconciler implements Reconciler {
  readonly name = 'ai-access';
  private holder: AiHolder | null = null;
  private vram: VramReading[] = [];
  private vramError: string | undefined;
  /** One switch at a time in this process (the switch lock covers other processes). */
  private switching: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: AiAccessReconcilerDeps) {}

  status(): AiAccessStatus {
    const status = aiAccess(this.deps.model(), this.holder, this.vram);
    return this.vramError === undefined ? status : { ...status, vramError: this.vramError };
  }

  async reconcile(ctx: ReconcileContext): Promise<{ requeueAfterMs: number } | undefined> {
    const { deps } = this;
    const model = deps.model();
    const holder = await readHolder(deps.client, model, ctx.signal);
    if (model.ai.accessPolicy !== 'exclusive') {
      this.publish(holder, [], undefined);
      return undefined;
    }
    await mirrorStateFile(deps.paths.stateFile, holder.holder).catch((err: unknown) => ctx.log.warn({ err: describeError(err), file: deps.paths.stateFile }, 'cannot write the AI access state file'));
    try {
      const { readings, errors } = await readVram(deps.client, model, ctx.signal);
      const error = errors.length === 0 ? undefined : errors.join('; ');
      this.publish(holder, readings, error);
      if (error !== undefined) throw new AnklumeError('VRAM_READ_FAILED', `reading VRAM failed: ${error}`);
    } catch (err) {
      // The holder is known even when the GPU could not be read.
      if (this.holder !== holder) this.publish(holder, this.vram, describeError(err));
      throw err;
    }
    return { requeueAfterMs: VRAM_PERIOD_MS };
  }

  /** Holder and VRAM change together: status never shows one pass's holder with another's reading. */
  private publish(holder: AiHolder, vram: VramReading[], vramError: string | undefined): void {
    this.holder = holder;
    this.vram = vram;
    this.vramError = vramError;
  }

  /** `anklumectl switch-ai` through the daemon: the firewall changes go through the firewall controller's serialised pass. */
  switch(request: SwitchRequest, syncFirewall: (signal: AbortSignal) => Promise<void>): Promise<SwitchAnswer> {
    const run = this.switching.then(() => this.runSwitch(request, syncFirewall));
    this.switching = run.catch(() => undefined);
    return run;
  }

  private async runSwitch(request: SwitchRequest, syncFirewall: (signal: AbortSignal) => Promise<void>): Promise<SwitchAnswer> {
    const progress: string[] = [];
    const log = this.deps.logger.child({ key: 'switch-ai', target: request.target });
    try {
      const result = await switchAi({
        client: this.deps.client,
        model: this.deps.model(),
        paths: this.deps.paths,
        syncFirewall: (signal) => syncFirewall(signal ?? new AbortController().signal),
        progress: (line) => {
          progress.push(line);
          log.info(line);
        },
      }, request);
      if (result.changed) log.info({ from: result.from, to: result.to, flush: result.flush }, `AI access switched: ${result.from ?? 'nobody'} -> ${result.to}`);
      return { ok: true, result, progress };
    } catch (err) {
      if (err instanceof SwitchRefusedError) throw err;
      log.error({ err: describeError(err) }, 'switch-ai failed');
      if (err instanceof SwitchFailedError) return { ok: false, error: err.message, step: err.step, state: err.state, progress };
      return { ok: false, error: describeError(err), progress };
    }
  }
}
