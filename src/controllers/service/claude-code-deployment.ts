import { HOST_DIRS } from '../../config/paths.js';
import type { DesiredDomain, DesiredInfra } from '../../schemas/model.js';
import { claudeCodeEnv, claudeCodeRoutes, renderCustomRouter, renderMcpConfig, renderRouterConfig } from './claude-code-config.js';
import { deploymentHash, SERVICE_UNIT_HARDENING, type ServiceDeployment, type ServiceFile } from './deployment.js';
import { loadPinnedSet, NODE_BINARY_COPY, type PinnedSet } from './pinned-install.js';

/**
 * The role claude_code (pure): pinned Claude Code and claude-code-router
 * mounted read-only from the host's cache (no package manager in the
 * instance), Claude Code's managed settings and MCP servers (files it reads
 * with the highest precedence, root's and read-only to users), the router as
 * a service of its own user, and anklume-mcp-local. Rewritten and restarted
 * only when the hash of all of it changes.
 */

/** The committed pinned set (deploy/pins/): Claude Code 2.1.332, claude-code-router 1.0.73 (its last file-configured line), Node 24. */
export const CLAUDE_CODE_PIN = 'claude-code-2.1.332';

export const CLAUDE_CODE_PATHS = {
  installDir: '/opt/claude-code',
  /**
   * The platform package's native binary. Claude Code's own install script
   * only copies it over `bin/claude.exe`; with scripts off the instance runs
   * it where npm put it (a 400 MB copy saved).
   */
  claude: '/opt/claude-code/node_modules/@anthropic-ai/claude-code-linux-x64/claude',
  node: '/opt/claude-code/node_modules/node/bin/node',
  router: '/opt/claude-code/node_modules/@musistudio/claude-code-router/dist/cli.js',
  managedSettings: '/etc/claude-code/managed-settings.json',
  managedMcp: '/etc/claude-code/managed-mcp.json',
  profile: '/etc/profile.d/anklume-claude-code.sh',
  routerDir: '/etc/claude-code-router',
  routerConfig: '/etc/claude-code-router/config.json',
  customRouter: '/etc/claude-code-router/anklume-router.cjs',
  routerKey: '/etc/claude-code-router/api-key',
  routerHome: '/var/lib/claude-code-router',
  routerUnit: '/etc/systemd/system/claude-code-router.service',
  mcpBundle: '/usr/local/lib/anklume/anklume-mcp-local.mjs',
  mcpCommand: '/usr/local/bin/anklume-mcp-local',
  claudeLink: '/usr/local/bin/claude',
} as const;

export const CLAUDE_CODE_ROUTER_UNIT = 'claude-code-router.service';
export const CLAUDE_CODE_ROUTER_USER = 'anklume-ccr';

/** What only the host has: the router's client key (kept in anklume's state) and the MCP server's bundle. */
export interface ClaudeCodeInputs {
  readonly routerKey: string;
  /** dist/anklume-mcp-local.mjs. */
  readonly mcpBundle: string;
}

