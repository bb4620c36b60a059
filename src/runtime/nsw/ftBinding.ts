// Record and replay (`--mode record | replay`): the application's sockets, clock, randomness
// and timers go through the NSW core (src/machines/nsw), whose statechart decides the mode and
// whose data path decides what is logged, released and delivered (spec/nsw.md). This binding
// owns no protocol decision: it binds the core to node:net, real timers and the logger link
// (./loggerLink.ts), schedules deliveries (one per macrotask, R3.3; batched in replay,
// ./replayBatch.ts) and performs the core's effects (R3, R4, R12, R13.9, R13.10). The start of
// a replay and the restore from a checkpoint (R11, R13.6) are ./ftReplay.ts; taking
// checkpoints (R13.1-R13.4) is ./ftCheckpoints.ts.

import type net from 'node:net';
import { DEFAULT_CHECKPOINT_SCHEDULE, NswCore, type NswEffect } from '../../machines/nsw/index.ts';
import { ipv4ToString } from '../../wire/addr.ts';
import type { Log } from '../common/log.ts';
import {
  clientAddrOf,
  type NswBinding,
  type NswCheckpointApp,
  type NswOwner,
  type NswRunMode,
  type NswStats,
  type NswTimer,
} from './binding.ts';
import { NSW_DEFAULTS, type NswConfig } from './env.ts';
import { NswDivergenceError } from './errors.ts';
import { FtCheckpoints, liveNow } from './ftCheckpoints.ts';
import { FtReplay } from './ftReplay.ts';
import { nswHook as hook } from './hooks.ts';
import { NswLoggerLink } from './loggerLink.ts';
import { ReplayBatcher } from './replayBatch.ts';
import type { NswServer } from './server.ts';
import { NswSocket, type SocketHooks } from './socket.ts';

/** Recording/live deliveries scheduled in one event-loop turn at most (each its own macrotask). */
export const RECORD_BATCH = 256;

/**
 * R4.8: released output a kernel socket may hold in user space (Node's write queue) before the
 * NSW stops reading that connection's input. An application that ignores write()'s answer (an
 * echo) otherwise queues everything a slow reader has not taken, and R13.1's output tail, which
 * a checkpoint carries whole, grew past the logger link's and the logger's 64 MiB bounds (a
 * 70 MB checkpoint under a CPU hog closed the NSW's logger link twice and was never stored).
 */
export const MAX_OUTPUT_BACKLOG_BYTES = 8 * 1024 * 1024;

/** A socket as the core knows it: a kernel connection, or a ghost (closed before the failure). */
interface SockRec {
  /** undefined for a ghost, and for a restored connection until it is back (R13.6) */
  k: net.Socket | undefined;
  /** server port, to find the NswServer the connection belongs to */
  readonly localPort: number;
  appPaused: boolean;
  corePaused: boolean;
  /** R4.8: the kernel socket's released output is over MAX_OUTPUT_BACKLOG_BYTES */
  outPaused: boolean;
}

interface TimerRec {
  /** a restored timer's callback comes with the application's restore() (R13.6) */
  fn: () => void;
  handle: NodeJS.Timeout | undefined;
}

export interface FtBindingOptions {
  readonly cfg: NswConfig & { readonly logger: NonNullable<NswConfig['logger']> };
  readonly log: Log;
  /** the facade's servers (the same array: servers created later are seen) */
  readonly servers: readonly NswServer[];
  readonly owner: NswOwner;
}

export class FtBinding implements NswBinding {
  private readonly core: NswCore;
  private readonly link: NswLoggerLink;
  private readonly batcher: ReplayBatcher;
  private readonly socks = new Map<number, SockRec>();
  private nextSock = 1;
  private readonly sockets = new Map<number, NswSocket>();
  private readonly timers = new Map<number, TimerRec>();
  private deliverScheduled = false;
  private inputPaused = false;
  /** R13.8: the application's snapshot() and restore(), if it gave them */
  private readonly app: NswCheckpointApp | undefined;
  /** R13.1-R13.4: only when the application gave them */
  private readonly checkpoints: FtCheckpoints | undefined;
  private readonly replay: FtReplay;

