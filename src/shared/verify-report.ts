// The result of `anklumectl verify` (issue 15): what real probes sent from
// inside the instances showed about isolation, cell by cell, compared with
// what infra.yml declares. One home for the shape: the CLI prints it, the
// daemon keeps the last one in its status document, the status page draws it.

/** What a probe did, seen from the sending instance. */
export type ProbeResult = 'pass' | 'block' | 'error';

export interface VerifyProbe {
  /** Sending instance, `domain/instance`. */
  readonly from: string;
  /** Target: `domain/instance` for an instance, `host` for the host. */
  readonly to: string;
  readonly address: string;
  readonly protocol: 'tcp' | 'icmp';
  /** TCP only. */
  readonly port?: number;
  /** Why the probe exists: a port a policy opens, a closed control port, ICMP. */
  readonly why: string;
  readonly expected: 'pass' | 'block';
  readonly observed: ProbeResult;
  /** What the tool said when it did not simply connect or time out. */
  readonly detail?: string;
}

/**
 * One ordered pair of domains. `expected` is every probe matching what the
 * model declares; `unexpected` is at least one probe passing where it should
 * be blocked or blocked where it should pass; `not-verifiable` means no probe
 * could be sent (no running instance, or no tool in it) — never counted as a pass.
 */
export interface VerifyCell {
  readonly from: string;
  readonly to: string;
  readonly verdict: 'expected' | 'unexpected' | 'not-verifiable';
  readonly probes: readonly VerifyProbe[];
}

export interface VerifyReport {
  readonly startedAt: string;
  readonly durationMs: number;
  /** Domains in matrix order (rows and columns). */
  readonly domains: readonly string[];
  readonly cells: readonly VerifyCell[];
  /** Instances no probe could be sent from or to, with the reason. */
  readonly notVerifiable: readonly { readonly instance: string; readonly reason: string }[];
  readonly probeCount: number;
  /** True when no cell is `unexpected`. */
  readonly ok: boolean;
}
