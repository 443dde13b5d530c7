import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { parseHolderFile } from '../../src/shared/ai-access-file.js';
import { PHASE_KEY, type Phase } from '../../src/controllers/ai-access/holder.js';
import { convergeAccess, requestSwitch, type ConvergeDeps } from '../../src/controllers/ai-access/switch.js';
import { IncusClient } from '../../src/incus/client.js';
import type { DesiredInfra } from '../../src/schemas/model.js';
import { startMemoryIncus, type MemoryIncus } from '../helpers/memory-incus.js';

// A switch killed at each of its phases, then run again (what anklumed does after
// a restart): it finishes, the GPU services run, one domain holds access, one log line.
const INFRA = `
project_name: t
global:
  ai_access_policy: exclusive
  ai_access_default: pro
  ai_gpu_services: [ollama, speaches]
domains:
  pro: { trust_level: trusted }
  perso: { trust_level: trusted }
  ai-tools:
    machines:
      ai1: { gpu: true, roles: [ollama_server] }
`;

function model(text = INFRA): DesiredInfra {
  const r = validateInfraText(text, { file: 'infra.yml', hostNetworks: [] });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.model;
}

let incus: MemoryIncus;
let client: IncusClient;
let dir: string;
/** The GPU services of ai1 and what the fake GPU holds. */
let running: Set<string>;
let vramUsed: number;
/** The holder the firewall was given at each sync. */
let firewallHolders: (string | null)[];

beforeEach(async () => {
  incus = await startMemoryIncus();
  incus.projects.set('ai-tools', { name: 'ai-tools', description: '', config: {} });
  incus.instances.set('ai-tools/ai1', { name: 'ai1', description: '', config: {}, devices: {}, status: 'Running', project: 'ai-tools' });
  client = new IncusClient({ socketPath: incus.socketPath });
  dir = mkdtempSync(join(tmpdir(), 'anklume-resume-'));
  running = new Set(['ollama', 'speaches']);
  vramUsed = 10240;
  firewallHolders = [];
  incus.onExec((_instance, command) => answer(command));
});

afterEach(async () => {
  client.close();
  await incus.close();
});

/** systemctl and nvidia-smi as the instance would answer. */
function answer(command: readonly string[]): { code: number; stdout?: string } {
  const line = command.join(' ');
  const unit = /(\S+)\.service$/.exec(line)?.[1] ?? '';
  if (line.startsWith('systemctl is-active')) return { code: running.has(unit) ? 0 : 3 };
  if (line.startsWith('systemctl stop')) {
    running.delete(unit);
    if (unit === 'ollama') vramUsed = 600; // its models leave with it; the driver keeps a little
    return { code: 0 };
  }
  if (line.startsWith('systemctl start')) {
    running.add(unit);
    return { code: 0 };
  }
  if (line.includes('command -v nvidia-smi')) return { code: 0, stdout: '/usr/bin/nvidia-smi\n' };
  if (line.includes('--query-gpu')) return { code: 0, stdout: `0, ${vramUsed}, 24576\n` };
  if (line.includes('--gpu-reset')) return { code: 3, stdout: 'Resetting GPU 00000000:01:00.0 is not supported.\n' };
  return { code: 0, stdout: '' };
}

function deps(m: DesiredInfra, signal?: AbortSignal, onSync?: () => void): ConvergeDeps {
  return {
    client,
    model: m,
    paths: { stateFile: join(dir, 'ai-access-current'), switchLog: join(dir, 'ai-switch.log') },
    syncFirewall: async () => {
      const config = incus.projects.get('ai-tools')?.config ?? {};
      firewallHolders.push(config['user.anklume.ai-access-holder'] ?? null);
      onSync?.();
      return Promise.resolve();
    },
    progress: () => undefined,
    ...(signal === undefined ? {} : { signal }),
  };
}

const phaseNow = (): string | undefined => incus.projects.get('ai-tools')?.config[PHASE_KEY];