  constructor(private readonly o: FtBindingOptions) {
    const { cfg } = o;
    this.core = new NswCore(
      cfg.maxHeldBytes !== undefined ? { limits: { maxHeldBytes: cfg.maxHeldBytes } } : {},
    );
    this.app = cfg.checkpoints;
    const core = this.core;
    const perform = (fx: readonly NswEffect[]): void => void this.perform(fx);
    const scheduleDeliver = (): void => this.scheduleDeliver();
    if (this.app !== undefined) {
      const schedule = {
        everyBytes: cfg.checkpointEveryBytes ?? DEFAULT_CHECKPOINT_SCHEDULE.everyBytes,
        everyMs: cfg.checkpointEveryMs ?? DEFAULT_CHECKPOINT_SCHEDULE.everyMs,
      };
      this.checkpoints = new FtCheckpoints(
        { core, app: this.app, log: o.log, timeline: cfg.timeline, perform, scheduleDeliver },
        schedule,
      );
    }
    this.replay = new FtReplay({
      core,
      app: this.app,
      log: o.log,
      timeline: cfg.timeline,
      owner: o.owner,
      perform,
      scheduleDeliver,
      listening: () => this.listening(),
      ghostSock: (clientAddr, clientPort, serverPort) => {
        // R13.6: a closed connection of the restored checkpoint is its ghost.
        const id = this.core.restoredSockFor(clientAddr, clientPort) ?? this.nextSock++;
        const rec: SockRec = {
          k: undefined,
          localPort: serverPort,
          appPaused: false,
          corePaused: false,
          outPaused: false,
        };
        this.socks.set(id, rec);
        return id;
      },
      restoredSocket: (e) => {
        const sock = this.newSocket(e.conn, e.sock, e.clientAddr, e.clientPort);
        sock.eofDelivered = e.eof;
        return sock;
      },
      timerIds: () => [...this.timers.keys()],
      attachTimer: (timerId, fn) => {
        const rec = this.timers.get(timerId);
        if (rec !== undefined) rec.fn = fn;
      },
    });
    this.batcher = new ReplayBatcher({
      step: () => {
        if (this.core.mode !== 'replaying' || !this.listening() || !this.deliverOne()) return false;
        // Hook nsw.mid-replay: one logged event replayed, the incarnation still replaying.
        if (this.core.mode === 'replaying') hook('nsw.mid-replay', { detSeq: this.core.detSeq });
        return true;
      },
      end: (full) => this.replayBatchEnded(full),
    });
    this.link = new NswLoggerLink({
      target: cfg.logger,
      hostId: cfg.hostId ?? 'nsw',
      epoch: cfg.epoch ?? NSW_DEFAULTS.epoch,
      fetch: cfg.mode === 'replay',
      connectTimeoutMs: cfg.connectTimeoutMs ?? NSW_DEFAULTS.connectTimeoutMs,
      checkpoints: this.app !== undefined,
      log: o.log,
      hooks: {
        up: () => this.perform(this.core.linkUp()),
        down: () => {
          this.perform(this.core.linkDown());
          if (!this.core.fenced) this.o.log.debug('logger link down; determinants will be re-sent');
        },
        detStored: (stableDet) => {
          const effects = this.core.detStored(stableDet);
          // Hook nsw.stored-unreleased: the determinant is stored, the output it held not
          // released.
          if (effects.some((e) => e.kind === 'release'))
            hook('nsw.stored-unreleased', { stableDet });
          this.perform(effects);
        },
        fetched: (records, end) => this.replay.start(records, end),
        fenced: () => this.perform(this.core.fence()),
        // Without checkpoints none is in flight: an answer names nothing we sent.
        checkpointStored: (ckptId) => this.checkpoints?.stored(ckptId),
        checkpointRejected: (ckptId, detail) => this.checkpoints?.rejected(ckptId, detail),
        checkpointWanted: (m) => {
          this.o.log.info('logger asks for a checkpoint', {
            reason: m.reason,
            limit: m.limit,
            used: m.used,
            max: m.max,
          });
          this.perform(this.core.checkpointWanted());
          this.scheduleDeliver();
        },
        connDone: (conn) => {
          this.perform(this.core.connDone(conn));
          this.checkpoints?.forget(conn);
        },
        failed: (e) => this.o.owner.fail(e),
        unprotected: (reason) => this.unprotect(reason),
      },
    });
    if (cfg.mode === 'record') this.perform(this.core.record());
  }

