// NswCore: the NSW's protocol logic as one I/O-free object (spec/nsw.md). The runtime's
// node:net-shaped library (src/runtime/nsw) owns the sockets, the timers and the logger link;
// it tells the core what happened and performs the effects the core returns. The core decides
// which determinant to log for each application-visible event (R3), which output may reach the
// kernel (R4), which chunk to deliver next in replay (R11), and when the run has diverged (R12).
//
// USAGE
//   const core = new NswCore({ mode: 'recording' });               // or
//   const core = new NswCore({ mode: 'replaying', log: dets });    // dets from FetchLog 'nsw'
//   Kernel (and logger, for closed connections) -> core; these only buffer:
//     core.kernelAccept(sock, clientAddr, clientPort, ghost?)   a connection (ghost: from the
//                                                              logger's stream, no kernel socket)
//     core.kernelData(sock, bytes) / core.kernelEof(sock)     (for a ghost: kernelEof after its
//                                                              last ReplayData, FIN or not:
//                                                              nothing more will come)
//     core.timerExpired(timerId)                                the runtime's real timer fired
//   Delivery: whenever the application is idle (after its handlers and microtasks), call
//     core.next()     -> effects of at most ONE delivery (accept / data / eof / fire), with its
//                        `log` effect. Loop until it returns no delivery. One at a time because
//                        the application's own calls during a delivery must be logged (and, in
//                        replay, met) between this delivery and the next.
//   Application -> core:
//     core.write(conn, bytes), core.close(conn, 'end' | 'destroy')       -> effects
//     core.armTimer(repeat?) -> timerId, core.cancelTimer(timerId)
//     core.now(liveMs) -> ms, core.random(liveBytes) -> bytes   (then perform core.drain())
//   Logger -> core:   core.detStored(stableDet) -> effects (released output)
//   Replay liveness:  core.appStalled() when the application is idle but `core.waiting` says
//                     the log waits for a call of the application: that is divergence.
// Every method that returns effects also drains the internal outbox; `drain()` returns what
// `now`/`random` queued. Perform effects in order:
//   log      send LogDeterminant { detSeq, det }
//   accept   create the application socket for `conn` and emit 'connection'
//   data/eof emit 'data' / 'end' on the application socket of `conn`
//   fire     run the timer's callback
//   release  perform the output action on the kernel socket `sock` (never for ghosts)
//   stop     divergence: `conn` (or, if null, the whole application) must not produce output
//            again; surface `error.message` to the operator
//   mode     the core changed mode (replaying -> live, -> diverged)
//   pauseSock/resumeSock, pauseInput/resumeInput   stop/restart reading kernel sockets

import type { CloseHow, Determinant } from '../../wire/logmsg.ts';
import {
  appendDeterminant,
  type DetLogState,
  type DetRecord,
  describeDet,
  emptyDetLog,
  OutputHasher,
} from './determinants.ts';
import { type OutputAction, OutputGate } from './gate.ts';
import { type KernelView, nextReplayStep, type ReplayStep } from './replay.ts';

export type NswMode = 'recording' | 'replaying' | 'live' | 'diverged';

export interface NswDivergence {
  /** position in the log where the run left it */
  readonly detSeq: number;
  readonly conn: number | null;
  /** what the application (or the kernel) did */
  readonly actual: string;
  /** what the log has there */
  readonly logged: string;
  readonly message: string;
}

export type NswEffect =
  | { readonly kind: 'log'; readonly record: DetRecord }
  | {
      readonly kind: 'accept';
      readonly conn: number;
      readonly sock: number;
      readonly clientAddr: number;
      readonly clientPort: number;
      readonly ghost: boolean;
    }
  | { readonly kind: 'data'; readonly conn: number; readonly bytes: Uint8Array }
  | { readonly kind: 'eof'; readonly conn: number }
  | { readonly kind: 'fire'; readonly timerId: number }
  | {
      readonly kind: 'release';
      readonly conn: number;
      readonly sock: number;
      readonly action: OutputAction;
    }
  | { readonly kind: 'stop'; readonly conn: number | null; readonly error: NswDivergence }
  | { readonly kind: 'mode'; readonly mode: NswMode }
  | { readonly kind: 'pauseSock' | 'resumeSock'; readonly sock: number }
  | { readonly kind: 'pauseInput' | 'resumeInput' };

