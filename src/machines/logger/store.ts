// The logger's store (spec/logger.md): per-connection client byte streams with their SYN
// records, and the NSW's determinant log. Pure logic: no I/O, no clock. Mutable on purpose:
// it holds megabytes of client bytes, and an immutable copy per append would be quadratic.
//
// What the store promises (checked by test/machines/logger/store.test.ts):
// - an ack is never ahead of storage: `stableSeq` / `stableDet` are computed from what is held;
// - it never holds more than its limits: an append that does not fit stores the prefix that
//   fits and reports `full`; the caller parks the rest and stops reading that link
//   (backpressure), so nothing is dropped and nothing unstored is acknowledged;
// - a resent byte or determinant must equal the stored one (`conflict` otherwise), so a sender
//   that reconnects and resends from its last ack cannot silently rewrite history.
// Epochs are not the store's business: it spans epochs, because the incarnation of epoch e+1
// recovers from what the incarnation of epoch e logged (spec/logger.md R8).

import {
  type CloseHow,
  type Determinant,
  decodeDeterminant,
  encodeDeterminant,
  type LoggerMessage,
  type SynRecord,
} from '../../wire/logmsg.ts';
import { seqAdd, seqGt } from '../../wire/seq.ts';

export interface LoggerLimits {
  /** Client bytes + encoded determinants + a fixed cost per connection record. */
  readonly maxStoredBytes: number;
  /** Connection records held (open, and closed ones kept for NSW replay). */
  readonly maxConns: number;
  /** Determinants held. */
  readonly maxDets: number;
  /** Largest ReplayData payload the recovery service sends. */
  readonly replayChunkBytes: number;
}

export const DEFAULT_LOGGER_LIMITS: LoggerLimits = {
  maxStoredBytes: 256 * 1024 * 1024,
  maxConns: 65536,
  maxDets: 8 * 1024 * 1024,
  replayChunkBytes: 64 * 1024,
};

/** What a connection record costs against `maxStoredBytes` (the SYN record and bookkeeping). */
export const CONN_RECORD_COST = 128;

export type StoreErrorCode = 'unknownConn' | 'gap' | 'conflict';

export interface StoreError {
  readonly kind: 'error';
  readonly code: StoreErrorCode;
  readonly detail: string;
}

export type SynOutcome =
  | { readonly kind: 'stored'; readonly conn: number }
  | { readonly kind: 'full' }
  | StoreError;

export type DataOutcome =
  | {
      readonly kind: 'stored' | 'full';
      readonly conn: number;
      readonly stableSeq: number;
      readonly finLogged: boolean;
      /** bytes of this message newly stored (duplicates excluded) */
      readonly added: number;
    }
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
    }
  | StoreError;

export interface StoreUsage {
  readonly storedBytes: number;
  readonly conns: number;
  readonly openConns: number;
  readonly dets: number;
}

interface ConnLog {
  readonly syn: SynRecord;
  /** client sequence number of the first data byte (clientIsn + 1) */
  readonly startSeq: number;
  readonly chunks: Uint8Array[];
  bytes: number;
  fin: boolean;
  clientAck: number | null;
  /** ConnClosed received: not re-created by the SSW any more; stream kept for NSW replay */
  closed: boolean;
  /** the NSW connection number whose accept matched this record, once known */
  nswConn: number | null;
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

/** Does `b` equal the stored stream at offset `from`? Only resends take this path. */
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
  private readonly dets: Uint8Array[] = [];
  /** NSW conn -> the accept determinant's client address/port */
  private readonly accepts = new Map<number, { clientAddr: number; clientPort: number }>();
  private used = 0;

  constructor(limits: Partial<LoggerLimits> = {}) {
    this.lim = checkLimits({ ...DEFAULT_LOGGER_LIMITS, ...limits });
  }

  get limits(): LoggerLimits {
    return this.lim;
  }

  /**
   * New limits (an operator raising them to leave backpressure). Lowering below what is held
   * stores nothing more until usage is under the new limit; nothing held is dropped.
   */
  setLimits(limits: Partial<LoggerLimits>): void {
    this.lim = checkLimits({ ...this.lim, ...limits });
  }

  get stableDet(): number {
    return this.dets.length;
  }

  usage(): StoreUsage {
    let open = 0;
    for (const c of this.conns.values()) if (!c.closed) open++;
    return {
      storedBytes: this.used,
      conns: this.conns.size,
      openConns: open,
      dets: this.dets.length,
    };
  }

  /** Every client byte of `conn` below this is stored (a stored FIN counts as one). */
  stableSeq(conn: number): number | undefined {
    const c = this.conns.get(conn);
    return c === undefined ? undefined : stableSeqOf(c);
  }