  get mode(): NswRunMode {
    return this.core.mode;
  }

  get stats(): NswStats {
    const c = this.core;
    const ck = this.checkpoints;
    return {
      detSeq: c.detSeq,
      stableDet: c.stableDet,
      heldBytes: c.heldBytes,
      mode: c.mode,
      ...(ck !== undefined ? { checkpoints: ck.stats } : {}),
      tables: {
        socks: this.socks.size,
        sockets: this.sockets.size,
        connKernel: ck?.kernels ?? 0,
        ...Object.fromEntries(Object.entries(c.sizes()).map(([k, v]) => [`core.${k}`, v])),
      },
    };
  }

  start(): Promise<void> {
    return this.link.open();
  }

  // --- nondeterminism the application takes from the NSW -----------------------------------

  now(liveMs: number): number {
    const v = this.core.now(liveMs);
    this.perform(this.core.drain());
    return v;
  }

  random(live: Uint8Array): Uint8Array {
    const v = this.core.random(live);
    this.perform(this.core.drain());
    return v;
  }

  setTimeout(fn: () => void, ms: number): NswTimer {
    const id = this.core.armTimer(false, ms, liveNow());
    const rec: TimerRec = { fn, handle: undefined };
    this.timers.set(id, rec);
    rec.handle = setTimeout(() => {
      rec.handle = undefined;
      // The core decides when (and whether, in replay) the firing is delivered.
      this.perform(this.core.timerExpired(id));
      this.scheduleDeliver();
    }, ms);
    return { timerId: id };
  }

  clearTimeout(t: NswTimer): void {
    const rec = this.timers.get(t.timerId);
    if (rec?.handle !== undefined) clearTimeout(rec.handle);
    this.timers.delete(t.timerId);
    this.core.cancelTimer(t.timerId);
  }

  /** R13.9: the SSW of this host went unprotected (control channel) or the logger said so. */
  unprotect(reason: string): void {
    this.perform(this.core.unprotect(reason));
  }

  // --- kernel sockets and the application's sockets -----------------------------------------

  kernelConnection(s: NswServer, k: net.Socket): void {
    k.setNoDelay(true);
    const addr = clientAddrOf(k.remoteAddress);
    const port = k.remotePort ?? 0;
    // R13.6: a connection of the restored checkpoint takes the socket id the core gave it.
    const restored = this.core.restoredSockFor(addr, port);
    const id = restored ?? this.nextSock++;
    const rec: SockRec = this.socks.get(id) ?? {
      k,
      localPort: k.localPort ?? s.port,
      appPaused: false,
      corePaused: false,
      outPaused: false,
    };
    rec.k = k;
    this.socks.set(id, rec);
    this.applyPause(rec);
    // R13.10: a socket the core forgot is finished; anything it still reports is dropped.
    const known = (): boolean => this.socks.get(id)?.k === k;
    k.on('data', (d: Buffer) => {
      if (!known()) return;
      this.perform(this.core.kernelData(id, d));
      this.deliverNow();
    });
    const onEnd = (): void => {
      if (!known()) return;
      this.perform(this.core.kernelEof(id));
      this.deliverNow();
    };
    k.on('end', onEnd);
    // A client RST is an end of stream to the application (documented difference).
    k.on('error', (e) => {
      this.o.log.debug('kernel socket error (delivered as end of stream)', {
        sock: id,
        error: e.message,
      });
      onEnd();
    });
    this.perform(this.core.kernelAccept(id, addr, port));
    this.scheduleDeliver();
  }

