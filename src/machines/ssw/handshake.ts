// R2 connection record first (spec/ssw.md "R2 Connection record first"): a new connection is
// taken only when the host can protect it or knowingly cannot (R2.5, R2.6, L.3); the first
// kernel SYN-ACK fixes the connection record, which goes to the logger (LogSyn) while the
// SYN-ACK is held until SynStored (R2.1-R2.3). A re-created incarnation's SYN-ACK (R6.3) is
// read by the same function.

import { match, P } from 'ts-pattern';
import { seqAdd } from '../../wire/seq.ts';
import type { TcpPacket } from '../../wire/tcp.ts';
import type { VnetHdr } from '../../wire/vnet.ts';
import { assert } from './assert.ts';
import { kernelWindowField } from './clamp.ts';
import type { Conn } from './conn.ts';
import type { SswCtx } from './context.ts';
import { kernelToLan, synOptsOfSegment } from './segments.ts';
import { clientSeq, kernelSeq } from './spaces.ts';
import { toOriginalSeq } from './translate.ts';

/** R2.5 / R2.6 / L.3: a new connection, or undefined (dropped) when the host cannot take one. */
export function newConnection(ctx: SswCtx, clientAddr: number, tcp: TcpPacket): Conn | undefined {
  const host = ctx.host();
  if (host.app !== 'appRunning' || host.logger === 'awaitingLogger') {
    // No listener to answer (app dead or replaying), or no lease yet: the client retries.
    ctx.stats.dropNotReady++;
    return undefined;
  }
  if (ctx.conns.size >= ctx.limits.maxConnections) {
    ctx.stats.dropConnLimit++;
    return undefined;
  }
  const c = ctx.createConn({
    clientAddr,
    clientPort: tcp.srcPort,
    serverPort: tcp.dstPort,
    clientIsn: clientSeq(tcp.seqNumber),
    clientOpts: synOptsOfSegment(tcp),
    isProtected: host.logger === 'protected' || host.logger === 'colocated',
  });
  c.client.window = tcp.window;
  return c;
}

/** The first (R2.1) or a re-created incarnation's (R6.3) SYN-ACK. */
export function recordSynAck(ctx: SswCtx, c: Conn, tcp: TcpPacket, first: boolean): void {
  const o = synOptsOfSegment(tcp);
  const bothScale = c.client.opts.wscale !== null && o.wscale !== null;
  const k = c.kernel;
  k.isn = kernelSeq(tcp.seqNumber);
  k.opts = o;
  k.ws = bothScale ? (o.wscale ?? 0) : 0;
  // The kernel's SYN-ACK acks the client's SYN: client space.
  k.ack = clientSeq(tcp.ackNumber);
  k.ackValid = true;
  k.winField = kernelWindowField(tcp.window, true, k.ws);
  // SYN-ACK windows are never scaled (RFC 7323 §2.2).
  k.rcvEdge = seqAdd(k.ack, tcp.window);
  k.lastTsVal = o.tsVal ?? 0;
  // R2.8: a listener answered on this port.
  ctx.served.note(c.serverPort);
  if (!first) return;
  // The first incarnation numbers the server's stream: its space is the original one (the
  // translation is the identity until a re-creation, R6.3).
  assert(c.t.deltaSeq === 0 && c.t.tsDelta === 0, 'R6.3', () => ({ ...c.t }));
  c.server.isn = toOriginalSeq(k.isn, c.t);
  c.server.opts = o;
  c.server.synTimeMs = ctx.wallMs();
  c.client.ws = k.ws;
  c.tsOk = c.client.opts.tsVal !== null && o.tsVal !== null;
  k.sndNxt = seqAdd(c.server.isn, 1);
  c.client.ack = seqAdd(c.server.isn, 1);
  c.client.sentAck = k.ack;
  c.client.rightEdge = seqAdd(k.ack, tcp.window);
  if (c.connId === undefined) ctx.conns.assignConnId(c);
}

/**
 * R2.1 (kernel action `firstSynAck`): the record is fixed and the SYN-ACK held while the
 * machine logs it; an unprotected connection (L.3) lets it go at once.
 */
export function firstSynAck(
  ctx: SswCtx,
  c: Conn,
  tcp: TcpPacket,
  datagram: Uint8Array,
  headroom: boolean,
  vnet: VnetHdr,
): void {
  recordSynAck(ctx, c, tcp, true);
  c.held.synAck = datagram.slice();
  ctx.stats.heldSynAcks++;
  ctx.sendConn(c, { type: 'KERNEL_SYN_ACK' });
  if (c.mode !== 'awaitingSynStored') {
    c.held.synAck = undefined;
    kernelToLan(ctx, datagram, c.clientAddr, headroom, vnet);
  }
}

