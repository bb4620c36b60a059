// TCP sequence-number arithmetic (RFC 793 / RFC 1982 serial numbers). Values are plain
// numbers in [0, 2^32); every result is normalised with `>>> 0` so that a wrapped value
// is indistinguishable from one that never wrapped.

export type SeqNumber = number;

export const SEQ_MOD = 0x1_0000_0000;

/** a + n mod 2^32; n may be negative. */
export const seqAdd = (a: SeqNumber, n: number): SeqNumber => (a + n) >>> 0;

/** Signed distance a - b in (-2^31, 2^31]: how far a is ahead of b. */
export const seqSub = (a: SeqNumber, b: SeqNumber): number => (a - b) | 0;

export const seqLt = (a: SeqNumber, b: SeqNumber): boolean => seqSub(a, b) < 0;
export const seqLe = (a: SeqNumber, b: SeqNumber): boolean => seqSub(a, b) <= 0;
export const seqGt = (a: SeqNumber, b: SeqNumber): boolean => seqSub(a, b) > 0;
export const seqGe = (a: SeqNumber, b: SeqNumber): boolean => seqSub(a, b) >= 0;

/** The earlier of two sequence numbers in serial order. */
export const seqMin = (a: SeqNumber, b: SeqNumber): SeqNumber => (seqLe(a, b) ? a : b);
/** The later of two sequence numbers in serial order. */
export const seqMax = (a: SeqNumber, b: SeqNumber): SeqNumber => (seqGe(a, b) ? a : b);

/** start <= x < start + len, across the wrap. `len` must be < 2^31. */
export const seqInWindow = (x: SeqNumber, start: SeqNumber, len: number): boolean => {
  const d = seqSub(x, start);
  return d >= 0 && d < len;
};
