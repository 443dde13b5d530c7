/**
 * Where anklume keeps things: every default directory, the files in them, and
 * the environment variables that move them. A flag (bin/, cli/) comes first,
 * then the environment, then these defaults. Nothing else names these paths.
 */

type Env = Readonly<Record<string, string | undefined>>;

/** Directories on the host (FHS). */
export const HOST_DIRS = {
  /** infra.yml. */
  config: '/etc/anklume',
  /** What anklume generates and keeps on the host (OpenClaw gateway tokens, ...). `ANKLUME_STATE_DIR` moves it. */
  state: '/var/lib/anklume',
  /**
   * Pinned OpenClaw installs, one folder per version, mounted read-only into
   * the instances. scripts/openclaw-validator.sh has the same default
   * (`ANKLUME_OPENCLAW_CACHE` moves it there).
   */
  openclawCache: '/var/cache/anklume-openclaw',
  /** The pinned Claude Code set (deploy/pins/claude-code-*), one folder per lockfile, mounted read-only into claude_code machines. */
  claudeCodeCache: '/var/cache/anklume-claude-code',
  log: '/var/log/anklume',
  run: '/run/anklume',
  /** The AI access holder's directory (spec/002 names /opt/anklume/ai-access-current); mounted read-only into the sanitizer. */
  aiState: '/opt/anklume',
} as const;

/** Files on the host, in {@link HOST_DIRS}. */
export const HOST_FILES = {
  /** `-f/--config`, `ANKLUME_CONFIG`. */
  infra: `${HOST_DIRS.config}/infra.yml`,
  /** Where anklumed listens for anklumectl (DESIGN.md §2): `--socket`, `ANKLUME_SOCKET`. */
  controlSocket: `${HOST_DIRS.run}/anklumed.sock`,
  /** One writer at a time (an flock): anklumed holds it while it runs, a direct apply while it applies. `--lock`, `ANKLUME_LOCK`. */
  writerLock: `${HOST_DIRS.run}/anklume.lock`,
  /**
   * anklume-sanitizer's config when it is run by hand (docs/gateway.md):
   * `--config`, `ANKLUME_SANITIZER_CONFIG`. The deployed gateway is given its
   * own (/etc/anklume-sanitizer/sanitizer.yml in its instance).
   */
  sanitizerConfig: `${HOST_DIRS.config}/sanitizer.yml`,
  /** The domain that holds exclusive AI access: `--ai-state-file`, `ANKLUME_AI_STATE_FILE`. */
  aiAccessState: `${HOST_DIRS.aiState}/ai-access-current`,
  /** One line per switch-ai: `--ai-switch-log`, `ANKLUME_AI_SWITCH_LOG`. */
  aiSwitchLog: `${HOST_DIRS.log}/ai-switch.log`,
} as const;

const SANITIZER_STATE_NAME = 'anklume-sanitizer';
const SANITIZER_LOGS_NAME = 'llm-sanitizer';

/**
 * Inside the sanitizer's instance, not on the host: anklume-sanitizer runs
 * there as a systemd service whose StateDirectory= and LogsDirectory= are
 * these (relative to /var/lib and /var/log). They are also the gateway's own
 * defaults when its config names no other. Kept apart from {@link HOST_DIRS}
 * on purpose: the host's state directory is a different place.
 */
export const SANITIZER_DIRS = {
  /** systemd StateDirectory= (under /var/lib). */
  stateName: SANITIZER_STATE_NAME,
  /** systemd LogsDirectory= (under /var/log). */
  logsName: SANITIZER_LOGS_NAME,
  state: `/var/lib/${SANITIZER_STATE_NAME}`,
  logs: `/var/log/${SANITIZER_LOGS_NAME}`,
} as const;

/** Files of the sanitizer in its instance (see {@link SANITIZER_DIRS}). */
export const SANITIZER_FILES = {
  audit: `${SANITIZER_DIRS.logs}/audit.log`,
} as const;

/** `--socket` first, then ANKLUME_SOCKET, then /run/anklume/anklumed.sock (the same for both programs). */
export function resolveControlSocket(options: { flag?: string | undefined; env: Env }): string {
  return options.flag ?? options.env.ANKLUME_SOCKET ?? HOST_FILES.controlSocket;
}

/** `--lock` first, then ANKLUME_LOCK, then /run/anklume/anklume.lock (the same for both programs). */
export function resolveWriterLock(options: { flag?: string | undefined; env: Env }): string {
  return options.flag ?? options.env.ANKLUME_LOCK ?? HOST_FILES.writerLock;
}

/** `--config` first, then ANKLUME_SANITIZER_CONFIG, then /etc/anklume/sanitizer.yml. */
export function resolveSanitizerConfig(options: { flag?: string | undefined; env: Env }): string {
  return options.flag ?? options.env.ANKLUME_SANITIZER_CONFIG ?? HOST_FILES.sanitizerConfig;
}

/** ANKLUME_STATE_DIR, else /var/lib/anklume. */
export function resolveStateDir(env: Env): string {
  return env.ANKLUME_STATE_DIR ?? HOST_DIRS.state;
}

/**
 * The last applied firewall, in the state directory: what the boot loader
 * (deploy/anklume-firewall-load.sh, which names the same file) loads before Incus.
 */
export function resolveBootFirewall(env: Env): string {
  return `${resolveStateDir(env)}/firewall.nft`;
}

/** anklumed's copy of the last valid infra.yml, in its state directory: a restart on a broken file converges to it. */
export function lastValidInfraFile(stateDir: string): string {
  return `${stateDir}/last-valid-infra.json`;
}

/**
 * Where exclusive AI access is recorded on the host (spec/002): the current
 * holder, the switch log, and the lock that keeps switches one at a time.
 * Each has a flag and an environment variable so tests use temporary paths.
 */
export interface AiAccessPaths {
  readonly stateFile: string;
  readonly switchLog: string;
}

export function resolveAiAccessPaths(flags: { aiStateFile?: string | undefined; aiSwitchLog?: string | undefined }, env: Env): AiAccessPaths {
  return {
    stateFile: flags.aiStateFile ?? env.ANKLUME_AI_STATE_FILE ?? HOST_FILES.aiAccessState,
    switchLog: flags.aiSwitchLog ?? env.ANKLUME_AI_SWITCH_LOG ?? HOST_FILES.aiSwitchLog,
  };
}

/** `-f/--config` first, then ANKLUME_CONFIG, then /etc/anklume/infra.yml. */
export function resolveInfraPath(options: { flag?: string | undefined; env: Env }): string {
  return options.flag ?? options.env.ANKLUME_CONFIG ?? HOST_FILES.infra;
}
