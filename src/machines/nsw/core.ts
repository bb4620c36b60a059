// NswCore: the NSW's protocol logic as one I/O-free object (spec/nsw.md). The runtime's
// node:net-shaped library (src/runtime/nsw) owns the sockets, the timers and the logger link;
// it tells the core what happened and performs the effects the core returns.
//
// Control and data path, as in the SSW and the logger: the core owns an actor of the control
// statechart (./nsw.machine.ts), which decides the mode (starting, recording, replaying, live,
// diverged), the logger link's state (down, up, fenced) and whether input is paused. Every
// per-event call (a delivery, a write, a DetStored, a clock read) runs a plain function of the
// data path the mode selects (./recordPath.ts, ./replayPath.ts) over the core's state
// (./state.ts), with no actor message; the data path hands the statechart the few events that
// change the mode (LOG_EXHAUSTED, CONN_DIVERGED, APP_DIVERGED, HELD_OVER_LIMIT, ...).
//
// USAGE
//   const core = new NswCore({ mode: 'recording' });               // or
//   const core = new NswCore({ mode: 'replaying', log: dets });    // dets from FetchLog 'nsw'
//   const core = new NswCore({}); ...; core.record() | core.replay(dets)   // decided later
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
//                     core.linkUp() / core.linkDown() / core.fence()  -> effects
//   Protection lost:  core.unprotect(reason) -> effects (R13.9: held output released)
//   Replay liveness:  core.appStalled() when the application is idle but `core.waiting` says
//                     the log waits for a call of the application: that is divergence.
// Every method that returns effects also drains the internal outbox; `drain()` returns what
// `now`/`random` queued. Perform effects in order:
//   log      send LogDeterminant { detSeq, det } (again after a reconnect, R3.5)
//   accept   create the application socket for `conn` and emit 'connection'
//   data/eof emit 'data' / 'end' on the application socket of `conn`
//   fire     run the timer's callback
//   release  perform the output action on the kernel socket `sock` (never for ghosts)
//   stop     divergence: `conn` (or, if null, the whole application) must not produce output
//            again; surface `error.message` to the operator
//   mode     the core changed mode (replaying -> live, -> diverged)
//   closeLink  fenced (R4.7) or unprotected (R13.9): stop the logger link
//   unprotected  R13.9: protection given up (timeline event, log line); output flows unlogged
//   pauseSock/resumeSock, pauseInput/resumeInput   stop/restart reading kernel sockets

import { match } from 'ts-pattern';
import { type Actor, createActor, type InspectionEvent } from 'xstate';
import type { CloseHow, Determinant, LoggerMessage } from '../../wire/logmsg.ts';
import type { Result } from '../../wire/result.ts';
import {
  adopt,
  type CheckpointSchedule,
  checkpointAnswered,
  checkpointDue,
  type FetchedCheckpoint,
  restoreCheckpoint,
  restoredSockFor,
  takeCheckpoint,
  trimTail,
} from './checkpoint.ts';
import { modeOf, type NswEvent, type NswMode, nswMachine } from './nsw.machine.ts';
import { RECORD_PATH } from './recordPath.ts';
import { nextReplayStep, type ReplayStep } from './replay.ts';
import { REPLAY_PATH, takeRestAsLiveInput } from './replayPath.ts';
import {
  type Conn,
  checkHeld,
  closesStored,
  connOrThrow,
  type DataPath,
  DEFAULT_NSW_LIMITS,
  describeLogged,
  divergence,
  emitRelease,
  forgetAllFinished,
  forgetIfFinished,
  liftGate,
  loadLog,
  type NswEffect,
  type NswLimits,
  type NswState,
  NswUsageError,
  newState,
  sockOrThrow,
  stopConn,
  TAIL_TRIM_BYTES,
} from './state.ts';

/** R13.10: the sizes of the core's tables (`NswCore.sizes`). */
export interface NswSizes {
  readonly socks: number;
  readonly conns: number;
  /** closed connections whose close determinant is not stored yet */
  readonly closing: number;
  readonly inbox: number;
  /** the inbox's index of accepts by client (R11.2) */
  readonly inboxAccepts: number;
  readonly gate: number;
  readonly unacked: number;
  readonly forgotten: number;
}

