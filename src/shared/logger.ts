import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Keys whose values never reach a log line. */
const REDACT = ['password', 'token', 'apiKey', 'api_key', 'authorization', 'secret', 'privateKey', 'tls'].flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

/**
 * The logger of a program, built once in src/bin: JSON lines (pino), or a
 * readable rendering when `pretty` (a terminal). Secrets are redacted.
 */
export function createLogger(options: { level: string; pretty: boolean; name: string }): Logger {
  return pino({
    name: options.name,
    level: options.level,
    redact: { paths: REDACT, censor: '[redacted]' },
    ...(options.pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' } } } : {}),
  });
}
