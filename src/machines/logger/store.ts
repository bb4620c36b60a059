// The logger's store (spec/logger.md): per-connection client byte streams with their SYN
// records, the NSW's determinant log, and the latest stored checkpoint. Pure logic: no I/O,
// no clock (time comes in as `expireEmbryonic(nowMs)`). Mutable on purpose: it holds
// megabytes of client bytes, and an immutable copy per append would be quadratic.
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

import {
  type CheckpointConnEntry,
  type CloseHow,
  type Determinant,
  decodeDeterminant,
  encodeDeterminant,
  type LimitName,
  type LoggerMessage,
  type SynRecord,
  type UnprotectedReason,
} from '../../wire/logmsg.ts';
import { SEQ_MOD, seqAdd, seqGt, seqSub } from '../../wire/seq.ts';
import { checkpointFrames, type StoredCheckpoint } from './checkpoint.ts';

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

export type StoreErrorCode = 'unknownConn' | 'gap' | 'conflict';

export interface StoreError {
  readonly kind: 'error';
  readonly code: StoreErrorCode;
  readonly detail: string;
}

/** R15.4: a message for a connection the logger gave up (answered `Unprotected` again). */
export interface Abandoned {
  readonly kind: 'abandoned';
  readonly conn: number;
  readonly reason: UnprotectedReason;
}

export type SynOutcome =
  | { readonly kind: 'stored'; readonly conn: number }
  | { readonly kind: 'full'; readonly limit: LimitName }
  | StoreError;

export type DataOutcome =
  | {
      readonly kind: 'stored' | 'full';
      readonly conn: number;
      readonly stableSeq: number;
      readonly finLogged: boolean;
      /** bytes of this message newly stored (duplicates excluded; R14.6 bytes included) */
      readonly added: number;
      /** the limit that stopped it (`full`), else null */
      readonly limit: LimitName | null;
    }
  | Abandoned
  | StoreError;

/** CloseLogged owed to the SSW: the application's close of this client's connection is stored. */
export interface CloseAnnouncement {
  readonly conn: number;
  readonly clientAddr: number;
  readonly clientPort: number;
  readonly how: CloseHow;
  /** the close position in the server's output (close determinant `offset`, spec/ssw.md R5.2) */
  readonly offset: number;
}

export type DetOutcome =
  | {
      readonly kind: 'stored' | 'full';
      readonly stableDet: number;
      /** set when this append stored a `close` determinant for a connection the SSW still has */
      readonly closeLogged: CloseAnnouncement | null;
      readonly limit: LimitName | null;
    }
  | StoreError;

export type HintOutcome = null | Abandoned | StoreError;

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

/** What storing a checkpoint dropped (R14.5); `storedBytes` went down by `freedBytes`. */
export interface TruncationReport {
  readonly ckptId: number;
  readonly detSeq: number;
  readonly dets: number;
  readonly clientBytes: number;
  readonly records: number;
  readonly freedBytes: number;
  /** linked, accepted before D, absent from the table, yet not ConnClosed: kept (anomaly) */
  readonly keptUnlisted: number;
}

export interface StreamInfo {
  readonly heldFrom: number;
  readonly end: number;
  readonly dropTo: number;
  readonly fin: boolean;
}

export interface ConnClosedOutcome {
  /** the NSW connection the record was linked to: ConnDone is owed to the NSW (spec/logger.md) */
  readonly nswConn: number | null;
}

interface ConnLog {
  readonly syn: SynRecord;
  /** client sequence number of offset 0 (clientIsn + 1) */
  readonly startSeq: number;
  /** the held bytes [heldFrom, end), in order */
  chunks: Uint8Array[];
  heldFrom: number;
  end: number;
  /** R14.5 b: no recovery needs bytes below it */
  dropTo: number;
  fin: boolean;
  clientAck: number | null;
  /** R15.6: the handshake is known to have completed */
  established: boolean;
  /** R15.6: the first tick after it was stored (null until then) */
  stampMs: number | null;
  /** ConnClosed received: not re-created by the SSW any more; stream kept while needed */
  closed: boolean;
  /** the NSW connection number whose accept matched this record, once known */
  nswConn: number | null;
  /** the detSeq of that accept */
  acceptDet: number | null;
  /** the application's close (how, and its position in the output), once its determinant is stored */
  close: { readonly how: CloseHow; readonly offset: number } | null;
}

const storeError = (code: StoreErrorCode, detail: string): StoreError => ({
  kind: 'error',
  code,
  detail,
});