export type NswCoreOptions = {
  readonly limits?: Partial<NswLimits>;
  /** observes the control statechart (tests count its events) */
  readonly inspect?: (e: InspectionEvent) => void;
} & (
  | { readonly mode?: undefined }
  | { readonly mode: 'recording' }
  | { readonly mode: 'replaying'; readonly log: readonly Determinant[] }
);

const refused = (what: string): never => {
  throw new NswUsageError(`${what} before the mode is known (record() or replay())`);
};

/** `starting`: the runtime has not said yet whether there is a log. */
const STARTING_PATH: DataPath = {
  input: 'refused',
  next: () => {},
  pulled: () => refused('a call of the application'),
  write: () => refused('a write'),
  close: () => refused('a close'),
};

/** `diverged` (R12.2): nothing more is delivered, logged, met or released. */
const DIVERGED_PATH: DataPath = {
  input: 'buffered',
  next: () => {},
  pulled: () => undefined,
  write: () => {},
  close: () => {},
};

/** The data path of each mode: chosen on a mode change, never per event. */
export const dataPathOf = (mode: NswMode): DataPath =>
  match(mode)
    .with('starting', () => STARTING_PATH)
    .with('recording', 'live', () => RECORD_PATH)
    .with('replaying', () => REPLAY_PATH)
    .with('diverged', () => DIVERGED_PATH)
    .exhaustive();

/** The events the data path sends: each must be one the statechart takes where it is. */
const MUST_BE_TAKEN: ReadonlySet<NswEvent['type']> = new Set([
  'LOG_EXHAUSTED',
  'CONN_DIVERGED',
  'APP_DIVERGED',
  'HELD_OVER_LIMIT',
  'HELD_UNDER_LIMIT',
]);

export class NswCore {
  readonly limits: NswLimits;
  private readonly s: NswState;
  private readonly actor: Actor<typeof nswMachine>;
  private modeNow: NswMode = 'starting';
  private path: DataPath = STARTING_PATH;
  private unprotectedReason = '';

  constructor(opts: NswCoreOptions = {}) {
    this.limits = { ...DEFAULT_NSW_LIMITS, ...opts.limits };
    this.s = newState(this.limits, (e) => this.control(e));
    const s = this.s;
    this.actor = createActor(
      nswMachine.provide({
        actions: {
          takeRestAsLiveInput: () => takeRestAsLiveInput(s),
          announceLive: () => {
            s.out.push({ kind: 'mode', mode: 'live' });
            // R13.10: what the log held back may go now.
            forgetAllFinished(s);
          },
          stopConnection: (_, p) => stopConn(s, p.conn, p.error),
          stopApplication: (_, p) => {
            s.out.push({ kind: 'stop', conn: null, error: p.error });
            s.out.push({ kind: 'mode', mode: 'diverged' });
          },
          resendUnacknowledged: () => {
            for (const record of s.unacked) s.out.push({ kind: 'log', record });
          },
          releaseNothingMore: () => s.out.push({ kind: 'closeLink' }),
          announceUnprotected: (_, p) => {
            this.unprotectedReason = p.reason;
          },
          liftGate: () => {
            const released = liftGate(s);
            s.out.push({ kind: 'closeLink' });
            s.out.push({ kind: 'unprotected', reason: this.unprotectedReason, released });
          },
          pauseInput: () => s.out.push({ kind: 'pauseInput' }),
          resumeInput: () => s.out.push({ kind: 'resumeInput' }),
        },
      }),
      opts.inspect === undefined ? {} : { inspect: opts.inspect },
    );
    this.actor.start();
    if (opts.mode === 'recording') this.record();
    else if (opts.mode === 'replaying') this.replay(opts.log);
  }

  /** First incarnation: no log; record from determinant 0. */
  record(): NswEffect[] {
    if (this.modeNow !== 'starting') throw new NswUsageError(`record() in ${this.modeNow}`);
    this.send({ type: 'RECORD' });
    return this.drain();
  }

