import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_CONCURRENCY, type IncusEndpointFlags } from '../config/incus-endpoint.js';
import { validateInfraText } from '../config/validate.js';
import { resolveControlSocket, resolveStateDir } from '../config/paths.js';
import { outcomeEvent, startEvent } from '../controllers/apply-protocol.js';
import type { StatusDocument } from '../controllers/status.js';
import { reconcileOnce } from '../controllers/whole-pass.js';
import { TABLE_FAMILY, TABLE_NAME } from '../firewall/ruleset.js';
import type { IncusClient } from '../incus/index.js';
import { eth0Ipv4, isNotFound } from '../incus/index.js';
import { MARK, ownership } from '../reconcile/ownership.js';
import { AnklumeError, UsageError, describeError } from '../shared/errors.js';
import { positiveNumberFlag } from '../shared/number-flags.js';
import { applyPrinter, runApply } from './apply.js';
import { DaemonClient, DaemonNotRunningError } from './daemon-client.js';
import { DEMO_INFRA_NAME, DEMO_LOCAL_IMAGE, DEMO_REMOTE_IMAGE, demoInfraText } from './demo-infra.js';
import { connectIncus, firewallTarget, loadModelOrFail } from './incus.js';
import { renderVerify } from './render-verify.js';
import { VERIFY_DEFAULTS } from '../verify/defaults.js';
import { fullyVerified } from '../verify/report.js';
import { runVerify } from '../verify/run.js';
import type { VerifyReport } from '../shared/verify-report.js';
import { EXIT, paint, progress, type CliIo } from './io.js';
import { computeOfflineStatus, runStatus, statusExitCode } from './status.js';
import { holdWriterLock, type WriterLockFlags } from './writer-lock.js';

export interface DemoCommandOptions extends IncusEndpointFlags, WriterLockFlags {
  readonly socket?: string;
  readonly nft?: string;
  readonly image?: string;
  readonly json?: boolean;
  /** Seconds `up` waits for every domain to be Ready (a string: it comes from the command line). */
  readonly timeout?: string;
}

/** The demo's own files: its infra.yml and a state directory, so it never writes the host's real anklume files. */
export function demoPaths(env: CliIo['env']): { dir: string; infra: string; state: string } {
  const dir = join(resolveStateDir(env), 'demo');
  return { dir, infra: join(dir, 'infra.yml'), state: join(dir, 'state') };
}

/**
 * What the demo's commands run with: its infra.yml, and the state directory,
 * AI access holder file and switch log under the demo's folder, so that
 * `demo down` removes them all by removing that folder.
 */
function demoIo(io: CliIo, json: boolean): CliIo {
  const paths = demoPaths(io.env);
  const env = {
    ...io.env,
    ANKLUME_CONFIG: paths.infra,
    ANKLUME_STATE_DIR: paths.state,
    ANKLUME_AI_STATE_FILE: join(paths.state, 'ai-access-current'),
    ANKLUME_AI_SWITCH_LOG: join(paths.state, 'ai-switch.log'),
  };
  // With --json, the progress of the steps goes nowhere: stdout carries one document.
  return json ? { ...io, env, stdout: () => undefined } : { ...io, env };
}

const DEFAULT_READY_TIMEOUT_S = 180;

/**
 * `anklumectl demo up`: check the host, write the demo's infra.yml, converge
 * it (a line per action), wait until every domain is Ready and every instance
 * holds its address, prove the isolation with `verify`, and print the
 * status. Refuses, changing nothing, on a host another anklume infra manages:
 * the demo's firewall would replace that infra's.
 */