const optsEqual = (a: SynRecord['clientOpts'], b: SynRecord['clientOpts']): boolean =>
  a.mss === b.mss &&
  a.wscale === b.wscale &&
  a.sackOk === b.sackOk &&
  a.tsVal === b.tsVal &&
  a.tsEcr === b.tsEcr;

const synEqual = (a: SynRecord, b: SynRecord): boolean =>
  a.conn === b.conn &&
  a.clientAddr === b.clientAddr &&
  a.clientPort === b.clientPort &&
  a.serverAddr === b.serverAddr &&
  a.serverPort === b.serverPort &&
  a.clientIsn === b.clientIsn &&
  a.serverIsn === b.serverIsn &&
  optsEqual(a.clientOpts, b.clientOpts) &&
  optsEqual(a.serverOpts, b.serverOpts) &&
  Object.is(a.synTimeMs, b.synTimeMs);

/** The sequence number of a stream offset (exact for every safe-integer offset). */
export const seqOfOffset = (startSeq: number, offset: number): number =>
  seqAdd(startSeq, offset % SEQ_MOD);

/**
 * R14.8: the offset of `seq` in a stream whose stored end is at offset `end`. The signed
 * 32-bit distance from the end's sequence number is exact while the sender has less than
 * 2^31 bytes unacknowledged, which a TCP window (at most 2^30) guarantees.
 */
export const unwrapSeq = (startSeq: number, end: number, seq: number): number =>
  end + seqSub(seq, seqOfOffset(startSeq, end));

/** Does `b` equal the held bytes at held position `from` (0 = heldFrom)? Only resends take this path. */
const bytesEqualAt = (chunks: readonly Uint8Array[], from: number, b: Uint8Array): boolean => {
  let base = 0;
  let i = 0;
  for (const c of chunks) {
    const end = base + c.length;
    while (i < b.length && from + i < end) {
      if (c[from + i - base] !== b[i]) return false;
      i++;
    }
    base = end;
    if (i === b.length) return true;
  }
  return i === b.length;
};

export class LoggerStore {
  private lim: LoggerLimits;
  private readonly conns = new Map<number, ConnLog>();
  /** R15.6: records not yet established, by connId */
  private readonly embryonic = new Set<number>();
  /** R15.4: connections given up, with why; insertion order = age (bounded by maxConns) */
  private readonly abandonedConns = new Map<number, UnprotectedReason>();
  /** held determinants, encoded; dets[i] is detSeq detBase + i */
  private dets: Uint8Array[] = [];
  private base = 0;
  /** NSW conn -> the accept determinant's client address/port and position */
  private readonly accepts = new Map<
    number,
    { clientAddr: number; clientPort: number; detSeq: number }
  >();
  private used = 0;
  private ckpt: StoredCheckpoint | null = null;
  private gaveUp = false;
  private unrecordedLog = false;

  constructor(limits: Partial<LoggerLimits> = {}) {
    this.lim = checkLimits(withHighWater(DEFAULT_LOGGER_LIMITS, limits));
  }

  get limits(): LoggerLimits {
    return this.lim;
  }

  /**
   * New limits (an operator raising them). Lowering below what is held stores nothing more
   * until usage is under the new limit; nothing held is dropped. `highWaterBytes` follows a
   * new `maxStoredBytes` (half of it) unless given.
   */
  setLimits(limits: Partial<LoggerLimits>): void {
    this.lim = checkLimits(withHighWater(this.lim, limits));
  }

  /** One past the last stored determinant (absolute: truncation does not move it). */
  get stableDet(): number {
    return this.base + this.dets.length;
  }

  /** The first determinant still held (the stored checkpoint's D, or 0). */
  get detBase(): number {
    return this.base;
  }

  get checkpoint(): StoredCheckpoint | null {
    return this.ckpt;
  }

  /** R15.4: the whole log was given up; nothing is stored any more. */
  get unprotected(): boolean {
    return this.gaveUp;
  }

  /** R14.5 e: the SSW declared `unrecorded`: ConnClosed records are dropped at once. */
  setUnrecorded(on: boolean): void {
    this.unrecordedLog = on;
  }

  get unrecorded(): boolean {
    return this.unrecordedLog;
  }

  usage(): StoreUsage {
    let open = 0;
    for (const c of this.conns.values()) if (!c.closed) open++;
    return {
      storedBytes: this.used,
      conns: this.conns.size,
      openConns: open,
      dets: this.dets.length,
      checkpointBytes: this.ckpt?.cost ?? 0,
      embryonic: this.embryonic.size,
      abandoned: this.abandonedConns.size,
    };
  }

