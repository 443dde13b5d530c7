import { resolveIncusEndpoint, type IncusEndpointFlags } from '../config/incus-endpoint.js';
import { detectHostNetworks, loadInfraFile } from '../config/load.js';
import { resolveAiAccessPaths, resolveBootFirewall, resolveInfraPath, resolveStateDir } from '../config/paths.js';
import { readFile } from 'node:fs/promises';
import { REMOTE_INCUS_FIREWALL, resolveNftBinary } from '../config/firewall.js';
import { formatIssue } from '../config/issues.js';
import type { FirewallTarget } from '../controllers/firewall/check.js';
import type { ServiceDeployment } from '../controllers/service/deployment.js';
import { loadDeployments } from '../controllers/service/inputs.js';
import { Nft } from '../firewall/nft.js';
import { IncusClient } from '../incus/client.js';
import type { DesiredInfra } from '../schemas/model.js';
import { AnklumeError } from '../shared/errors.js';
import type { CliIo } from './io.js';

/** The host firewall the command manages: nft here, or why not (remote Incus). */
export function firewallTarget(flags: IncusEndpointFlags & { readonly nft?: string }, io: CliIo): FirewallTarget {
  if ((flags.incusUrl ?? io.env.ANKLUME_INCUS_URL) !== undefined) return { unavailable: REMOTE_INCUS_FIREWALL };
  return { nft: new Nft(resolveNftBinary({ flag: flags.nft, env: io.env })), bootFile: resolveBootFirewall(io.env) };
}

export async function connectIncus(flags: IncusEndpointFlags, io: CliIo): Promise<IncusClient> {
  return new IncusClient(await resolveIncusEndpoint(flags, io.env));
}

/**
 * The services deployed into instances (the sanitizer): the gateway build, this
 * very Node binary (bind-mounted read-only, so instances need no package) and
 * the key files infra.yml names.
 */
export async function serviceDeployments(model: DesiredInfra, file: string, io: CliIo): Promise<ServiceDeployment[]> {
  return loadDeployments(model, { infraText: await readFile(file, 'utf8'), nodeBinary: process.execPath, aiPaths: resolveAiAccessPaths({}, io.env), stateDir: resolveStateDir(io.env) });
}

/** infra.yml is invalid: every error was printed; nothing may change. */
export class InvalidInfraError extends AnklumeError {
  constructor(file: string, count: number) {
    super('CONFIG_INVALID', `${count} error${count === 1 ? '' : 's'} in ${file}; nothing was changed`);
  }
}

/** Load infra.yml for a command that acts on it; print every error and refuse when invalid. */
export async function loadModelOrFail(flag: string | undefined, io: CliIo): Promise<{ file: string; model: DesiredInfra }> {
  const file = resolveInfraPath({ flag, env: io.env });
  const result = await loadInfraFile(file, { hostNetworks: detectHostNetworks() });
  if (!result.ok) {
    for (const issue of result.issues) io.stderr(`error ${formatIssue(issue)}\n`);
    throw new InvalidInfraError(file, result.issues.length);
  }
  return { file, model: result.model };
}
