// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as used by Ethernet, zlib and PNG, so
// any standard tool can check a frame. Node's zlib.crc32 (native, Node >= 20.15) computes the
// same function some twenty times faster than the table below, and the logger sums every
// byte it stores: it is used where present. It is a pure function, no I/O. The table-driven
// one stays as the definition and the fallback; test/wire checks that the two agree.
import * as zlib from 'node:zlib';

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The table-driven CRC, one byte per step (the reference; see `crc32`). */
export function crc32Table(buf: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < buf.length; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/**
 * Continue a CRC over `buf`. Start with `crc = 0` and chain: `crc32(b, crc32(a))` equals
 * `crc32(a ++ b)` (the pre/post inversion is folded into each call, as zlib's crc32 does).
 */
export const crc32: (buf: Uint8Array, crc?: number) => number =
  native === undefined
    ? crc32Table
    : // zlib refuses (throws on) a running value outside uint32, e.g. one that went through
      // `^` or `|` and came back signed; the table takes any. Normalised so neither throws.
      (buf, crc = 0) => native(buf, crc >>> 0) >>> 0;