  /** R15.1: the limit whose high-water mark usage has passed, if any. */
  aboveHighWater(): LimitName | null {
    if (this.used > this.lim.highWaterBytes) return 'bytes';
    if (this.conns.size > this.lim.maxConns / 2) return 'conns';
    if (this.dets.length > this.lim.maxDets / 2) return 'dets';
    return null;
  }

  /** Use and maximum of one limit (for CheckpointWanted and the unprotected event). */
  measure(limit: LimitName): { readonly used: number; readonly max: number } {
    switch (limit) {
      case 'bytes':
        return { used: this.used, max: this.lim.maxStoredBytes };
      case 'conns':
        return { used: this.conns.size, max: this.lim.maxConns };
      case 'dets':
        return { used: this.dets.length, max: this.lim.maxDets };
    }
  }

  /** A limit that is reached (nothing more of its kind fits), if any. */
  atLimit(): LimitName | null {
    if (this.used >= this.lim.maxStoredBytes) return 'bytes';
    if (this.conns.size >= this.lim.maxConns) return 'conns';
    if (this.dets.length >= this.lim.maxDets) return 'dets';
    return null;
  }

  /** Every client byte of `conn` below this is stored (a stored FIN counts as one). */
  stableSeq(conn: number): number | undefined {
    const c = this.conns.get(conn);
    return c === undefined ? undefined : stableSeqOf(c);
  }

  finLogged(conn: number): boolean {
    return this.conns.get(conn)?.fin ?? false;
  }

  stream(conn: number): StreamInfo | undefined {
    const c = this.conns.get(conn);
    return c === undefined
      ? undefined
      : { heldFrom: c.heldFrom, end: c.end, dropTo: c.dropTo, fin: c.fin };
  }

  /** The held client bytes of `conn` ([heldFrom, end), a copy), for tests and diagnostics. */
  clientBytes(conn: number): Uint8Array | undefined {
    const c = this.conns.get(conn);
    if (c === undefined) return undefined;
    return concat(c.chunks, c.end - c.heldFrom);
  }

  hasConn(conn: number): boolean {
    return this.conns.has(conn);
  }

  isEstablished(conn: number): boolean {
    return this.conns.get(conn)?.established ?? false;
  }

  /** Why a connection was given up, if it was (R15.4, R15.6). */
  abandonedReason(conn: number): UnprotectedReason | undefined {
    return this.abandonedConns.get(conn);
  }

  /** The held determinants, decoded, in detSeq order (the first is `detBase`). */
  determinants(): Determinant[] {
    return this.dets.map(decodeStored);
  }

  /** R2: the connection record. A retransmitted identical LogSyn is answered again. */
  logSyn(msg: SynRecord): SynOutcome {
    // Only the record's own fields: callers pass the LogSyn message itself, whose `kind` must
    // not travel into the ReplaySyn built from this record.
    const syn = synRecordOf(msg);
    const have = this.conns.get(syn.conn);
    if (have !== undefined) {
      return synEqual(have.syn, syn)
        ? { kind: 'stored', conn: syn.conn }
        : storeError('conflict', `conn ${syn.conn}: a different SYN record is stored`);
    }
    if (this.conns.size >= this.lim.maxConns) return { kind: 'full', limit: 'conns' };
    if (this.used + CONN_RECORD_COST > this.lim.maxStoredBytes)
      return { kind: 'full', limit: 'bytes' };
    // A new record for a connection given up (R2.7: a late handshake logs its SYN again).
    this.abandonedConns.delete(syn.conn);
    this.conns.set(syn.conn, {
      syn,
      startSeq: seqAdd(syn.clientIsn, 1),
      chunks: [],
      heldFrom: 0,
      end: 0,
      dropTo: 0,
      fin: false,
      clientAck: null,
      established: false,
      stampMs: null,
      closed: false,
      nswConn: null,
      acceptDet: null,
      close: null,
    });
    this.embryonic.add(syn.conn);
    this.used += CONN_RECORD_COST;
    return { kind: 'stored', conn: syn.conn };
  }

