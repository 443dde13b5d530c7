import { readFile } from 'node:fs/promises';
import { AnklumeError, UsageError } from '../shared/errors.js';

/** Debian's Incus socket. */
export const DEFAULT_INCUS_SOCKET = '/var/lib/incus/unix.socket';

/** Where Incus is (the shape src/incus's client takes): a unix socket, or HTTPS with a pinned certificate. */
export type IncusEndpointConfig =
  | { readonly socketPath: string }
  | { readonly url: string; readonly tls: { readonly cert: string; readonly key: string; readonly serverCert: string } };

/** The Incus endpoint flags shared by anklumectl and anklumed. */
export interface IncusEndpointFlags {
  readonly incusSocket?: string | undefined;
  readonly incusUrl?: string | undefined;
  readonly incusCert?: string | undefined;
  readonly incusKey?: string | undefined;
  readonly incusServerCert?: string | undefined;
}

/**
 * Where Incus is: `--incus-url` (HTTPS, with a client certificate and key and
 * the pinned server certificate) or a unix socket: `--incus-socket`, then
 * INCUS_SOCKET, then /var/lib/incus/unix.socket.
 */
export async function resolveIncusEndpoint(flags: IncusEndpointFlags, env: Readonly<Record<string, string | undefined>>): Promise<IncusEndpointConfig> {
  const url = flags.incusUrl ?? env.ANKLUME_INCUS_URL;
  if (url === undefined) return { socketPath: flags.incusSocket ?? env.INCUS_SOCKET ?? DEFAULT_INCUS_SOCKET };
  const files = { cert: flags.incusCert ?? env.ANKLUME_INCUS_CERT, key: flags.incusKey ?? env.ANKLUME_INCUS_KEY, serverCert: flags.incusServerCert ?? env.ANKLUME_INCUS_SERVER_CERT };
  const missing = Object.entries({ '--incus-cert': files.cert, '--incus-key': files.key, '--incus-server-cert': files.serverCert }).filter(([, v]) => v === undefined).map(([k]) => k);
  if (missing.length > 0) throw new UsageError(`--incus-url needs ${missing.join(', ')} (a client certificate and key, and the server certificate to pin)`);
  const read = async (what: string, path: string): Promise<string> => {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw new AnklumeError('CONFIG_UNREADABLE', `cannot read the ${what} ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  return {
    url,
    tls: {
      cert: await read('client certificate', files.cert ?? ''),
      key: await read('client key', files.key ?? ''),
      serverCert: await read('server certificate', files.serverCert ?? ''),
    },
  };
}
