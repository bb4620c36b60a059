// Segments the SSW builds or wraps (spec/ssw.md R1.4, R5.2, R5.4, R6.2-R6.9): IPv4/TCP packets
// to the kernel (fake SYN and ACK, injected bytes, local acks, abort RST) and to the client
// (pure ACKs, released FINs, go-live prompts), the SYN options read and written once, and the
// Ethernet wrapping of the kernel's own packets for the LAN.

import type { ChecksumMode } from '../../wire/checksum.ts';
import { ETHERNET_HEADER_LEN } from '../../wire/ethernet.ts';
import { emitIpv4, IP_PROTO_TCP } from '../../wire/ipv4.ts';
import type { SynOpts } from '../../wire/logmsg.ts';
import { seqGe, seqGt, seqLt, seqMax } from '../../wire/seq.ts';
import {
  emitTcp,
  parseTcpOptions,
  TCP_ACK,
  TCP_HEADER_LEN,
  type TcpOption,
  type TcpPacket,
  tcpOptionsLength,
} from '../../wire/tcp.ts';
import { NO_OFFLOAD, shiftVnetHdr, type VnetHdr, vnetNeedsCsum } from '../../wire/vnet.ts';
import { adjustWindow, clampAck, noteToldAck } from './clamp.ts';
import type { Conn } from './conn.ts';
import type { SswCtx } from './context.ts';
import type { ClientSeq, KernelSeq, OrigSeq } from './spaces.ts';
import { toClientTs } from './translate.ts';

export const EMPTY = new Uint8Array(0);

/** The SYN options assumed when a SYN's options cannot be parsed (RFC 9293 default MSS). */
export const NO_OPTS: SynOpts = { mss: 536, wscale: null, sackOk: false, tsVal: null, tsEcr: null };

/** The options of a SYN or SYN-ACK as the log records them. */
export function synOptsOf(options: readonly TcpOption[]): SynOpts {
  let mss = 536;
  let wscale: number | null = null;
  let sackOk = false;
  let tsVal: number | null = null;
  let tsEcr: number | null = null;
  for (const o of options) {
    if (o.kind === 'mss') mss = o.mss;
    else if (o.kind === 'wscale') wscale = Math.min(o.shift, 14);
    else if (o.kind === 'sackPermitted') sackOk = true;
    else if (o.kind === 'timestamps') {
      tsVal = o.tsVal;
      tsEcr = o.tsEcr;
    }
  }
  return { mss, wscale, sackOk, tsVal, tsEcr };
}

/** A segment's SYN options, `NO_OPTS` when they do not parse. */
export function synOptsOfSegment(tcp: TcpPacket): SynOpts {
  const opts = parseTcpOptions(tcp.options);
  return opts.ok ? synOptsOf(opts.value) : NO_OPTS;
}

/**
 * The options of a SYN the SSW builds from logged ones (R6.2 the fake SYN, R6.9 the logged
 * SYN-ACK), in the order Linux writes them: MSS, SACK permitted, timestamps (when `ts` is
 * given), window scale.
 */
export function synOptions(
  o: SynOpts,
  ts: { tsVal: number; tsEcr: number } | undefined,
): TcpOption[] {
  const options: TcpOption[] = [{ kind: 'mss', mss: o.mss }];
  if (o.sackOk) options.push({ kind: 'sackPermitted' });
  if (ts !== undefined) options.push({ kind: 'timestamps', tsVal: ts.tsVal, tsEcr: ts.tsEcr });
  if (o.wscale !== null) options.push({ kind: 'nop' }, { kind: 'wscale', shift: o.wscale });
  return options;
}

/**
 * SACK was negotiated on the connection: both SYNs of its first incarnation carried SACK
 * permitted (the client's logged options and the server's logged SYN-ACK, R2.1 / R6.1), so the
 * client may be sent SACK blocks (RFC 2018 §2) and, being a SACK sender, counts only duplicate
 * ACKs that carry them towards a fast retransmit (Linux: `sacked_out` grows with SACKed
 * segments alone once SACK is on; see R6.13).
 */
export const sackNegotiated = (c: Conn): boolean =>
  c.client.opts.sackOk && c.server.opts?.sackOk === true;

/** Most SACK blocks a segment the SSW builds may carry: 40 option bytes, less NOP NOP TS. */
export const maxSackBlocks = (c: Conn): number => (c.tsOk ? 3 : 4);

/** NOP NOP TS, as on every segment of a connection with timestamps. */
export const tsOptions = (tsVal: number, tsEcr: number): TcpOption[] => [
  { kind: 'nop' },
  { kind: 'nop' },
  { kind: 'timestamps', tsVal, tsEcr },
];

/** The timestamps of a segment the SSW sends the kernel as the client (none without TS). */
export const toKernelTsOptions = (c: Conn): TcpOption[] =>
  c.tsOk ? tsOptions(c.client.tsRecent, c.kernel.lastTsVal) : [];

