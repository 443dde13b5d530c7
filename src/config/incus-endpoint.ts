import { readFile } from 'node:fs/promises';
import { AnklumeError, UsageError } from '../shared/errors.js';

/** Debian's Incus socket. */
export const DEFAULT_INCUS_SOCKET = '/var/lib/incus/unix.socket';

/**
 * How long anklume waits for Incus, unless a flag, the environment or the
 * caller says otherwise. Defined once: the client applies them, the flags'
 * help and README quote them.
 */
export const INCUS_TIMEOUT_DEFAULTS = {
  /** One ordinary request (everything but operation waits): Incus answers those in well under a second. */
  requestTimeoutMs: 30_000,
  /** Waiting for an async operation: unpacking an image or a first start can take minutes. */
  operationTimeoutSeconds: 600,
  /** One command run in an instance (`nvidia-smi`, `systemctl restart ...`). */
  execTimeoutSeconds: 60,
} as const;

/**
 * Actions a direct `apply` keeps in flight at once (`--parallel`), chosen from
 * what Incus sustains (`npm run bench -- concurrency`): 16 `incus launch` of
 * the test image with a NIC on a bridge, at most P in flight, each P on a
 * rested machine. Incus 6.0.4 on these 2 cores:
 * btrfs: P=1 22.4 s, P=2 21.2 s, P=4 20.8 s, P=8 22.2 s, P=16 17.5 s;
 * dir (every instance a copy of the image): P=1 70.7 s, P=2 61.8 s, P=4 61.5 s, P=8 63.7 s, P=16 74.0 s.
 * An earlier run of the same shape on btrfs, at load 17 to 43: 8 instances
 * P=1 22.2 s, P=2 13.2 s, P=4 15.3 s, P=8 13.5 s; 16 instances P=4 39.7 s,
 * P=8 32.1 s, P=16 42.4 s. lvm could not be measured (no device-mapper in
 * this VM's kernel), nor zfs (no module). Throughput is flat from 2 to 8 on
 * both drivers and 16 is sometimes slower: 8 keeps the creates (storage
 * work) and starts of several domains going without queueing more inside
 * Incus than it serves.
 */
export const DEFAULT_CONCURRENCY = 8;

/** The largest timeout a flag accepts: one day (and well within Node's timer range). */
const MAX_TIMEOUT_SECONDS = 86_400;

/** The timeouts that travel with the endpoint into `new IncusClient({...endpoint})`. */
export interface IncusTimeoutConfig {
  /** `--incus-timeout` / ANKLUME_INCUS_TIMEOUT, in ms. */
  readonly requestTimeoutMs: number;
  /** `--exec-timeout` / ANKLUME_EXEC_TIMEOUT. */
  readonly execTimeoutSeconds: number;
}

/** Where Incus is (the shape src/incus's client takes): a unix socket, or HTTPS with a pinned certificate; plus the timeouts. */
export type IncusEndpointConfig = (
  | { readonly socketPath: string }
  | { readonly url: string; readonly tls: { readonly cert: string; readonly key: string; readonly serverCert: string } }
) &
  IncusTimeoutConfig;

/** The Incus endpoint flags shared by anklumectl and anklumed. */
export interface IncusEndpointFlags {
  readonly incusSocket?: string | undefined;
  readonly incusUrl?: string | undefined;
  readonly incusCert?: string | undefined;
  readonly incusKey?: string | undefined;
  readonly incusServerCert?: string | undefined;
  /** Seconds, as typed. */
  readonly incusTimeout?: string | undefined;
  /** Seconds, as typed. */
  readonly execTimeout?: string | undefined;
}

/**
 * Where Incus is: `--incus-url` (HTTPS, with a client certificate and key and
 * the pinned server certificate) or a unix socket: `--incus-socket`, then
 * INCUS_SOCKET, then /var/lib/incus/unix.socket. And how long to wait for it:
 * `--incus-timeout` (else ANKLUME_INCUS_TIMEOUT, else 30 s) per request,
 * `--exec-timeout` (else ANKLUME_EXEC_TIMEOUT, else 60 s) per command run in
 * an instance. A timeout that is not a positive number of seconds is a
 * {@link UsageError}.
 */
export async function resolveIncusEndpoint(flags: IncusEndpointFlags, env: Readonly<Record<string, string | undefined>>): Promise<IncusEndpointConfig> {
  const timeouts = resolveIncusTimeouts(flags, env);
  const url = flags.incusUrl ?? env.ANKLUME_INCUS_URL;
  if (url === undefined) return { socketPath: flags.incusSocket ?? env.INCUS_SOCKET ?? DEFAULT_INCUS_SOCKET, ...timeouts };
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
    ...timeouts,
  };
}

/** The request and exec timeouts: flag, then environment, then {@link INCUS_TIMEOUT_DEFAULTS}. */
export function resolveIncusTimeouts(flags: Pick<IncusEndpointFlags, 'incusTimeout' | 'execTimeout'>, env: Readonly<Record<string, string | undefined>>): IncusTimeoutConfig {
  const request = seconds(flags.incusTimeout, '--incus-timeout') ?? seconds(env.ANKLUME_INCUS_TIMEOUT, 'ANKLUME_INCUS_TIMEOUT');
  const exec = seconds(flags.execTimeout, '--exec-timeout') ?? seconds(env.ANKLUME_EXEC_TIMEOUT, 'ANKLUME_EXEC_TIMEOUT');
  return {
    // Rounded up: 0 ms would mean no timeout at all to the HTTP layer.
    requestTimeoutMs: request === undefined ? INCUS_TIMEOUT_DEFAULTS.requestTimeoutMs : Math.ceil(request * 1000),
    execTimeoutSeconds: exec ?? INCUS_TIMEOUT_DEFAULTS.execTimeoutSeconds,
  };
}

/** A positive number of seconds (`30`, `2.5`), or undefined when not given. */
function seconds(value: string | undefined, source: string): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(value) ? Number(value) : NaN;
  if (!(n > 0) || n > MAX_TIMEOUT_SECONDS) {
    throw new UsageError(`${source} must be a positive number of seconds, at most ${MAX_TIMEOUT_SECONDS} (got "${value}")`);
  }
  return n;
}
