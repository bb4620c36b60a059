// Failure-detection timing (R9). The machines never read a clock: the runtime turns these
// numbers into timers and feeds their expiry back as events. They live here so that the
// runtime, the lab and the spec share one checked definition.

/** Timing of heartbeats, leases and suspicion, all in milliseconds of a local clock (A4). */
export interface RecoveryParams {
  /** The primary SSW sends a `Heartbeat` this often. */
  readonly heartbeatIntervalMs: number;
  /**
   * Each `HeartbeatAck` grants the primary a lease of this length, counted by the primary
   * from the moment it SENT the acknowledged heartbeat (never from the ack's arrival), so the
   * primary's view of the lease always ends before the detector's.
   */
  readonly leaseMs: number;
  /** The detector suspects the primary after this long without a fresh heartbeat. */
  readonly suspectAfterMs: number;
  /**
   * Allowance for clock-rate drift between the two hosts over one lease (A4). The detector
   * treats a lease as expired only `leaseMs + driftMarginMs` after granting it.
   */
  readonly driftMarginMs: number;
}

/** Values used by the lab: a failover is detected within ~300 ms. */
export const DEFAULT_RECOVERY_PARAMS: RecoveryParams = {
  heartbeatIntervalMs: 50,
  leaseMs: 200,
  suspectAfterMs: 300,
  driftMarginMs: 40,
};

/** Upper bounds keep a typo (seconds for milliseconds) from turning into an hour-long stall. */
export const MAX_TIMING_MS = 60_000;

export type RecoveryParamsError =
  | {
      readonly kind: 'notPositiveInteger';
      readonly field: keyof RecoveryParams;
      readonly value: number;
    }
  | { readonly kind: 'tooLarge'; readonly field: keyof RecoveryParams; readonly value: number }
  | {
      readonly kind: 'leaseNotLongerThanInterval';
      readonly leaseMs: number;
      readonly heartbeatIntervalMs: number;
    }
  | {
      readonly kind: 'suspectTooEarly';
      readonly suspectAfterMs: number;
      readonly leaseMs: number;
      readonly driftMarginMs: number;
    };

/**
 * Checks the relations R9 depends on:
 * - `leaseMs > heartbeatIntervalMs`: otherwise a healthy primary's lease lapses between two
 *   heartbeats and it drops to unprotected mode with no failure at all;
 * - `suspectAfterMs > leaseMs + driftMarginMs`: when the detector suspects, the last lease it
 *   granted has expired even on a primary whose clock runs slow, so the old primary has
 *   stopped committing (releasing acks and output) before the backup fences and takes over.
 */
export const checkRecoveryParams = (
  p: RecoveryParams,
): { ok: true; value: RecoveryParams } | { ok: false; error: RecoveryParamsError } => {
  const fields: (keyof RecoveryParams)[] = ['heartbeatIntervalMs', 'leaseMs', 'suspectAfterMs'];
  for (const field of fields) {
    const value = p[field];
    if (!Number.isInteger(value) || value <= 0) {
      return { ok: false, error: { kind: 'notPositiveInteger', field, value } };
    }
  }
  if (!Number.isInteger(p.driftMarginMs) || p.driftMarginMs < 0) {
    return {
      ok: false,
      error: { kind: 'notPositiveInteger', field: 'driftMarginMs', value: p.driftMarginMs },
    };
  }
  for (const field of [...fields, 'driftMarginMs'] as const) {
    if (p[field] > MAX_TIMING_MS) {
      return { ok: false, error: { kind: 'tooLarge', field, value: p[field] } };
    }
  }
  if (p.leaseMs <= p.heartbeatIntervalMs) {
    return {
      ok: false,
      error: {
        kind: 'leaseNotLongerThanInterval',
        leaseMs: p.leaseMs,
        heartbeatIntervalMs: p.heartbeatIntervalMs,
      },
    };
  }
  if (p.suspectAfterMs <= p.leaseMs + p.driftMarginMs) {
    return {
      ok: false,
      error: {
        kind: 'suspectTooEarly',
        suspectAfterMs: p.suspectAfterMs,
        leaseMs: p.leaseMs,
        driftMarginMs: p.driftMarginMs,
      },
    };
  }
  return { ok: true, value: p };
};
