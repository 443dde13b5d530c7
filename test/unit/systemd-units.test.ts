import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOST_DIRS } from '../../src/config/paths.js';

// The shipped units are static text: they must give write access to every
// host directory anklume writes (ProtectSystem=strict makes the rest read-only).
const unit = (name: string): Map<string, string[]> => {
  const settings = new Map<string, string[]>();
  for (const line of readFileSync(new URL(`../../deploy/${name}`, import.meta.url), 'utf8').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m?.[1] !== undefined) settings.set(m[1], [...(settings.get(m[1]) ?? []), m[2] ?? '']);
  }
  return settings;
};

describe('deploy/anklumed.service', () => {
  const s = unit('anklumed.service');
  it('is read-only except where anklume writes: state, logs, run, the OpenClaw cache and the AI access holder', () => {
    expect(s.get('ProtectSystem')).toEqual(['strict']);
    expect(`/var/lib/${s.get('StateDirectory')?.[0]}`).toBe(HOST_DIRS.state);
    expect(`/var/log/${s.get('LogsDirectory')?.[0]}`).toBe(HOST_DIRS.log);
    expect(`/run/${s.get('RuntimeDirectory')?.[0]}`).toBe(HOST_DIRS.run);
    expect(`/var/cache/${s.get('CacheDirectory')?.[0]}`).toBe(HOST_DIRS.openclawCache);
    expect(s.get('ReadWritePaths')).toEqual([HOST_DIRS.aiState]);
    expect(s.get('Environment')).toContain(`npm_config_cache=${HOST_DIRS.openclawCache}/.npm`);
    expect(basename(HOST_DIRS.config)).toBe(s.get('ConfigurationDirectory')?.[0]);
  });
});

describe('deploy/anklume-firewall.service', () => {
  const s = unit('anklume-firewall.service');
  it('runs once before Incus, which requires it', () => {
    expect(s.get('Type')).toEqual(['oneshot']);
    expect(s.get('Before')?.[0]?.split(' ')).toEqual(expect.arrayContaining(['incus.service', 'incus.socket', 'incus-startup.service']));
    expect(s.get('RequiredBy')?.[0]?.split(' ')).toEqual(['incus.service', 'incus-startup.service']);
    expect(s.get('ExecStart')).toEqual(['/usr/local/lib/anklume/anklume-firewall-load']);
  });
});
