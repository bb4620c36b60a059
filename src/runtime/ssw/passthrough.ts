// The pass-through core of the SSW daemon (`--mode passthrough`): plain layer-2 <-> layer-3
// pass-through, nothing FT-TCP about it (the engine is engineCore.ts's). It answers ARP for
// the service address (when active), learns client MACs, strips/adds Ethernet headers. It is
// the runtime's I/O floor in the benchmark ("how fast can the SSW's fds move packets") and
// must not grow protocol logic: everything FT-TCP lives in the engine.
import { NO_OFFLOAD, shiftVnetHdr, type VnetHdr } from '../../wire/vnet.ts';
import type { SswOut } from './dataThread.protocol.ts';

/** A core that writes to the fds itself (the engine instead returns effects, engineCore.ts). */
export interface SswCore {
  onLanFrame(frame: Uint8Array, out: SswOut, vnet?: VnetHdr): void;
  onTunPacket(packet: Uint8Array, out: SswOut, vnet?: VnetHdr): void;
}

const ETH_HLEN = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const MAX_NEIGHBORS = 1024;

const arpFrame = (
  op: 1 | 2,
  srcMac: Uint8Array,
  srcIp: number,
  dstMac: Uint8Array,
  targetMac: Uint8Array,
  targetIp: number,
): Uint8Array => {
  const f = new Uint8Array(ETH_HLEN + 28);
  const v = new DataView(f.buffer);
  f.set(dstMac, 0);
  f.set(srcMac, 6);
  v.setUint16(12, ETHERTYPE_ARP);
  v.setUint16(14, 1); // Ethernet
  v.setUint16(16, ETHERTYPE_IPV4);
  f[18] = 6;
  f[19] = 4;
  v.setUint16(20, op);
  f.set(srcMac, 22);
  v.setUint32(28, srcIp);
  f.set(targetMac, 32);
  v.setUint32(38, targetIp);
  return f;
};

export class PassThroughCore implements SswCore {
  private readonly neighbors = new Map<number, Uint8Array>();
  active: boolean;
  readonly stats = { arpReplies: 0, arpRequests: 0, dropped: 0, unknownNeighbor: 0 };

  constructor(
    private readonly mac: Uint8Array,
    private readonly serviceIp: number,
    active: boolean,
  ) {
    this.active = active;
  }

  private learn(ip: number, mac: Uint8Array): void {
    if (!this.neighbors.has(ip) && this.neighbors.size >= MAX_NEIGHBORS) {
      const oldest = this.neighbors.keys().next().value;
      if (oldest !== undefined) this.neighbors.delete(oldest);
    }
    this.neighbors.set(ip, mac.slice());
  }

  onLanFrame(f: Uint8Array, out: SswOut, vnet: VnetHdr = NO_OFFLOAD): void {
    if (!this.active || f.byteLength < ETH_HLEN) return;
    const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
    const type = v.getUint16(12);
    if (type === ETHERTYPE_IPV4 && f.byteLength >= ETH_HLEN + 20) {
      if (v.getUint32(ETH_HLEN + 16) !== this.serviceIp) return;
      const totalLen = v.getUint16(ETH_HLEN + 2);
      if (totalLen < 20 || ETH_HLEN + totalLen > f.byteLength) return;
      const src = v.getUint32(ETH_HLEN + 12);
      if (!this.neighbors.has(src)) this.learn(src, f.subarray(6, 12));
      out.tun(f.subarray(ETH_HLEN, ETH_HLEN + totalLen), shiftVnetHdr(vnet, -ETH_HLEN));
    } else if (type === ETHERTYPE_ARP && f.byteLength >= ETH_HLEN + 28) {
      const op = v.getUint16(20);
      const senderIp = v.getUint32(28);
      if (senderIp !== 0) this.learn(senderIp, f.subarray(22, 28));
      if (op === 1 && v.getUint32(38) === this.serviceIp) {
        this.stats.arpReplies++;
        out.lan(
          arpFrame(2, this.mac, this.serviceIp, f.subarray(22, 28), f.subarray(22, 28), senderIp),
        );
      }
    }
  }

  onTunPacket(p: Uint8Array, out: SswOut, vnet: VnetHdr = NO_OFFLOAD): void {
    if (!this.active || p.byteLength < 20 || (p[0] ?? 0) >> 4 !== 4) return;
    const dst = new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(16);
    const mac = this.neighbors.get(dst);
    if (mac === undefined) {
      this.stats.unknownNeighbor++;
      out.lan(arpFrame(1, this.mac, this.serviceIp, BROADCAST, new Uint8Array(6), dst));
      return;
    }
    const f = new Uint8Array(ETH_HLEN + p.byteLength);
    f.set(mac, 0);
    f.set(this.mac, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    f.set(p, ETH_HLEN);
    out.lan(f, shiftVnetHdr(vnet, ETH_HLEN));
  }

  /** Claims the service address: gratuitous ARP so clients move to this MAC. */
  takeover(out: SswOut, count = 3): void {
    this.active = true;
    for (let i = 0; i < count; i++) {
      out.lan(arpFrame(1, this.mac, this.serviceIp, BROADCAST, new Uint8Array(6), this.serviceIp));
    }
  }
}
