// TCP segments (RFC 9293): a zero-copy view with a checked constructor, a plain repr with
// parsed options, parse/emit, and in-place rewrites with incremental checksum update for the
// SSW's translation path (R7: seq, ack, window, timestamps, SACK blocks).

import { get16, get32, set16, set32 } from './bytes.ts';
import {
  type ChecksumMode,
  checksumData,
  checksumFinish,
  checksumFold,
  checksumUpdate16,
  checksumUpdate32,
  pseudoHeaderSum,
} from './checksum.ts';
import { IP_PROTO_TCP } from './ipv4.ts';
import { assertWire, fail, ok, type Result, type WireError } from './result.ts';

export const TCP_HEADER_LEN = 20;
export const TCP_MAX_HEADER_LEN = 60;
export const TCP_MAX_OPTIONS_LEN = 40;

// Flag bits as in the 16-bit word at offset 12 (low 9 bits), NS in bit 8.
export const TCP_FIN = 0x001;
export const TCP_SYN = 0x002;
export const TCP_RST = 0x004;
export const TCP_PSH = 0x008;
export const TCP_ACK = 0x010;
export const TCP_URG = 0x020;
export const TCP_ECE = 0x040;
export const TCP_CWR = 0x080;
export const TCP_NS = 0x100;
const FLAGS_MASK = 0x1ff;

export const TCP_OPT_EOL = 0;
export const TCP_OPT_NOP = 1;
export const TCP_OPT_MSS = 2;
export const TCP_OPT_WSCALE = 3;
export const TCP_OPT_SACK_PERMITTED = 4;
export const TCP_OPT_SACK = 5;
export const TCP_OPT_TIMESTAMPS = 8;

const KNOWN_OPTION_KINDS: ReadonlySet<number> = new Set([0, 1, 2, 3, 4, 5, 8]);

// Byte offsets of the fixed header fields.
const O_SEQ = 4;
const O_ACK = 8;
const O_OFF = 12;
const O_WIN = 14;
const O_CSUM = 16;
const O_URG = 18;

export interface SackBlock {
  readonly left: number;
  readonly right: number;
}

export type TcpOption =
  | { readonly kind: 'eol' }
  | { readonly kind: 'nop' }
  | { readonly kind: 'mss'; readonly mss: number }
  | { readonly kind: 'wscale'; readonly shift: number }
  | { readonly kind: 'sackPermitted' }
  | { readonly kind: 'sack'; readonly blocks: readonly SackBlock[] }
  | { readonly kind: 'timestamps'; readonly tsVal: number; readonly tsEcr: number }
  /** Any other kind, kept byte-exact so a rewrite never drops what it does not understand. */
  | { readonly kind: 'unknown'; readonly type: number; readonly data: Uint8Array };

export class TcpPacket {
  /** Unchecked: only for buffers already validated or being emitted into. */
  constructor(readonly buffer: Uint8Array) {}

  /**
   * `buf` is exactly the segment (the IP payload): its length is the TCP length used in the
   * pseudo-header. Checks that the fixed header fits and the data offset is possible.
   */
  static checked(buf: Uint8Array): Result<TcpPacket, WireError> {
    if (buf.length < TCP_HEADER_LEN) return fail('truncated', `tcp: ${buf.length} < 20 bytes`);
    const hl = (buf[O_OFF]! >>> 4) * 4;
    if (hl < TCP_HEADER_LEN) return fail('badHeaderLength', `tcp: data offset ${hl / 4} < 5`);
    if (hl > buf.length) return fail('truncated', `tcp: header ${hl} > segment ${buf.length}`);
    return ok(new TcpPacket(buf));
  }

