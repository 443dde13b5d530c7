import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { HOLDER_KEY, NOBODY, SINCE_KEY, SWITCHING_KEY, holderFromConfig } from '../../src/controllers/ai-access/holder.js';
import { mirrorStateFile, plannedSteps, recordSwitch, refusal, takeLock } from '../../src/controllers/ai-access/switch.js';
import { formatHolderFile, parseHolderFile } from '../../src/shared/ai-access-file.js';
import { parseComputePids, parseGpuMemory } from '../../src/controllers/ai-access/gpu.js';
import type { DesiredInfra } from '../../src/schemas/model.js';

const INFRA = `
project_name: t
global:
  ai_access_policy: exclusive
  ai_access_default: pro
domains:
  pro: { trust_level: trusted }
  perso: { trust_level: trusted }
  ai-tools: { trust_level: semi-trusted }
  old: { trust_level: untrusted, enabled: false }
`;

function model(text = INFRA): DesiredInfra {
  const r = validateInfraText(text, { file: 'infra.yml', hostNetworks: [] });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}

describe('holderFromConfig', () => {
  const m = model();
  it('is ai_access_default until a switch is recorded', () => {
    expect(holderFromConfig(m, undefined)).toEqual({ holder: 'pro', since: null, source: 'ai_access_default' });
    expect(holderFromConfig(m, {})).toEqual({ holder: 'pro', since: null, source: 'ai_access_default' });
  });

  it('is the recorded domain, with the time of the switch', () => {
    expect(holderFromConfig(m, { [HOLDER_KEY]: 'perso', [SINCE_KEY]: '2026-11-22T05:00:00.000Z' })).toEqual({ holder: 'perso', since: '2026-11-22T05:00:00.000Z', source: 'switch-ai' });
  });

  it('is nobody after a switch stopped between revoke and grant, and says so', () => {
    expect(holderFromConfig(m, { [HOLDER_KEY]: NOBODY, [SWITCHING_KEY]: 'pro -> perso' })).toMatchObject({ holder: null, source: 'none', note: 'a switch (pro -> perso) stopped before granting access' });
  });

  it('never grants a domain that left infra.yml or was disabled', () => {
    expect(holderFromConfig(m, { [HOLDER_KEY]: 'gone' })).toMatchObject({ holder: null, source: 'none' });
    expect(holderFromConfig(m, { [HOLDER_KEY]: 'old' })).toMatchObject({ holder: null, source: 'none' });
    expect(holderFromConfig(m, { [HOLDER_KEY]: 'ai-tools' })).toMatchObject({ holder: null, source: 'none' });
  });

  it('has no holder with open access', () => {
    const open = model(INFRA.replace('ai_access_policy: exclusive\n  ai_access_default: pro', 'ai_access_policy: open'));
    expect(holderFromConfig(open, { [HOLDER_KEY]: 'perso' })).toEqual({ holder: null, since: null, source: 'open' });
  });
});

describe('refusal', () => {
  const m = model();
  it('accepts a known, enabled client domain', () => {
    expect(refusal(m, 'perso')).toBeNull();
  });
  it.each([
    ['nope', 'unknown domain "nope" (domains: pro, perso, old)'],
    ['old', 'domain "old" is disabled (enabled: false)'],
    ['ai-tools', 'ai-tools is the domain that is accessed; give access to a client domain'],
  ])('refuses %s', (target, message) => {
    expect(refusal(m, target)).toBe(message);
  });
  it('refuses with open access', () => {
    expect(refusal(model(INFRA.replace('ai_access_policy: exclusive\n  ai_access_default: pro', 'ai_access_policy: open')), 'perso')).toMatch(/AI access is open/);
  });
});

describe('plannedSteps', () => {
  it('orders lock, revoke, stop, flush, grant, start, record', () => {
    const steps = plannedSteps(model(), 'pro', 'perso', true);
    expect(steps.map((s) => s.split(/[ :]/)[0])).toEqual(['lock', 'revoke', 'stop', 'flush', 'grant', 'start', 'record']);
    expect(steps[2]).toBe('stop GPU services in ai-tools: ollama, speaches');
    expect(plannedSteps(model(), 'pro', 'perso', false)[3]).toBe('no VRAM flush (--no-flush)');
  });
});

describe('nvidia-smi output', () => {
  it('reads memory per GPU from the CSV without header or units', () => {
    expect(parseGpuMemory('ai1', '0, 10240, 24576\n1, 0, 16384\n')).toEqual([
      { instance: 'ai1', gpu: '0', usedMiB: 10240, totalMiB: 24576 },
      { instance: 'ai1', gpu: '1', usedMiB: 0, totalMiB: 16384 },
    ]);
    expect(parseGpuMemory('ai1', 'No devices were found\n')).toEqual([]);
  });
  it('reads the pids of compute processes, and nothing from an empty list', () => {
    expect(parseComputePids('4242, 10237\n77, 12\n')).toEqual([4242, 77]);
    expect(parseComputePids('')).toEqual([]);
    expect(parseComputePids('[Not Supported], 0\n')).toEqual([]);
  });
});

describe('the record and the lock', () => {
  it('writes the state file and appends the documented log line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anklume-switch-'));
    const paths = { stateFile: join(dir, 'opt/ai-access-current'), switchLog: join(dir, 'log/ai-switch.log'), lockFile: join(dir, 'lock') };
    await recordSwitch(paths, { from: 'pro', to: 'perso', flush: true, at: '2026-11-22T05:00:00.000Z' });
    await recordSwitch(paths, { from: null, to: 'pro', flush: false, at: '2026-11-22T06:00:00.000Z' });
    expect(parseHolderFile(readFileSync(paths.stateFile, 'utf8'))).toEqual({ holder: 'pro' });
    // Written atomically: no temporary file is left beside it.
    expect(readdirSync(join(dir, 'opt'))).toEqual(['ai-access-current']);
    expect(readFileSync(paths.switchLog, 'utf8')).toBe('2026-11-22T05:00:00.000Z pro -> perso flush=true\n2026-11-22T06:00:00.000Z none -> pro flush=false\n');
  });

  it('mirrors nobody as an explicit record, never as an empty file, and leaves an identical file alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anklume-mirror-'));
    const file = join(dir, 'ai-access-current');
    await mirrorStateFile(file, null);
    expect(readFileSync(file, 'utf8')).toBe(formatHolderFile(null));
    expect(parseHolderFile(readFileSync(file, 'utf8'))).toEqual({ holder: null });
    await mirrorStateFile(file, 'perso');
    const before = statSync(file).ino;
    await mirrorStateFile(file, 'perso');
    expect(statSync(file).ino).toBe(before);
    expect(parseHolderFile(readFileSync(file, 'utf8'))).toEqual({ holder: 'perso' });
    // Readable by the sanitizer's service, which is neither its owner nor its group.
    expect(statSync(file).mode & 0o777).toBe(0o644);
  });

  it('allows one switch at a time, and takes over a lock left by a dead process', async () => {
    const lock = join(mkdtempSync(join(tmpdir(), 'anklume-lock-')), 'ai-switch.lock');
    const release = await takeLock(lock);
    await expect(takeLock(lock)).rejects.toThrow(`another switch-ai is in progress (pid ${process.pid}`);
    await release();
    writeFileSync(lock, '999999999\n'); // no such process
    const again = await takeLock(lock);
    expect(readFileSync(lock, 'utf8')).toBe(`${process.pid}\n`);
    await again();
  });
});
