import { reconcileOnce } from '../controllers/engine.js';
import type { IncusEndpointFlags } from '../config/incus-endpoint.js';
import type { Outcome } from '../reconcile/execute.js';
import { connectIncus, firewallTarget, loadModelOrFail, serviceDeployments } from './incus.js';
import { EXIT, paint, type CliIo } from './io.js';
import { renderPlan } from './render-plan.js';

export interface ApplyCommandOptions extends IncusEndpointFlags {
  readonly config?: string;
  readonly prune?: boolean;
  readonly force?: boolean;
  readonly parallel?: string;
  readonly storagePool?: string;
  readonly nft?: string;
}

/** `anklumectl apply`: one reconcile pass, a line per action, a summary; exit 1 if anything did not converge. */
export async function runApply(options: ApplyCommandOptions, io: CliIo): Promise<number> {
  const { file, model } = await loadModelOrFail(options.config, io);
  const concurrency = Number(options.parallel ?? '4');
  const client = await connectIncus(options, io);
  const started = performance.now();
  const stamp = (): string => paint(io, 'dim', `[${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s]`);
  const onOutcome = (o: Outcome): void => {
    const what = `${o.action.verb} ${o.action.kind} ${o.action.name}`;
    if (o.status === 'done') io.stdout(`${stamp()} ${paint(io, 'green', 'ok')}      ${what} (${Math.round(o.ms)} ms)\n`);
    else if (o.status === 'failed') io.stdout(`${stamp()} ${paint(io, 'red', 'failed')}  ${what}: ${o.error}\n`);
    else io.stdout(`${stamp()} ${paint(io, 'yellow', 'skipped')} ${what}: ${o.reason}\n`);
  };
  try {
    const { plan, outcomes } = await reconcileOnce(client, model, { firewall: firewallTarget(options, io), services: await serviceDeployments(model, file, io),
      prune: options.prune === true,
      force: options.force === true,
      concurrency: Number.isInteger(concurrency) && concurrency > 0 ? concurrency : 4,
      ...(options.storagePool === undefined ? {} : { storagePool: options.storagePool }),
      onStart: (a) => io.stdout(`${stamp()} ${paint(io, 'dim', 'start')}   ${a.verb} ${a.kind} ${a.name} (${a.reason})\n`),
      onOutcome,
    });
    if (plan.notes.length > 0) io.stdout(renderPlan({ actions: [], notes: plan.notes }, io));
    if (plan.actions.length === 0) {
      io.stdout(`Nothing to do: Incus matches ${file}.\n`);
      return EXIT.ok;
    }
    const count = (s: Outcome['status']): number => outcomes.filter((o) => o.status === s).length;
    const [done, failed, skipped] = [count('done'), count('failed'), count('skipped')];
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const line = `Apply: ${done} done, ${failed} failed, ${skipped} not done, in ${seconds}s (${client.stats.requests} Incus requests, ${client.stats.writes} writes).`;
    io.stdout(`${failed + skipped > 0 ? paint(io, 'red', line) : paint(io, 'green', line)}\n`);
    return failed + skipped > 0 ? EXIT.failure : EXIT.ok;
  } finally {
    client.close();
  }
}