export interface NswLimits {
  /** output held for output commit before client input is paused */
  readonly maxHeldBytes: number;
  /** bytes buffered from one kernel socket before reading it is paused */
  readonly maxBufferedPerSock: number;
}

export const DEFAULT_NSW_LIMITS: NswLimits = { maxHeldBytes: 8 << 20, maxBufferedPerSock: 4 << 20 };

export type NswCoreOptions =
  | { readonly mode: 'recording'; readonly limits?: Partial<NswLimits> }
  | {
      readonly mode: 'replaying';
      readonly log: readonly Determinant[];
      readonly limits?: Partial<NswLimits>;
    };

/** The runtime called the core in a way the API forbids (unknown conn or socket). */
export class NswUsageError extends Error {
  override readonly name = 'NswUsageError';
}

interface Sock {
  readonly id: number;
  readonly clientAddr: number;
  readonly clientPort: number;
  readonly ghost: boolean;
  conn: number | null;
  chunks: Uint8Array[];
  /** bytes of chunks[0] already delivered */
  off: number;
  buffered: number;
  eof: boolean;
  eofDelivered: boolean;
  paused: boolean;
}

interface Conn {
  readonly conn: number;
  readonly sock: Sock;
  readonly hasher: OutputHasher;
  closed: boolean;
  stopped: boolean;
}

type InboxItem =
  | { readonly kind: 'accept' | 'data' | 'eof'; readonly sock: number }
  | { readonly kind: 'timer'; readonly timerId: number };

export class NswCore {
  readonly limits: NswLimits;
  private modeNow: NswMode;
  private readonly log: readonly Determinant[];
  /** replay position: determinants of `log` consumed so far */
  private pos = 0;
  private detLog: DetLogState = emptyDetLog;
  private stable = 0;
  private readonly gate = new OutputGate();
  private inputPaused = false;
  private readonly socks = new Map<number, Sock>();
  private readonly conns = new Map<number, Conn>();
  private nextConn = 0;
  /** kernel events in arrival order (recording/live delivery order) */
  private inbox: InboxItem[] = [];
  private readonly timers = new Map<number, { repeat: boolean }>();
  private nextTimer = 0;
  private out: NswEffect[] = [];

  constructor(opts: NswCoreOptions) {
    this.limits = { ...DEFAULT_NSW_LIMITS, ...opts.limits };
    if (opts.mode === 'replaying') {
      this.log = opts.log;
      this.modeNow = 'replaying';
      // Everything in the fetched log is stored at the logger by definition.
      this.stable = opts.log.length;
      this.detLog = { detSeq: opts.log.length, gateDet: opts.log.length };
      this.skipToLiveIfExhausted();
    } else {
      this.log = [];
      this.modeNow = 'recording';
    }
  }

  get mode(): NswMode {
    return this.modeNow;
  }
  /** next determinant number (in replay: the log length; new ones continue from there) */
  get detSeq(): number {
    return this.detLog.detSeq;
  }
  get stableDet(): number {
    return this.stable;
  }
  get heldBytes(): number {
    return this.gate.heldBytes;
  }
  /** replay position (determinants of the fetched log consumed) */
  get replayPosition(): number {
    return this.pos;
  }
  /** in replay: what the next logged determinant waits for, for diagnostics */
  get waiting(): ReplayStep | null {
    return this.modeNow === 'replaying'
      ? nextReplayStep(this.log[this.pos], this.kernelView())
      : null;
  }

  // --- kernel -> core ----------------------------------------------------------------------

  kernelAccept(sock: number, clientAddr: number, clientPort: number, ghost = false): NswEffect[] {
    if (this.socks.has(sock)) throw new NswUsageError(`socket ${sock} accepted twice`);
    this.socks.set(sock, {
      id: sock,
      clientAddr,
      clientPort,
      ghost,
      conn: null,
      chunks: [],
      off: 0,
      buffered: 0,
      eof: false,
      eofDelivered: false,
      paused: false,
    });
    this.inbox.push({ kind: 'accept', sock });
    return this.drain();
  }

