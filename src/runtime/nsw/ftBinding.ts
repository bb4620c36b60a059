// Record and replay (`--mode record | replay`): the application's sockets, clock, randomness
// and timers go through the NSW core (src/machines/nsw), whose statechart decides the mode and
// whose data path decides what is logged, released and delivered (spec/nsw.md). This binding
// owns no protocol decision: it binds the core to node:net, real timers and the logger link
// (./loggerLink.ts), schedules deliveries (one per macrotask, R3.3; batched in replay,
// ./replayBatch.ts) and performs the core's effects.

import { writeSync } from 'node:fs';
import type net from 'node:net';
import {
  DEFAULT_CHECKPOINT_SCHEDULE,
  fetchedCheckpoint,
  NswCore,
  type NswEffect,
} from '../../machines/nsw/index.ts';
import { ipv4ToString } from '../../wire/addr.ts';
import type { Determinant, LoggerMessage } from '../../wire/logmsg.ts';
import type { Log } from '../common/log.ts';
import { type TestHookPoint, testHook } from '../common/testhook.ts';
import {
  clientAddrOf,
  type NswBinding,
  type NswCheckpointApp,
  type NswCheckpointStats,
  type NswOwner,
  type NswRunMode,
  type NswStats,
  type NswTimer,
} from './binding.ts';
import { NSW_DEFAULTS, type NswConfig } from './env.ts';
import { NswDivergenceError } from './errors.ts';
import { NswLoggerLink } from './loggerLink.ts';
import { unackedBytes } from './outq.ts';
import { ReplayBatcher } from './replayBatch.ts';
import type { NswServer } from './server.ts';
import { NswSocket, type SocketHooks } from './socket.ts';

/** A test hook (../common/testhook.ts; off unless FTTCP_TEST_HOOKS is set). The announcement
 * is written synchronously: the process freezes right after it. */
const hook = (point: TestHookPoint, details: Record<string, unknown> = {}): void =>
  testHook(
    point,
    (event, fields) => {
      writeSync(1, `${JSON.stringify({ component: 'nsw', event, ...fields })}\n`);
    },
    details,
  );

/** Recording/live deliveries scheduled in one event-loop turn at most (each its own macrotask). */
export const RECORD_BATCH = 256;

/** A socket as the core knows it: a kernel connection, or a ghost (closed before the failure). */
interface SockRec {
  /** undefined for a ghost, and for a restored connection until it is back (R13.6) */
  k: net.Socket | undefined;
  /** server port, to find the NswServer the connection belongs to */
  readonly localPort: number;
  appPaused: boolean;
  corePaused: boolean;
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
  private replayInfo = { dets: 0, conns: 0, bytes: 0 };
  /** R13.8: the application's snapshot() and restore(), if it gave them */
  private readonly app: NswCheckpointApp | undefined;
  /** R13.6: the snapshot and connections to hand restore() when the first server listens */
  private pendingRestore:
    | { snapshot: Uint8Array; conns: Extract<NswEffect, { kind: 'restored' }>[]; timers: number[] }
    | undefined;
  /** R13.1: each connection's kernel socket, for SIOCOUTQ (forgotten at ConnDone) */
  private readonly connKernel = new Map<number, net.Socket>();
  private ckptTimer: NodeJS.Timeout | undefined;
  private ckpt = { taken: 0, stored: 0, refused: 0, pausesMs: [] as number[], lastBytes: 0 };

