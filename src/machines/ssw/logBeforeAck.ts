// R1 log before ack (spec/ssw.md "R1 Log before ack"): client bytes go to the logger in order
// before the kernel gets them (R1.1), within the host-wide queue bound (R1.6); the logger's
// DataStored raises `stableSeq` (believed only up to `loggedSeq`, R1.8) and owes the client a
// pure ACK when nothing else will carry it (R1.4); what the logger has not acknowledged is
// resent after a reconnect (R1.7), and changed client acks are reported lazily. What the
// client may be told (R1.2-R1.5) is in clamp.ts.

import { seqAdd, seqGt, seqLe, seqSub } from '../../wire/seq.ts';
import { TCP_ACK, type TcpPacket } from '../../wire/tcp.ts';
import { assert } from './assert.ts';
import { pureAckOwed } from './clamp.ts';
import {
  type Conn,
  isLive,
  isRecreating,
  type LogDataMsg,
  type LogState,
  type StreamPiece,
} from './conn.ts';
import type { SswCtx } from './context.ts';
import { sendLogSyn } from './handshake.ts';
import { appendStream } from './inject.ts';
import { EMPTY, sendToClient } from './segments.ts';
import { type ClientSeq, clientSeq } from './spaces.ts';

/** Marks a held FIN in the out-of-order list (identity-compared). */
const FIN_MARK = new Uint8Array(0);

/**
 * R1.1: the part of a client segment [seq, seq+len) that is new to the log, given `loggedSeq`
 * (next byte not yet handed to the logger). Returns the offset into the payload and the count;
 * count 0 means nothing new in order (a duplicate, or a segment past a hole).
 */
export const newLogSpan = (
  seq: ClientSeq,
  len: number,
  loggedSeq: ClientSeq,
): { offset: number; count: number } => {
  const d = seqSub(loggedSeq, seq);
  if (d < 0 || d >= len) return { offset: 0, count: 0 };
  return { offset: d, count: len - d };
};

/** R1.1: the segment starts past `loggedSeq`: there is a hole before it. */
export const isAfterHole = (seq: ClientSeq, loggedSeq: ClientSeq): boolean => seqGt(seq, loggedSeq);

/**
 * R1.1 / R1.6: hands the segment's new in-order bytes (and FIN) to the logger. Returns false
 * if the segment must be dropped (a hold limit or the log queue bound was reached).
 */
export function logClientBytes(ctx: SswCtx, c: Conn, tcp: TcpPacket): boolean {
  const payload = tcp.payload;
  const fin = tcp.fin;
  const seq = clientSeq(tcp.seqNumber);
  const len = payload.length + (fin ? 1 : 0);
  if (len === 0) return true;
  const log = c.log;
  if (isAfterHole(seq, log.loggedSeq)) {
    // A hole before it: hold a copy until the hole fills (the logger refuses gaps).
    if (log.oooBytes + len > ctx.limits.maxHeldBytes) {
      ctx.stats.dropHoldLimit++;
      return false;
    }
    if (!log.ooo.some((p) => p.seq === seq && p.bytes.length >= payload.length)) {
      insertOoo(log, { seq, bytes: payload.slice() });
      log.oooBytes += payload.length;
      if (fin) insertOoo(log, { seq: seqAdd(seq, payload.length), bytes: FIN_MARK });
    }
    return true;
  }
  const span = newLogSpan(seq, len, log.loggedSeq);
  if (span.count === 0) return true; // a duplicate: already logged
  const dataCount = Math.max(0, Math.min(span.count, payload.length - span.offset));
  if (ctx.queuedLogBytes + dataCount > ctx.limits.maxQueuedLogBytes) {
    // R1.6: the logger is behind; the client will retransmit, acks stall meanwhile.
    ctx.stats.dropBackpressure++;
    return false;
  }
  appendLog(ctx, c, payload.subarray(span.offset, span.offset + dataCount), fin);
  drainOoo(ctx, c);
  return true;
}

/**
 * R1.1: `ooo` is kept in sequence order (every piece lies past `loggedSeq`, so their order
 * relative to it is their order), so R1.9 finds what covers a SACK block in one walk.
 */
function insertOoo(log: LogState, piece: StreamPiece): void {
  const key = seqSub(piece.seq, log.loggedSeq);
  let lo = 0;
  let hi = log.ooo.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (seqSub((log.ooo[mid] as StreamPiece).seq, log.loggedSeq) <= key) lo = mid + 1;
    else hi = mid;
  }
  log.ooo.splice(lo, 0, piece);
}

/** Logs bytes at exactly loggedSeq (and a FIN right after them). */
function appendLog(ctx: SswCtx, c: Conn, bytes: Uint8Array, fin: boolean): void {
  const log = c.log;
  if (c.connId === undefined || log.finLogged || (c.inject.streamFin && isRecreating(c))) return;
  const copy = bytes.slice();
  const msg: LogDataMsg = {
    kind: 'LogData',
    conn: c.connId,
    seq: log.loggedSeq,
    payload: copy,
    fin,
  };
  log.pending.push(msg);
  log.queuedBytes += copy.length;
  ctx.queuedLogBytes += copy.length;
  ctx.stats.loggedBytes += copy.length;
  ctx.toLogger(msg);
  if (isRecreating(c)) appendStream(c, log.loggedSeq, copy, fin);
  log.loggedSeq = seqAdd(log.loggedSeq, copy.length + (fin ? 1 : 0));
  if (fin) log.finLogged = true;
}

