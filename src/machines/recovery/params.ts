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
  /**
   * The backup gives up a failover whose STONITH is not confirmed this long after it
   * declared the primary dead (a late kill could come after the primary went unprotected).
   */
  readonly stonithDeadlineMs: number;
  /**
   * Upper bound on the one-way delay of a heartbeat or its ack on the replication link
   * (lab assumption A7 in spec/recovery.md; a message later than this counts as lost).
   */
  readonly maxLinkDelayMs: number;
  /**
   * The primary serves unprotected only after this long past the end of its lease. Must
   * exceed the latest moment a live backup could still complete a takeover (see
   * `checkRecoveryParams`), so a primary that survives the grace knows the backup is dead.
   */
  readonly unprotectAfterMs: number;
}

/** Values used by the lab: a failover is detected within ~300 ms. */
export const DEFAULT_RECOVERY_PARAMS: RecoveryParams = {
  heartbeatIntervalMs: 50,
  leaseMs: 200,
  suspectAfterMs: 300,
  driftMarginMs: 40,
  stonithDeadlineMs: 500,
  maxLinkDelayMs: 20,
  unprotectAfterMs: 1_000,
};

/**
 * The least `unprotectAfterMs` that is safe: counted from the end of the primary's lease,
 * the backup's last heartbeat can be up to `heartbeatIntervalMs + 2 * maxLinkDelayMs` later
 * than the send time of the primary's last acknowledged one (heartbeats that arrived but
 * whose acks were lost); from that heartbeat the backup suspects within `suspectAfterMs` and
 * gives up STONITH after `stonithDeadlineMs` more; `driftMarginMs` covers clock rates.
 */
export const minUnprotectAfterMs = (p: RecoveryParams): number =>
  p.heartbeatIntervalMs +
  2 * p.maxLinkDelayMs +
  p.suspectAfterMs +
  p.stonithDeadlineMs +
  p.driftMarginMs -
  p.leaseMs;

/**
 * spec/ssw.md L.9: how long after a logger process died its replacement may start. The
 * primary's last lease was granted for a heartbeat sent before its logger link broke (L.8:
 * nothing renews it after), at most `maxLinkDelayMs` after the death was seen here (the
 * kernel's reset on its way); it runs out `leaseMs` after
 * that send at the latest, the primary goes unprotected `unprotectAfterMs` later (L.2) at its
 * first tick after (one `heartbeatIntervalMs` covers the tick), and `driftMarginMs` covers the
 * two hosts' clock rates. By then every connection the old logger held is unprotected at the
 * SSW and nothing of them is resent to the empty logger.
 */
export const loggerRestartDelayMs = (p: RecoveryParams): number =>
  p.maxLinkDelayMs + p.leaseMs + p.unprotectAfterMs + p.driftMarginMs + p.heartbeatIntervalMs;

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
      readonly kind: 'driftNotBelowLease';
      readonly driftMarginMs: number;
      readonly leaseMs: number;
    }
  | {
      readonly kind: 'unprotectTooEarly';
      readonly unprotectAfterMs: number;
      readonly minimum: number;
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
 * - `driftMarginMs < leaseMs`: the primary takes the margin off every lease (L.1); a lease no
 *   longer than the margin would end on arrival and the primary could never commit;
 * - `suspectAfterMs > leaseMs + driftMarginMs`: when the detector suspects, the last lease it
 *   granted has expired even on a primary whose clock runs slow, so the old primary has
 *   stopped committing (releasing acks and output) before the backup fences and takes over.
 */
export const checkRecoveryParams = (
  p: RecoveryParams,
): { ok: true; value: RecoveryParams } | { ok: false; error: RecoveryParamsError } => {
  const fields: (keyof RecoveryParams)[] = [
    'heartbeatIntervalMs',
    'leaseMs',
    'suspectAfterMs',
    'stonithDeadlineMs',
    'unprotectAfterMs',
  ];
  for (const field of fields) {
    const value = p[field];
    if (!Number.isInteger(value) || value <= 0) {
      return { ok: false, error: { kind: 'notPositiveInteger', field, value } };
    }
  }
  for (const field of ['driftMarginMs', 'maxLinkDelayMs'] as const) {
    if (!Number.isInteger(p[field]) || p[field] < 0) {
      return { ok: false, error: { kind: 'notPositiveInteger', field, value: p[field] } };
    }
  }
  for (const field of [...fields, 'driftMarginMs', 'maxLinkDelayMs'] as const) {
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
  if (p.driftMarginMs >= p.leaseMs) {
    return {
      ok: false,
      error: { kind: 'driftNotBelowLease', driftMarginMs: p.driftMarginMs, leaseMs: p.leaseMs },
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
  const minimum = minUnprotectAfterMs(p);
  if (p.unprotectAfterMs <= minimum) {
    return {
      ok: false,
      error: { kind: 'unprotectTooEarly', unprotectAfterMs: p.unprotectAfterMs, minimum },
    };
  }
  return { ok: true, value: p };
};

/** One line for a person: which relation a timing set breaks, with the numbers. */
export const formatRecoveryParamsError = (e: RecoveryParamsError): string => {
  switch (e.kind) {
    case 'notPositiveInteger':
      return `${e.field} must be a non-negative integer number of ms (positive unless a margin or delay), got ${e.value}`;
    case 'tooLarge':
      return `${e.field} = ${e.value} ms is over the ${MAX_TIMING_MS} ms bound (seconds for ms?)`;
    case 'leaseNotLongerThanInterval':
      return `P1: leaseMs (${e.leaseMs}) must exceed heartbeatIntervalMs (${e.heartbeatIntervalMs}), or a healthy primary's lease lapses between heartbeats`;
    case 'driftNotBelowLease':
      return `P4: driftMarginMs (${e.driftMarginMs}) must be below leaseMs (${e.leaseMs}), or every lease ends on arrival`;
    case 'suspectTooEarly':
      return `P2: suspectAfterMs (${e.suspectAfterMs}) must exceed leaseMs + driftMarginMs (${e.leaseMs} + ${e.driftMarginMs}), or the backup may act while the old primary still holds a lease`;
    case 'unprotectTooEarly':
      return `P3: unprotectAfterMs (${e.unprotectAfterMs}) must exceed ${e.minimum} (heartbeatIntervalMs + 2*maxLinkDelayMs + suspectAfterMs + stonithDeadlineMs + driftMarginMs - leaseMs), or a partitioned primary goes unprotected while the backup can still take over`;
  }
};