  get srcPort(): number {
    return get16(this.buffer, 0);
  }
  set srcPort(v: number) {
    set16(this.buffer, 0, v);
  }
  get dstPort(): number {
    return get16(this.buffer, 2);
  }
  set dstPort(v: number) {
    set16(this.buffer, 2, v);
  }
  get seqNumber(): number {
    return get32(this.buffer, O_SEQ);
  }
  set seqNumber(v: number) {
    set32(this.buffer, O_SEQ, v);
  }
  get ackNumber(): number {
    return get32(this.buffer, O_ACK);
  }
  set ackNumber(v: number) {
    set32(this.buffer, O_ACK, v);
  }
  /** Data offset in 32-bit words. */
  get dataOffset(): number {
    return this.buffer[O_OFF]! >>> 4;
  }
  set dataOffset(words: number) {
    this.buffer[O_OFF] = ((words & 0x0f) << 4) | (this.buffer[O_OFF]! & 0x0f);
  }
  /** Header length in bytes, options included. */
  get headerLength(): number {
    return (this.buffer[O_OFF]! >>> 4) * 4;
  }
  /** The nine flag bits (NS..FIN); reserved bits are not included. */
  get flags(): number {
    return get16(this.buffer, O_OFF) & FLAGS_MASK;
  }
  set flags(v: number) {
    const w = get16(this.buffer, O_OFF);
    set16(this.buffer, O_OFF, (w & ~FLAGS_MASK) | (v & FLAGS_MASK));
  }
  get fin(): boolean {
    return (this.buffer[13]! & TCP_FIN) !== 0;
  }
  get syn(): boolean {
    return (this.buffer[13]! & TCP_SYN) !== 0;
  }
  get rst(): boolean {
    return (this.buffer[13]! & TCP_RST) !== 0;
  }
  get psh(): boolean {
    return (this.buffer[13]! & TCP_PSH) !== 0;
  }
  get ack(): boolean {
    return (this.buffer[13]! & TCP_ACK) !== 0;
  }
  get urg(): boolean {
    return (this.buffer[13]! & TCP_URG) !== 0;
  }
  get ece(): boolean {
    return (this.buffer[13]! & TCP_ECE) !== 0;
  }
  get cwr(): boolean {
    return (this.buffer[13]! & TCP_CWR) !== 0;
  }
  get ns(): boolean {
    return (this.buffer[12]! & 0x01) !== 0;
  }
  get window(): number {
    return get16(this.buffer, O_WIN);
  }
  set window(v: number) {
    set16(this.buffer, O_WIN, v);
  }
  get checksum(): number {
    return get16(this.buffer, O_CSUM);
  }
  set checksum(v: number) {
    set16(this.buffer, O_CSUM, v);
  }
  get urgent(): number {
    return get16(this.buffer, O_URG);
  }
  set urgent(v: number) {
    set16(this.buffer, O_URG, v);
  }
  /** Option bytes, padding included (aliases the buffer). */
  get options(): Uint8Array {
    return this.buffer.subarray(TCP_HEADER_LEN, this.headerLength);
  }
  /** Payload bytes (aliases the buffer). */
  get payload(): Uint8Array {
    return this.buffer.subarray(this.headerLength);
  }
  /** Sequence space consumed: payload bytes plus one for SYN and one for FIN. */
  get segmentLength(): number {
    const f = this.buffer[13]!;
    return this.buffer.length - this.headerLength + (f & TCP_SYN ? 1 : 0) + (f & TCP_FIN ? 1 : 0);
  }