  kernelData(sock: number, bytes: Uint8Array): NswEffect[] {
    const s = this.sockOrThrow(sock);
    if (bytes.length === 0 || s.eof) return this.drain();
    s.chunks.push(bytes);
    s.buffered += bytes.length;
    // In replay the log, not arrival order, drives delivery; leftovers are queued when live.
    if (this.modeNow !== 'replaying') this.inbox.push({ kind: 'data', sock });
    if (!s.paused && s.buffered > this.limits.maxBufferedPerSock) {
      s.paused = true;
      this.out.push({ kind: 'pauseSock', sock });
    }
    return this.drain();
  }

  kernelEof(sock: number): NswEffect[] {
    const s = this.sockOrThrow(sock);
    if (!s.eof) {
      s.eof = true;
      if (this.modeNow !== 'replaying') this.inbox.push({ kind: 'eof', sock });
    }
    return this.drain();
  }

  timerExpired(timerId: number): NswEffect[] {
    if (this.timers.has(timerId)) this.inbox.push({ kind: 'timer', timerId });
    return this.drain();
  }

  /** At most one delivery: call again while it returns one (see the header). */
  next(): NswEffect[] {
    if (this.modeNow === 'replaying') this.replayOne();
    else if (this.modeNow !== 'diverged') this.liveOne();
    return this.drain();
  }

  // --- application -> core -----------------------------------------------------------------

  armTimer(repeat = false): number {
    const id = this.nextTimer++;
    this.timers.set(id, { repeat });
    return id;
  }

  cancelTimer(timerId: number): void {
    this.timers.delete(timerId);
  }

  now(liveMs: number): number {
    const d = this.pulled('clock', 'the application read the clock', () => ({
      kind: 'clock',
      value: liveMs,
    }));
    return d?.kind === 'clock' ? d.value : liveMs;
  }

  random(liveBytes: Uint8Array): Uint8Array {
    const d = this.pulled(
      'random',
      `the application drew ${liveBytes.length} random bytes`,
      () => ({ kind: 'random', bytes: liveBytes.slice() }),
      (l) => l.kind === 'random' && l.bytes.length === liveBytes.length,
    );
    return d?.kind === 'random' ? d.bytes.slice() : liveBytes;
  }

  write(conn: number, bytes: Uint8Array): NswEffect[] {
    const c = this.connOrThrow(conn);
    if (bytes.length === 0 || c.closed || this.modeNow === 'diverged') return this.drain();
    // Copied: the application may reuse its buffer while the write is held.
    const data = bytes.slice();
    const hash = c.hasher.update(data);
    const det: Determinant = { kind: 'outputHash', conn, offset: c.hasher.offset, hash };
    if (this.modeNow === 'replaying') {
      const logged = this.log[this.pos];
      if (logged?.kind !== 'outputHash' || logged.conn !== conn) {
        this.diverge(null, `the application wrote ${data.length} bytes on conn ${conn}`, logged);
        return this.drain();
      }
      this.pos++;
      if (!c.stopped && (logged.offset !== det.offset || logged.hash !== det.hash)) {
        // R12: the bytes differ from the first run's. Stop this connection only: the inputs
        // are still aligned (the log position matched), so the others can go on.
        this.stopConn(c, `the application wrote ${describeDet(det)}`, describeDet(logged));
      }
      if (!c.stopped) this.queueOutput(c, { kind: 'write', bytes: data });
      this.skipToLiveIfExhausted();
      return this.drain();
    }
    if (c.stopped) return this.drain();
    this.queueOutput(c, { kind: 'write', bytes: data });
    this.append(det);
    return this.drain();
  }

  close(conn: number, how: CloseHow): NswEffect[] {
    const c = this.connOrThrow(conn);
    if (c.closed || this.modeNow === 'diverged') return this.drain();
    // The close position (R5.2): every byte the application wrote on this connection. The
    // SSW passes the kernel's FIN only at that point of the stream, so a crash FIN emitted
    // before the last output reached the kernel is never taken for this close.
    const offset = c.hasher.offset;
    const d = this.pulled(
      'close',
      `the application closed conn ${conn} (${how}) after ${offset} bytes`,
      () => ({ kind: 'close', conn, how, offset }),
      (l) => l.kind === 'close' && l.conn === conn && l.how === how,
    );
    if (d === undefined) return this.drain();
    c.closed = true;
    if (d.kind === 'close' && d.offset !== offset && !c.stopped) {
      // R12.1: same control flow, different output length; the outputHash checks normally
      // catch this first, but the close position is what the SSW trusts, so check it too.
      this.stopConn(c, `the application closed conn ${conn} after ${offset} bytes`, describeDet(d));
    }
    // The close determinant is below gateDet now, so the FIN/RST waits for it to be stored:
    // the logger announces it to the SSW (CloseLogged) at that moment, and the SSW lets the
    // FIN/RST through only then (R4, R5.2).
    if (!c.stopped) this.queueOutput(c, { kind: how });
    return this.drain();
  }

