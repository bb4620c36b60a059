// Ethernet II (DIX) frames: 14-byte header, no FCS (the kernel strips it on capture and adds
// it on transmit). 802.1Q tags are reported as their ethertype and not unwrapped: the lab's
// veths carry no VLANs.

import { macToString } from './addr.ts';
import { get16, set16 } from './bytes.ts';
import { assertWire, fail, ok, type Result, type WireError } from './result.ts';

export const ETHERNET_HEADER_LEN = 14;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV6 = 0x86dd;

export class EthernetFrame {
  /** Unchecked: only for buffers already validated or being emitted into. */
  constructor(readonly buffer: Uint8Array) {}

  static checked(buf: Uint8Array): Result<EthernetFrame, WireError> {
    if (buf.length < ETHERNET_HEADER_LEN)
      return fail('truncated', `ethernet: ${buf.length} < 14 bytes`);
    return ok(new EthernetFrame(buf));
  }

  /** Destination MAC (aliases the buffer). */
  get dst(): Uint8Array {
    return this.buffer.subarray(0, 6);
  }
  set dst(mac: Uint8Array) {
    this.buffer.set(mac.subarray(0, 6), 0);
  }
  get src(): Uint8Array {
    return this.buffer.subarray(6, 12);
  }
  set src(mac: Uint8Array) {
    this.buffer.set(mac.subarray(0, 6), 6);
  }
  get ethertype(): number {
    return get16(this.buffer, 12);
  }
  set ethertype(v: number) {
    set16(this.buffer, 12, v);
  }
  /** Everything after the header, including any padding to the 60-byte minimum. */
  get payload(): Uint8Array {
    return this.buffer.subarray(ETHERNET_HEADER_LEN);
  }
}

export interface EthernetRepr {
  readonly dst: Uint8Array;
  readonly src: Uint8Array;
  readonly ethertype: number;
}

export function parseEthernet(frame: EthernetFrame): Result<EthernetRepr, WireError> {
  return ok({ dst: frame.dst, src: frame.src, ethertype: frame.ethertype });
}

export const ethernetBufferLen = (payloadLength: number): number =>
  ETHERNET_HEADER_LEN + payloadLength;

/** Writes the header; the caller emits the payload into `frame.payload`. */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array): EthernetFrame {
  assertWire(buf.length >= ETHERNET_HEADER_LEN, `ethernet buffer ${buf.length} < 14`);
  assertWire(repr.dst.length === 6 && repr.src.length === 6, 'ethernet MACs must be 6 bytes');
  buf.set(repr.dst, 0);
  buf.set(repr.src, 6);
  set16(buf, 12, repr.ethertype);
  return new EthernetFrame(buf);
}

export const ethernetReprToString = (r: EthernetRepr): string =>
  `${macToString(r.src)} > ${macToString(r.dst)}, ethertype 0x${r.ethertype.toString(16).padStart(4, '0')}`;
