// NswSocket: the application's side of one connection, with the shape of a node:net Socket.
// What it does with a write, an end or a pause is its binding's (./plainBinding.ts passes it
// to the kernel socket; ./ftBinding.ts hands it to the core, R3/R4); what it does itself is
// node:net's event order: 'data', 'end', then 'close' once both sides are done.

import { EventEmitter } from 'node:events';
import type net from 'node:net';

/** What a socket asks of its binding. */
export interface SocketHooks {
  /** the application wrote `bytes` (never empty) */
  write(sock: NswSocket, bytes: Uint8Array): void;
  close(sock: NswSocket, how: 'end' | 'destroy'): void;
  /** application-level pause of this connection's input */
  pause(sock: NswSocket, paused: boolean): void;
  /** 'close' is being emitted: the binding forgets the socket */
  closed(sock: NswSocket): void;
}

/** The server a socket belongs to, as the socket needs it. */
export interface SocketServer {
  readonly port: number;
  /** node:net's option: without it, the NSW ends our side when the client ends its side */
  readonly allowHalfOpen: boolean;
}

interface SocketEvents {
  data: [Buffer];
  end: [];
  close: [hadError: boolean];
  error: [Error];
}

export class NswSocket extends EventEmitter<SocketEvents> {
  /** @internal */ eofDelivered = false;
  private ended = false;
  private destroyedByApp = false;
  private closeEmitted = false;
  bytesWritten = 0;
  bytesRead = 0;

  constructor(
    private readonly hooks: SocketHooks,
    readonly server: SocketServer,
    /** NSW connection number: accept order from 0 */
    readonly conn: number,
    /** @internal the kernel socket; undefined for a connection replayed from the logger's bytes
     * (and for a restored one until the SSW re-creates it, R13.6) */
    public kernel: net.Socket | undefined,
    readonly remoteAddress: string,
    readonly remotePort: number,
  ) {
    super();
  }

  /** @internal R13.6: the restored connection's kernel socket is back. */
  adoptKernel(k: net.Socket): void {
    this.kernel = k;
  }

  get localPort(): number | undefined {
    return this.kernel?.localPort ?? this.server.port;
  }
  get destroyed(): boolean {
    return this.destroyedByApp;
  }
  get writable(): boolean {
    return !this.ended && !this.destroyedByApp;
  }

  write(
    data: string | Uint8Array,
    encoding?: BufferEncoding | (() => void),
    cb?: () => void,
  ): boolean {
    const callback = typeof encoding === 'function' ? encoding : cb;
    if (!this.writable) {
      queueMicrotask(() =>
        this.emit('error', new Error(`write after end (nsw conn ${this.conn})`)),
      );
      return false;
    }
    const buf =
      typeof data === 'string'
        ? Buffer.from(data, typeof encoding === 'string' ? encoding : 'utf8')
        : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (buf.length > 0) {
      this.bytesWritten += buf.length;
      this.hooks.write(this, buf);
    }
    if (callback) queueMicrotask(callback);
    return true;
  }

  end(
    data?: string | Uint8Array | (() => void),
    encoding?: BufferEncoding | (() => void),
    cb?: () => void,
  ): this {
    if (typeof data === 'function') cb = data;
    else if (data !== undefined)
      this.write(data, typeof encoding === 'string' ? encoding : undefined);
    if (typeof encoding === 'function') cb = encoding;
    if (this.ended || this.destroyedByApp) return this;
    this.ended = true;
    this.hooks.close(this, 'end');
    if (cb) queueMicrotask(cb);
    this.maybeClose();
    return this;
  }

  destroy(_err?: Error): this {
    if (this.destroyedByApp) return this;
    this.destroyedByApp = true;
    this.hooks.close(this, 'destroy');
    this.maybeClose();
    return this;
  }

  pause(): this {
    this.hooks.pause(this, true);
    return this;
  }

  resume(): this {
    this.hooks.pause(this, false);
    return this;
  }

  setNoDelay(_on?: boolean): this {
    return this;
  }
  setKeepAlive(_on?: boolean, _delay?: number): this {
    return this;
  }
  setTimeout(_ms: number): this {
    // Idle timeouts would be a hidden timer; use nsw.setTimeout so the firing is logged.
    return this;
  }

  /** @internal */
  deliverData(chunk: Buffer): void {
    if (this.destroyedByApp) return;
    this.bytesRead += chunk.length;
    this.emit('data', chunk);
  }

  /** @internal */
  deliverEnd(): void {
    if (this.eofDelivered) return;
    this.eofDelivered = true;
    if (!this.destroyedByApp) this.emit('end');
    // node:net's default (allowHalfOpen false): end our side when the client ends its side.
    // Done here, after the 'end' handlers, so it is logged at the same point in every run.
    if (!this.server.allowHalfOpen && !this.ended && !this.destroyedByApp) this.end();
    this.maybeClose();
  }

  private maybeClose(): void {
    if (this.closeEmitted) return;
    if (!(this.destroyedByApp || (this.ended && this.eofDelivered))) return;
    this.closeEmitted = true;
    // A microtask: after the current handler, before the next event, in recording and in
    // replay alike.
    queueMicrotask(() => {
      this.hooks.closed(this);
      this.emit('close', false);
    });
  }
}