  // --- logger -> core ----------------------------------------------------------------------

  detStored(stableDet: number): NswEffect[] {
    // An ack beyond what was appended is a confused logger (or a log from another run): it
    // proves nothing about our determinants, so it releases nothing.
    if (stableDet > this.stable && stableDet <= this.detLog.detSeq) {
      this.stable = stableDet;
      for (const o of this.gate.release(stableDet)) this.emitRelease(o.conn, o.action);
      this.checkHeld();
    }
    return this.drain();
  }

  /** Replay: the application is idle, yet the log waits for a call of it. */
  appStalled(): NswEffect[] {
    const w = this.waiting;
    if (w?.kind === 'awaitApp') this.diverge(null, 'the application went idle', w.det);
    return this.drain();
  }

  drain(): NswEffect[] {
    const o = this.out;
    this.out = [];
    return o;
  }

  // --- internals ---------------------------------------------------------------------------

  private sockOrThrow(sock: number): Sock {
    const s = this.socks.get(sock);
    if (s === undefined) throw new NswUsageError(`unknown socket ${sock}`);
    return s;
  }

  private connOrThrow(conn: number): Conn {
    const c = this.conns.get(conn);
    if (c === undefined) throw new NswUsageError(`unknown conn ${conn}`);
    return c;
  }

  private append(det: Determinant): void {
    const { state, record } = appendDeterminant(this.detLog, det);
    this.detLog = state;
    this.out.push({ kind: 'log', record });
  }

  /**
   * A determinant the application causes. Recording/live: append `make()`. Replay: the next
   * logged determinant must be of `kind` (and pass `same`), else the run has diverged.
   * Returns the determinant in force, or undefined after divergence.
   */
  private pulled(
    kind: Determinant['kind'],
    what: string,
    make: () => Determinant,
    same: (logged: Determinant) => boolean = (l) => l.kind === kind,
  ): Determinant | undefined {
    if (this.modeNow === 'diverged') return undefined;
    if (this.modeNow !== 'replaying') {
      const d = make();
      this.append(d);
      return d;
    }
    const logged = this.log[this.pos];
    if (logged === undefined || !same(logged)) {
      this.diverge(null, what, logged);
      return undefined;
    }
    this.pos++;
    this.skipToLiveIfExhausted();
    return logged;
  }

  private queueOutput(c: Conn, action: OutputAction): void {
    const needDet = this.detLog.gateDet;
    if (this.modeNow === 'replaying') {
      // Replayed determinants are all stored; output made during replay may go at once.
      if (
        this.gate.push(
          { conn: c.conn, needDet: Math.min(needDet, this.stable), action },
          this.stable,
        )
      ) {
        this.emitRelease(c.conn, action);
      }
      return;
    }
    if (this.gate.push({ conn: c.conn, needDet, action }, this.stable))
      this.emitRelease(c.conn, action);
    this.checkHeld();
  }

  private emitRelease(conn: number, action: OutputAction): void {
    const c = this.conns.get(conn);
    if (c === undefined || c.stopped || c.sock.ghost) return;
    this.out.push({ kind: 'release', conn, sock: c.sock.id, action });
  }

  private checkHeld(): void {
    const over = this.gate.heldBytes > this.limits.maxHeldBytes;
    if (over !== this.inputPaused) {
      this.inputPaused = over;
      this.out.push({ kind: over ? 'pauseInput' : 'resumeInput' });
    }
  }

  private stopConn(c: Conn, actual: string, logged: string): void {
    c.stopped = true;
    this.gate.dropConn(c.conn);
    const error = divergence(this.pos, c.conn, actual, logged);
    this.out.push({ kind: 'stop', conn: c.conn, error });
  }

