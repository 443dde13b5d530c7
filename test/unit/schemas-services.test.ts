import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import type { DesiredInfra } from '../../src/schemas/model.js';
import { DEFAULT_SANITIZER_PORT, OLLAMA_PORT, ollamaEndpoint, ollamaEndpoints, sanitizerEndpoint } from '../../src/schemas/services.js';

function model(domains: string, global = ''): DesiredInfra {
  const text = `project_name: t\n${global === '' ? '' : `global:\n${global}\n`}domains:\n${domains}`;
  const r = validateInfraText(text, { file: 'infra.yml', hostNetworks: [] });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}

const PRO = `  pro:
    trust_level: trusted
    machines:
      pro-dev: { ip: 10.110.0.10 }
`;

describe('ollamaEndpoint', () => {
  it.each([
    { name: 'no machine has the ollama_server role', domains: `${PRO}  ai-tools:\n    machines:\n      gpu: { ip: 10.120.0.10 }\n`, global: '', expected: null },
    { name: 'no ai-tools domain at all', domains: PRO, global: '', expected: null },
    {
      name: 'the ollama_server machine of ai-tools',
      domains: `${PRO}  ai-tools:\n    machines:\n      web: { ip: 10.120.0.9 }\n      gpu: { ip: 10.120.0.10, roles: [ollama_server] }\n`,
      global: '',
      expected: { domain: 'ai-tools', machine: 'gpu', ip: '10.120.0.10', port: 11434, url: 'http://10.120.0.10:11434' },
    },
    { name: 'ai-tools is disabled', domains: `${PRO}  ai-tools:\n    enabled: false\n    machines:\n      gpu: { ip: 10.120.0.10, roles: [ollama_server] }\n`, global: '', expected: null },
    {
      name: 'the role on a machine outside ai-tools (the firewall opens no path to it)',
      domains: `  pro:\n    trust_level: trusted\n    machines:\n      pro-gpu: { ip: 10.110.0.10, roles: [ollama_server] }\n  ai-tools:\n    machines:\n      web: { ip: 10.120.0.9 }\n`,
      global: '',
      expected: null,
    },
    {
      name: 'global.ai_tools_domain names another domain',
      domains: `${PRO}  gpu-box:\n    machines:\n      gpu: { ip: 10.120.0.10, roles: [ollama_server] }\n`,
      global: '  ai_tools_domain: gpu-box',
      expected: { domain: 'gpu-box', machine: 'gpu', ip: '10.120.0.10', port: OLLAMA_PORT, url: 'http://10.120.0.10:11434' },
    },
  ])('$name', ({ domains, global, expected }) => {
    expect(ollamaEndpoint(model(domains, global))).toEqual(expected);
  });

  it('lists every server of ai-tools in file order and picks the first', () => {
    const m = model(`${PRO}  ai-tools:\n    machines:\n      gpu-b: { ip: 10.120.0.11, roles: [ollama_server] }\n      gpu-a: { ip: 10.120.0.10, roles: [ollama_server] }\n`);
    expect(ollamaEndpoints(m).map((e) => e.machine)).toEqual(['gpu-b', 'gpu-a']);
    expect(ollamaEndpoint(m)?.machine).toBe('gpu-b');
  });
});

describe('sanitizerEndpoint', () => {
  const SANITIZER = `  anklume:\n    trust_level: admin\n    machines:\n      sani: { ip: 10.100.0.20, roles: [llm_sanitizer] }\n`;
  it.each([
    { name: 'no machine has the llm_sanitizer role', domains: PRO, global: '', expected: null },
    {
      name: 'the llm_sanitizer machine on the default port',
      domains: `${SANITIZER}${PRO}`,
      global: '',
      expected: { domain: 'anklume', machine: 'sani', ip: '10.100.0.20', port: DEFAULT_SANITIZER_PORT, url: 'http://10.100.0.20:8089' },
    },
    {
      name: 'global.sanitizer.listen_port',
      domains: `${SANITIZER}${PRO}`,
      global: '  sanitizer: { listen_port: 9000 }',
      expected: { domain: 'anklume', machine: 'sani', ip: '10.100.0.20', port: 9000, url: 'http://10.100.0.20:9000' },
    },
    { name: 'its domain is disabled', domains: `  anklume:\n    trust_level: admin\n    enabled: false\n    machines:\n      sani: { ip: 10.100.0.20, roles: [llm_sanitizer] }\n${PRO}`, global: '', expected: null },
    {
      name: 'a disabled domain is skipped for the next enabled one',
      domains: `  anklume:\n    trust_level: admin\n    enabled: false\n    machines:\n      sani: { ip: 10.100.0.20, roles: [llm_sanitizer] }\n  pro:\n    trust_level: trusted\n    machines:\n      pro-sani: { ip: 10.110.0.20, roles: [llm_sanitizer] }\n`,
      global: '',
      expected: { domain: 'pro', machine: 'pro-sani', ip: '10.110.0.20', port: 8089, url: 'http://10.110.0.20:8089' },
    },
  ])('$name', ({ domains, global, expected }) => {
    expect(sanitizerEndpoint(model(domains, global))).toEqual(expected);
  });
});