  /** A recovering incarnation: replay `log` (FetchLog 'nsw'); an empty one goes live at once. */
  replay(log: readonly Determinant[]): NswEffect[] {
    if (this.modeNow !== 'starting') throw new NswUsageError(`replay() in ${this.modeNow}`);
    loadLog(this.s, log);
    this.send({ type: 'LOG_FETCHED', logLength: log.length });
    return this.drain();
  }

  get mode(): NswMode {
    return this.modeNow;
  }
  /** next determinant number (in replay: the log length; new ones continue from there) */
  get detSeq(): number {
    return this.s.detLog.detSeq;
  }
  get stableDet(): number {
    return this.s.stable;
  }
  get heldBytes(): number {
    return this.s.gate.heldBytes;
  }
  /** R4.7: a newer incarnation owns the service; nothing is released any more */
  get fenced(): boolean {
    return !this.s.releasing;
  }
  /** replay position (determinants of the fetched log consumed) */
  get replayPosition(): number {
    return this.s.pos;
  }
  /** kernel events queued for delivery in recording/live (an upper bound: some may turn out
   * to need no delivery), so that the runtime schedules that many at once */
  get pendingInput(): number {
    return this.s.inbox.length;
  }
  /** in replay: what the next logged determinant waits for, for diagnostics */
  get waiting(): ReplayStep | null {
    return this.modeNow === 'replaying'
      ? nextReplayStep(this.s.log[this.s.pos], this.s.view)
      : null;
  }

  // --- kernel -> core ----------------------------------------------------------------------

  kernelAccept(sock: number, clientAddr: number, clientPort: number, ghost = false): NswEffect[] {
    if (this.path.input === 'refused') refused(`kernel connection ${sock}`);
    const restored = this.s.socks.get(sock);
    if (restored?.awaiting === true) {
      // R13.6: a connection of the restored checkpoint is back; never offered as a new one.
      adopt(this.s, restored, ghost, emitRelease);
      return this.drain();
    }
    if (restored !== undefined) throw new NswUsageError(`socket ${sock} accepted twice`);
    this.s.socks.set(sock, {
      id: sock,
      clientAddr,
      clientPort,
      ghost,
      awaiting: false,
      deferred: [],
      conn: null,
      chunks: [],
      off: 0,
      buffered: 0,
      eof: false,
      eofDelivered: false,
      paused: false,
    });
    // Also in replay: the replay matches logged accepts against these (R11.2).
    this.s.inbox.pushAccept(sock, clientAddr, clientPort);
    return this.drain();
  }

  kernelData(sock: number, bytes: Uint8Array): NswEffect[] {
    const k = sockOrThrow(this.s, sock);
    if (bytes.length === 0 || k.eof) return this.drain();
    k.chunks.push(bytes);
    k.buffered += bytes.length;
    // In replay the log, not arrival order, drives delivery; leftovers are queued when live.
    if (this.path.input === 'queued') this.s.inbox.push({ kind: 'data', sock });
    if (!k.paused && k.buffered > this.limits.maxBufferedPerSock) {
      k.paused = true;
      this.s.out.push({ kind: 'pauseSock', sock });
    }
    return this.drain();
  }

  kernelEof(sock: number): NswEffect[] {
    const k = sockOrThrow(this.s, sock);
    if (!k.eof) {
      k.eof = true;
      if (this.path.input === 'queued') this.s.inbox.push({ kind: 'eof', sock });
    }
    return this.drain();
  }

  timerExpired(timerId: number): NswEffect[] {
    if (this.s.timers.has(timerId)) this.s.inbox.push({ kind: 'timer', timerId });
    return this.drain();
  }

  /** At most one delivery: call again while it returns one (see the header). */
  next(): NswEffect[] {
    this.path.next(this.s);
    return this.drain();
  }

  // --- application -> core -----------------------------------------------------------------

  /** `ms` and `nowMs` (the live clock) let a checkpoint carry the time it has left (R13.1). */
  armTimer(repeat = false, ms = 0, nowMs = 0): number {
    const id = this.s.nextTimer++;
    this.s.timers.set(id, { repeat, ms, dueAt: nowMs + ms });
    return id;
  }

  cancelTimer(timerId: number): void {
    this.s.timers.delete(timerId);
  }