  /** Full checksum over pseudo-header and segment, as a sender with no offload writes it. */
  fillChecksum(srcAddr: number, dstAddr: number): void {
    this.checksum = 0;
    this.checksum = computeTcpChecksum(this.buffer, srcAddr, dstAddr);
  }
  verifyChecksum(srcAddr: number, dstAddr: number): boolean {
    const s = checksumData(
      this.buffer,
      pseudoHeaderSum(srcAddr, dstAddr, IP_PROTO_TCP, this.buffer.length),
    );
    return checksumFold(s) === 0xffff;
  }
  /** Offload form: the field holds the folded pseudo-header sum (see ChecksumMode). */
  fillPartialChecksum(srcAddr: number, dstAddr: number): void {
    this.checksum = pseudoHeaderSum(srcAddr, dstAddr, IP_PROTO_TCP, this.buffer.length);
  }
  /**
   * What a NIC does with a partial checksum: sum the segment over the field as it stands and
   * store the complement. Used when an offloaded packet must leave through a path that will not
   * complete it (e.g. a raw socket).
   */
  completePartialChecksum(): void {
    this.checksum = checksumFinish(checksumData(this.buffer));
  }
  /**
   * `valid`, or `partial` when the field is exactly the pseudo-header sum of an offloaded
   * packet (what tcpdump on `lo` or a TUN with vnet headers shows), else `bad`.
   */
  checksumStatus(srcAddr: number, dstAddr: number): 'valid' | 'partial' | 'bad' {
    if (this.verifyChecksum(srcAddr, dstAddr)) return 'valid';
    const pseudo = pseudoHeaderSum(srcAddr, dstAddr, IP_PROTO_TCP, this.buffer.length);
    return this.checksum === pseudo ? 'partial' : 'bad';
  }
}

const computeTcpChecksum = (seg: Uint8Array, srcAddr: number, dstAddr: number): number =>
  checksumFinish(checksumData(seg, pseudoHeaderSum(srcAddr, dstAddr, IP_PROTO_TCP, seg.length)));

/** The TCP header and payload as a plain value. */
export interface TcpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  /** Present iff the ACK flag is set (the field is meaningless otherwise). */
  readonly ack: number | undefined;
  /** TCP_* bits; TCP_ACK must agree with `ack !== undefined`. */
  readonly flags: number;
  readonly window: number;
  readonly urgent: number;
  /** In wire order; trailing zero padding after an EOL is not represented. */
  readonly options: readonly TcpOption[];
  /** Aliases the parsed buffer. */
  readonly payload: Uint8Array;
}

export interface TcpParseOptions {
  /** False under receive offload (already verified) or for captures with partial checksums. */
  readonly verifyChecksum?: boolean;
}

/**
 * Parses an options area. Stops at EOL (what follows is padding). Malformed options are an
 * error rather than a truncated list: a segment whose options we cannot walk cannot be
 * translated safely either.
 */
export function parseTcpOptions(area: Uint8Array): Result<TcpOption[], WireError> {
  const out: TcpOption[] = [];
  let i = 0;
  while (i < area.length) {
    const kind = area[i]!;
    if (kind === TCP_OPT_EOL) {
      out.push({ kind: 'eol' });
      break;
    }
    if (kind === TCP_OPT_NOP) {
      out.push({ kind: 'nop' });
      i += 1;
      continue;
    }
    if (i + 1 >= area.length)
      return fail('optionOverrun', `tcp option ${kind} at ${i}: no length byte`);
    const len = area[i + 1]!;
    if (len < 2) return fail('badOption', `tcp option ${kind} at ${i}: length ${len} < 2`);
    if (i + len > area.length) {
      return fail('optionOverrun', `tcp option ${kind} at ${i}: length ${len} past ${area.length}`);
    }
    const body = i + 2;
    switch (kind) {
      case TCP_OPT_MSS:
        if (len !== 4) return fail('badOption', `tcp mss length ${len}`);
        out.push({ kind: 'mss', mss: get16(area, body) });
        break;
      case TCP_OPT_WSCALE:
        if (len !== 3) return fail('badOption', `tcp wscale length ${len}`);
        // Kept raw even if > 14 (RFC 7323 says clamp on use): the codec reports, policy clamps.
        out.push({ kind: 'wscale', shift: area[body]! });
        break;
      case TCP_OPT_SACK_PERMITTED:
        if (len !== 2) return fail('badOption', `tcp sackPermitted length ${len}`);
        out.push({ kind: 'sackPermitted' });
        break;
      case TCP_OPT_SACK: {
        if (len < 10 || (len - 2) % 8 !== 0) return fail('badOption', `tcp sack length ${len}`);
        const blocks: SackBlock[] = [];
        for (let b = body; b < i + len; b += 8)
          blocks.push({ left: get32(area, b), right: get32(area, b + 4) });
        out.push({ kind: 'sack', blocks });
        break;
      }
      case TCP_OPT_TIMESTAMPS:
        if (len !== 10) return fail('badOption', `tcp timestamps length ${len}`);
        out.push({ kind: 'timestamps', tsVal: get32(area, body), tsEcr: get32(area, body + 4) });
        break;
      default:
        out.push({ kind: 'unknown', type: kind, data: area.subarray(body, i + len) });
    }
    i += len;
  }
  return ok(out);
}

