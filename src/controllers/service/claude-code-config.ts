import type { DesiredDomain, DesiredInfra } from '../../schemas/model.js';
import { ollamaEndpoint, sanitizerEndpoint } from '../../schemas/services.js';
import { isCloudTask, type TaskType } from '../../schemas/tasks.js';
import { SANITIZER_KEY_MARKER } from './openclaw-files.js';

/**
 * Where a domain's Claude Code, claude-code-router and anklume-mcp-local send
 * their requests (pure; one place for the deployment and `anklumectl ai env`).
 *
 * The way out is the one the firewall opens (src/firewall/render.ts
 * aiOpenings): the sanitizer for cloud and local-first domains (not
 * disposable) and for `ai_sanitize: always`; Ollama itself for the other
 * local domains. The sanitizer then routes each request by the domain's
 * `ai_provider` and the `x-anklume-task` header (spec/000 §4), so what the
 * router sends where is a task type of that table, never a destination the
 * client could pick beyond it.
 */

/** Claude Code's kinds of request, as claude-code-router names them, and the task type of spec/000 §4 each is. */
export const ROUTER_SCENARIOS = {
  /** Titles, summaries of the conversation, quota probes: the haiku-class calls. */
  background: 'summary',
  /** The coding turns. */
  default: 'codegen',
  /** Plan mode, extended thinking. */
  think: 'architecture',
  /** Past the router's long-context threshold. */
  longContext: 'report',
  /** A web search tool is offered: the search itself is a cloud tool. */
  webSearch: 'report',
} as const satisfies Record<string, TaskType>;
export type RouterScenario = keyof typeof ROUTER_SCENARIOS;

export interface ClaudeCodeRoutes {
  /** ANTHROPIC_BASE_URL: the sanitizer, or Ollama's Anthropic endpoint (local domains it does not sanitize). */
  readonly baseUrl: string;
  readonly via: 'sanitizer' | 'ollama';
  /** Where the domain's local model is reached, or null when nothing the domain sends stays local (a cloud domain). */
  readonly local: { readonly baseUrl: string; readonly model: string } | null;
  /** The cloud model through the sanitizer, or null when nothing goes to the cloud. */
  readonly cloud: { readonly baseUrl: string; readonly model: string } | null;
  /** Claude Code's main model: the cloud one in a cloud domain, else the local one (the sanitizer keeps it local). */
  readonly mainModel: string;
}

export class ClaudeCodeRouteError extends Error {}

/** The routes of a domain with role claude_code; throws when the firewall opens it no way to a model (validate refuses such a file). */
export function claudeCodeRoutes(model: DesiredInfra, domain: DesiredDomain): ClaudeCodeRoutes {
  const cc = domain.claudeCode;
  if (cc === null) throw new ClaudeCodeRouteError(`domain ${domain.name} has no machine with role claude_code`);
  const sanitizer = sanitizerEndpoint(model);
  const ollama = ollamaEndpoint(model);
  const always = domain.aiSanitize === 'always';
  const cloudAllowed = domain.aiProvider !== 'local' && domain.trustLevel !== 'disposable';
  if ((cloudAllowed || always) && sanitizer !== null) {
    const cloud = cloudAllowed && cc.cloudModel !== null ? { baseUrl: sanitizer.url, model: cc.cloudModel } : null;
    // A cloud domain's requests all go to the cloud, whatever they say: it has no local route.
    const local = domain.aiProvider === 'cloud' && cloudAllowed ? null : { baseUrl: sanitizer.url, model: cc.localModel };
    const mainModel = domain.aiProvider === 'cloud' && cloud !== null ? cloud.model : cc.localModel;
    return { baseUrl: sanitizer.url, via: 'sanitizer', local, cloud, mainModel };
  }
  if (!cloudAllowed && !always && domain.aiProvider !== 'cloud' && ollama !== null) {
    return { baseUrl: ollama.url, via: 'ollama', local: { baseUrl: ollama.url, model: cc.localModel }, cloud: null, mainModel: cc.localModel };
  }
  throw new ClaudeCodeRouteError(`domain ${domain.name} (ai_provider ${domain.aiProvider}) has no way to a model: it needs ${cloudAllowed || always ? 'a machine with role llm_sanitizer' : 'an ollama_server in the AI tools domain'}`);
}

/** Where one router scenario goes in this domain: the table's answer for its task type. */
export function scenarioRoute(domain: DesiredDomain, routes: ClaudeCodeRoutes, scenario: RouterScenario): 'local' | 'cloud' {
  if (routes.local === null) return 'cloud';
  if (routes.cloud === null) return 'local';
  // local-first: only the cloud task types leave.
  return isCloudTask(ROUTER_SCENARIOS[scenario]) ? 'cloud' : 'local';
}

/**
 * Claude Code's environment: the way out, the models, and everything that
 * would talk to Anthropic directly switched off (non-essential traffic,
 * telemetry, error reports, the auto-updater: the instance updates nothing,
 * its install is read-only).
 */