export async function runDemoUp(options: DemoCommandOptions, io: CliIo): Promise<number> {
  const json = options.json === true;
  const timeoutS = positiveNumberFlag('--timeout', options.timeout, DEFAULT_READY_TIMEOUT_S, 'seconds');
  const paths = demoPaths(io.env);
  const dio = demoIo(io, json);
  const step = progress(dio);

  step('checking the host');
  await refuseIfDaemonRunsAnotherInfra(options, io, paths.infra);
  const client = await reachIncus(options, io);
  try {
    const others = await otherInfraObjects(client);
    if (others.length > 0) {
      throw new AnklumeError('DEMO_REFUSED', `this host is managed by another anklume infra (${others.slice(0, 3).join('; ')}${others.length > 3 ? `; and ${others.length - 3} more` : ''}): the demo would replace its firewall; run the demo on a host anklume does not manage yet. Nothing was changed`);
    }
    const image = options.image ?? (await hasLocalAlias(client, DEMO_LOCAL_IMAGE) ? DEMO_LOCAL_IMAGE : DEMO_REMOTE_IMAGE);
    step(`image ${image}${options.image === undefined && image === DEMO_REMOTE_IMAGE ? ` (no local alias ${DEMO_LOCAL_IMAGE}: it is downloaded from the public image server)` : ''}`);
    const text = demoInfraText(image);
    const checked = validateInfraText(text, { file: paths.infra });
    if (!checked.ok) throw new UsageError(`--image "${image}" makes the demo's infra invalid: ${checked.issues.map((i) => i.message).join('; ')}`);
    await mkdir(paths.state, { recursive: true, mode: 0o755 });
    await writeFile(paths.infra, text, { mode: 0o644 });
    step(`wrote ${paths.infra}`);
  } finally {
    client.close();
  }

  step('converging');
  const applied = await runApply({ ...options, config: paths.infra }, dio);
  if (applied !== EXIT.ok) {
    io.stderr(`${paint(io, 'red', 'error:')} the demo did not converge (see above); anklumectl demo down removes what was made\n`);
    return EXIT.failure;
  }

  step('waiting for every domain to be Ready');
  const ready = await waitReady(options, dio, paths.infra, timeoutS, step);

  step('waiting for every instance to hold its address');
  await waitAddresses(options, dio, paths.infra, timeoutS);
  step('verifying isolation with real packets (anklumectl verify)');
  const verify = await verifyDemo(options, dio, paths.infra, step);
  const isolated = fullyVerified(verify);
  if (json) {
    io.stdout(`${JSON.stringify({ infra: paths.infra, verify, status: ready }, null, 2)}\n`);
    return isolated ? statusExitCode(ready) : EXIT.failure;
  }
  io.stdout(`\n${renderVerify(verify, dio)}\n`);
  step('status');
  const status = await runStatus({ ...options, config: paths.infra }, dio);
  io.stdout(
    [
      '',
      `The demo runs from ${paths.infra}.`,
      '  anklumectl demo status     its status again',
      `  anklumectl verify -f ${paths.infra}`,
      '                             prove its isolation again',
      // The daemon keeps its files in the demo's folder too, so that demo down removes them.
      `  ANKLUME_STATE_DIR=${paths.state} anklumed --config ${paths.infra} --ai-state-file ${join(paths.state, 'ai-access-current')} --ai-switch-log ${join(paths.state, 'ai-switch.log')} --web 127.0.0.1:9465 --verify-every 10m`,
      '                             watch it live at http://127.0.0.1:9465/ (Ctrl-C stops)',
      '  anklumectl demo down       remove everything the demo made',
      '',
    ].join('\n'),
  );
  if (!isolated) io.stderr(`${paint(io, 'red', 'error:')} verify found cells that differ from what the demo declares (above)\n`);
  return isolated ? status : EXIT.failure;
}

/**
 * `anklumectl demo down`: remove exactly what `demo up` made — the demo's
 * instances, profiles, projects and bridges (only objects marked as the
 * demo's own), its firewall table, and its folder — then list Incus to check.
 */
