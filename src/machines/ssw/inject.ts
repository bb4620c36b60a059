// R6.5-R6.7 injection (spec/ssw.md "R6 Re-creation"): the logged client stream goes into the
// re-created kernel within its receive window, again from the kernel's ack when it stalls
// (R6.5); server bytes the replayed application regenerates are acked locally when the client
// has them, else sent on (R6.6). Re-creation itself and go-live are in recreate.ts.

import { seqAdd, seqLe, seqLt, seqSub } from '../../wire/seq.ts';
import { TCP_ACK, TCP_FIN, TCP_PSH, type TcpPacket } from '../../wire/tcp.ts';
import type { VnetHdr } from '../../wire/vnet.ts';
import { assert } from './assert.ts';
import { rewriteOutbound } from './clamp.ts';
import type { Conn } from './conn.ts';
import type { SswCtx } from './context.ts';
import { csumFor, kernelToLan, sendToKernel, toKernelTsOptions } from './segments.ts';
import { type ClientSeq, type KernelSeq, kernelSeq, type OrigSeq } from './spaces.ts';
import { clampInboundAck, toKernelSeq, toOriginalSeq } from './translate.ts';

/** Most segments one call injects; the next kernel ack continues (bounded work per packet). */
const INJECT_BUDGET = 64;

/** R6.13: most held out-of-order segments handed to a new kernel at go-live. */
export const GO_LIVE_OOO_BUDGET = 64;

/** A run of client sequence space `[left, right)` (client space). */
export interface ClientRange {
  readonly left: ClientSeq;
  readonly right: ClientSeq;
}

/**
 * R6.6: a regenerated kernel segment whose end (original space) is at or below `clientAck`
 * carries only bytes the client already holds: ack it locally. Otherwise it goes out whole.
 */
export const regeneratedHandling = (
  origSeqEnd: OrigSeq,
  clientAck: OrigSeq,
): 'ackLocally' | 'send' => (seqLe(origSeqEnd, clientAck) ? 'ackLocally' : 'send');

// ---------------------------------------------------------------------------------------
// The injection stream: the logged client bytes from clientIsn + 1 (client space)

/**
 * Where the injection stream starts: the first byte the new kernel expects, clientIsn + 1 +
 * readOffset (R6.11; readOffset is 0 for a record no checkpoint covers).
 */
export const streamStart = (c: Conn): ClientSeq =>
  seqAdd(c.client.isn, 1 + (c.inject.readOffset % 2 ** 32));

/** Where the stream's bytes end (its FIN, if any, comes after). */
export const streamDataEnd = (c: Conn): ClientSeq => seqAdd(streamStart(c), c.inject.streamBytes);

/** Where the stream ends, FIN included. */
export const streamEnd = (c: Conn): ClientSeq =>
  seqAdd(streamDataEnd(c), c.inject.streamFin ? 1 : 0);

/** The stored bytes starting at `seq`, up to the end of the piece holding it. */
function streamAt(c: Conn, seq: ClientSeq): Uint8Array | undefined {
  for (const p of c.inject.stream) {
    const d = seqSub(seq, p.seq);
    if (d >= 0 && d < p.bytes.length) return p.bytes.subarray(d);
  }
  return undefined;
}

/** Appends logged bytes at `seq` (their part past the stream's end) and maybe the FIN. */
export function appendStream(c: Conn, seq: ClientSeq, bytes: Uint8Array, fin: boolean): void {
  const inj = c.inject;
  const end = streamDataEnd(c);
  const d = seqSub(end, seq);
  if (d < 0) return; // a gap: cannot happen for in-order logging, and would not be injectable
  if (d < bytes.length) {
    const fresh = bytes.subarray(d);
    inj.stream.push({ seq: end, bytes: fresh });
    inj.streamBytes += fresh.length;
  }
  if (fin) inj.streamFin = true;
}

/** Starts the stream over (R6.1: from the replay; R6.12: from the stream's start). */
export function clearStream(c: Conn): void {
  c.inject.stream = [];
  c.inject.streamBytes = 0;
  c.inject.streamFin = false;
  c.inject.readOffset = 0;
  c.inject.outputFrom = 0;
  c.inject.end = 0;
}

/**
 * R6.11: the record is restored at a checkpoint: the stream starts at `readOffset` (logged
 * bytes below it are skipped as they are appended: the restored application has read them).
 */
export function resumeStream(c: Conn, readOffset: number, outputFrom: number, end: number): void {
  c.inject.readOffset = readOffset;
  c.inject.outputFrom = outputFrom;
  c.inject.end = end;
}

// ---------------------------------------------------------------------------------------
// Into the kernel

/** R6.5: logged bytes into the new kernel, within its receive window. */
export function tryInject(ctx: SswCtx, c: Conn): void {
  if (c.mode !== 'injecting') return;
  const inj = c.inject;
  const mss = Math.max(1, Math.min(c.kernel.opts?.mss ?? 536, c.client.opts.mss || 536));
  // R7.4: the client's ack in kernel space, never past what this kernel sent.
  const ack = toKernelSeq(clampInboundAck(c.client.ack, c.kernel.sndNxt), c.t);
  let budget = INJECT_BUDGET;
  while (budget-- > 0) {
    const room = seqSub(c.kernel.rcvEdge, inj.seq);
    const piece = streamAt(c, inj.seq);
    if (piece === undefined) break;
    if (room <= 0) break;
    const n = Math.min(mss, room, piece.length);
    const options = toKernelTsOptions(c);
    sendToKernel(
      ctx,
      c,
      inj.seq,
      ack,
      TCP_ACK | TCP_PSH,
      c.client.window,
      options,
      piece.subarray(0, n),
    );
    ctx.stats.injectedBytes += n;
    inj.seq = seqAdd(inj.seq, n);
  }
  if (inj.streamFin && !inj.finInjected && inj.seq === streamDataEnd(c)) {
    sendToKernel(ctx, c, inj.seq, ack, TCP_ACK | TCP_FIN, c.client.window, toKernelTsOptions(c));
    inj.finInjected = true;
    inj.seq = seqAdd(inj.seq, 1);
  }
  // R6.5: nothing is injected that the log does not hold.
  assert(seqLe(inj.seq, streamEnd(c)), 'R6.5', () => ({
    injectSeq: inj.seq,
    streamEnd: streamEnd(c),
  }));
}

