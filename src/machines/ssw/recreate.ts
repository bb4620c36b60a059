// R6 re-creation (spec/ssw.md "R6 Re-creation"): from the log's records (R6.1) every logged
// connection gets a new incarnation: a fake SYN (R6.2), its SYN-ACK captured and the
// translation fixed (R6.3), a fake ACK (R6.4), the logged stream injected (inject.ts, R6.5-R6.7)
// and, in one place, go-live with the client's prompt (R6.8, with R6.9's logged SYN-ACK). What
// a standby saw before it is handed over here too (R6.10).

import type { LoggerMessage, MessageOf } from '../../wire/logmsg.ts';
import { seqAdd, seqGe, seqGt, seqLe, seqMax, seqSub } from '../../wire/seq.ts';
import { findTimestamps, TCP_ACK, TCP_RST, TCP_SYN, type TcpPacket } from '../../wire/tcp.ts';
import type { VnetHdr } from '../../wire/vnet.ts';
import { noteToldAck } from './clamp.ts';
import { sendOwedConnClosed } from './closes.ts';
import { DEFAULT_PROMPT_ACKS, type SswConfig, type SswLimits } from './config.ts';
import type { Conn } from './conn.ts';
import type { SswCtx } from './context.ts';
import {
  appendStream,
  clearStream,
  forwardHeldPieces,
  resumeStream,
  streamDataEnd,
  streamEnd,
  tryInject,
} from './inject.ts';
import { dropOooBelow, dropPending, dropStoredPending } from './logBeforeAck.ts';
import {
  buildPacket,
  EMPTY,
  sackNegotiated,
  sendToClient,
  sendToKernel,
  synOptions,
  toKernelTsOptions,
} from './segments.ts';
import { type ClientSeq, clientSeq, origSeq } from './spaces.ts';
import { keptKeyOf, StandbyKeep } from './standby.ts';
import { computeDeltaSeq, computeTsDelta, IDENTITY, toClientTs } from './translate.ts';

/** What the engine keeps between a recovery's steps. */
export interface RecoveryState {
  /** Replay* messages from the logger link, until ReplayEnd. */
  replayBuffer: LoggerMessage[];
  /** The records of the START_RECOVERY being handled (read by `recreateConnections`). */
  pendingRecords: readonly LoggerMessage[];
  /** Records that reached a standby: used at its takeover. */
  deferredRecords: readonly LoggerMessage[] | undefined;
  /** R6.10: from standby until the first re-creation after the takeover. */
  standbyKeep: StandbyKeep | undefined;
}

export const newRecoveryState = (config: SswConfig, limits: SswLimits): RecoveryState => ({
  replayBuffer: [],
  pendingRecords: [],
  deferredRecords: undefined,
  standbyKeep:
    config.role === 'standby'
      ? new StandbyKeep({ maxKept: limits.maxStandbyKept, maxAgeMs: limits.standbyKeptMaxAgeMs })
      : undefined,
});

/** A LAN frame handler (the engine's), for segments a standby kept. */
export type LanHandler = (frame: Uint8Array, vnet: VnetHdr) => void;

/**
 * R6.1 entry. Only an active SSW may put fake SYNs into its kernel; records that reach a
 * standby wait for its takeover, and a fenced one drops them.
 */
export function recover(
  ctx: SswCtx,
  rs: RecoveryState,
  records: readonly LoggerMessage[],
  handleLan: LanHandler,
): void {
  const role = ctx.host().role;
  if (role !== 'active') {
    if (role === 'standby') rs.deferredRecords = records;
    ctx.event('R6.1', `recovery records held: host is ${role}`, undefined, {
      records: records.length,
    });
    return;
  }
  rs.pendingRecords = records;
  ctx.sendHost({ type: 'START_RECOVERY' });
  rs.pendingRecords = [];
  maybeRecoveryDone(ctx);
  handOverKept(ctx, rs, handleLan);
}

