// Logger limits, SSW side (spec/ssw.md "Checkpoints and logger limits, SSW side"): L.7, the
// logger giving protection up (`Unprotected`, spec/logger.md R15.4), and R2.7, the established
// hint (`ConnEstablished`) and the re-log of an embryonic record the logger expired (R15.6).
//
// Why here and not in the logger alone: a logger that gives a log up drops every store message
// without an answer, so an SSW that kept waiting for SynStored / DataStored would hold SYN-ACKs,
// FINs and acks for good: the service would freeze with nothing failed. L.7 turns the SSW
// unprotected instead, as a lost logger does (L.2), and says so on the timeline.

import type { MessageOf } from '../../wire/logmsg.ts';
import { seqAdd, seqGe } from '../../wire/seq.ts';
import type { TcpPacket } from '../../wire/tcp.ts';
import type { Conn } from './conn.ts';
import type { SswCtx } from './context.ts';
import { sendLogSyn } from './handshake.ts';
import type { LeaseState } from './lease.ts';
import { dropLog } from './logBeforeAck.ts';
import { origSeq } from './spaces.ts';

/** L.7 / R2.7: the logger's `Unprotected`, by scope. */
export function unprotectedByLogger(
  ctx: SswCtx,
  ls: LeaseState,
  msg: MessageOf<'Unprotected'>,
): void {
  if (msg.scope === 'app') appUnprotected(ctx, ls, msg);
  else connUnprotected(ctx, msg);
}

/**
 * L.7 scope `app`: the application's log is gone (spec/logger.md R15.4). Every connection as
 * in L.2 (host action `degradeConnections`: held SYN-ACK, FIN and RST released, clamps lifted,
 * queued LogData dropped), new ones unprotected (L.3), nothing but heartbeats to the logger
 * (`gaveUp`, the engine's `toLogger`). For the incarnation's life (L.10 `noteAppUnlogged`:
 * no Welcome re-protects it; a new incarnation replays into a fresh log or is told again).
 */
function appUnprotected(ctx: SswCtx, ls: LeaseState, msg: MessageOf<'Unprotected'>): void {
  const first = !ls.gaveUp;
  ls.gaveUp = true;
  if (first || ctx.host().logger !== 'unprotected')
    ctx.event('L.7', 'the logger gave the application up: unprotected', undefined, {
      scope: 'app',
      reason: msg.reason,
      detail: msg.detail,
    });
  if (ctx.host().logger !== 'unprotected') ctx.sendHost({ type: 'LOGGER_GAVE_UP' });
  else {
    // Already unprotected (L.2): nothing is held any more; the resend queue goes as well.
    for (const c of ctx.conns.all()) dropLog(ctx, c);
  }
}

/**
 * L.7: whether a message may go to the logger. A logger that gave the application up drops
 * store messages unanswered: nothing but the runtime's heartbeats goes while the host is
 * unprotected; a host protected again (a new incarnation, L.10) logs again.
 */
export function loggerTakes(ctx: SswCtx, ls: LeaseState): boolean {
  if (!ls.gaveUp) return true;
  if (ctx.host().logger === 'unprotected') {
    ctx.stats.dropGivenUpLog++;
    return false;
  }
  ls.gaveUp = false;
  return true;
}

/**
 * L.7 scope `conn` (a store full in an unrecorded log): that connection alone as in L.2. R2.7
 * for `embryonicExpired`: the record is logged again if the handshake completes after all.
 */
function connUnprotected(ctx: SswCtx, msg: MessageOf<'Unprotected'>): void {
  const c = ctx.conns.byConnId(msg.conn);
  // Forgotten already (closed), or told again for a later message of the same connection.
  if (c === undefined || !c.protected) return;
  if (msg.reason === 'embryonicExpired') {
    // Told again for a message sent before the re-log went out: the new record is on its way.
    if (c.log.record !== 'kept') return;
    if (!c.log.established) {
      c.log.record = 'expired';
      ctx.event(
        'R2.7',
        'embryonic record expired at the logger: logged again if the client acks',
        c,
      );
      return;
    }
    // The client's ack (and ConnEstablished) crossed the expiry: client bytes may already be
    // in the kernel with their LogData refused, so the record cannot simply be logged again.
    // Unprotected, like a store full, rather than a connection whose bytes never get stored.
  }
  ctx.event('L.7', 'the logger gave the connection up: unprotected', c, {
    scope: 'conn',
    reason: msg.reason,
    detail: msg.detail,
  });
  c.log.record = 'kept';
  ctx.sendConn(c, { type: 'LOGGER_LOST' });
  if (!c.protected) dropLog(ctx, c);
}

/**
 * R2.7 per client segment of a known connection: the first one acking `serverIsn + 1` sends
 * `ConnEstablished`; an expired record is logged again then. Returns false when the segment
 * must not reach the kernel (the record is being logged again: nothing until its SynStored;
 * the client retransmits, and the kernel's SYN-ACK retransmission draws its ack again).
 */
export function noteClientHandshake(ctx: SswCtx, c: Conn, tcp: TcpPacket): boolean {
  const log = c.log;
  if (log.established && log.record === 'kept') return true;
  if (log.record === 'relogged') {
    if (tcp.rst) return true;
    ctx.stats.dropUntilSynStored++;
    return false;
  }
  if (
    !tcp.ack ||
    !c.protected ||
    c.connId === undefined ||
    c.server.opts === undefined ||
    c.mode === 'listenSynSeen' ||
    c.mode === 'awaitingSynStored' ||
    !seqGe(origSeq(tcp.ackNumber), seqAdd(c.server.isn, 1))
  )
    return true;
  if (log.record === 'expired') {
    log.record = 'relogged';
    ctx.event('R2.7', 'handshake completed after the record expired: logged again', c);
    sendLogSyn(ctx, c);
    ctx.stats.dropUntilSynStored++;
    return false;
  }
  log.established = true;
  ctx.toLogger({ kind: 'ConnEstablished', conn: c.connId });
  return true;
}

/**
 * R2.7: `SynStored` for a record logged again: the connection's segments reach the kernel from
 * now on, and the logger is told at once that it is established (the client acked). Returns
 * false when the connection was not being logged again (SYN_STORED goes to its machine).
 */
export function relogStored(ctx: SswCtx, c: Conn): boolean {
  if (c.log.record !== 'relogged') return false;
  c.log.record = 'kept';
  c.log.established = true;
  ctx.event('R2.7', 'record stored again: segments reach the kernel', c);
  if (c.connId !== undefined) ctx.toLogger({ kind: 'ConnEstablished', conn: c.connId });
  return true;
}
