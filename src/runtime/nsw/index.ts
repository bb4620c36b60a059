// The NSW (north-side wrapper): a library with the shape of `node:net` that a server
// application uses instead of `node:net`, plus the nondeterminism the application must take
// from it (clock, random, timers). See ./README.md for the full contract.
//
// DETERMINISM CONTRACT (A2). An application written on the NSW must:
// - reach clients only through NswServer/NswSocket (no other sockets, files or processes that
//   influence what it writes);
// - take time only from `nsw.now()`, randomness only from `nsw.random(n)`, and deferred work
//   only from `nsw.setTimeout` / `nsw.clearTimeout` (no Date.now, Math.random, setInterval,
//   setImmediate, process.nextTick-driven I/O; promises/microtasks are fine: they run before
//   the next event);
// - be single-threaded (no worker_threads sharing its state);
// - treat socket events as the only input: 'connection', 'data', 'end', 'close'.
// Given the same determinants, it then writes the same bytes to the same connections and
// closes the same connections. The NSW checks this on replay (R12: every write is compared
// with the logged running output hash): a connection whose bytes differ is stopped (its output
// never reaches the client; 'divergence' event), and a run whose calls no longer match the log
// stops the whole incarnation ('error' event, or exit code 3 if nobody listens).
//
// The protocol logic (which determinant, output commit, replay order, divergence) is
// NswCore (src/machines/nsw); this file only binds it to node:net, timers and the logger link.
//
// MODES (config `mode`, env FTTCP_MODE):
// - 'plain'  : node:net pass-through, nothing logged (benchmark baseline).
// - 'record' : every app-visible nondeterministic result is logged as a determinant (R3);
//              output (writes, end, destroy) reaches the kernel only when every determinant
//              before it is stored at the logger (R4, output commit). Mode reads 'recording'.
// - 'replay' : FetchLog 'nsw' from the logger, then deliver exactly the logged events in the
//              logged order across connections; read chunks are taken from the kernel
//              sockets the SSW re-creates and injects into (the NSW waits for those bytes),
//              or, for connections already closed before the failure, from the bytes the
//              logger served; clock/random/timer results come from the log. When the log is
//              exhausted the NSW goes 'live' (continues recording at the next detSeq).
//
// What differs from node:net, on purpose:
// - `write` always returns true and 'drain' is never emitted: the moment output is released
//   depends on the logger's latency, which the application must not observe. Back-pressure
//   goes the other way: when held output or unacknowledged determinants pass their limits,
//   the NSW stops reading client input (which is logged when delivered, so it stays
//   deterministic).
// - A kernel socket error (client RST) is delivered as end-of-stream ('end', logged as `eof`).
// - No setEncoding: 'data' always carries Buffers.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import {
  NswCore,
  type NswDivergence,
  type NswEffect,
  type NswMode as NswCoreMode,
} from '../../machines/nsw/index.ts';
import { ipv4FromString, ipv4ToString } from '../../wire/addr.ts';
import type { Determinant, LoggerMessage } from '../../wire/logmsg.ts';
import { MAX_RANDOM_BYTES } from '../../wire/logmsg.ts';
import { type HostPort, parseBoundedInt, parseHostPort } from '../common/args.ts';
import { loggerLinkCodec } from '../common/codec.ts';
import { LinkClient } from '../common/link.ts';
import { Log, type Timeline } from '../common/log.ts';
import { type AppHeartbeat, appHeartbeatMsFromEnv, startAppHeartbeat } from './heartbeat.ts';

/** Replay deliveries per event-loop turn (scheduleReplayBatch). */
const REPLAY_BATCH = 256;
/** Replayed output gathered for one socket before it is written, batch or not. */
const REPLAY_BATCH_MAX_BYTES = 1 << 20;

export type NswModeFlag = 'plain' | 'record' | 'replay';
export type NswMode = 'plain' | NswCoreMode;

