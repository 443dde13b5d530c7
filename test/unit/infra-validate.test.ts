import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { validateInfraText } from '../../src/config/validate.js';

describe('validation reports', () => {
  it('reports a missing key and an unknown key of the same object without crashing', () => {
    const text = 'domains:\n  pro:\n    trust_level: trusted\n    openclaw:\n      enabled: true\n      telegram: { token: x }\n';
    const r = validateInfraText(text, { file: 'infra.yml', hostNetworks: [] });
    expect(r.ok).toBe(false);
    const lines = r.ok ? [] : r.issues.map(formatIssue);
    expect(lines.some((l) => l.includes('domains.pro.openclaw.telegram.token: unknown key "token"'))).toBe(true);
    expect(lines.some((l) => l.includes('domains.pro.openclaw.telegram.token_file'))).toBe(true);
  });

  it('reports three different mistakes at once, each with line and column', () => {
    const text = [
      'domains:', //                      1
      '  pro:', //                        2
      '    trust_level: trusted', //      3
      '    ai_provider: clowd', //        4  ← bad enum (col 18)
      '    machines:', //                 5
      '      pro-dev:', //                6
      '        ip: 10.120.0.5', //        7  ← outside the subnet (col 13)
      '        tpye: vm', //              8  ← unknown key (col 9)
      '',
    ].join('\n');
    const result = validateInfraText(text, { file: 'infra.yml' });
    expect(result.ok).toBe(false);
    expect(result.issues.map((i) => [i.rule, i.line, i.column])).toEqual([
      ['schema', 4, 18],
      ['ip-in-subnet', 7, 13],
      ['unknown-key', 8, 9],
    ]);
    expect(result.issues.map(formatIssue)).toEqual([
      'infra.yml:4:18: domains.pro.ai_provider: value not allowed (expected one of local, cloud, local-first, found "clowd") — did you mean "cloud"?',
      'infra.yml:7:13: domains.pro.machines.pro-dev.ip: 10.120.0.5 is outside the subnet of domain "pro" (expected an address in 10.110.0.0/24, found 10.120.0.5)',
      'infra.yml:8:9: domains.pro.machines.pro-dev.tpye: unknown key "tpye" (expected one of description, type, ip, gpu, roles, profiles, config, devices, ephemeral, os_image, allow_unsafe, placement) — did you mean "type"?',
    ]);
  });

  it('reports a YAML syntax error with its position', () => {
    const result = validateInfraText('domains:\n  pro:\n    machines: [a, b\n', { file: 'infra.yml' });
    expect(result.ok).toBe(false);
    expect(result.issues[0]).toMatchObject({ rule: 'yaml-syntax', file: 'infra.yml' });
    expect(result.issues[0]?.line).toBeGreaterThanOrEqual(3);
  });

  it('reports a duplicated key as a syntax error', () => {
    const result = validateInfraText('domains:\n  pro: {}\n  pro: {}\n', { file: 'infra.yml' });
    expect(result.issues.map((i) => [i.rule, i.line])).toEqual([['yaml-syntax', 3]]);
  });

  it('rejects an empty file and a file that is not a mapping', () => {
    expect(validateInfraText('', { file: 'x.yml' }).issues[0]?.message).toMatch(/must be a mapping/);
    expect(validateInfraText('- a\n- b\n', { file: 'x.yml' }).issues[0]?.found).toBe('something else');
  });

  it('reports a wrong type with what was found', () => {
    const result = validateInfraText('domains:\n  pro:\n    machines: [a]\n', { file: 'infra.yml' });
    expect(result.issues[0]).toMatchObject({ path: ['domains', 'pro', 'machines'], expected: 'a mapping', found: 'a list', line: 3, column: 15 });
  });

  it('reports a missing required key at its parent', () => {
    const result = validateInfraText('domains: {}\nnetwork_policies:\n  - to: host\n    ports: all\n', { file: 'infra.yml' });
    expect(result.issues.map((i) => [i.rule, i.line, i.column, i.message])).toEqual([['required', 3, 5, 'required key is missing']]);
  });

  it('still checks cross-field rules next to schema errors elsewhere', () => {
    const text = 'domains:\n  pro:\n    ai_provider: 3\n    machines: { pro-dev: { ip: 10.0.0.1 } }\nnetwork_policies:\n  - { from: pro, to: nope, ports: all }\n';
    const rules = validateInfraText(text, { file: 'infra.yml' }).issues.map((i) => i.rule);
    expect(rules).toEqual(['schema', 'ip-in-subnet', 'policy-endpoint-known']);
  });
});

describe('infra.example.yml', () => {
  it('validates, and uses what the spec describes', () => {
    const text = readFileSync(new URL('../../infra.example.yml', import.meta.url), 'utf8');
    const result = validateInfraText(text, { file: 'infra.example.yml' });
    expect(result.issues).toEqual([]);
    if (!result.ok) return;
    const m = result.model;
    expect(m.domains.map((d) => d.name)).toEqual(expect.arrayContaining(['anklume', 'pro', 'perso', 'sandbox', 'ai-tools']));
    expect(m.domains.find((d) => d.name === 'anklume')?.trustLevel).toBe('admin');
    expect(m.domains.find((d) => d.name === 'sandbox')?.trustLevel).toBe('disposable');
    expect(new Set(m.domains.map((d) => d.aiProvider))).toEqual(new Set(['local', 'cloud', 'local-first']));
    expect(m.ai.accessPolicy).toBe('exclusive');
    expect(m.domains.flatMap((d) => d.machines).filter((x) => x.gpu).map((x) => x.roles)).toEqual([expect.arrayContaining(['ollama_server'])]);
    expect(m.policies.length).toBeGreaterThan(0);
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=./crd-like-schemas/infra.schema.json');
  });
});