/**
 * R6.13 (go-live): the out-of-order client bytes the SSW holds (R1.1 `ooo`: received past a
 * hole, while orphaned or re-creating, or before the crash by a dead kernel) were never given
 * to this incarnation. They go into it now, in MSS-sized segments within its receive window
 * (at most `GO_LIVE_OOO_BUDGET`), as R1.1 forwards them on a live connection, so that the
 * client's retransmission of the hole is all the kernel needs to ack the lot. Returns what was
 * handed over, merged, in ascending order: the bytes the receiving side now holds past the
 * hole, which the go-live prompts may SACK (R6.13). Nothing held: nothing sent, no range.
 */
export function forwardHeldPieces(ctx: SswCtx, c: Conn): ClientRange[] {
  const from = c.log.loggedSeq;
  // Offsets past the hole's start; a piece at or below it was drained already (R1.1).
  const pieces = c.log.ooo
    .filter((p) => p.bytes.length > 0 && seqSub(p.seq, from) > 0)
    .sort((a, b) => seqSub(a.seq, from) - seqSub(b.seq, from));
  if (pieces.length === 0) return [];
  const mss = Math.max(1, Math.min(c.kernel.opts?.mss ?? 536, c.client.opts.mss || 536));
  const ack = toKernelSeq(clampInboundAck(c.client.ack, c.kernel.sndNxt), c.t);
  const room = seqSub(c.kernel.rcvEdge, from);
  const ranges: { left: number; right: number }[] = [];
  let sentTo = 0; // offset past `from` up to which the kernel has been handed bytes
  let budget = GO_LIVE_OOO_BUDGET;
  for (const p of pieces) {
    const start = seqSub(p.seq, from);
    let at = Math.max(start, sentTo);
    const end = start + p.bytes.length;
    while (at < end && budget > 0) {
      const n = Math.min(mss, end - at, room - at);
      if (n <= 0) break;
      sendToKernel(
        ctx,
        c,
        seqAdd(from, at),
        ack,
        TCP_ACK | TCP_PSH,
        c.client.window,
        toKernelTsOptions(c),
        p.bytes.subarray(at - start, at - start + n),
      );
      budget--;
      const last = ranges.at(-1);
      if (last !== undefined && last.right >= at) last.right = at + n;
      else ranges.push({ left: at, right: at + n });
      at += n;
      sentTo = at;
    }
    if (budget === 0 || at < end) break;
  }
  return ranges.map((r) => ({ left: seqAdd(from, r.left), right: seqAdd(from, r.right) }));
}

/** R6.5 per tick: the kernel's ack has not moved for `reinjectMs` while injected bytes are
 * unacknowledged (the kernel may drop them under memory pressure): go back to its ack. */
export function reinjectTick(ctx: SswCtx, c: Conn): void {
  const inj = c.inject;
  const k = c.kernel;
  if (!k.ackValid || !seqLt(k.ack, inj.seq) || ctx.now - inj.progressMs < ctx.timing.reinjectMs)
    return;
  ctx.event('R6.5', 're-inject from the kernel ack', c, { from: k.ack });
  inj.seq = k.ack;
  if (inj.finInjected && seqLe(k.ack, streamDataEnd(c))) inj.finInjected = false;
  inj.progressMs = ctx.now;
  tryInject(ctx, c);
}

/** R6.6: a fake ACK telling the kernel the client holds its bytes up to `kernelEnd`. */
function sendKernelAck(ctx: SswCtx, c: Conn, kernelEnd: KernelSeq): void {
  const want = toKernelSeq(c.client.ack, c.t);
  const ack = seqLe(want, kernelEnd) ? want : kernelEnd;
  const seq = c.kernel.ackValid ? c.kernel.ack : c.inject.seq;
  sendToKernel(ctx, c, seq, ack, TCP_ACK, c.client.window, toKernelTsOptions(c));
}

/** R6.6: regenerated server bytes: ack locally what the client has, send the rest. */
export function handleRegenerated(
  ctx: SswCtx,
  c: Conn,
  tcp: TcpPacket,
  datagram: Uint8Array,
  headroom: boolean,
  vnet: VnetHdr,
): void {
  const len = tcp.buffer.length - tcp.headerLength + (tcp.fin ? 1 : 0);
  if (len === 0) return;
  const kernelEnd = seqAdd(kernelSeq(tcp.seqNumber), len);
  if (regeneratedHandling(toOriginalSeq(kernelEnd, c.t), c.client.ack) === 'ackLocally') {
    ctx.stats.localAcks++;
    sendKernelAck(ctx, c, kernelEnd);
    return;
  }
  rewriteOutbound(c, tcp, c.protected, csumFor(ctx, vnet));
  kernelToLan(ctx, datagram, c.clientAddr, headroom, vnet);
}
