/**
 * At most one snapshot per period per domain (spec/000 "snapshot triggers",
 * not a way to fill the storage pool). A slot is taken before Incus is asked
 * and given back if Incus fails, so two requests at once cannot both pass.
 */
export class SnapshotRateLimit {
  private readonly last = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Take the domain's slot, or say how long until the next one. */
  take(domain: string, periodMs: number): { readonly ok: true; readonly at: number } | { readonly ok: false; readonly retryAfterMs: number } {
    const now = this.now();
    const last = this.last.get(domain);
    if (last !== undefined && now - last < periodMs) return { ok: false, retryAfterMs: periodMs - (now - last) };
    this.last.set(domain, now);
    return { ok: true, at: now };
  }

  /** Give back a slot taken at `at` (the snapshot failed); a later slot is left alone. */
  release(domain: string, at: number): void {
    if (this.last.get(domain) === at) this.last.delete(domain);
  }

  /** Forget domains no longer in the model. */
  retain(domains: ReadonlySet<string>): void {
    for (const d of this.last.keys()) if (!domains.has(d)) this.last.delete(d);
  }
}
