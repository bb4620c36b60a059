// The SSW's data-path thread. One thread owns both fds and the core (the pass-through core or
// the FT-TCP engine), so per-connection state is touched by one thread only and a packet goes
// from one fd to the other without crossing threads. It waits in poll(2) on the TUN fd, the
// raw socket and an eventfd the main thread writes when it has posted a command (a blocking
// wait: no spinning, no libuv threadpool). Commands are taken with receiveMessageOnPort, which
// is synchronous, so the thread never needs to return to its event loop.
//
// Main -> here: DatapathCommand on `port` + eventfd write. Here -> main: DatapathEvent via
// parentPort.postMessage (logger messages, timeline events, replies).
import {
  type MessagePort,
  parentPort,
  receiveMessageOnPort,
  workerData,
} from 'node:worker_threads';
import {
  emitVnetHdr,
  NO_OFFLOAD,
  parseVnetHdr,
  VNET_HDR_LEN,
  type VnetHdr,
} from '../../wire/vnet.ts';
import { pollFds, pollRevents, sysPoll, sysReadNb, sysWriteSoft } from '../sys/libc.ts';
import type { CoreSpec, DatapathCommand, DatapathEmit, SswOut } from './dataThread.protocol.ts';
import { createCore } from './engineCore.ts';
import { type Deliver, LanImpairer } from './impair.ts';

export interface DatapathData {
  tunFd: number;
  lanFd: number;
  evFd: number;
  port: MessagePort;
  core: CoreSpec;
  tickMs: number;
  /** Both fds carry a virtio_net_hdr before each packet (TUN IFF_VNET_HDR, PACKET_VNET_HDR). */
  offload: boolean;
}

const d = workerData as DatapathData;
const MAX_BURST = 64;
const ETH_HLEN = 14;
const VNET = d.offload ? VNET_HDR_LEN : 0;
// One read buffer, laid out so that a packet can cross to the other fd where it lies:
//   [0, 10)   the LAN frame's vnet header (read) / the outgoing frame's (written)
//   [10, 24)  Ethernet header: read from the LAN, or written by the engine in front of a TUN
//             packet (its tunHeadroom)
//   [24, ...) the IP packet; a TUN read puts its vnet header at [14, 24), and a TUN write of a
//             LAN frame's datagram writes one there over the Ethernet header it no longer needs.
// 64 KB GSO packets fit with room to spare.
const FRAME_AT = VNET_HDR_LEN;
const IP_AT = FRAME_AT + ETH_HLEN;
const buf = new Uint8Array(IP_AT + 65536 + 64);
const lanRead = buf.subarray(FRAME_AT - VNET);
const tunRead = buf.subarray(IP_AT - VNET);
// For packets built elsewhere (engine-made ACKs, injected data, held copies) the header has to
// be put in front of a copy.
const scratch = new Uint8Array(VNET_HDR_LEN + 65536 + 64);
const ev = new Uint8Array(8);
const pfd = pollFds([d.tunFd, d.lanFd, d.evFd]);

export const counters = {
  lanIn: 0,
  tunIn: 0,
  lanOut: 0,
  tunOut: 0,
  lanOutErr: 0,
  tunOutErr: 0,
  /** packets that arrived as GSO bursts, each way */
  lanInGso: 0,
  tunInGso: 0,
  /** outgoing packets the core built itself (pure ACKs, injected data, released copies),
   * copied once to get a vnet header in front; forwarded packets get it in place */
  copiedOut: 0,
  badVnet: 0,
  polls: 0,
};

const emit: DatapathEmit = (e, transfer) => parentPort?.postMessage(e, transfer);

/** The bytes to write for `p` with header `h`: in place when `p` sits where the read put it. */
const withVnet = (p: Uint8Array, h: VnetHdr, at: number): Uint8Array => {
  if (p.buffer === buf.buffer && p.byteOffset === at) {
    emitVnetHdr(h, buf.subarray(at - VNET_HDR_LEN, at));
    return buf.subarray(at - VNET_HDR_LEN, at + p.length);
  }
  counters.copiedOut++;
  emitVnetHdr(h, scratch);
  scratch.set(p, VNET_HDR_LEN);
  return scratch.subarray(0, VNET_HDR_LEN + p.length);
};

const writeLan: Deliver = (f, h) => {
  const bytes = d.offload ? withVnet(f, h, FRAME_AT) : f;
  if (sysWriteSoft(d.lanFd, bytes) < 0) counters.lanOutErr++;
  else counters.lanOut++;
};
// Test impairment of the LAN, one per direction (./impair.ts; idle unless asked for).
const impairIn = new LanImpairer();
const impairOut = new LanImpairer();

