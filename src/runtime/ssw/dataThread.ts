// Main-thread side of the SSW data path: opens the two fds (TUN here, raw socket in the NIC
// namespace), an eventfd to wake the data-path thread, and starts that thread. Commands go
// over a MessageChannel followed by an eventfd write; events come back as messages.
import { MessageChannel, Worker } from 'node:worker_threads';
import { EFD_NONBLOCK, setNonBlocking, sysClose, sysEventfd, sysWrite } from '../sys/libc.ts';
import { openPacketSocket, type PacketSocket } from '../sys/packet.ts';
import { openTun } from '../sys/tun.ts';
import type { CoreSpec, DatapathCommand, DatapathEvent } from './dataThread.protocol.ts';
import type { DatapathData } from './dataThread.worker.ts';

export interface DatapathOptions {
  tunName: string;
  nicNetns: string;
  nicIf: string;
  /** builds the core spec once the raw socket's MAC is known */
  core: (mac: Uint8Array) => CoreSpec;
  tickMs: number;
  /** virtio_net_hdr offloads on both fds (checksum, TSO/GSO): one syscall per 64 KB burst
   * instead of per segment. Default on. */
  offload?: boolean;
  onEvent: (e: DatapathEvent) => void;
  onError: (err: unknown) => void;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export class SswDataThread {
  readonly tunFd: number;
  readonly packet: PacketSocket;
  private readonly evFd: number;
  private readonly worker: Worker;
  private readonly port;
  private nextId = 1;
  private readonly pending = new Map<number, (body: Record<string, unknown>) => void>();
  private stopped: Promise<void>;
  private closed = false;
  private readonly one = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

  constructor(o: DatapathOptions) {
    const offload = o.offload ?? true;
    this.tunFd = openTun(o.tunName, { offload });
    try {
      this.packet = openPacketSocket(o.nicNetns, o.nicIf, { offload });
    } catch (e) {
      sysClose(this.tunFd);
      throw e;
    }
    setNonBlocking(this.tunFd, true);
    setNonBlocking(this.packet.fd, true);
    this.evFd = sysEventfd(EFD_NONBLOCK);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const data: DatapathData = {
      tunFd: this.tunFd,
      lanFd: this.packet.fd,
      evFd: this.evFd,
      port: port2,
      core: o.core(this.packet.mac),
      tickMs: o.tickMs,
      offload,
    };
    this.worker = new Worker(new URL('./dataThread.boot.mjs', import.meta.url), {
      workerData: data,
      transferList: [port2],
      name: 'ssw-datapath',
    });
    let resolveStopped = (): void => undefined;
    this.stopped = new Promise<void>((r) => {
      resolveStopped = r;
    });
    this.worker.on('message', (e: DatapathEvent) => {
      if (e.kind === 'reply') {
        const p = this.pending.get(e.id);
        this.pending.delete(e.id);
        p?.(e.body);
      } else if (e.kind === 'stopped') {
        resolveStopped();
      }
      o.onEvent(e);
    });
    this.worker.on('error', (e) => o.onError(e));
    this.worker.on('exit', () => resolveStopped());
  }

  send(c: DatapathCommand): void {
    this.port.postMessage(c);
    sysWrite(this.evFd, this.one);
  }

  request(
    c: DistributiveOmit<Exclude<DatapathCommand, { cmd: 'stop' }>, 'id'>,
  ): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.send({ ...c, id } as DatapathCommand);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.send({ cmd: 'stop' });
    await Promise.race([this.stopped, new Promise((r) => setTimeout(r, 1000))]);
    await this.worker.terminate();
    this.port.close();
    sysClose(this.evFd);
    sysClose(this.tunFd);
    sysClose(this.packet.fd);
  }
}
