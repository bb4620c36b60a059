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
import { pollFds, pollRevents, sysPoll, sysReadNb, sysWriteSoft } from '../sys/libc.ts';
import type { SswOut } from './core.ts';
import { createCore, wantsTunHeadroom } from './cores.ts';
import type { CoreSpec, DatapathCommand, DatapathEmit } from './datapath.protocol.ts';

export interface DatapathData {
  tunFd: number;
  lanFd: number;
  evFd: number;
  port: MessagePort;
  core: CoreSpec;
  tickMs: number;
}

const d = workerData as DatapathData;
const MAX_BURST = 64;
const buf = new Uint8Array(65536);
const ev = new Uint8Array(8);
const pfd = pollFds([d.tunFd, d.lanFd, d.evFd]);

export const counters = {
  lanIn: 0,
  tunIn: 0,
  lanOut: 0,
  tunOut: 0,
  lanOutErr: 0,
  tunOutErr: 0,
  polls: 0,
};

const emit: DatapathEmit = (e, transfer) => parentPort?.postMessage(e, transfer);

const out: SswOut = {
  lan: (f) => {
    if (sysWriteSoft(d.lanFd, f) < 0) counters.lanOutErr++;
    else counters.lanOut++;
  },
  tun: (p) => {
    if (sysWriteSoft(d.tunFd, p) < 0) counters.tunOutErr++;
    else counters.tunOut++;
  },
};

const core = createCore(d.core, out, emit);
// With headroom the TUN packet is read 14 bytes into the buffer so that the engine can write
// the Ethernet header in front of it without copying the packet.
const tunOff = wantsTunHeadroom(d.core) ? 14 : 0;
const tunBuf = buf.subarray(tunOff);

let running = true;

const handle = (c: DatapathCommand): void => {
  if (c.cmd === 'stop') {
    running = false;
    return;
  }
  if (c.cmd === 'status') {
    emit({ kind: 'reply', id: c.id, body: { counters, core: core.status() } });
    return;
  }
  core.command(c, performance.now());
};

while (running) {
  const timeout = core.nextTickMs(performance.now(), d.tickMs);
  const n = sysPoll(pfd, 3, timeout);
  counters.polls++;
  if (n > 0) {
    if (pollRevents(pfd, 0) !== 0) {
      for (let i = 0; i < MAX_BURST; i++) {
        const len = sysReadNb(d.tunFd, tunBuf);
        if (len <= 0) break;
        counters.tunIn++;
        core.onTunPacket(tunBuf.subarray(0, len), performance.now());
      }
    }
    if (pollRevents(pfd, 1) !== 0) {
      for (let i = 0; i < MAX_BURST; i++) {
        const len = sysReadNb(d.lanFd, buf);
        if (len <= 0) break;
        counters.lanIn++;
        core.onLanFrame(buf.subarray(0, len), performance.now());
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
  core.maybeTick(performance.now());
  core.flush();
}
emit({ kind: 'stopped' });
d.port.close();