/**
 * R6.10: the connections the log holds exist again (re-creating): the client segments a
 * standby kept for them are handled now, as late arrivals. Only for a connection that now
 * exists, or a SYN (a new connection): any other segment belongs to a connection the log
 * does not know, and a kernel would answer it with an RST (R5.6).
 */
function handOverKept(ctx: SswCtx, rs: RecoveryState, handleLan: LanHandler): void {
  const keep = rs.standbyKeep;
  if (keep === undefined) return;
  rs.standbyKeep = undefined;
  const { segments, kept } = keep.take(ctx.now);
  let handed = 0;
  for (const s of segments) {
    const key = keptKeyOf(s.frame, ctx.config.serviceAddr);
    if (key === undefined) continue;
    if (!key.syn && ctx.conns.lookup(key.clientAddr, key.clientPort, key.serverPort) === undefined)
      continue;
    handed++;
    handleLan(s.frame, s.vnet);
  }
  ctx.stats.keptHandedOver += handed;
  if (kept > 0)
    ctx.event('R6.10', 'segments seen before re-creation handed over', undefined, {
      kept,
      handed,
    });
}

/** R6.8: the host's recovery is done once no connection is still being re-created. */
export function maybeRecoveryDone(ctx: SswCtx): void {
  if (ctx.host().app !== 'recovering') return;
  // A count kept by the table: a walk over every connection after each one that went live
  // was O(n^2) over a recovery of n connections.
  if (ctx.conns.recreating > 0) return;
  ctx.event('R6.8', 'recovery done');
  ctx.sendHost({ type: 'RECOVERY_DONE' });
  // R5.10: what was withheld since the fetch may change the log's open set now.
  sendOwedConnClosed(ctx, 'live');
}

// ---------------------------------------------------------------------------------------
// R6.1 from the records

/** R6.1 (host action `recreateConnections`): every orphan the log holds gets re-created. */
export function recreateAll(ctx: SswCtx, records: readonly LoggerMessage[]): void {
  // R5.10: the records are the logger's open set: a connection whose ConnClosed was withheld
  // or maybe lost is either listed (re-created below) or closed there already.
  const settled = ctx.connClosed.settledByLog();
  if (settled > 0)
    ctx.event('R5.10', 'ConnClosed kept: settled by the log', undefined, { settled });
  const restored = new Map<number, Conn>();
  for (const r of records) {
    if (r.kind === 'ReplaySyn') {
      const c = restoreFromLog(ctx, r);
      // An orphan of a local recovery knows what the client acked (noteClient).
      if (c === undefined || c.mode !== 'orphaned') continue;
      clearStream(c);
      restored.set(r.conn, c);
    } else if (r.kind === 'ReplayResume') {
      // R6.11: follows its ReplaySyn, before any of its ReplayData.
      const c = restored.get(r.conn);
      if (c !== undefined) resumeStream(c, r.readOffset, r.outputFrom, r.end);
    } else if (r.kind === 'ReplayData') {
      const c = restored.get(r.conn);
      if (c === undefined) continue;
      if (c.inject.streamBytes + r.payload.length > ctx.limits.maxReplayBytes) {
        ctx.event('R6.1', 'replay stream over maxReplayBytes: connection given up', c);
        ctx.sendConn(c, { type: 'CLIENT_RST' });
        restored.delete(r.conn);
        continue;
      }
      appendStream(c, clientSeq(r.seq), r.payload, r.fin);
    }
  }
  for (const c of restored.values()) restartFromReplay(ctx, c);
  // Orphans the log does not know (never stored) cannot be re-created.
  for (const c of ctx.conns.all()) {
    if (c.mode === 'orphaned' && !restored.has(c.connId ?? -1)) {
      ctx.event('R6.1', 'orphan absent from the log: forgotten', c);
      ctx.sendConn(c, { type: 'CLIENT_RST' });
    }
  }
}

/**
 * R6.1: the connection a ReplaySyn names: the orphan this SSW still has (local recovery; its
 * clientAck raised if the log knows more), or a new record restored from the log (failover).
 * Undefined when the connection limit is reached.
 */