export function claudeCodeEnv(routes: ClaudeCodeRoutes): Record<string, string> {
  return {
    ANTHROPIC_BASE_URL: routes.baseUrl,
    // The sanitizer injects the real key (or passes a client's): Claude Code needs one to start.
    ANTHROPIC_AUTH_TOKEN: routes.via === 'sanitizer' ? SANITIZER_KEY_MARKER : 'ollama',
    ANTHROPIC_MODEL: routes.mainModel,
    // Background calls name a haiku model; outside a cloud domain it must be one Ollama has.
    ...(routes.local === null ? {} : { ANTHROPIC_DEFAULT_HAIKU_MODEL: routes.local.model, ANTHROPIC_SMALL_FAST_MODEL: routes.local.model }),
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_BUG_COMMAND: '1',
  };
}

const LOCAL_PROVIDER = 'anklume-local';
const CLOUD_PROVIDER = 'anklume-cloud';

/**
 * claude-code-router 1.0.x's config.json. Both providers speak Anthropic's
 * Messages API to the same way out (`transformer: Anthropic` alone makes the
 * router pass requests through unchanged, headers included); the custom
 * router sets `x-anklume-task` so the sanitizer routes by the table, and
 * picks the provider whose model fits that route.
 */
export function renderRouterConfig(domain: DesiredDomain, routes: ClaudeCodeRoutes, options: { readonly host: string; readonly port: number; readonly apiKey: string; readonly customRouterPath: string }): Record<string, unknown> {
  const providers: Record<string, unknown>[] = [];
  const provider = (name: string, target: { baseUrl: string; model: string }): Record<string, unknown> => ({
    name,
    api_base_url: `${target.baseUrl}/v1/messages`,
    api_key: routes.via === 'sanitizer' ? SANITIZER_KEY_MARKER : 'ollama',
    models: [target.model],
    transformer: { use: ['Anthropic'] },
  });
  if (routes.local !== null) providers.push(provider(LOCAL_PROVIDER, routes.local));
  if (routes.cloud !== null) providers.push(provider(CLOUD_PROVIDER, routes.cloud));
  const router: Record<string, string> = {};
  for (const scenario of Object.keys(ROUTER_SCENARIOS) as RouterScenario[]) router[scenario] = routeOf(domain, routes, scenario);
  return {
    HOST: options.host,
    PORT: options.port,
    APIKEY: options.apiKey,
    LOG: true,
    LOG_LEVEL: 'info',
    API_TIMEOUT_MS: 600000,
    NON_INTERACTIVE_MODE: true,
    CUSTOM_ROUTER_PATH: options.customRouterPath,
    Providers: providers,
    Router: { ...router, longContextThreshold: 60000 },
  };
}

function routeOf(domain: DesiredDomain, routes: ClaudeCodeRoutes, scenario: RouterScenario): string {
  const where = scenarioRoute(domain, routes, scenario);
  const target = where === 'cloud' ? routes.cloud : routes.local;
  if (target === null) throw new ClaudeCodeRouteError(`domain ${domain.name}: scenario ${scenario} has no ${where} route`);
  return `${where === 'cloud' ? CLOUD_PROVIDER : LOCAL_PROVIDER},${target.model}`;
}

/**
 * The router's custom routing module (CommonJS, as the router require()s it):
 * the same scenario rules as the router's own (a haiku model is background,
 * thinking is think, past the threshold is longContext, a web search tool is
 * webSearch), then the task header the sanitizer routes by. A request the
 * module cannot read gets the router's default and no task header: the
 * sanitizer then keeps it local in a local-first domain, the safe side.
 */
export function renderCustomRouter(): string {
  const tasks = JSON.stringify(ROUTER_SCENARIOS);
  return `// Managed by anklume (docs/claude-code.md); edits are overwritten.
'use strict';
const TASKS = ${tasks};
module.exports = async function anklumeRouter(req, config) {
  const body = req.body || {};
  const router = config.Router || {};
  let scenario = 'default';
  const model = String(body.model || '');
  if (typeof req.tokenCount === 'number' && req.tokenCount > (router.longContextThreshold || 60000)) scenario = 'longContext';
  else if (model.includes('claude') && model.includes('haiku')) scenario = 'background';
  else if (Array.isArray(body.tools) && body.tools.some((t) => String((t && t.type) || '').startsWith('web_search'))) scenario = 'webSearch';
  else if (body.thinking) scenario = 'think';
  req.headers['x-anklume-task'] = TASKS[scenario];
  return router[scenario];
};
`;
}

/** The MCP servers Claude Code loads (`.mcp.json` format): anklume-mcp-local, when the domain has a local route. */
export function renderMcpConfig(routes: ClaudeCodeRoutes, command: string): Record<string, unknown> | null {
  if (routes.local === null) return null;
  return {
    mcpServers: {
      'anklume-local': {
        type: 'stdio',
        command,
        args: [],
        env: { ANKLUME_LOCAL_BASE_URL: routes.local.baseUrl, ANKLUME_LOCAL_MODEL: routes.local.model },
      },
    },
  };
}