  /**
   * R1: client bytes. `seq` may start below the stored end (a resend: the overlap with held
   * bytes must match, R14.6 below them) but not above it (a gap). Stores what fits under the
   * limits and reports `full` if some of the message (bytes or FIN) is left over; the caller
   * retries the same message later.
   */
  logData(conn: number, seq: number, payload: Uint8Array, fin: boolean): DataOutcome {
    const c = this.conns.get(conn);
    if (c === undefined) return this.unknown(conn, 'LogData');
    const off = unwrapSeq(c.startSeq, c.end, seq);
    if (off < 0) {
      return storeError('gap', `conn ${conn}: seq ${seq} is ${-off} bytes before the stream`);
    }
    if (off > c.end) {
      return storeError(
        'gap',
        `conn ${conn}: seq ${seq} is ${off - c.end} bytes beyond the stored end`,
      );
    }
    const overlap = Math.min(payload.length, c.end - off);
    // R14.6: bytes below heldFrom were dropped by a checkpoint; a resend of them is accepted
    // unchecked. The held part of the overlap must match.
    const unheld = Math.min(overlap, Math.max(0, c.heldFrom - off));
    if (
      overlap > unheld &&
      !bytesEqualAt(c.chunks, off + unheld - c.heldFrom, payload.subarray(unheld, overlap))
    ) {
      return storeError(
        'conflict',
        `conn ${conn}: resent bytes at seq ${seq} differ from the stored ones`,
      );
    }
    const fresh = payload.subarray(overlap);
    if (c.fin && (fresh.length > 0 || (fin && off + payload.length !== c.end))) {
      return storeError('conflict', `conn ${conn}: data or a different FIN after the stored FIN`);
    }
    if (c.end + fresh.length > Number.MAX_SAFE_INTEGER) {
      return storeError('conflict', `conn ${conn}: the stream would pass 2^53 bytes`);
    }
    // R14.6: the part below dropTo (bytes the application consumed before they were stored,
    // R14.3) moves the end without being held.
    const skip = Math.min(fresh.length, Math.max(0, c.dropTo - c.end));
    c.end += skip;
    if (c.heldFrom < c.end && c.chunks.length === 0) c.heldFrom = Math.min(c.end, c.dropTo);
    const rest = fresh.subarray(skip);
    const room = Math.max(0, this.lim.maxStoredBytes - this.used);
    const take = Math.min(rest.length, room);
    if (take > 0) {
      // Copied: the payload is a view into a frame buffer the link reuses.
      c.chunks.push(rest.slice(0, take));
      c.end += take;
      this.used += take;
    }
    const allBytes = take === rest.length;
    if (fin && allBytes) c.fin = true;
    if (skip + take > 0 || c.fin) this.establish(c);
    return {
      kind: allBytes ? 'stored' : 'full',
      conn,
      stableSeq: stableSeqOf(c),
      finLogged: c.fin,
      added: skip + take,
      limit: allBytes ? null : 'bytes',
    };
  }

  /** Lazy hint from the SSW (no reply): what the client holds of the server's stream. */
  clientAcked(conn: number, clientAck: number): HintOutcome {
    const c = this.conns.get(conn);
    if (c === undefined) return this.unknown(conn, 'ClientAcked');
    // Keep the highest in serial order: a hint resent after a reconnect must not lower it.
    if (c.clientAck === null || seqGt(clientAck, c.clientAck)) c.clientAck = clientAck;
    // R15.6: the client acknowledged server data beyond the SYN-ACK.
    if (seqGt(clientAck, seqAdd(c.syn.serverIsn, 1))) this.establish(c);
    return null;
  }

  /** R15.6, spec/ssw.md R2.7: the SSW saw the client acknowledge the SYN-ACK. */
  connEstablished(conn: number): HintOutcome {
    const c = this.conns.get(conn);
    if (c === undefined) return this.unknown(conn, 'ConnEstablished');
    this.establish(c);
    return null;
  }

  /**
   * The SSW will not re-create this connection any more. Its stream is kept while a recovery
   * may need it (R14.5 c), except in an unrecorded log (R14.5 e).
   */
  connClosed(conn: number): ConnClosedOutcome | Abandoned | StoreError {
    const c = this.conns.get(conn);
    if (c === undefined) {
      const r = this.unknown(conn, 'ConnClosed');
      // A record already dropped (R14.5 c/e) has nothing left to close.
      return r.kind === 'error' ? { nswConn: null } : r;
    }
    c.closed = true;
    this.establish(c);
    // R14.5 c at once: a close the SSW reports after the stored checkpoint already covers the
    // connection (accepted before D, gone from its table) drops the record now; waiting for
    // the next checkpoint kept it, and the NSW's entry awaiting ConnDone, for as long as the
    // application stayed idle.
    const ck = this.ckpt;
    if (
      ck !== null &&
      c.nswConn !== null &&
      c.acceptDet !== null &&
      c.acceptDet < ck.detSeq &&
      !ck.conns.some((e) => e.nswConn === c.nswConn)
    ) {
      this.dropRecord(c);
      this.accepts.delete(c.nswConn);
      return { nswConn: c.nswConn };
    }
    if (this.unrecordedLog) {
      this.dropRecord(c);
      if (c.nswConn !== null) this.accepts.delete(c.nswConn);
      this.trimUnrecordedDets();
      return { nswConn: null };
    }
    return { nswConn: c.nswConn };
  }

