// Plain mode (`--mode plain`): no FT-TCP. The application runs on node:net, Node's clock,
// crypto randomness and timers, through the same Nsw API; nothing is logged or held. The
// benchmark baseline, and the proof that an application written on the NSW runs without it.

import type net from 'node:net';
import { ipv4ToString } from '../../wire/addr.ts';
import { clientAddrOf, type NswBinding, type NswStats, type NswTimer } from './binding.ts';
import type { NswServer } from './server.ts';
import { NswSocket, type SocketHooks } from './socket.ts';

const hooks: SocketHooks = {
  write: (sock, bytes) => sock.kernel?.write(bytes),
  close: (sock, how) => {
    if (how === 'end') sock.kernel?.end();
    else sock.kernel?.destroy();
  },
  pause: (sock, paused) => {
    if (paused) sock.kernel?.pause();
    else sock.kernel?.resume();
  },
  closed: () => {},
};

export class PlainBinding implements NswBinding {
  readonly mode = 'plain';
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private nextConn = 0;
  private nextTimer = 0;

  get stats(): NswStats {
    return { detSeq: 0, stableDet: 0, heldBytes: 0, mode: 'plain' };
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  now(liveMs: number): number {
    return liveMs;
  }

  random(live: Uint8Array): Uint8Array {
    return live;
  }

  setTimeout(fn: () => void, ms: number): NswTimer {
    const id = this.nextTimer++;
    this.timers.set(
      id,
      setTimeout(() => {
        if (this.timers.delete(id)) fn();
      }, ms),
    );
    return { timerId: id };
  }

  clearTimeout(t: NswTimer): void {
    clearTimeout(this.timers.get(t.timerId));
    this.timers.delete(t.timerId);
  }

  kernelConnection(server: NswServer, k: net.Socket): void {
    k.setNoDelay(true);
    const sock = new NswSocket(
      hooks,
      server,
      this.nextConn++,
      k,
      ipv4ToString(clientAddrOf(k.remoteAddress)),
      k.remotePort ?? 0,
    );
    k.on('data', (d: Buffer) => sock.deliverData(d));
    k.on('end', () => sock.deliverEnd());
    k.on('error', () => sock.deliverEnd());
    server.emit('connection', sock);
  }

  serverListening(): void {}

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** Nothing is logged or held in plain mode: there is no protection to give up. */
  unprotect(_reason: string): void {}
}
