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
// with the logged running output hash) and stops with NswDivergenceError when it does not hold.
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

import { createHash, type Hash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Determinant, LoggerMessage, SynRecord } from '../../wire/logmsg.ts';
import { MAX_RANDOM_BYTES } from '../../wire/logmsg.ts';
import { ipv4FromString, ipv4ToString } from '../../wire/addr.ts';
import { type HostPort, parseBoundedInt, parseHostPort } from '../common/args.ts';
import { loggerLinkCodec } from '../common/codec.ts';
import { LinkClient } from '../common/link.ts';
import { Log, type Timeline } from '../common/log.ts';
import { NswDivergenceError, OutputCommit, PUSHED, ReplayCursor, describeDet } from './core.interim.ts';

export { NswDivergenceError } from './core.interim.ts';

export type NswModeFlag = 'plain' | 'record' | 'replay';
export type NswMode = 'plain' | 'recording' | 'replaying' | 'live';

export interface NswConfig {
  readonly mode: NswModeFlag;
  /** logger address; required for record and replay */
  readonly logger?: HostPort;
  readonly epoch?: number;
  readonly hostId?: string;
  readonly log?: Log;
  readonly timeline?: Timeline;
  /** output bytes held for output commit before client input is paused (default 8 MiB) */
  readonly maxHeldBytes?: number;
  /** determinants sent but not acknowledged before client input is paused (default 65536) */
  readonly maxUnackedDets?: number;
  /** how long to wait for the logger at start (default 10 s) */
  readonly connectTimeoutMs?: number;
}

export class NswConfigError extends Error {
  override readonly name = 'NswConfigError';
}

/** The NSW is fenced: a newer incarnation owns the service; nothing may be released again. */
export class NswFencedError extends Error {
  override readonly name = 'NswFencedError';
}

/**
 * Configuration from the environment: FTTCP_MODE (plain|record|replay), FTTCP_LOGGER
 * (host:port), FTTCP_EPOCH, FTTCP_HOST_ID. Flags given explicitly override these.
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<NswConfig> {
  const out: { -readonly [K in keyof NswConfig]?: NswConfig[K] } = {};
  const m = env.FTTCP_MODE;
  if (m !== undefined && m !== '') {
    if (m !== 'plain' && m !== 'record' && m !== 'replay') throw new NswConfigError(`FTTCP_MODE '${m}' is not plain|record|replay`);
    out.mode = m;
  }
  if (env.FTTCP_LOGGER) out.logger = parseHostPort(env.FTTCP_LOGGER);
  if (env.FTTCP_EPOCH) out.epoch = parseBoundedInt(env.FTTCP_EPOCH, 1, 0xffffffff);
  if (env.FTTCP_HOST_ID) out.hostId = env.FTTCP_HOST_ID;
  return out;
}

/** Running hash of released output (R12): SHA-256 of the bytes so far, first 8 bytes as u64. */
class OutputHash {
  private readonly h: Hash = createHash('sha256');
  offset = 0;
  update(b: Uint8Array): bigint {
    this.h.update(b);
    this.offset += b.length;
    return this.h.copy().digest().readBigUInt64BE(0);
  }
}

type OutAction =
  | { readonly kind: 'write'; readonly sock: NswSocket; readonly data: Buffer }
  | { readonly kind: 'end'; readonly sock: NswSocket }
  | { readonly kind: 'destroy'; readonly sock: NswSocket };

/** A client connection as the kernel delivered it (buffered while replaying). */
interface KernelConn {
  readonly k: net.Socket;
  readonly clientAddr: number;
  readonly clientPort: number;
  readonly localPort: number;
  chunks: Buffer[];
  buffered: number;
  eof: boolean;
  sock: NswSocket | undefined;
  /** the eof was already delivered from the log; a late kernel 'end' is not news */
  eofReplayed: boolean;
}

/** A connection that was closed before the failure: served from the logger's bytes. */
interface VirtualConn {
  readonly syn: SynRecord;
  chunks: Buffer[];
  buffered: number;
  used: boolean;
}

interface TimerRec {
  readonly id: number;
  readonly fn: () => void;
  readonly ms: number;
  handle: NodeJS.Timeout | undefined;
}

