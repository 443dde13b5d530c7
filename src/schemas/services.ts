import type { DesiredDomain, DesiredInfra } from './model.js';
import { DEFAULT_SANITIZER_PORT, OLLAMA_PORT } from './ports.js';

export { DEFAULT_SANITIZER_PORT, OLLAMA_PORT };

/**
 * Where the AI services of the model are: one rule each, so the firewall, the
 * deployments, the OpenClaw configs and the gateway send traffic to the same
 * place the firewall opens. Pure functions of the desired model.
 */

/** A service on a machine of the model, as other domains reach it. */
export interface ServiceEndpoint {
  readonly domain: string;
  readonly machine: string;
  readonly ip: string;
  readonly port: number;
  /** `http://<ip>:<port>`, no trailing slash. */
  readonly url: string;
}

function endpoint(domain: string, machine: { readonly name: string; readonly ip: string }, port: number): ServiceEndpoint {
  return { domain, machine: machine.name, ip: machine.ip, port, url: `http://${machine.ip}:${port}` };
}

/**
 * Every Ollama server: the machines with role `ollama_server` in the ai-tools
 * domain (`global.ai_tools_domain`), when that domain is enabled, in file
 * order. Elsewhere the role means nothing: ai-tools is the domain exclusive
 * access guards and the firewall opens (spec/002).
 */
export function ollamaEndpoints(model: DesiredInfra): ServiceEndpoint[] {
  const tools = model.domains.find((d) => d.name === model.ai.toolsDomain && d.enabled);
  if (tools === undefined) return [];
  return tools.machines.filter((m) => m.roles.includes('ollama_server')).map((m) => endpoint(tools.name, m, OLLAMA_PORT));
}

/** The Ollama server local AI goes to: the first of {@link ollamaEndpoints}, or null when there is none. */
export function ollamaEndpoint(model: DesiredInfra): ServiceEndpoint | null {
  return ollamaEndpoints(model)[0] ?? null;
}

/**
 * anklume-sanitizer: the first machine with role `llm_sanitizer` of an enabled
 * domain (file order), on `global.sanitizer.listen_port`; null when there is
 * none. Only that one is deployed.
 */
export function sanitizerEndpoint(model: DesiredInfra): ServiceEndpoint | null {
  for (const d of model.domains) {
    if (!d.enabled) continue;
    const m = d.machines.find((x) => x.roles.includes('llm_sanitizer'));
    if (m !== undefined) return endpoint(d.name, m, model.sanitizer.listenPort);
  }
  return null;
}

/** The services anklume deploys into a domain's machines (the sanitizer, its OpenClaw assistant, the claude_code machines), in status's words. */
export function servicesOf(model: DesiredInfra, domain: DesiredDomain): { readonly instance: string; readonly name: string }[] {
  if (!domain.enabled) return [];
  const sanitizer = sanitizerEndpoint(model);
  const services = sanitizer?.domain === domain.name ? [{ instance: sanitizer.machine, name: `sanitizer on ${sanitizer.machine}` }] : [];
  if (domain.openclaw !== null) services.push({ instance: domain.openclaw.machine, name: `openclaw on ${domain.openclaw.machine}` });
  for (const machine of domain.claudeCode?.machines ?? []) services.push({ instance: machine, name: `claude-code on ${machine}` });
  return services;
}
