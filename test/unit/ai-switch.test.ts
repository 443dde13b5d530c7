import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { formatHolderFile, parseHolderFile } from '../../src/shared/ai-access-file.js';
import { FAILED_KEY, FLUSH_KEY, HOLDER_KEY, NOBODY, PHASE_KEY, SINCE_KEY, STOPPED_KEY, SWITCHING_KEY, WANTED_KEY, holderFromConfig, recordFromConfig } from '../../src/controllers/ai-access/holder.js';
import { appendSwitchLog, lastSwitches, mirrorStateFile, plannedSteps, refusal } from '../../src/controllers/ai-access/switch.js';
import { flushRefusal, flushVerdict, gpuMachines, idleMiB, parseDeviceHolders, parseGpuMemory } from '../../src/controllers/ai-access/gpu.js';
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

describe('recordFromConfig', () => {
  const m = model();
  it('reads the wanted holder, the phase of a switch in flight and what it stopped', () => {
    const r = recordFromConfig(m, { [HOLDER_KEY]: NOBODY, [WANTED_KEY]: 'perso', [FLUSH_KEY]: 'false', [PHASE_KEY]: 'flushing', [STOPPED_KEY]: '[{"instance":"ai1","service":"ollama"}]', [SWITCHING_KEY]: 'pro -> perso' });
    expect(r).toMatchObject({ wanted: 'perso', flush: false, phase: 'flushing', stopped: [{ instance: 'ai1', service: 'ollama' }], switching: 'pro -> perso', failed: null });
    expect(r.holder.holder).toBeNull();
  });
  it('has nothing wanted and no phase before any switch; "-" wanted is nobody', () => {
    expect(recordFromConfig(m, undefined)).toMatchObject({ wanted: undefined, phase: null, stopped: [], flush: true });
    expect(recordFromConfig(m, { [WANTED_KEY]: NOBODY, [FAILED_KEY]: 'GPU memory is not back to idle' })).toMatchObject({ wanted: null, failed: 'GPU memory is not back to idle' });
  });
  it('reads a phase or a list it does not know as none, never as a crash', () => {
    expect(recordFromConfig(m, { [PHASE_KEY]: 'dancing', [STOPPED_KEY]: '{not json' })).toMatchObject({ phase: null, stopped: [] });
    expect(recordFromConfig(m, { [STOPPED_KEY]: '[{"instance":1},{"instance":"a","service":"b"}]' }).stopped).toEqual([{ instance: 'a', service: 'b' }]);
  });
});

describe('plannedSteps', () => {
  it('orders record, revoke, stop, flush, grant, start, record', () => {
    const steps = plannedSteps(model(), 'pro', 'perso', true);
    expect(steps.map((s) => s.split(/[ :]/)[0])).toEqual(['record', 'revoke', 'stop', 'flush', 'grant', 'start', 'record']);
    expect(steps[2]).toBe('stop GPU services in ai-tools: ollama, speaches');
    expect(steps[3]).toBe('flush VRAM: no ai-tools machine declares gpu: true, nothing to flush');
    expect(plannedSteps(model(), 'pro', 'perso', false)[3]).toBe('no VRAM flush (--no-flush)');
  });
});

/** Recorded shapes of `nvidia-smi --query-gpu=index,memory.used,memory.total --format=csv,noheader,nounits`. */
const NVIDIA_SMI = {
  loaded: '0, 10240, 24576\n',
  idle: '0, 3, 24576\n',
  twoBoards: '0, 1, 81920\n1, 18000, 81920\n',
  noDevice: 'No devices were found\n',
  driverMismatch: 'Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 550.54\n',
};

