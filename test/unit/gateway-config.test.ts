import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig, splitHostPort } from '../../src/gateway/config.js';
import { GatewayConfigError } from '../../src/gateway/errors.js';

describe('parseGatewayConfig', () => {
  it('an empty file is all defaults', () => {
    const c = parseGatewayConfig('', 'g.yml');
    expect(c).toMatchObject({
      infra: '/etc/anklume/infra.yml',
      upstreams: { anthropic: 'https://api.anthropic.com', openai: 'https://api.openai.com', timeout_ms: 600_000 },
      sources: [],
      state_dir: '/var/lib/anklume-sanitizer',
      audit: { path: '/var/log/llm-sanitizer/audit.log', store_originals: false, keep: 5 },
      limits: { body_bytes: 32 * 1024 * 1024 },
      ai_access: { holder_file: '/opt/anklume/ai-access-current' },
    });
    // Left unset: taken from infra.yml's global.sanitizer at start.
    expect(c.mode).toBeUndefined();
    expect(c.listen).toBeUndefined();
    expect(c.audit.enabled).toBeUndefined();
  });

  it('reads the DESIGN keys', () => {
    const c = parseGatewayConfig(
      ['listen: 10.100.0.20:8089', 'infra: /x/infra.yml', 'mode: mask', 'upstreams: { ollama: "http://10.120.0.10:11434" }', 'audit: { path: /a.log }', 'sources: [{ cidr: 10.100.0.1/32, domain: anklume }]'].join('\n'),
      'g.yml',
    );
    expect(c).toMatchObject({ listen: '10.100.0.20:8089', infra: '/x/infra.yml', mode: 'mask', upstreams: { ollama: 'http://10.120.0.10:11434' }, audit: { path: '/a.log' }, sources: [{ cidr: '10.100.0.1/32', domain: 'anklume' }] });
  });

  it.each([
    ['listen: 8089', 'listen'],
    ['mode: scramble', 'mode'],
    ['upstreams: { anthropic: "ftp://x" }', 'upstreams.anthropic'],
    ['sources: [{ cidr: 10.0.0.0/33, domain: pro }]', 'sources.0.cidr'],
    ['domains: { pro: { extra_patterns: [{ name: bad, regex: "(" }] } }', 'domains.pro.extra_patterns.0.regex'],
    ['unknown_key: 1', '(root)'],
    ['patterns: { ipv6: true }', 'patterns'],
  ])('rejects %s, naming %s', (text, path) => {
    expect(() => parseGatewayConfig(text, 'g.yml')).toThrow(GatewayConfigError);
    expect(() => parseGatewayConfig(text, 'g.yml')).toThrow(path);
  });

  it('rejects YAML that does not parse, and secrets_dir with secret_file', () => {
    expect(() => parseGatewayConfig('listen: [', 'g.yml')).toThrow(/not valid YAML/);
    expect(() => parseGatewayConfig('secrets_dir: /a\nsecret_file: /b', 'g.yml')).toThrow(/not both/);
  });
});

it('splitHostPort', () => {
  expect(splitHostPort('0.0.0.0:8089')).toEqual({ host: '0.0.0.0', port: 8089 });
  expect(splitHostPort('[::1]:80')).toEqual({ host: '::1', port: 80 });
});

it('deploy/sanitizer.example.yml is a valid config (the example cannot rot)', () => {
  const path = new URL('../../deploy/sanitizer.example.yml', import.meta.url);
  const c = parseGatewayConfig(readFileSync(path, 'utf8'), 'sanitizer.example.yml');
  expect(c.mode).toBe('pseudonymize');
  expect(c.sources).toEqual([{ cidr: '10.100.0.254/32', domain: 'anklume' }]);
});
