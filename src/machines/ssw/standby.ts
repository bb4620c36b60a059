// R6.10: what a standby SSW keeps of the client's segments before its connections exist again
// (spec/ssw.md). After the primary's LAN port goes down the bridge floods the client's frames
// to the standby too, and after the takeover the engine drops segments of connections the log
// has not re-created yet (R5.6, until ReplayEnd). A client that lost segments with the primary
// sits in RTO back-off and sends only its oldest unacknowledged segment (the first RTO ~200 ms
// after the crash, the next ~400 ms later); had that retransmission been lost here, the client
// would stay silent until the next one. So the engine keeps, per client connection, the latest
// TCP segment to the service address that occupies sequence space (data, SYN or FIN), and
// handles it once the log has re-created the connection. Earlier segments lie beyond the hole
// the primary's loss left and would only draw duplicate ACKs; a pure ACK (the client's answer
// to an ACK) must not displace the retransmission. Late delivery is what a slow network does
// (A5): the connection's rules need nothing new.
//
// Pure: no I/O, time comes in as arguments; bounded in count and in age (SswLimits).

import { ETHERNET_HEADER_LEN, ETHERTYPE_IPV4 } from '../../wire/ethernet.ts';
import { IP_PROTO_TCP, Ipv4Packet } from '../../wire/ipv4.ts';
import { TCP_ACK, TCP_FIN, TCP_SYN, TcpPacket } from '../../wire/tcp.ts';
import type { VnetHdr } from '../../wire/vnet.ts';

/** The client connection a kept segment belongs to (the server address is `serviceAddr`). */
export interface KeptKey {
  readonly clientAddr: number;
  readonly clientPort: number;
  readonly serverPort: number;
  /** A SYN without ACK: a connection the client is opening (may be new to the log). */
  readonly syn: boolean;
}

/** A copy of a LAN frame with the offload header it came with (offsets from the frame). */
export interface KeptSegment {
  readonly frame: Uint8Array;
  readonly vnet: VnetHdr;
  readonly atMs: number;
}

export interface StandbyKeepLimits {
  /** Connections remembered; segments of further connections are not kept. */
  readonly maxKept: number;
  /** A kept segment older than this when the connection is re-created is not handed over. */
  readonly maxAgeMs: number;
}

/**
 * The connection of a frame worth keeping: an untagged IPv4 TCP segment to `serviceAddr`, not
 * a fragment, with payload or SYN/FIN. Anything else (ARP, pure ACKs, malformed) is undefined.
 */
export function keptKeyOf(frame: Uint8Array, serviceAddr: number): KeptKey | undefined {
  if (frame.length < ETHERNET_HEADER_LEN) return undefined;
  if ((((frame[12] ?? 0) << 8) | (frame[13] ?? 0)) !== ETHERTYPE_IPV4) return undefined;
  const ip = Ipv4Packet.checked(frame.subarray(ETHERNET_HEADER_LEN));
  if (!ip.ok) return undefined;
  const v = ip.value;
  if (v.dst !== serviceAddr || v.protocol !== IP_PROTO_TCP || v.isFragment) return undefined;
  const tcp = TcpPacket.checked(v.payload);
  if (!tcp.ok) return undefined;
  const t = tcp.value;
  if (t.buffer.length === t.headerLength && (t.flags & (TCP_SYN | TCP_FIN)) === 0) return undefined;
  return {
    clientAddr: v.src,
    clientPort: t.srcPort,
    serverPort: t.dstPort,
    syn: (t.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN,
  };
}

/** Per connection the latest segment worth keeping (see the file comment). */
export class StandbyKeep {
  /** clientAddr -> (clientPort << 16 | serverPort) -> segment. */
  private readonly kept = new Map<number, Map<number, KeptSegment>>();
  private count = 0;

  constructor(private readonly limits: StandbyKeepLimits) {}

  get size(): number {
    return this.count;
  }

  /**
   * A frame from the LAN. Keeps a copy (the caller reuses its buffer) if it is worth keeping
   * and the bound allows; returns whether it did.
   */
  offer(frame: Uint8Array, vnet: VnetHdr, nowMs: number, serviceAddr: number): boolean {
    const key = keptKeyOf(frame, serviceAddr);
    if (key === undefined) return false;
    let inner = this.kept.get(key.clientAddr);
    const port = ((key.clientPort << 16) | key.serverPort) >>> 0;
    const fresh = inner?.has(port) !== true;
    if (fresh && this.count >= this.limits.maxKept) return false;
    if (inner === undefined) {
      inner = new Map();
      this.kept.set(key.clientAddr, inner);
    }
    // With its vnet header: a GSO burst or a partial checksum is handled as it came.
    inner.set(port, { frame: frame.slice(), vnet, atMs: nowMs });
    if (fresh) this.count++;
    return true;
  }

  /**
   * Empties the store: the segments young enough to hand over, oldest first, and how many were
   * kept in all (the rest were too old).
   */
  take(nowMs: number): { segments: KeptSegment[]; kept: number } {
    const all: KeptSegment[] = [];
    for (const inner of this.kept.values()) for (const s of inner.values()) all.push(s);
    this.kept.clear();
    this.count = 0;
    all.sort((a, b) => a.atMs - b.atMs);
    return {
      segments: all.filter((s) => nowMs - s.atMs <= this.limits.maxAgeMs),
      kept: all.length,
    };
  }
}