describe('the flush decisions', () => {
  it('reads memory per GPU from the CSV without header or units, and nothing from an error', () => {
    expect(parseGpuMemory('ai1', NVIDIA_SMI.twoBoards)).toEqual([
      { instance: 'ai1', gpu: '0', usedMiB: 1, totalMiB: 81920 },
      { instance: 'ai1', gpu: '1', usedMiB: 18000, totalMiB: 81920 },
    ]);
    expect(parseGpuMemory('ai1', NVIDIA_SMI.noDevice)).toEqual([]);
    expect(parseGpuMemory('ai1', NVIDIA_SMI.driverMismatch)).toEqual([]);
  });

  it('finds the processes that hold /dev/nvidia* in the instance, never its init', () => {
    expect(parseDeviceHolders('1\n4242\n77\n\n')).toEqual([4242, 77]);
    expect(parseDeviceHolders('')).toEqual([]);
    expect(parseDeviceHolders('ls: cannot access\n')).toEqual([]);
  });

  it('passes when every GPU is back to idle, fails on one still holding a model, or one that could not be read', () => {
    expect(flushVerdict(['ai1'], parseGpuMemory('ai1', NVIDIA_SMI.idle))).toBeNull();
    expect(flushVerdict(['ai1'], parseGpuMemory('ai1', NVIDIA_SMI.loaded))).toBe('GPU memory is not back to idle after the flush: ai1 GPU 0 10240/24576 MiB in use (idle is at most 737)');
    expect(flushVerdict(['ai1'], parseGpuMemory('ai1', NVIDIA_SMI.twoBoards))).toContain('ai1 GPU 1 18000/81920 MiB');
    expect(flushVerdict(['ai1', 'ai2'], parseGpuMemory('ai1', NVIDIA_SMI.idle))).toBe('GPU memory could not be read after the flush in ai2');
    expect(flushVerdict(['ai1'], parseGpuMemory('ai1', NVIDIA_SMI.driverMismatch))).toBe('GPU memory could not be read after the flush in ai1');
  });

  it('counts a few hundred MiB as idle on any board, and 3 % on a large one', () => {
    expect([idleMiB(8192), idleMiB(24576), idleMiB(81920)]).toEqual([512, 737, 2458]);
  });

  it('refuses to flush a GPU it cannot read, and names --no-flush', () => {
    expect(flushRefusal([])).toBeNull();
    expect(flushRefusal(['ai1'])).toMatch(/no nvidia-smi in ai1 .*--no-flush/);
  });

  it('flushes only the ai-tools machines that declare a GPU', () => {
    const text = INFRA.replace('ai-tools: { trust_level: semi-trusted }', 'ai-tools:\n    machines:\n      ai1: { gpu: true }\n      ai2: {}');
    expect(gpuMachines(model(text)).map((m) => m.name)).toEqual(['ai1']);
    expect(gpuMachines(model())).toEqual([]);
  });
});

describe('the state file and the switch log', () => {
  it('mirrors nobody as an explicit record, never as an empty file, and leaves an identical file alone', async () => {
    const state = join(mkdtempSync(join(tmpdir(), 'anklume-switch-')), 'opt/ai-access-current');
    await mirrorStateFile(state, null);
    expect(readFileSync(state, 'utf8')).toBe(formatHolderFile(null));
    expect(parseHolderFile(readFileSync(state, 'utf8'))).toEqual({ holder: null });
    const before = statSync(state).mtimeMs;
    await mirrorStateFile(state, null);
    expect(statSync(state).mtimeMs).toBe(before);
  });

  it("leaves the state file world-readable under the unit's UMask=0027: the sanitizer reads it as nobody", async () => {
    const state = join(mkdtempSync(join(tmpdir(), 'anklume-switch-')), 'opt/ai-access-current');
    const previous = process.umask(0o027);
    try {
      await mirrorStateFile(state, 'perso');
      expect(statSync(state).mode & 0o777).toBe(0o644);
      await mirrorStateFile(state, 'pro');
      expect(parseHolderFile(readFileSync(state, 'utf8'))).toEqual({ holder: 'pro' });
      expect(statSync(state).mode & 0o777).toBe(0o644);
    } finally {
      process.umask(previous);
    }
  });

  it('writes the state file, and one line per switch even when a resumed switch logs again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anklume-switch-'));
    const state = join(dir, 'opt/ai-access-current');
    const log = join(dir, 'log/ai-switch.log');
    await mirrorStateFile(state, 'pro');
    expect(parseHolderFile(readFileSync(state, 'utf8'))).toEqual({ holder: 'pro' });
    await appendSwitchLog(log, { id: '2026-11-22T05:00:00.000Z', from: 'pro', to: 'perso', flush: true, failure: null });
    await appendSwitchLog(log, { id: '2026-11-22T05:00:00.000Z', from: 'pro', to: 'perso', flush: true, failure: null });
    await appendSwitchLog(log, { id: '2026-11-22T06:00:00.000Z', from: null, to: null, flush: true, failure: 'GPU memory is not back\nto idle' });
    expect(readFileSync(log, 'utf8')).toBe('2026-11-22T05:00:00.000Z pro -> perso flush=true\n2026-11-22T06:00:00.000Z none -> none flush=true failed: GPU memory is not back to idle\n');
    expect(await lastSwitches(log, 1)).toEqual(['2026-11-22T06:00:00.000Z none -> none flush=true failed: GPU memory is not back to idle']);
    expect(await lastSwitches(join(dir, 'missing.log'))).toEqual([]);
  });
});
