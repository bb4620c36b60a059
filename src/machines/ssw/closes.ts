// R5 a crash is silent (spec/ssw.md "R5 A crash is silent"): a kernel FIN or RST passes only
// where the application's logged close puts it (R5.1-R5.3), else it is held, and dropped if
// the application died (R5.4, with the fake RST that frees the dead socket); after both FINs
// the SSW answers the client for a kernel that is done (R5.7); an unrecorded application's
// closes are recorded by the SSW (R5.8).

import type { ChecksumMode } from '../../wire/checksum.ts';
import type { CloseHow, MessageOf } from '../../wire/logmsg.ts';
import { seqAdd, seqGt, seqLe, seqLt, seqMax, seqSub } from '../../wire/seq.ts';
import { rewriteFlags, TCP_ACK, TCP_FIN, TCP_RST, TcpPacket } from '../../wire/tcp.ts';
import { assert } from './assert.ts';
import { rewriteOutbound } from './clamp.ts';
import type { SegmentKind } from './classify.ts';
import type { Conn, LoggedClose } from './conn.ts';
import type { SswCtx } from './context.ts';
import { kernelToLan, sendToClient, sendToKernel } from './segments.ts';
import {
  type ClientSeq,
  kernelSeq,
  type OrigSeq,
  origSeq,
  type StreamOffset,
  streamOffset,
} from './spaces.ts';
import { toOriginalSeq } from './translate.ts';

/** R5.2: the close position from the close determinant's `offset` (bytes written before it). */
export const loggedCloseOf = (
  serverIsn: OrigSeq,
  how: CloseHow,
  offset: StreamOffset,
): LoggedClose => ({
  how,
  // offset is a u53: reduced mod 2^32 first, since serverIsn + 1 + offset could pass 2^53,
  // where a double no longer holds every integer.
  seq: seqAdd(serverIsn, 1 + (offset % 0x1_0000_0000)),
});

/** R5.8: the offset in the server's output of a close at `seq` (original space), mod 2^32:
 * all R5.2 uses (`loggedCloseOf`, its inverse there). */
export const closeOffsetOf = (serverIsn: OrigSeq, seq: OrigSeq): StreamOffset =>
  streamOffset(seqSub(seq, seqAdd(serverIsn, 1)) >>> 0);

/**
 * R5.2 / R5.3: is a kernel FIN (at `seq`, original space: the FIN's own sequence number) or RST
 * (at `seq`, its sequence number) the application's logged close rather than a crash's?
 * - `end`: the FIN must sit exactly at the close position. A FIN before it is the kernel
 *   closing a dead process's socket before the close's last output reached it; a FIN after it
 *   cannot be this close. An RST passes only at or after the position (every byte the
 *   application wrote has left the kernel; the kernel answers a segment after the close).
 * - `destroy`: a FIN or RST at or before the position. A destroy discards output the kernel has
 *   not sent, in a failure-free run too, so the client seeing a prefix of the output and then
 *   the end is a behaviour the application chose; a crash's end in that range cannot be told
 *   apart and need not be.
 * No logged close: never (the engine holds or drops it).
 */
export const atLoggedClose = (
  close: LoggedClose | undefined,
  kind: 'fin' | 'rst',
  seq: OrigSeq,
): boolean => {
  if (close === undefined) return false;
  if (close.how === 'destroy') return seqLe(seq, close.seq);
  return kind === 'fin' ? seq === close.seq : !seqLt(seq, close.seq);
};

/**
 * R5.7: the kernel is done with a closing connection: it has acknowledged the client's FIN
 * (`kernelAck` past `clientFinSeq`) and has been handed the client's ack of its own FIN. Its
 * socket may then be gone (LAST_ACK -> CLOSED), and a client segment forwarded to it would be
 * answered with an RST. The client still retransmits while R1.2 holds back the ack of its last
 * bytes or FIN (the logger has not stored them yet), so the SSW answers those itself.
 */
export const kernelDoneWith = (
  clientFinSeq: ClientSeq | undefined,
  kernelAck: ClientSeq | undefined,
  serverFinAckForwarded: boolean,
): boolean =>
  serverFinAckForwarded &&
  clientFinSeq !== undefined &&
  kernelAck !== undefined &&
  seqGt(kernelAck, clientFinSeq);

// ---------------------------------------------------------------------------------------
// Kernel FIN and RST (R5.1-R5.3, R5.8)