  finLogged(conn: number): boolean {
    return this.conns.get(conn)?.fin ?? false;
  }

  /** The stored client bytes of `conn` (a copy), for tests and diagnostics. */
  clientBytes(conn: number): Uint8Array | undefined {
    const c = this.conns.get(conn);
    if (c === undefined) return undefined;
    const out = new Uint8Array(c.bytes);
    let o = 0;
    for (const ch of c.chunks) {
      out.set(ch, o);
      o += ch.length;
    }
    return out;
  }

  /** The stored determinants, decoded, in detSeq order. */
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
    if (
      this.conns.size >= this.limits.maxConns ||
      this.used + CONN_RECORD_COST > this.limits.maxStoredBytes
    ) {
      return { kind: 'full' };
    }
    this.conns.set(syn.conn, {
      syn,
      startSeq: seqAdd(syn.clientIsn, 1),
      chunks: [],
      bytes: 0,
      fin: false,
      clientAck: null,
      closed: false,
      nswConn: null,
      close: null,
    });
    this.used += CONN_RECORD_COST;
    return { kind: 'stored', conn: syn.conn };
  }

  /**
   * R1: client bytes. `seq` may start below the stored end (a resend: the overlap must match)
   * but not above it (a gap). Stores what fits under the limits and reports `full` if some
   * of the message (bytes or FIN) is left over; the caller retries the same message later.
   */
  logData(conn: number, seq: number, payload: Uint8Array, fin: boolean): DataOutcome {
    const c = this.conns.get(conn);
    if (c === undefined)
      return storeError('unknownConn', `LogData for conn ${conn} without LogSyn`);
    // Offset of `seq` in the stream, as an unsigned distance: a seq before the stream start
    // wraps to a huge offset and is refused as a gap rather than misread as a resend.
    const off = (seq - c.startSeq) >>> 0;
    if (off > c.bytes) {
      return storeError(
        'gap',
        `conn ${conn}: seq ${seq} is ${off - c.bytes} bytes beyond the stored end`,
      );
    }
    const overlap = Math.min(payload.length, c.bytes - off);
    if (overlap > 0 && !bytesEqualAt(c.chunks, off, payload.subarray(0, overlap))) {
      return storeError(
        'conflict',
        `conn ${conn}: resent bytes at seq ${seq} differ from the stored ones`,
      );
    }
    const fresh = payload.subarray(overlap);
    if (c.fin && (fresh.length > 0 || (fin && off + payload.length !== c.bytes))) {
      return storeError('conflict', `conn ${conn}: data or a different FIN after the stored FIN`);
    }
    const room = Math.max(0, this.limits.maxStoredBytes - this.used);
    const take = Math.min(fresh.length, room);
    if (take > 0) {
      // Copied: the payload is a view into a frame buffer the link reuses.
      c.chunks.push(fresh.slice(0, take));
      c.bytes += take;
      this.used += take;
    }
    const allBytes = take === fresh.length;
    if (fin && allBytes) c.fin = true;
    return {
      kind: allBytes ? 'stored' : 'full',
      conn,
      stableSeq: stableSeqOf(c),
      finLogged: c.fin,
      added: take,
    };
  }

  /** Lazy hint from the SSW (no reply): what the client holds of the server's stream. */
  clientAcked(conn: number, clientAck: number): StoreError | null {
    const c = this.conns.get(conn);
    if (c === undefined)
      return storeError('unknownConn', `ClientAcked for conn ${conn} without LogSyn`);
    // Keep the highest in serial order: a hint resent after a reconnect must not lower it.
    if (c.clientAck === null || seqGt(clientAck, c.clientAck)) c.clientAck = clientAck;
    return null;
  }

  /**
   * The SSW will not re-create this connection any more. Its stream is kept: the application
   * read it, and a replay must feed it again to rebuild the same state (spec/logger.md GC).
   */
  connClosed(conn: number): void {
    const c = this.conns.get(conn);
    if (c !== undefined) c.closed = true;
  }

  /** R3: one determinant. `detSeq` below `stableDet` is a resend (must match), above is a gap. */
  logDeterminant(detSeq: number, det: Determinant): DetOutcome {
    const enc = encodeDeterminant(det);
    if (detSeq < this.dets.length) {
      const have = this.dets[detSeq]!;
      return have.length === enc.length && have.every((b, i) => b === enc[i])
        ? { kind: 'stored', stableDet: this.dets.length, closeLogged: null }
        : storeError('conflict', `determinant ${detSeq} differs from the stored one`);
    }
    if (detSeq > this.dets.length) {
      return storeError('gap', `determinant ${detSeq} but stableDet is ${this.dets.length}`);
    }
    if (det.kind === 'close' && !this.accepts.has(det.conn)) {
      return storeError('unknownConn', `close of NSW conn ${det.conn} without its accept`);
    }
    if (
      this.dets.length >= this.limits.maxDets ||
      this.used + enc.length > this.limits.maxStoredBytes
    ) {
      return { kind: 'full', stableDet: this.dets.length, closeLogged: null };
    }
    this.dets.push(enc);
    this.used += enc.length;
    let closeLogged: CloseAnnouncement | null = null;
    if (det.kind === 'accept') {
      this.accepts.set(det.conn, { clientAddr: det.clientAddr, clientPort: det.clientPort });
      this.link(det.conn);
    } else if (det.kind === 'close') {
      const c = this.link(det.conn);
      if (c !== undefined) {
        c.close = { how: det.how, offset: det.offset };
        if (!c.closed) closeLogged = announcement(c, c.close);
      }
    }
    return { kind: 'stored', stableDet: this.dets.length, closeLogged };
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
   * The recovery service (FetchLog). 'ssw': the connections to re-create. 'nsw': the closed
   * connections' streams (replayed to the application as connections without a kernel socket),
   * then every determinant. Each ends with ReplayEnd. A snapshot: later appends are not seen.
   */
  replay(what: 'ssw' | 'nsw'): Generator<LoggerMessage, void, undefined> {
    // Captured now, not when the generator first runs: chunks and determinants are only ever
    // appended, so lengths taken here fix the snapshot.
    const conns = [...this.conns.values()]
      .filter((c) => c.closed === (what === 'nsw'))
      .sort((a, b) => a.syn.conn - b.syn.conn)
      .map((c) => ({
        c,
        syn: c.syn,
        clientAck: c.clientAck,
        len: c.bytes,
        fin: c.fin,
        chunks: c.chunks.slice(),
      }));
    const dets = what === 'nsw' ? this.dets.slice() : [];
    const chunk = this.limits.replayChunkBytes;
    return (function* (): Generator<LoggerMessage, void, undefined> {
      let bytes = 0;
      for (const s of conns) {
        bytes += s.len;
        yield { ...s.syn, kind: 'ReplaySyn', clientAck: s.clientAck };
        yield* replayData(s.c, s.chunks, s.len, s.fin, chunk);
      }
      for (let i = 0; i < dets.length; i++) {
        yield { kind: 'ReplayDeterminant', detSeq: i, det: decodeStored(dets[i]!) };
      }
      yield { kind: 'ReplayEnd', conns: conns.length, bytes, dets: dets.length };
    })();
  }

  /** The open connection record a NSW conn corresponds to, linked on first use. */
  private link(nswConn: number): ConnLog | undefined {
    for (const c of this.conns.values()) if (c.nswConn === nswConn) return c;
    const a = this.accepts.get(nswConn);
    if (a === undefined) return undefined;
    // The lowest unlinked open record of that client address/port: the 4-tuple cannot be in
    // use twice at once, and the SSW assigns connIds in increasing order.
    let best: ConnLog | undefined;
    for (const c of this.conns.values()) {
      if (c.nswConn !== null || c.closed) continue;
      if (c.syn.clientAddr !== a.clientAddr || c.syn.clientPort !== a.clientPort) continue;
      if (best === undefined || c.syn.conn < best.syn.conn) best = c;
    }
    if (best !== undefined) best.nswConn = nswConn;
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

function checkLimits(l: LoggerLimits): LoggerLimits {
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || v <= 0)
      throw new RangeError(`logger limit ${k} must be a positive integer, got ${v}`);
  }
  return l;
}

const stableSeqOf = (c: ConnLog): number => seqAdd(c.startSeq, c.bytes + (c.fin ? 1 : 0));

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

function* replayData(
  c: ConnLog,
  chunks: readonly Uint8Array[],
  len: number,
  fin: boolean,
  max: number,
): Generator<LoggerMessage, void, undefined> {
  // Re-chunk the stored stream into pieces of at most `max` bytes, in sequence order.
  let seq = c.startSeq;
  let pending: Uint8Array[] = [];
  let pendingLen = 0;
  let sent = 0;
  const flush = function* (last: boolean): Generator<LoggerMessage, void, undefined> {
    const payload = new Uint8Array(pendingLen);
    let o = 0;
    for (const p of pending) {
      payload.set(p, o);
      o += p.length;
    }
    yield { kind: 'ReplayData', conn: c.syn.conn, seq, payload, fin: last && fin };
    seq = seqAdd(seq, pendingLen);
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
