// The SSW's per-packet data path as plain pure functions on numbers (spec/ssw.md). The
// connection's statechart decides the mode; these functions decide what happens to one
// segment in that mode. Nothing here allocates per call beyond the small result objects,
// and nothing here knows about buffers: the engine reads fields, calls these, writes back.

import { match } from 'ts-pattern';
import type { CloseHow } from '../../wire/logmsg.ts';
import {
  type SeqNumber,
  seqAdd,
  seqGe,
  seqGt,
  seqLe,
  seqLt,
  seqMax,
  seqMin,
  seqSub,
} from '../../wire/seq.ts';

/** Largest value of the 16-bit window field. */
export const MAX_WINDOW_FIELD = 65535;
/** RFC 7323 §2.3: a shift above 14 is treated as 14. */
export const MAX_WSCALE = 14;

const pow2 = (n: number): number => 2 ** Math.min(Math.max(n, 0), MAX_WSCALE);

// ---------------------------------------------------------------------------------------
// R1 Log before ack

/**
 * R1.2: the ack the client may see. Never above `stableSeq` (I1), never above what the kernel
 * acked (the SSW does not invent receipt), never below `sentAck` (acks do not go backwards).
 */
export const clampAck = (kernelAck: number, stableSeq: number, sentAck: number): number =>
  seqMax(sentAck, seqMin(kernelAck, stableSeq));

export interface WindowInput {
  /** The ack this segment will carry (after `clampAck`). */
  readonly ack: number;
  /** The kernel's own ack and window field, and the scale the kernel applies to it. */
  readonly kernelAck: number;
  readonly kernelField: number;
  readonly kernelWscale: number;
  /** The scale the client applies to the field it receives (serverOpts.wscale or 0). */
  readonly clientWscale: number;
  /** The right edge the client was last told (client space). */
  readonly rightEdge: number;
}

