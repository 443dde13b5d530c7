import { parseDuration } from '../shared/duration.js';
import { UsageError } from '../shared/errors.js';
import { wholeNumberFlag as integer } from '../shared/number-flags.js';
import { VERIFY_DEFAULTS, type VerifyLimits } from './defaults.js';

export { VERIFY_DEFAULTS, type VerifyLimits };

/** The flags as typed (strings), each optional. */
export interface VerifyLimitFlags {
  readonly parallel?: string;
  readonly probeTimeout?: string;
  readonly timeout?: string;
  readonly maxProbes?: string;
  readonly controlPort?: string;
}

/** Parse and bound the flags; a value out of range is a usage error that names the flag. */
export function parseVerifyLimits(flags: VerifyLimitFlags): VerifyLimits {
  let timeoutMs = VERIFY_DEFAULTS.timeoutMs;
  if (flags.timeout !== undefined) {
    const ms = parseDuration(flags.timeout);
    if (ms === null || ms < 5000 || ms > 3_600_000) throw new UsageError(`--timeout must be a duration from 5s to 1h, such as 90s or 5m (got "${flags.timeout}")`);
    timeoutMs = ms;
  }
  const probeTimeoutSeconds = integer('--probe-timeout', flags.probeTimeout?.replace(/s$/, ''), VERIFY_DEFAULTS.probeTimeoutSeconds, 1, 30);
  if (probeTimeoutSeconds * 1000 >= timeoutMs) throw new UsageError(`--probe-timeout (${probeTimeoutSeconds}s) must be shorter than --timeout (${timeoutMs / 1000}s)`);
  return {
    parallel: integer('--parallel', flags.parallel, VERIFY_DEFAULTS.parallel, 1, 64),
    probeTimeoutSeconds,
    timeoutMs,
    maxProbes: integer('--max-probes', flags.maxProbes, VERIFY_DEFAULTS.maxProbes, 1, 100_000),
    controlPort: integer('--control-port', flags.controlPort, VERIFY_DEFAULTS.controlPort, 1, 65535),
  };
}