export interface NswConfig {
  readonly mode: NswModeFlag;
  /** logger address; required for record and replay */
  readonly logger?: HostPort;
  readonly epoch?: number;
  readonly hostId?: string;
  readonly log?: Log;
  readonly timeline?: Timeline;
  /** output bytes held for output commit before client input is paused (core default 8 MiB) */
  readonly maxHeldBytes?: number;
  /** how long to wait for the logger at start (default 10 s) */
  readonly connectTimeoutMs?: number;
  /** R10.1: write a heartbeat line to stdout this often for a watching supervisor
   * (./heartbeat.ts); default: FTTCP_APP_HEARTBEAT_MS, which such a supervisor sets */
  readonly heartbeatMs?: number;
}

export class NswConfigError extends Error {
  override readonly name = 'NswConfigError';
}

/** The NSW is fenced: a newer incarnation owns the service; nothing may be released again. */
export class NswFencedError extends Error {
  override readonly name = 'NswFencedError';
}

/** R12: the replayed application did not repeat the recorded run (see NswCore). */
export class NswDivergenceError extends Error {
  override readonly name = 'NswDivergenceError';
  readonly detSeq: number;
  /** the connection that diverged, or null when the whole application did */
  readonly conn: number | null;
  constructor(readonly divergence: NswDivergence) {
    super(divergence.message);
    this.detSeq = divergence.detSeq;
    this.conn = divergence.conn;
  }
}

/**
 * Configuration from the environment: FTTCP_MODE (plain|record|replay), FTTCP_LOGGER
 * (host:port), FTTCP_EPOCH, FTTCP_HOST_ID. Flags given explicitly override these.
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<NswConfig> {
  const out: { -readonly [K in keyof NswConfig]?: NswConfig[K] } = {};
  const m = env.FTTCP_MODE;
  if (m !== undefined && m !== '') {
    if (m !== 'plain' && m !== 'record' && m !== 'replay')
      throw new NswConfigError(`FTTCP_MODE '${m}' is not plain|record|replay`);
    out.mode = m;
  }
  if (env.FTTCP_LOGGER) out.logger = parseHostPort(env.FTTCP_LOGGER);
  if (env.FTTCP_EPOCH) out.epoch = parseBoundedInt(env.FTTCP_EPOCH, 1, 0xffffffff);
  if (env.FTTCP_HOST_ID) out.hostId = env.FTTCP_HOST_ID;
  return out;
}

/** A socket as the core knows it: a kernel connection, or a ghost (closed before the failure). */
interface SockRec {
  readonly k: net.Socket | undefined;
  /** server port, to find the NswServer the connection belongs to */
  readonly localPort: number;
  appPaused: boolean;
  corePaused: boolean;
}

interface TimerRec {
  readonly fn: () => void;
  readonly ms: number;
  handle: NodeJS.Timeout | undefined;
}

export interface NswTimer {
  readonly timerId: number;
}

interface NswEvents {
  /** whole-application failure (divergence, fenced, logger refusal) */
  error: [Error];
  /** R12 per connection or for the whole application */
  divergence: [NswDivergenceError];
  live: [];
}

/**
 * The NSW runtime. Protocol decisions (which determinant, which output is releasable, what to
 * deliver next in replay, divergence) are NswCore (src/machines/nsw); this class
 * owns the sockets, the real timers and the logger link, feeds the core and performs its
 * effects. In 'plain' mode there is no core: calls go straight to node:net.
 */
export class Nsw extends EventEmitter<NswEvents> {
  private readonly log: Log;
  private link: LinkClient<LoggerMessage> | undefined;
  private readonly epoch: number;
  private core: NswCore | undefined;
  private fenced = false;
  readonly servers: NswServer[] = [];
  private readonly socks = new Map<number, SockRec>();
  private nextSock = 1;
  private readonly sockets = new Map<number, NswSocket>();
  private nextPlainConn = 0;
  private readonly timers = new Map<number, TimerRec>();
  private nextPlainTimer = 0;
  private deliverScheduled = false;
  /** replay batches scheduled and not yet ended (see scheduleReplayBatch) */
  private replayBatches = 0;
  /** output released by the current replay batch, per kernel socket, written at its end */
  private readonly batched = new Map<net.Socket, { parts: Uint8Array[]; bytes: number }>();
  private inputPaused = false;
  private replayInfo = { dets: 0, conns: 0, bytes: 0 };
  private heartbeat: AppHeartbeat | undefined;

