// Logger-link plumbing: framed messages over TCP (MESSAGES.md). This file knows sockets,
// buffers and reconnects; it knows nothing about what a message means. The codec is injected
// (`LinkCodec`, bound to src/wire/frame.ts + src/wire/logmsg.ts in ./codec.ts) so that the
// plumbing can be tested on its own and cannot drift into protocol decisions.
//
// Failure policy, and why:
// - A bad frame (CRC, version, oversize, unknown type, bad body) means the byte stream can no
//   longer be trusted to be aligned on frame boundaries, so the connection is dropped. The
//   messages decoded *before* the bad frame were already delivered in order; nothing the
//   receiver has stored is undone. The error is typed and carries the peer and byte offset.
// - Explicit limits: the outbound buffer of a connection is bounded (`maxOutboundBytes`); a
//   peer that stops reading long enough to exceed it is dropped rather than growing memory
//   without bound. Above `highWaterBytes`, `send` reports backpressure so the caller can stop
//   producing (the logger stops reading from the sender; the NSW stops delivering input).
// - Clients reconnect with bounded exponential back-off. A client never queues while
//   disconnected: `send` says 'not-connected' and the caller, which knows which messages are
//   unacknowledged, re-sends them from its `onConnect` hook. That keeps a single source of
//   truth for "what has not been stored yet" (the caller's protocol state), not two queues.

import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { HostPort } from './args.ts';
import type { Log } from './log.ts';

/** Why a link's inbound bytes were refused. `wireKind` is the codec's error kind. */
export class LinkFrameError extends Error {
  override readonly name = 'LinkFrameError';
  constructor(
    readonly peer: string,
    readonly wireKind: string,
    readonly detail: string,
    /** bytes received on this connection before the chunk holding the bad frame */
    readonly offset: number,
  ) {
    super(`bad frame from ${peer} at byte ${offset}: ${wireKind}${detail ? ` (${detail})` : ''}`);
  }
}

/** The peer stopped reading and our outbound buffer for it passed its explicit limit. */
export class LinkOverflowError extends Error {
  override readonly name = 'LinkOverflowError';
  constructor(
    readonly peer: string,
    readonly buffered: number,
    readonly limit: number,
  ) {
    super(`outbound buffer to ${peer} is ${buffered} bytes, over the limit of ${limit}`);
  }
}

export interface Decoded<M> {
  readonly msg: M;
  readonly epoch: number;
}

export type DecodeStep<M> =
  | { readonly ok: true; readonly value: Decoded<M>[] }
  | {
      readonly ok: false;
      readonly delivered: Decoded<M>[];
      readonly kind: string;
      readonly detail: string;
    };

/** A streaming decoder for one connection: whole messages out, or an error after which the stream is dead. */
export interface LinkDecoder<M> {
  push(chunk: Uint8Array): DecodeStep<M>;
}

export interface LinkCodec<M> {
  /** One complete frame (header + body) carrying `msg` at `epoch`. */
  encode(msg: M, epoch: number): Uint8Array;
  newDecoder(): LinkDecoder<M>;
}

export interface LinkLimits {
  /** above this many buffered outbound bytes `send` reports backpressure */
  readonly highWaterBytes: number;
  /** above this many the connection is dropped with LinkOverflowError */
  readonly maxOutboundBytes: number;
}

export const DEFAULT_LINK_LIMITS: LinkLimits = {
  highWaterBytes: 4 * 1024 * 1024,
  maxOutboundBytes: 64 * 1024 * 1024,
};

export type SendResult = 'sent' | 'backpressure' | 'not-connected';

export interface LinkConnectionEvents<M> {
  message: [msg: M, epoch: number];
  /** every message decoded from one read, in order (emitted before the per-message events) */
  batch: [batch: Decoded<M>[]];
  /** typed failure; the connection is closed right after */
  error: [err: LinkFrameError | LinkOverflowError | Error];
  drain: [];
  close: [];
}

/**
 * One framed TCP connection (either side). Emits 'message' for each decoded message in
 * stream order; stops emitting after a bad frame.
 */
export class LinkConnection<M> extends EventEmitter<LinkConnectionEvents<M>> {
  readonly peer: string;
  private readonly decoder: LinkDecoder<M>;
  private received = 0;
  private dead = false;
  private corked = false;