export async function runDemoDown(options: DemoCommandOptions, io: CliIo): Promise<number> {
  const json = options.json === true;
  const paths = demoPaths(io.env);
  const dio = demoIo(io, json);
  const step = progress(dio);

  await refuseIfDaemonRunsAnotherInfra(options, io, paths.infra, 'stop anklumed first: it would converge the demo again');
  const lock = await holdWriterLock(options, io, 'anklumectl demo down');
  try {
    const client = await reachIncus(options, io);
    try {
      step('removing the demo\'s instances, profiles, projects and bridges');
      const printer = applyPrinter(dio);
      const empty = validateInfraText(`project_name: ${DEMO_INFRA_NAME}\ndomains: {}\n`, { file: 'demo-down' });
      if (!empty.ok) throw new Error('internal: the empty demo infra is invalid');
      // A pass plans from what it observed: a bridge still used by an instance
      // being deleted can be left for the next pass. A few passes, while each removes something.
      let removed = 0;
      let remaining = await demoObjects(client);
      for (let pass = 0; pass < 3 && remaining.length > 0; pass++) {
        const { outcomes } = await reconcileOnce(client, empty.model, {
          prune: true,
          force: true,
          concurrency: DEFAULT_CONCURRENCY,
          onStart: (a) => printer.event(startEvent(a)),
          onOutcome: (o) => printer.event(outcomeEvent(o)),
        });
        const done = outcomes.filter((o) => o.status === 'done').length;
        removed += done;
        remaining = await demoObjects(client);
        if (done === 0) break;
      }

      const others = await otherInfraObjects(client);
      let firewall: 'removed' | 'absent' | 'kept' = 'kept';
      if (others.length === 0 && remaining.length === 0) {
        firewall = await removeFirewallTable(options, dio);
        step(`firewall table ${TABLE_FAMILY} ${TABLE_NAME}: ${firewall}`);
      }
      if (remaining.length === 0) await rm(paths.dir, { recursive: true, force: true });
      const result = { removed, remaining, firewall, folder: remaining.length === 0 ? 'removed' : 'kept' };
      if (json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
      if (remaining.length > 0) {
        io.stderr(`${paint(io, 'red', 'error:')} ${remaining.length} object${remaining.length === 1 ? '' : 's'} of the demo remain: ${remaining.join(', ')}; run demo down again, or remove them by hand\n`);
        return EXIT.failure;
      }
      if (!json) io.stdout(`${paint(io, 'green', `The demo is gone: ${removed} object${removed === 1 ? '' : 's'} removed, no object of ${DEMO_INFRA_NAME} left in Incus, firewall ${firewall}.`)}\n`);
      return EXIT.ok;
    } finally {
      client.close();
    }
  } finally {
    await lock.release();
  }
}

/** `anklumectl demo status`: `status` on the demo's infra.yml. */
export async function runDemoStatus(options: DemoCommandOptions, io: CliIo): Promise<number> {
  const paths = demoPaths(io.env);
  if (!(await exists(paths.infra))) {
    io.stderr(`${paint(io, 'red', 'error:')} no demo on this host (${paths.infra} does not exist); anklumectl demo up starts one\n`);
    return EXIT.failure;
  }
  return runStatus({ ...options, config: paths.infra }, demoIo(io, false));
}

/** `verify` on the demo, its progress as the demo's steps. */
async function verifyDemo(options: DemoCommandOptions, io: CliIo, file: string, step: (line: string) => void): Promise<VerifyReport> {
  const { model } = await loadModelOrFail(file, io);
  const client = await connectIncus(options, io);
  try {
    return await runVerify(client, model, { ...VERIFY_DEFAULTS, host: 'nft' in firewallTarget(options, io), onStep: step });
  } finally {
    client.close();
  }
}

/** Incus must answer before anything is written; if it does not, say what to run rather than install anything. */
async function reachIncus(options: DemoCommandOptions, io: CliIo): Promise<IncusClient> {
  const client = await connectIncus(options, io);
  try {
    await client.serverInfo();
    return client;
  } catch (err) {
    client.close();
    throw new AnklumeError('INCUS_UNREACHABLE', `Incus does not answer at ${client.endpoint}: ${describeError(err)}. On Debian, as root, run \`bash scripts/incus-setup.sh\` from anklume's folder (it installs Incus, starts it, creates a storage pool and a local Debian 13 image), then run this again. Nothing was changed`);
  }
}

/** A daemon converging another infra.yml would fight the demo (and owns the host's firewall). */
async function refuseIfDaemonRunsAnotherInfra(options: DemoCommandOptions, io: CliIo, demoInfra: string, whenItRunsTheDemo?: string): Promise<void> {
  let status: StatusDocument;
  try {
    status = await new DaemonClient({ socketPath: resolveControlSocket({ flag: options.socket, env: io.env }), timeoutMs: 10_000 }).getStatus();
  } catch (err) {
    if (err instanceof DaemonNotRunningError) return;
    throw err;
  }
  if (status.config.file !== demoInfra) {
    throw new AnklumeError('DEMO_REFUSED', `anklumed runs on this host for ${status.config.file}: the demo would replace that infra's firewall; run the demo on a host anklume does not manage yet. Nothing was changed`);
  }
  if (whenItRunsTheDemo !== undefined) throw new AnklumeError('DEMO_REFUSED', `anklumed runs on the demo (pid ${status.daemon.pid ?? '?'}): ${whenItRunsTheDemo}. Nothing was changed`);
}

/** Projects and bridges another anklume infra owns. */
async function otherInfraObjects(client: IncusClient): Promise<string[]> {
  const [projects, networks] = await Promise.all([client.listProjects(), client.listNetworks({ project: 'default' })]);
  return [
    ...projects.filter((p) => ownership(p.config, DEMO_INFRA_NAME) === 'other-infra').map((p) => `project ${p.name} of "${p.config[MARK.infra]}"`),
    ...networks.filter((n) => ownership(n.config, DEMO_INFRA_NAME) === 'other-infra').map((n) => `network ${n.name} of "${n.config[MARK.infra]}"`),
  ];
}

/** Every object Incus still holds that is marked as the demo's (listed after `down` to prove it is gone). */
async function demoObjects(client: IncusClient): Promise<string[]> {
  const ours = (config: Readonly<Record<string, string>> | undefined): boolean => ownership(config, DEMO_INFRA_NAME) === 'ours';
  const [projects, networks, instances] = await Promise.all([client.listProjects(), client.listNetworks({ project: 'default' }), client.listInstances()]);
  const profiles = (await Promise.all(projects.map((p) => client.listProfiles({ project: p.name })))).flat();
  return [
    ...instances.filter((i) => ours(i.config)).map((i) => `instance ${i.name}`),
    ...profiles.filter((p) => ours(p.config)).map((p) => `profile ${p.name}`),
    ...projects.filter((p) => ours(p.config)).map((p) => `project ${p.name}`),
    ...networks.filter((n) => ours(n.config)).map((n) => `network ${n.name}`),
  ];
}

async function removeFirewallTable(options: DemoCommandOptions, io: CliIo): Promise<'removed' | 'absent' | 'kept'> {
  const target = firewallTarget(options, io);
  if (!('nft' in target)) return 'kept';
  if ((await target.nft.listTable()) === null) return 'absent';
  await target.nft.apply(`delete table ${TABLE_FAMILY} ${TABLE_NAME}\n`);
  return 'removed';
}

async function hasLocalAlias(client: IncusClient, alias: string): Promise<boolean> {
  try {
    await client.get(`/1.0/images/aliases/${encodeURIComponent(alias)}`);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * Instances get their address a moment after they start: poll the status
 * (the daemon's, or computed) until every domain is Ready, saying each
 * domain's change, bounded by `timeoutS`.
 */
async function waitReady(options: DemoCommandOptions, io: CliIo, file: string, timeoutS: number, step: (line: string) => void): Promise<StatusDocument> {
  const deadline = Date.now() + timeoutS * 1000;
  const said = new Map<string, string>();
  for (;;) {
    const doc = await computeOfflineStatus({ file, socketPath: resolveControlSocket({ flag: options.socket, env: io.env }), flags: options, now: new Date(), signal: AbortSignal.timeout(30_000) }, io);
    for (const d of doc.domains) {
      const ready = d.conditions.find((c) => c.type === 'Ready');
      const label = ready?.status === true ? 'Ready' : `${ready?.reason ?? 'Pending'}`;
      if (said.get(d.name) !== label) step(`${d.name}: ${label}`);
      said.set(d.name, label);
    }
    if (statusExitCode(doc) === EXIT.ok || Date.now() > deadline) return doc;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * Ready says Incus holds what infra.yml declares; an instance's DHCP lease
 * comes a moment after it starts, and a probe sent before that proves
 * nothing. Wait until Incus reports each machine's pinned address on eth0.
 */
async function waitAddresses(options: DemoCommandOptions, io: CliIo, file: string, timeoutS: number): Promise<void> {
  const { model } = await loadModelOrFail(file, io);
  const client = await connectIncus(options, io);
  try {
    const deadline = Date.now() + timeoutS * 1000;
    for (;;) {
      const missing: string[] = [];
      for (const d of model.domains) {
        const held = new Map((await client.listInstances({ project: d.project, withState: true })).map((i) => [i.name, eth0Ipv4(i)]));
        for (const m of d.machines) if (!(held.get(m.name) ?? []).includes(m.ip)) missing.push(`${m.name} (${m.ip})`);
      }
      if (missing.length === 0) return;
      if (Date.now() > deadline) throw new AnklumeError('DEMO_NOT_READY', `after ${timeoutS} s these instances still hold no address: ${missing.join(', ')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    client.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