  serverListening(): void {
    this.replay.restoreApp();
    this.scheduleDeliver();
  }

  private readonly socketHooks: SocketHooks = {
    write: (sock, bytes) => this.perform(this.core.write(sock.conn, bytes)),
    close: (sock, how) => this.perform(this.core.close(sock.conn, how)),
    pause: (sock, paused) => {
      for (const r of this.socks.values()) {
        if (r.k !== undefined && r.k === sock.kernel) {
          r.appPaused = paused;
          this.applyPause(r);
        }
      }
    },
    closed: (sock) => this.sockets.delete(sock.conn),
  };

  close(): void {
    this.checkpoints?.stop();
    for (const t of this.timers.values()) if (t.handle !== undefined) clearTimeout(t.handle);
    this.timers.clear();
    // Connections first: a listening server's close waits for its connections to end.
    for (const r of this.socks.values()) r.k?.destroy();
    for (const s of this.sockets.values()) s.kernel?.destroy();
    this.link.stop();
  }

  // --- effects of the core ------------------------------------------------------------------

  /** Performs `effects` in order; whether one of them was a delivery. */
  private perform(effects: readonly NswEffect[]): boolean {
    let delivered = false;
    for (const e of effects) {
      switch (e.kind) {
        case 'log':
          this.link.send(e.record);
          break;
        case 'accept':
          delivered = true;
          this.accept(e);
          break;
        case 'data':
          delivered = true;
          this.sockets
            .get(e.conn)
            ?.deliverData(Buffer.from(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength));
          break;
        case 'eof':
          delivered = true;
          this.sockets.get(e.conn)?.deliverEnd();
          break;
        case 'fire':
          delivered = true;
          this.fire(e.timerId);
          break;
        case 'release':
          this.release(e);
          break;
        case 'stop':
          this.stopped(e);
          break;
        case 'mode':
          if (e.mode === 'live') this.replay.wentLive();
          break;
        case 'closeLink':
          this.link.stop();
          break;
        case 'unprotected': {
          // R13.9: explicit, never silent: the operator and the lab see the moment.
          const detail = { reason: e.reason, releasedBytes: e.released, detSeq: this.core.detSeq };
          this.o.log.warn('unprotected: output released and no longer logged', detail);
          this.o.cfg.timeline?.event('unprotected', detail);
          break;
        }
        case 'pauseSock':
        case 'resumeSock': {
          const r = this.socks.get(e.sock);
          if (r !== undefined) {
            r.corePaused = e.kind === 'pauseSock';
            this.applyPause(r);
          }
          break;
        }
        case 'pauseInput':
        case 'resumeInput':
          this.inputPaused = e.kind === 'pauseInput';
          for (const r of this.socks.values()) this.applyPause(r);
          break;
        case 'checkpoint': {
          // Hook nsw.mid-checkpoint: half of a checkpoint's frames are out, the rest not.
          const half = e.frames[0]?.kind === 'CheckpointBegin' ? e.frames.length >> 1 : 0;
          this.link.sendMessages(e.frames.slice(0, half));
          if (half > 0) hook('nsw.mid-checkpoint', { frames: e.frames.length, sent: half });
          this.link.sendMessages(e.frames.slice(half));
          if (e.frames[0]?.kind === 'CheckpointRefused') this.checkpoints?.refusedOne();
          break;
        }
        case 'restored':
          this.socks.set(e.sock, {
            k: undefined,
            localPort: this.o.servers[0]?.port ?? 0,
            appPaused: false,
            corePaused: false,
            outPaused: false,
          });
          this.replay.restored(e);
          break;
        case 'adopted': {
          const k = this.socks.get(e.sock)?.k;
          if (k !== undefined) this.checkpoints?.kernelOf(e.conn, k);
          const sock = this.sockets.get(e.conn);
          if (sock !== undefined && k !== undefined) sock.adoptKernel(k);
          break;
        }
        case 'rearm':
          this.rearm(e.timerId, e.ms);
          break;
        case 'tailOver':
          this.checkpoints?.tailOver(e.conn);
          break;
        case 'forget':
          // R13.10: finished for good; the kernel socket (if any) has its FIN or RST already.
          this.socks.delete(e.sock);
          if (e.conn !== null) {
            this.checkpoints?.forget(e.conn);
            this.sockets.delete(e.conn);
          }
          break;
      }
    }
    return delivered;
  }