export interface NswTimer {
  readonly timerId: number;
}

interface NswEvents {
  error: [Error];
  live: [];
}

export class Nsw extends EventEmitter<NswEvents> {
  private modeNow: NswMode;
  private readonly log: Log;
  private link: LinkClient<LoggerMessage> | undefined;
  private readonly epoch: number;
  // recording
  private detSeq = 0;
  private stableDet = 0;
  private unacked: Determinant[] = []; // dets [stableDet, detSeq)
  private readonly output = new OutputCommit<OutAction>();
  private inputPaused = false;
  private fenced = false;
  // application objects
  readonly servers: NswServer[] = [];
  private readonly sockets = new Map<number, NswSocket>();
  private nextConn = 0;
  private readonly timers = new Map<number, TimerRec>();
  private nextTimerId = 0;
  // replaying
  private cursor: ReplayCursor | undefined;
  private readonly kernelConns: KernelConn[] = [];
  private readonly virtualConns: VirtualConn[] = [];
  private pumpScheduled = false;
  private replayStats = { dets: 0, conns: 0, bytes: 0 };

  private constructor(private readonly cfg: NswConfig) {
    super();
    this.log = cfg.log ?? new Log({ component: 'nsw', ...(cfg.hostId ? { hostId: cfg.hostId } : {}) });
    this.epoch = cfg.epoch ?? 1;
    this.modeNow = cfg.mode === 'plain' ? 'plain' : cfg.mode === 'record' ? 'recording' : 'replaying';
  }

  /** Create an NSW; in record/replay mode resolves once the logger link is up (and, in replay, the log fetched). */
  static async open(cfg: NswConfig): Promise<Nsw> {
    const nsw = new Nsw(cfg);
    if (cfg.mode !== 'plain') {
      if (cfg.logger === undefined) throw new NswConfigError(`mode '${cfg.mode}' needs a logger address`);
      await nsw.connectLogger(cfg.logger);
    }
    return nsw;
  }

  get mode(): NswMode {
    return this.modeNow;
  }

  private get logging(): boolean {
    return this.modeNow === 'recording' || this.modeNow === 'live';
  }

  // ------------------------------------------------------------------------------------------
  // Logger link

