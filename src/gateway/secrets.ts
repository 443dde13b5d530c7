import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayConfigError } from './errors.js';

/**
 * Per-domain pseudonymisation secrets. Pseudonyms are derived from them, so
 * the same value gets the same pseudonym across requests and restarts (prompt
 * caching keeps working) and nobody without the secret can reverse them.
 * Either one file per domain (`<secrets_dir>/<domain>.key`, 32 random bytes
 * generated 0600 on first start) or one master secret from which each
 * domain's is derived (HMAC-SHA256 keyed by the master, over the domain name).
 */
export type SecretSource = { readonly kind: 'dir'; readonly dir: string } | { readonly kind: 'file'; readonly file: string };

export function loadDomainSecrets(source: SecretSource, domains: readonly string[]): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  if (source.kind === 'file') {
    const master = readSecret(source.file);
    for (const d of domains) out.set(d, createHmac('sha256', master).update(`anklume-sanitizer/domain/${d}`).digest());
    return out;
  }
  mkdirSync(source.dir, { recursive: true, mode: 0o700 });
  for (const d of domains) {
    const file = join(source.dir, `${d}.key`);
    try {
      // 'wx': never overwrite a secret another process just wrote.
      writeFileSync(file, randomBytes(32), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new GatewayConfigError(`cannot create secret ${file}: ${(err as Error).message}`, { cause: err });
    }
    out.set(d, readSecret(file));
  }
  return out;
}

/** A secret file: private to its owner and at least 16 bytes, else a config error (fail closed). */
function readSecret(file: string): Buffer {
  let bytes: Buffer;
  try {
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) !== 0) throw new GatewayConfigError(`secret ${file} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 it`);
    bytes = readFileSync(file);
  } catch (err) {
    if (err instanceof GatewayConfigError) throw err;
    throw new GatewayConfigError(`cannot read secret ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (bytes.length < 16) throw new GatewayConfigError(`secret ${file} is too short (${bytes.length} bytes, at least 16)`);
  return bytes;
}
