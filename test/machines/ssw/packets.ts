// Real packets for the engine tests, built and parsed with the wire codecs (src/wire). Every
// segment the engine emits is parsed with checksum verification, so an incremental checksum
// slip fails the test that caused it.

import type { SswEffect } from '../../../src/machines/ssw/index.ts';
import { ipv4FromString, macFromString } from '../../../src/wire/addr.ts';
import { ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, emitEthernet } from '../../../src/wire/ethernet.ts';
import { emitIpv4, IP_PROTO_TCP, Ipv4Packet } from '../../../src/wire/ipv4.ts';
import {
  emitTcp,
  parseTcpSegment,
  TCP_ACK,
  type TcpOption,
  type TcpRepr,
  tcpBufferLen,
} from '../../../src/wire/tcp.ts';

export const SERVICE = ipv4FromString('198.18.0.1');
export const SERVICE_MAC = macFromString('02:00:00:00:00:01');
export const CLIENT = ipv4FromString('198.18.0.10');
export const CLIENT_MAC = macFromString('02:00:00:00:00:0a');
export const CPORT = 40000;
export const SPORT = 7000;

export interface Seg {
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  options?: TcpOption[];
  payload?: Uint8Array | string;
}

const bytes = (p: Uint8Array | string | undefined): Uint8Array =>
  p === undefined ? new Uint8Array(0) : typeof p === 'string' ? new TextEncoder().encode(p) : p;

function ipPacket(src: number, dst: number, sport: number, dport: number, s: Seg): Uint8Array {
  const repr: TcpRepr = {
    srcPort: sport,
    dstPort: dport,
    seq: s.seq >>> 0,
    ack: s.ack === undefined ? undefined : s.ack >>> 0,
    flags: s.ack === undefined ? s.flags & ~TCP_ACK : s.flags | TCP_ACK,
    window: s.window ?? 65535,
    urgent: 0,
    options: s.options ?? [],
    payload: bytes(s.payload),
  };
  const tcpLen = tcpBufferLen(repr);
  const buf = new Uint8Array(20 + tcpLen);
  const ip = emitIpv4(
    {
      src,
      dst,
      protocol: IP_PROTO_TCP,
      ttl: 64,
      ident: 1,
      dscp: 0,
      ecn: 0,
      dontFragment: true,
      options: new Uint8Array(0),
      payloadLength: tcpLen,
    },
    buf,
  );
  emitTcp(repr, ip.payload, src, dst);
  return buf;
}

/** A client segment as an Ethernet frame on the LAN. */
export function clientFrame(s: Seg, sport = CPORT, serverPort = SPORT): Uint8Array {
  const ip = ipPacket(CLIENT, SERVICE, sport, serverPort, s);
  const frame = new Uint8Array(ETHERNET_HEADER_LEN + ip.length);
  emitEthernet({ dst: SERVICE_MAC, src: CLIENT_MAC, ethertype: ETHERTYPE_IPV4 }, frame);
  frame.set(ip, ETHERNET_HEADER_LEN);
  return frame;
}

/** A kernel segment as the TUN device delivers it (bare IPv4). */
export function kernelPacket(s: Seg, dport = CPORT, serverPort = SPORT): Uint8Array {
  return ipPacket(SERVICE, CLIENT, serverPort, dport, s);
}

export interface ParsedSeg {
  src: number;
  dst: number;
  tcp: TcpRepr;
  text: string;
  ts: { tsVal: number; tsEcr: number } | undefined;
}

/** Parses an IPv4 TCP packet, verifying the TCP checksum (throws on any error). */
export function parseIpTcp(packet: Uint8Array): ParsedSeg {
  const ip = Ipv4Packet.checked(packet);
  if (!ip.ok) throw new Error(`bad ipv4: ${ip.error.kind} ${ip.error.detail ?? ''}`);
  const tcp = parseTcpSegment(ip.value.payload, ip.value.src, ip.value.dst);
  if (!tcp.ok) throw new Error(`bad tcp: ${tcp.error.kind} ${tcp.error.detail ?? ''}`);
  const tsOpt = tcp.value.options.find((o) => o.kind === 'timestamps');
  return {
    src: ip.value.src,
    dst: ip.value.dst,
    tcp: tcp.value,
    text: new TextDecoder().decode(tcp.value.payload),
    ts: tsOpt?.kind === 'timestamps' ? { tsVal: tsOpt.tsVal, tsEcr: tsOpt.tsEcr } : undefined,
  };
}

export const lanSegs = (fx: readonly SswEffect[]): ParsedSeg[] =>
  fx.flatMap((e) =>
    e.to === 'lan' && ((e.frame[12] ?? 0) << 8) + (e.frame[13] ?? 0) === ETHERTYPE_IPV4
      ? [parseIpTcp(e.frame.subarray(ETHERNET_HEADER_LEN))]
      : [],
  );
export const tunSegs = (fx: readonly SswEffect[]): ParsedSeg[] =>
  fx.flatMap((e) => (e.to === 'tun' ? [parseIpTcp(e.packet)] : []));
export const loggerMsgs = (fx: readonly SswEffect[]) =>
  fx.flatMap((e) => (e.to === 'logger' ? [e.msg] : []));
/** The logger messages without R2.7's `ConnEstablished` hint (sent with the client's first ack
 * of the SYN-ACK, which in most tests is also its first data segment). */
export const storeMsgs = (fx: readonly SswEffect[]) =>
  loggerMsgs(fx).filter((m) => m.kind !== 'ConnEstablished');
export const logEvents = (fx: readonly SswEffect[]) =>
  fx.flatMap((e) => (e.to === 'log' ? [e.event] : []));