  private connectLogger(target: HostPort): Promise<void> {
    const timeout = this.cfg.connectTimeoutMs ?? 10_000;
    return new Promise<void>((resolve, reject) => {
      let fetched: LoggerMessage[] | undefined = this.modeNow === 'replaying' ? [] : undefined;
      let welcomed = false;
      const timer = setTimeout(() => {
        this.link?.stop();
        reject(new Error(`NSW: no answer from logger ${target.host}:${target.port} within ${timeout} ms`));
      }, timeout);
      this.link = new LinkClient<LoggerMessage>({
        target,
        codec: loggerLinkCodec,
        log: this.log,
        onConnect: (conn) => {
          conn.send({ kind: 'Hello', role: 'nsw', hostId: this.cfg.hostId ?? 'nsw', epoch: this.epoch }, this.epoch);
          if (fetched !== undefined) conn.send({ kind: 'FetchLog', what: 'nsw' }, this.epoch);
          // Re-send whatever was not acknowledged: the logger treats re-sends as duplicates.
          for (let i = 0; i < this.unacked.length; i++) {
            conn.send({ kind: 'LogDeterminant', detSeq: this.stableDet + i, det: this.unacked[i]! }, this.epoch);
          }
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
        onDisconnect: () => this.log.warn('logger link down; determinants will be re-sent', { unacked: this.unacked.length }),
      });
      this.link.start();
    });
  }

  private onLoggerError(code: string, message: string, reject: ((e: Error) => void) | undefined): void {
    const e =
      code === 'fenced' || code === 'staleEpoch'
        ? new NswFencedError(`logger: ${code}: ${message}`)
        : new Error(`logger refused the NSW: ${code}: ${message}`);
    if (e instanceof NswFencedError) {
      // I5: a fenced incarnation must never release output again. Stop the link so nothing
      // more is acknowledged, and keep everything held.
      this.fenced = true;
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

  /** Append a determinant (R3); returns its detSeq. */
  private record(det: Determinant): number {
    const seq = this.detSeq++;
    this.unacked.push(det);
    this.link?.send({ kind: 'LogDeterminant', detSeq: seq, det }, this.epoch);
    this.checkBackpressure();
    return seq;
  }

  private onDetStored(stableDet: number): void {
    if (stableDet <= this.stableDet) return;
    if (stableDet > this.detSeq) {
      this.fail(new Error(`logger acknowledged determinant ${stableDet - 1}, only ${this.detSeq} were sent`));
      return;
    }
    this.unacked.splice(0, stableDet - this.stableDet);
    this.stableDet = stableDet;
    if (this.fenced) return;
    for (const a of this.output.release(stableDet)) this.perform(a);
    this.checkBackpressure();
  }

  private checkBackpressure(): void {
    const over =
      this.output.held > (this.cfg.maxHeldBytes ?? 8 * 1024 * 1024) ||
      this.unacked.length > (this.cfg.maxUnackedDets ?? 65_536);
    if (over === this.inputPaused) return;
    this.inputPaused = over;
    for (const kc of this.kernelConns) {
      if (over) kc.k.pause();
      else if (kc.sock === undefined || !kc.sock.appPaused) kc.k.resume();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Output (R4)

  /** @internal called by NswSocket */
  output_(sock: NswSocket, action: OutAction, bytes: number): void {
    if (this.modeNow === 'plain' || this.modeNow === 'replaying') {
      // Plain: nothing to wait for. Replaying: the determinants it depends on are the log
      // itself, stored by definition; the SSW drops what the client already has (R6.6).
      this.perform(action);
      return;
    }
    if (this.fenced) return;
    if (this.output.push(this.detSeq, action, bytes, this.stableDet)) this.perform(action);
    else this.checkBackpressure();
  }

  private perform(a: OutAction): void {
    const k = a.sock.kernel;
    if (k === undefined) return; // a connection closed before the failure: output goes nowhere
    switch (a.kind) {
      case 'write':
        if (!k.destroyed) k.write(a.data);
        return;
      case 'end':
        if (!k.destroyed) k.end();
        return;
      case 'destroy':
        k.destroy();
        return;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Nondeterminism the application takes from the NSW

  /** Milliseconds since the epoch (float). Logged (`clock`) when recording, replayed from the log. */
  now(): number {
    if (this.modeNow === 'replaying') {
      const v = this.pull('clock', 'read the clock').value;
      return v;
    }
    const v = performance.timeOrigin + performance.now();
    if (this.logging) this.record({ kind: 'clock', value: v });
    return v;
  }

  /** `n` random bytes. Logged (`random`) when recording, replayed from the log. */
  random(n: number): Uint8Array {
    if (!Number.isInteger(n) || n < 0 || n > 16 * MAX_RANDOM_BYTES) throw new RangeError(`nsw.random(${n})`);
    const out = new Uint8Array(n);
    for (let o = 0; o < n; o += MAX_RANDOM_BYTES) {
      const len = Math.min(MAX_RANDOM_BYTES, n - o);
      let part: Uint8Array;
      if (this.modeNow === 'replaying') {
        part = this.pull('random', `drew ${len} random bytes`, (d) => d.bytes.length === len).bytes;
      } else {
        part = new Uint8Array(randomBytes(len));
        if (this.logging) this.record({ kind: 'random', bytes: part });
      }
      out.set(part, o);
    }
    return out;
  }

  /** A timer whose firing is a determinant (`timer`): replayed at the same point of the run. */
  setTimeout(fn: () => void, ms: number): NswTimer {
    const id = this.nextTimerId++;
    const rec: TimerRec = { id, fn, ms: Math.max(0, ms), handle: undefined };
    this.timers.set(id, rec);
    // While replaying, timers fire only when the log says so; they are armed at go-live.
    if (this.modeNow !== 'replaying') this.arm(rec);
    return { timerId: id };
  }

  clearTimeout(t: NswTimer | undefined): void {
    if (t === undefined) return;
    const rec = this.timers.get(t.timerId);
    if (rec?.handle !== undefined) clearTimeout(rec.handle);
    this.timers.delete(t.timerId);
  }

  private arm(rec: TimerRec): void {
    rec.handle = setTimeout(() => {
      if (!this.timers.delete(rec.id)) return;
      if (this.logging) this.record({ kind: 'timer', timerId: rec.id });
      rec.fn();
    }, rec.ms);
  }

  /** @internal the application did something the log must show next (replay). */
  pull<K extends Determinant['kind']>(
    kind: K,
    what: string,
    check?: (d: Extract<Determinant, { kind: K }>) => boolean,
  ): Extract<Determinant, { kind: K }> {
    const c = this.cursor!;
    let d: Extract<Determinant, { kind: K }>;
    try {
      d = c.pull(kind, what, check);
    } catch (e) {
      if (e instanceof NswDivergenceError) {
        this.cfg.timeline?.event('divergence', { detSeq: e.detSeq, error: e.message });
        // Exits unless the application listens for 'error'; then the call itself throws.
        this.fail(e);
      }
      throw e;
    }
    this.afterConsume();
    return d;
  }

  /** @internal app-side determinants: logged when recording, checked when replaying. */
  appDet(det: Determinant, what: string): void {
    if (this.modeNow === 'replaying') {
      this.pull(det.kind, what, (d) => sameDet(d, det));
      return;
    }
    if (this.logging) this.record(det);
  }

  // ------------------------------------------------------------------------------------------
  // Servers and connections

  createServer(handler?: (sock: NswSocket) => void, opts: { allowHalfOpen?: boolean } = {}): NswServer {
    const s = new NswServer(this, opts.allowHalfOpen ?? false);
    if (handler !== undefined) s.on('connection', handler);
    this.servers.push(s);
    return s;
  }

  /** @internal a kernel connection arrived on server `s`. */
  kernelConnection(s: NswServer, k: net.Socket): void {
    const kc: KernelConn = {
      k,
      clientAddr: addrToU32(k.remoteAddress),
      clientPort: k.remotePort ?? 0,
      localPort: k.localPort ?? 0,
      chunks: [],
      buffered: 0,
      eof: false,
      sock: undefined,
      eofReplayed: false,
    };
    k.setNoDelay(true);
    this.kernelConns.push(kc);
    if (this.inputPaused) k.pause();
    k.on('data', (chunk: Buffer) => {
      // Buffered while replaying (the log decides when a chunk is delivered) and, after
      // go-live, until what was buffered is flushed, so the order of bytes is kept.
      if (this.modeNow === 'replaying' || kc.sock === undefined || kc.buffered > 0) {
        kc.chunks.push(chunk);
        kc.buffered += chunk.length;
        this.schedulePump();
      } else this.deliverRead(kc.sock, chunk);
    });
    const onEnd = (): void => {
      if (kc.eof) return;
      kc.eof = true;
      if (this.modeNow === 'replaying') this.schedulePump();
      else if (kc.sock !== undefined && kc.buffered === 0 && !kc.eofReplayed) this.deliverEof(kc.sock);
    };
    k.on('end', onEnd);
    k.on('error', (e) => {
      this.log.debug('kernel socket error (delivered as end of stream)', { conn: kc.sock?.conn, error: e.message });
      onEnd();
    });
    k.on('close', () => {
      const i = this.kernelConns.indexOf(kc);
      if (i >= 0) this.kernelConns.splice(i, 1);
    });
    if (this.modeNow !== 'replaying') this.acceptLive(s, kc);
    else this.schedulePump();
  }

  private acceptLive(s: NswServer, kc: KernelConn): void {
    const conn = this.nextConn++;
    if (this.logging) this.record({ kind: 'accept', conn, clientAddr: kc.clientAddr, clientPort: kc.clientPort });
    const sock = new NswSocket(this, s, conn, kc.k, ipv4ToString(kc.clientAddr), kc.clientPort);
    kc.sock = sock;
    this.sockets.set(conn, sock);
    s.emit('connection', sock);
  }

  private deliverRead(sock: NswSocket, chunk: Buffer): void {
    if (this.logging) this.record({ kind: 'read', conn: sock.conn, len: chunk.length });
    sock.deliverData(chunk);
  }

  private deliverEof(sock: NswSocket): void {
    if (sock.eofDelivered) return;
    if (this.logging) this.record({ kind: 'eof', conn: sock.conn });
    sock.deliverEnd();
  }

  /** @internal a server started listening: a replayed accept may be waiting for it. */
  serverListening(): void {
    this.schedulePump();
  }

  /** @internal */
  forget(sock: NswSocket): void {
    this.sockets.delete(sock.conn);
  }

  // ------------------------------------------------------------------------------------------
  // Replay (R11)

  private startReplay(records: LoggerMessage[], end: Extract<LoggerMessage, { kind: 'ReplayEnd' }>): void {
    const dets: Determinant[] = [];
    const byConn = new Map<number, VirtualConn>();
    for (const m of records) {
      if (m.kind === 'ReplaySyn') {
        const { kind: _k, clientAck: _a, ...syn } = m;
        const v: VirtualConn = { syn, chunks: [], buffered: 0, used: false };
        byConn.set(m.conn, v);
        this.virtualConns.push(v);
      } else if (m.kind === 'ReplayData') {
        const v = byConn.get(m.conn);
        if (v !== undefined && m.payload.length > 0) {
          v.chunks.push(Buffer.from(m.payload));
          v.buffered += m.payload.length;
        }
      } else if (m.kind === 'ReplayDeterminant') {
        if (m.detSeq !== dets.length) {
          this.fail(new Error(`logger served determinant ${m.detSeq} where ${dets.length} was expected`));
          return;
        }
        dets.push(m.det);
      }
    }
    this.cursor = new ReplayCursor(dets);
    this.replayStats = { dets: dets.length, conns: end.conns, bytes: end.bytes };
    // Everything in the log is stored: recording resumes after it.
    this.detSeq = dets.length;
    this.stableDet = dets.length;
    this.cfg.timeline?.event('replay-start', { dets: dets.length, closedConns: end.conns, closedBytes: end.bytes });
    this.log.info('replaying', { dets: dets.length, closedConns: end.conns });
    this.afterConsume();
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.modeNow !== 'replaying') return;
    this.pumpScheduled = true;
    // One determinant per macrotask, like the kernel events of the recorded run: promise
    // continuations of the previous event run before the next one is delivered.
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const c = this.cursor;
    if (c === undefined || this.modeNow !== 'replaying') return;
    const d = c.peek();
    if (d === undefined) return;
    if (!PUSHED.has(d.kind)) {
      // The application was due to do something itself (read the clock, write, close) and
      // did not: it diverged from the recorded run.
      this.divergedAtPump(new NswDivergenceError(c.position, 'waited for input', d));
      return;
    }
    try {
      if (!this.tryDeliver(d)) return; // waiting for the kernel; its events re-schedule
    } catch (e) {
      if (e instanceof NswDivergenceError) this.divergedAtPump(e);
      else throw e;
      return;
    }
    this.schedulePump();
  }

  private divergedAtPump(e: NswDivergenceError): void {
    this.cfg.timeline?.event('divergence', { detSeq: e.detSeq, error: e.message });
    this.fail(e);
  }

  /** Deliver one pushed determinant if its input is available. */
  private tryDeliver(d: Determinant): boolean {
    const c = this.cursor!;
    switch (d.kind) {
      case 'accept': {
        const v = this.virtualConns.find((x) => !x.used && x.syn.clientAddr === d.clientAddr && x.syn.clientPort === d.clientPort);
        const kc = v === undefined
          ? this.kernelConns.find((x) => x.sock === undefined && x.clientAddr === d.clientAddr && x.clientPort === d.clientPort)
          : undefined;
        if (v === undefined && kc === undefined) return false;
        const port = v !== undefined ? v.syn.serverPort : kc!.localPort;
        const server = this.servers.find((s) => s.port === port) ?? this.servers[0];
        if (server === undefined) return false; // the application has not listened yet
        if (d.conn !== this.nextConn) throw new NswDivergenceError(c.position, `accepted connection ${this.nextConn}`, d);
        c.advance();
        this.nextConn++;
        const sock = new NswSocket(this, server, d.conn, kc?.k, ipv4ToString(d.clientAddr), d.clientPort);
        if (v !== undefined) {
          v.used = true;
          sock.virtual = v;
        } else kc!.sock = sock;
        this.sockets.set(d.conn, sock);
        server.emit('connection', sock);
        this.afterConsume();
        return true;
      }
      case 'read': {
        const sock = this.sockets.get(d.conn);
        if (sock === undefined) throw new NswDivergenceError(c.position, 'has no such connection', d);
        if (sock.appPaused) return false;
        const src = sock.virtual ?? this.kernelConns.find((x) => x.sock === sock);
        if (src === undefined || src.buffered < d.len) {
          // The logger's bytes of a closed connection are all there is; a kernel stream
          // that ended cannot grow either. Otherwise wait for the SSW's injection.
          if (sock.virtual !== undefined || (src !== undefined && 'k' in src && src.eof)) {
            throw new NswDivergenceError(c.position, `has only ${src?.buffered ?? 0} more bytes on conn ${d.conn}`, d);
          }
          return false;
        }
        const chunk = takeBytes(src, d.len);
        c.advance();
        sock.deliverData(chunk);
        this.afterConsume();
        return true;
      }
      case 'eof': {
        const sock = this.sockets.get(d.conn);
        if (sock === undefined) throw new NswDivergenceError(c.position, 'has no such connection', d);
        const kc = this.kernelConns.find((x) => x.sock === sock);
        if (kc !== undefined) kc.eofReplayed = true;
        c.advance();
        sock.deliverEnd();
        this.afterConsume();
        return true;
      }
      case 'timer': {
        const t = this.timers.get(d.timerId);
        if (t === undefined) throw new NswDivergenceError(c.position, 'has no such pending timer', d);
        this.timers.delete(d.timerId);
        c.advance();
        t.fn();
        this.afterConsume();
        return true;
      }
      default:
        return false;
    }
  }

  /** Called after every consumed determinant: the end of the log is the switch to live. */
  private afterConsume(): void {
    if (this.modeNow !== 'replaying' || this.cursor === undefined || !this.cursor.done) return;
    this.goLive();
  }

  private goLive(): void {
    this.modeNow = 'live';
    this.log.info('replay done: live', this.replayStats);
    this.cfg.timeline?.event('replay', { dets: this.replayStats.dets, closedConns: this.replayStats.conns, closedBytes: this.replayStats.bytes });
    this.cfg.timeline?.event('live', { detSeq: this.detSeq });
    for (const t of this.timers.values()) this.arm(t);
    // Defer the flush: goLive may run inside an application call (the log can end in the
    // middle of a handler); the rest of that handler must run before new input arrives.
    setImmediate(() => {
      for (const kc of [...this.kernelConns]) {
        if (kc.sock === undefined) {
          const s = this.servers.find((x) => x.port === kc.localPort) ?? this.servers[0];
          if (s !== undefined) this.acceptLive(s, kc);
        }
        const sock = kc.sock;
        if (sock === undefined) continue;
        if (kc.buffered > 0) this.deliverRead(sock, takeBytes(kc, kc.buffered));
        if (kc.eof && !kc.eofReplayed) this.deliverEof(sock);
      }
      this.emit('live');
    });
  }

  /** Close servers and the logger link (tests, shutdown). */
  async close(): Promise<void> {
    for (const t of this.timers.values()) if (t.handle !== undefined) clearTimeout(t.handle);
    this.timers.clear();
    // Connections first: a listening server's close waits for its connections to end.
    for (const kc of [...this.kernelConns]) kc.k.destroy();
    this.link?.stop();
    await Promise.all(this.servers.map((s) => s.closeAsync()));
  }

  /** Counters for tests and logs. */
  get stats(): { detSeq: number; stableDet: number; heldBytes: number; heldActions: number; mode: NswMode } {
    return { detSeq: this.detSeq, stableDet: this.stableDet, heldBytes: this.output.held, heldActions: this.output.length, mode: this.modeNow };
  }

  /** @internal for NswSocket: describe for errors */
  describe(d: Determinant): string {
    return describeDet(d);
  }
}

function takeBytes(src: { chunks: Buffer[]; buffered: number }, n: number): Buffer {
  const parts: Buffer[] = [];
  let need = n;
  while (need > 0) {
    const head = src.chunks[0]!;
    if (head.length <= need) {
      parts.push(head);
      src.chunks.shift();
      need -= head.length;
    } else {
      parts.push(head.subarray(0, need));
      src.chunks[0] = head.subarray(need);
      need = 0;
    }
  }
  src.buffered -= n;
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
}

function sameDet(a: Determinant, b: Determinant): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'random' && b.kind === 'random') return Buffer.from(a.bytes).equals(Buffer.from(b.bytes));
  return (Object.keys(a) as (keyof typeof a)[]).every((k) => a[k] === (b as typeof a)[k]);
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
    const k = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (sock) => this.nsw.kernelConnection(this, sock));
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
  /** @internal */ appPaused = false;
  /** @internal set when the connection is replayed from the logger's bytes */
  virtual: VirtualConn | undefined;
  private ended = false;
  private destroyedByApp = false;
  private closeEmitted = false;
  private readonly hash = new OutputHash();
  bytesWritten = 0;
  bytesRead = 0;

  constructor(
    private readonly nsw: Nsw,
    readonly server: NswServer,
    /** NSW connection number: accept order from 0 */
    readonly conn: number,
    /** @internal */ readonly kernel: net.Socket | undefined,
    readonly remoteAddress: string,
    readonly remotePort: number,
  ) {
    super();
  }

  get localPort(): number | undefined {
    return this.kernel?.localPort ?? this.virtual?.syn.serverPort;
  }
  get destroyed(): boolean {
    return this.destroyedByApp;
  }
  get writable(): boolean {
    return !this.ended && !this.destroyedByApp;
  }

  write(data: string | Uint8Array, encoding?: BufferEncoding | (() => void), cb?: () => void): boolean {
    const callback = typeof encoding === 'function' ? encoding : cb;
    if (!this.writable) {
      queueMicrotask(() => this.emit('error', new Error(`write after end (nsw conn ${this.conn})`)));
      return false;
    }
    const buf = typeof data === 'string' ? Buffer.from(data, typeof encoding === 'string' ? encoding : 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (buf.length === 0) {
      if (callback) queueMicrotask(callback);
      return true;
    }
    // Copy: the application may reuse its buffer, and the write can be held for a while.
    const copy = Buffer.from(buf);
    const hash = this.hash.update(copy);
    this.bytesWritten += copy.length;
    this.nsw.output_(this, { kind: 'write', sock: this, data: copy }, copy.length);
    this.nsw.appDet({ kind: 'outputHash', conn: this.conn, offset: this.hash.offset, hash }, `wrote ${copy.length} bytes on conn ${this.conn}`);
    if (callback) queueMicrotask(callback);
    return true;
  }

  end(data?: string | Uint8Array | (() => void), encoding?: BufferEncoding | (() => void), cb?: () => void): this {
    if (typeof data === 'function') cb = data;
    else if (data !== undefined) this.write(data, typeof encoding === 'string' ? encoding : undefined);
    if (typeof encoding === 'function') cb = encoding;
    if (this.ended || this.destroyedByApp) return this;
    this.ended = true;
    this.nsw.appDet({ kind: 'close', conn: this.conn, how: 'end' }, `ended conn ${this.conn}`);
    this.nsw.output_(this, { kind: 'end', sock: this }, 0);
    if (cb) queueMicrotask(cb);
    this.maybeClose();
    return this;
  }

  destroy(_err?: Error): this {
    if (this.destroyedByApp) return this;
    this.destroyedByApp = true;
    this.nsw.appDet({ kind: 'close', conn: this.conn, how: 'destroy' }, `destroyed conn ${this.conn}`);
    this.nsw.output_(this, { kind: 'destroy', sock: this }, 0);
    this.maybeClose();
    return this;
  }

  pause(): this {
    this.appPaused = true;
    this.kernel?.pause();
    return this;
  }

  resume(): this {
    this.appPaused = false;
    this.kernel?.resume();
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
