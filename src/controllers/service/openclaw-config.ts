import { createHash } from 'node:crypto';
import type { DesiredDomain, DesiredInfra, DesiredOpenClaw } from '../../schemas/model.js';
import { ollamaEndpoint, sanitizerEndpoint } from '../../schemas/services.js';
import { AnklumeError } from '../../shared/errors.js';
import { durationSeconds } from '../../shared/duration.js';
import { ESCALATION_ALIAS, heartbeatEscalates, renderHeartbeatPrompt } from './openclaw-heartbeat.js';
import { OPENCLAW_ENV, OPENCLAW_PATHS } from './openclaw-paths.js';
import { HEARTBEAT_ESCALATION_TASK, cloudTaskTypes, taskProviderId } from './openclaw-tasks.js';

/**
 * A domain's OpenClaw config (`openclaw.json`), rendered from the desired
 * model. Pure. The shape follows OpenClaw's own schema (strict: an unknown key
 * stops the gateway with exit 78), checked by test/integration/openclaw-validate.test.ts
 * against `openclaw config validate` of the pinned version.
 *
 * Routing (spec/000 §3–4, issue 8):
 * - `local`: the Ollama provider at the ai-tools server, nothing else;
 * - `cloud`: an Anthropic-compatible provider at anklume-sanitizer, never a cloud URL;
 * - `local-first`: Ollama primary, the sanitizer as fallback (when a cloud model is set).
 * With `ai_sanitize: always` even the Ollama traffic goes through the sanitizer,
 * which serves Ollama's native API and sanitizes local routes too.
 */

export type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };
export type JsonObject = { readonly [key: string]: Json };

/** Provider ids in the config: `<provider>/<model id>` is how OpenClaw names a model. */
export const OPENCLAW_PROVIDERS = {
  /** OpenClaw's canonical id for `api: "ollama"` (private hosts get its keyless marker). */
  local: 'ollama',
  cloud: 'anklume-sanitizer',
} as const;

/** Where a domain's secrets are, as the config names them (the instance side). */
export interface OpenClawSecretRefs {
  /** Env var holding the token clients present to the gateway. */
  readonly gatewayTokenEnv: string;
  /** Env var holding the key sent to the sanitizer (which may replace it with the real one). */
  readonly sanitizerKeyEnv: string;
  /** File inside the instance holding the Telegram bot token. */
  readonly telegramTokenFile: string;
}

export const DEFAULT_SECRET_REFS: OpenClawSecretRefs = {
  gatewayTokenEnv: OPENCLAW_ENV.gatewayToken,
  sanitizerKeyEnv: OPENCLAW_ENV.sanitizerKey,
  telegramTokenFile: OPENCLAW_PATHS.telegramTokenFile,
};

export interface OpenClawConfigOptions {
  /** `http://<ip>:<port>` of anklume-sanitizer as the domain reaches it. Default: `sanitizerEndpoint(model)` (src/schemas/services.ts). */
  readonly sanitizerUrl?: string | null | undefined;
  /** `http://<ip>:<port>` of Ollama. Default: `ollamaEndpoint(model)`, the ollama_server machine of the ai-tools domain. */
  readonly ollamaUrl?: string | null | undefined;
  readonly secrets?: Partial<OpenClawSecretRefs> | undefined;
}

export interface RenderedOpenClawConfig {
  readonly json: JsonObject;
  /** Canonical JSON (keys sorted at every level, two-space indent, final newline): same model, same bytes. */
  readonly text: string;
  /** sha256 of `text`, hex: a different hash means the service must restart. */
  readonly hash: string;
  /** Every model reference the config makes (default, fallbacks, heartbeat, utility, aliases), first use first. */
  readonly models: readonly string[];
  /** Every `provider/model` the config defines. `models` ⊆ `defined`, by construction and checked. */
  readonly defined: readonly string[];
  /** Env vars the config's SecretRefs name: the secrets env file must set exactly these. */
  readonly envRefs: readonly string[];
  /** Base URLs the instance must reach (for the firewall and for status). */
  readonly upstreams: { readonly ollama: string | null; readonly sanitizer: string | null };
}

/** A domain whose OpenClaw config cannot be rendered from the model. */
export class OpenClawConfigError extends AnklumeError {
  readonly domain: string;

  constructor(domain: string, message: string) {
    super('OPENCLAW_CONFIG', `domain ${domain}: ${message}`);
    this.domain = domain;
  }
}

