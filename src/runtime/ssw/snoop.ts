// What a standby SSW keeps of the client frames it sees before its connections exist again.
// After the primary's LAN port goes down the bridge floods the client's frames to the standby
// too, and after the takeover the engine drops segments of connections the log has not
// re-created yet (until ReplayEnd). A client that lost segments with the primary sits in RTO
// back-off and sends only its oldest unacknowledged segment (the first RTO ~200 ms after the
// crash, the next ~400 ms later); had that retransmission been lost here, the client would
// stay silent until the next one. So the daemon keeps, per client address and port, the latest
// TCP segment to the service address that carries data (or SYN/FIN), and hands it to the
// engine at ReplayEnd, when the engine logs client data of re-creating connections (and before
// the new primary's lease, which no detector renews after a failover, runs out 160 ms after
// its Welcome). Earlier segments lie beyond the hole the primary's loss left and would only
// draw duplicate ACKs; a pure ACK (the client's answer to an ACK) must not displace the
// retransmission. Late delivery is what a slow network does (A5): the engine needs nothing new.

import { NO_OFFLOAD, type VnetHdr } from '../../wire/vnet.ts';

/** Bounds: connections remembered, and how old a kept segment may be when delivered. */
export const SNOOP_MAX_CLIENTS = 1024;
export const SNOOP_MAX_AGE_MS = 2000;

const ETHERTYPE_IPV4 = 0x0800;
const IPPROTO_TCP = 6;
const TCP_SYN_OR_FIN = 0x03;

export class StandbySnoop {
  private readonly kept = new Map<number, { at: number; frame: Uint8Array; vnet: VnetHdr }>();
  private readonly service: number;

  constructor(serviceIp: number) {
    this.service = serviceIp >>> 0;
  }

  /** A frame read from the LAN (any frame; the view is only read during the call). */
  offer(f: Uint8Array, now: number, vnet: VnetHdr = NO_OFFLOAD): void {
    if (f.length < 34 || ((f[12] ?? 0) << 8) + (f[13] ?? 0) !== ETHERTYPE_IPV4) return;
    const dst =
      (((f[30] ?? 0) << 24) | ((f[31] ?? 0) << 16) | ((f[32] ?? 0) << 8) | (f[33] ?? 0)) >>> 0;
    if (dst !== this.service || f[23] !== IPPROTO_TCP) return;
    const ihl = ((f[14] ?? 0) & 0x0f) * 4;
    const tcp = 14 + ihl;
    if (ihl < 20 || f.length < tcp + 20) return;
    const payload = (((f[16] ?? 0) << 8) | (f[17] ?? 0)) - ihl - ((f[tcp + 12] ?? 0) >> 4) * 4;
    if (payload <= 0 && ((f[tcp + 13] ?? 0) & TCP_SYN_OR_FIN) === 0) return;
    // Client address (low 16 bits) and port: one key per connection within a /16.
    const key =
      ((f[28] ?? 0) << 24) | ((f[29] ?? 0) << 16) | ((f[tcp] ?? 0) << 8) | (f[tcp + 1] ?? 0);
    if (!this.kept.has(key) && this.kept.size >= SNOOP_MAX_CLIENTS) return;
    // A copy: the data-path thread reuses its read buffer.
    // With its vnet header: a GSO burst or a partial checksum is delivered as it came.
    this.kept.set(key, { at: now, frame: f.slice(), vnet });
  }

  /** The kept segments young enough to deliver, oldest first; empties the store. */
  take(now: number): { frames: { frame: Uint8Array; vnet: VnetHdr }[]; kept: number } {
    const all = [...this.kept.values()].sort((a, b) => a.at - b.at);
    this.kept.clear();
    return {
      frames: all
        .filter((k) => now - k.at <= SNOOP_MAX_AGE_MS)
        .map((k) => ({ frame: k.frame, vnet: k.vnet })),
      kept: all.length,
    };
  }
}
