// R1.2-R1.5 what the client may be told (spec/ssw.md "R1 Log before ack"): the ack clamp
// (R1.2), the window's right edge (R1.3, and R7.3's re-encoding), the SACK cut (R1.5) and the
// pure ACK owed (R1.4): pure functions on numbers, nothing allocated beyond the small result
// objects; and `rewriteOutbound`, which applies them (with R7's translation) to a kernel
// segment in place on its way to the client.

import { match } from 'ts-pattern';
import type { ChecksumMode } from '../../wire/checksum.ts';
import { seqAdd, seqGe, seqGt, seqLe, seqLt, seqMax, seqMin, seqSub } from '../../wire/seq.ts';
import {
  findSackBlocks,
  keepSackBlocks,
  rewriteAck,
  rewriteSackBlocks,
  rewriteWindow,
  type TcpPacket,
} from '../../wire/tcp.ts';
import { assert } from './assert.ts';
import type { Conn, LogState, StreamPiece } from './conn.ts';
import { type ClientSeq, clientSeq } from './spaces.ts';
import { translateOutboundSeq, translateOutboundTs } from './translate.ts';

/** Largest value of the 16-bit window field. */
export const MAX_WINDOW_FIELD = 65535;
/** RFC 7323 §2.3: a shift above 14 is treated as 14. */
export const MAX_WSCALE = 14;

const pow2 = (n: number): number => 2 ** Math.min(Math.max(n, 0), MAX_WSCALE);

/**
 * R1.2: the ack the client may see. Never above `stableSeq` (I1), never above what the kernel
 * acked (the SSW does not invent receipt), never below `sentAck` (acks do not go backwards).
 */
export const clampAck = (
  kernelAck: ClientSeq,
  stableSeq: ClientSeq,
  sentAck: ClientSeq,
): ClientSeq => seqMax(sentAck, seqMin(kernelAck, stableSeq));

export interface WindowInput {
  /** The ack this segment will carry (after `clampAck`). */
  readonly ack: ClientSeq;
  /** The kernel's own ack and window field, and the scale the kernel applies to it. */
  readonly kernelAck: ClientSeq;
  readonly kernelField: number;
  readonly kernelWscale: number;
  /** The scale the client applies to the field it receives (serverOpts.wscale or 0). */
  readonly clientWscale: number;
  /** The right edge the client was last told (client space). */
  readonly rightEdge: ClientSeq;
}

export interface WindowOutput {
  readonly field: number;
  /** The right edge the client is told now. */
  readonly rightEdge: ClientSeq;
}

/**
 * R1.3 / R7.3: the window field to send. While the kernel holds every byte the client has been
 * acked (`kernelAck >= ack`: always, except while a re-created kernel catches up), the edge is
 * the kernel's own, rounded *down* to the client's scale and capped at 65535: the client is
 * never invited to send a byte the kernel will refuse. Linux drops a segment that ends past its
 * window once its receive queue holds data, and closes its window to zero when its receive
 * memory runs out; an edge kept ahead of the kernel's (rounded up at acks clamped off the
 * scale's grid, or held where a zero window shrank it) has the client retransmit into those
 * drops on its RTO back-off for as long as the reader is stopped, instead of probing a zero
 * window. So the edge moves left when the kernel's does, and by less than one unit when the ack
 * is clamped off the grid or the scales differ.
 * While a re-created kernel catches up (`kernelAck < ack`) its window is relative to bytes the
 * client was acked long ago: the edge the client was last told stays (rounded up), as does any
 * larger edge the new kernel offers.
 */
export const adjustWindow = (w: WindowInput): WindowOutput => {
  const kernelEdge = seqAdd(w.kernelAck, w.kernelField * pow2(w.kernelWscale));
  const unit = pow2(w.clientWscale);
  if (seqGe(w.kernelAck, w.ack)) {
    const field = Math.min(
      MAX_WINDOW_FIELD,
      Math.floor(Math.max(0, seqSub(kernelEdge, w.ack)) / unit),
    );
    return { field, rightEdge: seqAdd(w.ack, field * unit) };
  }
  const edge = seqMax(w.rightEdge, kernelEdge);
  const span = Math.max(0, seqSub(edge, w.ack));
  const field = Math.min(MAX_WINDOW_FIELD, Math.ceil(span / unit));
  return { field, rightEdge: seqMax(w.rightEdge, seqAdd(w.ack, field * unit)) };
};