  private constructor(private readonly cfg: NswConfig) {
    super();
    this.log =
      cfg.log ?? new Log({ component: 'nsw', ...(cfg.hostId ? { hostId: cfg.hostId } : {}) });
    this.epoch = cfg.epoch ?? 1;
    const limits =
      cfg.maxHeldBytes !== undefined ? { limits: { maxHeldBytes: cfg.maxHeldBytes } } : {};
    if (cfg.mode !== 'plain') this.core = new NswCore(limits);
    if (cfg.mode === 'record') this.perform(this.core!.record());
  }

  /** Create an NSW; in record/replay mode resolves once the logger link is up (and, in replay, the log fetched). */
  static async open(cfg: NswConfig): Promise<Nsw> {
    const nsw = new Nsw(cfg);
    if (cfg.mode !== 'plain' && cfg.logger === undefined)
      throw new NswConfigError(`mode '${cfg.mode}' needs a logger address`);
    // R10.1, before the logger link and the replay: both turn the event loop, so the
    // supervisor sees the start-up end (R10.3) and a long replay keeps beating. From the
    // environment unless configured: an application that builds its own config still beats
    // for a supervisor that watches it.
    nsw.heartbeat = startAppHeartbeat(cfg.heartbeatMs ?? appHeartbeatMsFromEnv(process.env));
    if (cfg.logger !== undefined && cfg.mode !== 'plain') {
      try {
        await nsw.connectLogger(cfg.logger, cfg.mode === 'replay');
      } catch (e) {
        nsw.heartbeat.stop();
        throw e;
      }
    }
    return nsw;
  }

  get mode(): NswMode {
    return this.core === undefined ? 'plain' : this.core.mode;
  }

  // ------------------------------------------------------------------------------------------
  // Logger link

  private connectLogger(target: HostPort, fetch: boolean): Promise<void> {
    const timeout = this.cfg.connectTimeoutMs ?? 10_000;
    return new Promise<void>((resolve, reject) => {
      let fetched: LoggerMessage[] | undefined = fetch ? [] : undefined;
      let welcomed = false;
      const timer = setTimeout(() => {
        this.link?.stop();
        reject(
          new Error(
            `NSW: no answer from logger ${target.host}:${target.port} within ${timeout} ms`,
          ),
        );
      }, timeout);
      this.link = new LinkClient<LoggerMessage>({
        target,
        codec: loggerLinkCodec,
        log: this.log,
        onConnect: (conn) => {
          conn.send(
            { kind: 'Hello', role: 'nsw', hostId: this.cfg.hostId ?? 'nsw', epoch: this.epoch },
            this.epoch,
          );
          if (fetched !== undefined) {
            // A link lost in the middle of the log: start the fetch over, not append to it.
            fetched = [];
            conn.send({ kind: 'FetchLog', what: 'nsw' }, this.epoch);
          }
          // Re-send what was not acknowledged (R3.5): the logger treats re-sends as duplicates.
          if (this.core !== undefined) this.perform(this.core.linkUp());
        },
        onMessage: (m) => {
          switch (m.kind) {
            case 'Welcome':
              welcomed = true;
              if (fetched === undefined) {
                clearTimeout(timer);
                resolve();
              }
              return;
            case 'DetStored':
              this.onDetStored(m.stableDet);
              return;
            case 'ReplaySyn':
            case 'ReplayData':
            case 'ReplayDeterminant':
              fetched?.push(m);
              return;
            case 'ReplayEnd':
              if (fetched !== undefined) {
                const all = fetched;
                fetched = undefined;
                clearTimeout(timer);
                this.startReplay(all, m);
                resolve();
              }
              return;
            case 'Error':
              this.onLoggerError(m.code, m.message, welcomed ? undefined : reject);
              return;
            default:
              this.log.warn('unexpected message from logger', { kind: m.kind });
          }
        },
        onDisconnect: () => {
          if (this.core !== undefined) this.perform(this.core.linkDown());
          if (!this.fenced) this.log.debug('logger link down; determinants will be re-sent');
        },
      });
      this.link.start();
    });
  }

