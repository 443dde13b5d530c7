import { describe, expect, it } from 'vitest';
import { exampleDictionary } from './sanitizer-helpers.js';

describe('buildDictionary', () => {
  it('lists the declared identifiers of infra.example.yml', () => {
    const d = exampleDictionary();
    expect(d.domains).toEqual(['anklume', 'pro', 'perso', 'client', 'ai-tools', 'sandbox']);
    expect(d.projects).toEqual([...d.domains, 'my-workstation']);
    expect(d.bridges).toContain('net-ai-tools');
    expect(d.instances).toEqual(['anklume-instance', 'anklume-sanitizer', 'pro-dev', 'pro-openclaw', 'perso-desktop', 'client-gw', 'gpu-server', 'sandbox-test']);
    // Machine addresses (pinned and automatic) and every domain's gateway.
    expect(d.addresses).toEqual(expect.arrayContaining(['10.110.0.10', '10.110.0.1', '10.120.0.10', '10.110.0.254', '10.150.0.254']));
    expect(d.subnets).toEqual(['10.100.0.0/24', '10.110.0.0/24', '10.110.1.0/24', '10.120.1.0/24', '10.120.0.0/24', '10.150.0.0/24']);
    // infra.yml declares no FQDNs.
    expect(d.fqdns).toEqual([]);
  });
});