/** R1.1: the held out-of-order pieces the log now reaches, in order. */
function drainOoo(ctx: SswCtx, c: Conn): void {
  const log = c.log;
  let progressed = true;
  while (progressed && log.ooo.length > 0) {
    progressed = false;
    for (let i = 0; i < log.ooo.length; i++) {
      const p = log.ooo[i] as StreamPiece;
      if (seqGt(p.seq, log.loggedSeq)) continue;
      log.ooo.splice(i, 1);
      if (p.bytes !== FIN_MARK) log.oooBytes -= p.bytes.length;
      if (p.bytes === FIN_MARK) {
        if (p.seq === log.loggedSeq) appendLog(ctx, c, EMPTY, true);
      } else {
        const span = newLogSpan(p.seq, p.bytes.length, log.loggedSeq);
        if (span.count > 0) appendLog(ctx, c, p.bytes.subarray(span.offset), false);
      }
      progressed = true;
      break;
    }
  }
}

/**
 * R1.4 / R1.8: the logger stored the client stream up to `reported`. Believed only up to
 * `loggedSeq`; a raised stableSeq owes the client a pure ACK if nothing else will carry it.
 */
export function dataStored(ctx: SswCtx, c: Conn, reported: ClientSeq, finLogged: boolean): void {
  const log = c.log;
  assert(seqLe(log.stableSeq, log.loggedSeq), 'R1.8', () => ({
    stableSeq: log.stableSeq,
    loggedSeq: log.loggedSeq,
  }));
  // I1 must not rest on the logger being right: it cannot have stored bytes this SSW never
  // sent it (after a local recovery those are re-logged from the client's retransmission).
  const stableSeq = seqGt(reported, log.loggedSeq) ? log.loggedSeq : reported;
  if (!seqGt(stableSeq, log.stableSeq)) return;
  log.stableSeq = stableSeq;
  dropStoredPending(ctx, c);
  if (finLogged) log.finLogged = true;
  if (
    isLive(c) &&
    c.protected &&
    c.kernel.ackValid &&
    pureAckOwed(c.kernel.ack, log.stableSeq, c.client.sentAck)
  ) {
    ctx.stats.pureAcks++;
    sendToClient(ctx, c, TCP_ACK);
  }
}

/** Forgets the pending LogData wholly at or below stableSeq (DataStored, or a replay). */
export function dropStoredPending(ctx: SswCtx, c: Conn): void {
  const log = c.log;
  while (log.pending.length > 0) {
    const m = log.pending[0] as LogDataMsg;
    const end = seqAdd(m.seq, m.payload.length + (m.fin ? 1 : 0));
    if (!seqLe(end, log.stableSeq)) break;
    log.pending.shift();
    log.queuedBytes -= m.payload.length;
    ctx.queuedLogBytes -= m.payload.length;
  }
  assertQueued(ctx, c);
}

/** R1.6: the log queue's byte counts are the pending LogData's; they never go negative. */
export function assertQueued(ctx: SswCtx, c: Conn): void {
  assert(ctx.queuedLogBytes >= 0 && c.log.queuedBytes >= 0, 'R1.6', () => ({
    queuedLogBytes: ctx.queuedLogBytes,
    connQueuedBytes: c.log.queuedBytes,
  }));
}

/** Nothing more of this connection will be logged (unprotected): what it held against R1.6
 * is released, its pending and held pieces dropped. */
export function dropLog(ctx: SswCtx, c: Conn): void {
  dropPending(ctx, c);
  c.log.ooo = [];
  c.log.oooBytes = 0;
}

/** The pending LogData are forgotten and what they held against R1.6 released (R6.1: the log
 * restarts at the replay's end). Out-of-order pieces stay: the hole before them is still one. */
export function dropPending(ctx: SswCtx, c: Conn): void {
  const log = c.log;
  ctx.queuedLogBytes -= log.queuedBytes;
  log.queuedBytes = 0;
  assertQueued(ctx, c);
  log.pending = [];
}

/** R6.1: out-of-order pieces wholly at or below `end` (a replay that holds them) are dropped. */
export function dropOooBelow(c: Conn, end: ClientSeq): void {
  const log = c.log;
  log.ooo = log.ooo.filter((p) => {
    const keep = seqGt(seqAdd(p.seq, p.bytes === FIN_MARK ? 1 : p.bytes.length), end);
    if (!keep && p.bytes !== FIN_MARK) log.oooBytes -= p.bytes.length;
    return keep;
  });
}

/** R1.7, messages.md "Resending after a reconnect": unacked records and data, in order. */
export function resendUnacked(ctx: SswCtx): void {
  for (const c of ctx.conns.values()) {
    // R2.7: a record being logged again is resent like a first one.
    if (c.mode === 'awaitingSynStored' || c.log.record === 'relogged') sendLogSyn(ctx, c);
    for (const m of c.log.pending) ctx.toLogger(m);
  }
}

/** R1.7: ClientAcked for a live protected connection whose client ack moved (lazily, per tick;
 * the logger gives it to a failover as ReplaySyn.clientAck, R6.6). */
export function reportClientAck(ctx: SswCtx, c: Conn): void {
  if (!isLive(c) || !c.protected || c.connId === undefined) return;
  if (c.client.ack === c.log.reportedClientAck) return;
  c.log.reportedClientAck = c.client.ack;
  ctx.toLogger({ kind: 'ClientAcked', conn: c.connId, clientAck: c.client.ack });
}
