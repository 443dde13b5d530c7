import type { DesiredDomain, DesiredInfra } from '../../schemas/model.js';
import { OPENCLAW_PATHS, OPENCLAW_UNIT, OPENCLAW_USER } from './openclaw-paths.js';
import { openclawInstall, openclawInstallDevice, renderOpenClawFiles, type OpenClawSecretValues, type SkillFile } from './openclaw-files.js';
import { HOST_DIRS } from '../../config/paths.js';
import type { PinnedSet } from './pinned-install.js';
import { deploymentHash, type ServiceDeployment } from './deployment.js';
import { cronHash, desiredCronJobs } from './openclaw-cron.js';

/**
 * A domain's OpenClaw assistant (pure): its config, secrets env, unit and
 * install policy from the generator, the pinned OpenClaw (with its Node 24)
 * mounted read-only from the host's cache, the service user created first,
 * and files owned by that user's group fixed after the push.
 */
export function openclawDeployment(model: DesiredInfra, domain: DesiredDomain, secrets: OpenClawSecretValues, skills: readonly SkillFile[] = []): ServiceDeployment | null {
  const openclaw = domain.openclaw;
  if (openclaw === null || !domain.enabled) return null;
  const machine = domain.machines.find((m) => m.name === openclaw.machine);
  if (machine === undefined) return null;
  const rendered = renderOpenClawFiles(model, domain, { secretValues: secrets, skills });
  const files = rendered.files.map((f) => ({ path: f.path, content: f.content, mode: f.mode }));
  const chowns = rendered.files.filter((f) => f.owner !== 'root' || f.group !== 'root').map((f) => `chown ${f.owner}:${f.group} '${f.path}'`);
  let install: PinnedSet | undefined;
  let problem: string | undefined;
  try {
    install = openclawInstall(rendered.version);
  } catch (err) {
    problem = (err as Error).message;
  }
  const devices = { 'anklume-openclaw': openclawInstallDevice(install ?? { dir: `${HOST_DIRS.openclawCache}/openclaw-${rendered.version}-no-lockfile` }) };
  const setup = [
    `id -u ${OPENCLAW_USER} >/dev/null 2>&1 || useradd --system --home-dir ${OPENCLAW_PATHS.stateDir} --create-home --shell /usr/sbin/nologin ${OPENCLAW_USER}`,
    `install -d -o ${OPENCLAW_USER} -g ${OPENCLAW_USER} -m 0750 ${OPENCLAW_PATHS.stateDir} ${OPENCLAW_PATHS.workspace}`,
    `install -d -o root -g ${OPENCLAW_USER} -m 0750 ${OPENCLAW_PATHS.secretsDir}`,
  ].join('\n');
  const jobs = desiredCronJobs(domain);
  return {
    project: domain.project,
    instance: machine.name,
    domain: domain.name,
    name: 'openclaw',
    files,
    devices,
    hostDirs: [],
    unit: OPENCLAW_UNIT,
    healthUrl: `http://${machine.ip}:${openclaw.port}/healthz`,
    // The generator's hash covers owners and the version; the devices are added here.
    hash: deploymentHash({ files: [...files, { path: '#generator', content: rendered.hash, mode: 0 }], devices, unit: OPENCLAW_UNIT }),
    setup,
    ...(chowns.length === 0 ? {} : { afterFiles: chowns.join('\n') }),
    ...(install === undefined ? {} : { hostInstall: install }),
    ...(problem === undefined ? {} : { problem }),
    // Always, even with no job: a list that became empty must still remove what anklume made.
    cron: { jobs, hash: cronHash(jobs), port: openclaw.port },
  };
}
