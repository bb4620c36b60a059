// INTERIM pure logic, to be moved to src/machines/logger (helper C's part).
//
// The logger daemon needs a store that decides: which epoch is current (R8), whether a LogData
// or LogDeterminant extends the log, is a harmless duplicate (a re-send after a reconnect) or
// opens a gap, what `stableSeq` / `stableDet` to acknowledge, which CloseLogged a stored
// `close` determinant implies, and what a recovering incarnation is served by FetchLog (R6.1,
// R11). src/machines/logger had not landed when the daemon was written, so this file holds
// that logic as plain functions of the store's state, with no I/O and no clock, so that it can
// be moved under src/machines unchanged. The daemon (./server.ts) only binds it to sockets.
//
// Decisions made here (to be checked against spec/logger.md when it exists):
// - Data of a connection the SSW reported closed (ConnClosed) is kept, not freed: a replaying
//   application must re-read it to rebuild its state (a KV server's SETs arrived on
//   connections that are long closed), and the SSW will not re-create that connection, so the
//   NSW gets those bytes from the logger (FetchLog 'nsw' serves ReplaySyn + ReplayData of
//   closed connections before the determinants). There is no checkpointing, so memory is
//   bounded by explicit limits instead, with backpressure when they are reached.
// - A duplicate (seq or detSeq below what is stored) is acknowledged again, not refused: a
//   client that reconnects re-sends what it has not seen acknowledged.
// - A gap (seq or detSeq above what is stored) is a typed error: the sender lost track, and
//   storing out of order would let a later ack cover a hole.

import type { CloseHow, Determinant, LoggerMessage, SynRecord } from '../../wire/logmsg.ts';
import { MAX_DATA_PAYLOAD } from '../../wire/logmsg.ts';
import { seqAdd, seqSub } from '../../wire/seq.ts';

export interface StoreLimits {
  /** client payload bytes stored, all connections */
  readonly maxBytes: number;
  /** determinants stored */
  readonly maxDets: number;
  /** connection records */
  readonly maxConns: number;
}

export const DEFAULT_STORE_LIMITS: StoreLimits = {
  maxBytes: 256 * 1024 * 1024,
  maxDets: 4_000_000,
  maxConns: 65_536,
};

export type StoreErrorCode =
  | 'unknownConn' // LogData/ClientAcked/ConnClosed for a conn with no LogSyn
  | 'gap' // seq/detSeq beyond the end of what is stored
  | 'afterFin' // data past a logged FIN
  | 'conflict' // a re-sent record that differs from the stored one
  | 'full' // an explicit limit is reached
  | 'badFence'; // Fence to an epoch not above the current one

export interface StoreError {
  readonly code: StoreErrorCode;
  readonly message: string;
}

interface ConnLog {
  readonly syn: SynRecord;
  /** first client data byte: clientIsn + 1 */
  readonly base: number;
  readonly chunks: Uint8Array[];
  length: number;
  finLogged: boolean;
  clientAck: number | null;
  closed: boolean;
}

type R<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: StoreError };
const ok = <T>(value: T): R<T> => ({ ok: true, value });
const fail = (code: StoreErrorCode, message: string): R<never> => ({ ok: false, error: { code, message } });

export interface CloseNotice {
  readonly clientAddr: number;
  readonly clientPort: number;
  readonly how: CloseHow;
}

export class LogStore {
  private epochNow: number;
  private readonly conns = new Map<number, ConnLog>();
  private readonly dets: Determinant[] = [];
  /** NSW conn number -> client address, from `accept` determinants (for CloseLogged) */
  private readonly nswConnAddr = new Map<number, { clientAddr: number; clientPort: number }>();
  private bytes = 0;

  constructor(
    epoch: number,
    readonly limits: StoreLimits = DEFAULT_STORE_LIMITS,
  ) {
    this.epochNow = epoch;
  }

  get epoch(): number {
    return this.epochNow;
  }
  get storedBytes(): number {
    return this.bytes;
  }
  get stableDet(): number {
    return this.dets.length;
  }
  get connCount(): number {
    return this.conns.size;
  }

