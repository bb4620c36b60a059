// virtio_net_hdr (linux/virtio_net.h): the 10 bytes a TUN device opened with IFF_VNET_HDR and
// an AF_PACKET socket with PACKET_VNET_HDR put in front of every packet. They say what the
// kernel left undone and expects the next hop to do: complete a checksum (NEEDS_CSUM: the
// field holds the pseudo-header sum, ChecksumMode 'partial') and cut a GSO packet of up to
// 64 KB into `gsoSize`-byte segments. Passing the header on instead of doing that work is what
// lets one read and one write carry a whole TSO burst through the SSW.
//
// The layout is the legacy one TUN and AF_PACKET use unless told otherwise (TUNSETVNETBE):
// fields in the host's byte order, little-endian on the hosts the lab runs on (x86-64,
// aarch64). `csumStart` and `hdrLen` count from the start of the buffer the header precedes:
// the IP header on a TUN, the Ethernet header on a raw socket (see `shiftVnetHdr`).
import { fail, ok, type Result, type WireError } from './result.ts';

export const VNET_HDR_LEN = 10;

/** flags */
export const VNET_F_NEEDS_CSUM = 0x01;
export const VNET_F_DATA_VALID = 0x02;

/** gsoType (low bits) and the ECN bit that may be or-ed into it */
export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_UDP = 3;
export const VNET_GSO_TCPV6 = 4;
export const VNET_GSO_UDP_L4 = 5;
export const VNET_GSO_ECN = 0x80;

export interface VnetHdr {
  readonly flags: number;
  readonly gsoType: number;
  /** Length of the headers before the payload (a hint to the segmenter). */
  readonly hdrLen: number;
  /** Payload bytes per segment of a GSO packet; 0 when not GSO. */
  readonly gsoSize: number;
  /** Where the checksum sum starts (NEEDS_CSUM only). */
  readonly csumStart: number;
  /** Where the result goes, counted from `csumStart` (16 for TCP). */
  readonly csumOffset: number;
}

/** A packet with nothing left to do: what every packet we build ourselves carries. */
export const NO_OFFLOAD: VnetHdr = Object.freeze({
  flags: 0,
  gsoType: VNET_GSO_NONE,
  hdrLen: 0,
  gsoSize: 0,
  csumStart: 0,
  csumOffset: 0,
});

/** The field holds the pseudo-header sum; whoever sends the packet on completes it. */
export const vnetNeedsCsum = (h: VnetHdr): boolean => (h.flags & VNET_F_NEEDS_CSUM) !== 0;

/**
 * The kernel vouches for the bytes: it built them with a checksum still to fill (NEEDS_CSUM),
 * or it verified the checksum on receipt (DATA_VALID). Either way a receiver need not sum them.
 */
export const vnetChecksumTrusted = (h: VnetHdr): boolean =>
  (h.flags & (VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) !== 0;

/** A GSO packet: the payload is several segments' worth. */
export const vnetIsGso = (h: VnetHdr): boolean => (h.gsoType & ~VNET_GSO_ECN) !== VNET_GSO_NONE;

const le16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const setLe16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
};

/**
 * Reads the header at the front of `buf`. The common case (all zero: nothing offloaded) returns
 * the shared NO_OFFLOAD, so the per-packet path allocates nothing for it. Values are not
 * judged here: the kernel wrote them, and the consumer decides what it can pass on.
 */
export function parseVnetHdr(buf: Uint8Array): Result<VnetHdr, WireError> {
  if (buf.length < VNET_HDR_LEN) return fail('truncated', `vnet: ${buf.length} < 10 bytes`);
  const flags = buf[0]!;
  const gsoType = buf[1]!;
  if (flags === 0 && gsoType === 0) return ok(NO_OFFLOAD);
  return ok({
    flags,
    gsoType,
    hdrLen: le16(buf, 2),
    gsoSize: le16(buf, 4),
    csumStart: le16(buf, 6),
    csumOffset: le16(buf, 8),
  });
}

/** Writes `h` into the first 10 bytes of `buf` (our own reprs: a short buffer is a bug). */
export function emitVnetHdr(h: VnetHdr, buf: Uint8Array): void {
  if (buf.length < VNET_HDR_LEN) throw new RangeError(`vnet buffer ${buf.length} < 10 bytes`);
  buf[0] = h.flags & 0xff;
  buf[1] = h.gsoType & 0xff;
  setLe16(buf, 2, h.hdrLen);
  setLe16(buf, 4, h.gsoSize);
  setLe16(buf, 6, h.csumStart);
  setLe16(buf, 8, h.csumOffset);
}

/**
 * The same header for the packet with `delta` bytes of link header added in front (+14 from
 * TUN to Ethernet) or taken away (-14). Offsets that mean nothing (no NEEDS_CSUM, no GSO) are
 * left as they are.
 */
export function shiftVnetHdr(h: VnetHdr, delta: number): VnetHdr {
  if (h === NO_OFFLOAD || delta === 0) return h;
  const csum = vnetNeedsCsum(h);
  const gso = vnetIsGso(h);
  if (!csum && !gso) return h;
  return {
    ...h,
    hdrLen: gso || h.hdrLen !== 0 ? Math.max(0, h.hdrLen + delta) : 0,
    csumStart: csum ? Math.max(0, h.csumStart + delta) : h.csumStart,
  };
}
