#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { resolveGroup } from '../config/groups.js';
import { REMOTE_INCUS_FIREWALL, resolveNftBinary } from '../config/firewall.js';
import { DEFAULT_CONCURRENCY, INCUS_TIMEOUT_DEFAULTS, resolveIncusEndpoint } from '../config/incus-endpoint.js';
import { Nft } from '../firewall/nft.js';
import { detectHostNetworks } from '../config/load.js';
import { HOST_FILES, resolveAiAccessPaths, resolveBootFirewall, resolveControlSocket, resolveInfraPath, resolveStateDir, resolveWriterLock } from '../config/paths.js';
import { Daemon } from '../daemon/daemon.js';
import { InvalidConfigError } from '../daemon/config-source.js';
import { describeError, UsageError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { stopOnSignal } from '../shared/signals.js';
import { parseDuration } from '../shared/duration.js';
import { VERIFY_DEFAULTS } from '../verify/limits.js';

interface Flags {
  config?: string;
  socket?: string;
  socketGroup?: string;
  incusSocket?: string;
  incusUrl?: string;
  incusCert?: string;
  incusKey?: string;
  incusServerCert?: string;
  incusTimeout?: string;
  execTimeout?: string;
  resync: string;
  metrics?: string;
  web?: string;
  verifyReport?: string;
  prune?: boolean;
  concurrency: string;
  storagePool?: string;
  debounceMs: string;
  shutdownDeadline: string;
  logLevel: string;
  logFormat?: string;
  nft?: string;
  firewallCheck: string;
  aiStateFile?: string;
  aiSwitchLog?: string;
  lock?: string;
  verifyEvery?: string;
}

const env = { ...process.env };
const program = new Command('anklumed')
  .description('The anklume daemon: converges Incus to infra.yml and keeps it there (file changes, Incus events, periodic resync).')
  .version('0.1.0')
  .addOption(new Option('--config <path>', 'infra.yml (env ANKLUME_CONFIG)').default(undefined, HOST_FILES.infra))
  .addOption(new Option('--socket <path>', 'control socket for anklumectl (env ANKLUME_SOCKET)').default(undefined, HOST_FILES.controlSocket))
  .addOption(new Option('--lock <path>', 'the host\'s writer lock (an flock), held while the daemon runs; a direct anklumectl apply takes the same (env ANKLUME_LOCK)').default(undefined, HOST_FILES.writerLock))
  .option('--socket-group <group>', 'group owning the control socket (mode 0660)')
  .option('--incus-socket <path>', 'Incus unix socket (env INCUS_SOCKET, default /var/lib/incus/unix.socket)')
  .option('--incus-url <url>', 'remote Incus over HTTPS (env ANKLUME_INCUS_URL)')
  .option('--incus-cert <file>', 'client certificate for --incus-url')
  .option('--incus-key <file>', 'client key for --incus-url')
  .option('--incus-server-cert <file>', 'server certificate to pin for --incus-url')
  .option('--incus-timeout <seconds>', `seconds Incus may take to answer one request (env ANKLUME_INCUS_TIMEOUT, default ${INCUS_TIMEOUT_DEFAULTS.requestTimeoutMs / 1000})`)
  .option('--exec-timeout <seconds>', `seconds a command run in an instance may take before it is stopped (env ANKLUME_EXEC_TIMEOUT, default ${INCUS_TIMEOUT_DEFAULTS.execTimeoutSeconds})`)
  .option('--nft <path>', 'nft binary for the host firewall (env ANKLUME_NFT, default /usr/sbin/nft)')
  .option('--firewall-check <seconds>', 'how often the live nftables rules are read back and repaired (on a cluster or a remote Incus: the network ACLs read back, and every one written again)', '30')
  .option('--ai-state-file <path>', `exclusive AI access holder, mirrored from Incus (env ANKLUME_AI_STATE_FILE, default ${HOST_FILES.aiAccessState})`)
  .option('--ai-switch-log <path>', `switch-ai log (env ANKLUME_AI_SWITCH_LOG, default ${HOST_FILES.aiSwitchLog})`)
  .option('--verify-every <duration>', 'run verify (isolation proven with real packets) this long after the previous run ends, e.g. 10m; keeps the last report in status and marks the domains whose cells differ Degraded (default: off)')
  .option('--resync <cron>', 'periodic full resync, a cron expression', env.ANKLUME_RESYNC ?? '*/5 * * * *')
  .option('--metrics <host:port>', 'serve Prometheus metrics at http://<host:port>/metrics, and the status page at / when the address is loopback')
  .option('--web <host:port>', 'serve the read-only status page at http://<host:port>/ (":port" is loopback). WARNING: the page shows the infrastructure (domains, addresses, isolation); bind it beyond loopback only behind access control')
  .option('--verify-report <file>', 'show the verify report in this file (anklumectl verify --json) in status and on the page; read again when it changes')
  .option('--prune', 'delete managed objects that left infra.yml (never anything anklume does not own; protected instances are kept)')
  .option('--concurrency <n>', 'Incus writes in flight at once, across all domains (also the domains reconciled at once)', String(DEFAULT_CONCURRENCY))
  .option('--storage-pool <pool>', 'pool for root disks (default: the pool of the default profile)')
  .option('--debounce-ms <ms>', 'quiet time after an infra.yml change before reading it', '200')
  .option('--shutdown-deadline <seconds>', 'on SIGTERM, time given to in-flight work', '30')
  .option('--log-level <level>', 'fatal, error, warn, info, debug, trace', env.ANKLUME_LOG_LEVEL ?? 'info')
  .addOption(new Option('--log-format <format>', 'json, or pretty (default: pretty on a terminal)').choices(['json', 'pretty']))
  .exitOverride();

async function main(): Promise<number> {
  try {
    program.parse(process.argv);
  } catch (err) {
    return err instanceof CommanderError && err.exitCode === 0 ? 0 : 2;
  }
  const flags = program.opts<Flags>();
  const logger = createLogger({ name: 'anklumed', level: flags.logLevel, pretty: (flags.logFormat ?? (process.stderr.isTTY ? 'pretty' : 'json')) === 'pretty' });
  let daemon: Daemon;
  try {
    const incus = await resolveIncusEndpoint(flags, env);
    const concurrency = Number(flags.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError('--concurrency must be a positive integer');
    const firewallCheck = Number(flags.firewallCheck);
    if (!Number.isFinite(firewallCheck) || firewallCheck <= 0) throw new UsageError('--firewall-check must be a positive number of seconds');
    const remote = 'url' in incus;
    let verifyEveryMs: number | undefined;
    if (flags.verifyEvery !== undefined) {
      verifyEveryMs = parseDuration(flags.verifyEvery) ?? undefined;
      if (verifyEveryMs === undefined || verifyEveryMs < 1000) throw new UsageError(`--verify-every must be a duration of at least 1s, such as 90s or 10m (got "${flags.verifyEvery}")`);
    }
    daemon = new Daemon({
      configPath: resolveInfraPath({ flag: flags.config, env }),
      incus,
      incusEndpoint: 'socketPath' in incus ? incus.socketPath : incus.url,
      controlSocket: resolveControlSocket({ flag: flags.socket, env }),
      lockPath: resolveWriterLock({ flag: flags.lock, env }),
      ...(flags.socketGroup === undefined ? {} : { socketGroup: await resolveGroup(flags.socketGroup) }),
      resync: flags.resync,
      ...(flags.metrics === undefined ? {} : { metricsAddress: flags.metrics }),
      ...(flags.web === undefined ? {} : { webAddress: flags.web }),
      ...(flags.verifyReport === undefined ? {} : { verifyReportFile: flags.verifyReport }),
      prune: flags.prune === true,
      concurrency,
      ...(flags.storagePool === undefined ? {} : { storagePool: flags.storagePool }),
      debounceMs: Number(flags.debounceMs),
      shutdownDeadlineMs: Number(flags.shutdownDeadline) * 1000,
      hostNetworks: detectHostNetworks,
      logger,
      firewall: remote ? { unavailable: REMOTE_INCUS_FIREWALL } : { nft: new Nft(resolveNftBinary({ flag: flags.nft, env })), bootFile: resolveBootFirewall(env) },
      firewallCheckMs: firewallCheck * 1000,
      aiPaths: resolveAiAccessPaths(flags, env),
      stateDir: resolveStateDir(env),
      ...(verifyEveryMs === undefined ? {} : { verify: { everyMs: verifyEveryMs, limits: VERIFY_DEFAULTS } }),
    });
    await daemon.start();
  } catch (err) {
    if (err instanceof InvalidConfigError) {
      for (const line of err.errors) process.stderr.write(`error ${line}\n`);
    }
    process.stderr.write(`anklumed: ${describeError(err)}\n`);
    logger.flush();
    return err instanceof UsageError ? 2 : 1;
  }

  await stopOnSignal(logger, () => daemon.stop());
  logger.flush();
  return 0;
}

process.exitCode = await main();