  private accept(e: Extract<NswEffect, { kind: 'accept' }>): void {
    const rec = this.socks.get(e.sock);
    if (rec?.k !== undefined) this.checkpoints?.kernelOf(e.conn, rec.k);
    const sock = this.newSocket(e.conn, e.sock, e.clientAddr, e.clientPort);
    this.serverOf(e.sock).emit('connection', sock);
  }

  /** The server a kernel socket (or ghost) `sock` came to (the first one if unknown). */
  private serverOf(sock: number): NswServer {
    const rec = this.socks.get(sock);
    const servers = this.o.servers;
    return servers.find((x) => x.port === rec?.localPort) ?? servers[0]!;
  }

  /** The application's socket for `conn`, on the server its kernel socket `sock` came to. */
  private newSocket(conn: number, sock: number, clientAddr: number, port: number): NswSocket {
    const k = this.socks.get(sock)?.k;
    const server = this.serverOf(sock);
    const s = new NswSocket(this.socketHooks, server, conn, k, ipv4ToString(clientAddr), port);
    this.sockets.set(conn, s);
    return s;
  }

  private fire(timerId: number): void {
    const t = this.timers.get(timerId);
    if (t === undefined) return;
    if (t.handle !== undefined) clearTimeout(t.handle);
    this.timers.delete(timerId);
    t.fn();
  }

  /** R4: the core let this output through; it goes to the kernel socket (ghosts have none). */
  private release(e: Extract<NswEffect, { kind: 'release' }>): void {
    const r = this.socks.get(e.sock);
    const k = r?.k;
    if (r === undefined || k === undefined) return;
    const a = e.action;
    if (a.kind === 'write') {
      if (k.destroyed) return;
      this.batcher.write(k, a.bytes);
      this.boundBacklog(r, k);
      return;
    }
    // The FIN or RST goes after every byte released before it.
    this.batcher.flush(k);
    if (a.kind === 'end') {
      if (!k.destroyed) k.end();
    } else k.destroy();
  }

  /** R12: one connection stopped, or (conn null) the whole application. */
  private stopped(e: Extract<NswEffect, { kind: 'stop' }>): void {
    const err = new NswDivergenceError(e.error);
    const detail = { detSeq: e.error.detSeq, conn: e.error.conn, error: e.error.message };
    this.o.cfg.timeline?.event('divergence', detail);
    this.o.log.error('replay diverged', detail);
    this.o.owner.divergence(err);
    // A whole-application divergence ends this incarnation; one connection's does not.
    if (e.conn === null) this.o.owner.fail(err);
  }

  /**
   * R4.8: over MAX_OUTPUT_BACKLOG_BYTES of released output queued in user space, the
   * connection's input is not read until the queue drains. Input not read is not delivered,
   * so not logged: determinism is unaffected (as R4.6). The batcher's gathered bytes reach the
   * queue at its flush; a release after that sees them.
   */
  private boundBacklog(r: SockRec, k: net.Socket): void {
    if (r.outPaused || k.writableLength <= MAX_OUTPUT_BACKLOG_BYTES) return;
    r.outPaused = true;
    this.applyPause(r);
    k.once('drain', () => {
      r.outPaused = false;
      this.applyPause(r);
    });
  }