function restoreFromLog(ctx: SswCtx, r: MessageOf<'ReplaySyn'>): Conn | undefined {
  ctx.conns.reserveConnId(r.conn);
  // R2.8: the logged application served this port.
  ctx.served.note(r.serverPort);
  const known = ctx.conns.lookup(r.clientAddr, r.clientPort, r.serverPort);
  // The log's numbers: the client's ISN (client space), the server's and what the client
  // acked of its stream (original space).
  const clientAck = r.clientAck === null ? undefined : origSeq(r.clientAck);
  if (known !== undefined) {
    if (clientAck !== undefined && seqGt(clientAck, known.client.ack)) known.client.ack = clientAck;
    return known;
  }
  if (ctx.conns.size >= ctx.limits.maxConnections) {
    ctx.stats.dropConnLimit++;
    return undefined;
  }
  const c = ctx.createConn({
    clientAddr: r.clientAddr,
    clientPort: r.clientPort,
    serverPort: r.serverPort,
    clientIsn: clientSeq(r.clientIsn),
    clientOpts: r.clientOpts,
    isProtected: true,
  });
  ctx.conns.adoptConnId(c, r.conn);
  c.server.isn = origSeq(r.serverIsn);
  c.server.opts = r.serverOpts;
  c.server.synTimeMs = r.synTimeMs;
  const both = r.clientOpts.wscale !== null && r.serverOpts.wscale !== null;
  c.client.ws = both ? (r.serverOpts.wscale ?? 0) : 0;
  c.tsOk = r.clientOpts.tsVal !== null && r.serverOpts.tsVal !== null;
  c.client.ack = clientAck ?? seqAdd(c.server.isn, 1);
  c.client.synAckUnconfirmed = clientAck === undefined;
  c.client.sentAck = seqAdd(c.client.isn, 1);
  c.client.rightEdge = c.client.sentAck;
  ctx.sendConn(c, { type: 'RESTORE' });
  return c;
}

/** R6.1 / R6.5: a restored connection starts its new incarnation from the replay's end. */
function restartFromReplay(ctx: SswCtx, c: Conn): void {
  // Everything in the replay is stored, so stableSeq moves to its end. R6.11: when the
  // application consumed bytes whose LogData was not stored (end < readOffset), the stored end
  // is below the stream's start: logging resumes there (the client retransmits those bytes,
  // the logger needs them contiguous), while injection starts at readOffset.
  const inj = c.inject;
  const end =
    inj.end < inj.readOffset ? seqAdd(c.client.isn, 1 + (inj.end % 2 ** 32)) : streamEnd(c);
  if (inj.end < inj.readOffset)
    ctx.event('R6.11', 'stored end below the checkpoint: client retransmits the gap', c, {
      end: inj.end,
      readOffset: inj.readOffset,
    });
  // Client bytes in the log: the client was established, it had the SYN-ACK.
  if (c.inject.streamBytes > 0 || c.inject.streamFin) c.client.synAckUnconfirmed = false;
  c.log.stableSeq = end;
  if (lateLogContinues(c, end)) {
    // R6.5 (local recovery): what this SSW handed the logger past the replay's end
    // (logged after the FetchLog snapshot, or not yet stored when it was taken) is on its
    // way to the logger in order on the same link, or resent after a reconnect (R1.7): it
    // will be stored. Inject it with the replay instead of waiting for the client's
    // retransmission. loggedSeq, the pending log and ooo stay: nothing is logged twice and
    // the logger sees no gap; the acks still wait for its DataStored (R1.2, I1).
    for (const m of c.log.pending) appendStream(c, m.seq, m.payload, m.fin);
    dropStoredPending(ctx, c);
  } else {
    // Nothing pending past the replay (a failover's fresh connection, or pending bytes
    // the replay already covers): the log's end is where logging resumes. Bytes held past a
    // hole (R1.1 `ooo`) stay held: R6.13 hands them to the new kernel at go-live.
    c.log.loggedSeq = end;
    dropPending(ctx, c);
    dropOooBelow(c, end);
  }
  c.log.finLogged = c.inject.streamFin;
  // R5.7 for the new incarnation: the client's FIN is where the log has it (a failover's
  // record never saw it go by, and without it the connection would stay `closing` after both
  // FINs are acked); what the previous incarnation's FIN did is history.
  if (c.inject.streamFin) c.close.clientFinSeq = streamDataEnd(c);
  c.close.serverFinSeq = undefined;
  c.close.serverFinAckForwarded = false;
  c.close.closingSinceMs = 0;
  // R6.11: the new kernel's rcv.nxt is the first byte the restored application has not read.
  c.inject.seq = seqAdd(c.client.isn, 1 + (inj.readOffset % 2 ** 32));
  c.inject.finInjected = false;
  c.kernel.ackValid = false;
  c.kernel.sndNxt = kernelStartInOrig(c);
  c.t = IDENTITY;
  c.held.finSeq = undefined;
  c.held.rst = undefined;
  c.held.rstSeq = undefined;
  c.inject.recreateAtMs = ctx.now + ctx.timing.recreateRetryMs;
  ctx.stats.recreated++;
  ctx.sendConn(c, { type: 'RECOVER' });
}