export function parseTcp(
  pkt: TcpPacket,
  srcAddr: number,
  dstAddr: number,
  opts: TcpParseOptions = {},
): Result<TcpRepr, WireError> {
  const flags = pkt.flags;
  if ((flags & (TCP_SYN | TCP_FIN)) === (TCP_SYN | TCP_FIN))
    return fail('synFin', 'tcp: SYN and FIN both set');
  if (opts.verifyChecksum !== false && !pkt.verifyChecksum(srcAddr, dstAddr)) {
    return fail('badChecksum', `tcp: checksum 0x${pkt.checksum.toString(16)}`);
  }
  const options = parseTcpOptions(pkt.options);
  if (!options.ok) return options;
  return ok({
    srcPort: pkt.srcPort,
    dstPort: pkt.dstPort,
    seq: pkt.seqNumber,
    ack: flags & TCP_ACK ? pkt.ackNumber : undefined,
    flags,
    window: pkt.window,
    urgent: pkt.urgent,
    options: options.value,
    payload: pkt.payload,
  });
}

/** Convenience: `TcpPacket.checked` then `parseTcp`. */
export function parseTcpSegment(
  seg: Uint8Array,
  srcAddr: number,
  dstAddr: number,
  opts: TcpParseOptions = {},
): Result<TcpRepr, WireError> {
  const pkt = TcpPacket.checked(seg);
  if (!pkt.ok) return pkt;
  return parseTcp(pkt.value, srcAddr, dstAddr, opts);
}

const optionLen = (o: TcpOption): number => {
  switch (o.kind) {
    case 'eol':
    case 'nop':
      return 1;
    case 'mss':
      return 4;
    case 'wscale':
      return 3;
    case 'sackPermitted':
      return 2;
    case 'sack':
      return 2 + 8 * o.blocks.length;
    case 'timestamps':
      return 10;
    case 'unknown':
      return 2 + o.data.length;
  }
};

/** Encoded length of an option list, before padding to a multiple of 4. */
export const tcpOptionsLength = (options: readonly TcpOption[]): number => {
  let n = 0;
  for (const o of options) n += optionLen(o);
  return n;
};

/** Header length in bytes: options padded with zeros (EOL) to a 32-bit boundary. */
export const tcpHeaderLen = (repr: TcpRepr): number =>
  TCP_HEADER_LEN + ((tcpOptionsLength(repr.options) + 3) & ~3);

export const tcpBufferLen = (repr: TcpRepr): number => tcpHeaderLen(repr) + repr.payload.length;

