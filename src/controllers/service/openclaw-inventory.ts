import type { DesiredDomain, DesiredInfra } from '../../schemas/model.js';
import { OLLAMA_PORT } from '../../schemas/ports.js';
import { canonicalJson, type JsonObject } from './openclaw-config.js';

/**
 * What a domain declares, as its assistant's scan skill reads it
 * (skills/anklume-scan): the subnet to scan, the machines it should find, and
 * for each the TCP ports that are expected open (the assistant's gateway, the
 * AI services anklume deploys, the ports network policies open to it; `all`
 * when a policy opens every port). Pure; the domain's own facts only.
 */
export function renderInventory(model: DesiredInfra, domain: DesiredDomain): JsonObject {
  const ports = new Map<string, Set<number> | 'all'>(domain.machines.map((m) => [m.name, new Set<number>()]));
  const open = (machine: string, p: readonly number[] | 'all'): void => {
    const have = ports.get(machine);
    if (have === undefined || have === 'all') return;
    if (p === 'all') ports.set(machine, 'all');
    else for (const n of p) have.add(n);
  };
  if (domain.openclaw !== null) open(domain.openclaw.machine, [domain.openclaw.port]);
  for (const m of domain.machines) {
    if (m.roles.includes('llm_sanitizer')) open(m.name, [model.sanitizer.listenPort]);
    if (m.roles.includes('ollama_server')) open(m.name, [OLLAMA_PORT]);
  }
  for (const policy of model.policies) {
    if (policy.protocol !== 'tcp') continue;
    // Both ends of a bidirectional policy accept connections.
    for (const end of policy.bidirectional ? [policy.to, policy.from] : [policy.to]) {
      if (end.kind === 'machine' && end.domain === domain.name) open(end.machine, policy.ports);
      if (end.kind === 'domain' && end.domain === domain.name) for (const m of domain.machines) open(m.name, policy.ports);
    }
  }
  const scanner = domain.machines.find((m) => m.name === domain.openclaw?.machine);
  return {
    domain: domain.name,
    subnet: domain.network.subnet,
    gateway: domain.network.gateway,
    // Where skills/anklume-status reads the domain view (null when infra.yml turns it off).
    domainView: model.domainView.enabled ? `http://${domain.network.gateway}:${model.domainView.port}` : null,
    scanner: scanner?.ip ?? null,
    hosts: [
      ...domain.machines.map((m) => {
        const p = ports.get(m.name) ?? 'all';
        return { ip: m.ip, name: m.name, roles: [...m.roles], ports: p === 'all' ? 'all' : [...p].sort((a, b) => a - b) };
      }),
      // The host's side of the bridge (DNS, DHCP, anklume's own services): expected, whatever it opens.
      { ip: domain.network.gateway, name: 'gateway', roles: ['host'], ports: 'all' },
    ],
  };
}

export function renderInventoryText(model: DesiredInfra, domain: DesiredDomain): string {
  return canonicalJson(renderInventory(model, domain));
}
