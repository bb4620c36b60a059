// NswServer: a listening server with the shape of a node:net Server. Its kernel server hands
// every connection to the binding (./binding.ts), which decides when the application sees
// it: at once in plain mode, when the core delivers its `accept` otherwise (R3, R11.2).

import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { NswSocket } from './socket.ts';

/** What a server asks of its binding. */
export interface ServerHooks {
  /** a kernel connection arrived on `server` */
  kernelConnection(server: NswServer, k: net.Socket): void;
  /** `server` is listening: a replayed accept may be waiting for it */
  serverListening(): void;
}

interface ServerEvents {
  connection: [NswSocket];
  listening: [];
  close: [];
  error: [Error];
}

export class NswServer extends EventEmitter<ServerEvents> {
  private kernel: net.Server | undefined;
  /** the port it listens on; -1 before it does */
  port = -1;

  constructor(
    private readonly hooks: ServerHooks,
    readonly allowHalfOpen: boolean,
  ) {
    super();
  }

  get listening(): boolean {
    return this.port >= 0;
  }

  listen(port: number, host?: string | (() => void), cb?: () => void): this {
    const callback = typeof host === 'function' ? host : cb;
    const h = typeof host === 'string' ? host : '0.0.0.0';
    // allowHalfOpen: the kernel side never closes on its own when the client sends FIN; any
    // close is the application's and is logged (`close`), emulated for non-half-open apps.
    const k = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (sock) =>
      this.hooks.kernelConnection(this, sock),
    );
    this.kernel = k;
    k.on('error', (e) => {
      if (this.listenerCount('error') > 0) this.emit('error', e);
      else throw e;
    });
    k.listen(port, h, () => {
      const a = k.address();
      this.port = a !== null && typeof a !== 'string' ? a.port : port;
      this.hooks.serverListening();
      this.emit('listening');
      callback?.();
    });
    return this;
  }

  address(): net.AddressInfo | string | null {
    return this.kernel?.address() ?? null;
  }

  close(cb?: () => void): this {
    void this.closeAsync().then(() => cb?.());
    return this;
  }

  /** @internal */
  closeAsync(): Promise<void> {
    const k = this.kernel;
    if (k === undefined || !k.listening) return Promise.resolve();
    return new Promise((resolve) =>
      k.close(() => {
        this.emit('close');
        resolve();
      }),
    );
  }
}