  private onLoggerError(
    code: string,
    message: string,
    reject: ((e: Error) => void) | undefined,
  ): void {
    const e =
      code === 'staleEpoch' || code === 'futureEpoch'
        ? new NswFencedError(`logger: ${code}: ${message}`)
        : new Error(`logger refused the NSW: ${code}: ${message}`);
    if (e instanceof NswFencedError) {
      // I5: a fenced incarnation must never release output again. Stop the link so nothing
      // more is acknowledged, and keep everything held.
      this.fenced = true;
      if (this.core !== undefined) this.perform(this.core.fence());
      this.link?.stop();
    }
    if (reject !== undefined) {
      reject(e);
      return;
    }
    this.fail(e);
  }

  private fail(e: Error): void {
    this.log.error('nsw failure', { error: e.message });
    this.cfg.timeline?.event('nsw-error', { error: e.message, name: e.name });
    if (this.listenerCount('error') > 0) this.emit('error', e);
    else {
      // The application did not opt to handle it: a diverged or fenced incarnation must not
      // keep serving. Exit codes: 3 divergence, 4 fenced, 1 other.
      process.exitCode = e instanceof NswDivergenceError ? 3 : e instanceof NswFencedError ? 4 : 1;
      process.stderr.write(`nsw: ${e.name}: ${e.message}\n`);
      process.exit();
    }
  }

  private onDetStored(stableDet: number): void {
    const core = this.core;
    if (core === undefined) return;
    this.perform(core.detStored(stableDet));
  }

  // ------------------------------------------------------------------------------------------
  // Effects of the core

  private perform(effects: NswEffect[]): boolean {
    let delivered = false;
    for (const e of effects) {
      switch (e.kind) {
        case 'log':
          this.link?.send(
            { kind: 'LogDeterminant', detSeq: e.record.detSeq, det: e.record.det },
            this.epoch,
          );
          break;
        case 'accept': {
          delivered = true;
          const rec = this.socks.get(e.sock);
          const server = this.servers.find((x) => x.port === rec?.localPort) ?? this.servers[0]!;
          const sock = new NswSocket(
            this,
            server,
            e.conn,
            rec?.k,
            ipv4ToString(e.clientAddr),
            e.clientPort,
          );
          this.sockets.set(e.conn, sock);
          server.emit('connection', sock);
          break;
        }
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
        case 'fire': {
          delivered = true;
          const t = this.timers.get(e.timerId);
          if (t !== undefined) {
            if (t.handle !== undefined) clearTimeout(t.handle);
            this.timers.delete(e.timerId);
            t.fn();
          }
          break;
        }
        case 'release': {
          if (this.fenced) break;
          const k = this.socks.get(e.sock)?.k;
          if (k === undefined) break; // a ghost: its client is gone
          const a = e.action;
          if (a.kind === 'write') {
            if (k.destroyed) break;
            if (this.replayBatches > 0) {
              // Inside a replay batch: written when the batch ends (scheduleReplayBatch).
              const b = this.batched.get(k);
              if (b === undefined) this.batched.set(k, { parts: [a.bytes], bytes: a.bytes.length });
              else {
                b.parts.push(a.bytes);
                b.bytes += a.bytes.length;
                // Bounded: a batch of large replies goes out in pieces rather than pile up.
                if (b.bytes >= REPLAY_BATCH_MAX_BYTES) this.flushBatched(k);
              }
            } else k.write(a.bytes);
          } else {
            // The FIN or RST goes after every byte released before it.
            this.flushBatched(k);
            if (a.kind === 'end') {
              if (!k.destroyed) k.end();
            } else k.destroy();
          }
          break;
        }
        case 'stop': {
          const err = new NswDivergenceError(e.error);
          this.cfg.timeline?.event('divergence', {
            detSeq: e.error.detSeq,
            conn: e.error.conn,
            error: e.error.message,
          });
          this.log.error('replay diverged', {
            detSeq: e.error.detSeq,
            conn: e.error.conn,
            error: e.error.message,
          });
          this.emit('divergence', err);
          // A whole-application divergence ends this incarnation; one connection's does not.
          if (e.conn === null) this.fail(err);
          break;
        }
        case 'mode':
          if (e.mode === 'live') this.wentLive();
          break;
        case 'closeLink':
          this.link?.stop();
          break;
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
      }
    }
    return delivered;
  }