  constructor(private readonly o: FtBindingOptions) {
    const { cfg } = o;
    this.core = new NswCore(
      cfg.maxHeldBytes !== undefined ? { limits: { maxHeldBytes: cfg.maxHeldBytes } } : {},
    );
    this.app = cfg.checkpoints;
    if (this.app !== undefined) {
      const schedule = {
        everyBytes: cfg.checkpointEveryBytes ?? DEFAULT_CHECKPOINT_SCHEDULE.everyBytes,
        everyMs: cfg.checkpointEveryMs ?? DEFAULT_CHECKPOINT_SCHEDULE.everyMs,
      };
      this.core.enableCheckpoints(schedule, liveNow());
      // R13.3: an idle application still reaches a quiescent point when its time is due.
      this.ckptTimer = setInterval(() => this.scheduleDeliver(), Math.min(1000, schedule.everyMs));
      this.ckptTimer.unref();
    }
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
        fetched: (records, end) => this.startReplay(records, end),
        fenced: () => this.perform(this.core.fence()),
        checkpointStored: (ckptId) => {
          if (!this.core.checkpointStored(ckptId)) return;
          this.ckpt.stored++;
          this.o.cfg.timeline?.event('checkpoint-stored', { ckptId });
        },
        checkpointRejected: (ckptId, detail) => {
          if (!this.core.checkpointRejected(ckptId)) return;
          this.o.log.warn('checkpoint rejected by the logger', { ckptId, detail });
        },
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
          this.connKernel.delete(conn);
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
    const checkpoints: NswCheckpointStats = { ...this.ckpt, pausesMs: [...this.ckpt.pausesMs] };
    return {
      detSeq: c.detSeq,
      stableDet: c.stableDet,
      heldBytes: c.heldBytes,
      mode: c.mode,
      ...(this.app !== undefined ? { checkpoints } : {}),
      tables: {
        socks: this.socks.size,
        sockets: this.sockets.size,
        connKernel: this.connKernel.size,
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
    this.restoreApp();
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
    if (this.ckptTimer !== undefined) clearInterval(this.ckptTimer);
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
          if (e.mode === 'live') this.wentLive();
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
          if (e.frames[0]?.kind === 'CheckpointRefused') this.ckpt.refused++;
          break;
        }
        case 'restored':
          this.socks.set(e.sock, {
            k: undefined,
            localPort: this.o.servers[0]?.port ?? 0,
            appPaused: false,
            corePaused: false,
          });
          this.pendingRestore?.conns.push(e);
          break;
        case 'adopted': {
          const k = this.socks.get(e.sock)?.k;
          if (k !== undefined) this.connKernel.set(e.conn, k);
          const sock = this.sockets.get(e.conn);
          if (sock !== undefined && k !== undefined) sock.adoptKernel(k);
          break;
        }
        case 'rearm':
          this.rearm(e.timerId, e.ms);
          break;
        case 'tailOver': {
          const k = this.connKernel.get(e.conn);
          if (k !== undefined) this.core.outputAcked(e.conn, unackedBytes(k));
          break;
        }
        case 'forget':
          // R13.10: finished for good; the kernel socket (if any) has its FIN or RST already.
          this.socks.delete(e.sock);
          if (e.conn !== null) {
            this.connKernel.delete(e.conn);
            this.sockets.delete(e.conn);
          }
          break;
      }
    }
    return delivered;
  }

  private accept(e: Extract<NswEffect, { kind: 'accept' }>): void {
    const rec = this.socks.get(e.sock);
    if (rec?.k !== undefined) this.connKernel.set(e.conn, rec.k);
    const servers = this.o.servers;
    const server = servers.find((x) => x.port === rec?.localPort) ?? servers[0]!;
    const sock = new NswSocket(
      this.socketHooks,
      server,
      e.conn,
      rec?.k,
      ipv4ToString(e.clientAddr),
      e.clientPort,
    );
    this.sockets.set(e.conn, sock);
    server.emit('connection', sock);
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
    const k = this.socks.get(e.sock)?.k;
    if (k === undefined) return;
    const a = e.action;
    if (a.kind === 'write') {
      if (!k.destroyed) this.batcher.write(k, a.bytes);
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

  private applyPause(r: SockRec): void {
    if (r.k === undefined || r.k.destroyed) return;
    if (this.inputPaused || r.corePaused || r.appPaused) r.k.pause();
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
      this.maybeCheckpoint();
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

  // --- replay (R11) -------------------------------------------------------------------------

  private startReplay(
    records: readonly LoggerMessage[],
    end: Extract<LoggerMessage, { kind: 'ReplayEnd' }>,
  ): void {
    const ck = fetchedCheckpoint(records);
    if (!ck.ok) {
      this.o.owner.fail(new Error(`logger served a bad checkpoint: ${ck.error}`));
      return;
    }
    // R13.6: with a checkpoint the log continues at its D.
    const base = ck.value?.begin.detSeq ?? 0;
    const dets: Determinant[] = [];
    for (const m of records) {
      if (m.kind !== 'ReplayDeterminant') continue;
      if (m.detSeq !== base + dets.length) {
        this.o.owner.fail(
          new Error(
            `logger served determinant ${m.detSeq} where ${base + dets.length} was expected`,
          ),
        );
        return;
      }
      dets.push(m.det);
    }
    this.replayInfo = { dets: dets.length, conns: end.conns, bytes: end.bytes };
    this.o.cfg.timeline?.event('replay-start', {
      dets: dets.length,
      closedConns: end.conns,
      closedBytes: end.bytes,
      ...(ck.value !== undefined ? { checkpoint: ck.value.begin.ckptId, fromDet: base } : {}),
    });
    this.o.log.info('replaying', { dets: dets.length, closedConns: end.conns, fromDet: base });
    if (ck.value === undefined) this.perform(this.core.replay(dets));
    else {
      if (this.app === undefined) {
        this.o.owner.fail(
          new Error(
            'the log starts with a checkpoint but the application gives no restore() (R13.8)',
          ),
        );
        return;
      }
      this.pendingRestore = { snapshot: new Uint8Array(0), conns: [], timers: [] };
      const r = this.core.replayFrom(ck.value, dets, liveNow());
      if (!r.ok) {
        this.o.owner.fail(
          new Error(`cannot restore checkpoint ${ck.value.begin.ckptId}: ${r.error}`),
        );
        return;
      }
      this.pendingRestore.snapshot = r.value.snapshot;
      this.perform(r.value.effects);
    }
    this.addGhosts(records);
    if (this.listening()) this.restoreApp();
    this.scheduleDeliver();
  }

  /**
   * R13.6: the application's restore(), before any delivery (the first server is listening,
   * so the application has built what its snapshot restores into).
   */
  private restoreApp(): void {
    const p = this.pendingRestore;
    if (p === undefined || this.app === undefined) return;
    this.pendingRestore = undefined;
    const conns = new Map<number, NswSocket>();
    for (const e of p.conns) {
      // A connection the application had closed is never offered to it again (R13.6).
      if (e.closed !== null) continue;
      const rec = this.socks.get(e.sock);
      const servers = this.o.servers;
      const server = servers.find((x) => x.port === rec?.localPort) ?? servers[0]!;
      const sock = new NswSocket(
        this.socketHooks,
        server,
        e.conn,
        rec?.k,
        ipv4ToString(e.clientAddr),
        e.clientPort,
      );
      sock.eofDelivered = e.eof;
      this.sockets.set(e.conn, sock);
      conns.set(e.conn, sock);
    }
    const timers = [...this.timers.keys()].map((timerId) => ({ timerId }));
    try {
      this.app.restore(p.snapshot, {
        conns,
        timers,
        attachTimer: (t, fn) => {
          const rec = this.timers.get(t.timerId);
          if (rec !== undefined) rec.fn = fn;
        },
      });
    } catch (e) {
      // Nothing can be delivered to an application that is not in its checkpoint's state.
      this.o.owner.fail(new Error(`the application's restore() threw: ${(e as Error).message}`));
      return;
    }
    this.o.log.info('application restored from checkpoint', { conns: conns.size });
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

  /** R13.2, R13.3: at a quiescent point, take a checkpoint if one is due. */
  private maybeCheckpoint(): void {
    const app = this.app;
    if (app === undefined) return;
    const now = liveNow();
    if (!this.core.checkpointDue(now)) return;
    const t0 = performance.now();
    let snapshot: Uint8Array;
    try {
      snapshot = app.snapshot();
    } catch (e) {
      const detail = `the application's snapshot() threw: ${(e as Error).message}`;
      this.o.log.error('checkpoint refused', { error: detail });
      this.perform(this.core.snapshotFailed(detail));
      return;
    }
    const effects = this.core.takeCheckpoint(
      snapshot,
      (conn) => {
        const k = this.connKernel.get(conn);
        return k === undefined ? Number.POSITIVE_INFINITY : unackedBytes(k);
      },
      now,
    );
    const begin = effects.flatMap((e) =>
      e.kind === 'checkpoint' && e.frames[0]?.kind === 'CheckpointBegin' ? [e.frames[0]] : [],
    )[0];
    this.perform(effects);
    // The application's pause: its snapshot, the NSW's part, and handing the frames to the link.
    const pauseMs = performance.now() - t0;
    this.ckpt.taken++;
    this.ckpt.pausesMs.push(pauseMs);
    if (this.ckpt.pausesMs.length > 10_000) this.ckpt.pausesMs.shift();
    if (begin !== undefined) {
      this.ckpt.lastBytes = begin.blobBytes;
      this.o.cfg.timeline?.event('checkpoint', {
        ckptId: begin.ckptId,
        detSeq: begin.detSeq,
        conns: begin.conns,
        bytes: begin.blobBytes,
        pauseMs: Math.round(pauseMs * 1000) / 1000,
      });
    }
  }

  /**
   * R11.3: connections closed before the failure come from the logger's bytes (ghosts): the
   * SSW will not re-create them, and the application must read them again to rebuild its state.
   */
  private addGhosts(records: readonly LoggerMessage[]): void {
    const ghostOf = new Map<number, number>();
    for (const m of records) {
      if (m.kind === 'ReplaySyn') {
        // R13.6: a closed connection of the restored checkpoint is its ghost.
        const id = this.core.restoredSockFor(m.clientAddr, m.clientPort) ?? this.nextSock++;
        ghostOf.set(m.conn, id);
        this.socks.set(id, {
          k: undefined,
          localPort: m.serverPort,
          appPaused: false,
          corePaused: false,
        });
        this.perform(this.core.kernelAccept(id, m.clientAddr, m.clientPort, true));
      } else if (m.kind === 'ReplayData') {
        const id = ghostOf.get(m.conn);
        if (id !== undefined && m.payload.length > 0)
          this.perform(this.core.kernelData(id, m.payload));
      }
    }
    for (const id of ghostOf.values()) this.perform(this.core.kernelEof(id));
  }

  private wentLive(): void {
    this.o.log.info('replay done: live', { ...this.replayInfo, detSeq: this.core.detSeq });
    this.o.cfg.timeline?.event('replay', {
      dets: this.replayInfo.dets,
      closedConns: this.replayInfo.conns,
      closedBytes: this.replayInfo.bytes,
    });
    // Hook nsw.mid-replay once more, for a log whose one event ended the replay at once (the
    // hook fires once per arming, so an incarnation held mid-replay before does not stop here).
    hook('nsw.mid-replay', { detSeq: this.core.detSeq, last: true });
    this.o.cfg.timeline?.event('live', { detSeq: this.core.detSeq });
    // Hook nsw.live: live, and nothing new taken yet.
    hook('nsw.live', { detSeq: this.core.detSeq });
    queueMicrotask(() => this.o.owner.live());
    this.scheduleDeliver();
  }
}

/** The live clock the NSW's timers and checkpoint schedule count in (ms since the epoch). */
const liveNow = (): number => performance.timeOrigin + performance.now();
