import { createHash } from 'node:crypto';
import { HOST_DIRS } from '../../config/paths.js';
import type { DesiredDomain, DesiredInfra } from '../../schemas/model.js';
import { SERVICE_UNIT_HARDENING } from './deployment.js';
import { renderOpenClawConfig, OpenClawConfigError, type OpenClawConfigOptions, type OpenClawSecretRefs, type RenderedOpenClawConfig } from './openclaw-config.js';
import { renderInventoryText } from './openclaw-inventory.js';
import { OPENCLAW_ENV, OPENCLAW_PATHS, OPENCLAW_USER } from './openclaw-paths.js';
import { loadPinnedSet, NODE_BINARY_COPY, type PinnedSet } from './pinned-install.js';

/**
 * Everything else a domain's OpenClaw instance needs besides its config, pure:
 * the systemd unit, the secrets env file, the install policy, and how the host
 * installs the pinned version. The controller pushes `renderOpenClawFiles`'
 * files and restarts the service when `hash` changes.
 */

/** A file to push into the instance. Owner and group are names inside the instance. */
export interface InstanceFile {
  readonly path: string;
  readonly content: string;
  /** Octal, e.g. 0o440. */
  readonly mode: number;
  readonly owner: string;
  readonly group: string;
}

/** Secret values the controller read on the host (never from infra.yml). */
export interface OpenClawSecretValues {
  /** Token clients present to the gateway: from openclaw.gateway_token_file, or one anklume generated and kept. */
  readonly gatewayToken: string;
  /**
   * Key the cloud provider sends to the sanitizer. When the sanitizer injects
   * the real key (`upstreams.anthropic_key_file`) it drops this one, so any
   * non-empty value works; defaults to a marker saying so.
   */
  readonly sanitizerApiKey?: string | undefined;
  /** Content of openclaw.telegram.token_file, when the domain has Telegram. */
  readonly telegramToken?: string | undefined;
}

export interface RenderedOpenClawFiles {
  readonly config: RenderedOpenClawConfig;
  /** In push order: directories first would be the controller's job; these are files only. */
  readonly files: readonly InstanceFile[];
  /** sha256 over every file (path, mode, owner, content) and the version: a change means restart. */
  readonly hash: string;
  /** The pinned OpenClaw version, to attach from the host cache (see openclawInstallDevice). */
  readonly version: string;
}

/** Marker sent when the sanitizer injects the real cloud key itself. */
export const SANITIZER_KEY_MARKER = 'anklume-sanitizer-injects-the-key';

/**
 * The systemd unit. Based on OpenClaw's documented system-wide unit: root is
 * unsupported, so a dedicated user; exit 78 means "config refused", which
 * restarting would only repeat.
 */
