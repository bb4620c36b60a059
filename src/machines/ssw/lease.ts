// Logger loss, SSW side (spec/ssw.md "Logger loss (R9, SSW side)", L.1-L.6): the lease from the
// logger's Welcome and from each HeartbeatAck, counted from the send of the heartbeat it
// answers (L.1); the stall and then unprotected service when it runs out (L.2, L.3); fencing
// (L.5); the co-located logger after a takeover (L.6).

import type { MessageOf } from '../../wire/logmsg.ts';
import { seqGt } from '../../wire/seq.ts';
import { TCP_ACK, TCP_FIN, TCP_RST } from '../../wire/tcp.ts';
import { MAX_OUTSTANDING_HEARTBEATS } from './config.ts';
import type { Conn } from './conn.ts';
import type { SswCtx } from './context.ts';
import { dropLog } from './logBeforeAck.ts';
import { kernelToLan, sendToClient } from './segments.ts';

/** What L.1 remembers between messages. */
export interface LeaseState {
  /** Heartbeat seq -> local send time, in send order (bounded). */
  readonly heartbeatSent: Map<number, number>;
  /** The runtime reports heartbeat sends (else a lease counts from the ack's arrival). */
  heartbeatSendsNoted: boolean;
  warnedLeaseFromArrival: boolean;
  /** A Welcome came before: the next one is a reconnect (R1.7 resends). */
  welcomed: boolean;
  /** L.2: when the engine first saw time (the start-up grace counts from it). */
  startMs: number | undefined;
  /** L.8: the logger link went down and no Welcome came since: acks renew nothing */
  loggerLinkDown: boolean;
  /** L.7: the logger gave the application's log up (`Unprotected {scope: app}`): while the
   * host is unprotected nothing but heartbeats (sent by the runtime) goes to it */
  gaveUp: boolean;
}

export const newLeaseState = (): LeaseState => ({
  heartbeatSent: new Map(),
  heartbeatSendsNoted: false,
  warnedLeaseFromArrival: false,
  welcomed: false,
  startMs: undefined,
  loggerLinkDown: false,
  gaveUp: false,
});

/** L.1: the runtime sent heartbeat `seq` at `sentMs` (the engine's clock). */
export function noteHeartbeatSent(ls: LeaseState, seq: number, sentMs: number): void {
  ls.heartbeatSendsNoted = true;
  ls.heartbeatSent.delete(seq);
  ls.heartbeatSent.set(seq, sentMs);
  if (ls.heartbeatSent.size > MAX_OUTSTANDING_HEARTBEATS) {
    const oldest = ls.heartbeatSent.keys().next();
    if (!oldest.done) ls.heartbeatSent.delete(oldest.value);
  }
}

/** The send time of heartbeat `seq`; forgets it and every heartbeat sent before it. */
function takeHeartbeatSent(ls: LeaseState, seq: number): number | undefined {
  const sentMs = ls.heartbeatSent.get(seq);
  if (sentMs === undefined) return undefined;
  for (const k of [...ls.heartbeatSent.keys()]) {
    ls.heartbeatSent.delete(k);
    if (k === seq) break;
  }
  return sentMs;
}

/** L.1: lease until `sentMs + leaseMs - margin`; never shortened (the host machine keeps the max). */
export function grantLease(
  ctx: SswCtx,
  ls: LeaseState,
  sentMs: number,
  leaseMs: number,
  from: string,
): void {
  // L.8: no logger to log to; the detector's ack says the host is alive, not that it can log.
  if (ls.loggerLinkDown) return;
  if (!Number.isFinite(sentMs) || sentMs > ctx.now) {
    // A send after the ack arrived is a clock mix-up (two clocks): trusting it would stretch
    // the lease past what the detector granted.
    ctx.stats.leaseGrantsRefused++;
    ctx.event('L.1', `${from}: heartbeat send time in the future: no lease`, undefined, {
      sentMs,
      nowMs: ctx.now,
    });
    return;
  }
  const margin = ctx.timing.leaseMarginMs;
  if (leaseMs <= margin) {
    refuseLease(ctx, from, leaseMs);
    return;
  }
  ctx.sendHost({ type: 'LEASE_RENEWED', leaseUntil: sentMs + leaseMs - margin });
}

function refuseLease(ctx: SswCtx, from: string, leaseMs: number): void {
  ctx.stats.leaseGrantsRefused++;
  ctx.event('L.1', `${from}: lease not longer than the margin`, undefined, {
    leaseMs,
    leaseMarginMs: ctx.timing.leaseMarginMs,
  });
}

/** L.1 / L.4: the logger welcomed this SSW. Returns whether it is a reconnect (R1.7 resends). */
export function welcome(ctx: SswCtx, ls: LeaseState, msg: MessageOf<'Welcome'>): boolean {
  const reconnect = ls.welcomed;
  ls.welcomed = true;
  // L.8: a logger again; heartbeat acks renew the lease from here.
  ls.loggerLinkDown = false;
  // The engine does not see the Hello this answers: the lease runs from the arrival.
  const margin = ctx.timing.leaseMarginMs;
  const leaseUntil = ctx.now + msg.leaseMs - margin;
  if (msg.leaseMs <= margin) refuseLease(ctx, 'Welcome', msg.leaseMs);
  ctx.sendHost({ type: 'LOGGER_WELCOME', epoch: msg.epoch, leaseUntil });
  return reconnect;
}

