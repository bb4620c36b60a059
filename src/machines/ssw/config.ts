// SSW configuration (spec/ssw.md "Engine contract", "Limits", L.1): what the runtime passes
// to `new SswEngine`, every bound the engine keeps (SswLimits), every timing default once
// (SswTimings, resolved when the engine is built) and the check that refuses a configuration
// the lease rule cannot work with (L.1 `checkSswConfig`).

import type { MacAddress } from '../../wire/addr.ts';
import type { ChecksumMode } from '../../wire/checksum.ts';
import { DEFAULT_RECOVERY_PARAMS, MAX_TIMING_MS } from '../recovery/params.ts';

export interface SswLimits {
  /** R2.5: connections tracked at once; new SYNs beyond are dropped. */
  readonly maxConnections: number;
  /** R1.1: out-of-order client bytes held per connection until the hole fills. */
  readonly maxHeldBytes: number;
  /** R1.6: client bytes handed to the logger and not yet stored, host-wide. */
  readonly maxQueuedLogBytes: number;
  /** R6.1: logged client stream kept per connection for injection. */
  readonly maxReplayBytes: number;
  /** A.3: client MAC addresses remembered. */
  readonly maxNeighbors: number;
  /** R6.10: client connections whose latest segment a standby keeps for its re-creation. */
  readonly maxStandbyKept: number;
  /** R6.10: a kept segment older than this (ms) when its connection is re-created is dropped. */
  readonly standbyKeptMaxAgeMs: number;
  /** R5.8: determinants the recorder link may hold unacknowledged (or queued) at once. */
  readonly maxRecorderPending: number;
  /** R2.8: server ports remembered as served (a kernel SYN-ACK or a logged record seen). */
  readonly maxServedPorts: number;
}

export const DEFAULT_SSW_LIMITS: SswLimits = {
  maxConnections: 4096,
  maxHeldBytes: 1 << 20,
  maxQueuedLogBytes: 16 << 20,
  maxReplayBytes: 256 << 20,
  maxNeighbors: 1024,
  maxStandbyKept: 1024,
  standbyKeptMaxAgeMs: 2000,
  maxRecorderPending: 4096,
  maxServedPorts: 1024,
};

