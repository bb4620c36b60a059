// ARP for IPv4 over Ethernet (RFC 826), the only kind the lab needs: the backup announces
// the service address with a gratuitous ARP on takeover (R9), and answers requests for it.

import { ipv4ToString, MAC_BROADCAST, MAC_ZERO, macToString } from './addr.ts';
import { get16, get32, set16, set32 } from './bytes.ts';
import { ETHERNET_HEADER_LEN, ETHERTYPE_ARP, emitEthernet } from './ethernet.ts';
import { assertWire, fail, ok, type Result, type WireError } from './result.ts';

export const ARP_LEN = 28;
const HTYPE_ETHERNET = 1;
const PTYPE_IPV4 = 0x0800;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export class ArpPacket {
  /** Unchecked: only for buffers already validated or being emitted into. */
  constructor(readonly buffer: Uint8Array) {}

  /** Only the length is checked here; `parseArp` checks that it is IPv4-over-Ethernet. */
  static checked(buf: Uint8Array): Result<ArpPacket, WireError> {
    if (buf.length < ARP_LEN) return fail('truncated', `arp: ${buf.length} < 28 bytes`);
    return ok(new ArpPacket(buf));
  }

  get hardwareType(): number {
    return get16(this.buffer, 0);
  }
  get protocolType(): number {
    return get16(this.buffer, 2);
  }
  get hardwareLength(): number {
    return this.buffer[4]!;
  }
  get protocolLength(): number {
    return this.buffer[5]!;
  }
  get operation(): number {
    return get16(this.buffer, 6);
  }
  get senderMac(): Uint8Array {
    return this.buffer.subarray(8, 14);
  }
  get senderIp(): number {
    return get32(this.buffer, 14);
  }
  get targetMac(): Uint8Array {
    return this.buffer.subarray(18, 24);
  }
  get targetIp(): number {
    return get32(this.buffer, 24);
  }
}

export interface ArpRepr {
  readonly operation: 'request' | 'reply';
  readonly senderMac: Uint8Array;
  readonly senderIp: number;
  readonly targetMac: Uint8Array;
  readonly targetIp: number;
}

export function parseArp(pkt: ArpPacket): Result<ArpRepr, WireError> {
  if (pkt.hardwareType !== HTYPE_ETHERNET || pkt.protocolType !== PTYPE_IPV4) {
    return fail(
      'unsupported',
      `arp: htype ${pkt.hardwareType} ptype 0x${pkt.protocolType.toString(16)}`,
    );
  }
  if (pkt.hardwareLength !== 6 || pkt.protocolLength !== 4) {
    return fail('badLength', `arp: hlen ${pkt.hardwareLength} plen ${pkt.protocolLength}`);
  }
  const op = pkt.operation;
  if (op !== ARP_REQUEST && op !== ARP_REPLY) return fail('unsupported', `arp: operation ${op}`);
  return ok({
    operation: op === ARP_REQUEST ? 'request' : 'reply',
    senderMac: pkt.senderMac,
    senderIp: pkt.senderIp,
    targetMac: pkt.targetMac,
    targetIp: pkt.targetIp,
  });
}

/** Convenience: `ArpPacket.checked` then `parseArp`. */
export function parseArpBytes(buf: Uint8Array): Result<ArpRepr, WireError> {
  const p = ArpPacket.checked(buf);
  return p.ok ? parseArp(p.value) : p;
}

export function emitArp(repr: ArpRepr, buf: Uint8Array): ArpPacket {
  assertWire(buf.length >= ARP_LEN, `arp buffer ${buf.length} < 28`);
  assertWire(
    repr.senderMac.length === 6 && repr.targetMac.length === 6,
    'arp MACs must be 6 bytes',
  );
  set16(buf, 0, HTYPE_ETHERNET);
  set16(buf, 2, PTYPE_IPV4);
  buf[4] = 6;
  buf[5] = 4;
  set16(buf, 6, repr.operation === 'request' ? ARP_REQUEST : ARP_REPLY);
  buf.set(repr.senderMac, 8);
  set32(buf, 14, repr.senderIp);
  buf.set(repr.targetMac, 18);
  set32(buf, 24, repr.targetIp);
  return new ArpPacket(buf);
}

export const arpRequest = (senderMac: Uint8Array, senderIp: number, targetIp: number): ArpRepr => ({
  operation: 'request',
  senderMac,
  senderIp,
  targetMac: MAC_ZERO,
  targetIp,
});

export const arpReply = (
  senderMac: Uint8Array,
  senderIp: number,
  targetMac: Uint8Array,
  targetIp: number,
): ArpRepr => ({ operation: 'reply', senderMac, senderIp, targetMac, targetIp });

/**
 * Gratuitous ARP announcing `ip` at `mac`: a broadcast request with sender and target IP
 * equal (RFC 5227 §3 "ARP Announcement"), which updates neighbours' caches on takeover.
 */
export const arpGratuitous = (mac: Uint8Array, ip: number): ArpRepr => ({
  operation: 'request',
  senderMac: mac,
  senderIp: ip,
  targetMac: MAC_ZERO,
  targetIp: ip,
});

/** Minimum Ethernet payload: shorter frames are padded with zeros (IEEE 802.3). */
const ETHERNET_MIN_PAYLOAD = 46;

/**
 * A complete Ethernet frame carrying `repr`: broadcast for requests, unicast to the target for
 * replies; padded to the 60-byte minimum so it is valid on real links too.
 */
export function buildArpFrame(repr: ArpRepr, srcMac: Uint8Array = repr.senderMac): Uint8Array {
  const out = new Uint8Array(ETHERNET_HEADER_LEN + ETHERNET_MIN_PAYLOAD);
  const dst = repr.operation === 'request' ? MAC_BROADCAST : repr.targetMac;
  emitEthernet({ dst, src: srcMac, ethertype: ETHERTYPE_ARP }, out);
  emitArp(repr, out.subarray(ETHERNET_HEADER_LEN));
  return out;
}

export const arpToString = (r: ArpRepr): string =>
  r.operation === 'request'
    ? `ARP, Request who-has ${ipv4ToString(r.targetIp)} tell ${ipv4ToString(r.senderIp)}`
    : `ARP, Reply ${ipv4ToString(r.senderIp)} is-at ${macToString(r.senderMac)}`;