/** Writes the options at `at`; returns the offset after them. */
function emitTcpOptions(options: readonly TcpOption[], buf: Uint8Array, at: number): number {
  let i = at;
  for (const o of options) {
    switch (o.kind) {
      case 'eol':
        buf[i++] = TCP_OPT_EOL;
        break;
      case 'nop':
        buf[i++] = TCP_OPT_NOP;
        break;
      case 'mss':
        buf[i] = TCP_OPT_MSS;
        buf[i + 1] = 4;
        set16(buf, i + 2, o.mss);
        i += 4;
        break;
      case 'wscale':
        buf[i] = TCP_OPT_WSCALE;
        buf[i + 1] = 3;
        buf[i + 2] = o.shift & 0xff;
        i += 3;
        break;
      case 'sackPermitted':
        buf[i] = TCP_OPT_SACK_PERMITTED;
        buf[i + 1] = 2;
        i += 2;
        break;
      case 'sack':
        assertWire(
          o.blocks.length >= 1 && o.blocks.length <= 4,
          `sack with ${o.blocks.length} blocks`,
        );
        buf[i] = TCP_OPT_SACK;
        buf[i + 1] = 2 + 8 * o.blocks.length;
        i += 2;
        for (const b of o.blocks) {
          set32(buf, i, b.left);
          set32(buf, i + 4, b.right);
          i += 8;
        }
        break;
      case 'timestamps':
        buf[i] = TCP_OPT_TIMESTAMPS;
        buf[i + 1] = 10;
        set32(buf, i + 2, o.tsVal);
        set32(buf, i + 6, o.tsEcr);
        i += 10;
        break;
      case 'unknown':
        assertWire(!KNOWN_OPTION_KINDS.has(o.type), `unknown option with known kind ${o.type}`);
        assertWire(o.data.length <= 38, `unknown option data ${o.data.length} > 38`);
        buf[i] = o.type & 0xff;
        buf[i + 1] = 2 + o.data.length;
        buf.set(o.data, i + 2);
        i += 2 + o.data.length;
        break;
    }
  }
  return i;
}

export interface TcpEmitOptions {
  /** Default `full`. `partial` writes the pseudo-header sum for an offloading device. */
  readonly checksum?: ChecksumMode;
}

/**
 * Writes the segment into `buf` (at least `tcpBufferLen(repr)` bytes; exactly that many are
 * written) and fills the checksum. Returns the view over the written bytes.
 */
export function emitTcp(
  repr: TcpRepr,
  buf: Uint8Array,
  srcAddr: number,
  dstAddr: number,
  opts: TcpEmitOptions = {},
): TcpPacket {
  const optLen = tcpOptionsLength(repr.options);
  const hl = TCP_HEADER_LEN + ((optLen + 3) & ~3);
  const total = hl + repr.payload.length;
  assertWire(optLen <= TCP_MAX_OPTIONS_LEN, `tcp options ${optLen} > 40 bytes`);
  assertWire(buf.length >= total, `tcp buffer ${buf.length} < ${total}`);
  assertWire(
    (repr.ack !== undefined) === ((repr.flags & TCP_ACK) !== 0),
    'tcp repr: ack must be present iff the ACK flag is set',
  );
  const seg = buf.subarray(0, total);
  set16(seg, 0, repr.srcPort);
  set16(seg, 2, repr.dstPort);
  set32(seg, O_SEQ, repr.seq);
  set32(seg, O_ACK, repr.ack ?? 0);
  set16(seg, O_OFF, ((hl >>> 2) << 12) | (repr.flags & FLAGS_MASK));
  set16(seg, O_WIN, repr.window);
  set16(seg, O_CSUM, 0);
  set16(seg, O_URG, repr.urgent);
  const end = emitTcpOptions(repr.options, seg, TCP_HEADER_LEN);
  seg.fill(0, end, hl);
  seg.set(repr.payload, hl);
  const pkt = new TcpPacket(seg);
  const mode = opts.checksum ?? 'full';
  if (mode === 'full') pkt.fillChecksum(srcAddr, dstAddr);
  else if (mode === 'partial') pkt.fillPartialChecksum(srcAddr, dstAddr);
  return pkt;
}

// ---------------------------------------------------------------------------------------
// In-place rewrites. Each writes the new field value and keeps the checksum correct without
// re-summing the segment: eqn. 3 of RFC 1624 for `full`, nothing for `partial` (the field is
// outside the pseudo-header, see ChecksumMode), nothing for `none`.