export interface SswConfig {
  /** The service address (IPv4 as u32) the SSW fronts. */
  readonly serviceAddr: number;
  /** This host's MAC on the LAN; ARP answers and outgoing frames use it. */
  readonly serviceMac: MacAddress;
  /** 'ftTcp': the protocol. 'forward': plain wrapper, no logging (the benchmark baseline). */
  readonly mode: 'ftTcp' | 'forward';
  /** A primary starts 'active' (it announces itself); a backup 'standby' until takeover(). */
  readonly role: 'active' | 'standby';
  readonly limits?: Partial<SswLimits>;
  /** First connId this SSW assigns (R6.1 raises it above every replayed one). Default 1. */
  readonly firstConnId?: number;
  /** R6.3 safety margin added to the estimated TSval clock. Default 60 000 ms. */
  readonly tsMarginMs?: number;
  /**
   * L.1 lease safety margin (clock-rate drift, A4), taken off every lease. Default
   * `DEFAULT_LEASE_MARGIN_MS` (spec/recovery.md `driftMarginMs`, 40 ms); must be below every
   * lease granted, or the lease would end on arrival.
   */
  readonly leaseMarginMs?: number;
  /**
   * The lease the logger and detector grant (spec/recovery.md `leaseMs`), if the runtime
   * knows it: only checked against `leaseMarginMs` at construction (`checkSswConfig`).
   */
  readonly expectedLeaseMs?: number;
  /**
   * L.2: how long past the end of its lease the primary keeps stalling (protected, acks frozen
   * at `stableSeq`) before it serves unprotected. Must exceed the latest moment a live backup
   * could still complete a takeover (spec/recovery.md G.3, `minUnprotectAfterMs`), or a
   * partitioned primary would ack bytes that the backup's replay lacks. Default
   * `DEFAULT_RECOVERY_PARAMS.unprotectAfterMs`.
   */
  readonly unprotectAfterMs?: number;
  /** Start-up: without a Welcome for this long the SSW goes unprotected (L.2). Default 5 000. */
  readonly startupGraceMs?: number;
  /** R1.7: how often changed client acks are reported to the logger. Default 100 ms. */
  readonly clientAckedEveryMs?: number;
  /** R6.5: re-inject from the kernel's ack when it has not moved for this long. Default 500. */
  readonly reinjectMs?: number;
  /** R6.3: fake SYN retry interval when the kernel answers RST. Default 200 ms. */
  readonly recreateRetryMs?: number;
  /** How long a closing connection whose FINs are not both acked is kept. Default 10 000 ms. */
  readonly closeLingerMs?: number;
  /**
   * R2.8: how long after the first kernel refusal of a SYN it withheld on a served port the
   * SSW, still not told of an application death, keeps withholding refusals there. Default
   * 800 ms: far longer than the runtime takes to report an exit, and shorter than the client's
   * first SYN retry (1 s, RFC 6298 §2), which then gets the refusal of an application that is
   * alive and really does not listen.
   */
  readonly refusalGraceMs?: number;
  /** R5.11: how long the 4-tuple of a connection forgotten after both FINs stays quiet.
   * Default 1 000 ms. */
  readonly closeQuietMs?: number;
  /** R6.8: duplicate ACKs sent at go-live. Default 3 (the client's fast-retransmit trigger). */
  readonly promptAcks?: number;
  /** A.2: gratuitous ARPs at takeover. Default 3. */
  readonly gratuitousArps?: number;
  /** Verify client TCP checksums before logging (a corrupt byte must never be logged). */
  readonly verifyLanChecksums?: boolean;
  /**
   * True if every TUN packet handed to onTunPacket has 14 writable bytes before it in its
   * ArrayBuffer (read the TUN into `buf.subarray(14)`): the Ethernet header is then written in
   * place and nothing is copied. Otherwise each outbound packet is copied once.
   */
  readonly tunHeadroom?: boolean;
  /**
   * Added to `nowMs` to get wall-clock ms (e.g. `performance.timeOrigin` when the runtime
   * passes `performance.now()`). `synTimeMs` is logged in wall-clock time because a backup
   * compares it with its own clock at failover (R6.3); `nowMs` itself only needs to be
   * monotonic. Default 0: `nowMs` is already wall-clock time.
   */
  readonly wallClockOffsetMs?: number;
  /** How rewritten checksums are maintained (see wire/checksum.ts). Default 'full'. */
  readonly checksum?: ChecksumMode;
  /**
   * R5.8: whether the served application records its determinants through the NSW (default
   * true). False for an unmodified server (iperf3, a plain echo): no CloseLogged would ever
   * come for it, so the SSW records its closes itself, at the kernel's FIN/RST position, on
   * the recorder link (effects `{to: 'recorder'}`, answers to `onRecorderMessage`), and
   * releases them on the CloseLogged that follows as R5.2 says. No NSW may write determinants
   * to the same logger then.
   */
  readonly appRecorded?: boolean;
}

/**
 * L.1 default margin: the detector's drift allowance (spec/recovery.md `driftMarginMs`), so a
 * 200 ms lease leaves the primary 160 ms from the send of each acknowledged heartbeat.
 */
export const DEFAULT_LEASE_MARGIN_MS = DEFAULT_RECOVERY_PARAMS.driftMarginMs;

/** How many heartbeat send times are kept for their acks (older ones are forgotten). */
export const MAX_OUTSTANDING_HEARTBEATS = 64;

/** A configuration the engine refuses (thrown by the constructor as `SswConfigInvalid`). */
export type SswConfigError =
  | { readonly kind: 'badLeaseMargin'; readonly leaseMarginMs: number }
  | { readonly kind: 'badExpectedLease'; readonly expectedLeaseMs: number }
  | {
      readonly kind: 'marginNotBelowLease';
      readonly leaseMarginMs: number;
      readonly expectedLeaseMs: number;
    };

export class SswConfigInvalid extends Error {
  readonly error: SswConfigError;
  constructor(error: SswConfigError) {
    super(`ssw config: ${JSON.stringify(error)}`);
    this.name = 'SswConfigInvalid';
    this.error = error;
  }
}

const isTiming = (v: number): boolean => Number.isFinite(v) && v >= 0 && v <= MAX_TIMING_MS;

