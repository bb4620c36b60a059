// IPv4 (RFC 791): a zero-copy packet view with a checked constructor, and a plain repr with
// parse/emit. Once `Ipv4Packet.checked` has accepted a buffer, every getter reads inside it:
// the lengths are validated once, not on each access.

import { ipv4ToString } from './addr.ts';
import { get16, get32, set16, set32 } from './bytes.ts';
import { checksumData, checksumFinish, checksumFold } from './checksum.ts';
import { assertWire, fail, ok, type Result, type WireError } from './result.ts';

export const IPV4_HEADER_LEN = 20;
/** IHL is 4 bits of 32-bit words: at most 60 bytes of header, 40 of options. */
export const IPV4_MAX_HEADER_LEN = 60;
export const IPV4_MAX_OPTIONS_LEN = 40;

export const IP_PROTO_ICMP = 1;
export const IP_PROTO_TCP = 6;
export const IP_PROTO_UDP = 17;

const F_DF = 0x4000;
const F_MF = 0x2000;
const FRAG_MASK = 0x1fff;

export class Ipv4Packet {
  /** Unchecked: only for buffers already validated or being emitted into. */
  constructor(readonly buffer: Uint8Array) {}

  /**
   * Accepts a buffer holding at least the whole datagram (trailing bytes, e.g. Ethernet
   * padding, are allowed and excluded from `payload`). Checks version, header length and
   * total length; not the checksum (that is `parseIpv4`'s capability switch).
   */
  static checked(buf: Uint8Array): Result<Ipv4Packet, WireError> {
    if (buf.length < IPV4_HEADER_LEN) return fail('truncated', `ipv4: ${buf.length} < 20 bytes`);
    const version = buf[0]! >>> 4;
    if (version !== 4) return fail('badVersion', `ipv4: version ${version}`);
    const hl = (buf[0]! & 0x0f) * 4;
    if (hl < IPV4_HEADER_LEN) return fail('badHeaderLength', `ipv4: IHL ${hl / 4} < 5`);
    const total = get16(buf, 2);
    if (total < hl) return fail('badLength', `ipv4: total length ${total} < header ${hl}`);
    if (hl > buf.length) return fail('truncated', `ipv4: header ${hl} > ${buf.length} bytes`);
    if (total > buf.length)
      return fail('truncated', `ipv4: total length ${total} > ${buf.length} bytes`);
    return ok(new Ipv4Packet(buf));
  }

  get version(): number {
    return this.buffer[0]! >>> 4;
  }
  /** Header length in bytes (IHL * 4). */
  get headerLength(): number {
    return (this.buffer[0]! & 0x0f) * 4;
  }
  set headerLength(bytes: number) {
    this.buffer[0] = 0x40 | ((bytes >>> 2) & 0x0f);
  }
  get dscp(): number {
    return this.buffer[1]! >>> 2;
  }
  set dscp(v: number) {
    this.buffer[1] = ((v & 0x3f) << 2) | (this.buffer[1]! & 0x03);
  }
  get ecn(): number {
    return this.buffer[1]! & 0x03;
  }
  set ecn(v: number) {
    this.buffer[1] = (this.buffer[1]! & 0xfc) | (v & 0x03);
  }
  get totalLength(): number {
    return get16(this.buffer, 2);
  }
  set totalLength(v: number) {
    set16(this.buffer, 2, v);
  }
  get ident(): number {
    return get16(this.buffer, 4);
  }
  set ident(v: number) {
    set16(this.buffer, 4, v);
  }
  get dontFragment(): boolean {
    return (get16(this.buffer, 6) & F_DF) !== 0;
  }
  set dontFragment(v: boolean) {
    const w = get16(this.buffer, 6);
    set16(this.buffer, 6, v ? w | F_DF : w & ~F_DF);
  }
  get moreFragments(): boolean {
    return (get16(this.buffer, 6) & F_MF) !== 0;
  }
  set moreFragments(v: boolean) {
    const w = get16(this.buffer, 6);
    set16(this.buffer, 6, v ? w | F_MF : w & ~F_MF);
  }
  /** Fragment offset in bytes (the field counts 8-byte units). */
  get fragmentOffset(): number {
    return (get16(this.buffer, 6) & FRAG_MASK) * 8;
  }
  set fragmentOffset(bytes: number) {
    const w = get16(this.buffer, 6);
    set16(this.buffer, 6, (w & ~FRAG_MASK) | ((bytes >>> 3) & FRAG_MASK));
  }
  /** A datagram is a fragment if MF is set or it does not start at offset 0. */
  get isFragment(): boolean {
    return (get16(this.buffer, 6) & (F_MF | FRAG_MASK)) !== 0;
  }
  get ttl(): number {
    return this.buffer[8]!;
  }
  set ttl(v: number) {
    this.buffer[8] = v & 0xff;
  }
  get protocol(): number {
    return this.buffer[9]!;
  }
  set protocol(v: number) {
    this.buffer[9] = v & 0xff;
  }
  get checksum(): number {
    return get16(this.buffer, 10);
  }
  set checksum(v: number) {
    set16(this.buffer, 10, v);
  }
  get src(): number {
    return get32(this.buffer, 12);
  }
  set src(v: number) {
    set32(this.buffer, 12, v);
  }
  get dst(): number {
    return get32(this.buffer, 16);
  }
  set dst(v: number) {
    set32(this.buffer, 16, v);
  }
  /** Option bytes as they are on the wire (aliases the buffer). */
  get options(): Uint8Array {
    return this.buffer.subarray(IPV4_HEADER_LEN, this.headerLength);
  }
  get header(): Uint8Array {
    return this.buffer.subarray(0, this.headerLength);
  }
  /** The transport payload, excluding any bytes past `totalLength` (aliases the buffer). */
  get payload(): Uint8Array {
    return this.buffer.subarray(this.headerLength, this.totalLength);
  }
  /** The datagram itself: header and payload, without trailing link padding. */
  get datagram(): Uint8Array {
    return this.buffer.subarray(0, this.totalLength);
  }