export function rewriteSeq(pkt: TcpPacket, v: number, mode: ChecksumMode = 'full'): void {
  const old = pkt.seqNumber;
  set32(pkt.buffer, O_SEQ, v);
  if (mode === 'full') pkt.checksum = checksumUpdate32(pkt.checksum, old, v >>> 0);
}

export function rewriteAck(pkt: TcpPacket, v: number, mode: ChecksumMode = 'full'): void {
  const old = pkt.ackNumber;
  set32(pkt.buffer, O_ACK, v);
  if (mode === 'full') pkt.checksum = checksumUpdate32(pkt.checksum, old, v >>> 0);
}

export function rewriteWindow(pkt: TcpPacket, v: number, mode: ChecksumMode = 'full'): void {
  const old = pkt.window;
  set16(pkt.buffer, O_WIN, v);
  if (mode === 'full') pkt.checksum = checksumUpdate16(pkt.checksum, old, v & 0xffff);
}

/** Rewrites the flag bits (e.g. to clear FIN or PSH) with the same checksum discipline. */
export function rewriteFlags(pkt: TcpPacket, flags: number, mode: ChecksumMode = 'full'): void {
  const old = get16(pkt.buffer, O_OFF);
  const next = (old & ~FLAGS_MASK) | (flags & FLAGS_MASK);
  set16(pkt.buffer, O_OFF, next);
  if (mode === 'full') pkt.checksum = checksumUpdate16(pkt.checksum, old, next);
}

/**
 * Offset (in `pkt.buffer`) of the first option of `kind` with the expected length, or -1.
 * Tolerant walk over untrusted bytes: it stops at EOL, at a malformed length or at the end,
 * never reads outside the options area and allocates nothing.
 */