  constructor(
    readonly socket: net.Socket,
    private readonly codec: LinkCodec<M>,
    private readonly limits: LinkLimits = DEFAULT_LINK_LIMITS,
    private readonly log?: Log,
  ) {
    super();
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.decoder = codec.newDecoder();
    // Latency matters more than segment count on this link: every ack gates client traffic.
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.emit('drain'));
    socket.on('error', (e) => {
      // ECONNRESET and friends: the close that follows is what callers act on.
      this.log?.debug('link socket error', { peer: this.peer, error: e.message });
    });
    socket.on('close', () => {
      this.dead = true;
      this.emit('close');
    });
  }

  get closed(): boolean {
    return this.dead;
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  send(msg: M, epoch: number): SendResult {
    if (this.dead || this.socket.destroyed) return 'not-connected';
    const frame = this.codec.encode(msg, epoch);
    // Coalesce every frame sent in this turn of the event loop into one write: a delivered read
    // typically logs two determinants back to back, and the logger answers every 64 KB chunk it
    // reads (libuv reads up to 32 of them per turn) with a DataStored; each write costs a
    // syscall plus the peer's TCP receive, far more than the encoding. setImmediate, not
    // nextTick: nextTick would flush after every 'data' callback, i.e. once per chunk.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frame);
    const buffered = this.socket.writableLength;
    if (buffered > this.limits.maxOutboundBytes) {
      this.fail(new LinkOverflowError(this.peer, buffered, this.limits.maxOutboundBytes));
      return 'not-connected';
    }
    return buffered > this.limits.highWaterBytes ? 'backpressure' : 'sent';
  }

  /** Stop reading from the peer (TCP flow control then pushes back on it). */
  pauseInput(): void {
    this.socket.pause();
  }
  resumeInput(): void {
    if (!this.dead) this.socket.resume();
  }

  /** Flush what is buffered, then close. */
  end(): void {
    this.dead = true;
    this.socket.end();
  }

  destroy(): void {
    this.dead = true;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.dead) return;
    const offset = this.received;
    this.received += chunk.length;
    const step = this.decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
    const delivered = step.ok ? step.value : step.delivered;
    // Batch consumers (the logger core coalesces its acks per read) get the whole read.
    if (delivered.length > 0 && this.listenerCount('batch') > 0) this.emit('batch', delivered);
    for (const d of delivered) {
      // A handler may close the connection; stop delivering once it did.
      if (this.dead) return;
      this.emit('message', d.msg, d.epoch);
    }
    if (!step.ok) this.fail(new LinkFrameError(this.peer, step.kind, step.detail, offset));
  }

  private fail(e: LinkFrameError | LinkOverflowError): void {
    if (this.dead) return;
    this.log?.warn('dropping link connection', { peer: this.peer, error: e.message });
    this.dead = true;
    // 'error' listeners are optional for callers: an EventEmitter 'error' with no listener
    // throws, which would turn a bad peer into a crashed daemon.
    if (this.listenerCount('error') > 0) this.emit('error', e);
    this.socket.destroy();
  }
}

export interface LinkServerOptions<M> {
  readonly codec: LinkCodec<M>;
  readonly limits?: LinkLimits;
  readonly log?: Log;
  /** cap on simultaneous connections; extra ones are closed at once */
  readonly maxConnections?: number;
}

/** Accepts framed connections; the owner attaches handlers in `onConnection`. */
export class LinkServer<M> {
  readonly server: net.Server;
  readonly connections = new Set<LinkConnection<M>>();

  constructor(opts: LinkServerOptions<M>, onConnection: (conn: LinkConnection<M>) => void) {
    this.server = net.createServer((socket) => {
      const max = opts.maxConnections ?? 1024;
      if (this.connections.size >= max) {
        opts.log?.warn('refusing link connection: too many', { max, peer: socket.remoteAddress });
        socket.destroy();
        return;
      }
      const conn = new LinkConnection(
        socket,
        opts.codec,
        opts.limits ?? DEFAULT_LINK_LIMITS,
        opts.log,
      );
      this.connections.add(conn);
      conn.on('close', () => this.connections.delete(conn));
      onConnection(conn);
    });
  }