  private applyPause(r: SockRec): void {
    if (r.k === undefined || r.k.destroyed) return;
    if (this.inputPaused || r.corePaused || r.appPaused || r.outPaused) r.k.pause();
    else r.k.resume();
  }

  // --- delivery (R3.3: one event per macrotask) ---------------------------------------------

  private listening(): boolean {
    return this.o.servers.some((s) => s.listening);
  }

  private deliverOne(): boolean {
    return this.perform(this.core.next());
  }

  /**
   * Deliver one event at a time, each in its own macrotask: the application's handlers and
   * their promise continuations run before the next delivery, as they did when recorded.
   * Replay goes by batches of macrotasks (./replayBatch.ts).
   */
  private scheduleDeliver(): void {
    if (this.deliverScheduled) return;
    this.deliverScheduled = true;
    if (this.core.mode === 'replaying') {
      this.batcher.run();
      return;
    }
    // Recording/live: one immediate per delivery waiting now (R3.3 still holds: Node runs them
    // all in this turn's check phase, draining the microtasks between two). One immediate that
    // rescheduled itself delivered one event per event-loop turn, so a thousand connections'
    // input waited behind as many turns (a poll each, a logger write each) before its
    // determinants left; now they leave together, in one write at the turn's end.
    const n = Math.min(RECORD_BATCH, Math.max(1, this.core.pendingInput));
    const b = { done: false };
    for (let i = 0; i < n; i++) {
      setImmediate(() => {
        if (!b.done && (!this.listening() || !this.deliverOne())) b.done = true;
      });
    }
    setImmediate(() => {
      this.deliverScheduled = false;
      if (!this.listening()) return;
      // R13.2: between two deliveries, the application idle: a checkpoint may be taken here.
      this.checkpoints?.maybeTake();
      // Every immediate delivered: more may be waiting.
      if (!b.done) this.scheduleDeliver();
      else if (this.core.mode === 'replaying') this.checkStalled();
    });
  }

  private replayBatchEnded(full: boolean): void {
    this.deliverScheduled = false;
    if (!this.listening()) return;
    if (full || this.core.mode !== 'replaying') {
      // A full batch (more may be ready), or live now: buffered input beyond the log is next.
      this.scheduleDeliver();
      return;
    }
    // Nothing ran since the step that found no delivery but skipped immediates and the flush.
    this.checkStalled();
  }

  /** Replay, idle: a log that waits for the application's own call means it diverged (R11.4). */
  private checkStalled(): void {
    if (this.core.waiting?.kind === 'awaitApp') this.perform(this.core.appStalled());
  }

  /**
   * Recording/live, from a kernel callback: deliver one event right here. The callback is a
   * macrotask of its own and the previous delivery's microtasks have run, which is all the
   * one-event-per-macrotask rule asks; it saves an event-loop turn per request. Whatever is
   * left is delivered by scheduleDeliver. Replay keeps to scheduleDeliver only: there the log,
   * not the kernel, says what comes next.
   */
  private deliverNow(): void {
    const m = this.core.mode;
    if ((m === 'recording' || m === 'live') && !this.deliverScheduled) this.deliverOne();
    this.scheduleDeliver();
  }

  /** R13.6: a restored timer, armed again with the time it had left. */
  private rearm(timerId: number, ms: number): void {
    const rec: TimerRec = { fn: () => {}, handle: undefined };
    this.timers.set(timerId, rec);
    rec.handle = setTimeout(() => {
      rec.handle = undefined;
      this.perform(this.core.timerExpired(timerId));
      this.scheduleDeliver();
    }, ms);
  }
}