  private applyPause(r: SockRec): void {
    if (r.k === undefined || r.k.destroyed) return;
    if (this.inputPaused || r.corePaused || r.appPaused) r.k.pause();
    else r.k.resume();
  }

  /**
   * Deliver one event at a time, each in its own macrotask: the application's handlers and
   * their promise continuations run before the next delivery, as they did when recorded.
   */
  private scheduleDeliver(): void {
    if (this.deliverScheduled || this.core === undefined) return;
    this.deliverScheduled = true;
    if (this.core.mode === 'replaying') {
      this.scheduleReplayBatch();
      return;
    }
    setImmediate(() => {
      this.deliverScheduled = false;
      const core = this.core;
      if (core === undefined || !this.servers.some((s) => s.port >= 0)) return;
      if (this.perform(core.next())) {
        this.scheduleDeliver();
        return;
      }
      // Idle. In replay, a log that waits for the application's own call means it diverged.
      if (core.mode === 'replaying' && core.waiting?.kind === 'awaitApp')
        this.perform(core.appStalled());
    });
  }

  /**
   * Replay: up to REPLAY_BATCH deliveries in one event-loop turn, still one per macrotask.
   * Node runs every immediate queued before its check phase in that phase, draining
   * process.nextTick and the microtask queue between two of them, so each delivery's handlers
   * and their promise continuations still finish before the next delivery (R3.3), exactly as
   * with one turn per delivery; what goes is the poll and timer phases between deliveries (no
   * kernel input is needed: the log says what comes next, and what it waits for is buffered).
   * Output released meanwhile is gathered per kernel socket and written by the batch's last
   * immediate: one write per socket per batch instead of one syscall (and one segment for the
   * SSW to drop, R6.6) per reply. Delaying replayed output is always safe: it is released
   * later, never earlier, and in the same order on each socket.
   */
  private scheduleReplayBatch(): void {
    const b = { delivered: 0, done: false };
    this.replayBatches++;
    for (let i = 0; i < REPLAY_BATCH; i++) setImmediate(() => this.replayBatchStep(b));
    setImmediate(() => this.replayBatchEnd(b));
  }

  private replayBatchStep(b: { delivered: number; done: boolean }): void {
    const core = this.core;
    if (b.done || core === undefined) return;
    // Live from here (or diverged): the rest of the batch is left to the usual path.
    if (core.mode !== 'replaying' || !this.servers.some((s) => s.port >= 0)) {
      b.done = true;
      return;
    }
    if (this.perform(core.next())) b.delivered++;
    else b.done = true;
  }

  private replayBatchEnd(b: { delivered: number; done: boolean }): void {
    this.replayBatches--;
    this.deliverScheduled = false;
    this.flushReplayBatch();
    const core = this.core;
    if (core === undefined || !this.servers.some((s) => s.port >= 0)) return;
    if (!b.done || core.mode !== 'replaying') {
      // A full batch (more may be ready), or live now: buffered input beyond the log is next.
      this.scheduleDeliver();
      return;
    }
    // Idle. In replay, a log that waits for the application's own call means it diverged.
    // Nothing ran since the step that found no delivery but skipped immediates and the flush.
    if (core.waiting?.kind === 'awaitApp') this.perform(core.appStalled());
  }

