import { planAgainstIncus } from '../controllers/whole-pass.js';
import type { IncusEndpointFlags } from '../config/incus-endpoint.js';
import { connectIncus, firewallTarget, loadModelOrFail, serviceDeployments } from './incus.js';
import { EXIT, type CliIo } from './io.js';
import { planCounts, planJson, renderPlan } from './render-plan.js';

export interface PlanCommandOptions extends IncusEndpointFlags {
  readonly config?: string;
  readonly json?: boolean;
  readonly prune?: boolean;
  readonly force?: boolean;
  readonly detailedExitcode?: boolean;
  readonly storagePool?: string;
  readonly nft?: string;
}

/** `anklumectl plan`: what apply would do, each action with its reason. Read-only. */
export async function runPlan(options: PlanCommandOptions, io: CliIo): Promise<number> {
  const { file, model } = await loadModelOrFail(options.config, io);
  const client = await connectIncus(options, io);
  try {
    const plan = await planAgainstIncus(client, model, { firewall: firewallTarget(options, io), services: await serviceDeployments(model, file, io), prune: options.prune === true, force: options.force === true, ...(options.storagePool === undefined ? {} : { storagePool: options.storagePool }) });
    const pending = plan.actions.length > 0;
    if (options.json === true) {
      io.stdout(`${JSON.stringify({ file, infra: model.projectName, ...planJson(plan), requests: client.stats.requests }, null, 2)}\n`);
    } else {
      io.stdout(renderPlan(plan, io));
      const c = planCounts(plan);
      io.stdout(pending ? `Plan: ${c.create} to create, ${c.update} to update, ${c.start} to start, ${c.delete} to delete${c.replace > 0 ? `, ${c.replace} to replace` : ''}${c.blocked > 0 ? `, ${c.blocked} blocked` : ''}.\n` : `Nothing to do: Incus matches ${file}.\n`);
    }
    return pending && options.detailedExitcode === true ? EXIT.usage : EXIT.ok;
  } finally {
    client.close();
  }
}