/** L.1: a HeartbeatAck renews the lease from the send of the heartbeat it answers. */
export function heartbeatAcked(ctx: SswCtx, ls: LeaseState, msg: MessageOf<'HeartbeatAck'>): void {
  const sentMs = takeHeartbeatSent(ls, msg.seq);
  if (sentMs !== undefined) grantLease(ctx, ls, sentMs, msg.leaseMs, 'HeartbeatAck');
  else if (ls.heartbeatSendsNoted) {
    // Not a heartbeat this SSW (still) remembers sending: no send time, no lease.
    ctx.stats.leaseGrantsRefused++;
    ctx.event('L.1', 'HeartbeatAck for an unknown heartbeat: no lease', undefined, {
      seq: msg.seq,
    });
  } else {
    // A runtime that reports no heartbeat sends: the ack's arrival is all there is.
    if (!ls.warnedLeaseFromArrival) {
      ls.warnedLeaseFromArrival = true;
      ctx.event('L.1', 'lease counted from the ack: no heartbeat send times reported');
    }
    grantLease(ctx, ls, ctx.now, msg.leaseMs, 'HeartbeatAck');
  }
}

/** L.8: the logger link is down: heartbeat acks renew nothing until the next Welcome. */
export function loggerLinkDown(ctx: SswCtx, ls: LeaseState): void {
  if (ls.loggerLinkDown) return;
  ls.loggerLinkDown = true;
  const logger = ctx.host().logger;
  // Only a leased logger can be lost this way (L.6: a co-located one goes with this host).
  if (logger === 'protected')
    ctx.event(
      'L.8',
      'logger link down: heartbeat acks renew no lease until a logger welcomes us',
      undefined,
      {
        leaseUntil: ctx.hostContext().leaseUntil,
      },
    );
}

/** L.5 / L.6: a logger Error. */
export function loggerError(ctx: SswCtx, msg: MessageOf<'Error'>): void {
  if (msg.code === 'staleEpoch' && ctx.host().logger === 'colocated') {
    // L.6: the logger is on this host, so the only coordinator that can fence it is
    // this host's own, for a local recovery (F.1): not a newer incarnation elsewhere.
    // Nothing this link sends is stored until the runtime rejoins at that epoch, so
    // stableSeq stands still and acks stay clamped (I1) meanwhile.
    ctx.event('L.6', 'logger at a newer epoch: local recovery; wait for its epoch', undefined, {
      message: msg.message,
    });
  } else if (msg.code === 'staleEpoch') {
    ctx.event('L.5', 'fenced by the logger', undefined, { message: msg.message });
    ctx.sendHost({ type: 'FENCED' });
  } else ctx.event('logger', `logger error ${msg.code}`, undefined, { message: msg.message });
}

/** L.2 per tick: a lease past its grace, or no logger at start-up, ends protection. */
export function leaseTick(ctx: SswCtx, ls: LeaseState): void {
  const v = ctx.host();
  if (
    v.logger === 'protected' &&
    ctx.now > ctx.hostContext().leaseUntil + ctx.timing.unprotectAfterMs
  ) {
    ctx.event('L.2', 'lease expired and the grace passed: unprotected');
    ctx.sendHost({ type: 'LEASE_EXPIRED' });
  } else if (
    // A standby joins the logger only at takeover (L.6): it is not waiting for one.
    v.role === 'active' &&
    v.logger === 'awaitingLogger' &&
    ctx.now - (ls.startMs ?? ctx.now) > ctx.timing.startupGraceMs
  ) {
    ctx.event('L.2', 'no logger at start-up: unprotected');
    ctx.sendHost({ type: 'LEASE_EXPIRED' });
  }
}

/** L.2 (host action `degradeConnections`): every connection to unprotected. */
export function degradeConnections(ctx: SswCtx): void {
  for (const c of ctx.conns.all()) {
    ctx.sendConn(c, { type: 'LOGGER_LOST' });
    // Nothing of an unprotected connection will be logged again: release what it held
    // against R1.6, or connections protected later would stall behind it.
    if (!c.protected) dropLog(ctx, c);
  }
}

/** L.2 (machine action `liftClamps`): held FIN and RST go; no clamp from now on. */
export function liftClamps(ctx: SswCtx, c: Conn): void {
  ctx.event('L.2', 'connection unprotected', c);
  if (c.held.finSeq !== undefined) {
    const finSeq = c.held.finSeq;
    c.protected = false;
    sendToClient(ctx, c, TCP_ACK | TCP_FIN, finSeq);
    c.held.finSeq = undefined;
  }
  if (c.held.rst !== undefined) {
    const held = c.held.rst;
    c.held.rst = undefined;
    c.held.rstSeq = undefined;
    kernelToLan(ctx, held, c.clientAddr, false);
  }
  // L.2: what the kernel acked and the clamp held back is told at once (R1.4 form). No kernel
  // segment may come to carry it: the client, in RTO back-off since the logger went silent,
  // would wait for its next retransmission (found by W.1).
  if (c.kernel.ackValid && seqGt(c.kernel.ack, c.client.sentAck)) {
    c.protected = false;
    sendToClient(ctx, c, TCP_ACK);
  }
}

/** L.2 (machine action `resetClient`): an orphan cannot be recovered without the logger. */
export function resetClient(ctx: SswCtx, c: Conn): void {
  ctx.event('L.2', 'cannot recover without the logger: reset the client', c);
  sendToClient(ctx, c, TCP_RST | TCP_ACK);
}
