// The logger's limits (spec/logger.md "Bounded memory"): every limit and its default once, the
// check that makes them explicit, and the flag that raises each one. Configuration only: what
// the logger does when one is reached is R15 (atLimit.ts in the core, abandon.ts in the store).

import type { LimitName } from '../../wire/logmsg.ts';

export interface LoggerLimits {
  /** Held client bytes + held encoded determinants + a fixed cost per connection record. */
  readonly maxStoredBytes: number;
  /** Connection records held (open, closed ones still needed, embryonic). */
  readonly maxConns: number;
  /** Determinants held. */
  readonly maxDets: number;
  /** Largest ReplayData payload the recovery service sends. */
  readonly replayChunkBytes: number;
  /** One checkpoint (blob + CKPT_CONN_COST per table entry); its own budget (R14.7). */
  readonly maxCheckpointBytes: number;
  /** R15.1: above this many stored bytes the logger asks for a checkpoint. */
  readonly highWaterBytes: number;
  /** R15.6: a record whose handshake has not completed this long after it was stored expires. */
  readonly embryonicTtlMs: number;
}

export const DEFAULT_LOGGER_LIMITS: LoggerLimits = {
  maxStoredBytes: 256 * 1024 * 1024,
  maxConns: 65536,
  maxDets: 8 * 1024 * 1024,
  replayChunkBytes: 64 * 1024,
  maxCheckpointBytes: 64 * 1024 * 1024,
  highWaterBytes: 128 * 1024 * 1024,
  embryonicTtlMs: 30_000,
};

/** What a connection record costs against `maxStoredBytes` (the SYN record and bookkeeping). */
export const CONN_RECORD_COST = 128;

/** R15.2: how long to wait for a checkpoint at a limit. */
export const DEFAULT_CHECKPOINT_WAIT_MS = 10_000;
/** R15.2: messages read but not stored, per link, before that link is paused. */
export const DEFAULT_MAX_PARKED_BYTES = 8 * 1024 * 1024;

/** The flag that raises each limit, for the operator (R15.4). */
export const LIMIT_FLAG: Record<LimitName, string> = {
  bytes: '--max-bytes',
  conns: '--max-conns',
  dets: '--max-dets',
};

export function withHighWater(base: LoggerLimits, l: Partial<LoggerLimits>): LoggerLimits {
  const next = { ...base, ...l };
  // R15.1: the high-water mark follows a new maxStoredBytes unless it is given too.
  if (l.highWaterBytes === undefined && l.maxStoredBytes !== undefined)
    return { ...next, highWaterBytes: Math.floor(l.maxStoredBytes / 2) };
  return next;
}

export function checkLimits(l: LoggerLimits): LoggerLimits {
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || v <= 0)
      throw new RangeError(`logger limit ${k} must be a positive integer, got ${v}`);
  }
  if (l.highWaterBytes > l.maxStoredBytes)
    throw new RangeError(
      `logger limit highWaterBytes ${l.highWaterBytes} is above maxStoredBytes ${l.maxStoredBytes}`,
    );
  return l;
}
