// The SSW's two file descriptors and their reader threads. The TUN device belongs to the
// namespace this process runs in (the server host); the raw socket is created inside the
// host's NIC namespace (see sys/packet.ts). Packets arrive on the main thread in batches; the
// main thread writes directly (a TUN or raw-socket write does not block for long: the kernel
// queues or drops).
import { Worker } from 'node:worker_threads';
import { setNonBlocking, sysClose, sysWriteSoft } from '../sys/libc.ts';
import { openPacketSocket, type PacketSocket } from '../sys/packet.ts';
import { openTun } from '../sys/tun.ts';
import type { ReaderData } from './reader.worker.ts';

export interface SswIoOptions {
  tunName: string;
  nicNetns: string;
  nicIf: string;
  onLanFrame: (frame: Uint8Array) => void;
  onTunPacket: (packet: Uint8Array) => void;
  /** called after each batch, so the owner can flush work it accumulated per batch */
  onBatchEnd?: () => void;
  onError: (where: string, err: unknown) => void;
}

export interface IoCounters {
  lanIn: number;
  tunIn: number;
  lanOut: number;
  tunOut: number;
  lanOutErr: number;
  tunOutErr: number;
  batches: number;
}

const READER_LIMITS = { maxInflight: 16, maxBatchPackets: 256, maxBatchBytes: 256 * 1024 };

export class SswIo {
  readonly tunFd: number;
  readonly packet: PacketSocket;
  readonly counters: IoCounters = {
    lanIn: 0,
    tunIn: 0,
    lanOut: 0,
    tunOut: 0,
    lanOutErr: 0,
    tunOutErr: 0,
    batches: 0,
  };
  private readonly workers: Worker[] = [];
  private readonly ctls: Int32Array[] = [];
  private closed = false;

  constructor(private readonly o: SswIoOptions) {
    this.tunFd = openTun(o.tunName);
    try {
      this.packet = openPacketSocket(o.nicNetns, o.nicIf);
    } catch (e) {
      sysClose(this.tunFd);
      throw e;
    }
    setNonBlocking(this.tunFd, true);
    setNonBlocking(this.packet.fd, true);
    this.startReader('lan', this.packet.fd, o.onLanFrame, 'lanIn');
    this.startReader('tun', this.tunFd, o.onTunPacket, 'tunIn');
  }

  private startReader(
    name: string,
    fd: number,
    handle: (p: Uint8Array) => void,
    counter: 'lanIn' | 'tunIn',
  ): void {
    const shared = new SharedArrayBuffer(8);
    const ctl = new Int32Array(shared);
    const data: ReaderData = { fd, shared, ...READER_LIMITS };
    const w = new Worker(new URL('./reader.boot.mjs', import.meta.url), {
      workerData: data,
      name: `ssw-reader-${name}`,
    });
    w.on('message', (m: { buf: ArrayBuffer; len: number; count: number }) => {
      const view = new DataView(m.buf);
      const bytes = new Uint8Array(m.buf);
      let off = 0;
      this.counters.batches++;
      try {
        while (off < m.len) {
          const n = view.getUint32(off, true);
          this.counters[counter]++;
          handle(bytes.subarray(off + 4, off + 4 + n));
          off += 4 + ((n + 3) & ~3);
        }
        this.o.onBatchEnd?.();
      } catch (e) {
        this.o.onError(`${name} packet handler`, e);
      } finally {
        Atomics.sub(ctl, 1, 1);
        Atomics.notify(ctl, 1);
      }
    });
    w.on('error', (e) => this.o.onError(`${name} reader thread`, e));
    this.workers.push(w);
    this.ctls.push(ctl);
  }

  sendLan(frame: Uint8Array): void {
    if (sysWriteSoft(this.packet.fd, frame) < 0) this.counters.lanOutErr++;
    else this.counters.lanOut++;
  }

  sendTun(packet: Uint8Array): void {
    if (sysWriteSoft(this.tunFd, packet) < 0) this.counters.tunOutErr++;
    else this.counters.tunOut++;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.ctls) {
      Atomics.store(c, 0, 1);
      Atomics.notify(c, 1);
    }
    // Readers notice the stop flag within one poll timeout.
    await Promise.all(this.workers.map((w) => w.terminate()));
    sysClose(this.tunFd);
    sysClose(this.packet.fd);
  }
}