/**
 * R1.3: the kernel's window as the scaled field `adjustWindow` takes. A SYN-ACK carries its
 * window unscaled (RFC 7323 §2.2), every later segment scaled by the kernel's shift; a
 * SYN-ACK's is kept as the largest field that offers no more than it, or a segment the SSW
 * builds before the kernel's next one (the go-live prompts of a re-created connection with no
 * bytes to inject, R6.8) would offer 2^ws times the kernel's window.
 */
export const kernelWindowField = (window: number, syn: boolean, kernelWscale: number): number =>
  syn ? Math.floor(window / pow2(kernelWscale)) : window;

/**
 * R1.5: a SACK edge the client may see. Blocks acknowledge client bytes too, so every edge is
 * cut at `stableSeq`: a block reaching past it is shortened, a block wholly above it collapses
 * to [stableSeq, stableSeq], which `sackBlockSendable` then removes. Mapping edges one by one
 * keeps the rewrite in place.
 */
export const clampSackEdge = (edge: ClientSeq, stableSeq: ClientSeq): ClientSeq =>
  seqMin(edge, stableSeq);

/**
 * R1.5: may a (clamped) SACK block at position `index` go out in a segment carrying `ack`? A
 * block must have left < right (RFC 2018 §3), so a collapsed one may not. A block at or below
 * the ack tells the client nothing, except in first position, where it is a D-SACK (RFC 2883
 * §4: the kernel reports a duplicate it received).
 */
export const sackBlockSendable = (
  left: ClientSeq,
  right: ClientSeq,
  index: number,
  ack: ClientSeq,
): boolean => seqLt(left, right) && (index === 0 || seqGt(right, ack));

/** R1.9: most held pieces looked at for one SACK block (beyond: not held, the block is cut). */
export const MAX_HELD_SCAN = 1024;

/**
 * R1.9: does the SSW hold every client byte of [left, right)? Bytes below `loggedSeq` are
 * logged (stored, or pending and kept until stored, R1.7); past it, the `ooo` pieces (held
 * until the hole before them fills, and forwarded to the kernel, R1.1) must cover the rest.
 * Pieces may overlap (retransmissions of other sizes): the walk keeps the furthest end.
 */
export function heldRange(log: LogState, left: ClientSeq, right: ClientSeq): boolean {
  if (!seqLt(left, right)) return false;
  let at = seqMax(left, log.loggedSeq);
  const ooo = log.ooo;
  for (let i = 0; i < ooo.length && i < MAX_HELD_SCAN && seqLt(at, right); i++) {
    const p = ooo[i] as StreamPiece;
    if (seqGt(p.seq, at)) return false; // a gap before this piece (they are in order)
    const end = seqAdd(p.seq, p.bytes.length);
    if (seqGt(end, at)) at = end;
  }
  return !seqLt(at, right);
}

/**
 * R1.5 / R1.9 decision table: a kernel SACK block goes to the client `whole` only when the
 * segment's ack is not clamped and the SSW holds every byte the block names; otherwise it is
 * `cut` at `stableSeq` (R1.5; `sackBlockSendable` then drops what the cut emptied).
 */
export const sackBlockFate = (ackClamped: boolean, held: boolean): 'whole' | 'cut' =>
  match([ackClamped, held] as const)
    .with([false, true], () => 'whole' as const)
    .with([false, false], [true, true], [true, false], () => 'cut' as const)
    .exhaustive();

/**
 * R1.9: for each SACK block of a kernel segment, whether it names bytes past `stableSeq` that
 * the SSW holds (`heldRange`): such a block reaches the client whole. Undefined when no block
 * can be (no SACK option, or nothing held past `stableSeq`): every block is cut (R1.5).
 */
