const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** infra.yml's duration (`30m`, `1h30m`, `1d`; the schema checks the shape) in seconds. */
export function durationSeconds(duration: string): number {
  let seconds = 0;
  for (const [, n, unit] of duration.matchAll(/(\d+)([smhd])/g)) seconds += Number(n) * (UNIT_SECONDS[unit as string] ?? 0);
  return seconds;
}
