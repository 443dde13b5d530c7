import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatIssue } from '../config/issues.js';
import { loadInfraFile } from '../config/load.js';
import type { DomainSanitizer, IdentifierDictionary, SanitizeMode, SanitizerOptions } from '../sanitizer/types.js';
import type { DesiredInfra } from '../schemas/model.js';
import { ollamaEndpoint } from '../schemas/services.js';
import { describeError } from '../shared/errors.js';
import { AccessHolder } from './access.js';
import { AuditLog, loadAuditKey } from './audit.js';
import { splitHostPort, type GatewayConfigFile } from './config.js';
import { GatewayConfigError } from './errors.js';
import { FileMappingStore } from './mapping-store.js';
import { buildSourceTable, type SourceTable } from './route.js';
import { SanitizeCache } from './sanitize-cache.js';
import { loadDomainSecrets } from './secrets.js';

/** What the gateway needs of the detection engine (src/sanitizer); injected so the bin wires the real one. */
export interface SanitizerEngine {
  createSanitizer(options: SanitizerOptions): DomainSanitizer;
  buildDictionary(model: DesiredInfra): IdentifierDictionary;
}

/** The config with infra.yml's defaults resolved: everything the server reads per request. */
export interface GatewaySettings {
  readonly listen: { readonly host: string; readonly port: number };
  readonly infraPath: string;
  readonly mode: SanitizeMode;
  readonly upstreams: {
    readonly anthropic: string;
    readonly openai: string;
    /** null when neither the config nor infra.yml names an Ollama server. */
    readonly ollama: string | null;
    readonly anthropicKey: string | undefined;
    readonly openaiKey: string | undefined;
    readonly timeoutMs: number;
  };
  readonly bodyLimit: number;
  /** Per domain: binary content on cloud routes is refused, or allowed and audited (infra.yml's `ai_binary`, the config's `domains.<d>.ai_binary` over it). */
  readonly aiBinary: ReadonlyMap<string, 'refuse' | 'allow'>;
  readonly sources: readonly { readonly cidr: string; readonly domain: string }[];
}

/** Everything built at start from the config and infra.yml. */
export interface GatewayRuntime {
  readonly model: DesiredInfra;
  readonly settings: GatewaySettings;
  readonly sourceTable: SourceTable;
  /** One per enabled domain. */
  readonly sanitizers: ReadonlyMap<string, DomainSanitizer>;
  /** Per domain: long strings already sanitized (conversation history). */
  readonly caches: ReadonlyMap<string, SanitizeCache>;
  readonly access: AccessHolder;
  readonly audit: AuditLog | null;
  close(): void;
}

function readKey(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    const key = readFileSync(file, 'utf8').trim();
    if (key === '') throw new Error('empty file');
    return key;
  } catch (err) {
    throw new GatewayConfigError(`cannot read API key file ${file}: ${describeError(err)}`, { cause: err });
  }
}

/**
 * Load infra.yml, check the config against it, create secrets, mapping stores,
 * the audit log and one sanitizer per domain. Any problem is a
 * GatewayConfigError: the program exits before it listens (fail closed).
 */
export async function buildRuntime(file: GatewayConfigFile, options: { engine: SanitizerEngine }): Promise<GatewayRuntime> {
  let loaded;
  try {
    // The gateway runs inside a domain: its own interfaces are in a domain subnet, so the host-overlap rule does not apply here.
    loaded = await loadInfraFile(file.infra, { hostNetworks: [] });
  } catch (err) {
    throw new GatewayConfigError(describeError(err), { cause: err });
  }
  if (!loaded.ok) throw new GatewayConfigError(`${file.infra} is invalid:\n${loaded.issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`);
  const model = loaded.model;
  const names = model.domains.map((d) => d.name);
  for (const [i, s] of file.sources.entries()) {
    if (!names.includes(s.domain)) throw new GatewayConfigError(`sources[${i}].domain: "${s.domain}" is not a domain of ${file.infra}`);
  }
  for (const d of Object.keys(file.domains)) {
    if (!names.includes(d)) throw new GatewayConfigError(`domains.${d}: not a domain of ${file.infra}`);
  }

  const settings: GatewaySettings = {
    listen: splitHostPort(file.listen ?? `0.0.0.0:${model.sanitizer.listenPort}`),
    infraPath: file.infra,
    mode: file.mode ?? model.sanitizer.mode,
    upstreams: {
      anthropic: file.upstreams.anthropic,
      openai: file.upstreams.openai,
      ollama: file.upstreams.ollama ?? ollamaEndpoint(model)?.url ?? null,
      anthropicKey: readKey(file.upstreams.anthropic_key_file),
      openaiKey: readKey(file.upstreams.openai_key_file),
      timeoutMs: file.upstreams.timeout_ms,
    },
    bodyLimit: file.limits.body_bytes,
    aiBinary: new Map(model.domains.map((d) => [d.name, file.domains[d.name]?.ai_binary ?? d.aiBinary])),
    sources: file.sources,
  };

  const enabled = model.domains.filter((d) => d.enabled).map((d) => d.name);
  mkdirSync(file.state_dir, { recursive: true, mode: 0o700 });
  const secrets = loadDomainSecrets(
    file.secret_file !== undefined ? { kind: 'file', file: file.secret_file } : { kind: 'dir', dir: file.secrets_dir ?? join(file.state_dir, 'secrets') },
    enabled,
  );
  const stores: FileMappingStore[] = [];
  const sanitizers = new Map<string, DomainSanitizer>();
  const dictionary = options.engine.buildDictionary(model);
  const categories = { ...model.sanitizer.patterns, ...Object.fromEntries(Object.entries(file.patterns).filter(([, v]) => v !== undefined)) };
  let audit: AuditLog | null = null;
  try {
    for (const domain of enabled) {
      const store = settings.mode === 'pseudonymize' ? FileMappingStore.forDomain(join(file.state_dir, 'mappings'), domain) : undefined;
      if (store !== undefined) stores.push(store);
      const extra = file.domains[domain];
      const secret = secrets.get(domain);
      if (secret === undefined) throw new GatewayConfigError(`no secret for domain ${domain}`);
      sanitizers.set(
        domain,
        options.engine.createSanitizer({
          domain,
          mode: settings.mode,
          categories,
          dictionary,
          extraPatterns: extra?.extra_patterns ?? [],
          allow: extra?.allow ?? [],
          secret,
          ...(store === undefined ? {} : { mapping: store }),
        }),
      );
    }
    if (file.audit.enabled ?? model.sanitizer.audit) {
      audit = new AuditLog({
        path: file.audit.path,
        redactedOnly: file.audit.redacted_only ?? model.sanitizer.auditRedactedOnly,
        storeOriginals: file.audit.store_originals,
        key: loadAuditKey(file.audit.path),
        maxBytes: file.audit.max_bytes,
        keep: file.audit.keep,
      });
    }
  } catch (err) {
    for (const s of stores) s.close();
    if (err instanceof GatewayConfigError) throw err;
    throw new GatewayConfigError(`cannot set up the sanitizers: ${describeError(err)}`, { cause: err });
  }

  return {
    model,
    settings,
    sourceTable: buildSourceTable(model.domains, file.sources),
    sanitizers,
    caches: new Map(enabled.map((d) => [d, new SanitizeCache(file.limits.sanitize_cache_bytes)])),
    access: new AccessHolder({ file: file.ai_access.holder_file, policy: model.ai.accessPolicy }),
    audit,
    close() {
      for (const s of stores) s.close();
      audit?.close();
    },
  };
}
