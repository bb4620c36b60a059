// TCP sequence-number arithmetic (RFC 793 / RFC 1982 serial numbers). Values are plain
// numbers in [0, 2^32); every result is normalised with `>>> 0` so that a wrapped value
// is indistinguishable from one that never wrapped.
//
// A layer above may tag a sequence number with the space it belongs to (`SeqIn<'client'>`,
// src/machines/ssw/spaces.ts): these functions keep the tag (`seqAdd` of a client number is a
// client number) and compare only numbers of one space (a client number and a kernel one do
// not type-check together). Untagged numbers work as before.

export type SeqNumber = number;

/** A sequence number of the space `S` (the tag exists only for the compiler). */
export type SeqIn<S extends string> = number & { readonly __space: S };

/** The type `seqAdd` returns: the argument's space if it has one, else a plain number. */
export type SameSpace<A extends number> = A extends { readonly __space: string } ? A : number;

export const SEQ_MOD = 0x1_0000_0000;

/** a + n mod 2^32; n may be negative. */
export const seqAdd = <A extends number>(a: A, n: number): SameSpace<A> =>
  ((a + n) >>> 0) as SameSpace<A>;

/** Signed distance a - b in (-2^31, 2^31]: how far a is ahead of b. */
export const seqSub = <A extends number>(a: A, b: A): number => (a - b) | 0;

export const seqLt = <A extends number>(a: A, b: A): boolean => seqSub(a, b) < 0;
export const seqLe = <A extends number>(a: A, b: A): boolean => seqSub(a, b) <= 0;
export const seqGt = <A extends number>(a: A, b: A): boolean => seqSub(a, b) > 0;
export const seqGe = <A extends number>(a: A, b: A): boolean => seqSub(a, b) >= 0;

/** The earlier of two sequence numbers in serial order. */
export const seqMin = <A extends number>(a: A, b: A): A => (seqLe(a, b) ? a : b);
/** The later of two sequence numbers in serial order. */
export const seqMax = <A extends number>(a: A, b: A): A => (seqGe(a, b) ? a : b);

/** start <= x < start + len, across the wrap. `len` must be < 2^31. */
export const seqInWindow = <A extends number>(x: A, start: A, len: number): boolean => {
  const d = seqSub(x, start);
  return d >= 0 && d < len;
};