  /**
   * R3: one determinant. `detSeq` below `stableDet` is a resend (it must match what is held;
   * below `detBase` it is accepted unchecked, R14.6), above it a gap. `force` stores it past
   * the limits (R14.2: a determinant a complete checkpoint covers, dropped right after).
   */
  logDeterminant(detSeq: number, det: Determinant, force = false): DetOutcome {
    if (detSeq < this.base) {
      return { kind: 'stored', stableDet: this.stableDet, closeLogged: null, limit: null };
    }
    const enc = encodeDeterminant(det);
    if (detSeq < this.stableDet) {
      const have = this.dets[detSeq - this.base]!;
      return have.length === enc.length && have.every((b, i) => b === enc[i])
        ? { kind: 'stored', stableDet: this.stableDet, closeLogged: null, limit: null }
        : storeError('conflict', `determinant ${detSeq} differs from the stored one`);
    }
    if (detSeq > this.stableDet) {
      return storeError('gap', `determinant ${detSeq} but stableDet is ${this.stableDet}`);
    }
    if (det.kind === 'close' && !this.accepts.has(det.conn)) {
      return storeError('unknownConn', `close of NSW conn ${det.conn} without its accept`);
    }
    if (!force && this.dets.length >= this.lim.maxDets) {
      return { kind: 'full', stableDet: this.stableDet, closeLogged: null, limit: 'dets' };
    }
    if (!force && this.used + enc.length > this.lim.maxStoredBytes) {
      return { kind: 'full', stableDet: this.stableDet, closeLogged: null, limit: 'bytes' };
    }
    this.dets.push(enc);
    this.used += enc.length;
    let closeLogged: CloseAnnouncement | null = null;
    if (det.kind === 'accept') {
      this.accepts.set(det.conn, {
        clientAddr: det.clientAddr,
        clientPort: det.clientPort,
        detSeq,
      });
      this.link(det.conn);
    } else if (det.kind === 'close') {
      const c = this.link(det.conn);
      if (c !== undefined) {
        c.close = { how: det.how, offset: det.offset };
        if (!c.closed) closeLogged = announcement(c, c.close);
      }
    }
    return { kind: 'stored', stableDet: this.stableDet, closeLogged, limit: null };
  }

  /**
   * CloseLogged owed to an SSW that (re)connects: every connection the SSW still has whose
   * application close is stored. Matching is by connection record, not by address, so a client
   * port reused after ConnClosed never inherits an old close (R5).
   */
  pendingCloses(): CloseAnnouncement[] {
    const out: CloseAnnouncement[] = [];
    for (const c of this.conns.values()) {
      if (!c.closed && c.close !== null) out.push(announcement(c, c.close));
    }
    return out;
  }

  /**
   * Why `ck` cannot be stored, or null. I7 rests on this: a checkpoint never moves a
   * connection's truncation point back (a later checkpoint has read at least as far), and
   * never covers determinants the log has not got.
   */
  checkCheckpoint(ck: StoredCheckpoint): string | null {
    if (this.ckpt !== null && ck.detSeq < this.ckpt.detSeq)
      return `checkpoint ${ck.ckptId} at ${ck.detSeq} is behind the stored one at ${this.ckpt.detSeq}`;
    if (ck.detSeq > this.stableDet)
      return `checkpoint ${ck.ckptId} covers determinants up to ${ck.detSeq} but ${this.stableDet} are stored`;
    for (const e of ck.conns) {
      for (const c of this.conns.values()) {
        if (c.nswConn === e.nswConn && e.readOffset < c.dropTo)
          return `checkpoint ${ck.ckptId}: conn ${e.nswConn} read ${e.readOffset} < ${c.dropTo} of an earlier checkpoint`;
      }
    }
    return null;
  }