  listen(hp: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      this.server.once('error', onError);
      this.server.listen(hp.port, hp.host, () => {
        this.server.off('error', onError);
        const a = this.server.address();
        if (a === null || typeof a === 'string') {
          reject(new Error('link server has no TCP address'));
          return;
        }
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  close(): Promise<void> {
    for (const c of this.connections) c.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export interface ReconnectPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** give up after this many consecutive failed attempts (Infinity = never) */
  readonly maxAttempts: number;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = {
  initialDelayMs: 50,
  maxDelayMs: 1000,
  maxAttempts: Infinity,
};

export interface LinkClientOptions<M> {
  readonly target: HostPort;
  readonly codec: LinkCodec<M>;
  readonly limits?: LinkLimits;
  readonly reconnect?: ReconnectPolicy;
  readonly log?: Log;
  /** called on every (re)connect before anything else is sent: send Hello, re-send unacked */
  readonly onConnect: (conn: LinkConnection<M>) => void;
  readonly onMessage: (msg: M, epoch: number) => void;
  readonly onDisconnect?: (reason: string) => void;
  /** consecutive connect failures reached `maxAttempts` */
  readonly onGiveUp?: (reason: string) => void;
}

/** A client that keeps one connection to `target` up, reconnecting with back-off. */
export class LinkClient<M> {
  private conn: LinkConnection<M> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private stopped = false;
  private drainWaiters: Array<() => void> = [];

  constructor(private readonly opts: LinkClientOptions<M>) {}

  get connected(): boolean {
    return this.conn !== undefined && !this.conn.closed;
  }

  get connection(): LinkConnection<M> | undefined {
    return this.conn;
  }

  start(): void {
    this.stopped = false;
    this.connectNow();
  }

  /** Resolves on the first successful connect (after onConnect ran), rejects after giving up. */
  whenConnected(timeoutMs: number): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      const poll = setInterval(() => {
        if (this.connected) {
          clearInterval(poll);
          resolve();
        } else if (this.stopped || Date.now() - t0 > timeoutMs) {
          clearInterval(poll);
          reject(
            new Error(
              `no link to ${this.opts.target.host}:${this.opts.target.port} after ${timeoutMs} ms`,
            ),
          );
        }
      }, 5);
    });
  }

  send(msg: M, epoch: number): SendResult {
    return this.conn === undefined ? 'not-connected' : this.conn.send(msg, epoch);
  }

  /** Resolves when the outbound buffer drains (or the connection drops). */
  drained(): Promise<void> {
    if (this.conn === undefined || this.conn.bufferedBytes === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.conn?.destroy();
    this.conn = undefined;
  }

  private connectNow(): void {
    if (this.stopped) return;
    const { host, port } = this.opts.target;
    const socket = net.connect({ host, port });
    let established = false;
    socket.once('connect', () => {
      established = true;
      this.attempts = 0;
      const conn = new LinkConnection(
        socket,
        this.opts.codec,
        this.opts.limits ?? DEFAULT_LINK_LIMITS,
        this.opts.log,
      );
      this.conn = conn;
      conn.on('message', (m, e) => this.opts.onMessage(m, e));
      conn.on('error', (e) =>
        this.opts.log?.warn('logger link error', { target: `${host}:${port}`, error: e.message }),
      );
      conn.on('drain', () => this.flushDrainWaiters());
      conn.on('close', () => {
        if (this.conn === conn) this.conn = undefined;
        this.flushDrainWaiters();
        this.opts.onDisconnect?.('closed');
        this.scheduleReconnect();
      });
      this.opts.onConnect(conn);
    });
    socket.once('error', (e) => {
      if (established) return; // the LinkConnection's close handler takes over
      this.opts.log?.debug('link connect failed', { target: `${host}:${port}`, error: e.message });
      socket.destroy();
      this.attempts++;
      if (this.attempts >= (this.opts.reconnect ?? DEFAULT_RECONNECT).maxAttempts) {
        this.stopped = true;
        this.opts.onGiveUp?.(e.message);
        return;
      }
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.timer !== undefined) return;
    const p = this.opts.reconnect ?? DEFAULT_RECONNECT;
    // Deterministic back-off (no jitter): there is one client per role per host, so there is
    // no thundering herd to spread, and a reproducible schedule is easier to reason about.
    const delay = Math.min(p.maxDelayMs, p.initialDelayMs * 2 ** Math.min(this.attempts, 20));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connectNow();
    }, delay);
  }

  private flushDrainWaiters(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const f of w) f();
  }
}
