// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as used by Ethernet, zlib and PNG, so
// any standard tool can check a frame. Table-driven, one byte per step: frames are bounded by
// MAX_FRAME_BODY, so simplicity wins over slicing-by-8.

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * Continue a CRC over `buf`. Start with `crc = 0` and chain: `crc32(b, crc32(a))` equals
 * `crc32(a ++ b)` (the pre/post inversion is folded into each call, as zlib's crc32 does).
 */
export function crc32(buf: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < buf.length; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
