// Which handling a segment gets (spec/ssw.md "Modes: what is forwarded, held, dropped"): the
// connection's mode (from its statechart) and the segment's kind select one action. The
// ts-pattern matches are the definition, exhaustive over (mode, kind) so a new mode or kind
// fails to compile until handled; per packet the engine reads tables built from them once.

import { match } from 'ts-pattern';

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
  | 'refusal' // R2.8: the kernel refuses a SYN: withheld while the app may have died, else forwarded
  | 'holdSynAck' // R2.2: replace the held SYN-ACK
  | 'holdFin' // R5.1: clear FIN, forward the rest, remember where the FIN was
  | 'holdRst' // R5.3
  | 'suppressCrash' // R5.4: FIN/RST of a dead incarnation: drop
  | 'captureSynAck' // R6.3
  | 'captureRst' // R6.3: app not listening yet: drop, retry later
  | 'abortStale' // R6.3: a socket of an earlier incarnation holds the 4-tuple: RST it, retry
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
    .with(['listenSynSeen', 'rst'], () => 'refusal' as const)
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
    // R5.5: no suppression, the client learns of a death from the kernel's FIN/RST.
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
    // R6.3: before its SYN-ACK the new socket sends nothing else; an ACK-bearing segment comes
    // from a synchronized socket an earlier incarnation left on the 4-tuple (its challenge ACK
    // to the fake SYN, or its FIN retransmitted from LAST_ACK).
    .with(
      ['awaitSynAck', 'fin'],
      ['awaitSynAck', 'data'],
      ['awaitSynAck', 'pureAck'],
      () => 'abortStale' as const,
    )
    .with(['awaitSynAck', 'syn'], () => 'drop' as const)
    // R6.7: no bare kernel segment during injection (the client gets the go-live prompt); a FIN
    // off the logged close is held as in R5.1.
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
    // R2.4: the client lost the SYN-ACK and retries: the kernel (SYN_RECV) answers with another.
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

/** `classifyClientSegment` by table. */
export const clientActionOf = (mode: ConnMode, kind: SegmentKind): ClientAction =>
  CLIENT_TABLE[
    (modeIndex.get(mode) ?? 0) * SEGMENT_KINDS.length + (kindIndex.get(kind) ?? 0)
  ] as ClientAction;