export function renderOpenClawUnit(domain: DesiredDomain): string {
  const openclaw = domain.openclaw;
  if (openclaw === null) throw new OpenClawConfigError(domain.name, 'OpenClaw is not enabled');
  const node = `${OPENCLAW_PATHS.installDir}/node_modules/node/bin/node`;
  const entry = `${OPENCLAW_PATHS.installDir}/node_modules/openclaw/openclaw.mjs`;
  const env: [string, string][] = [
    ['HOME', OPENCLAW_PATHS.stateDir],
    ['OPENCLAW_STATE_DIR', OPENCLAW_PATHS.stateDir],
    ['OPENCLAW_CONFIG_PATH', OPENCLAW_PATHS.configFile],
    // Operator-managed: `config set`, doctor repairs and plugin installs refuse to write it.
    ['OPENCLAW_CONFIG_READONLY', '1'],
    ['OPENCLAW_NO_AUTO_UPDATE', '1'],
    // Keeps doctor from installing a competing user unit.
    ['OPENCLAW_SERVICE_REPAIR_POLICY', 'external'],
    ['OPENCLAW_DISABLE_BONJOUR', '1'],
    // No helper-binary downloads: the instance reaches no registry.
    ['OPENCLAW_OFFLINE', '1'],
    ['DO_NOT_TRACK', '1'],
    ['CLAWHUB_DISABLE_TELEMETRY', '1'],
    // Outside disposable domains ClawHub is also unreachable by address (the install policy blocks first).
    ...(domain.trustLevel === 'disposable' ? [] : ([['OPENCLAW_CLAWHUB_URL', 'http://127.0.0.1:9']] as [string, string][])),
    // Not read by OpenClaw: a new pin changes the unit, so its hash, so the service restarts.
    ['ANKLUME_OPENCLAW_VERSION', openclaw.version],
  ];
  return [
    `# Managed by anklume for domain ${domain.name}; edits are overwritten.`,
    '[Unit]',
    `Description=OpenClaw gateway of anklume domain ${domain.name}`,
    'After=network-online.target',
    'Wants=network-online.target',
    // anklume attaches the pinned install read-only; without it there is nothing to start.
    `AssertPathExists=${entry}`,
    'StartLimitBurst=10',
    'StartLimitIntervalSec=300',
    '',
    '[Service]',
    'Type=simple',
    `User=${OPENCLAW_USER}`,
    `Group=${OPENCLAW_USER}`,
    `WorkingDirectory=${OPENCLAW_PATHS.stateDir}`,
    ...env.map(([k, v]) => `Environment=${k}=${v}`),
    // Read by systemd as root before it drops to the user: the file stays 0600 root.
    `EnvironmentFile=${OPENCLAW_PATHS.secretsEnvFile}`,
    `ExecStart=${node} ${entry} gateway run`,
    'Restart=always',
    'RestartSec=5',
    'RestartPreventExitStatus=78',
    'SuccessExitStatus=0 143',
    'TimeoutStopSec=330',
    'KillMode=mixed',
    ...SERVICE_UNIT_HARDENING,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** A value systemd's EnvironmentFile reads verbatim when unquoted: printable ASCII without quotes, backslash, `$` or spaces. */
const ENV_SAFE = /^[\x21-\x7e]+$/;
const ENV_UNSAFE = /["'\\$`]/;

/**
 * The secrets env file: one `KEY=value` line per env var the config refers to
 * (`config.envRefs`), values checked rather than escaped.
 */
export function renderOpenClawSecretsEnv(domain: DesiredDomain, config: Pick<RenderedOpenClawConfig, 'envRefs'>, values: OpenClawSecretValues, secrets: Partial<OpenClawSecretRefs> = {}): string {
  const gatewayEnv = secrets.gatewayTokenEnv ?? OPENCLAW_ENV.gatewayToken;
  const sanitizerEnv = secrets.sanitizerKeyEnv ?? OPENCLAW_ENV.sanitizerKey;
  const lines = config.envRefs.map((key) => {
    const value = key === gatewayEnv ? values.gatewayToken : key === sanitizerEnv ? (values.sanitizerApiKey ?? SANITIZER_KEY_MARKER) : undefined;
    if (value === undefined) throw new OpenClawConfigError(domain.name, `the config refers to env var ${key}, which has no value`);
    if (!ENV_SAFE.test(value) || ENV_UNSAFE.test(value)) {
      throw new OpenClawConfigError(domain.name, `the value of ${key} has characters a systemd environment file would change (whitespace, quotes, \\, $ or \`)`);
    }
    return `${key}=${value}`;
  });
  return `${lines.join('\n')}\n`;
}

/**
 * The install policy OpenClaw asks before every skill or plugin install
 * (`security.installPolicy`). It blocks them all: outside disposable domains
 * skills come from anklume's templates, never from ClawHub (spec/000 §8).
 * A POSIX shell script, so it needs nothing from the install it guards.
 */
export function renderInstallPolicy(domain: DesiredDomain): string {
  const reason = `domain ${domain.name} is not disposable: skills and plugins come from anklume, not from ClawHub or any install (spec/000 section 8)`;
  return [
    '#!/bin/sh',
    '# Managed by anklume. OpenClaw writes the request as JSON on stdin; every answer is block.',
    'cat >/dev/null',
    `printf '%s\\n' '${JSON.stringify({ protocolVersion: 1, decision: 'block', reason })}'`,
    '',
  ].join('\n');
}

/**
 * Every file of a domain's OpenClaw instance, with modes and owners, and one
 * hash over all of them. Secrets are inputs: the caller read them on the host.
 */
/** A file of anklume's skills (repository `skills/`), by its path below that folder. */
export interface SkillFile {
  readonly path: string;
  readonly content: string;
}

export function renderOpenClawFiles(model: DesiredInfra, domain: DesiredDomain, options: OpenClawConfigOptions & { readonly secretValues: OpenClawSecretValues; readonly skills?: readonly SkillFile[] }): RenderedOpenClawFiles {
  const openclaw = domain.openclaw;
  if (openclaw === null) throw new OpenClawConfigError(domain.name, 'OpenClaw is not enabled');
  const config = renderOpenClawConfig(model, domain, options);
  const root = 'root';
  const files: InstanceFile[] = [
    // Readable by the service, writable by nobody but root (OpenClaw writes by rename; the folder is root's too).
    { path: OPENCLAW_PATHS.configFile, content: config.text, mode: 0o444, owner: root, group: root },
    { path: OPENCLAW_PATHS.secretsEnvFile, content: renderOpenClawSecretsEnv(domain, config, options.secretValues, options.secrets ?? {}), mode: 0o600, owner: root, group: root },
    { path: OPENCLAW_PATHS.unitFile, content: renderOpenClawUnit(domain), mode: 0o644, owner: root, group: root },
    { path: OPENCLAW_PATHS.inventoryFile, content: renderInventoryText(model, domain), mode: 0o444, owner: root, group: root },
    // Root's, so the assistant can run its skills but not rewrite them.
    ...(options.skills ?? []).map((f) => ({ path: `${OPENCLAW_PATHS.skillsDir}/${f.path}`, content: f.content, mode: 0o644, owner: root, group: root })),
  ];
  if (domain.trustLevel !== 'disposable') {
    // OpenClaw refuses a policy command that others could write to.
    files.push({ path: OPENCLAW_PATHS.installPolicy, content: renderInstallPolicy(domain), mode: 0o755, owner: root, group: root });
  }
  if (openclaw.telegram !== null) {
    const token = options.secretValues.telegramToken;
    if (token === undefined || token.trim() === '') throw new OpenClawConfigError(domain.name, `Telegram is configured but its token file ${openclaw.telegram.tokenFile} gave no token`);
    files.push({ path: options.secrets?.telegramTokenFile ?? OPENCLAW_PATHS.telegramTokenFile, content: `${token.trim()}\n`, mode: 0o440, owner: root, group: OPENCLAW_USER });
  }
  const hash = createHash('sha256');
  hash.update(`openclaw@${openclaw.version}\n`);
  for (const f of files) hash.update(`${f.path}\0${f.mode.toString(8)}\0${f.owner}:${f.group}\0${f.content}\0`);
  return { config, files, hash: hash.digest('hex'), version: openclaw.version };
}

/**
 * How the host installs OpenClaw `version`: the pinned set
 * `deploy/pins/openclaw-<version>` (OpenClaw and Node 24, exact versions, a
 * committed lockfile) through the shared installer (pinned-install.ts):
 * `npm ci --ignore-scripts`, then only OpenClaw's own postinstall (it prunes
 * its bundled plugins' stale files) and koffi's (it selects its prebuilt
 * native binary) run, on that Node 24. A version with no committed lockfile
 * cannot be installed (the deployment is blocked, saying so).
 */
export function openclawInstall(version: string, options: { readonly cacheRoot?: string; readonly pinsRoot?: string } = {}): PinnedSet {
  return loadPinnedSet(`openclaw-${version}`, {
    cacheRoot: options.cacheRoot ?? HOST_DIRS.openclawCache,
    ...(options.pinsRoot === undefined ? {} : { pinsRoot: options.pinsRoot }),
    allowScripts: ['openclaw', 'koffi'],
    copies: [NODE_BINARY_COPY],
    check: ['node_modules/node/bin/node', 'node_modules/openclaw/openclaw.mjs', '--version'],
  });
}

/** The Incus disk device that shows the host's install at OPENCLAW_PATHS.installDir, read-only. */
export function openclawInstallDevice(install: Pick<PinnedSet, 'dir'>): Record<string, string> {
  return { type: 'disk', source: install.dir, path: OPENCLAW_PATHS.installDir, readonly: 'true' };
}