/** R2.2 (kernel action `holdSynAck`): a retransmitted SYN-ACK replaces the held one. */
export function holdSynAck(ctx: SswCtx, c: Conn, datagram: Uint8Array): void {
  c.held.synAck = datagram.slice();
  ctx.sendConn(c, { type: 'KERNEL_SYN_ACK' });
}

/** R2.1 (machine action `logSyn`, and R1.7's resend): the connection record to the logger. */
export function sendLogSyn(ctx: SswCtx, c: Conn): void {
  if (c.connId === undefined || c.server.opts === undefined) return;
  ctx.toLogger({
    kind: 'LogSyn',
    conn: c.connId,
    clientAddr: c.clientAddr,
    clientPort: c.clientPort,
    serverAddr: ctx.config.serviceAddr,
    serverPort: c.serverPort,
    clientIsn: c.client.isn,
    serverIsn: c.server.isn,
    clientOpts: c.client.opts,
    serverOpts: c.server.opts,
    synTimeMs: c.server.synTimeMs,
  });
}

/** R2.3 / L.2 (machine action `releaseHeldSynAck`): the held SYN-ACK to the client. */
export function releaseHeldSynAck(ctx: SswCtx, c: Conn): void {
  const held = c.held.synAck;
  c.held.synAck = undefined;
  if (held === undefined) return;
  ctx.event('R2.3', 'release SYN-ACK', c);
  kernelToLan(ctx, held, c.clientAddr, false);
}

// ---------------------------------------------------------------------------------------
// R2.8 a refused SYN while the application may have died

/**
 * R2.8: what the SSW knows of the application when the kernel refuses a SYN: `dead` (reported
 * dead or recovering), `unreported` (running as far as the SSW knows, and the first refusal
 * withheld on this port since the last death is younger than `refusalGraceMs`, or this is
 * it), `alive` (running, and refusing for longer than any death report takes).
 */
export type AppAtRefusal = 'dead' | 'unreported' | 'alive';

/**
 * R2.8 decision table. A kernel RST that answers a client's SYN (`answersSyn`) on a port this
 * SSW has seen served (`served`), while the host protects its connections (`protectedHost`:
 * a restarted application will replay and listen again), is withheld unless the application
 * is known `alive`: the client's SYN retry then reaches the restarted listener. Anything else
 * goes to the client as today: a port nobody served, an unprotected host, an RST that does not
 * answer a SYN, an application that really does not listen.
 */
export const refusalAction = (
  protectedHost: boolean,
  served: boolean,
  answersSyn: boolean,
  app: AppAtRefusal,
): 'withhold' | 'forward' =>
  match([protectedHost, served, answersSyn, app] as const)
    .with([true, true, true, 'dead'], [true, true, true, 'unreported'], () => 'withhold' as const)
    .with([true, true, true, 'alive'], () => 'forward' as const)
    .with([false, P._, P._, P._], () => 'forward' as const)
    .with([true, false, P._, P._], () => 'forward' as const)
    .with([true, true, false, P._], () => 'forward' as const)
    .exhaustive();

/**
 * R2.8: does a kernel RST to `port` get withheld? `c` is the connection in `listenSynSeen`
 * whose SYN it answers (ack = clientIsn + 1), or undefined for a client the SSW no longer
 * tracks (its record was dropped when the application's death was reported, R2.6, between the
 * SYN and the kernel's answer): then it answers a SYN when it is RST+ACK with seq 0 (Linux,
 * `tcp_v4_send_reset` for a segment without ACK), and only a dead application counts.
 */
export function withholdRefusal(
  ctx: SswCtx,
  port: number,
  tcp: TcpPacket,
  c: Conn | undefined,
): boolean {
  const host = ctx.host();
  const protectedHost =
    c?.protected !== false && (host.logger === 'protected' || host.logger === 'colocated');
  const answersSyn =
    tcp.rst &&
    tcp.ack &&
    (c !== undefined ? clientSeq(tcp.ackNumber) === seqAdd(c.client.isn, 1) : tcp.seqNumber === 0);
  const first = ctx.served.firstWithheldMs(port);
  const app: AppAtRefusal =
    host.app !== 'appRunning'
      ? 'dead'
      : c === undefined
        ? 'alive'
        : first === undefined || ctx.now - first < ctx.timing.refusalGraceMs
          ? 'unreported'
          : 'alive';
  if (refusalAction(protectedHost, ctx.served.has(port), answersSyn, app) === 'forward')
    return false;
  ctx.served.noteWithheld(port, ctx.now);
  ctx.stats.withheldRefusals++;
  ctx.event('R2.8', 'kernel refusal of a SYN withheld: the application may have died', c, {
    port,
    app,
  });
  return true;
}