  private flushBatched(k: net.Socket): void {
    const b = this.batched.get(k);
    if (b === undefined) return;
    this.batched.delete(k);
    // One write (one syscall, one hand-over to the kernel) for the whole batch's bytes.
    if (!k.destroyed) k.write(b.parts.length === 1 ? b.parts[0]! : Buffer.concat(b.parts, b.bytes));
  }

  private flushReplayBatch(): void {
    for (const k of [...this.batched.keys()]) this.flushBatched(k);
  }

  /**
   * Recording/live, from a kernel callback: deliver one event right here. The callback is a
   * macrotask of its own and the previous delivery's microtasks have run, which is all the
   * one-event-per-macrotask rule asks; it saves an event-loop turn per request. Whatever is
   * left is delivered by scheduleDeliver. Replay keeps to scheduleDeliver only: there the log,
   * not the kernel, says what comes next.
   */
  private deliverNow(): void {
    const core = this.core;
    if (core === undefined) return;
    if ((core.mode === 'recording' || core.mode === 'live') && !this.deliverScheduled)
      this.perform(core.next());
    this.scheduleDeliver();
  }

  private wentLive(): void {
    this.log.info('replay done: live', { ...this.replayInfo, detSeq: this.core?.detSeq });
    this.cfg.timeline?.event('replay', {
      dets: this.replayInfo.dets,
      closedConns: this.replayInfo.conns,
      closedBytes: this.replayInfo.bytes,
    });
    this.cfg.timeline?.event('live', { detSeq: this.core?.detSeq });
    queueMicrotask(() => this.emit('live'));
    this.scheduleDeliver();
  }

  // ------------------------------------------------------------------------------------------
  // Nondeterminism the application takes from the NSW

  /** Milliseconds since the epoch (float). Logged (`clock`) when recording, replayed from the log. */
  now(): number {
    const live = performance.timeOrigin + performance.now();
    if (this.core === undefined) return live;
    const v = this.core.now(live);
    this.perform(this.core.drain());
    return v;
  }

  /** `n` random bytes. Logged (`random`, split at MAX_RANDOM_BYTES) when recording, replayed from the log. */
  random(n: number): Uint8Array {
    if (!Number.isInteger(n) || n < 0 || n > 16 * MAX_RANDOM_BYTES)
      throw new RangeError(`nsw.random(${n})`);
    const out = new Uint8Array(n);
    for (let o = 0; o < n; o += MAX_RANDOM_BYTES) {
      const live = new Uint8Array(randomBytes(Math.min(MAX_RANDOM_BYTES, n - o)));
      if (this.core === undefined) out.set(live, o);
      else {
        out.set(this.core.random(live), o);
        this.perform(this.core.drain());
      }
    }
    return out;
  }

  /** A timer whose firing is a determinant (`timer`): replayed at the same point of the run. */
  setTimeout(fn: () => void, ms: number): NswTimer {
    const id = this.core === undefined ? this.nextPlainTimer++ : this.core.armTimer();
    const rec: TimerRec = { fn, ms: Math.max(0, ms), handle: undefined };
    this.timers.set(id, rec);
    rec.handle = setTimeout(() => {
      rec.handle = undefined;
      if (this.core === undefined) {
        if (this.timers.delete(id)) fn();
        return;
      }
      // The core decides when (and whether, in replay) the firing is delivered.
      this.perform(this.core.timerExpired(id));
      this.scheduleDeliver();
    }, rec.ms);
    return { timerId: id };
  }

  clearTimeout(t: NswTimer | undefined): void {
    if (t === undefined) return;
    const rec = this.timers.get(t.timerId);
    if (rec?.handle !== undefined) clearTimeout(rec.handle);
    this.timers.delete(t.timerId);
    this.core?.cancelTimer(t.timerId);
  }

  // ------------------------------------------------------------------------------------------
  // Servers and connections

  createServer(
    handler?: (sock: NswSocket) => void,
    opts: { allowHalfOpen?: boolean } = {},
  ): NswServer {
    const s = new NswServer(this, opts.allowHalfOpen ?? false);
    if (handler !== undefined) s.on('connection', handler);
    this.servers.push(s);
    return s;
  }

