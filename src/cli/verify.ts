import type { IncusEndpointFlags } from '../config/incus-endpoint.js';
import { parseVerifyLimits, type VerifyLimitFlags } from '../verify/limits.js';
import { fullyVerified } from '../verify/report.js';
import { runVerify } from '../verify/run.js';
import { connectIncus, firewallTarget, loadModelOrFail } from './incus.js';
import { EXIT, paint, type CliIo } from './io.js';
import { renderVerify } from './render-verify.js';

export interface VerifyCommandOptions extends IncusEndpointFlags, VerifyLimitFlags {
  readonly config?: string;
  readonly json?: boolean;
  readonly nft?: string;
}

/**
 * `anklumectl verify`: isolation proven with real packets, cell by cell
 * against what the table rendered from infra.yml declares. Read-only (it
 * takes no writer lock: it changes neither Incus nor nft). Exit 0 only when
 * every cell was verified and matched; 1 when one differs or could not be
 * verified.
 */
export async function runVerifyCommand(options: VerifyCommandOptions, io: CliIo, context: { signal?: AbortSignal } = {}): Promise<number> {
  // Flags first: a bad value is refused before anything is read or sent.
  const limits = parseVerifyLimits(options);
  const { model } = await loadModelOrFail(options.config, io);
  const started = performance.now();
  const stamp = (): string => paint(io, 'dim', `[${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s]`);
  const client = await connectIncus(options, io);
  try {
    const report = await runVerify(client, model, {
      ...limits,
      // A remote Incus has its own host: this machine's connects prove nothing about it.
      host: 'nft' in firewallTarget(options, io),
      ...(context.signal === undefined ? {} : { signal: context.signal }),
      ...(options.json === true ? {} : { onStep: (message: string) => io.stdout(`${stamp()} ${message}\n`) }),
    });
    if (options.json === true) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    else io.stdout(`\n${renderVerify(report, io)}`);
    return fullyVerified(report) ? EXIT.ok : EXIT.failure;
  } finally {
    client.close();
  }
}