/** A kernel FIN's own sequence number (after its payload), original space (R7.1). Read before
 * the segment is rewritten (it is in kernel space until then). */
export const kernelFinSeqOf = (c: Conn, tcp: TcpPacket): OrigSeq =>
  toOriginalSeq(seqAdd(kernelSeq(tcp.seqNumber), tcp.buffer.length - tcp.headerLength), c.t);

/** R5.2: a kernel FIN or RST sits where the logged close puts it (original space). */
export function kernelEndAtClose(c: Conn, kind: SegmentKind, tcp: TcpPacket): boolean {
  if (kind === 'fin') return atLoggedClose(c.close.logged, 'fin', kernelFinSeqOf(c, tcp));
  if (kind !== 'rst') return false;
  return atLoggedClose(c.close.logged, 'rst', toOriginalSeq(kernelSeq(tcp.seqNumber), c.t));
}

/** R5.1: clear the FIN in place (the rest goes on), remember where it was. One FIN is held. */
export function holdFin(ctx: SswCtx, c: Conn, tcp: TcpPacket, mode: ChecksumMode): void {
  const finSeq = kernelFinSeqOf(c, tcp);
  c.held.finSeq = finSeq;
  rewriteFlags(tcp, tcp.flags & ~TCP_FIN, mode);
  ctx.stats.heldFins++;
  ctx.event('R5.1', 'hold kernel FIN until CloseLogged', c, { finSeq });
  recordOwnClose(ctx, c, 'end', finSeq);
}

/** R5.3: keep a copy of a kernel RST (standalone: completed checksum) until a close allows it. */
export function holdRst(ctx: SswCtx, c: Conn, datagram: Uint8Array, tcp: TcpPacket): void {
  c.held.rst = datagram.slice();
  const rstSeq = toOriginalSeq(kernelSeq(tcp.seqNumber), c.t);
  c.held.rstSeq = rstSeq;
  ctx.stats.heldRsts++;
  ctx.event('R5.3', 'hold kernel RST until CloseLogged', c, { rstSeq });
  recordOwnClose(ctx, c, 'destroy', rstSeq);
}

/**
 * R5.8: an unrecorded application's FIN (`end`, at the FIN's own sequence number) or RST
 * (`destroy`, at its sequence number), original space, on a connection it serves: recorded
 * as the NSW would record the close, so that the CloseLogged that follows releases it (R5.2).
 * Once per connection, and never over a close already logged. Not while re-creating: that
 * FIN stays held, and the kernel's retransmission after go-live is recorded.
 */
export function recordOwnClose(ctx: SswCtx, c: Conn, how: CloseHow, seq: OrigSeq): void {
  const rec = ctx.recorder;
  if (rec === undefined || c.close.recorded || c.close.logged !== undefined) return;
  if (c.connId === undefined) return;
  if (c.mode !== 'protected' && c.mode !== 'translated') return;
  // The close determinant's offset: bytes written before it (spec/messages.md).
  const offset = closeOffsetOf(c.server.isn, seq);
  const sent = rec.record([
    { kind: 'accept', conn: c.connId, clientAddr: c.clientAddr, clientPort: c.clientPort },
    { kind: 'close', conn: c.connId, how, offset },
  ]);
  if (sent === 'refused') {
    ctx.stats.closesNotRecorded++;
    ctx.event('R5.8', 'close not recorded: recorder full or failed; held', c, {
      how,
      state: rec.status,
      pending: rec.pending,
    });
    return;
  }
  c.close.recorded = true;
  ctx.stats.closesRecorded++;
  ctx.event('R5.8', 'record the close of an unrecorded application', c, { how, closeSeq: seq });
  for (const m of sent) ctx.emit({ to: 'recorder', msg: m });
}

/**
 * R5.2: the application's close is stored, at `offset` bytes into its output. A held FIN/RST
 * is released only if it sits where that close puts it; from now on a kernel FIN/RST passes
 * only there (`atLoggedClose`). Idempotent: the logger repeats it after Welcome and FetchLog.
 */
