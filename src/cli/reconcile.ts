import { resolveControlSocket } from '../config/paths.js';
import { DaemonClient, DaemonNotRunningError } from './daemon-client.js';
import { EXIT, paint, type CliIo } from './io.js';

export interface ReconcileCommandOptions {
  readonly socket?: string;
}

/**
 * `anklumectl reconcile [domain...]`: ask anklumed to reconcile now, ahead of
 * its own work (user priority). Only queues: `status --watch` shows the result.
 */
export async function runReconcile(domains: readonly string[], options: ReconcileCommandOptions, io: CliIo): Promise<number> {
  const socketPath = resolveControlSocket({ flag: options.socket, env: io.env });
  const client = new DaemonClient({ socketPath });
  let queued: string[];
  try {
    queued = await client.reconcile(domains);
  } catch (err) {
    if (!(err instanceof DaemonNotRunningError)) throw err;
    io.stderr(`${paint(io, 'red', 'error:')} ${err.message}; nothing was queued. \`anklumectl apply\` does the same without a daemon.\n`);
    return EXIT.failure;
  }
  if (queued.length === 0) {
    io.stdout('Nothing queued: anklumed has no domain to reconcile.\n');
    return EXIT.ok;
  }
  io.stdout(`Queued for reconcile now (user priority): ${queued.join(', ')}\n`);
  io.stdout(paint(io, 'dim', 'Follow it with `anklumectl status --watch`.\n'));
  return EXIT.ok;
}