/**
 * R6.5: does this orphan's pending log (handed to the logger, not yet acknowledged) continue
 * the replay that ends at `end`, without a gap, up to `loggedSeq`? It does whenever the
 * logger and this SSW agree (the logger stores in order what this link sent it); anything
 * else falls back to resuming the log at the replay's end.
 */
function lateLogContinues(c: Conn, end: ClientSeq): boolean {
  const first = c.log.pending[0];
  if (first === undefined || c.inject.streamFin) return false;
  if (!seqLe(first.seq, end) || !seqGt(c.log.loggedSeq, end)) return false;
  let at = first.seq;
  for (const m of c.log.pending) {
    if (m.seq !== at) return false;
    at = seqAdd(at, m.payload.length + (m.fin ? 1 : 0));
  }
  return at === c.log.loggedSeq;
}

// ---------------------------------------------------------------------------------------
// R6.2-R6.4 the new incarnation's handshake (machine actions and the tick's retry)

/**
 * R6.11: the original-space number of the new kernel's first byte: serverIsn + 1 +
 * outputFrom (the NSW writes the checkpoint's output tail first, spec/nsw.md R13.6).
 */
const kernelStartInOrig = (c: Conn) => seqAdd(c.server.isn, 1 + (c.inject.outputFrom % 2 ** 32));

/** R6.11: the fake SYN's sequence number: clientIsn + readOffset (0 without a checkpoint). */
const fakeSynSeq = (c: Conn) => seqAdd(c.client.isn, c.inject.readOffset % 2 ** 32);

/** R6.2 (machine action `sendFakeSyn`): the client's logged SYN into the kernel. */
export function sendFakeSyn(ctx: SswCtx, c: Conn): void {
  const o = c.client.opts;
  const options = synOptions(
    o,
    o.tsVal !== null ? { tsVal: c.client.tsRecent, tsEcr: 0 } : undefined,
  );
  ctx.stats.fakeSyns++;
  ctx.event('R6.2', 'fake SYN', c);
  sendToKernel(ctx, c, fakeSynSeq(c), undefined, TCP_SYN, 65535, options);
}

/** R6.3 (machine action `dropKernelReply`): an RST to the fake SYN; a later tick retries. */
export function dropKernelReply(ctx: SswCtx, c: Conn): void {
  c.inject.recreateAtMs = ctx.now + ctx.timing.recreateRetryMs;
  ctx.event('R6.3', 'kernel refused the fake SYN; retry later', c);
}