export interface WindowOutput {
  readonly field: number;
  /** The right edge the client is told now. */
  readonly rightEdge: number;
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
export const clampSackEdge = (edge: number, stableSeq: number): number => seqMin(edge, stableSeq);

/**
 * R1.5: may a (clamped) SACK block at position `index` go out in a segment carrying `ack`? A
 * block must have left < right (RFC 2018 §3), so a collapsed one may not. A block at or below
 * the ack tells the client nothing, except in first position, where it is a D-SACK (RFC 2883
 * §4: the kernel reports a duplicate it received).
 */
export const sackBlockSendable = (
  left: number,
  right: number,
  index: number,
  ack: number,
): boolean => seqLt(left, right) && (index === 0 || seqGt(right, ack));

/** R1.4: a pure ACK is owed when the clamped ack would now exceed what the client has. */
export const pureAckOwed = (kernelAck: number, stableSeq: number, sentAck: number): boolean =>
  seqGt(seqMin(kernelAck, stableSeq), sentAck);

// ---------------------------------------------------------------------------------------
// R7 Translation

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

// ---------------------------------------------------------------------------------------
// Classification: which handling a segment gets, selected by the connection's mode.

/** The data-path mode of a connection, derived from its statechart state. */
export type ConnMode =
  | 'listenSynSeen'
  | 'awaitingSynStored'
  | 'protected'
  | 'translated'
  | 'unprotected'
  | 'closing'
  | 'orphaned'
  | 'awaitSynAck'
  | 'injecting'
  | 'closed';

/** What kind of segment it is, as far as the SSW's rules care. */
export type SegmentKind = 'syn' | 'synAck' | 'rst' | 'fin' | 'data' | 'pureAck';

export interface SegmentFlags {
  readonly syn: boolean;
  readonly ack: boolean;
  readonly fin: boolean;
  readonly rst: boolean;
  readonly payloadLength: number;
}

export const segmentKind = (f: SegmentFlags): SegmentKind => {
  if (f.rst) return 'rst';
  if (f.syn) return f.ack ? 'synAck' : 'syn';
  if (f.fin) return 'fin';
  return f.payloadLength > 0 ? 'data' : 'pureAck';
};

/** `segmentKind` from the raw TCP flag bits (FIN 1, SYN 2, RST 4, ACK 16): no object per packet. */
export const segmentKindOfBits = (flags: number, payloadLength: number): SegmentKind => {
  if (flags & 0x04) return 'rst';
  if (flags & 0x02) return flags & 0x10 ? 'synAck' : 'syn';
  if (flags & 0x01) return 'fin';
  return payloadLength > 0 ? 'data' : 'pureAck';
};

/** Handling of a kernel (outbound) segment. */
export type KernelAction =
  | 'forward' // rewrite (R1.2-R1.5, R7.1-R7.3) and send to the client
  | 'forwardUnclamped' // unprotected: translate only (R7), no clamp (L.2)
  | 'firstSynAck' // R2.1: log the record, hold the SYN-ACK
  | 'holdSynAck' // R2.2: replace the held SYN-ACK
  | 'holdFin' // R5.1: clear FIN, forward the rest, remember where the FIN was
  | 'holdRst' // R5.3
  | 'suppressCrash' // R5.4: FIN/RST of a dead incarnation: drop
  | 'captureSynAck' // R6.3
  | 'captureRst' // R6.3: app not listening yet: drop, retry later
  | 'regenerated' // R6.6: data while injecting or translated: ack locally or send
  | 'absorb' // R6.7 / orphaned data: update kernel state, drop
  | 'drop';

/**
 * R2, R5, R6 for a kernel segment. `atClose` (a FIN or RST where the logged close puts it,
 * `atLoggedClose`) selects between holding a FIN/RST and letting it go. Exhaustive over
 * (mode, kind): a new mode or kind fails to compile until handled.
 */
export const classifyKernelSegment = (
  mode: ConnMode,
  kind: SegmentKind,
  atClose: boolean,
): KernelAction =>
  match([mode, kind] as const)
    .with(['listenSynSeen', 'synAck'], () => 'firstSynAck' as const)
    .with(['listenSynSeen', 'rst'], () => 'forwardUnclamped' as const)
    .with(
      ['listenSynSeen', 'syn'],
      ['listenSynSeen', 'fin'],
      ['listenSynSeen', 'data'],
      ['listenSynSeen', 'pureAck'],
      () => 'drop' as const,
    )
    .with(['awaitingSynStored', 'synAck'], () => 'holdSynAck' as const)
    .with(['awaitingSynStored', 'rst'], () => 'holdRst' as const)
    .with(
      ['awaitingSynStored', 'syn'],
      ['awaitingSynStored', 'fin'],
      ['awaitingSynStored', 'data'],
      ['awaitingSynStored', 'pureAck'],
      () => 'drop' as const,
    )
    .with(['protected', 'fin'], ['translated', 'fin'], () =>
      atClose ? ('forward' as const) : ('holdFin' as const),
    )
    .with(['protected', 'rst'], ['translated', 'rst'], () =>
      atClose ? ('forward' as const) : ('holdRst' as const),
    )
    .with(
      ['protected', 'synAck'],
      ['translated', 'synAck'],
      ['protected', 'data'],
      ['protected', 'pureAck'],
      () => 'forward' as const,
    )
    .with(['translated', 'data'], () => 'regenerated' as const)
    .with(['translated', 'pureAck'], () => 'forward' as const)
    .with(['protected', 'syn'], ['translated', 'syn'], () => 'drop' as const)
    .with(
      ['closing', 'data'],
      ['closing', 'pureAck'],
      ['closing', 'fin'],
      ['closing', 'rst'],
      ['closing', 'synAck'],
      () => 'forward' as const,
    )
    .with(['closing', 'syn'], () => 'drop' as const)
    .with(['unprotected', 'syn'], () => 'drop' as const)
    .with(
      ['unprotected', 'synAck'],
      ['unprotected', 'rst'],
      ['unprotected', 'fin'],
      ['unprotected', 'data'],
      ['unprotected', 'pureAck'],
      () => 'forwardUnclamped' as const,
    )
    .with(['orphaned', 'fin'], ['orphaned', 'rst'], () => 'suppressCrash' as const)
    .with(
      ['orphaned', 'data'],
      ['orphaned', 'pureAck'],
      ['orphaned', 'synAck'],
      ['orphaned', 'syn'],
      () => 'absorb' as const,
    )
    .with(['awaitSynAck', 'synAck'], () => 'captureSynAck' as const)
    .with(['awaitSynAck', 'rst'], () => 'captureRst' as const)
    .with(
      ['awaitSynAck', 'syn'],
      ['awaitSynAck', 'fin'],
      ['awaitSynAck', 'data'],
      ['awaitSynAck', 'pureAck'],
      () => 'drop' as const,
    )
    .with(['injecting', 'data'], () => 'regenerated' as const)
    .with(['injecting', 'fin'], () => (atClose ? ('regenerated' as const) : ('holdFin' as const)))
    .with(['injecting', 'rst'], () => 'holdRst' as const)
    .with(
      ['injecting', 'pureAck'],
      ['injecting', 'synAck'],
      ['injecting', 'syn'],
      () => 'absorb' as const,
    )
    .with(
      ['closed', 'syn'],
      ['closed', 'synAck'],
      ['closed', 'rst'],
      ['closed', 'fin'],
      ['closed', 'data'],
      ['closed', 'pureAck'],
      () => 'drop' as const,
    )
    .exhaustive();

/** Handling of a client (inbound) segment on a known connection. */
export type ClientAction =
  | 'logAndForward' // R1.1 then R7.4 to the kernel
  | 'forwardRaw' // unprotected: translate (R7.4), no logging
  | 'forwardSyn' // R2.4: SYN retransmission to the kernel
  | 'answerSyn' // R6.9: re-created connection: the SSW answers with the logged SYN-ACK
  | 'logOnly' // R5.4: app dead: log, do not forward
  | 'logAndInject' // R6.5: log and append to the injection stream
  | 'forwardRst' // the client resets: pass it, the connection ends
  | 'drop';

export const classifyClientSegment = (mode: ConnMode, kind: SegmentKind): ClientAction =>
  match([mode, kind] as const)
    .with(['listenSynSeen', 'syn'], ['awaitingSynStored', 'syn'], () => 'forwardSyn' as const)
    .with(['listenSynSeen', 'rst'], ['awaitingSynStored', 'rst'], () => 'forwardRst' as const)
    .with(
      ['listenSynSeen', 'synAck'],
      ['listenSynSeen', 'fin'],
      ['listenSynSeen', 'data'],
      ['listenSynSeen', 'pureAck'],
      () => 'drop' as const,
    )
    .with(
      ['awaitingSynStored', 'synAck'],
      ['awaitingSynStored', 'fin'],
      ['awaitingSynStored', 'data'],
      ['awaitingSynStored', 'pureAck'],
      () => 'drop' as const,
    )
    .with(
      ['protected', 'data'],
      ['protected', 'fin'],
      ['protected', 'pureAck'],
      ['translated', 'data'],
      ['translated', 'fin'],
      ['translated', 'pureAck'],
      ['closing', 'data'],
      ['closing', 'fin'],
      ['closing', 'pureAck'],
      () => 'logAndForward' as const,
    )
    .with(
      ['protected', 'rst'],
      ['translated', 'rst'],
      ['closing', 'rst'],
      ['unprotected', 'rst'],
      () => 'forwardRst' as const,
    )
    // The client lost the SYN-ACK and retries: the kernel (SYN_RECV) answers with another.
    .with(['protected', 'syn'], () => 'forwardSyn' as const)
    // A re-created connection's kernel is past SYN_RECV: the SSW answers for it (R6.9).
    .with(
      ['translated', 'syn'],
      ['awaitSynAck', 'syn'],
      ['injecting', 'syn'],
      () => 'answerSyn' as const,
    )
    .with(
      ['closing', 'syn'],
      ['protected', 'synAck'],
      ['translated', 'synAck'],
      ['closing', 'synAck'],
      () => 'drop' as const,
    )
    .with(
      ['unprotected', 'data'],
      ['unprotected', 'fin'],
      ['unprotected', 'pureAck'],
      ['unprotected', 'syn'],
      ['unprotected', 'synAck'],
      () => 'forwardRaw' as const,
    )
    .with(
      ['orphaned', 'data'],
      ['orphaned', 'fin'],
      ['orphaned', 'pureAck'],
      () => 'logOnly' as const,
    )
    .with(
      ['awaitSynAck', 'data'],
      ['awaitSynAck', 'fin'],
      ['awaitSynAck', 'pureAck'],
      ['injecting', 'data'],
      ['injecting', 'fin'],
      ['injecting', 'pureAck'],
      () => 'logAndInject' as const,
    )
    .with(
      ['orphaned', 'rst'],
      ['awaitSynAck', 'rst'],
      ['injecting', 'rst'],
      () => 'forwardRst' as const,
    )
    .with(
      ['orphaned', 'syn'],
      ['orphaned', 'synAck'],
      ['awaitSynAck', 'synAck'],
      ['injecting', 'synAck'],
      () => 'drop' as const,
    )
    .with(
      ['closed', 'syn'],
      ['closed', 'synAck'],
      ['closed', 'rst'],
      ['closed', 'fin'],
      ['closed', 'data'],
      ['closed', 'pureAck'],
      () => 'drop' as const,
    )
    .exhaustive();

// ---------------------------------------------------------------------------------------
// R6.6 regenerated bytes and R1.1 logging arithmetic

/**
 * R6.6: a regenerated kernel segment whose end (original space) is at or below `clientAck`
 * carries only bytes the client already holds: ack it locally. Otherwise it goes out whole.
 */
export const regeneratedHandling = (
  origSeqEnd: number,
  clientAck: number,
): 'ackLocally' | 'send' => (seqLe(origSeqEnd, clientAck) ? 'ackLocally' : 'send');

/**
 * R1.1: the part of a client segment [seq, seq+len) that is new to the log, given `loggedSeq`
 * (next byte not yet handed to the logger). Returns the offset into the payload and the count;
 * count 0 means nothing new in order (a duplicate, or a segment past a hole).
 */
export const newLogSpan = (
  seq: number,
  len: number,
  loggedSeq: number,
): { offset: number; count: number } => {
  const d = seqSub(loggedSeq, seq);
  if (d < 0 || d >= len) return { offset: 0, count: 0 };
  return { offset: d, count: len - d };
};

/** R1.1: the segment starts past `loggedSeq`: there is a hole before it. */
export const isAfterHole = (seq: number, loggedSeq: number): boolean => seqGt(seq, loggedSeq);

// ---------------------------------------------------------------------------------------
// Per-packet lookup: the ts-pattern matches above are the definition (exhaustive, checked by
// the compiler); the engine reads these tables built from them once, so a packet costs an
// array index instead of a pattern match.

export const CONN_MODES: readonly ConnMode[] = [
  'listenSynSeen',
  'awaitingSynStored',
  'protected',
  'translated',
  'unprotected',
  'closing',
  'orphaned',
  'awaitSynAck',
  'injecting',
  'closed',
];
export const SEGMENT_KINDS: readonly SegmentKind[] = [
  'syn',
  'synAck',
  'rst',
  'fin',
  'data',
  'pureAck',
];

const modeIndex = new Map(CONN_MODES.map((m, i) => [m, i]));
const kindIndex = new Map(SEGMENT_KINDS.map((k, i) => [k, i]));
const KERNEL_TABLE: readonly KernelAction[] = CONN_MODES.flatMap((m) =>
  SEGMENT_KINDS.flatMap((k) => [
    classifyKernelSegment(m, k, false),
    classifyKernelSegment(m, k, true),
  ]),
);
const CLIENT_TABLE: readonly ClientAction[] = CONN_MODES.flatMap((m) =>
  SEGMENT_KINDS.map((k) => classifyClientSegment(m, k)),
);

/** `classifyKernelSegment` by table. */
export const kernelActionOf = (mode: ConnMode, kind: SegmentKind, atClose: boolean): KernelAction =>
  KERNEL_TABLE[
    ((modeIndex.get(mode) ?? 0) * SEGMENT_KINDS.length + (kindIndex.get(kind) ?? 0)) * 2 +
      (atClose ? 1 : 0)
  ] as KernelAction;

// ---------------------------------------------------------------------------------------------
// R5.2 the position of the application's close

/** The application's stored close of a connection (CloseLogged), in original space. */
export interface LoggedClose {
  readonly how: CloseHow;
  /** `serverIsn + 1 + offset`: where the FIN of this close sits in the server's stream. */
  readonly seq: SeqNumber;
}

/** R5.2: the close position from the close determinant's `offset` (bytes written before it). */
export const loggedCloseOf = (
  serverIsn: SeqNumber,
  how: CloseHow,
  offset: number,
): LoggedClose => ({
  how,
  // offset is a u53: reduced mod 2^32 first, since serverIsn + 1 + offset could pass 2^53,
  // where a double no longer holds every integer.
  seq: seqAdd(serverIsn, 1 + (offset % 0x1_0000_0000)),
});

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
  seq: SeqNumber,
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
  clientFinSeq: SeqNumber | undefined,
  kernelAck: SeqNumber | undefined,
  serverFinAckForwarded: boolean,
): boolean =>
  serverFinAckForwarded &&
  clientFinSeq !== undefined &&
  kernelAck !== undefined &&
  seqGt(kernelAck, clientFinSeq);

/** `classifyClientSegment` by table. */
export const clientActionOf = (mode: ConnMode, kind: SegmentKind): ClientAction =>
  CLIENT_TABLE[
    (modeIndex.get(mode) ?? 0) * SEGMENT_KINDS.length + (kindIndex.get(kind) ?? 0)
  ] as ClientAction;
