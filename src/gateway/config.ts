import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import * as z from 'zod';
import { HOST_FILES, SANITIZER_DIRS, SANITIZER_FILES } from '../config/paths.js';
import { DEFAULT_SANITIZER_PORT } from '../schemas/services.js';
import { parseCidr } from '../shared/ipv4.js';
import { GatewayConfigError } from './errors.js';

/**
 * The gateway's own config file (YAML). The keys of DESIGN.md §2 keep their
 * meaning: listen, infra, upstreams.{anthropic,openai,ollama}, mode,
 * audit.path, sources. Everything has a default; what is left unset here is
 * taken from infra.yml's `global.sanitizer` (mode, audit switches, patterns)
 * or from its ai-tools domain's ollama_server machine (the Ollama upstream). docs/gateway.md lists it all.
 */

const MiB = 1024 * 1024;

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, `host:port, e.g. 0.0.0.0:${DEFAULT_SANITIZER_PORT}`)
  .refine((v) => {
    const port = Number(v.slice(v.lastIndexOf(':') + 1));
    return port >= 0 && port <= 65535;
  }, 'a port between 0 and 65535');

const baseUrl = z
  .string()
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.search === '' && u.hash === '';
    } catch {
      return false;
    }
  }, 'an http(s) base URL without query, e.g. https://api.anthropic.com');

const patternSwitches = z.strictObject({
  ip: z.boolean().optional(),
  incus: z.boolean().optional(),
  fqdn: z.boolean().optional(),
  service: z.boolean().optional(),
  ansible: z.boolean().optional(),
  credentials: z.boolean().optional(),
});

const extraPattern = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9_.-]+$/, 'letters, digits, _ . -'),
  regex: z.string().refine((r) => {
    try {
      new RegExp(r, 'g');
      return true;
    } catch {
      return false;
    }
  }, 'a valid JavaScript regular expression'),
});

export const GatewayConfigSchema = z.strictObject({
  /** host:port to listen on; default 0.0.0.0 and infra's global.sanitizer.listen_port. */
  listen: hostPort.optional(),
  infra: z.string().min(1).default(HOST_FILES.infra),
  mode: z.enum(['mask', 'pseudonymize']).optional(),
  upstreams: z
    .strictObject({
      anthropic: baseUrl.default('https://api.anthropic.com'),
      openai: baseUrl.default('https://api.openai.com'),
      /** Default: the ollama_server machine of the ai-tools domain (src/schemas/services.ts `ollamaEndpoint`). */
      ollama: baseUrl.optional(),
      /** When set, the gateway sends this key and drops the client's key headers. */
      anthropic_key_file: z.string().min(1).optional(),
      openai_key_file: z.string().min(1).optional(),
      /** Time to the upstream's response headers, and the longest silence inside a streamed answer. */
      timeout_ms: z.number().int().min(1).default(600_000),
    })
    .prefault({}),
  sources: z.array(z.strictObject({ cidr: z.string().refine((c) => parseCidr(c) !== null, 'an IPv4 CIDR such as 10.100.0.1/32'), domain: z.string().min(1) })).default([]),
  patterns: patternSwitches.prefault({}),
  domains: z
    .record(
      z.string(),
      z.strictObject({
        extra_patterns: z.array(extraPattern).default([]),
        allow: z.array(z.string().min(1)).default([]),
        /** Overrides infra.yml's domain `ai_binary`. */
        ai_binary: z.enum(['refuse', 'allow']).optional(),
      }),
    )
    .default({}),
  state_dir: z.string().min(1).default(SANITIZER_DIRS.state),
  /** One file per domain (`<domain>.key`, 32 random bytes, generated 0600). Default `<state_dir>/secrets`. */
  secrets_dir: z.string().min(1).optional(),
  /** One master secret instead; per-domain secrets are derived from it (HMAC-SHA256 with the domain name). */
  secret_file: z.string().min(1).optional(),
  audit: z
    .strictObject({
      enabled: z.boolean().optional(),
      path: z.string().min(1).default(SANITIZER_FILES.audit),
      redacted_only: z.boolean().optional(),
      /** Keep infrastructure originals in clear beside their keyed hash (credentials never). */
      store_originals: z.boolean().default(false),
      /** Gone: originals are hashed (keyed) by default now. Named so that an old config gets a clear error. */
      hash_originals: z
        .never({ error: 'hash_originals was removed: originals are now always written as a keyed hash (original_hmac); set audit.store_originals: true to keep infrastructure originals in clear too' })
        .optional(),
      max_bytes: z.number().int().min(1024).default(50 * MiB),
      keep: z.number().int().min(0).max(100).default(5),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** Larger request bodies get 413 (Anthropic's own limit is 32 MB). */
      body_bytes: z.number().int().min(1024).default(32 * MiB),
      /** Per domain: memory for remembering long strings already sanitized (0: off). */
      sanitize_cache_bytes: z.number().int().min(0).default(16 * MiB),
    })
    .prefault({}),
  ai_access: z
    .strictObject({
      holder_file: z.string().min(1).default(HOST_FILES.aiAccessState),
    })
    .prefault({}),
});

export type GatewayConfigFile = z.output<typeof GatewayConfigSchema>;

/** Parse and validate the config text; every problem in one error, each with its path. */
export function parseGatewayConfig(text: string, file: string): GatewayConfigFile {
  let data: unknown;
  try {
    data = parseYaml(text) ?? {};
  } catch (err) {
    throw new GatewayConfigError(`${file}: not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const parsed = GatewayConfigSchema.safeParse(data);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.length === 0 ? '(root)' : i.path.join('.')}: ${i.message}`);
    throw new GatewayConfigError(`${file}: invalid gateway config:\n${lines.join('\n')}`);
  }
  if (parsed.data.secrets_dir !== undefined && parsed.data.secret_file !== undefined) {
    throw new GatewayConfigError(`${file}: set secrets_dir or secret_file, not both`);
  }
  return parsed.data;
}

/** Read and validate the config file. */
export async function loadGatewayConfig(path: string): Promise<GatewayConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new GatewayConfigError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseGatewayConfig(text, path);
}

/** Split `host:port` (`[::1]:8089` too). */
export function splitHostPort(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(i + 1)) };
}