  now(liveMs: number): number {
    const d = this.path.pulled(
      this.s,
      'clock',
      'the application read the clock',
      // R13.6: never below the last value before the restored checkpoint.
      () => ({ kind: 'clock', value: Math.max(liveMs, this.s.clockFloor) }),
      (l) => l.kind === 'clock',
    );
    const v = d?.kind === 'clock' ? d.value : liveMs;
    this.s.lastClock = v;
    return v;
  }

  random(liveBytes: Uint8Array): Uint8Array {
    const d = this.path.pulled(
      this.s,
      'random',
      `the application drew ${liveBytes.length} random bytes`,
      () => ({ kind: 'random', bytes: liveBytes.slice() }),
      (l) => l.kind === 'random' && l.bytes.length === liveBytes.length,
    );
    return d?.kind === 'random' ? d.bytes.slice() : liveBytes;
  }

  write(conn: number, bytes: Uint8Array): NswEffect[] {
    const c = this.heldConn(conn);
    if (c !== undefined && bytes.length > 0 && !c.closed) this.path.write(this.s, c, bytes);
    return this.drain();
  }

  close(conn: number, how: CloseHow): NswEffect[] {
    const c = this.heldConn(conn);
    if (c !== undefined && !c.closed) this.path.close(this.s, c, how);
    return this.drain();
  }

  /**
   * The connection, or undefined for one forgotten (R13.10: closed for good, so a write or a
   * close on it now changes nothing, as on any closed one); a number never accepted throws.
   */
  private heldConn(conn: number): Conn | undefined {
    const c = this.s.conns.get(conn);
    if (c === undefined && Number.isInteger(conn) && conn >= 0 && conn < this.s.nextConn)
      return undefined;
    return c ?? connOrThrow(this.s, conn);
  }

  // --- logger -> core ----------------------------------------------------------------------

  detStored(stableDet: number): NswEffect[] {
    const s = this.s;
    let i = 0;
    while (i < s.unacked.length && s.unacked[i]!.detSeq < stableDet) i++;
    if (i > 0) s.unacked.splice(0, i);
    // An ack beyond what was appended is a confused logger (or a log from another run): it
    // proves nothing about our determinants, so it releases nothing. Fenced: nothing either.
    if (s.releasing && stableDet > s.stable && stableDet <= s.detLog.detSeq) {
      s.stable = stableDet;
      for (const o of s.gate.release(stableDet)) emitRelease(s, o.conn, o.action);
      checkHeld(s);
      closesStored(s);
    }
    return this.drain();
  }

  /** The logger link is up (after Hello): what is unacknowledged goes again (R3.5). */
  linkUp(): NswEffect[] {
    return this.sendLink({ type: 'LINK_UP' });
  }

  linkDown(): NswEffect[] {
    // R14.2: the logger discards a checkpoint whose link closes; a new one may be taken.
    this.s.ckpt.inFlight = null;
    return this.sendLink({ type: 'LINK_DOWN' });
  }

  // --- checkpoints (R13) --------------------------------------------------------------------

  /**
   * R13.5, R13.8: the application gave snapshot() and restore(); released output is kept for
   * checkpoint tails from now on. `nowMs`: the live clock the time schedule counts from.
   */
  enableCheckpoints(schedule: CheckpointSchedule, nowMs: number): void {
    const k = this.s.ckpt;
    k.enabled = true;
    k.schedule = schedule;
    k.lastAtMs = nowMs;
    this.s.keepTails = true;
  }

  /**
   * No more checkpoints, and no more tail copies: an unprotected NSW (R13.9, `unprotect`)
   * takes none. A checkpoint in flight is forgotten.
   */
  disableCheckpoints(): void {
    const k = this.s.ckpt;
    k.enabled = false;
    k.wanted = false;
    k.inFlight = null;
    this.s.keepTails = false;
    for (const c of this.s.conns.values()) {
      c.tail = [];
      c.tailFrom = c.released;
    }
    // R13.10: no checkpoint will list a finished connection any more.
    forgetAllFinished(this.s);
  }

  get checkpointsEnabled(): boolean {
    return this.s.ckpt.enabled;
  }