export function noteCloseLogged(ctx: SswCtx, c: Conn, msg: MessageOf<'CloseLogged'>): void {
  // Before the first SYN-ACK there is no serverIsn to place the close against; the
  // application cannot have accepted (hence closed) such a connection anyway.
  if (c.mode === 'listenSynSeen') return;
  const close = loggedCloseOf(c.server.isn, msg.how, streamOffset(msg.offset));
  c.close.logged = close;
  ctx.event('R5.2', 'close logged', c, { how: msg.how, closeSeq: close.seq });
  const held = c.held;
  ctx.sendConn(c, {
    type: 'CLOSE_LOGGED',
    finAtClose: held.finSeq !== undefined && atLoggedClose(close, 'fin', held.finSeq),
    rstAtClose: held.rstSeq !== undefined && atLoggedClose(close, 'rst', held.rstSeq),
  });
}

/** R5.2 (machine action `releaseHeldFin`): the held FIN, as a FIN+ACK the SSW builds. */
export function releaseHeldFin(ctx: SswCtx, c: Conn): void {
  const finSeq = c.held.finSeq;
  if (finSeq === undefined) return;
  // I4: a FIN reaches the client only at the position of a logged close (R5.2).
  const logged = c.close.logged;
  assert(logged !== undefined && atLoggedClose(logged, 'fin', finSeq), 'I4', () => ({
    finSeq,
    closeSeq: logged?.seq,
  }));
  ctx.event('R5.2', 'release FIN: close logged', c, { finSeq });
  sendToClient(ctx, c, TCP_ACK | TCP_FIN, finSeq);
  c.held.finSeq = undefined;
  c.close.serverFinSeq = finSeq;
  c.kernel.sndNxt = seqMax(c.kernel.sndNxt, seqAdd(finSeq, 1));
  c.close.closingSinceMs = ctx.now;
}

/** R5.3 (machine action `releaseHeldRst`): the held RST, translated, never clamped. */
export function releaseHeldRst(ctx: SswCtx, c: Conn): void {
  const held = c.held.rst;
  const rstSeq = c.held.rstSeq;
  c.held.rst = undefined;
  c.held.rstSeq = undefined;
  if (held === undefined) return;
  // I4: an RST reaches the client only where a logged close allows it (R5.3).
  const logged = c.close.logged;
  assert(
    rstSeq !== undefined && logged !== undefined && atLoggedClose(logged, 'rst', rstSeq),
    'I4',
    () => ({ rstSeq, closeSeq: logged?.seq, how: logged?.how }),
  );
  ctx.event('R5.3', 'release RST: close logged', c);
  const tcp = new TcpPacket(held.subarray(((held[0] ?? 0x45) & 0x0f) * 4));
  // Held copies stand alone (completed checksum, no offload).
  rewriteOutbound(c, tcp, false, ctx.csum);
  kernelToLan(ctx, held, c.clientAddr, false);
}

/** R5.4 (machine action `abortKernelSocket`): a fake RST from the client frees the dead
 * incarnation's socket. RFC 5961: only an RST at exactly rcv.nxt resets at once (else a
 * challenge ACK), so its seq is `kernelAck`. */
export function abortKernelSocket(ctx: SswCtx, c: Conn): void {
  if (!c.kernel.ackValid) return;
  ctx.event('R5.4', 'abort dead kernel socket (fake RST)', c, { seq: c.kernel.ack });
  sendToKernel(ctx, c, c.kernel.ack, undefined, TCP_RST, 0, []);
}

// ---------------------------------------------------------------------------------------
// After both FINs (R5.7, R5.11)

/** R5.7: the event that says a client's ack of the server's FIN goes to the kernel (a test
 * hook freezes the data path on it, before the ack is written). */
export const SERVER_FIN_ACK_TO_KERNEL = "client's ack of the server FIN to the kernel";

/**
 * R5.11: a connection forgotten after both FINs leaves its 4-tuple quiet for `closeQuietMs`:
 * the kernel's socket is gone, yet its retransmission of the FIN (sent before the client's ack
 * reached it) and the client's ack of that may still be on their way.
 */
export function quietAfterClose(ctx: SswCtx, c: Conn): void {
  const until = ctx.now + ctx.timing.closeQuietMs;
  if (ctx.recentlyClosed.add(c.clientAddr, c.clientPort, c.serverPort, until))
    ctx.stats.recentlyClosedEvicted++;
}

/** R5.11: the event of a kernel segment dropped after both FINs (the client never sees it). */
export const QUIET_KERNEL_DROP = 'kernel segment after both FINs dropped';

