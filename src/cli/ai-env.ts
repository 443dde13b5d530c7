import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { detectHostNetworks, loadInfraFile } from '../config/load.js';
import { formatIssue } from '../config/issues.js';
import { resolveStateDir } from '../config/paths.js';
import { claudeCodeEnv, claudeCodeRoutes, renderMcpConfig, renderRouterConfig } from '../controllers/service/claude-code-config.js';
import { CLAUDE_CODE_PATHS } from '../controllers/service/claude-code-deployment.js';
import { UsageError } from '../shared/errors.js';
import { EXIT, paint, type CliIo } from './io.js';

export interface AiEnvCommandOptions {
  readonly config: string;
  readonly shell?: boolean;
  readonly json?: boolean;
}

/**
 * `anklumectl ai env <domain>`: what routes that domain's Claude Code through
 * anklume — the environment (the way out, the models, Anthropic's direct
 * traffic off), the router's config and the MCP config — computed from
 * infra.yml exactly as the claude_code role writes them. Reads only; the
 * router's key is shown when anklume has made it (after a deploy).
 */
export async function runAiEnv(domainName: string, options: AiEnvCommandOptions, io: CliIo): Promise<number> {
  if (options.shell === true && options.json === true) throw new UsageError('--shell and --json are exclusive: pick one');
  const result = await loadInfraFile(options.config, { hostNetworks: detectHostNetworks() });
  if (!result.ok) {
    for (const issue of result.issues) io.stderr(`${paint(io, 'red', 'error')} ${formatIssue(issue)}\n`);
    return EXIT.failure;
  }
  const model = result.model;
  const domain = model.domains.find((d) => d.name === domainName);
  if (domain === undefined) {
    io.stderr(`${paint(io, 'red', 'error')} no domain "${domainName}" in ${options.config} (domains: ${model.domains.map((d) => d.name).join(', ')})\n`);
    return EXIT.failure;
  }
  if (domain.claudeCode === null) {
    io.stderr(`${paint(io, 'red', 'error')} domain "${domain.name}" has no machine with role claude_code: its Claude Code set-up is not defined (docs/claude-code.md)\n`);
    return EXIT.failure;
  }
  const routes = claudeCodeRoutes(model, domain);
  const env = claudeCodeEnv(routes);
  const routerKey = (await readFile(join(resolveStateDir(io.env), 'claude-code', `${domain.name}.router-key`), 'utf8').catch(() => '')).trim();
  const machine = domain.machines.find((m) => m.name === domain.claudeCode?.machines[0]);
  const router = machine === undefined ? null : { url: `http://${machine.ip}:${domain.claudeCode.routerPort}`, machine: machine.name, key: routerKey === '' ? null : routerKey };
  const routerConfig = renderRouterConfig(domain, routes, { host: machine?.ip ?? '127.0.0.1', port: domain.claudeCode.routerPort, apiKey: routerKey === '' ? '<made at the first deploy>' : routerKey, customRouterPath: CLAUDE_CODE_PATHS.customRouter });
  const mcp = renderMcpConfig(routes, CLAUDE_CODE_PATHS.mcpCommand);

  if (options.json === true) {
    io.stdout(`${JSON.stringify({ domain: domain.name, aiProvider: domain.aiProvider, via: routes.via, env, router: router === null ? null : { ...router, config: routerConfig }, mcp }, null, 2)}\n`);
    return EXIT.ok;
  }
  const exports = Object.entries(env).map(([k, v]) => `export ${k}='${v}'`);
  if (options.shell === true) {
    io.stdout(`${exports.join('\n')}\n`);
    return EXIT.ok;
  }
  io.stdout(`# Claude Code in domain ${domain.name} (ai_provider ${domain.aiProvider}), through ${routes.via === 'sanitizer' ? 'the sanitizer' : 'Ollama'}:\n`);
  io.stdout(`${exports.join('\n')}\n`);
  if (router !== null) {
    io.stdout(`\n# Routed per task by claude-code-router on ${router.machine} (background ${routerConfig.Router === undefined ? '' : String((routerConfig.Router as Record<string, string>).background)}):\n`);
    io.stdout(`#   ANTHROPIC_BASE_URL=${router.url} ANTHROPIC_AUTH_TOKEN=${router.key ?? '<the router key, made at the first deploy>'} claude\n`);
  }
  io.stdout(mcp === null ? '\n# No local delegation (anklume-mcp-local): nothing of this domain stays local.\n' : `\n# .mcp.json (written as ${CLAUDE_CODE_PATHS.managedMcp} on claude_code machines):\n${JSON.stringify(mcp, null, 2)}\n`);
  return EXIT.ok;
}
