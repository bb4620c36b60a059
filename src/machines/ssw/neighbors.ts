// ARP and takeover (spec/ssw.md "ARP and takeover", A.1-A.3): the client MACs the SSW knows,
// the frames waiting for one, the answers to ARP requests for the service address and the
// gratuitous ARPs of a takeover.

import { macEquals } from '../../wire/addr.ts';
import {
  ARP_LEN,
  arpGratuitous,
  arpReply,
  arpRequest,
  buildArpFrame,
  parseArpBytes,
} from '../../wire/arp.ts';
import { ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, emitEthernet } from '../../wire/ethernet.ts';
import { NO_OFFLOAD, type VnetHdr } from '../../wire/vnet.ts';
import { DEFAULT_GRATUITOUS_ARPS, MAX_FRAMES_AWAITING_ARP } from './config.ts';
import type { SswCtx } from './context.ts';

interface Awaiting {
  readonly frames: { frame: Uint8Array; vnet: VnetHdr }[];
  askedAtMs: number;
}

/** A.3: client address -> MAC (insertion order is age), and frames waiting for a MAC. */
export interface NeighborTable {
  readonly macs: Map<number, Uint8Array>;
  readonly awaiting: Map<number, Awaiting>;
}

export const newNeighborTable = (): NeighborTable => ({ macs: new Map(), awaiting: new Map() });

/**
 * Sends an IPv4 frame (header space at the front) to `dstAddr` on the LAN. A.3: with no MAC
 * known the frame waits (a few per address, a copy if it aliases a caller's buffer) while an
 * ARP request asks; the answer releases it. After a takeover this matters: clients updated
 * their caches from the gratuitous ARP and have no reason to ARP us, and the go-live prompt
 * (R6.8) must not be lost for want of their MAC.
 */
export function frameToNeighbor(
  ctx: SswCtx,
  table: NeighborTable,
  frame: Uint8Array,
  dstAddr: number,
  aliased: boolean,
  vnet: VnetHdr = NO_OFFLOAD,
): void {
  const mac = table.macs.get(dstAddr);
  if (mac !== undefined) {
    emitEthernet({ dst: mac, src: ctx.config.serviceMac, ethertype: ETHERTYPE_IPV4 }, frame);
    ctx.emit(vnet === NO_OFFLOAD ? { to: 'lan', frame } : { to: 'lan', frame, vnet });
    return;
  }
  let waiting = table.awaiting.get(dstAddr);
  if (waiting === undefined) {
    if (table.awaiting.size >= ctx.limits.maxNeighbors) {
      ctx.stats.dropNoNeighbor++;
      return;
    }
    waiting = { frames: [], askedAtMs: Number.NEGATIVE_INFINITY };
    table.awaiting.set(dstAddr, waiting);
  }
  if (waiting.frames.length >= MAX_FRAMES_AWAITING_ARP) {
    waiting.frames.shift();
    ctx.stats.dropNoNeighbor++;
  }
  waiting.frames.push({ frame: aliased ? frame.slice() : frame, vnet });
  if (ctx.now - waiting.askedAtMs >= ctx.timing.arpRetryMs) {
    waiting.askedAtMs = ctx.now;
    ctx.emit({
      to: 'lan',
      frame: buildArpFrame(arpRequest(ctx.config.serviceMac, ctx.config.serviceAddr, dstAddr)),
    });
  }
}

/** A.3: remember a client's MAC; the oldest entry goes when the table is full. */
export function learn(ctx: SswCtx, table: NeighborTable, addr: number, mac: Uint8Array): void {
  const known = table.macs.get(addr);
  if (known !== undefined && macEquals(known, mac)) return;
  if (known === undefined && table.macs.size >= ctx.limits.maxNeighbors) {
    const oldest = table.macs.keys().next();
    if (!oldest.done) table.macs.delete(oldest.value);
  }
  table.macs.set(addr, mac.slice());
  const waiting = table.awaiting.get(addr);
  if (waiting !== undefined) {
    table.awaiting.delete(addr);
    for (const f of waiting.frames) frameToNeighbor(ctx, table, f.frame, addr, false, f.vnet);
  }
}

/** A.3: the source MAC of an IPv4 frame from `src`. Per packet: compared in place; only a new
 * or moved MAC costs a view and a copy. */
export function learnFromFrame(
  ctx: SswCtx,
  table: NeighborTable,
  src: number,
  frame: Uint8Array,
): void {
  const known = table.macs.get(src);
  if (
    known === undefined ||
    known[0] !== frame[6] ||
    known[1] !== frame[7] ||
    known[2] !== frame[8] ||
    known[3] !== frame[9] ||
    known[4] !== frame[10] ||
    known[5] !== frame[11]
  ) {
    learn(ctx, table, src, frame.subarray(6, 12));
  }
}

/** A.1 / A.3: an ARP frame on the LAN of an active SSW: learn the sender, answer for us. */
export function handleArp(ctx: SswCtx, table: NeighborTable, frame: Uint8Array): void {
  const res = parseArpBytes(frame.subarray(ETHERNET_HEADER_LEN, ETHERNET_HEADER_LEN + ARP_LEN));
  if (!res.ok) {
    ctx.stats.dropMalformed++;
    return;
  }
  const arp = res.value;
  const service = ctx.config.serviceAddr;
  if (arp.senderIp !== 0 && arp.senderIp !== service)
    learn(ctx, table, arp.senderIp, arp.senderMac);
  if (arp.operation === 'request' && arp.targetIp === service && arp.senderIp !== arp.targetIp) {
    // A.1: only an active SSW gets here.
    ctx.stats.arpReplies++;
    ctx.emit({
      to: 'lan',
      frame: buildArpFrame(arpReply(ctx.config.serviceMac, service, arp.senderMac, arp.senderIp)),
    });
  }
}

/** A.2: the takeover's gratuitous ARPs, so clients and switches move to this MAC at once. */
export function announceTakeover(ctx: SswCtx): void {
  ctx.event('A.2', 'takeover: gratuitous ARP');
  const n = ctx.config.gratuitousArps ?? DEFAULT_GRATUITOUS_ARPS;
  for (let i = 0; i < n; i++) {
    ctx.emit({
      to: 'lan',
      frame: buildArpFrame(arpGratuitous(ctx.config.serviceMac, ctx.config.serviceAddr)),
    });
  }
}
