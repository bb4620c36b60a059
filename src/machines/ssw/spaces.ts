// Sequence spaces (spec/ssw.md "Spaces and directions"): a sequence number means something only
// in the space it was numbered in, and FT-TCP's translation (R7) invites mixing them up. Each
// space is its own type here, so the compiler refuses a mix-up; the translation functions
// (translate.ts `toOriginalSeq`, `toKernelSeq`; closes.ts `loggedCloseOf`, `closeOffsetOf` for
// the stream offset) are the only way from one to another.
//
// - ClientSeq: the client's sequence numbers (its bytes, and the acks of them). Never
//   translated: a re-created connection uses the client's logged ISN (R6.2).
// - OrigSeq: the server's stream as the client sees it, numbered from the first incarnation's
//   ISN (`serverIsn`, the original space).
// - KernelSeq: the server's stream as the current kernel numbers it (`kernelIsn`); equal to
//   OrigSeq until a re-creation (`deltaSeq = 0`).
// - StreamOffset: a position in the server's output counted in bytes from its start (the close
//   determinant's `offset`, spec/nsw.md R3.1; the logger stores it as is).
//
// A raw number gets a space only where it is read: a header field of a segment whose
// direction says its space, a field of a logger message. The constructors below are for those
// reads; they refuse a number that already has a space.

import type { SeqIn } from '../../wire/seq.ts';

export type ClientSeq = SeqIn<'client'>;
export type OrigSeq = SeqIn<'original'>;
export type KernelSeq = SeqIn<'kernel'>;
export type StreamOffset = number & { readonly __space: 'offset' };

/** A number read off the wire or a message: it has no space yet. */
type Raw = number & { readonly __space?: never };

/** A client-space number as read: a client segment's seq, a kernel segment's ack or SACK edge,
 * a LogData / DataStored / ReplaySyn field about the client's stream. */
export const clientSeq = (n: Raw): ClientSeq => n as number as ClientSeq;
/** An original-space number as read: a client segment's ack or SACK edge, a ReplaySyn's
 * serverIsn or clientAck. */
export const origSeq = (n: Raw): OrigSeq => n as number as OrigSeq;
/** A kernel-space number as read: a kernel segment's seq. */
export const kernelSeq = (n: Raw): KernelSeq => n as number as KernelSeq;
/** A stream offset as read: a close determinant's `offset`. */
export const streamOffset = (n: Raw): StreamOffset => n as number as StreamOffset;