  fillChecksum(): void {
    this.checksum = 0;
    this.checksum = checksumFinish(checksumData(this.header));
  }
  verifyChecksum(): boolean {
    return checksumFold(checksumData(this.header)) === 0xffff;
  }
}

/**
 * IPv4 header as a plain value. The payload is not part of it (as in smoltcp): the caller
 * emits the transport layer into `packet.payload` after `emitIpv4`.
 */
export interface Ipv4Repr {
  readonly src: number;
  readonly dst: number;
  readonly protocol: number;
  readonly ttl: number;
  readonly ident: number;
  readonly dscp: number;
  readonly ecn: number;
  readonly dontFragment: boolean;
  /** Raw option bytes, a multiple of 4, at most 40 (aliases the parsed buffer). */
  readonly options: Uint8Array;
  readonly payloadLength: number;
}

export interface ParseOptions {
  /** False when the checksum was already verified (offload) or is irrelevant (tests). */
  readonly verifyChecksum?: boolean;
}

export function parseIpv4(pkt: Ipv4Packet, opts: ParseOptions = {}): Result<Ipv4Repr, WireError> {
  if (pkt.isFragment) {
    return fail('fragment', `ipv4: fragment offset ${pkt.fragmentOffset} MF ${pkt.moreFragments}`);
  }
  if (opts.verifyChecksum !== false && !pkt.verifyChecksum()) {
    return fail('badChecksum', `ipv4: header checksum 0x${pkt.checksum.toString(16)}`);
  }
  return ok({
    src: pkt.src,
    dst: pkt.dst,
    protocol: pkt.protocol,
    ttl: pkt.ttl,
    ident: pkt.ident,
    dscp: pkt.dscp,
    ecn: pkt.ecn,
    dontFragment: pkt.dontFragment,
    options: pkt.options,
    payloadLength: pkt.totalLength - pkt.headerLength,
  });
}

export const ipv4HeaderLen = (repr: Ipv4Repr): number => IPV4_HEADER_LEN + repr.options.length;
export const ipv4BufferLen = (repr: Ipv4Repr): number => ipv4HeaderLen(repr) + repr.payloadLength;

/**
 * Writes the header (checksum filled) into `buf`, which must hold `ipv4BufferLen(repr)` bytes;
 * returns the packet view so the caller can emit the payload into `packet.payload`.
 */
export function emitIpv4(repr: Ipv4Repr, buf: Uint8Array): Ipv4Packet {
  const hl = ipv4HeaderLen(repr);
  const total = hl + repr.payloadLength;
  assertWire(
    repr.options.length % 4 === 0,
    `ipv4 options length ${repr.options.length} not a multiple of 4`,
  );
  assertWire(
    repr.options.length <= IPV4_MAX_OPTIONS_LEN,
    `ipv4 options length ${repr.options.length} > 40`,
  );
  assertWire(total <= 0xffff, `ipv4 total length ${total} > 65535`);
  assertWire(buf.length >= total, `ipv4 buffer ${buf.length} < ${total}`);
  const pkt = new Ipv4Packet(buf);
  buf[0] = 0x40 | (hl >>> 2);
  buf[1] = ((repr.dscp & 0x3f) << 2) | (repr.ecn & 0x03);
  set16(buf, 2, total);
  set16(buf, 4, repr.ident);
  set16(buf, 6, repr.dontFragment ? F_DF : 0);
  buf[8] = repr.ttl & 0xff;
  buf[9] = repr.protocol & 0xff;
  set32(buf, 12, repr.src);
  set32(buf, 16, repr.dst);
  buf.set(repr.options, IPV4_HEADER_LEN);
  pkt.fillChecksum();
  return pkt;
}

export const ipv4ReprToString = (r: Ipv4Repr): string =>
  `IP ${ipv4ToString(r.src)} > ${ipv4ToString(r.dst)}: proto ${r.protocol} ttl ${r.ttl} id ${r.ident}` +
  `${r.dontFragment ? ' DF' : ''} len ${IPV4_HEADER_LEN + r.options.length + r.payloadLength}`;