describe('a switch killed midway resumes where it stopped', () => {
  it.each<Phase>(['revoking', 'stopping', 'flushing', 'granting', 'starting'])('killed in phase %s: the next run finishes it', async (phase) => {
    const m = model();
    await requestSwitch({ client, model: m }, { target: 'perso', flush: true, dryRun: false });
    // The "kill": the run's signal is aborted once the record shows the phase, at its first action.
    const kill = new AbortController();
    incus.onExec((_instance, command) => {
      if (phaseNow() === phase) kill.abort(new Error('killed'));
      return answer(command);
    });
    await expect(convergeAccess(deps(m, kill.signal, () => {
      if (phaseNow() === phase) kill.abort(new Error('killed'));
    }))).rejects.toThrow();
    expect(phaseNow()).toBe(phase);

    // A new process (anklumed after its restart) takes over.
    incus.onExec((_instance, command) => answer(command));
    const result = await convergeAccess(deps(m));
    expect(result).toMatchObject({ holder: 'perso', failure: null });
    expect(phaseNow()).toBeUndefined();
    expect([...running].sort()).toEqual(['ollama', 'speaches']);
    expect(firewallHolders.at(-1)).toBe('perso');
    // Never two holders: every firewall sync saw pro before, then nobody, then perso.
    expect(firewallHolders.every((h) => h === '-' || h === 'perso')).toBe(true);
    const log = readFileSync(join(dir, 'ai-switch.log'), 'utf8').trim().split('\n');
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(/Z pro -> perso flush=true$/);
    expect(parseHolderFile(readFileSync(join(dir, 'ai-access-current'), 'utf8'))).toEqual({ holder: 'perso' });
  });
});

describe('the flush on a real host', () => {
  it('with no machine declaring a GPU: nothing to flush, and the switch succeeds', async () => {
    const m = model(INFRA.replace('ai1: { gpu: true, roles: [ollama_server] }', 'ai1: { roles: [ollama_server] }'));
    await requestSwitch({ client, model: m }, { target: 'perso', flush: true, dryRun: false });
    const lines: string[] = [];
    const result = await convergeAccess({ ...deps(m), progress: (l) => lines.push(l) });
    expect(result).toMatchObject({ holder: 'perso', failure: null });
    expect(lines).toContain('  no ai-tools machine declares gpu: true: nothing to flush');
  });

  it('a GPU whose memory does not come back: the switch fails, nobody holds access, the services run again', async () => {
    const m = model();
    incus.onExec((_instance, command) => {
      const r = answer(command);
      if (command.join(' ').startsWith('systemctl stop')) vramUsed = 18000; // something the flush cannot free
      return r;
    });
    await requestSwitch({ client, model: m }, { target: 'perso', flush: true, dryRun: false });
    const result = await convergeAccess(deps(m));
    expect(result.holder).toBeNull();
    expect(result.failure).toContain('GPU memory is not back to idle after the flush: ai1 GPU 0 18000/24576 MiB');
    expect([...running].sort()).toEqual(['ollama', 'speaches']);
    expect(firewallHolders).toEqual(['-']);
    expect(readFileSync(join(dir, 'ai-switch.log'), 'utf8')).toMatch(/ pro -> none flush=true failed: GPU memory is not back to idle/);
    // Not retried in a loop: nothing is wanted until the next switch-ai.
    expect(await convergeAccess(deps(m))).toMatchObject({ switched: null, holder: null });
  });

  it('a GPU without nvidia-smi: refused before anything changes, unless --no-flush', async () => {
    const m = model();
    incus.onExec((_instance, command) => (command.join(' ').includes('command -v nvidia-smi') ? { code: 1 } : answer(command)));
    await expect(requestSwitch({ client, model: m }, { target: 'perso', flush: true, dryRun: false })).rejects.toThrow(/no nvidia-smi in ai1/);
    // Only the questions asked in the instance; nothing written to Incus.
    expect(incus.writes().filter((w) => !w.includes('/exec'))).toEqual([]);
    await requestSwitch({ client, model: m }, { target: 'perso', flush: false, dryRun: false });
    expect(await convergeAccess(deps(m))).toMatchObject({ holder: 'perso', failure: null });
  });
});