  private diverge(conn: number | null, actual: string, logged: Determinant | undefined): void {
    if (conn !== null) {
      const c = this.conns.get(conn);
      if (c !== undefined && !c.stopped)
        this.stopConn(c, actual, logged === undefined ? 'nothing more' : describeDet(logged));
      return;
    }
    this.modeNow = 'diverged';
    this.out.push({
      kind: 'stop',
      conn: null,
      error: divergence(
        this.pos,
        null,
        actual,
        logged === undefined ? 'nothing more' : describeDet(logged),
      ),
    });
    this.out.push({ kind: 'mode', mode: 'diverged' });
  }

  private skipToLiveIfExhausted(): void {
    if (this.modeNow !== 'replaying' || this.pos < this.log.length) return;
    // R11: the log is exhausted; from here the NSW records again, continuing the numbering.
    this.modeNow = 'live';
    this.out.push({ kind: 'mode', mode: 'live' });
    // Input the kernel handed over beyond the log is delivered (and logged) as live input:
    // one item per remaining chunk, then the end of stream, socket by socket in arrival order.
    for (const s of this.socks.values()) {
      if (s.ghost && s.conn === null) continue;
      for (let i = 0; i < s.chunks.length; i++) this.inbox.push({ kind: 'data', sock: s.id });
      if (s.eof && !s.eofDelivered) this.inbox.push({ kind: 'eof', sock: s.id });
    }
  }

  /** Replay: deliver the next logged pushed determinant if its input is here. */
  private replayOne(): void {
    const det = this.log[this.pos];
    const step = nextReplayStep(det, this.kernelView());
    const stopped =
      (det?.kind === 'read' || det?.kind === 'eof') && this.conns.get(det.conn)?.stopped === true;
    if (stopped && step.kind !== 'read' && step.kind !== 'eof') {
      // A stopped connection's input is still delivered when it is there (the application's
      // state may depend on it), but the replay does not wait for it.
      this.pos++;
      this.skipToLiveIfExhausted();
      return;
    }
    switch (step.kind) {
      case 'accept': {
        const s = this.sockOrThrow(step.sock);
        this.pos++;
        this.bind(s, step.conn);
        break;
      }
      case 'read': {
        const s = this.sockOrThrow(step.sock);
        this.pos++;
        this.deliverBytes(s, step.conn, step.len);
        break;
      }
      case 'eof': {
        const s = this.sockOrThrow(step.sock);
        this.pos++;
        // Bytes left unread at a logged eof were never read in the first run either.
        s.chunks = [];
        s.off = 0;
        s.buffered = 0;
        this.deliverEof(s, step.conn);
        break;
      }
      case 'timer': {
        this.pos++;
        this.fire(step.timerId);
        // The real expiry of this firing, if it came, must not fire it again when live.
        const i = this.inbox.findIndex((x) => x.kind === 'timer' && x.timerId === step.timerId);
        if (i >= 0) this.inbox.splice(i, 1);
        break;
      }
      case 'diverged':
        this.diverge(step.conn, step.reason, det);
        // A connection's stream that cannot satisfy the log: skip the determinant so that the
        // other connections are not held hostage. A whole-log problem stops everything.
        if (step.conn !== null) this.pos++;
        break;
      case 'wait':
      case 'awaitApp':
      case 'exhausted':
        return;
    }
    this.skipToLiveIfExhausted();
  }