  /**
   * R14.2, R14.4, R14.5: `ck` becomes the stored checkpoint and the log is truncated by it.
   * The caller has checked R14.2's precondition (every determinant below D stored).
   */
  storeCheckpoint(ck: StoredCheckpoint): TruncationReport {
    if (ck.detSeq > this.stableDet) {
      throw new Error(
        `R14.2: checkpoint ${ck.ckptId} at ${ck.detSeq} stored with stableDet ${this.stableDet}`,
      );
    }
    const before = this.used;
    this.ckpt = ck;
    // a. determinants below D
    const nDets = ck.detSeq - this.base;
    let detBytes = 0;
    for (let i = 0; i < nDets; i++) detBytes += this.dets[i]!.length;
    this.dets = this.dets.slice(nDets);
    this.base = ck.detSeq;
    this.used -= detBytes;
    // b. the bytes each table connection had consumed
    const table = new Map<number, CheckpointConnEntry>(ck.conns.map((e) => [e.nswConn, e]));
    let clientBytes = 0;
    for (const e of ck.conns) {
      const c = this.linkEntry(e);
      if (c === undefined) continue;
      c.dropTo = Math.max(c.dropTo, e.readOffset);
      clientBytes += this.dropHeld(c);
    }
    // c. records finished before D: closed by the SSW, accepted before D, not in the table
    let records = 0;
    let keptUnlisted = 0;
    for (const c of [...this.conns.values()]) {
      if (c.nswConn === null || table.has(c.nswConn)) continue;
      if (c.acceptDet === null || c.acceptDet >= ck.detSeq) continue;
      if (c.closed) {
        this.dropRecord(c);
        records++;
      } else keptUnlisted++;
    }
    // d. accepts: only the table's and those after D can still be named by a close
    for (const [n, a] of this.accepts) {
      if (!table.has(n) && a.detSeq < ck.detSeq) this.accepts.delete(n);
    }
    return {
      ckptId: ck.ckptId,
      detSeq: ck.detSeq,
      dets: nDets,
      clientBytes,
      records,
      freedBytes: before - this.used,
      keptUnlisted,
    };
  }

  /** R15.4 conn scope: give a connection up (its record is dropped, its memory freed). */
  abandon(conn: number, reason: UnprotectedReason): void {
    const c = this.conns.get(conn);
    if (c !== undefined) {
      this.dropRecord(c);
      if (c.nswConn !== null && !this.isInCheckpoint(c.nswConn)) this.accepts.delete(c.nswConn);
    }
    this.abandonedConns.delete(conn);
    this.abandonedConns.set(conn, reason);
    // Bounded: the oldest abandoned connections are forgotten first.
    while (this.abandonedConns.size > this.lim.maxConns) {
      const oldest = this.abandonedConns.keys().next().value;
      if (oldest === undefined) break;
      this.abandonedConns.delete(oldest);
    }
  }

  /**
   * R15.6: called on every tick. Stamps records stored since the last tick, and expires the
   * embryonic ones stamped at least `embryonicTtlMs` ago (abandoned with `embryonicExpired`).
   */
  expireEmbryonic(nowMs: number): number[] {
    const expired: number[] = [];
    for (const id of [...this.embryonic]) {
      const c = this.conns.get(id);
      if (c === undefined || c.established) {
        this.embryonic.delete(id);
        continue;
      }
      if (c.stampMs === null) c.stampMs = nowMs;
      else if (nowMs - c.stampMs >= this.lim.embryonicTtlMs) {
        this.abandon(id, 'embryonicExpired');
        expired.push(id);
      }
    }
    return expired;
  }

  /** R15.4 app scope: the whole log is dropped; nothing is stored any more. */
  unprotect(): void {
    this.gaveUp = true;
    this.conns.clear();
    this.embryonic.clear();
    this.dets = [];
    this.accepts.clear();
    this.ckpt = null;
    this.used = 0;
  }