const out: SswOut = {
  lan: (f, h = NO_OFFLOAD) => {
    const now = performance.now();
    if (impairOut.busy(now)) impairOut.pass(f, h, now, writeLan);
    else writeLan(f, h);
  },
  tun: (p, h = NO_OFFLOAD) => {
    const bytes = d.offload ? withVnet(p, h, IP_AT) : p;
    if (sysWriteSoft(d.tunFd, bytes) < 0) counters.tunOutErr++;
    else counters.tunOut++;
  },
};

const core = createCore(d.core, out, emit);

/** The header of the last read (`packetLen` sets it; no object per packet). */
let readVnet: VnetHdr = NO_OFFLOAD;
/** The packet's length in a read of `n` bytes, its header in `readVnet`; -1 if unreadable. */
const packetLen = (r: Uint8Array, n: number): number => {
  if (!d.offload) return n;
  const h = parseVnetHdr(r.subarray(0, n));
  if (!h.ok) {
    counters.badVnet++;
    return -1;
  }
  readVnet = h.value;
  return n - VNET_HDR_LEN;
};

let running = true;
const toEngine: Deliver = (f, h) => core.onLanFrame(f, performance.now(), h);

const handle = (c: DatapathCommand): void => {
  if (c.cmd === 'stop') {
    running = false;
    return;
  }
  if (c.cmd === 'status') {
    emit({ kind: 'reply', id: c.id, body: { counters, core: core.status() } });
    return;
  }
  if (c.cmd === 'impair') {
    const now = performance.now();
    impairIn.set(c.spec, now);
    impairOut.set({ ...c.spec, seed: (c.spec.seed ^ 0x9e3779b9) >>> 0 }, now);
    emit({ kind: 'timeline', event: 'test-impair', fields: { ...c.spec } });
    return;
  }
  core.command(c, performance.now());
};

/**
 * Poll rounds whose logger frames may go to the main thread together. A round that found input
 * is followed by a poll that does not wait: while input keeps arriving back to back the frames
 * of up to this many rounds are gathered, and the first poll that finds nothing ready (or the
 * last of these rounds) hands them over. One postMessage per round (a structured clone and a
 * wake-up of the main thread each) was, with a thousand connections, a seventh of this
 * thread's CPU; the frames still leave as soon as the thread has nothing ready to read.
 */
const MAX_GATHERED_ROUNDS = 8;
let gathered = 0;

while (running) {
  const timeout = gathered > 0 ? 0 : core.nextTickMs(performance.now(), d.tickMs);
  const n = sysPoll(pfd, 3, timeout);
  counters.polls++;
  if (n > 0) {
    if (pollRevents(pfd, 0) !== 0) {
      for (let i = 0; i < MAX_BURST; i++) {
        const got = sysReadNb(d.tunFd, tunRead);
        if (got <= 0) break;
        counters.tunIn++;
        const len = packetLen(tunRead, got);
        if (len < 0) continue;
        if (readVnet.gsoSize !== 0) counters.tunInGso++;
        core.onTunPacket(buf.subarray(IP_AT, IP_AT + len), performance.now(), readVnet);
      }
    }
    if (pollRevents(pfd, 1) !== 0) {
      for (let i = 0; i < MAX_BURST; i++) {
        const got = sysReadNb(d.lanFd, lanRead);
        if (got <= 0) break;
        counters.lanIn++;
        const len = packetLen(lanRead, got);
        if (len < 0) continue;
        if (readVnet.gsoSize !== 0) counters.lanInGso++;
        const now = performance.now();
        if (impairIn.busy(now))
          impairIn.pass(buf.subarray(FRAME_AT, FRAME_AT + len), readVnet, now, toEngine);
        else core.onLanFrame(buf.subarray(FRAME_AT, FRAME_AT + len), now, readVnet);
      }
    }
    if (pollRevents(pfd, 2) !== 0) {
      sysReadNb(d.evFd, ev);
      for (
        let m = receiveMessageOnPort(d.port);
        m !== undefined;
        m = receiveMessageOnPort(d.port)
      ) {
        handle(m.message as DatapathCommand);
      }
    }
  }
  const now = performance.now();
  if (impairIn.busy(now)) impairIn.tick(now, toEngine);
  if (impairOut.busy(now)) impairOut.tick(now, writeLan);
  core.maybeTick(now);
  if (n > 0 && gathered < MAX_GATHERED_ROUNDS - 1) {
    gathered++;
    continue;
  }
  gathered = 0;
  core.flush();
}
core.flush();
emit({ kind: 'stopped' });
d.port.close();
