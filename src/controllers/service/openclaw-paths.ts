/**
 * Where things live inside a domain's OpenClaw instance. One place, so the
 * config (which names the secret files and env vars), the systemd unit and the
 * controller that pushes the files cannot disagree.
 */
export const OPENCLAW_PATHS = {
  /** Operator-managed config: root-owned, read-only to the service (OPENCLAW_CONFIG_READONLY=1). */
  configFile: '/etc/openclaw/openclaw.json',
  /** `KEY=value` lines systemd reads as root before it drops to the service user: 0600 root. */
  secretsEnvFile: '/etc/openclaw/secrets.env',
  /** Secret files the service reads itself (OpenClaw's `tokenFile` must be a regular file): 0750 root:openclaw. */
  secretsDir: '/etc/openclaw/secrets',
  telegramTokenFile: '/etc/openclaw/secrets/telegram-bot-token',
  /** The install policy OpenClaw runs before any skill or plugin install: a regular root-owned 0755 file. */
  installPolicy: '/usr/local/lib/anklume/openclaw-install-policy',
  /** OPENCLAW_STATE_DIR and the service user's home: sessions, memory, cron jobs, workspace. */
  stateDir: '/var/lib/openclaw',
  workspace: '/var/lib/openclaw/workspace',
  /**
   * The pinned install (`npm install --prefix` layout: node_modules/node, node_modules/openclaw),
   * attached read-only from the host's cache: the instance needs no registry access.
   */
  installDir: '/opt/openclaw',
  unitFile: '/etc/systemd/system/openclaw-gateway.service',
  /** anklume's skills (repository `skills/`), root-owned under /usr: read-only to the service (ProtectSystem=full too); `skills.load.extraDirs`. */
  skillsDir: '/usr/local/share/anklume/skills',
  /** What the domain declares (machines, addresses, the ports its policies open), for the scan skill: 0444 root. */
  inventoryFile: '/etc/openclaw/anklume-inventory.json',
  /** Where the scan skill keeps its last scan, in the service's state. */
  scanBaseline: '/var/lib/openclaw/anklume/scan-baseline.json',
} as const;

export const OPENCLAW_UNIT = 'openclaw-gateway.service';
export const OPENCLAW_USER = 'openclaw';

/** Env var names of the secrets the config refers to (SecretRefs), set in the secrets env file. */
export const OPENCLAW_ENV = {
  gatewayToken: 'OPENCLAW_GATEWAY_TOKEN',
  sanitizerKey: 'ANKLUME_SANITIZER_API_KEY',
} as const;