const envRef = (id: string): JsonObject => ({ source: 'env', provider: 'default', id });

/** OpenClaw wants a duration; `0m` turns the cadence off. */
function heartbeatEvery(domain: DesiredDomain, openclaw: DesiredOpenClaw): string {
  // A disposable domain is thrown away, not watched (spec/000 §3: "No heartbeat (ephemeral)").
  if (domain.trustLevel === 'disposable' || openclaw.heartbeatEvery === 'off') return '0m';
  return openclawDuration(openclaw.heartbeatEvery);
}

/**
 * infra.yml's duration (`1h30m`, `1d`) as one number and one unit OpenClaw
 * documents (`ms|s|m|h`): its validator names only those, so days and
 * compound forms are converted rather than trusted to an undocumented parser.
 */
export function openclawDuration(duration: string): string {
  const seconds = durationSeconds(duration);
  if (seconds % 3600 === 0 && seconds > 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

function modelEntry(id: string): JsonObject {
  return { id, name: id, input: ['text'] };
}

/**
 * Render the OpenClaw config of `domain`. Throws OpenClawConfigError when the
 * domain has no OpenClaw, or needs an upstream (Ollama, the sanitizer) or a
 * cloud model the model does not provide.
 */
export function renderOpenClawConfig(model: DesiredInfra, domain: DesiredDomain, options: OpenClawConfigOptions = {}): RenderedOpenClawConfig {
  const openclaw = domain.openclaw;
  if (openclaw === null) throw new OpenClawConfigError(domain.name, 'OpenClaw is not enabled');
  const secrets: OpenClawSecretRefs = { ...DEFAULT_SECRET_REFS, ...definedOnly(options.secrets ?? {}) };
  const machine = domain.machines.find((m) => m.name === openclaw.machine);
  if (machine === undefined) throw new OpenClawConfigError(domain.name, `its openclaw_server machine "${openclaw.machine}" is not in the domain`);

  const usesLocal = domain.aiProvider !== 'cloud';
  const cloudModel = domain.aiProvider === 'local' ? null : openclaw.cloudModel;
  if (domain.aiProvider === 'cloud' && cloudModel === null) {
    throw new OpenClawConfigError(domain.name, 'ai_provider cloud needs a cloud model: set openclaw.cloud_model or global.openclaw.cloud_model');
  }
  const usesCloud = cloudModel !== null;
  // `always`: local prompts are sanitized too, so Ollama is reached through the sanitizer.
  const localViaSanitizer = usesLocal && domain.aiSanitize === 'always';

  const sanitizerUrl = usesCloud || localViaSanitizer ? required(domain, 'the sanitizer', options.sanitizerUrl === undefined ? (sanitizerEndpoint(model)?.url ?? null) : options.sanitizerUrl) : null;
  const directOllama = usesLocal && !localViaSanitizer ? required(domain, 'an Ollama server', options.ollamaUrl === undefined ? (ollamaEndpoint(model)?.url ?? null) : options.ollamaUrl) : null;
  const ollamaBase = localViaSanitizer ? sanitizerUrl : directOllama;

  const localRef = `${OPENCLAW_PROVIDERS.local}/${openclaw.localModel}`;
  const cloudRef = cloudModel === null ? null : `${OPENCLAW_PROVIDERS.cloud}/${cloudModel}`;
  const primary = usesLocal ? localRef : (cloudRef as string);
  const fallbacks = usesLocal && cloudRef !== null ? [cloudRef] : [];

  const providers: Record<string, JsonObject> = {};
  if (usesLocal && ollamaBase !== null) {
    // Native API (/api/chat): OpenClaw's docs warn that Ollama's /v1 breaks tool calling.
    providers[OPENCLAW_PROVIDERS.local] = { api: 'ollama', baseUrl: ollamaBase, models: [modelEntry(openclaw.localModel)] };
  }
  if (cloudModel !== null && sanitizerUrl !== null) {
    providers[OPENCLAW_PROVIDERS.cloud] = {
      api: 'anthropic-messages',
      baseUrl: sanitizerUrl,
      apiKey: envRef(secrets.sanitizerKeyEnv),
      // The sanitizer keeps a local-first domain's requests local unless asked
      // (src/gateway/route.ts): choosing this provider is that explicit escalation.
      headers: { 'x-anklume-escalate': 'true' },
      models: [modelEntry(cloudModel)],
    };
  }

  if (cloudModel !== null && sanitizerUrl !== null) {
    // One provider per cloud task type the domain's automated work uses (cron
    // jobs, the heartbeat's escalation): the header names the task, so the
    // sanitizer routes it by spec/000 §4's table, never by the model's say-so.
    for (const task of cloudTaskTypes(domain, [HEARTBEAT_ESCALATION_TASK])) {
      providers[taskProviderId(task)] = {
        api: 'anthropic-messages',
        baseUrl: sanitizerUrl,
        apiKey: envRef(secrets.sanitizerKeyEnv),
        headers: { 'x-anklume-task': task },
        models: [modelEntry(cloudModel)],
      };
    }
  }

  // Aliases for the user's explicit escalation in chat (`/model cloud`, spec/000 §4).
  const aliases: Record<string, JsonObject> = {};
  if (usesLocal) aliases[localRef] = { alias: 'local' };
  if (cloudRef !== null) aliases[cloudRef] = { alias: 'cloud' };
  // The heartbeat's escalation of a critical verdict (its prompt names the alias).
  if (cloudModel !== null && heartbeatEscalates(domain)) aliases[`${taskProviderId(HEARTBEAT_ESCALATION_TASK)}/${cloudModel}`] = { alias: ESCALATION_ALIAS };

  const disposable = domain.trustLevel === 'disposable';
  const telegram = openclaw.telegram;
  const owners = telegram?.allowFrom.map((id) => `telegram:${id}`) ?? [];
  const every = heartbeatEvery(domain, openclaw);

  const json: JsonObject = {
    agents: {
      defaults: {
        model: { primary, fallbacks },
        models: aliases,
        // Housekeeping (titles, recaps, session digests) stays on the primary, local when the domain has local AI.
        utilityModel: primary,
        heartbeat: {
          every,
          // Triage is a local task (spec/000 §4): the heartbeat does not follow the cloud fallback.
          model: primary,
          // Alerts go to the owners' Telegram DMs; without a channel the heartbeat works internally.
          ...(owners.length > 0 ? { target: 'owner', directPolicy: 'allow' } : { target: 'none' }),
          // Probes, local triage, a verdict of a fixed shape; routine results to memory, anomalies to the owners.
          prompt: renderHeartbeatPrompt(domain),
        },
        // A heartbeat shows "typing…" in the owners' chat while it runs; a routine
        // one must not reach them at all, so no typing indicator, ever.
        typingMode: 'never',
        workspace: OPENCLAW_PATHS.workspace,
        // The Incus instance is the boundary; Docker is not available inside it.
        sandbox: { mode: 'off' },
      },
    },
    models: {
      // Only what is configured here: no hosted catalog, no discovery.
      mode: 'replace',
      catalogRefresh: { enabled: false },
      providers,
    },
    gateway: {
      mode: 'local',
      port: openclaw.port,
      // Explicit: OpenClaw's container detection misses cgroup-v2 Incus containers.
      // Reachable from the domain's bridge, which the firewall keeps to the domain.
      bind: 'lan',
      auth: { mode: 'token', token: envRef(secrets.gatewayTokenEnv) },
      controlUi: { allowedOrigins: [`http://${machine.ip}:${openclaw.port}`], communityInvite: false },
      // The operator owns the file and restarts the service when it changes.
      reload: { mode: 'off' },
      terminal: { enabled: false },
    },
    update: { checkOnStart: false },
    discovery: { mdns: { mode: 'off' } },
    memory: {
      search: directOllama === null
        ? // No embeddings endpoint the domain may use (the sanitizer serves none): full-text search only.
          { provider: 'none' }
        : { provider: 'ollama', remote: { baseUrl: directOllama } },
    },
    plugins: {
      // Nightly dreaming makes model calls nobody asked for.
      entries: { 'memory-core': { config: { dreaming: { enabled: false } } } },
    },
    commands: {
      config: false,
      plugins: disposable,
      ...(owners.length > 0 ? { ownerAllowFrom: owners } : {}),
    },
    skills: {
      // anklume's own skills, pushed read-only by the controller (repository skills/).
      load: { extraDirs: [OPENCLAW_PATHS.skillsDir] },
      install: { allowUploadedArchives: false },
      workshop: { autonomous: { mode: disposable ? 'propose' : 'off' } },
    },
    ...(disposable
      ? {}
      : {
          // ClawHub skills only in disposable domains (spec/000 §8, ClawHavoc): every
          // skill or plugin install asks this policy, which blocks; skills come from anklume.
          security: {
            installPolicy: { enabled: true, targets: ['skill', 'plugin'], exec: { source: 'exec', command: OPENCLAW_PATHS.installPolicy, timeoutMs: 5000 } },
          },
        }),
    ...(telegram === null
      ? {}
      : {
          channels: {
            telegram: {
              enabled: true,
              // A file, never the token: OpenClaw reads it itself.
              tokenFile: secrets.telegramTokenFile,
              dmPolicy: owners.length > 0 ? 'allowlist' : 'pairing',
              ...(owners.length > 0 ? { allowFrom: [...telegram.allowFrom] } : {}),
              groupPolicy: 'disabled',
              ...(telegram.apiRoot === null ? {} : { apiRoot: telegram.apiRoot }),
            },
          },
        }),
  };

  const refs = modelRefs(json);
  const undefinedRefs = refs.referenced.filter((r) => !refs.defined.includes(r));
  // OpenClaw's validator does not check references; a dangling one would fail at the first turn.
  if (undefinedRefs.length > 0) throw new OpenClawConfigError(domain.name, `the config references undefined models: ${undefinedRefs.join(', ')}`);

  const text = canonicalJson(json);
  return {
    json,
    text,
    hash: createHash('sha256').update(text).digest('hex'),
    models: refs.referenced,
    defined: refs.defined,
    envRefs: envRefsOf(json),
    upstreams: { ollama: directOllama, sanitizer: sanitizerUrl },
  };
}

function required(domain: DesiredDomain, what: string, url: string | null): string {
  if (url === null) throw new OpenClawConfigError(domain.name, `ai_provider ${domain.aiProvider} (ai_sanitize ${String(domain.aiSanitize)}) needs ${what}, and infra.yml declares none`);
  return url;
}

function definedOnly<T extends object>(partial: T): Partial<T> {
  return Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The model references an OpenClaw config makes and the models it defines,
 * as `provider/model id`. Works on any config object (a hand-written one too),
 * because `openclaw config validate` does not check references.
 */
export function modelRefs(config: JsonObject): { referenced: string[]; defined: string[] } {
  const referenced: string[] = [];
  const add = (v: Json | undefined): void => {
    if (typeof v === 'string' && v !== '' && !referenced.includes(v)) referenced.push(v);
  };
  const agents = isObject(config.agents) ? config.agents : {};
  const scopes: JsonObject[] = [];
  if (isObject(agents.defaults)) scopes.push(agents.defaults);
  if (isObject(agents.entries)) for (const e of Object.values(agents.entries)) if (isObject(e)) scopes.push(e);
  for (const scope of scopes) {
    const m = scope.model;
    if (typeof m === 'string') add(m);
    else if (isObject(m)) {
      add(m.primary);
      if (Array.isArray(m.fallbacks)) for (const f of m.fallbacks as Json[]) add(f);
    }
    add(scope.utilityModel);
    if (isObject(scope.heartbeat)) add(scope.heartbeat.model);
    if (isObject(scope.models)) for (const key of Object.keys(scope.models)) add(key);
  }

  const defined: string[] = [];
  const models = isObject(config.models) ? config.models : {};
  const providers = isObject(models.providers) ? models.providers : {};
  for (const [provider, p] of Object.entries(providers)) {
    if (!isObject(p) || !Array.isArray(p.models)) continue;
    for (const entry of p.models as Json[]) if (isObject(entry) && typeof entry.id === 'string') defined.push(`${provider}/${entry.id}`);
  }
  return { referenced, defined };
}

/** Names of the env vars SecretRefs (`{source: "env", id}`) in `value` point at, sorted. */
export function envRefsOf(value: Json): string[] {
  const found = new Set<string>();
  const walk = (v: Json): void => {
    if (Array.isArray(v)) for (const x of v as readonly Json[]) walk(x);
    else if (isObject(v)) {
      if (v.source === 'env' && typeof v.id === 'string') found.add(v.id);
      for (const x of Object.values(v)) walk(x);
    }
  };
  walk(value);
  return [...found].sort();
}

/** JSON with object keys sorted at every level (array order is meaning: fallbacks), two-space indent, final newline. */
export function canonicalJson(value: Json): string {
  return `${JSON.stringify(sortKeys(value), null, 2)}\n`;
}

function sortKeys(value: Json): Json {
  if (Array.isArray(value)) return (value as readonly Json[]).map(sortKeys);
  if (isObject(value)) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys(value[k] as Json)]),
    );
  }
  return value;
}