  /** @internal a kernel connection arrived on server `s`. */
  kernelConnection(s: NswServer, k: net.Socket): void {
    k.setNoDelay(true);
    const clientAddr = addrToU32(k.remoteAddress);
    const clientPort = k.remotePort ?? 0;
    if (this.core === undefined) {
      const sock = new NswSocket(
        this,
        s,
        this.nextPlainConn++,
        k,
        ipv4ToString(clientAddr),
        clientPort,
      );
      k.on('data', (d: Buffer) => sock.deliverData(d));
      k.on('end', () => sock.deliverEnd());
      k.on('error', () => sock.deliverEnd());
      s.emit('connection', sock);
      return;
    }
    const core = this.core;
    const id = this.nextSock++;
    const rec: SockRec = {
      k,
      localPort: k.localPort ?? s.port,
      appPaused: false,
      corePaused: false,
    };
    this.socks.set(id, rec);
    this.applyPause(rec);
    k.on('data', (d: Buffer) => {
      this.perform(core.kernelData(id, d));
      this.deliverNow();
    });
    const onEnd = (): void => {
      this.perform(core.kernelEof(id));
      this.deliverNow();
    };
    k.on('end', onEnd);
    // A client RST is an end of stream to the application (documented difference).
    k.on('error', (e) => {
      this.log.debug('kernel socket error (delivered as end of stream)', {
        sock: id,
        error: e.message,
      });
      onEnd();
    });
    this.perform(core.kernelAccept(id, clientAddr, clientPort));
    this.scheduleDeliver();
  }

  /** @internal the application did something the core must log or check. */
  appWrite(sock: NswSocket, bytes: Uint8Array): void {
    if (this.core === undefined) {
      sock.kernel?.write(bytes);
      return;
    }
    this.perform(this.core.write(sock.conn, bytes));
  }

  /** @internal */
  appClose(sock: NswSocket, how: 'end' | 'destroy'): void {
    if (this.core === undefined) {
      if (how === 'end') sock.kernel?.end();
      else sock.kernel?.destroy();
      return;
    }
    this.perform(this.core.close(sock.conn, how));
  }

  /** @internal application-level pause of one connection's input. */
  appPause(sock: NswSocket, paused: boolean): void {
    if (this.core === undefined) {
      if (paused) sock.kernel?.pause();
      else sock.kernel?.resume();
      return;
    }
    for (const r of this.socks.values()) {
      if (r.k !== undefined && r.k === sock.kernel) {
        r.appPaused = paused;
        this.applyPause(r);
      }
    }
  }

  /** @internal a server started listening: a replayed accept may be waiting for it. */
  serverListening(): void {
    this.scheduleDeliver();
  }

  /** @internal */
  forget(sock: NswSocket): void {
    this.sockets.delete(sock.conn);
  }

  // ------------------------------------------------------------------------------------------
  // Replay (R11)

  private startReplay(
    records: LoggerMessage[],
    end: Extract<LoggerMessage, { kind: 'ReplayEnd' }>,
  ): void {
    const dets: Determinant[] = [];
    for (const m of records) {
      if (m.kind === 'ReplayDeterminant') {
        if (m.detSeq !== dets.length) {
          this.fail(
            new Error(`logger served determinant ${m.detSeq} where ${dets.length} was expected`),
          );
          return;
        }
        dets.push(m.det);
      }
    }
    const core = this.core!;
    this.replayInfo = { dets: dets.length, conns: end.conns, bytes: end.bytes };
    this.cfg.timeline?.event('replay-start', {
      dets: dets.length,
      closedConns: end.conns,
      closedBytes: end.bytes,
    });
    this.log.info('replaying', { dets: dets.length, closedConns: end.conns });
    this.perform(core.replay(dets));
    // Connections closed before the failure come from the logger's bytes (ghosts): the SSW
    // will not re-create them, and the application must read them again to rebuild its state.
    const ghostOf = new Map<number, number>();
    for (const m of records) {
      if (m.kind === 'ReplaySyn') {
        const id = this.nextSock++;
        ghostOf.set(m.conn, id);
        this.socks.set(id, {
          k: undefined,
          localPort: m.serverPort,
          appPaused: false,
          corePaused: false,
        });
        this.perform(core.kernelAccept(id, m.clientAddr, m.clientPort, true));
      } else if (m.kind === 'ReplayData') {
        const id = ghostOf.get(m.conn);
        if (id === undefined) continue;
        if (m.payload.length > 0) this.perform(core.kernelData(id, m.payload));
      }
    }
    for (const id of ghostOf.values()) this.perform(core.kernelEof(id));
    this.scheduleDeliver();
  }