/** An Ethernet frame (header left for the neighbour table) holding an IPv4/TCP segment. */
export function buildPacket(
  ctx: SswCtx,
  src: number,
  dst: number,
  srcPort: number,
  dstPort: number,
  seq: number,
  ack: number | undefined,
  flags: number,
  window: number,
  options: readonly TcpOption[],
  payload: Uint8Array,
): Uint8Array {
  const optLen = tcpOptionsLength(options);
  const tcpLen = TCP_HEADER_LEN + ((optLen + 3) & ~3) + payload.length;
  const total = 20 + tcpLen;
  const frame = new Uint8Array(ETHERNET_HEADER_LEN + total);
  const ipBuf = frame.subarray(ETHERNET_HEADER_LEN);
  const ip = emitIpv4(
    {
      src,
      dst,
      protocol: IP_PROTO_TCP,
      ttl: 64,
      ident: ctx.nextIpIdent(),
      dscp: 0,
      ecn: 0,
      dontFragment: true,
      options: EMPTY,
      payloadLength: tcpLen,
    },
    ipBuf,
  );
  emitTcp(
    {
      srcPort,
      dstPort,
      seq,
      ack,
      flags: ack === undefined ? flags & ~TCP_ACK : flags | TCP_ACK,
      window,
      urgent: 0,
      options,
      payload,
    },
    ip.payload,
    src,
    dst,
  );
  return frame;
}

/** Client -> kernel (fake SYN, fake ACK, injected data, local ack, abort RST). */
export function sendToKernel(
  ctx: SswCtx,
  c: Conn,
  seq: ClientSeq,
  ack: KernelSeq | undefined,
  flags: number,
  window: number,
  options: readonly TcpOption[],
  payload: Uint8Array = EMPTY,
): void {
  const frame = buildPacket(
    ctx,
    c.clientAddr,
    ctx.config.serviceAddr,
    c.clientPort,
    c.serverPort,
    seq,
    ack,
    flags,
    window,
    options,
    payload,
  );
  ctx.toTun(frame.subarray(ETHERNET_HEADER_LEN));
}

/**
 * Server -> client (pure ACK, released FIN, go-live prompt), in original space: the R1.4 form,
 * its ack clamped (R1.2) while protected, its window by R1.3, seq `max(kernelSndNxt, clientAck)`
 * (or the held FIN's), TSval on the current kernel's translated clock and never below what the
 * client has seen (PAWS). `sack` (R6.13 only: ranges the receiving side holds past a hole) goes
 * out as SACK blocks when SACK was negotiated, those above the ack, at most `maxSackBlocks`.
 */
export function sendToClient(
  ctx: SswCtx,
  c: Conn,
  flags: number,
  seqOverride?: OrigSeq,
  sack: readonly { left: ClientSeq; right: ClientSeq }[] = [],
): void {
  const k = c.kernel;
  const cl = c.client;
  const ack = c.protected
    ? clampAck(k.ack, c.log.stableSeq, cl.sentAck)
    : seqMax(k.ack, cl.sentAck);
  const w = adjustWindow({
    ack,
    kernelAck: k.ack,
    kernelField: k.winField,
    kernelWscale: k.ws,
    clientWscale: cl.ws,
    rightEdge: cl.rightEdge,
  });
  cl.rightEdge = w.rightEdge;
  noteToldAck(c, ack, c.protected, true);
  const base = c.held.finSeq ?? k.sndNxt;
  const seq = seqOverride ?? (seqGt(cl.ack, base) ? cl.ack : base);
  let options: TcpOption[] = [];
  if (c.tsOk) {
    const now = toClientTs(k.lastTsVal, c.t);
    const tsVal = cl.tsValSent === undefined ? now : seqMax(cl.tsValSent, now);
    cl.tsValSent = tsVal;
    options = tsOptions(tsVal, cl.tsRecent);
  }
  if (sack.length > 0 && sackNegotiated(c)) {
    const blocks = sack
      .filter((b) => seqLt(b.left, b.right) && seqGe(b.left, ack))
      .slice(0, maxSackBlocks(c));
    if (blocks.length > 0) options.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks });
  }
  const frame = buildPacket(
    ctx,
    ctx.config.serviceAddr,
    c.clientAddr,
    c.serverPort,
    c.clientPort,
    seq,
    ack,
    flags,
    w.field,
    options,
    EMPTY,
  );
  ctx.toNeighbor(frame, c.clientAddr, false);
}

/** How in-place rewrites keep the checksum of a packet that came with `vnet`. */
export const csumFor = (ctx: SswCtx, vnet: VnetHdr): ChecksumMode =>
  vnetNeedsCsum(vnet) ? 'partial' : ctx.csum;

/**
 * A kernel packet about to be kept (held SYN-ACK or RST): complete a partial checksum so the
 * copy needs no offload when it is released, whatever packet is being handled then. Such
 * packets carry no GSO burst. Returns the header the packet has now.
 */
export function standAlone(tcp: TcpPacket, vnet: VnetHdr): VnetHdr {
  if (!vnetNeedsCsum(vnet)) return vnet;
  tcp.completePartialChecksum();
  return NO_OFFLOAD;
}

/** Wraps a kernel packet in Ethernet for the client; in place when headroom allows. `vnet`
 * is the packet's (offsets from the IP header). */
export function kernelToLan(
  ctx: SswCtx,
  packet: Uint8Array,
  dstAddr: number,
  headroom: boolean,
  vnet: VnetHdr = NO_OFFLOAD,
): void {
  let frame: Uint8Array;
  let aliased = false;
  if (headroom && packet.byteOffset >= ETHERNET_HEADER_LEN) {
    frame = new Uint8Array(
      packet.buffer,
      packet.byteOffset - ETHERNET_HEADER_LEN,
      packet.length + ETHERNET_HEADER_LEN,
    );
    aliased = true;
  } else {
    frame = new Uint8Array(packet.length + ETHERNET_HEADER_LEN);
    frame.set(packet, ETHERNET_HEADER_LEN);
  }
  ctx.toNeighbor(frame, dstAddr, aliased, shiftVnetHdr(vnet, ETHERNET_HEADER_LEN));
}
