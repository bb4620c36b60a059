// Internet checksum (RFC 1071) as small composable pieces, so that IPv4, TCP, the TCP
// pseudo-header and incremental updates (RFC 1624) share one arithmetic.
//
// An *accumulator* is a ones'-complement sum kept as a non-negative number. `checksumData`
// and `pseudoHeaderSum` return it folded to 16 bits (still a valid accumulator, so results
// can be chained as `initial`); `checksumFinish` folds and complements it into the value
// that goes on the wire.

/** Fold carries back in (end-around carry) until the value fits in 16 bits. */
export const checksumFold = (sum: number): number => {
  // Accumulators may exceed 2^32 for large inputs, where `>>>` would truncate, so the first
  // step uses division; after it the value is < 2^32 and the cheap form is exact.
  let s = sum > 0xffff_ffff ? (sum % 0x1_0000) + Math.floor(sum / 0x1_0000) : sum;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Below this many bytes the byte loop wins over creating a typed-array view. */
const WORD_PATH_MIN = 64;

/**
 * Ones'-complement sum of `buf` as big-endian 16-bit words, added to `initial`. An odd final
 * byte is padded with a zero byte (RFC 1071), so only the last chunk of a chained sum may have
 * odd length.
 */
export function checksumData(buf: Uint8Array, initial = 0): number {
  const n = buf.length;
  if (n >= WORD_PATH_MIN && LITTLE_ENDIAN && (buf.byteOffset & 1) === 0) {
    // Fast path: one load per word through a Uint16Array. On a little-endian host every word
    // reads byte-swapped, and the ones'-complement sum commutes with byte swapping (RFC 1071
    // §2(B)), so we sum the swapped words and swap the folded result once.
    const words = new Uint16Array(buf.buffer, buf.byteOffset, n >>> 1);
    let s = 0;
    const m = words.length;
    const unrolled = m & ~3;
    let i = 0;
    for (; i < unrolled; i += 4) s += words[i]! + words[i + 1]! + words[i + 2]! + words[i + 3]!;
    for (; i < m; i++) s += words[i]!;
    const f = checksumFold(s);
    let sum = initial + (((f & 0xff) << 8) | (f >>> 8));
    if (n & 1) sum += buf[n - 1]! << 8;
    return checksumFold(sum);
  }
  let sum = initial;
  const even = n & ~1;
  let i = 0;
  // Unrolled by 8 bytes. A plain number can add 2^37 bytes' worth of 16-bit words before
  // losing precision, so no per-step folding.
  const unrolled = even & ~7;
  for (; i < unrolled; i += 8) {
    sum +=
      ((buf[i]! << 8) | buf[i + 1]!) +
      ((buf[i + 2]! << 8) | buf[i + 3]!) +
      ((buf[i + 4]! << 8) | buf[i + 5]!) +
      ((buf[i + 6]! << 8) | buf[i + 7]!);
  }
  for (; i < even; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (n & 1) sum += buf[n - 1]! << 8;
  return checksumFold(sum);
}

/** Sum of the TCP/UDP pseudo-header (RFC 793 §3.1): addresses, zero, protocol, length. */
export const pseudoHeaderSum = (
  srcAddr: number,
  dstAddr: number,
  protocol: number,
  length: number,
): number =>
  checksumFold(
    (srcAddr >>> 16) +
      (srcAddr & 0xffff) +
      (dstAddr >>> 16) +
      (dstAddr & 0xffff) +
      (protocol & 0xff) +
      (length & 0xffff),
  );

/** The value to store in a checksum field: the complement of the folded sum. */
export const checksumFinish = (sum: number): number => ~checksumFold(sum) & 0xffff;

/**
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). Unlike eqn. 2 it never yields 0xffff from a valid
 * checksum (a ones'-complement sum that includes a non-zero word is never +0), so the result is
 * bit-identical to a full recomputation; the tests check exactly that.
 */
export const checksumUpdate16 = (oldCsum: number, oldWord: number, newWord: number): number => {
  const s = (~oldCsum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~checksumFold(s) & 0xffff;
};

/** Eqn. 3 applied to both 16-bit halves of a 32-bit field (seq, ack, TSval, SACK edge). */
export const checksumUpdate32 = (oldCsum: number, oldValue: number, newValue: number): number => {
  const s =
    (~oldCsum & 0xffff) +
    (~(oldValue >>> 16) & 0xffff) +
    (~oldValue & 0xffff) +
    ((newValue >>> 16) & 0xffff) +
    (newValue & 0xffff);
  return ~checksumFold(s) & 0xffff;
};

/**
 * How the checksum field of a packet we rewrite or emit is to be treated.
 * - `full`: the field holds a complete checksum; rewrites update it incrementally (RFC 1624).
 * - `partial`: checksum offload (TUN IFF_VNET_HDR with VIRTIO_NET_HDR_F_NEEDS_CSUM, Linux
 *   CHECKSUM_PARTIAL, loopback): the field holds the folded pseudo-header sum, not complemented,
 *   and whoever transmits will sum the whole segment over it. A rewrite of a field *outside* the
 *   pseudo-header must leave it untouched (the later full sum sees the new bytes anyway);
 *   applying eqn. 3 there would corrupt it. This mirrors Linux `inet_proto_csum_replace4`.
 * - `none`: leave the field alone (emit writes 0).
 */
export type ChecksumMode = 'full' | 'partial' | 'none';