  /**
   * The recovery service (FetchLog, R14.9). 'ssw': the connections to re-create. 'nsw': the
   * stored checkpoint, the closed connections' streams (replayed to the application as
   * connections without a kernel socket), then the held determinants. Each ends with
   * ReplayEnd, whose `dets` is one past the last determinant (the next detSeq). `resume`: the
   * peer declared Capabilities (it gets the checkpoint and ReplayResume). A snapshot: neither
   * later appends nor a later truncation are seen.
   */
  replay(what: 'ssw' | 'nsw', resume = true): Generator<LoggerMessage, void, undefined> {
    // Captured now, not when the generator first runs: chunk arrays are copied, and chunks are
    // never changed in place (a truncation replaces a cut chunk by a copy of its remainder).
    const ck = what === 'nsw' && resume ? this.ckpt : null;
    const table = new Map<number, CheckpointConnEntry>(
      (this.ckpt?.conns ?? []).map((e) => [e.nswConn, e]),
    );
    const conns = [...this.conns.values()]
      .filter((c) => c.closed === (what === 'nsw'))
      .sort((a, b) => a.syn.conn - b.syn.conn)
      .map((c) => {
        const e = c.nswConn === null ? undefined : table.get(c.nswConn);
        return {
          syn: c.syn,
          startSeq: c.startSeq,
          clientAck: c.clientAck,
          heldFrom: c.heldFrom,
          end: c.end,
          fin: c.fin,
          chunks: c.chunks.slice(),
          readOffset: e?.readOffset ?? 0,
          outputFrom: e?.outputFrom ?? 0,
        };
      });
    const dets = what === 'nsw' ? this.dets.slice() : [];
    const base = this.base;
    const next = what === 'nsw' ? this.stableDet : 0;
    const chunk = this.lim.replayChunkBytes;
    return (function* (): Generator<LoggerMessage, void, undefined> {
      if (ck !== null) yield* checkpointFrames(ck);
      let bytes = 0;
      for (const s of conns) {
        bytes += s.end - s.heldFrom;
        yield { ...s.syn, kind: 'ReplaySyn', clientAck: s.clientAck };
        if (resume) {
          yield {
            kind: 'ReplayResume',
            conn: s.syn.conn,
            readOffset: s.readOffset,
            outputFrom: s.outputFrom,
            end: s.end,
          };
        }
        yield* replayData(s.syn.conn, s.startSeq, s.heldFrom, s.chunks, s.end, s.fin, chunk);
      }
      for (let i = 0; i < dets.length; i++) {
        yield { kind: 'ReplayDeterminant', detSeq: base + i, det: decodeStored(dets[i]!) };
      }
      yield { kind: 'ReplayEnd', conns: conns.length, bytes, dets: next };
    })();
  }

  private unknown(conn: number, what: string): Abandoned | StoreError {
    const reason = this.abandonedConns.get(conn);
    return reason !== undefined
      ? { kind: 'abandoned', conn, reason }
      : storeError('unknownConn', `${what} for conn ${conn} without LogSyn`);
  }

  private establish(c: ConnLog): void {
    if (c.established) return;
    c.established = true;
    this.embryonic.delete(c.syn.conn);
  }

  private dropRecord(c: ConnLog): void {
    this.used -= c.end - c.heldFrom + CONN_RECORD_COST;
    this.conns.delete(c.syn.conn);
    this.embryonic.delete(c.syn.conn);
  }

  private isInCheckpoint(nswConn: number): boolean {
    return this.ckpt?.conns.some((e) => e.nswConn === nswConn) ?? false;
  }

  /** R14.5 b: drop the held bytes below min(end, dropTo); returns how many. */
  private dropHeld(c: ConnLog): number {
    const to = Math.min(c.end, c.dropTo);
    let n = to - c.heldFrom;
    if (n <= 0) return 0;
    const dropped = n;
    let i = 0;
    while (n > 0) {
      const ch = c.chunks[i]!;
      if (ch.length <= n) {
        n -= ch.length;
        i++;
      } else {
        // R14.7: a copy of the remainder, so the dropped part's buffer can be freed.
        c.chunks[i] = ch.slice(n);
        n = 0;
      }
    }
    c.chunks = c.chunks.slice(i);
    c.heldFrom = to;
    this.used -= dropped;
    return dropped;
  }

  /** R14.5 e: drop the determinant prefix that names only dropped records. */
  private trimUnrecordedDets(): void {
    let n = 0;
    let bytes = 0;
    const live = new Set<number>();
    for (const c of this.conns.values()) if (c.nswConn !== null) live.add(c.nswConn);
    for (const enc of this.dets) {
      const d = decodeStored(enc);
      if (d.kind !== 'accept' && d.kind !== 'close') break;
      if (live.has(d.conn) || this.accepts.has(d.conn)) break;
      n++;
      bytes += enc.length;
    }
    if (n === 0) return;
    this.dets = this.dets.slice(n);
    this.base += n;
    this.used -= bytes;
  }

  /** The open connection record a NSW conn corresponds to, linked on first use. */
  private link(nswConn: number): ConnLog | undefined {
    for (const c of this.conns.values()) if (c.nswConn === nswConn) return c;
    const a = this.accepts.get(nswConn);
    if (a === undefined) return undefined;
    return this.linkTo(nswConn, a.clientAddr, a.clientPort, a.detSeq);
  }