  /** Over a limit: the daemon stops reading from loggers' clients until this is false. */
  get full(): boolean {
    return (
      this.bytes >= this.limits.maxBytes ||
      this.dets.length >= this.limits.maxDets ||
      this.conns.size >= this.limits.maxConns
    );
  }

  /** R8: only the current epoch may write; older ones are fenced, newer ones are not born yet. */
  epochCheck(frameEpoch: number): 'current' | 'stale' | 'future' {
    if (frameEpoch === this.epochNow) return 'current';
    return frameEpoch < this.epochNow ? 'stale' : 'future';
  }

  fence(newEpoch: number): R<number> {
    if (!Number.isInteger(newEpoch) || newEpoch <= this.epochNow) {
      return fail('badFence', `Fence to epoch ${newEpoch}, current is ${this.epochNow}`);
    }
    this.epochNow = newEpoch;
    return ok(newEpoch);
  }

  logSyn(rec: SynRecord): R<{ conn: number }> {
    const had = this.conns.get(rec.conn);
    if (had !== undefined) {
      const same = had.syn.clientIsn === rec.clientIsn && had.syn.serverIsn === rec.serverIsn &&
        had.syn.clientAddr === rec.clientAddr && had.syn.clientPort === rec.clientPort;
      return same ? ok({ conn: rec.conn }) : fail('conflict', `LogSyn conn ${rec.conn} differs from the stored record`);
    }
    if (this.conns.size >= this.limits.maxConns) return fail('full', `connection limit ${this.limits.maxConns}`);
    this.conns.set(rec.conn, {
      syn: rec,
      base: seqAdd(rec.clientIsn, 1),
      chunks: [],
      length: 0,
      finLogged: false,
      clientAck: null,
      closed: false,
    });
    return ok({ conn: rec.conn });
  }

  private stableSeqOf(c: ConnLog): number {
    // A logged FIN occupies one sequence number, so the SSW may then let the ack cover it.
    return seqAdd(c.base, c.length + (c.finLogged ? 1 : 0));
  }

  logData(conn: number, seq: number, payload: Uint8Array, fin: boolean): R<{ stableSeq: number; finLogged: boolean }> {
    const c = this.conns.get(conn);
    if (c === undefined) return fail('unknownConn', `LogData for conn ${conn} without LogSyn`);
    const off = seqSub(seq, c.base);
    if (off < 0) return fail('gap', `LogData conn ${conn} seq ${seq} before the first data byte ${c.base}`);
    if (off > c.length) return fail('gap', `LogData conn ${conn} at offset ${off}, stored ${c.length}`);
    const end = off + payload.length;
    const fresh = end > c.length ? payload.subarray(c.length - off) : undefined;
    if (fresh !== undefined && fresh.length > 0) {
      if (c.finLogged) return fail('afterFin', `LogData conn ${conn} past its FIN`);
      if (this.bytes + fresh.length > this.limits.maxBytes) {
        return fail('full', `byte limit ${this.limits.maxBytes} (stored ${this.bytes})`);
      }
      // Copy: the payload may be a view into a socket buffer that holds unrelated frames.
      c.chunks.push(Uint8Array.from(fresh));
      c.length += fresh.length;
      this.bytes += fresh.length;
    }
    if (fin && end === c.length) c.finLogged = true;
    return ok({ stableSeq: this.stableSeqOf(c), finLogged: c.finLogged });
  }

  /** Appends in detSeq order; a stored `close` yields the CloseLogged the SSW must get. */
  logDeterminant(detSeq: number, det: Determinant): R<{ stableDet: number; close?: CloseNotice }> {
    if (detSeq < this.dets.length) return ok({ stableDet: this.dets.length }); // re-send
    if (detSeq > this.dets.length) return fail('gap', `determinant ${detSeq}, stored ${this.dets.length}`);
    if (this.dets.length >= this.limits.maxDets) return fail('full', `determinant limit ${this.limits.maxDets}`);
    this.dets.push(det);
    if (det.kind === 'accept') this.nswConnAddr.set(det.conn, { clientAddr: det.clientAddr, clientPort: det.clientPort });
    if (det.kind === 'close') {
      const a = this.nswConnAddr.get(det.conn);
      if (a !== undefined) return ok({ stableDet: this.dets.length, close: { ...a, how: det.how } });
    }
    return ok({ stableDet: this.dets.length });
  }