/**
 * R6.3: the kernel answered the fake SYN from a socket an earlier incarnation left on the
 * 4-tuple (a challenge ACK, RFC 5961 4, or a FIN it retransmits from LAST_ACK). Nothing the
 * SSW re-creates may share the 4-tuple with it, and it would keep every fake SYN from a
 * listener until the kernel gave it up (orphan retries: up to minutes) while the replay waits
 * for the connection. An RST at the segment's ack number is in its window exactly (RFC 5961
 * 3.2: accepted, not challenged); the next retry's fake SYN then reaches the listener.
 */
export function abortStaleSocket(ctx: SswCtx, c: Conn, tcp: TcpPacket): void {
  if (!tcp.ack) return;
  ctx.stats.staleSocketsAborted++;
  ctx.event('R6.3', 'stale kernel socket on the 4-tuple: aborted', c, { ack: tcp.ackNumber });
  sendToKernel(ctx, c, clientSeq(tcp.ackNumber), undefined, TCP_RST, 0, []);
}

/** R6.3 per tick: the fake SYN again once `recreateRetryMs` passed. */
export function recreateRetryTick(ctx: SswCtx, c: Conn): void {
  if (ctx.now < c.inject.recreateAtMs) return;
  c.inject.recreateAtMs = ctx.now + ctx.timing.recreateRetryMs;
  ctx.sendConn(c, { type: 'RECREATE_RETRY' });
}

/** R6.3 (machine action `captureSynAckAndTranslate`): the translation of this incarnation. */
export function captureSynAckAndTranslate(ctx: SswCtx, c: Conn): void {
  // R6.11: the kernel's first byte is the output tail's first (serverIsn + 1 + outputFrom).
  const deltaSeq = computeDeltaSeq(
    seqAdd(c.server.isn, c.inject.outputFrom % 2 ** 32),
    c.kernel.isn,
  );
  const kernelTs = c.kernel.opts?.tsVal ?? null;
  const tsDelta =
    c.tsOk && kernelTs !== null
      ? computeTsDelta({
          loggedSynAckTsVal: c.server.opts?.tsVal ?? 0,
          synTimeMs: c.server.synTimeMs,
          nowMs: ctx.wallMs(),
          marginMs: ctx.timing.tsMarginMs,
          kernelTsVal: kernelTs,
          tsValSent: c.client.tsValSent,
        })
      : 0;
  c.t = { deltaSeq, tsDelta };
  c.kernel.sndNxt = kernelStartInOrig(c);
  c.inject.progressMs = ctx.now;
  // The new kernel's scale may differ; R7.3 re-encodes every window with clientWs.
  ctx.event('R6.3', 'captured SYN-ACK', c, {
    deltaSeq,
    tsDelta,
    kernelWs: c.kernel.ws,
    clientWs: c.client.ws,
  });
}

/** R6.4 (machine action `sendFakeAck`): the handshake's last ACK, as the client. */
export function sendFakeAck(ctx: SswCtx, c: Conn): void {
  ctx.event('R6.4', 'fake ACK', c);
  sendToKernel(
    ctx,
    c,
    seqAdd(fakeSynSeq(c), 1),
    seqAdd(c.kernel.isn, 1),
    TCP_ACK,
    c.client.window,
    toKernelTsOptions(c),
  );
}

// ---------------------------------------------------------------------------------------
// R6.8 go-live, R6.9 the logged SYN-ACK

/** Injection progress and go-live (R6.8) after every kernel segment of a re-creation. */
export function afterKernelSegment(ctx: SswCtx, c: Conn): void {
  if (c.mode !== 'injecting') return;
  // The client may hold more than the kernel has regenerated yet; ack locally what the
  // kernel has sent and the client holds (covers a pure retransmission burst too).
  tryInject(ctx, c);
  const end = streamEnd(c);
  if (c.inject.seq === end && c.kernel.ackValid && seqGe(c.kernel.ack, end)) {
    ctx.sendConn(c, { type: 'INJECTION_DONE' });
    // The kernel holds the whole stream now; the copies are no longer needed.
    c.inject.stream = [];
    maybeRecoveryDone(ctx);
  }
}