  /** The record of a checkpoint table entry (linked now if its accept was not yet). */
  private linkEntry(e: CheckpointConnEntry): ConnLog | undefined {
    for (const c of this.conns.values()) if (c.nswConn === e.nswConn) return c;
    // No accept left in the map means it was below an earlier checkpoint's D (R14.5 d).
    const a = this.accepts.get(e.nswConn);
    return this.linkTo(e.nswConn, e.clientAddr, e.clientPort, a?.detSeq ?? -1);
  }

  private linkTo(
    nswConn: number,
    clientAddr: number,
    clientPort: number,
    acceptDet: number | null,
  ): ConnLog | undefined {
    // The lowest unlinked open record of that client address/port: the 4-tuple cannot be in
    // use twice at once, and the SSW assigns connIds in increasing order.
    let best: ConnLog | undefined;
    for (const c of this.conns.values()) {
      if (c.nswConn !== null || c.closed) continue;
      if (c.syn.clientAddr !== clientAddr || c.syn.clientPort !== clientPort) continue;
      if (best === undefined || c.syn.conn < best.syn.conn) best = c;
    }
    if (best !== undefined) {
      best.nswConn = nswConn;
      best.acceptDet = acceptDet;
      this.establish(best);
    }
    return best;
  }
}

const synRecordOf = (m: SynRecord): SynRecord => ({
  conn: m.conn,
  clientAddr: m.clientAddr,
  clientPort: m.clientPort,
  serverAddr: m.serverAddr,
  serverPort: m.serverPort,
  clientIsn: m.clientIsn,
  serverIsn: m.serverIsn,
  clientOpts: m.clientOpts,
  serverOpts: m.serverOpts,
  synTimeMs: m.synTimeMs,
});

function withHighWater(base: LoggerLimits, l: Partial<LoggerLimits>): LoggerLimits {
  const next = { ...base, ...l };
  // R15.1: the high-water mark follows a new maxStoredBytes unless it is given too.
  if (l.highWaterBytes === undefined && l.maxStoredBytes !== undefined)
    return { ...next, highWaterBytes: Math.floor(l.maxStoredBytes / 2) };
  return next;
}

function checkLimits(l: LoggerLimits): LoggerLimits {
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

const stableSeqOf = (c: ConnLog): number => seqOfOffset(c.startSeq, c.end + (c.fin ? 1 : 0));

const announcement = (
  c: ConnLog,
  close: { readonly how: CloseHow; readonly offset: number },
): CloseAnnouncement => ({
  conn: c.syn.conn,
  clientAddr: c.syn.clientAddr,
  clientPort: c.syn.clientPort,
  how: close.how,
  offset: close.offset,
});

function decodeStored(b: Uint8Array): Determinant {
  const r = decodeDeterminant(b);
  // The store only holds bytes it encoded itself; failing here means memory corruption.
  if (!r.ok) throw new Error(`logger store: stored determinant does not decode: ${r.error.detail}`);
  return r.value;
}

function concat(parts: readonly Uint8Array[], len: number): Uint8Array {
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function* replayData(
  conn: number,
  startSeq: number,
  heldFrom: number,
  chunks: readonly Uint8Array[],
  end: number,
  fin: boolean,
  max: number,
): Generator<LoggerMessage, void, undefined> {
  // Re-chunk the held stream into pieces of at most `max` bytes, in sequence order.
  const len = end - heldFrom;
  let off = heldFrom;
  let pending: Uint8Array[] = [];
  let pendingLen = 0;
  let sent = 0;
  const flush = function* (last: boolean): Generator<LoggerMessage, void, undefined> {
    const payload = concat(pending, pendingLen);
    yield { kind: 'ReplayData', conn, seq: seqOfOffset(startSeq, off), payload, fin: last && fin };
    off += pendingLen;
    sent += pendingLen;
    pending = [];
    pendingLen = 0;
  };
  for (const ch of chunks) {
    let from = 0;
    while (from < ch.length) {
      const take = Math.min(max - pendingLen, ch.length - from);
      pending.push(ch.subarray(from, from + take));
      pendingLen += take;
      from += take;
      if (pendingLen === max && sent + pendingLen < len) yield* flush(false);
    }
  }
  // The last piece carries the FIN; a stream with no bytes but a FIN is one empty ReplayData.
  if (pendingLen > 0 || fin) yield* flush(true);
}
