import { X509Certificate } from 'node:crypto';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';

/**
 * TLS material for a remote (or clustered) Incus reached over HTTPS.
 * PEM strings or buffers, as read from files by the caller.
 */
export interface IncusTlsOptions {
  /** Client certificate Incus trusts (`incus config trust add-certificate`). */
  cert: string | Buffer;
  /** Private key of the client certificate. */
  key: string | Buffer;
  /**
   * The server's certificate. The connection is accepted only when the server
   * presents exactly this certificate; no CA, hostname or system trust store
   * is consulted (Incus servers use self-signed certificates, and the Incus
   * CLI pins them the same way in `~/.config/incus/servercerts/`).
   */
  serverCert: string | Buffer;
}

/** Where Incus is: a local unix socket, or an HTTPS URL with a client certificate. */
export type IncusEndpoint =
  | { socketPath: string; url?: never; tls?: never }
  | { url: string; tls: IncusTlsOptions; socketPath?: never };

/** Default socket of a Debian/Ubuntu/Zabbly Incus install (defined once, with the other paths, in src/config). */
export { DEFAULT_INCUS_SOCKET } from '../config/incus-endpoint.js';

/** Error code set on a connection refused because the server certificate is not the pinned one. */
export const CERT_PIN_MISMATCH = 'ERR_ANKLUME_CERT_PIN_MISMATCH';

/** A one-word description of the endpoint for messages: the socket path or the URL. */
export function describeEndpoint(endpoint: IncusEndpoint): string {
  return endpoint.socketPath ?? endpoint.url;
}

/**
 * Node TLS options that accept exactly one server certificate.
 *
 * The pinned certificate is the only trust anchor (`ca`), so OpenSSL's chain
 * check passes for it alone, and `checkServerIdentity` — which Node calls only
 * after that check — replaces the hostname match with a byte-for-byte
 * fingerprint comparison: Incus certificates name the host as it calls itself,
 * not as we reach it, and a certificate merely signed by the pinned one must
 * not pass either.
 */
export function pinnedTlsOptions(tls: IncusTlsOptions): ConnectionOptions {
  const pinned = new X509Certificate(tls.serverCert).fingerprint256;
  return {
    cert: tls.cert,
    key: tls.key,
    ca: [tls.serverCert],
    rejectUnauthorized: true,
    checkServerIdentity: (_host: string, peer: PeerCertificate): Error | undefined => {
      if (peer.fingerprint256 === pinned) return undefined;
      const err = new Error(
        `server certificate ${peer.fingerprint256 || '(none)'} is not the pinned certificate ${pinned}`,
      ) as Error & { code: string };
      err.code = CERT_PIN_MISMATCH;
      return err;
    },
  };
}
