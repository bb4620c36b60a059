// The logger's store (spec/logger.md "Storage", "Bounded memory", "What is dropped, and
// when"): per-connection client byte streams with their SYN records, the NSW's determinant log,
// and the latest stored checkpoint. Pure logic: no I/O, no clock (time comes in as
// `expireEmbryonic(nowMs)`). `LoggerStore` holds the state (storeState.ts) and is the store's
// one door; each rule is in the file named after its section:
//   streams.ts        LogSyn, LogData, the SSW's hints; stream offsets (R14.8)
//   determinantLog.ts LogDeterminant, accept linking, CloseLogged owed
//   truncation.ts     R14.2-R14.7: checking and storing a checkpoint, ConnClosed (R14.5 c, e)
//   abandon.ts        R15.4 (a connection, the whole log), R15.6 embryonic expiry
//   replay.ts         the recovery service's answer (R14.9)
//   limits.ts         the limits and their defaults
//
// What the store promises (checked by test/machines/logger/store.test.ts):
// - an ack is never ahead of storage: `stableSeq` / `stableDet` are computed from what it
//   received, and a byte is dropped only when a stored checkpoint covers it (R14.5, I7);
// - it never holds more than its limits: an append that does not fit stores the prefix that
//   fits and reports `full` with the limit it hit; the caller parks the rest (R15);
// - a resent byte or determinant that it still holds must equal the stored one (`conflict`
//   otherwise), so a sender that reconnects and resends cannot silently rewrite history;
// - stream positions are 64-bit offsets; a 32-bit sequence number is placed by unwrapping it
//   against the stored end (R14.8), so a connection may pass 4 GiB.
// Epochs are not the store's business: it spans epochs, because the incarnation of epoch e+1
// recovers from what the incarnation of epoch e logged (spec/logger.md R8).

import type {
  Determinant,
  LimitName,
  LoggerMessage,
  SynRecord,
  UnprotectedReason,
} from '../../wire/logmsg.ts';
import { abandon, expireEmbryonic, unprotect } from './abandon.ts';
import type { StoredCheckpoint } from './checkpoint.ts';
import {
  type CloseAnnouncement,
  type DetOutcome,
  doneConns,
  logDeterminant,
  pendingCloses,
} from './determinantLog.ts';
import { checkLimits, DEFAULT_LOGGER_LIMITS, type LoggerLimits, withHighWater } from './limits.ts';
import { replay } from './replay.ts';
import {
  type Abandoned,
  concat,
  decodeStored,
  newStoreState,
  type StoreError,
  type StoreState,
  stableDetOf,
} from './storeState.ts';
import {
  clientAcked,
  connEstablished,
  type DataOutcome,
  type HintOutcome,
  logData,
  logSyn,
  type SynOutcome,
  stableSeqOf,
} from './streams.ts';
import {
  type ConnClosedOutcome,
  checkCheckpoint,
  connClosed,
  storeCheckpoint,
  type TruncationReport,
} from './truncation.ts';

export interface StoreUsage {
  /** held client bytes + held determinants + CONN_RECORD_COST per record */
  readonly storedBytes: number;
  readonly conns: number;
  readonly openConns: number;
  /** determinants held (from `detBase`) */
  readonly dets: number;
  /** the stored checkpoint's cost (0 without one) */
  readonly checkpointBytes: number;
  readonly embryonic: number;
  readonly abandoned: number;
}

export interface StreamInfo {
  readonly heldFrom: number;
  readonly end: number;
  readonly dropTo: number;
  readonly fin: boolean;
}

export class LoggerStore {
  private readonly s: StoreState;

  constructor(limits: Partial<LoggerLimits> = {}) {
    this.s = newStoreState(checkLimits(withHighWater(DEFAULT_LOGGER_LIMITS, limits)));
  }

  get limits(): LoggerLimits {
    return this.s.lim;
  }

  /**
   * New limits (an operator raising them). Lowering below what is held stores nothing more
   * until usage is under the new limit; nothing held is dropped. `highWaterBytes` follows a
   * new `maxStoredBytes` (half of it) unless given.
   */
  setLimits(limits: Partial<LoggerLimits>): void {
    this.s.lim = checkLimits(withHighWater(this.s.lim, limits));
  }

  /** One past the last stored determinant (absolute: truncation does not move it). */
  get stableDet(): number {
    return stableDetOf(this.s);
  }

  /** The first determinant still held (the stored checkpoint's D, or 0). */
  get detBase(): number {
    return this.s.base;
  }

  get checkpoint(): StoredCheckpoint | null {
    return this.s.ckpt;
  }

  /** R15.4: the whole log was given up; nothing is stored any more. */
  get unprotected(): boolean {
    return this.s.gaveUp;
  }

  /** R14.5 e: the SSW declared `unrecorded`: ConnClosed records are dropped at once. */
  setUnrecorded(on: boolean): void {
    this.s.unrecordedLog = on;
  }

  get unrecorded(): boolean {
    return this.s.unrecordedLog;
  }

  usage(): StoreUsage {
    const s = this.s;
    let open = 0;
    for (const c of s.conns.values()) if (!c.closed) open++;
    return {
      storedBytes: s.used,
      conns: s.conns.size,
      openConns: open,
      dets: s.dets.length,
      checkpointBytes: s.ckpt?.cost ?? 0,
      embryonic: s.embryonic.size,
      abandoned: s.abandonedConns.size,
    };
  }