/** R5.11: a segment of a 4-tuple in its quiet time (no connection holds it): dropped. */
export function quietDrop(
  ctx: SswCtx,
  clientAddr: number,
  clientPort: number,
  serverPort: number,
): boolean {
  if (!ctx.recentlyClosed.has(clientAddr, clientPort, serverPort, ctx.now)) return false;
  ctx.stats.dropRecentlyClosed++;
  return true;
}

/** R5.7: a client segment that acks the server's FIN (read before R7.4 rewrites the ack). */
export const acksServerFin = (c: Conn, tcp: TcpPacket): boolean =>
  tcp.ack &&
  c.close.serverFinSeq !== undefined &&
  seqGt(origSeq(tcp.ackNumber), c.close.serverFinSeq);

/** R5.7: a client segment of a closing connection whose kernel is done with it. */
export const kernelDone = (c: Conn): boolean =>
  c.mode === 'closing' &&
  kernelDoneWith(
    c.close.clientFinSeq,
    c.kernel.ackValid ? c.kernel.ack : undefined,
    c.close.serverFinAckForwarded,
  );

/**
 * R5.7: the kernel is done with this connection (its socket may be closed: it would answer
 * with an RST). Everything the client sends now is a retransmission of what the kernel
 * already has and the log holds or will hold: a segment that occupies sequence space gets
 * the ACK the kernel would have sent (R1.4 form, so still clamped at stableSeq: I1); a pure
 * ACK needs no answer.
 */
export function answerAfterClose(ctx: SswCtx, c: Conn, kind: SegmentKind): void {
  ctx.stats.answeredAfterClose++;
  if (kind === 'data' || kind === 'fin') sendToClient(ctx, c, TCP_ACK);
}

/**
 * R5.7: both FINs are through and acknowledged, and the client has been *told* of the ack of
 * its FIN (`sentAck`: R1.2 may have held it back after the kernel acked it, when the logger
 * had not stored the last bytes yet). Only then nothing of this connection can still need the
 * SSW (a late retransmission of an unknown connection goes to the kernel, which answers as
 * TCP does). Forgetting it then keeps short connections from filling `maxConnections`.
 */
export function bothFinsAcked(c: Conn): boolean {
  const { serverFinSeq, clientFinSeq } = c.close;
  return (
    serverFinSeq !== undefined &&
    clientFinSeq !== undefined &&
    seqGt(c.client.ack, serverFinSeq) &&
    c.kernel.ackValid &&
    seqGt(c.kernel.ack, clientFinSeq) &&
    seqGt(c.client.sentAck, clientFinSeq)
  );
}

/** R5.7 per tick: a closing connection is done when both FINs are acked (R5.11: its 4-tuple
 * stays quiet a while), or after the linger. */
export function closingTick(ctx: SswCtx, c: Conn): void {
  if (bothFinsAcked(c)) {
    quietAfterClose(ctx, c);
    ctx.sendConn(c, { type: 'CONN_DONE' });
  } else if (c.close.closingSinceMs === 0) c.close.closingSinceMs = ctx.now;
  else if (ctx.now - c.close.closingSinceMs >= ctx.timing.closeLingerMs)
    ctx.sendConn(c, { type: 'CONN_DONE' });
}

// ---------------------------------------------------------------------------------------
// ConnClosed: the log's set of open connections (R5.10)

/** R5.10 (machine action `reportConnClosed`): the SSW is done with this logged connection. */
export function reportConnClosed(ctx: SswCtx, c: Conn): void {
  // Never logged (no SYN-ACK fixed its record): the logger has nothing to close.
  if (c.connId === undefined || c.server.opts === undefined) return;
  const running = ctx.host().app === 'appRunning';
  ctx.connClosed.note(c.connId, running);
  if (running) ctx.toLogger({ kind: 'ConnClosed', conn: c.connId });
  else
    ctx.event(
      'R5.10',
      'ConnClosed withheld: no incarnation runs (the log decides at the fetch)',
      c,
    );
}

/** R5.10: after a Welcome (a reconnect) or at go-live, what may have been lost or was withheld. */
export function sendOwedConnClosed(ctx: SswCtx, why: 'welcome' | 'live'): void {
  if (ctx.host().app !== 'appRunning') return;
  const ids = ctx.connClosed.release(why === 'welcome');
  if (ids.length === 0) return;
  ctx.event('R5.10', `ConnClosed sent again (${why})`, undefined, { conns: ids.length });
  for (const conn of ids) ctx.toLogger({ kind: 'ConnClosed', conn });
}