function heldSackBlocks(c: Conn, tcp: TcpPacket): boolean[] | undefined {
  const log = c.log;
  if (log.ooo.length === 0 && log.loggedSeq === log.stableSeq) return undefined;
  const blocks = findSackBlocks(tcp);
  if (blocks.length === 0) return undefined;
  return blocks.map((b) => heldRange(log, clientSeq(b.left), clientSeq(b.right)));
}

/** R1.4: a pure ACK is owed when the clamped ack would now exceed what the client has. */
export const pureAckOwed = (
  kernelAck: ClientSeq,
  stableSeq: ClientSeq,
  sentAck: ClientSeq,
): boolean => seqGt(seqMin(kernelAck, stableSeq), sentAck);

/**
 * R1.2-R1.5 and R7.1-R7.3 in place on a kernel segment going to the client, then records what
 * the client has been told (`sentAck`, `rightEdge`, `tsValSent`). `clamp` false (unprotected,
 * or a released RST) translates only.
 */
export function rewriteOutbound(c: Conn, tcp: TcpPacket, clamp: boolean, mode: ChecksumMode): void {
  translateOutboundSeq(tcp, c.t, mode);
  const cl = c.client;
  if (tcp.ack) {
    // A kernel segment acks the client's bytes: client space.
    const kernelAck = clientSeq(tcp.ackNumber);
    const ack = clamp ? clampAck(kernelAck, c.log.stableSeq, cl.sentAck) : kernelAck;
    if (ack !== kernelAck) rewriteAck(tcp, ack, mode);
    if (!tcp.syn) {
      const w = adjustWindow({
        ack,
        kernelAck,
        kernelField: tcp.window,
        kernelWscale: c.kernel.ws,
        clientWscale: cl.ws,
        rightEdge: cl.rightEdge,
      });
      if (w.field !== tcp.window) rewriteWindow(tcp, w.field, mode);
      cl.rightEdge = w.rightEdge;
    }
    noteToldAck(c, ack, clamp, clamp);
    if (clamp) {
      const stable = c.log.stableSeq;
      // R1.9: with the ack not clamped, a block of bytes the SSW holds past the hole stays.
      const clamped = ack !== kernelAck;
      const held = clamped ? undefined : heldSackBlocks(c, tcp);
      if (
        rewriteSackBlocks(
          tcp,
          (edge, i) =>
            sackBlockFate(clamped, held?.[i >> 1] === true) === 'whole'
              ? edge
              : clampSackEdge(clientSeq(edge), stable),
          mode,
        ) > 0
      )
        keepSackBlocks(
          tcp,
          (l, r, i) => sackBlockSendable(clientSeq(l), clientSeq(r), i, ack),
          mode,
        );
    }
  }
  if (c.tsOk) {
    const tsVal = translateOutboundTs(tcp, c.t, mode);
    if (tsVal !== undefined && (cl.tsValSent === undefined || seqGt(tsVal, cl.tsValSent)))
      cl.tsValSent = tsVal;
  }
}

/**
 * The client is told `ack` (R1.2 `sentAck` follows it). Asserted where it holds by
 * construction: on a `clamped` (protected) segment an ack that tells the client more than it
 * knew is at most `stableSeq` (I1); a `monotonic` one never moves backwards (R1.2; a logged
 * SYN-ACK, R6.9, acks the SYN alone and is the exception).
 */
export function noteToldAck(c: Conn, ack: ClientSeq, clamped: boolean, monotonic: boolean): void {
  const cl = c.client;
  assert(!monotonic || seqGe(ack, cl.sentAck), 'R1.2', () => ({ ack, sentAck: cl.sentAck }));
  if (!seqGt(ack, cl.sentAck)) return;
  assert(!clamped || seqLe(ack, c.log.stableSeq), 'I1', () => ({
    ack,
    stableSeq: c.log.stableSeq,
    sentAck: cl.sentAck,
  }));
  cl.sentAck = ack;
}