  /** R15.1: the limit whose high-water mark usage has passed, if any. */
  aboveHighWater(): LimitName | null {
    const s = this.s;
    if (s.used > s.lim.highWaterBytes) return 'bytes';
    if (s.conns.size > s.lim.maxConns / 2) return 'conns';
    if (s.dets.length > s.lim.maxDets / 2) return 'dets';
    return null;
  }

  /** Use and maximum of one limit (for CheckpointWanted and the unprotected event). */
  measure(limit: LimitName): { readonly used: number; readonly max: number } {
    const s = this.s;
    switch (limit) {
      case 'bytes':
        return { used: s.used, max: s.lim.maxStoredBytes };
      case 'conns':
        return { used: s.conns.size, max: s.lim.maxConns };
      case 'dets':
        return { used: s.dets.length, max: s.lim.maxDets };
    }
  }

  /** A limit that is reached (nothing more of its kind fits), if any. */
  atLimit(): LimitName | null {
    const s = this.s;
    if (s.used >= s.lim.maxStoredBytes) return 'bytes';
    if (s.conns.size >= s.lim.maxConns) return 'conns';
    if (s.dets.length >= s.lim.maxDets) return 'dets';
    return null;
  }

  /** Every client byte of `conn` below this is stored (a stored FIN counts as one). */
  stableSeq(conn: number): number | undefined {
    const c = this.s.conns.get(conn);
    return c === undefined ? undefined : stableSeqOf(c);
  }

  finLogged(conn: number): boolean {
    return this.s.conns.get(conn)?.fin ?? false;
  }

  stream(conn: number): StreamInfo | undefined {
    const c = this.s.conns.get(conn);
    return c === undefined
      ? undefined
      : { heldFrom: c.heldFrom, end: c.end, dropTo: c.dropTo, fin: c.fin };
  }

  /** The held client bytes of `conn` ([heldFrom, end), a copy), for tests and diagnostics. */
  clientBytes(conn: number): Uint8Array | undefined {
    const c = this.s.conns.get(conn);
    if (c === undefined) return undefined;
    return concat(c.chunks, c.end - c.heldFrom);
  }

  hasConn(conn: number): boolean {
    return this.s.conns.has(conn);
  }

  isEstablished(conn: number): boolean {
    return this.s.conns.get(conn)?.established ?? false;
  }

  /** Why a connection was given up, if it was (R15.4, R15.6). */
  abandonedReason(conn: number): UnprotectedReason | undefined {
    return this.s.abandonedConns.get(conn);
  }

  /** The held determinants, decoded, in detSeq order (the first is `detBase`). */
  determinants(): Determinant[] {
    return this.s.dets.map(decodeStored);
  }

  /** R2: the connection record (streams.ts). */
  logSyn(msg: SynRecord): SynOutcome {
    return logSyn(this.s, msg);
  }

  /** R1: client bytes (streams.ts); R14.6, R14.8. */
  logData(conn: number, seq: number, payload: Uint8Array, fin: boolean): DataOutcome {
    return logData(this.s, conn, seq, payload, fin);
  }

  /** Lazy hint from the SSW (streams.ts). */
  clientAcked(conn: number, clientAck: number): HintOutcome {
    return clientAcked(this.s, conn, clientAck);
  }

  /** R15.6, spec/ssw.md R2.7 (streams.ts). */
  connEstablished(conn: number): HintOutcome {
    return connEstablished(this.s, conn);
  }

  /** R14.5 c, e (truncation.ts). */
  connClosed(conn: number): ConnClosedOutcome | Abandoned | StoreError {
    return connClosed(this.s, conn);
  }

  /** R3: one determinant (determinantLog.ts); `force`: R14.2. */
  logDeterminant(detSeq: number, det: Determinant, force = false): DetOutcome {
    return logDeterminant(this.s, detSeq, det, force);
  }

  /** CloseLogged owed to an SSW that (re)connects (determinantLog.ts). */
  pendingCloses(): CloseAnnouncement[] {
    return pendingCloses(this.s);
  }

  /** ConnDone owed to an NSW that (re)joins (determinantLog.ts). */
  doneConns(): number[] {
    return doneConns(this.s);
  }

  /** Why `ck` cannot be stored, or null (truncation.ts; I7). */
  checkCheckpoint(ck: StoredCheckpoint): string | null {
    return checkCheckpoint(this.s, ck);
  }

  /** R14.2, R14.4, R14.5 (truncation.ts). */
  storeCheckpoint(ck: StoredCheckpoint): TruncationReport {
    return storeCheckpoint(this.s, ck);
  }

  /** R15.4 conn scope (abandon.ts). */
  abandon(conn: number, reason: UnprotectedReason): void {
    abandon(this.s, conn, reason);
  }

  /** R15.6, on every tick (abandon.ts). */
  expireEmbryonic(nowMs: number): number[] {
    return expireEmbryonic(this.s, nowMs);
  }

  /** R15.4 app scope (abandon.ts). */
  unprotect(): void {
    unprotect(this.s);
  }

  /** The recovery service (FetchLog, R14.9; replay.ts). */
  replay(what: 'ssw' | 'nsw', resume = true): Generator<LoggerMessage, void, undefined> {
    return replay(this.s, what, resume);
  }
}