  /** R13.2, R13.3: call at a quiescent point (the application idle between deliveries). */
  checkpointDue(nowMs: number): boolean {
    const m = this.modeNow;
    return (m === 'recording' || m === 'live') && checkpointDue(this.s, nowMs);
  }

  /** The latest stored checkpoint (R13.4), and whether one is in flight. */
  get checkpoints(): {
    readonly stored: { readonly ckptId: number; readonly detSeq: number } | null;
    readonly inFlight: boolean;
  } {
    return { stored: this.s.ckpt.stored, inFlight: this.s.ckpt.inFlight !== null };
  }

  /**
   * R13.1, R13.4: take a checkpoint now (the caller checked `checkpointDue` at a quiescent
   * point). `snapshot` is the application's; `unacked(conn)` the released bytes its client
   * may not have (SIOCOUTQ plus what the runtime still queues). One `checkpoint` effect.
   */
  takeCheckpoint(
    snapshot: Uint8Array,
    unacked: (conn: number) => number,
    nowMs: number,
  ): NswEffect[] {
    const m = this.modeNow;
    if (m !== 'recording' && m !== 'live') throw new NswUsageError(`a checkpoint in ${m} (R13.2)`);
    const frames = takeCheckpoint(this.s, snapshot, unacked, nowMs);
    this.s.out.push({ kind: 'checkpoint', frames });
    return this.drain();
  }

  /**
   * R13.3: the logger asks for a checkpoint (CheckpointWanted). Taken at the next quiescent
   * point; refused at once when none can be taken (R13.4).
   */
  checkpointWanted(): NswEffect[] {
    const k = this.s.ckpt;
    const refuse = (reason: 'replaying' | 'failed', detail: string): NswEffect[] => {
      const frames: LoggerMessage[] = [{ kind: 'CheckpointRefused', reason, detail }];
      this.s.out.push({ kind: 'checkpoint', frames });
      return this.drain();
    };
    if (!k.enabled) return refuse('failed', 'the application gives no snapshot()');
    if (this.modeNow === 'replaying' || this.modeNow === 'starting')
      return refuse('replaying', 'the NSW is replaying its log');
    if (this.modeNow === 'diverged') return refuse('failed', 'the replay diverged');
    // One in flight answers the request as well (R13.2: never two at a time).
    if (k.inFlight === null) k.wanted = true;
    return this.drain();
  }

  /** R13.4: the application's snapshot() threw: say so to the logger. */
  snapshotFailed(detail: string): NswEffect[] {
    this.s.ckpt.wanted = false;
    const frames: LoggerMessage[] = [{ kind: 'CheckpointRefused', reason: 'failed', detail }];
    this.s.out.push({ kind: 'checkpoint', frames });
    return this.drain();
  }

  /** R13.4: CheckpointStored / CheckpointRejected; whether it named the one in flight. */
  checkpointStored(ckptId: number): boolean {
    return checkpointAnswered(this.s, ckptId, true).known;
  }

  checkpointRejected(ckptId: number): boolean {
    return checkpointAnswered(this.s, ckptId, false).known;
  }

  /**
   * R13.1 (after a `tailOver`): `unacked` released bytes of `conn` its client may not have;
   * the tail copies below them are dropped.
   */
  outputAcked(conn: number, unacked: number): void {
    const c = this.s.conns.get(conn);
    if (c === undefined) return;
    trimTail(c, Math.max(c.tailFrom, c.released - Math.max(0, Math.min(c.released, unacked))));
    c.trimAbove = Math.max(c.trimAbove / 2, 2 * (c.released - c.tailFrom), TAIL_TRIM_BYTES);
  }

  /**
   * R13.1: ConnDone: nothing of `conn` is owed to its client any more. R13.10: if it is
   * finished otherwise too, it is forgotten (a `forget` effect).
   */
  connDone(conn: number): NswEffect[] {
    const c = this.s.conns.get(conn);
    if (c !== undefined && !c.done) {
      c.done = true;
      this.s.doneSinceCheckpoint++;
      forgetIfFinished(this.s, c);
    }
    return this.drain();
  }

