import type { DesiredInfra } from '../schemas/model.js';
import type { IdentifierDictionary } from './types.js';

function unique(values: Iterable<string>): string[] {
  return [...new Set(values)].filter((v) => v !== '');
}

/**
 * The exact identifiers of the declared infrastructure: domain and project
 * names (the Incus project of a domain has its name; the file's project_name
 * names the whole host), bridges, instance names, their addresses, the
 * domains' subnets and gateways. infra.yml declares no FQDNs (no
 * `<instance>.<domain>.internal` names exist in the model), so `fqdns` is empty;
 * the gateway may add its own.
 */
export function buildDictionary(model: DesiredInfra): IdentifierDictionary {
  const machines = model.domains.flatMap((d) => d.machines);
  return {
    domains: unique(model.domains.map((d) => d.name)),
    projects: unique([...model.domains.map((d) => d.project), model.projectName]),
    bridges: unique(model.domains.map((d) => d.bridge)),
    instances: unique(machines.map((m) => m.name)),
    addresses: unique([...machines.map((m) => m.ip), ...model.domains.map((d) => d.network.gateway)]),
    subnets: unique(model.domains.map((d) => d.network.subnet)),
    fqdns: [],
  };
}
