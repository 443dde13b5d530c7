import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DEFAULT_CONCURRENCY, type IncusEndpointFlags } from '../config/incus-endpoint.js';
import { resolveControlSocket, resolveInfraPath } from '../config/paths.js';
import { outcomeEvent, startEvent, summarizeApply, type ApplyEvent, type ApplySummary } from '../controllers/apply-protocol.js';
import { reconcileOnce } from '../controllers/whole-pass.js';
import type { StatusDocument } from '../controllers/status.js';
import { DaemonClient, DaemonNotRunningError, DaemonRequestError } from './daemon-client.js';
import { connectIncus, firewallTarget, loadModelOrFail, serviceDeployments } from './incus.js';
import { EXIT, paint, type CliIo } from './io.js';
import { renderPlan } from './render-plan.js';
import { UsageError } from '../shared/errors.js';
import { holdWriterLock, type WriterLockFlags } from './writer-lock.js';

export interface ApplyCommandOptions extends IncusEndpointFlags, WriterLockFlags {
  readonly config?: string;
  readonly socket?: string;
  readonly prune?: boolean;
  readonly force?: boolean;
  readonly parallel?: string;
  readonly storagePool?: string;
  readonly nft?: string;
}

/**
 * `anklumectl apply`: one reconcile pass, a line per action, a summary; exit 1
 * if anything did not converge. One writer at a time (DESIGN.md §8): when
 * anklumed runs, the daemon applies and streams its progress here; otherwise
 * the CLI applies itself under the writer lock the daemon would hold.
 */
export async function runApply(options: ApplyCommandOptions, io: CliIo): Promise<number> {
  // Checked first, whichever way the pass goes: a bad flag changes nothing.
  const concurrency = parseParallel(options.parallel);
  const daemon = new DaemonClient({ socketPath: resolveControlSocket({ flag: options.socket, env: io.env }) });
  let status: StatusDocument;
  try {
    status = await daemon.getStatus();
  } catch (err) {
    if (!(err instanceof DaemonNotRunningError)) throw err;
    return applyDirectly(options, concurrency, io);
  }
  return applyThroughDaemon(daemon, status, options, io);
}

async function applyThroughDaemon(daemon: DaemonClient, status: StatusDocument, options: ApplyCommandOptions, io: CliIo): Promise<number> {
  const file = resolveInfraPath({ flag: options.config, env: io.env });
  const theirs = status.config.file;
  if ((await canonical(file)) !== (await canonical(theirs))) {
    return refuse(io, `the daemon runs on ${theirs}; edit that file, or stop the daemon to apply ${file}`);
  }
  if (!status.config.valid) {
    // The daemon keeps applying the last valid version; applying that now is not what whoever edited the file asks for.
    for (const line of status.config.errors) io.stderr(`error ${line}\n`);
    return refuse(io, `${theirs} is invalid (${status.config.errors.length} error${status.config.errors.length === 1 ? '' : 's'}); anklumed keeps the last valid version`);
  }
  io.stdout(`${paint(io, 'dim', `Applying ${theirs} through anklumed${status.daemon.pid === undefined ? '' : ` (pid ${status.daemon.pid})`}.`)}\n`);
  const printer = applyPrinter(io);
  let summary: ApplySummary;
  try {
    summary = await daemon.apply({ prune: options.prune === true, force: options.force === true }, printer.event);
  } catch (err) {
    if (err instanceof DaemonRequestError && err.status === 400) return refuse(io, err.daemonMessage);
    throw err;
  }
  return printer.finish(summary, theirs);
}

/** `--parallel`: a positive integer, at most MAX_PARALLEL; absent: DEFAULT_CONCURRENCY. */
export function parseParallel(value: string | undefined): number {
  if (value === undefined) return DEFAULT_CONCURRENCY;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 1 || n > MAX_PARALLEL) throw new UsageError(`--parallel must be a whole number from 1 to ${MAX_PARALLEL} (got "${value}")`);
  return n;
}

/** More in flight than this only queues inside Incus. */
const MAX_PARALLEL = 64;

async function applyDirectly(options: ApplyCommandOptions, concurrency: number, io: CliIo): Promise<number> {
  const { file, model } = await loadModelOrFail(options.config, io);
  const lock = await holdWriterLock(options, io, 'anklumectl apply');
  try {
    const client = await connectIncus(options, io);
    try {
      const printer = applyPrinter(io);
      const started = performance.now();
      const { plan, outcomes } = await reconcileOnce(client, model, {
        firewall: firewallTarget(options, io),
        services: await serviceDeployments(model, file, io),
        prune: options.prune === true,
        force: options.force === true,
        concurrency,
        ...(options.storagePool === undefined ? {} : { storagePool: options.storagePool }),
        onStart: (a) => printer.event(startEvent(a)),
        onOutcome: (o) => printer.event(outcomeEvent(o)),
        onNote: (message) => printer.event({ type: 'note', message }),
      });
      return printer.finish(summarizeApply(plan, outcomes, { ms: performance.now() - started, requests: client.stats }), file);
    } finally {
      client.close();
    }
  } finally {
    await lock.release();
  }
}

/** The same lines whoever applies: the CLI itself or anklumed (its events streamed here). */
export function applyPrinter(io: CliIo): { event: (e: ApplyEvent) => void; finish: (summary: ApplySummary, file: string) => number } {
  const started = performance.now();
  const seconds = (): string => ((performance.now() - started) / 1000).toFixed(1);
  const stamp = (): string => paint(io, 'dim', `[${seconds().padStart(5)}s]`);
  return {
    event: (e) => {
      if (e.type === 'note') return io.stdout(`${stamp()} ${paint(io, 'dim', 'note')}    ${e.message}\n`);
      const what = `${e.action.verb} ${e.action.kind} ${e.action.name}`;
      if (e.type === 'start') io.stdout(`${stamp()} ${paint(io, 'dim', 'start')}   ${what} (${e.action.reason})\n`);
      else if (e.status === 'done') io.stdout(`${stamp()} ${paint(io, 'green', 'ok')}      ${what} (${Math.round(e.ms)} ms)\n`);
      else if (e.status === 'failed') io.stdout(`${stamp()} ${paint(io, 'red', 'failed')}  ${what}: ${e.error}\n`);
      else io.stdout(`${stamp()} ${paint(io, 'yellow', 'skipped')} ${what}: ${e.reason}\n`);
    },
    finish: (summary, file) => {
      if (summary.notes.length > 0) io.stdout(renderPlan({ actions: [], notes: summary.notes }, io));
      if (summary.actions === 0) {
        io.stdout(`Nothing to do: Incus matches ${file}.\n`);
        return EXIT.ok;
      }
      const { done, failed, skipped, requests } = summary;
      const counted = requests === undefined ? '' : ` (${requests.requests} Incus requests, ${requests.writes} writes)`;
      const line = `Apply: ${done} done, ${failed} failed, ${skipped} not done, in ${seconds()}s${counted}.`;
      io.stdout(`${failed + skipped > 0 ? paint(io, 'red', line) : paint(io, 'green', line)}\n`);
      return failed + skipped > 0 ? EXIT.failure : EXIT.ok;
    },
  };
}

/** The file a path names once links are followed (a missing file: its absolute path). */
async function canonical(path: string): Promise<string> {
  return realpath(path).catch(() => resolve(path));
}

function refuse(io: CliIo, message: string): number {
  io.stderr(`${paint(io, 'red', 'error:')} ${message}; nothing was changed\n`);
  return EXIT.failure;
}
