import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Inventory } from './inventory.js';

/**
 * Where inspection runs are kept on the host: `<state>/inspect/<domain>/<run>/`,
 * root-only (0700 folders, 0600 files: raw captures and scans describe the
 * domain in detail). A run's folder holds the raw outputs of level 1, the
 * inventory, the report and the topology. The first run of a domain is its
 * baseline until `--since` names another; retention never removes it.
 */
export function inspectDir(stateDir: string, domain: string): string {
  return join(stateDir, 'inspect', domain);
}

/** A run id that sorts by time: 20261205T044646Z. */
export function runId(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export async function writeRun(dir: string, id: string, files: Readonly<Record<string, string>>): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const runDir = join(dir, id);
  await mkdir(runDir, { mode: 0o700 });
  for (const [name, content] of Object.entries(files)) await writeFile(join(runDir, name), content, { mode: 0o600 });
  return runDir;
}

/** Run ids of a domain, oldest first. */
export async function listRuns(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && /^\d{8}T\d{6}Z$/.test(e.name)).map((e) => e.name).sort();
}

/** The baseline's run id: the one `--since` named, else the recorded one, else the first run. */
export async function baselineId(dir: string, since: string | undefined): Promise<string | null> {
  const runs = await listRuns(dir);
  if (since !== undefined) {
    if (!runs.includes(since)) throw new Error(`no run "${since}" for this domain (runs: ${runs.slice(-5).join(', ') || 'none'})`);
    return since;
  }
  const recorded = (await readFile(join(dir, 'baseline'), 'utf8').catch(() => '')).trim();
  if (recorded !== '' && runs.includes(recorded)) return recorded;
  return runs[0] ?? null;
}

export async function recordBaseline(dir: string, id: string): Promise<void> {
  await writeFile(join(dir, 'baseline'), `${id}\n`, { mode: 0o600 });
}

export async function readInventory(dir: string, id: string): Promise<Inventory> {
  return JSON.parse(await readFile(join(dir, id, 'inventory.json'), 'utf8')) as Inventory;
}

/** Keep the newest `keep` runs and the baseline; remove the rest. Returns what was removed. */
export async function applyRetention(dir: string, keep: number, baseline: string | null): Promise<string[]> {
  const runs = await listRuns(dir);
  const drop = runs.slice(0, Math.max(0, runs.length - keep)).filter((r) => r !== baseline);
  for (const r of drop) await rm(join(dir, r), { recursive: true, force: true });
  return drop;
}