  /** Recording/live: deliver the oldest kernel event, logging its determinant. */
  private liveOne(): void {
    while (this.inbox.length > 0) {
      const item = this.inbox.shift()!;
      if (item.kind === 'timer') {
        if (!this.timers.has(item.timerId)) continue; // cancelled, or fired by the replay
        this.append({ kind: 'timer', timerId: item.timerId });
        this.fire(item.timerId);
        return;
      }
      const s = this.socks.get(item.sock);
      if (s === undefined) continue;
      // A connection closed before the failure that the log never accepted: its client is
      // gone, so it is never offered to the application live.
      if (s.ghost && s.conn === null) continue;
      if (item.kind === 'accept') {
        if (s.conn !== null) continue; // matched during replay
        const conn = this.nextConn;
        this.append({ kind: 'accept', conn, clientAddr: s.clientAddr, clientPort: s.clientPort });
        this.bind(s, conn);
        return;
      }
      if (s.conn === null) {
        // The accept item precedes its socket's data and eof in the inbox.
        throw new Error(`nsw core: ${item.kind} of socket ${s.id} before its accept`);
      }
      if (item.kind === 'data') {
        if (s.buffered === 0) continue;
        const len = (s.chunks[0]?.length ?? 0) - s.off;
        this.append({ kind: 'read', conn: s.conn, len });
        this.deliverBytes(s, s.conn, len);
        return;
      }
      if (s.eofDelivered) continue;
      if (s.buffered > 0) {
        // Should not happen (data items precede their eof); keep order regardless.
        this.inbox.unshift(item);
        const len = (s.chunks[0]?.length ?? 0) - s.off;
        this.append({ kind: 'read', conn: s.conn, len });
        this.deliverBytes(s, s.conn, len);
        return;
      }
      this.append({ kind: 'eof', conn: s.conn });
      this.deliverEof(s, s.conn);
      return;
    }
  }

  private bind(s: Sock, conn: number): void {
    s.conn = conn;
    this.nextConn = conn + 1;
    this.conns.set(conn, {
      conn,
      sock: s,
      hasher: new OutputHasher(),
      closed: false,
      stopped: false,
    });
    this.out.push({
      kind: 'accept',
      conn,
      sock: s.id,
      clientAddr: s.clientAddr,
      clientPort: s.clientPort,
      ghost: s.ghost,
    });
  }

  private deliverBytes(s: Sock, conn: number, len: number): void {
    const parts: Uint8Array[] = [];
    let need = len;
    while (need > 0) {
      const head = s.chunks[0]!;
      const take = Math.min(need, head.length - s.off);
      parts.push(head.subarray(s.off, s.off + take));
      s.off += take;
      need -= take;
      if (s.off === head.length) {
        s.chunks.shift();
        s.off = 0;
      }
    }
    s.buffered -= len;
    const bytes = parts.length === 1 ? parts[0]! : concat(parts, len);
    if (s.paused && s.buffered <= this.limits.maxBufferedPerSock) {
      s.paused = false;
      this.out.push({ kind: 'resumeSock', sock: s.id });
    }
    this.out.push({ kind: 'data', conn, bytes });
  }

  private deliverEof(s: Sock, conn: number): void {
    s.eofDelivered = true;
    this.out.push({ kind: 'eof', conn });
  }

  private fire(timerId: number): void {
    const t = this.timers.get(timerId);
    if (t !== undefined && !t.repeat) this.timers.delete(timerId);
    this.out.push({ kind: 'fire', timerId });
  }

  /**
   * One view for the life of the core: replay consults it once per step, and building its
   * closures per step was a measurable share of the replay's CPU (thousands of steps).
   */
  private readonly view: KernelView = ((core: NswCore): KernelView => ({
    get nextConn(): number {
      return core.nextConn;
    },
    pendingAccept: (addr, port) => {
      // The oldest unmatched one: a ghost (closed before the failure) precedes a live
      // connection that reuses its port, as it did in the first run.
      for (const item of this.inbox) {
        if (item.kind !== 'accept') continue;
        const s = this.socks.get(item.sock);
        if (s !== undefined && s.conn === null && s.clientAddr === addr && s.clientPort === port)
          return s.id;
      }
      return undefined;
    },
    sockOf: (conn) => this.conns.get(conn)?.sock.id,
    buffered: (sock) => this.socks.get(sock)?.buffered ?? 0,
    eof: (sock) => this.socks.get(sock)?.eof ?? false,
    timerArmed: (id) => this.timers.has(id),
  }))(this);

  private kernelView(): KernelView {
    return this.view;
  }
}

const divergence = (
  detSeq: number,
  conn: number | null,
  actual: string,
  logged: string,
): NswDivergence => ({
  detSeq,
  conn,
  actual,
  logged,
  message:
    `replay diverged at determinant ${detSeq}${conn === null ? '' : ` on conn ${conn}`}: ` +
    `${actual}; the log has ${logged}` +
    (conn === null
      ? '; the application is stopped'
      : '; that connection is stopped, the others go on'),
});

function concat(parts: readonly Uint8Array[], len: number): Uint8Array {
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