  /** Close servers and the logger link (tests, shutdown). */
  async close(): Promise<void> {
    this.heartbeat?.stop();
    for (const t of this.timers.values()) if (t.handle !== undefined) clearTimeout(t.handle);
    this.timers.clear();
    // Connections first: a listening server's close waits for its connections to end.
    for (const r of this.socks.values()) r.k?.destroy();
    for (const s of this.sockets.values()) s.kernel?.destroy();
    this.link?.stop();
    await Promise.all(this.servers.map((s) => s.closeAsync()));
  }

  /** Counters for tests and logs. */
  get stats(): { detSeq: number; stableDet: number; heldBytes: number; mode: NswMode } {
    const c = this.core;
    return {
      detSeq: c?.detSeq ?? 0,
      stableDet: c?.stableDet ?? 0,
      heldBytes: c?.heldBytes ?? 0,
      mode: this.mode,
    };
  }
}

function addrToU32(s: string | undefined): number {
  if (s === undefined) return 0;
  const v4 = s.startsWith('::ffff:') ? s.slice(7) : s;
  try {
    return ipv4FromString(v4);
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------

interface ServerEvents {
  connection: [NswSocket];
  listening: [];
  close: [];
  error: [Error];
}

export class NswServer extends EventEmitter<ServerEvents> {
  private kernel: net.Server | undefined;
  port = -1;

  constructor(
    private readonly nsw: Nsw,
    readonly allowHalfOpen: boolean,
  ) {
    super();
  }

  listen(port: number, host?: string | (() => void), cb?: () => void): this {
    const callback = typeof host === 'function' ? host : cb;
    const h = typeof host === 'string' ? host : '0.0.0.0';
    // allowHalfOpen: the kernel side never closes on its own when the client sends FIN; any
    // close is the application's and is logged (`close`), emulated for non-half-open apps.
    const k = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (sock) =>
      this.nsw.kernelConnection(this, sock),
    );
    this.kernel = k;
    k.on('error', (e) => {
      if (this.listenerCount('error') > 0) this.emit('error', e);
      else throw e;
    });
    k.listen(port, h, () => {
      const a = k.address();
      this.port = a !== null && typeof a !== 'string' ? a.port : port;
      this.nsw.serverListening();
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
    private readonly nsw: Nsw,
    readonly server: NswServer,
    /** NSW connection number: accept order from 0 */
    readonly conn: number,
    /** @internal the kernel socket; undefined for a connection replayed from the logger's bytes */
    readonly kernel: net.Socket | undefined,
    readonly remoteAddress: string,
    readonly remotePort: number,
  ) {
    super();
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
      this.nsw.appWrite(this, buf);
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
    this.nsw.appClose(this, 'end');
    if (cb) queueMicrotask(cb);
    this.maybeClose();
    return this;
  }

  destroy(_err?: Error): this {
    if (this.destroyedByApp) return this;
    this.destroyedByApp = true;
    this.nsw.appClose(this, 'destroy');
    this.maybeClose();
    return this;
  }

  pause(): this {
    this.nsw.appPause(this, true);
    return this;
  }

  resume(): this {
    this.nsw.appPause(this, false);
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
      this.nsw.forget(this);
      this.emit('close', false);
    });
  }
}
