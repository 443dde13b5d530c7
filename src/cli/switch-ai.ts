import { resolveAiAccessPaths, resolveControlSocket } from '../config/paths.js';
import type { IncusEndpointFlags } from '../config/incus-endpoint.js';
import { NO_FLUSH_WARNING, SwitchRefusedError, convergeAccess, performSwitch, type SwitchAnswer } from '../controllers/ai-access/switch.js';
import { syncFirewallNow } from '../controllers/firewall/check.js';
import type { DesiredInfra } from '../schemas/model.js';
import { DaemonClient, DaemonNotRunningError, DaemonRequestError } from './daemon-client.js';
import { connectIncus, firewallTarget, loadModelOrFail } from './incus.js';
import { EXIT, paint, type CliIo } from './io.js';
import { WriterLockedError, type WriterLock } from '../shared/writer-lock.js';
import { holdWriterLock, type WriterLockFlags } from './writer-lock.js';

export interface SwitchAiCommandOptions extends IncusEndpointFlags, WriterLockFlags {
  readonly config?: string;
  readonly socket?: string;
  /** commander turns --no-flush into flush: false. */
  readonly flush?: boolean;
  readonly dryRun?: boolean;
  readonly json?: boolean;
  readonly nft?: string;
  readonly aiStateFile?: string;
  readonly aiSwitchLog?: string;
}

/**
 * `anklumectl switch-ai <domain>`: through anklumed when it runs (it owns the
 * firewall), directly otherwise. Exit 0 when done or nothing to do, 1 when
 * refused or failed (with the step and the state it left).
 */
export async function runSwitchAi(domain: string, options: SwitchAiCommandOptions, io: CliIo): Promise<number> {
  const flush = options.flush !== false;
  const dryRun = options.dryRun === true;
  // Said before anything happens, and on stderr so --json stays clean.
  if (!flush) io.stderr(`${paint(io, 'yellow', NO_FLUSH_WARNING)}\n`);

  const daemon = new DaemonClient({ socketPath: resolveControlSocket({ flag: options.socket, env: io.env }) });
  let answer: SwitchAnswer;
  try {
    answer = await daemon.switchAi({ domain, flush, dryRun });
  } catch (err) {
    if (err instanceof DaemonRequestError && err.status === 400) return refused(err.daemonMessage, options, io);
    if (!(err instanceof DaemonNotRunningError)) throw err;
    answer = await switchDirectly(domain, { flush, dryRun }, options, io);
    if (!answer.ok && answer.step === 'refused') return refused(answer.error, options, io);
  }
  return report(answer, options, io);
}

async function switchDirectly(domain: string, request: { flush: boolean; dryRun: boolean }, options: SwitchAiCommandOptions, io: CliIo): Promise<SwitchAnswer> {
  const { model } = await loadModelOrFail(options.config, io);
  // A dry run only reads. A switch writes the firewall and Incus: one writer at a time, as apply.
  let lock: WriterLock | undefined;
  try {
    if (!request.dryRun) lock = await holdWriterLock(options, io, `anklumectl switch-ai ${domain}`);
  } catch (err) {
    if (err instanceof WriterLockedError) return { ok: false, error: err.message, step: 'refused', progress: [] };
    throw err;
  }
  try {
    return await switchWithClient(domain, request, model, options, io);
  } finally {
    await lock?.release();
  }
}

async function switchWithClient(domain: string, request: { flush: boolean; dryRun: boolean }, model: DesiredInfra, options: SwitchAiCommandOptions, io: CliIo): Promise<SwitchAnswer> {
  const client = await connectIncus(options, io);
  const target = firewallTarget(options, io);
  const paths = resolveAiAccessPaths(options, io.env);
  try {
    // Printed as it goes; the answer then carries none (report prints the daemon's at the end).
    const progress = (line: string): void => {
      if (options.json !== true) io.stdout(`${line}\n`);
    };
    const converge = () => convergeAccess({ client, model, paths, syncFirewall: (signal) => syncFirewallNow(client, model, target, signal), progress });
    return await performSwitch({ client, model }, { target: domain, ...request }, converge, () => []);
  } catch (err) {
    if (err instanceof SwitchRefusedError) return { ok: false, error: err.message, step: 'refused', progress: [] };
    throw err;
  } finally {
    client.close();
  }
}

function refused(message: string, options: SwitchAiCommandOptions, io: CliIo): number {
  if (options.json === true) io.stdout(`${JSON.stringify({ ok: false, refused: true, error: message })}\n`);
  io.stderr(`${paint(io, 'red', 'error:')} ${message}; nothing was changed\n`);
  return EXIT.failure;
}

function report(answer: SwitchAnswer, options: SwitchAiCommandOptions, io: CliIo): number {
  if (options.json === true) {
    io.stdout(`${JSON.stringify(answer, null, 2)}\n`);
    return answer.ok ? EXIT.ok : EXIT.failure;
  }
  // Through the daemon the progress comes at the end; directly it was printed as it went.
  for (const line of answer.progress) io.stdout(`${line}\n`);
  if (!answer.ok) {
    io.stderr(`${paint(io, 'red', 'error:')} ${answer.error}\n`);
    if (answer.state !== undefined) io.stderr(`State left: ${answer.state}\n`);
    return EXIT.failure;
  }
  const { result } = answer;
  // ai_vram_flush: false in infra.yml: the warning was not printed up front.
  if (result.warning !== undefined && options.flush !== false) io.stderr(`${paint(io, 'yellow', result.warning)}\n`);
  if (result.dryRun) {
    io.stdout(`Dry run: switching AI access from ${result.from ?? 'nobody'} to ${result.to} would take these steps (nothing changed):\n`);
    for (const [i, step] of result.steps.entries()) io.stdout(`  ${i + 1}. ${step}\n`);
    return EXIT.ok;
  }
  if (!result.changed) {
    io.stdout(`${result.to} already holds AI access: nothing to do.\n`);
    return EXIT.ok;
  }
  io.stdout(paint(io, 'green', `AI access switched: ${result.from ?? 'nobody'} -> ${result.to} (flush=${String(result.flush)}).\n`));
  return EXIT.ok;
}