  /**
   * R13.10: how many entries each per-connection table holds (a closed connection's go when
   * it is finished for good), and how many connections were forgotten so far.
   */
  sizes(): NswSizes {
    const s = this.s;
    return {
      socks: s.socks.size,
      conns: s.conns.size,
      closing: s.closing.length,
      inbox: s.inbox.length,
      inboxAccepts: s.inbox.acceptsIndexed,
      gate: s.gate.length,
      unacked: s.unacked.length,
      forgotten: s.forgotten,
    };
  }

  /** R13.6: the socket id a new kernel connection (or ghost) from this client must take. */
  restoredSockFor(clientAddr: number, clientPort: number): number | undefined {
    return restoredSockFor(this.s, clientAddr, clientPort);
  }

  /**
   * R13.6: a recovering incarnation whose FetchLog answer starts with a checkpoint: the NSW's
   * state at its `D`, then `log` (the determinants from `D`) replayed as `replay` does. The
   * snapshot for the application's restore(), or why the checkpoint cannot be used.
   */
  replayFrom(
    ck: FetchedCheckpoint,
    log: readonly Determinant[],
    nowMs = 0,
  ): Result<{ readonly snapshot: Uint8Array; readonly effects: NswEffect[] }, string> {
    if (this.modeNow !== 'starting') throw new NswUsageError(`replayFrom() in ${this.modeNow}`);
    const r = restoreCheckpoint(this.s, ck, log, nowMs);
    if (!r.ok) return r;
    this.send({ type: 'LOG_FETCHED', logLength: log.length });
    return { ok: true, value: { snapshot: r.value, effects: this.drain() } };
  }

  /** The logger refused our epoch: fenced for good (R4.7). */
  fence(): NswEffect[] {
    return this.sendLink({ type: 'FENCED' });
  }

  /**
   * R13.9: protection is given up for the rest of this incarnation (the SSW went unprotected,
   * or the logger sent `Unprotected {scope: app}`): held output is released, nothing more is
   * logged or held. Ignored once fenced (a newer incarnation owns the service) or already so.
   */
  unprotect(reason: string): NswEffect[] {
    this.send({ type: 'UNPROTECTED', reason });
    if (!this.s.logging) {
      // An unlogged incarnation has nothing a checkpoint could continue (R13.9: nothing is sent).
      // R13.10: nor a replay: closed connections need no stored close any more.
      this.disableCheckpoints();
      // Outside the statechart's transition: the held bytes fell, which R4.6 may have to tell it.
      checkHeld(this.s);
    }
    return this.drain();
  }

  /** R13.9: protection was given up (unprotect) */
  get unprotected(): boolean {
    return !this.s.logging;
  }

  /** Replay: the application is idle, yet the log waits for a call of it. */
  appStalled(): NswEffect[] {
    const w = this.waiting;
    if (w?.kind === 'awaitApp') {
      this.control({
        type: 'APP_DIVERGED',
        error: divergence(
          this.s.logBase + this.s.pos,
          null,
          'the application went idle',
          describeLogged(w.det),
        ),
      });
    }
    return this.drain();
  }

  drain(): NswEffect[] {
    const o = this.s.out;
    this.s.out = [];
    return o;
  }

  // --- control -----------------------------------------------------------------------------

  /** A control event from the data path: the statechart must take it (an assertion). */
  private control(e: NswEvent): void {
    if (MUST_BE_TAKEN.has(e.type) && !this.actor.getSnapshot().can(e)) {
      throw new Error(`nsw core: ${e.type} in ${JSON.stringify(this.actor.getSnapshot().value)}`);
    }
    this.send(e);
  }

  /** Link events come from the runtime's link, whatever the statechart's state (ignored once fenced). */
  private sendLink(e: NswEvent): NswEffect[] {
    this.send(e);
    return this.drain();
  }

  private send(e: NswEvent): void {
    this.actor.send(e);
    const snap = this.actor.getSnapshot();
    this.modeNow = modeOf(snap.value);
    this.path = dataPathOf(this.modeNow);
    this.s.releasing = !snap.matches({ link: 'fenced' });
    this.s.inputPaused = snap.matches({ input: 'paused' });
  }
}