/** R6.8 (machine action `promptClient`): the new incarnation is live; tell the client. */
export function promptClient(ctx: SswCtx, c: Conn): void {
  const acks = ctx.config.promptAcks ?? DEFAULT_PROMPT_ACKS;
  ctx.event('R6.8', 'go live: prompt the client', c, { acks });
  // R6.9: a client that may still wait for the SYN-ACK gets it now rather than on its
  // next SYN retry (1 s, 3 s, 7 s ... after the first); one already established just
  // answers with an ACK.
  if (c.client.synAckUnconfirmed) {
    ctx.event('R6.9', 'go live: resend the logged SYN-ACK (client ack unknown)', c);
    sendLoggedSynAck(ctx, c);
  }
  // R6.13: bytes held past a hole go into the new kernel, and the prompts SACK them: a SACK
  // sender does not count duplicate ACKs without SACK blocks, and would wait out its RTO
  // (backed off by the outage) before resending the hole.
  const held = forwardHeldPieces(ctx, c);
  if (held.length > 0)
    ctx.event('R6.13', 'go live: held out-of-order bytes into the kernel', c, {
      ranges: held.length,
      bytes: held.reduce((n, r) => n + seqSub(r.right, r.left), 0),
      sacked: sackNegotiated(c),
    });
  for (let i = 0; i < acks; i++) sendToClient(ctx, c, TCP_ACK, undefined, held);
}

/** R6.9 (client action `answerSyn`): a retry of the logged SYN gets the logged SYN-ACK. */
export function answerSynRetry(ctx: SswCtx, c: Conn, tcp: TcpPacket): void {
  // Only a retry of the logged SYN; another ISN on the same 4-tuple is not this one.
  if (clientSeq(tcp.seqNumber) !== c.client.isn) {
    ctx.stats.dropByRule++;
    return;
  }
  const ts = findTimestamps(tcp);
  if (ts !== undefined && seqGe(ts.tsVal, c.client.tsRecent)) c.client.tsRecent = ts.tsVal;
  ctx.event('R6.9', 'client retries its SYN: answer with the logged SYN-ACK', c);
  sendLoggedSynAck(ctx, c);
}

/**
 * R6.9: the SYN-ACK the log holds, in original space, as the first incarnation sent it:
 * seq serverIsn, ack clientIsn + 1, its options (the client negotiated against them), TSval
 * on the translated clock and never below what the client saw (PAWS). The window is 65535
 * unscaled, as in any SYN-ACK; the right edge it opens is remembered (R1.3 never shrinks it).
 */
function sendLoggedSynAck(ctx: SswCtx, c: Conn): void {
  const so = c.server.opts;
  if (so === undefined) return;
  const cl = c.client;
  let ts: { tsVal: number; tsEcr: number } | undefined;
  if (c.tsOk) {
    let tsVal = cl.tsValSent ?? so.tsVal ?? 0;
    if (c.kernel.opts !== undefined) tsVal = seqMax(tsVal, toClientTs(c.kernel.lastTsVal, c.t));
    cl.tsValSent = tsVal;
    ts = { tsVal, tsEcr: cl.tsRecent };
  }
  const options = synOptions(so, ts);
  const ack = seqAdd(cl.isn, 1);
  const window = 0xffff;
  if (seqGt(seqAdd(ack, window), cl.rightEdge)) cl.rightEdge = seqAdd(ack, window);
  // A SYN-ACK acks the SYN alone: below sentAck once the client sent bytes (not R1.2's order).
  noteToldAck(c, ack, c.protected, false);
  const frame = buildPacket(
    ctx,
    ctx.config.serviceAddr,
    c.clientAddr,
    c.serverPort,
    c.clientPort,
    c.server.isn,
    ack,
    TCP_SYN | TCP_ACK,
    window,
    options,
    EMPTY,
  );
  ctx.toNeighbor(frame, c.clientAddr, false);
}
