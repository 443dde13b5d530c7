#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { HOST_FILES, resolveSanitizerConfig } from '../config/paths.js';
import { loadGatewayConfig } from '../gateway/config.js';
import { buildRuntime, type GatewayRuntime } from '../gateway/runtime.js';
import { GatewayServer } from '../gateway/server.js';
import { buildDictionary, createSanitizer } from '../sanitizer/index.js';
import { describeError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { stopOnSignal } from '../shared/signals.js';

interface Flags {
  config?: string;
  shutdownDeadline: string;
  logLevel: string;
  logFormat?: string;
}

const env = { ...process.env };
const program = new Command('anklume-sanitizer')
  .description('The sanitizing LLM gateway: anonymises what leaves for a cloud LLM, restores what comes back, routes each domain by its ai_provider.')
  .version('0.1.0')
  .addOption(new Option('--config <path>', 'gateway config (YAML; env ANKLUME_SANITIZER_CONFIG)').default(undefined, HOST_FILES.sanitizerConfig))
  .option('--shutdown-deadline <seconds>', 'on SIGTERM, time given to answers in flight', '30')
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
  const logger = createLogger({ name: 'anklume-sanitizer', level: flags.logLevel, pretty: (flags.logFormat ?? (process.stderr.isTTY ? 'pretty' : 'json')) === 'pretty' });
  const configPath = resolveSanitizerConfig({ flag: flags.config, env });
  let runtime: GatewayRuntime;
  let server: GatewayServer;
  try {
    // Fail closed: an invalid config or infra.yml and the gateway never listens.
    runtime = await buildRuntime(await loadGatewayConfig(configPath), { engine: { createSanitizer, buildDictionary } });
    server = new GatewayServer({ runtime, logger });
    const address = await server.listen();
    const { settings } = runtime;
    logger.info(
      { listen: `${address.address}:${address.port}`, mode: settings.mode, infra: settings.infraPath, domains: runtime.sanitizers.size, ollama: settings.upstreams.ollama },
      'anklume-sanitizer listening',
    );
  } catch (err) {
    process.stderr.write(`anklume-sanitizer: ${describeError(err)}\n`);
    logger.flush();
    return 1;
  }

  const deadlineMs = Number(flags.shutdownDeadline) * 1000;
  await stopOnSignal(logger, () => server.close(deadlineMs), 'signal received: draining');
  runtime.close();
  logger.info('stopped');
  logger.flush();
  return 0;
}

process.exitCode = await main();
