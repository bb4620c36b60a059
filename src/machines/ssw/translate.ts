// R7 translation (spec/ssw.md "R7 Translation", "Spaces and directions"; the deltas come from
// R6.3): the one mapping between the sequence and timestamp spaces of the current kernel and
// the original ones the client sees. Both deltas are 0 in a connection's first incarnation,
// so this is one code path that is the identity until a re-creation.

import type { ChecksumMode } from '../../wire/checksum.ts';
import { seqAdd, seqMax, seqMin } from '../../wire/seq.ts';
import {
  findTimestamps,
  rewriteAck,
  rewriteSackBlocks,
  rewriteSeq,
  rewriteTimestamps,
  type TcpPacket,
} from '../../wire/tcp.ts';
import { type KernelSeq, kernelSeq, type OrigSeq, origSeq } from './spaces.ts';

export interface Translation {
  /** serverIsn - kernelIsn mod 2^32 (R6.3). */
  readonly deltaSeq: number;
  /** Added to outbound TSval, subtracted from inbound TSecr (R6.3). */
  readonly tsDelta: number;
}

export const IDENTITY: Translation = { deltaSeq: 0, tsDelta: 0 };

/** R7.1: the original-space image of a kernel-space sequence number: the only way across. */
export const toOriginalSeq = (seq: KernelSeq, t: Translation): OrigSeq =>
  origSeq(seqAdd<number>(seq, t.deltaSeq));
/** R7.4: the kernel-space image of an original-space sequence number: the only way back. */
export const toKernelSeq = (seq: OrigSeq, t: Translation): KernelSeq =>
  kernelSeq(seqAdd<number>(seq, -t.deltaSeq));
/** R7.2 / R7.4: a TSval of the kernel's clock on the clock the client knows, and back. */
export const toClientTs = (kernelTs: number, t: Translation): number => seqAdd(kernelTs, t.tsDelta);
export const toKernelTs = (clientTs: number, t: Translation): number =>
  seqAdd(clientTs, -t.tsDelta);

/**
 * R7.4: Linux discards a segment (payload included) whose ack covers bytes it never sent, so
 * an inbound ack is capped at the kernel's snd.nxt (original space) before translation.
 */
export const clampInboundAck = (ack: OrigSeq, kernelSndNxt: OrigSeq): OrigSeq =>
  seqMin(ack, kernelSndNxt);

/**
 * R6.3: the TSval offset for a re-created connection. The first incarnation's clock is
 * estimated as its SYN-ACK TSval plus the milliseconds since then (Linux ticks TSval at 1 kHz),
 * plus a margin for clock-rate drift and faster clocks; when this SSW knows the highest TSval
 * the client was sent, the result is at least one above it. PAWS then accepts the first
 * translated segment.
 */
export const computeTsDelta = (a: {
  readonly loggedSynAckTsVal: number;
  readonly synTimeMs: number;
  readonly nowMs: number;
  readonly marginMs: number;
  readonly kernelTsVal: number;
  readonly tsValSent: number | undefined;
}): number => {
  const elapsed = Math.max(0, Math.floor(a.nowMs - a.synTimeMs));
  const target = seqAdd(seqAdd(a.loggedSynAckTsVal, elapsed), a.marginMs);
  const floor = a.tsValSent === undefined ? target : seqMax(target, seqAdd(a.tsValSent, 1));
  return seqAdd(floor, -a.kernelTsVal);
};

/** R6.3: deltaSeq = serverIsn - kernelIsn mod 2^32. */
export const computeDeltaSeq = (serverIsn: OrigSeq, kernelIsn: KernelSeq): number =>
  seqAdd<number>(serverIsn, -kernelIsn);

// ---------------------------------------------------------------------------------------
// In place, on the segment (incremental checksums, or none with a partial one: ChecksumMode)

/** R7.1: a kernel segment's seq, to original space. */
export function translateOutboundSeq(tcp: TcpPacket, t: Translation, mode: ChecksumMode): void {
  // A kernel segment's seq numbers the server's stream as this kernel does.
  if (t.deltaSeq !== 0) rewriteSeq(tcp, toOriginalSeq(kernelSeq(tcp.seqNumber), t), mode);
}

/**
 * R7.2: a kernel segment's TSval, onto the clock the client knows (TSecr echoes the client and
 * stays). Returns the TSval the segment now carries; undefined without the option.
 */
export function translateOutboundTs(
  tcp: TcpPacket,
  t: Translation,
  mode: ChecksumMode,
): number | undefined {
  const ts = findTimestamps(tcp);
  if (ts === undefined) return undefined;
  const tsVal = toClientTs(ts.tsVal, t);
  if (t.tsDelta !== 0) rewriteTimestamps(tcp, tsVal, ts.tsEcr, mode);
  return tsVal;
}

/**
 * R7.4: a client segment into kernel space: its ack, capped first at the kernel's snd.nxt
 * (`ackCap`, original space; undefined before the first SYN-ACK, when the ack is left alone),
 * its SACK edges and its TSecr. seq, TSval and window stay.
 */
export function translateInboundSegment(
  tcp: TcpPacket,
  t: Translation,
  ackCap: OrigSeq | undefined,
  mode: ChecksumMode,
): void {
  if (tcp.ack && ackCap !== undefined) {
    // A client segment's ack and SACK edges number the server's stream as the client knows it.
    const ack = toKernelSeq(clampInboundAck(origSeq(tcp.ackNumber), ackCap), t);
    if (ack !== tcp.ackNumber) rewriteAck(tcp, ack, mode);
  }
  if (t.deltaSeq !== 0) rewriteSackBlocks(tcp, (edge) => toKernelSeq(origSeq(edge), t), mode);
  if (t.tsDelta !== 0) {
    const ts = findTimestamps(tcp);
    if (ts !== undefined) rewriteTimestamps(tcp, ts.tsVal, toKernelTs(ts.tsEcr, t), mode);
  }
}