/** L.1: the margin is a sane duration and shorter than the lease it is taken off. */
export const checkSswConfig = (config: SswConfig): SswConfigError | undefined => {
  const leaseMarginMs = config.leaseMarginMs ?? DEFAULT_SSW_TIMINGS.leaseMarginMs;
  if (!isTiming(leaseMarginMs)) return { kind: 'badLeaseMargin', leaseMarginMs };
  const expectedLeaseMs = config.expectedLeaseMs;
  if (expectedLeaseMs === undefined) return undefined;
  if (!isTiming(expectedLeaseMs) || expectedLeaseMs === 0)
    return { kind: 'badExpectedLease', expectedLeaseMs };
  if (leaseMarginMs >= expectedLeaseMs)
    return { kind: 'marginNotBelowLease', leaseMarginMs, expectedLeaseMs };
  return undefined;
};

/** The engine's durations with every default applied: read from here, never `?? n` inline. */
export interface SswTimings {
  /** R6.3: margin added to the estimated TSval clock of the first incarnation. */
  readonly tsMarginMs: number;
  /** L.1: taken off every lease (clock-rate drift, A4). */
  readonly leaseMarginMs: number;
  /** L.2: how long past its lease a primary stalls before it serves unprotected. */
  readonly unprotectAfterMs: number;
  /** L.2 / R2.6: without a Welcome for this long after start the SSW goes unprotected. */
  readonly startupGraceMs: number;
  /** R1.7: how often changed client acks are reported (ClientAcked). */
  readonly clientAckedEveryMs: number;
  /** R6.5: re-inject from the kernel's ack when it has not moved for this long. */
  readonly reinjectMs: number;
  /** R6.3: fake SYN retry interval when the kernel answers RST. */
  readonly recreateRetryMs: number;
  /** R5.7: how long a closing connection whose FINs are not both acked is kept. */
  readonly closeLingerMs: number;
  /** R5.11: how long the 4-tuple of a connection forgotten after both FINs stays quiet: the
   * client's answer to anything the kernel sent before it closed arrives within this. */
  readonly closeQuietMs: number;
  /** A.3: how often an unanswered ARP request for a client is repeated. */
  readonly arpRetryMs: number;
  /** R2.8: how long refusals of SYNs on a served port are withheld before the SSW believes them. */
  readonly refusalGraceMs: number;
}

export const DEFAULT_SSW_TIMINGS: SswTimings = {
  tsMarginMs: 60_000,
  leaseMarginMs: DEFAULT_LEASE_MARGIN_MS,
  unprotectAfterMs: DEFAULT_RECOVERY_PARAMS.unprotectAfterMs,
  startupGraceMs: 5000,
  clientAckedEveryMs: 100,
  reinjectMs: 500,
  recreateRetryMs: 200,
  closeLingerMs: 10_000,
  closeQuietMs: 1000,
  arpRetryMs: 1000,
  refusalGraceMs: 800,
};

/** The configured durations, defaults filled in (`arpRetryMs` is not configurable). */
export const timingsOf = (config: SswConfig): SswTimings => {
  const d = DEFAULT_SSW_TIMINGS;
  return {
    tsMarginMs: config.tsMarginMs ?? d.tsMarginMs,
    leaseMarginMs: config.leaseMarginMs ?? d.leaseMarginMs,
    unprotectAfterMs: config.unprotectAfterMs ?? d.unprotectAfterMs,
    startupGraceMs: config.startupGraceMs ?? d.startupGraceMs,
    clientAckedEveryMs: config.clientAckedEveryMs ?? d.clientAckedEveryMs,
    reinjectMs: config.reinjectMs ?? d.reinjectMs,
    recreateRetryMs: config.recreateRetryMs ?? d.recreateRetryMs,
    closeLingerMs: config.closeLingerMs ?? d.closeLingerMs,
    closeQuietMs: config.closeQuietMs ?? d.closeQuietMs,
    arpRetryMs: d.arpRetryMs,
    refusalGraceMs: config.refusalGraceMs ?? d.refusalGraceMs,
  };
};

/** R6.8: identical pure ACKs sent at go-live (the client's fast-retransmit trigger). */
export const DEFAULT_PROMPT_ACKS = 3;
/** A.2: gratuitous ARPs sent at takeover. */
export const DEFAULT_GRATUITOUS_ARPS = 3;
/** A.3: frames kept per address while its MAC is being asked for (oldest dropped beyond). */
export const MAX_FRAMES_AWAITING_ARP = 8;
