// R7 translation (spec/ssw.md "R7 Translation", "Spaces and directions"; the deltas come from
// R6.3): the one mapping between the sequence and timestamp spaces of the current kernel and
// the original ones the client sees. Both deltas are 0 in a connection's first incarnation,
// so this is one code path that is the identity until a re-creation.

import { seqAdd, seqMax, seqMin } from '../../wire/seq.ts';

export interface Translation {
  /** serverIsn - kernelIsn mod 2^32 (R6.3). */
  readonly deltaSeq: number;
  /** Added to outbound TSval, subtracted from inbound TSecr (R6.3). */
  readonly tsDelta: number;
}

export const IDENTITY: Translation = { deltaSeq: 0, tsDelta: 0 };

/** Server-side fields of an outbound segment that translation touches. */
export interface OutboundFields {
  readonly seq: number;
  readonly tsVal: number | undefined;
}

/** Client-side fields of an inbound segment that translation touches. */
export interface InboundFields {
  readonly ack: number;
  readonly tsEcr: number | undefined;
  readonly sack: readonly { readonly left: number; readonly right: number }[];
}

/** R7.1, R7.2: kernel space -> original space. */
export const translateOutbound = (f: OutboundFields, t: Translation): OutboundFields => ({
  seq: seqAdd(f.seq, t.deltaSeq),
  tsVal: f.tsVal === undefined ? undefined : seqAdd(f.tsVal, t.tsDelta),
});

/** R7.4: original space -> kernel space (the exact inverse of `translateOutbound`). */
export const translateInbound = (f: InboundFields, t: Translation): InboundFields => ({
  ack: seqAdd(f.ack, -t.deltaSeq),
  tsEcr: f.tsEcr === undefined ? undefined : seqAdd(f.tsEcr, -t.tsDelta),
  sack: f.sack.map((b) => ({
    left: seqAdd(b.left, -t.deltaSeq),
    right: seqAdd(b.right, -t.deltaSeq),
  })),
});

/** The original-space image of a kernel-space sequence number and back (scalar forms). */
export const toOriginalSeq = (kernelSeq: number, t: Translation): number =>
  seqAdd(kernelSeq, t.deltaSeq);
export const toKernelSeq = (originalSeq: number, t: Translation): number =>
  seqAdd(originalSeq, -t.deltaSeq);
export const toClientTs = (kernelTs: number, t: Translation): number => seqAdd(kernelTs, t.tsDelta);
export const toKernelTs = (clientTs: number, t: Translation): number =>
  seqAdd(clientTs, -t.tsDelta);

/**
 * R7.4: Linux discards a segment (payload included) whose ack covers bytes it never sent, so
 * an inbound ack is capped at the kernel's snd.nxt (original space) before translation.
 */
export const clampInboundAck = (ack: number, kernelSndNxt: number): number =>
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
export const computeDeltaSeq = (serverIsn: number, kernelIsn: number): number =>
  seqAdd(serverIsn, -kernelIsn);
