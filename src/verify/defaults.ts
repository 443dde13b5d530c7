// Imports nothing: anklumectl's help shows these without loading verify's code.

/** How much `verify` may do: it sends real packets from real instances, so every dimension is bounded. */
export interface VerifyLimits {
  /** Probes in flight at once. */
  readonly parallel: number;
  /** How long one probe waits for an answer (nc -w, ping -W), whole seconds: silence after it is a block. */
  readonly probeTimeoutSeconds: number;
  /** The whole run; probes that would end past it are not sent (their cells are not verifiable). */
  readonly timeoutMs: number;
  /** A plan with more probes than this is refused before anything is sent. */
  readonly maxProbes: number;
  /** A TCP port no rule names, probed between every pair: a pass there is a hole. */
  readonly controlPort: number;
}

export const VERIFY_DEFAULTS: VerifyLimits = { parallel: 8, probeTimeoutSeconds: 2, timeoutMs: 120_000, maxProbes: 1000, controlPort: 4999 };