  clientAcked(conn: number, clientAck: number): R<void> {
    const c = this.conns.get(conn);
    if (c === undefined) return fail('unknownConn', `ClientAcked for conn ${conn}`);
    // Lazy and possibly reordered with respect to nothing (one TCP stream), but keep the max.
    if (c.clientAck === null || seqSub(clientAck, c.clientAck) > 0) c.clientAck = clientAck;
    return ok(undefined);
  }

  connClosed(conn: number): R<void> {
    const c = this.conns.get(conn);
    if (c === undefined) return fail('unknownConn', `ConnClosed for conn ${conn}`);
    c.closed = true;
    return ok(undefined);
  }

  private *connRecords(c: ConnLog): Generator<LoggerMessage> {
    yield { kind: 'ReplaySyn', ...c.syn, clientAck: c.clientAck };
    let seq = c.base;
    for (let i = 0; i < c.chunks.length; i++) {
      const chunk = c.chunks[i]!;
      // Stored chunks came from single LogData messages, so each fits in one ReplayData.
      for (let o = 0; o < chunk.length; o += MAX_DATA_PAYLOAD) {
        const part = chunk.subarray(o, Math.min(chunk.length, o + MAX_DATA_PAYLOAD));
        const last = i === c.chunks.length - 1 && o + part.length === chunk.length;
        yield { kind: 'ReplayData', conn: c.syn.conn, seq, payload: part, fin: last && c.finLogged };
        seq = seqAdd(seq, part.length);
      }
    }
    if (c.chunks.length === 0 && c.finLogged) {
      yield { kind: 'ReplayData', conn: c.syn.conn, seq, payload: new Uint8Array(0), fin: true };
    }
  }

  /**
   * FetchLog 'ssw' (R6.1): every connection the SSW can still re-create (not ConnClosed), in
   * connId order, then ReplayEnd.
   */
  *fetchSsw(): Generator<LoggerMessage> {
    let conns = 0;
    let bytes = 0;
    for (const c of [...this.conns.values()].sort((a, b) => a.syn.conn - b.syn.conn)) {
      if (c.closed) continue;
      conns++;
      bytes += c.length;
      yield* this.connRecords(c);
    }
    yield { kind: 'ReplayEnd', conns, bytes, dets: this.dets.length };
  }

  /**
   * The CloseLogged notices a recovering SSW needs (after its FetchLog 'ssw'): one per stored
   * `close` determinant whose client address matches a connection it will re-create, so that
   * the re-created connection's FIN is not held forever (R5.2).
   */
  closeNoticesForOpenConns(): CloseNotice[] {
    const open = new Set<string>();
    for (const c of this.conns.values()) if (!c.closed) open.add(`${c.syn.clientAddr}:${c.syn.clientPort}`);
    const out: CloseNotice[] = [];
    for (const d of this.dets) {
      if (d.kind !== 'close') continue;
      const a = this.nswConnAddr.get(d.conn);
      if (a !== undefined && open.has(`${a.clientAddr}:${a.clientPort}`)) out.push({ ...a, how: d.how });
    }
    return out;
  }

  /**
   * FetchLog 'nsw' (R11): the closed connections' records and bytes (the NSW feeds those to
   * the application itself, since no kernel socket will carry them again), then every
   * determinant in detSeq order, then ReplayEnd.
   */
  *fetchNsw(): Generator<LoggerMessage> {
    let conns = 0;
    let bytes = 0;
    for (const c of [...this.conns.values()].sort((a, b) => a.syn.conn - b.syn.conn)) {
      if (!c.closed) continue;
      conns++;
      bytes += c.length;
      yield* this.connRecords(c);
    }
    for (let i = 0; i < this.dets.length; i++) yield { kind: 'ReplayDeterminant', detSeq: i, det: this.dets[i]! };
    yield { kind: 'ReplayEnd', conns, bytes, dets: this.dets.length };
  }
}
