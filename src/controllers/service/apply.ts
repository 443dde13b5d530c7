import { mkdir as mkdirHost } from 'node:fs/promises';
import type { IncusClient } from '../../incus/client.js';
import { IncusExecTimeoutError } from '../../incus/errors.js';
import type { Instance, InstancePut } from '../../incus/types.js';
import { AnklumeError } from '../../shared/errors.js';
import { instancePut } from '../domain/apply.js';
import { renderDevice } from '../../reconcile/diff.js';
import { DEPLOY_HASH_KEY, type ServiceDeployment } from './deployment.js';
import { probeHealth } from './health.js';
import { installPinnedSet, type PinnedSet } from './pinned-install.js';

/**
 * How long a restarted service has to answer. Generous: OpenClaw 2026.9.6 on
 * the two-core test host under load (load average 16) took 88 s from its start
 * to listening, 52 s of it before reading its config.
 */
const HEALTH_TIMEOUT_MS = 240_000;
const BOOT_TIMEOUT_MS = 120_000;

export class DeployFailedError extends AnklumeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DEPLOY_FAILED', message, options);
  }
}

/**
 * Bring a service to its deployment: devices, files, (re)start, health, then
 * the hash on the instance. The hash is written last, so a failure anywhere
 * leaves the old hash and the next pass tries again.
 */
export async function applyDeployment(client: IncusClient, d: ServiceDeployment, signal: AbortSignal, progress: (message: string) => void = () => undefined): Promise<void> {
  for (const dir of d.hostDirs) await mkdirHost(dir, { recursive: true, mode: 0o755 });
  if (d.hostInstall !== undefined) await installOnHost(d, d.hostInstall, signal, progress);
  const path = `/1.0/instances/${encodeURIComponent(d.instance)}`;
  const target = { project: d.project, signal };

  await client.updateWithRetry<Instance, InstancePut>(path, (current) => {
    const missing = Object.entries(d.devices).filter(([name, dev]) => renderDevice(current.devices[name] ?? {}) !== renderDevice(dev));
    if (missing.length === 0) return undefined;
    return instancePut(current, { devices: { ...current.devices, ...Object.fromEntries(missing) } });
  }, target);

  await waitForSystemd(client, d, signal);
  if (d.setup !== undefined) await shell(client, d, 'setup', d.setup, signal);
  // Incus writes files, not the folders above them.
  const dirs = [...new Set(d.files.map((f) => f.path.slice(0, f.path.lastIndexOf('/'))))];
  const mkdir = await client.exec(d.project, d.instance, ['mkdir', '-p', ...dirs], { signal });
  if (mkdir.code !== 0) throw new DeployFailedError(`${d.name} on ${d.instance}: mkdir failed: ${mkdir.stderr.trim()}`);
  for (const f of d.files) await client.pushFile(d.project, d.instance, f.path, f.content, { mode: f.mode, signal });
  if (d.afterFiles !== undefined) await shell(client, d, 'file ownership', d.afterFiles, signal);
  const restart = await client.exec(d.project, d.instance, ['sh', '-c', `systemctl daemon-reload && systemctl enable ${d.unit} && systemctl restart ${d.unit}`], { signal });
  if (restart.code !== 0) throw new DeployFailedError(`${d.name} on ${d.instance}: systemctl failed: ${(restart.stderr || restart.stdout).trim()}`);

  progress(`${d.name} on ${d.instance}: started, waiting for its health check`);
  await waitHealthy(d, signal);
  await client.updateWithRetry<Instance, InstancePut>(path, (current) => instancePut(current, { config: { ...current.config, [DEPLOY_HASH_KEY]: d.hash } }), target);
}

async function shell(client: IncusClient, d: ServiceDeployment, what: string, script: string, signal: AbortSignal): Promise<void> {
  const r = await client.exec(d.project, d.instance, ['sh', '-ec', script], { signal });
  if (r.code !== 0) throw new DeployFailedError(`${d.name} on ${d.instance}: ${what} failed: ${(r.stderr || r.stdout).trim()}`);
}

/** Install the pinned set the service mounts, once (pinned-install.ts), naming the service in what it says and in its error. */
export async function installOnHost(d: ServiceDeployment, install: PinnedSet, signal: AbortSignal, progress: (message: string) => void): Promise<void> {
  try {
    await installPinnedSet(install, { signal, progress: (m) => progress(`${d.name}: host install: ${m}`) });
  } catch (err) {
    throw new DeployFailedError(`${d.name}: host install failed: ${(err as Error).message}`, { cause: err });
  }
}

/** An instance created a moment ago is still booting: its systemd must answer before units can be started. */
async function waitForSystemd(client: IncusClient, d: ServiceDeployment, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    signal.throwIfAborted();
    // Bounded by what is left of the boot wait, not the client's default exec timeout.
    const r = await client.exec(d.project, d.instance, ['systemctl', 'is-system-running', '--wait'], { signal, timeoutSeconds: Math.max(1, Math.ceil((deadline - Date.now()) / 1000)) }).catch((err: unknown) => {
      if (err instanceof IncusExecTimeoutError) return { code: 1, stdout: 'still booting', stderr: '' };
      throw err;
    });
    last = (r.stdout || r.stderr).trim();
    // `degraded` is a booted system with a failed unit somewhere: units can be started.
    if (last === 'running' || last === 'degraded') return;
    await new Promise((r2) => setTimeout(r2, 500));
  }
  throw new DeployFailedError(`${d.name} on ${d.instance}: systemd did not finish booting within ${BOOT_TIMEOUT_MS / 1000}s (${last})`);
}

async function waitHealthy(d: ServiceDeployment, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    const problem = await probeHealth(d, signal);
    if (problem === null) return;
    last = problem;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new DeployFailedError(`${d.name} on ${d.instance} did not become healthy at ${d.healthUrl} within ${HEALTH_TIMEOUT_MS / 1000}s (last: ${last}); see journalctl -u ${d.unit} in the instance`);
}