export function findTcpOption(pkt: TcpPacket, kind: number): number {
  const b = pkt.buffer;
  const end = pkt.headerLength;
  let i = TCP_HEADER_LEN;
  while (i < end) {
    const k = b[i]!;
    if (k === TCP_OPT_EOL) return -1;
    if (k === TCP_OPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return -1;
    const len = b[i + 1]!;
    if (len < 2 || i + len > end) return -1;
    if (k === kind) return i;
    i += len;
  }
  return -1;
}

/** Offset of a well-formed timestamps option (length 10), or -1. */
export function timestampsOffset(pkt: TcpPacket): number {
  const at = findTcpOption(pkt, TCP_OPT_TIMESTAMPS);
  return at >= 0 && pkt.buffer[at + 1] === 10 ? at : -1;
}

export function findTimestamps(pkt: TcpPacket): { tsVal: number; tsEcr: number } | undefined {
  const at = timestampsOffset(pkt);
  if (at < 0) return undefined;
  return { tsVal: get32(pkt.buffer, at + 2), tsEcr: get32(pkt.buffer, at + 6) };
}

/** Rewrites TSval/TSecr in place; false (nothing changed) if the segment carries none. */
export function rewriteTimestamps(
  pkt: TcpPacket,
  tsVal: number,
  tsEcr: number,
  mode: ChecksumMode = 'full',
): boolean {
  const at = timestampsOffset(pkt);
  if (at < 0) return false;
  const b = pkt.buffer;
  const oldVal = get32(b, at + 2);
  const oldEcr = get32(b, at + 6);
  set32(b, at + 2, tsVal);
  set32(b, at + 6, tsEcr);
  if (mode === 'full') {
    // Odd offsets are fine: the option sits at `at`, and since every option before it is
    // counted from the 4-aligned start, a 32-bit value at an odd byte offset straddles words.
    // So the update must use the words as they fall in the segment, not the value halves.
    pkt.checksum = updateSpan(pkt.checksum, b, at + 2, 8, oldVal, oldEcr);
  }
  return true;
}

/** Offset and block count of a well-formed SACK option, or undefined. */
export function sackOptionSpan(pkt: TcpPacket): { offset: number; count: number } | undefined {
  const at = findTcpOption(pkt, TCP_OPT_SACK);
  if (at < 0) return undefined;
  const len = pkt.buffer[at + 1]!;
  if (len < 10 || (len - 2) % 8 !== 0) return undefined;
  return { offset: at, count: (len - 2) / 8 };
}

export function findSackBlocks(pkt: TcpPacket): SackBlock[] {
  const span = sackOptionSpan(pkt);
  if (span === undefined) return [];
  const out: SackBlock[] = [];
  const b = pkt.buffer;
  for (let k = 0; k < span.count; k++) {
    const o = span.offset + 2 + 8 * k;
    out.push({ left: get32(b, o), right: get32(b, o + 4) });
  }
  return out;
}

/**
 * Maps every SACK edge through `fn(edge, index)` (index = 2*block + 0 for left, 1 for right),
 * in place. Returns the number of blocks rewritten (0 if no SACK option).
 */
export function rewriteSackBlocks(
  pkt: TcpPacket,
  fn: (edge: number, index: number) => number,
  mode: ChecksumMode = 'full',
): number {
  const span = sackOptionSpan(pkt);
  if (span === undefined) return 0;
  const b = pkt.buffer;
  for (let k = 0; k < 2 * span.count; k++) {
    const o = span.offset + 2 + 4 * k;
    const old = get32(b, o);
    const next = fn(old, k) >>> 0;
    set32(b, o, next);
    if (mode === 'full') pkt.checksum = updateSpan(pkt.checksum, b, o, 4, old, 0);
  }
  return span.count;
}

/** Most blocks a SACK option can hold: 40 option bytes, minus kind and length, 8 per block. */
export const MAX_SACK_BLOCKS = 4;

/**
 * Keeps only the SACK blocks for which `keep(left, right, index)` holds, in place and without
 * allocating. The kept blocks move to the front in their order and the option's length shrinks
 * to match; the freed bytes become NOPs. If no block is kept the whole option becomes NOPs (a
 * SACK option holds at least one block, RFC 2018 §3). The header length, every other option and
 * its offset stay as they are. `keep` sees every block before anything is written. Returns the
 * number of blocks left (0 without a well-formed SACK option). Checksum as the other rewrites:
 * `full` is updated incrementally over the option's bytes, `partial` and `none` are left alone.
 */
export function keepSackBlocks(
  pkt: TcpPacket,
  keep: (left: number, right: number, index: number) => boolean,
  mode: ChecksumMode = 'full',
): number {
  const span = sackOptionSpan(pkt);
  if (span === undefined) return 0;
  const b = pkt.buffer;
  const at = span.offset;
  let mask = 0;
  let kept = 0;
  for (let k = 0; k < span.count; k++) {
    const o = at + 2 + 8 * k;
    if (keep(get32(b, o), get32(b, o + 4), k)) {
      mask |= 1 << k;
      kept++;
    }
  }
  if (kept === span.count) return kept;
  const len = 2 + 8 * span.count;
  // The words the option touches, as they fall in the segment (the option may start odd).
  const from = at & ~1;
  const to = (at + len + 1) & ~1;
  const before = mode === 'full' ? sumWords(b, from, to) : 0;
  let w = at + 2;
  for (let k = 0; k < span.count; k++) {
    if ((mask & (1 << k)) === 0) continue;
    const o = at + 2 + 8 * k;
    if (o !== w) b.copyWithin(w, o, o + 8);
    w += 8;
  }
  if (kept === 0) b.fill(TCP_OPT_NOP, at, at + len);
  else {
    b[at + 1] = 2 + 8 * kept;
    b.fill(TCP_OPT_NOP, w, at + len);
  }
  if (mode === 'full') {
    const after = sumWords(b, from, to);
    pkt.checksum = ~checksumFold((~pkt.checksum & 0xffff) + (~before & 0xffff) + after) & 0xffff;
  }
  return kept;
}

/** Folded ones'-complement sum of the 16-bit words in [from, to) (both even) of a segment. */
function sumWords(b: Uint8Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  return checksumFold(s);
}

/**
 * Incremental update for a 4- or 8-byte field at an arbitrary offset `o` of the segment,
 * whose previous contents were `old0` (and `old1` for 8 bytes) and whose new contents are
 * already in `b`. Options need not be aligned (one NOP before a timestamps option puts TSval
 * at an odd offset), and then each byte lands in the other half of its 16-bit word. The
 * ones'-complement sum is byte-order independent (RFC 1071 §2(B)): the contribution of bytes
 * at an odd offset is the byte-swapped sum of the same bytes read as if aligned. Eqn. 3
 * generalises from one word m to any set of words with m = their ones'-complement sum.
 */
function updateSpan(
  csum: number,
  b: Uint8Array,
  o: number,
  n: 4 | 8,
  old0: number,
  old1: number,
): number {
  const new0 = get32(b, o);
  const new1 = n === 8 ? get32(b, o + 4) : 0;
  if ((o & 1) === 0) {
    const c = checksumUpdate32(csum, old0, new0);
    return n === 8 ? checksumUpdate32(c, old1, new1) : c;
  }
  const words = (x: number, y: number): number =>
    checksumFold((x >>> 16) + (x & 0xffff) + (y >>> 16) + (y & 0xffff));
  const swap = (x: number): number => ((x >>> 8) | (x << 8)) & 0xffff;
  const oldSum = swap(words(old0, n === 8 ? old1 : 0));
  const newSum = swap(words(new0, new1));
  return ~checksumFold((~csum & 0xffff) + (~oldSum & 0xffff) + newSum) & 0xffff;
}

// ---------------------------------------------------------------------------------------

const FLAG_LETTERS: readonly [number, string][] = [
  [TCP_SYN, 'S'],
  [TCP_FIN, 'F'],
  [TCP_RST, 'R'],
  [TCP_PSH, 'P'],
  [TCP_URG, 'U'],
  [TCP_ECE, 'E'],
  [TCP_CWR, 'W'],
  [TCP_NS, 'N'],
];

/** tcpdump's flag notation: S F R P U E W, '.' for ACK, 'none' if empty. */
export const tcpFlagsToString = (flags: number): string => {
  let s = '';
  for (const [bit, ch] of FLAG_LETTERS) if (flags & bit) s += ch;
  if (flags & TCP_ACK) s += '.';
  return s === '' ? 'none' : s;
};

export const tcpOptionToString = (o: TcpOption): string => {
  switch (o.kind) {
    case 'eol':
      return 'eol';
    case 'nop':
      return 'nop';
    case 'mss':
      return `mss ${o.mss}`;
    case 'wscale':
      return `wscale ${o.shift}`;
    case 'sackPermitted':
      return 'sackOK';
    case 'sack':
      return `sack ${o.blocks.length} ${o.blocks.map((b) => `{${b.left}:${b.right}}`).join('')}`;
    case 'timestamps':
      return `TS val ${o.tsVal} ecr ${o.tsEcr}`;
    case 'unknown':
      return `unknown-${o.type} 0x${Array.from(o.data, (x) => x.toString(16).padStart(2, '0')).join('')}`;
  }
};

/** One line in tcpdump's style, for logs and test failure messages. */
export function tcpToString(r: TcpRepr): string {
  const segLen = r.payload.length;
  let s = `${r.srcPort} > ${r.dstPort}: Flags [${tcpFlagsToString(r.flags)}], seq ${r.seq}`;
  if (segLen > 0) s += `:${(r.seq + segLen) >>> 0}`;
  if (r.ack !== undefined) s += `, ack ${r.ack}`;
  s += `, win ${r.window}`;
  if (r.flags & TCP_URG) s += `, urg ${r.urgent}`;
  if (r.options.length > 0) s += `, options [${r.options.map(tcpOptionToString).join(',')}]`;
  return `${s}, length ${segLen}`;
}
