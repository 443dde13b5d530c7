import { describeError } from './errors.js';
import type { Logger } from './logger.js';

/**
 * Resolve once SIGTERM or SIGINT has been handled: the first signal runs
 * `shutdown` (a failure is logged, not thrown), a second one exits at once.
 * What a long-running program (anklumed, anklume-sanitizer) waits on.
 */
export function stopOnSignal(logger: Logger, shutdown: () => Promise<void>, message = 'signal received'): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, message);
      shutdown().then(resolve, (err: unknown) => {
        logger.error({ err: describeError(err) }, 'shutdown failed');
        resolve();
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
