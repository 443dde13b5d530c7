const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** infra.yml's duration (`30m`, `1h30m`, `1d`; the schema checks the shape) in seconds. */
export function durationSeconds(duration: string): number {
  let seconds = 0;
  for (const [, n, unit] of duration.matchAll(/(\d+)([smhd])/g)) seconds += Number(n) * (UNIT_SECONDS[unit as string] ?? 0);
  return seconds;
}

/**
 * A duration written on a command line: `90` or `90s` (seconds), `5m`, `1h`,
 * `1.5m`; null when it is none of these. Milliseconds.
 */
export function parseDuration(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (m === null) return null;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}