export function claudeCodeInstall(options: { readonly cacheRoot?: string; readonly pinsRoot?: string } = {}): PinnedSet {
  return loadPinnedSet(CLAUDE_CODE_PIN, {
    cacheRoot: options.cacheRoot ?? HOST_DIRS.claudeCodeCache,
    ...(options.pinsRoot === undefined ? {} : { pinsRoot: options.pinsRoot }),
    // No install script runs: Node's binary is copied as its package's script would, Claude Code's is used where it is.
    copies: [NODE_BINARY_COPY],
    check: ['node_modules/@anthropic-ai/claude-code-linux-x64/claude', '--version'],
  });
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

export function renderRouterUnit(domain: DesiredDomain): string {
  return [
    `# Managed by anklume for domain ${domain.name}; edits are overwritten.`,
    '[Unit]',
    `Description=claude-code-router of anklume domain ${domain.name}`,
    'After=network-online.target',
    'Wants=network-online.target',
    `AssertPathExists=${CLAUDE_CODE_PATHS.router}`,
    '',
    '[Service]',
    'Type=simple',
    `User=${CLAUDE_CODE_ROUTER_USER}`,
    `Group=${CLAUDE_CODE_ROUTER_USER}`,
    // The router reads ~/.claude-code-router/config.json: a link to the managed file.
    `Environment=HOME=${CLAUDE_CODE_PATHS.routerHome}`,
    `WorkingDirectory=${CLAUDE_CODE_PATHS.routerHome}`,
    `ExecStart=${CLAUDE_CODE_PATHS.node} ${CLAUDE_CODE_PATHS.router} start`,
    'Restart=always',
    'RestartSec=5',
    ...SERVICE_UNIT_HARDENING,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** One deployment per machine with role claude_code of an enabled domain. */
export function claudeCodeDeployments(model: DesiredInfra, domain: DesiredDomain, inputs: ClaudeCodeInputs): ServiceDeployment[] {
  const cc = domain.claudeCode;
  if (cc === null || !domain.enabled) return [];
  let install: PinnedSet | undefined;
  let problem: string | undefined;
  try {
    install = claudeCodeInstall();
  } catch (err) {
    problem = (err as Error).message;
  }
  const routes = claudeCodeRoutes(model, domain);
  const env = claudeCodeEnv(routes);
  const mcp = renderMcpConfig(routes, CLAUDE_CODE_PATHS.mcpCommand);
  const out: ServiceDeployment[] = [];
  for (const name of cc.machines) {
    const machine = domain.machines.find((m) => m.name === name);
    if (machine === undefined) continue;
    const routerConfig = renderRouterConfig(domain, routes, { host: machine.ip, port: cc.routerPort, apiKey: inputs.routerKey, customRouterPath: CLAUDE_CODE_PATHS.customRouter });
    const files: ServiceFile[] = [
      { path: CLAUDE_CODE_PATHS.managedSettings, content: json({ env }), mode: 0o644 },
      ...(mcp === null ? [] : [{ path: CLAUDE_CODE_PATHS.managedMcp, content: json(mcp), mode: 0o644 }]),
      {
        path: CLAUDE_CODE_PATHS.profile,
        content: `# Managed by anklume: the way out of domain ${domain.name} for LLM clients (docs/claude-code.md).\n${Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`).join('\n')}\n`,
        mode: 0o644,
      },
      { path: CLAUDE_CODE_PATHS.routerConfig, content: json(routerConfig), mode: 0o640 },
      { path: CLAUDE_CODE_PATHS.customRouter, content: renderCustomRouter(), mode: 0o644 },
      // The router's key keeps the domain's other machines out; anyone on this machine may use the router.
      { path: CLAUDE_CODE_PATHS.routerKey, content: `${inputs.routerKey}\n`, mode: 0o644 },
      { path: CLAUDE_CODE_PATHS.routerUnit, content: renderRouterUnit(domain), mode: 0o644 },
      { path: CLAUDE_CODE_PATHS.mcpBundle, content: inputs.mcpBundle, mode: 0o644 },
      { path: CLAUDE_CODE_PATHS.mcpCommand, content: `#!/bin/sh\n# Managed by anklume: the MCP server of local delegation (docs/claude-code.md).\nexec ${CLAUDE_CODE_PATHS.node} ${CLAUDE_CODE_PATHS.mcpBundle} "$@"\n`, mode: 0o755 },
    ];
    const devices = { 'anklume-claude-code': { type: 'disk', source: install?.dir ?? `${HOST_DIRS.claudeCodeCache}/${CLAUDE_CODE_PIN}-no-lockfile`, path: CLAUDE_CODE_PATHS.installDir, readonly: 'true' } };
    const setup = [
      `id -u ${CLAUDE_CODE_ROUTER_USER} >/dev/null 2>&1 || useradd --system --home-dir ${CLAUDE_CODE_PATHS.routerHome} --create-home --shell /usr/sbin/nologin ${CLAUDE_CODE_ROUTER_USER}`,
      `install -d -o ${CLAUDE_CODE_ROUTER_USER} -g ${CLAUDE_CODE_ROUTER_USER} -m 0750 ${CLAUDE_CODE_PATHS.routerHome} ${CLAUDE_CODE_PATHS.routerHome}/.claude-code-router`,
      `ln -sfn ${CLAUDE_CODE_PATHS.routerConfig} ${CLAUDE_CODE_PATHS.routerHome}/.claude-code-router/config.json`,
      `install -d -o root -g root -m 0755 ${CLAUDE_CODE_PATHS.routerDir} /etc/claude-code`,
      `ln -sfn ${CLAUDE_CODE_PATHS.claude} ${CLAUDE_CODE_PATHS.claudeLink}`,
      // A managed MCP file left from when the domain had a local route would still be loaded.
      ...(mcp === null ? [`rm -f ${CLAUDE_CODE_PATHS.managedMcp}`] : []),
    ].join('\n');
    out.push({
      project: domain.project,
      instance: machine.name,
      domain: domain.name,
      name: 'claude-code',
      files,
      devices,
      hostDirs: [],
      unit: CLAUDE_CODE_ROUTER_UNIT,
      healthUrl: `http://${machine.ip}:${cc.routerPort}/health`,
      hash: deploymentHash({ files: [...files, { path: '#setup', content: `${setup}\n${install?.stamp ?? ''}`, mode: 0 }], devices, unit: CLAUDE_CODE_ROUTER_UNIT }),
      setup,
      afterFiles: `chown root:${CLAUDE_CODE_ROUTER_USER} ${CLAUDE_CODE_PATHS.routerConfig}`,
      ...(install === undefined ? {} : { hostInstall: install }),
      ...(problem === undefined ? {} : { problem }),
    });
  }
  return out;
}
