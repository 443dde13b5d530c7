import { validateInfraText } from '../../src/config/validate.js';
import type { DesiredDomain, DesiredInfra } from '../../src/schemas/model.js';

/**
 * One infra.yml with an OpenClaw domain of each kind the generator must handle:
 * local, cloud, local-first (with Telegram), disposable, and local with ai_sanitize always.
 * Shared by the unit tests and the test against OpenClaw's own validator.
 */
export const OPENCLAW_INFRA = `
global:
  openclaw:
    cloud_model: claude-sonnet-4-5
domains:
  anklume:
    trust_level: admin
    machines:
      anklume-sanitizer: { ip: 10.100.0.20, roles: [llm_sanitizer] }
  ai-tools:
    machines:
      gpu-server: { ip: 10.120.0.10, gpu: true, roles: [ollama_server] }
  perso:
    trust_level: trusted
    ai_provider: local
    openclaw: { enabled: true }
    machines:
      perso-openclaw: { ip: 10.110.0.5, roles: [openclaw_server] }
  pro:
    trust_level: trusted
    ai_provider: local-first
    openclaw:
      enabled: true
      heartbeat_every: 1h
      telegram: { token_file: /etc/anklume/secrets/pro-telegram.token, allow_from: [123456789] }
    machines:
      pro-openclaw: { ip: 10.110.1.5, roles: [openclaw_server] }
  client:
    trust_level: semi-trusted
    ai_provider: cloud
    openclaw: { enabled: true, cloud_model: claude-opus-4-8 }
    machines:
      client-openclaw: { roles: [openclaw_server] }
  audit:
    trust_level: semi-trusted
    ai_provider: local
    ai_sanitize: always
    openclaw: { enabled: true, heartbeat_every: 'off' }
    machines:
      audit-openclaw: { roles: [openclaw_server] }
  sandbox:
    trust_level: disposable
    openclaw: { enabled: true, version: 2026.9.6 }
    machines:
      sandbox-openclaw: { roles: [openclaw_server] }
`;

export function openclawModel(text: string = OPENCLAW_INFRA): DesiredInfra {
  const result = validateInfraText(text, { file: 'infra.yml' });
  if (!result.ok) throw new Error(JSON.stringify(result.issues, null, 1));
  return result.model;
}

export function domainOf(model: DesiredInfra, name: string): DesiredDomain {
  const domain = model.domains.find((d) => d.name === name);
  if (domain === undefined) throw new Error(`no domain ${name}`);
  return domain;
}
