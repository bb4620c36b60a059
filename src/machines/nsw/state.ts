// The NSW core's data (spec/nsw.md): sockets and connections, the delivery inbox, timers, the
// determinant log, the output gate, and the effects waiting for the runtime; plus the small
// operations every data path shares (bind a connection, deliver bytes, release output). The
// data paths (./record.ts, ./replay.ts) are free functions over this state; the core
// (./core.ts) owns one and the control statechart. This module imports neither of them.

import type { CloseHow, Determinant, LoggerMessage } from '../../wire/logmsg.ts';
import {
  appendDeterminant,
  type DetLogState,
  type DetRecord,
  describeDet,
  emptyDetLog,
  OutputHasher,
} from './determinants.ts';
import { type OutputAction, OutputGate } from './gate.ts';
import { Inbox } from './inbox.ts';
import type { NswDivergence, NswEvent, NswMode } from './nsw.machine.ts';
import type { KernelView } from './replay.ts';

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
  /** fenced (R4.7) or unprotected (R13.9): stop the logger link */
  | { readonly kind: 'closeLink' }
  /** R13.9: protection given up for this incarnation (timeline event `unprotected`, log line) */
  | { readonly kind: 'unprotected'; readonly reason: string; readonly released: number }
  | { readonly kind: 'pauseSock' | 'resumeSock'; readonly sock: number }
  | { readonly kind: 'pauseInput' | 'resumeInput' }
  /** R13.4: send these frames on the logger link (a checkpoint, or CheckpointRefused) */
  | { readonly kind: 'checkpoint'; readonly frames: readonly LoggerMessage[] }
  /**
   * R13.6: a restored connection (no socket yet): the runtime makes the application's socket
   * for it, with the socket id `sock` the core gave it (negative: never a runtime id)
   */
  | {
      readonly kind: 'restored';
      readonly conn: number;
      readonly sock: number;
      readonly clientAddr: number;
      readonly clientPort: number;
      readonly eof: boolean;
      readonly closed: CloseHow | null;
    }
  /** R13.6: a restored connection has its kernel socket (or ghost) again */
  | { readonly kind: 'adopted'; readonly conn: number; readonly sock: number }
  /** R13.1: this connection's tail copies grew: call `outputAcked` with its unacknowledged bytes */
  | { readonly kind: 'tailOver'; readonly conn: number }
  /** R13.6: re-arm a restored timer with the time it had left */
  | { readonly kind: 'rearm'; readonly timerId: number; readonly ms: number }
  /**
   * R13.10: the connection (null: a ghost the log never accepted) is finished for good: forget
   * its socket `sock` and everything kept for `conn`; the core never names either again
   */
  | { readonly kind: 'forget'; readonly conn: number | null; readonly sock: number };

export interface NswLimits {
  /** output held for output commit before client input is paused (R4.6) */
  readonly maxHeldBytes: number;
  /** bytes buffered from one kernel socket before reading it is paused */
  readonly maxBufferedPerSock: number;
}

export const DEFAULT_NSW_LIMITS: NswLimits = { maxHeldBytes: 8 << 20, maxBufferedPerSock: 4 << 20 };

/** The runtime called the core in a way the API forbids (unknown conn or socket, wrong mode). */
export class NswUsageError extends Error {
  override readonly name = 'NswUsageError';
}

/** A kernel connection (or a ghost: a connection closed before the failure, R11.3). */
export interface Sock {
  readonly id: number;
  readonly clientAddr: number;
  readonly clientPort: number;
  ghost: boolean;
  /**
   * R13.6: a restored connection waiting for its kernel socket (or ghost); its released output
   * waits in `deferred` until then
   */
  awaiting: boolean;
  deferred: OutputAction[];
  conn: number | null;
  chunks: Uint8Array[];
  /** bytes of chunks[0] already delivered */
  off: number;
  buffered: number;
  eof: boolean;
  eofDelivered: boolean;
  paused: boolean;
}

/** An application connection: a socket handed to the application by an `accept`. */
export interface Conn {
  readonly conn: number;
  readonly sock: Sock;
  readonly hasher: OutputHasher;
  closed: boolean;
  /** R13.1: the application's close, once made */
  closeHow: CloseHow | null;
  /**
   * R13.10: the determinant number of that close (-1: none yet, or stored before the restored
   * checkpoint); the connection is forgotten only once it is stored
   */
  closeDet: number;
  /** R13.1: client bytes delivered to the application */
  readOffset: number;
  /** R13.1: the logger said ConnDone (nothing of it is owed to the client any more) */
  done: boolean;
  /** R13.1: output bytes released to the kernel socket (offset in the output stream) */
  released: number;
  /** R13.1: copies of released bytes from `tailFrom` (kept only while checkpoints are on) */
  tail: Uint8Array[];
  tailFrom: number;
  /** R13.1: tail bytes above which the runtime is asked what the client acknowledged */
  trimAbove: number;
  /** R12.1: its output left the log; nothing more is released on it */
  stopped: boolean;
}

export type { InboxItem } from './inbox.ts';

export interface NswState {
  readonly limits: NswLimits;
  /** the fetched log (replay); empty when recording */
  log: readonly Determinant[];
  /** replay position: determinants of `log` consumed so far */
  pos: number;
  detLog: DetLogState;
  /** every determinant below this is stored at the logger */
  stable: number;
  /** determinants sent and not yet acknowledged, oldest first (R3.5) */
  unacked: DetRecord[];
  readonly gate: OutputGate;
  readonly socks: Map<number, Sock>;
  readonly conns: Map<number, Conn>;
  nextConn: number;
  readonly inbox: Inbox;
  readonly timers: Map<number, TimerState>;
  nextTimer: number;
  /** effects for the runtime, in order; taken by `drain` */
  out: NswEffect[];
  /** what the replay sees of the kernel (./replay.ts) */
  readonly view: KernelView;
  /** whether released output may reach the kernel (false once fenced, R4.7) */
  releasing: boolean;
  /** R13.9: false once unprotected: nothing is logged and output is never held */
  logging: boolean;
  /** the statechart's input region is `paused` (R4.6) */
  inputPaused: boolean;
  /** hands a control event to the statechart (the data path's only way to change mode) */
  readonly control: (e: NswEvent) => void;
  /** determinant number of `log[0]` (R13.6: the checkpoint's `D`; 0 without one) */
  logBase: number;
  /** the last value `now()` returned (R13.1) */
  lastClock: number;
  /** R13.6: the clock never goes back below the restored checkpoint's last value */
  clockFloor: number;
  /** R13.1: keep released output (the application can snapshot, checkpoints are on) */
  keepTails: boolean;
  /** R13.3: client bytes delivered + determinant bytes logged since the last checkpoint */
  bytesSinceCheckpoint: number;
  /**
   * R13.3: connections the logger said are done (ConnDone) since the last checkpoint. Their
   * records go from the log only with a checkpoint that no longer lists them (spec/logger.md
   * R14.5 c), so they make a timed checkpoint due even when no byte moved.
   */
  doneSinceCheckpoint: number;
  readonly ckpt: CheckpointState;
  /**
   * R13.10: connections closed by the application whose close determinant was not stored yet,
   * in close order (so in determinant order): `detStored` looks at the front only
   */
  closing: Conn[];
  /** R13.10: connections forgotten for good (a count, for stats and tests) */
  forgotten: number;
}

/** R13.3: the schedule (NSW flags `--checkpoint-every-bytes`, `--checkpoint-every-ms`). */
export interface CheckpointSchedule {
  readonly everyBytes: number;
  readonly everyMs: number;
}

export const DEFAULT_CHECKPOINT_SCHEDULE: CheckpointSchedule = {
  everyBytes: 64 << 20,
  everyMs: 60_000,
};

/** R13.3: the flags' bounds (validated like every daemon flag). */
export const CHECKPOINT_EVERY_BYTES_RANGE = [1 << 10, 2 ** 40] as const;
export const CHECKPOINT_EVERY_MS_RANGE = [100, 86_400_000] as const;

/** The checkpoint bookkeeping of one NSW (R13.2-R13.4). */
export interface CheckpointState {
  /** the application gave snapshot() and restore() (R13.5, R13.8) */
  enabled: boolean;
  schedule: CheckpointSchedule;
  nextId: number;
  /** sent, not yet CheckpointStored / CheckpointRejected (R13.2: one at a time) */
  inFlight: { readonly ckptId: number; readonly detSeq: number } | null;
  /** the latest stored one */
  stored: { readonly ckptId: number; readonly detSeq: number } | null;
  /** CheckpointWanted arrived (R13.3: take one at the next quiescent point) */
  wanted: boolean;
  /** live clock of the last checkpoint taken (or of enabling) */
  lastAtMs: number;
  /** R13.2: restored connections still without their kernel socket or ghost */
  awaiting: number;
}

export const newCheckpointState = (): CheckpointState => ({
  enabled: false,
  schedule: DEFAULT_CHECKPOINT_SCHEDULE,
  nextId: 1,
  inFlight: null,
  stored: null,
  wanted: false,
  lastAtMs: 0,
  awaiting: 0,
});

/** An armed timer (R13.1: a checkpoint carries its interval and the time it has left). */
export interface TimerState {
  readonly repeat: boolean;
  readonly ms: number;
  /** live clock (ms) of its next expiry */
  dueAt: number;
}

export function newState(limits: NswLimits, control: (e: NswEvent) => void): NswState {
  const s: NswState = {
    limits,
    log: [],
    pos: 0,
    detLog: emptyDetLog,
    stable: 0,
    unacked: [],
    gate: new OutputGate(),
    socks: new Map(),
    conns: new Map(),
    nextConn: 0,
    inbox: new Inbox(),
    timers: new Map(),
    nextTimer: 0,
    out: [],
    view: undefined as unknown as KernelView,
    releasing: true,
    logging: true,
    inputPaused: false,
    control,
    logBase: 0,
    lastClock: 0,
    clockFloor: 0,
    keepTails: false,
    bytesSinceCheckpoint: 0,
    doneSinceCheckpoint: 0,
    ckpt: newCheckpointState(),
    closing: [],
    forgotten: 0,
  };
  (s as { view: KernelView }).view = kernelView(s);
  return s;
}

/** A recovering incarnation's log (FetchLog 'nsw'), before anything is delivered. */
export function loadLog(s: NswState, log: readonly Determinant[], base = 0): void {
  if (s.detLog.detSeq !== base || s.socks.size !== s.conns.size)
    throw new NswUsageError('the log is loaded before any determinant or socket');
  s.log = log;
  s.pos = 0;
  s.logBase = base;
  // Everything in a fetched log is stored at the logger by definition; new determinants
  // continue the numbering after it (R3.4; after the checkpoint's D and the suffix, R13.6).
  s.detLog = { detSeq: base + log.length, gateDet: base + log.length };
  s.stable = base + log.length;
}

/**
 * One view for the life of the state: replay consults it once per step, and building its
 * closures per step was a measurable share of the replay's CPU (thousands of steps).
 */
function kernelView(s: NswState): KernelView {
  const unmatched = (sock: number): boolean => s.socks.get(sock)?.conn === null;
  return {
    get nextConn(): number {
      return s.nextConn;
    },
    // The oldest unmatched one: a ghost (closed before the failure) precedes a live
    // connection that reuses its port, as it did in the first run.
    pendingAccept: (addr, port) => s.inbox.oldestAccept(addr, port, unmatched),
    sockOf: (conn) => s.conns.get(conn)?.sock.id,
    buffered: (sock) => s.socks.get(sock)?.buffered ?? 0,
    eof: (sock) => s.socks.get(sock)?.eof ?? false,
    timerArmed: (id) => s.timers.has(id),
  };
}

export function sockOrThrow(s: NswState, sock: number): Sock {
  const k = s.socks.get(sock);
  if (k === undefined) throw new NswUsageError(`unknown socket ${sock}`);
  return k;
}

export function connOrThrow(s: NswState, conn: number): Conn {
  const c = s.conns.get(conn);
  if (c === undefined) throw new NswUsageError(`unknown conn ${conn}`);
  return c;
}

/** R3.1: appends a determinant and sends it (the `log` effect); kept until acknowledged. */
export function append(s: NswState, det: Determinant): void {
  const { state, record } = appendDeterminant(s.detLog, det);
  s.detLog = state;
  // R13.9: unprotected, the numbering goes on (nothing reads it) but nothing is sent or kept.
  if (!s.logging) return;
  s.bytesSinceCheckpoint += DET_COST + (det.kind === 'random' ? det.bytes.length : 0);
  s.unacked.push(record);
  s.out.push({ kind: 'log', record });
}

/**
 * R13.1: a connection's tail copies past this many bytes make the core ask the runtime what
 * the client has acknowledged (`tailOver`), so that between two checkpoints the copies stay
 * near what the client has not acknowledged rather than a whole checkpoint interval.
 */
export const TAIL_TRIM_BYTES = 4 << 20;

/** R13.3: what one determinant counts towards `checkpointEveryBytes` (about its frame size). */
export const DET_COST = 24;

/** A fresh application connection on socket `k` (R13.1 fields from the start of its streams). */
export function newConn(conn: number, k: Sock, hasher = new OutputHasher()): Conn {
  return {
    conn,
    sock: k,
    hasher,
    closed: false,
    stopped: false,
    closeHow: null,
    closeDet: -1,
    readOffset: 0,
    done: false,
    released: hasher.offset,
    tail: [],
    tailFrom: hasher.offset,
    trimAbove: TAIL_TRIM_BYTES,
  };
}

/** Hands socket `k` to the application as connection `conn` (an `accept` delivery). */
export function bind(s: NswState, k: Sock, conn: number): void {
  k.conn = conn;
  s.nextConn = conn + 1;
  s.conns.set(conn, newConn(conn, k));
  s.out.push({
    kind: 'accept',
    conn,
    sock: k.id,
    clientAddr: k.clientAddr,
    clientPort: k.clientPort,
    ghost: k.ghost,
  });
}

/** Delivers exactly `len` buffered bytes of `k` (R11.1: as logged, however the kernel cut them). */
export function deliverBytes(s: NswState, k: Sock, conn: number, len: number): void {
  const parts: Uint8Array[] = [];
  let need = len;
  while (need > 0) {
    const head = k.chunks[0]!;
    const take = Math.min(need, head.length - k.off);
    parts.push(head.subarray(k.off, k.off + take));
    k.off += take;
    need -= take;
    if (k.off === head.length) {
      k.chunks.shift();
      k.off = 0;
    }
  }
  k.buffered -= len;
  const c = s.conns.get(conn);
  if (c !== undefined) c.readOffset += len;
  s.bytesSinceCheckpoint += len;
  const bytes = parts.length === 1 ? parts[0]! : concat(parts, len);
  if (k.paused && k.buffered <= s.limits.maxBufferedPerSock) {
    k.paused = false;
    s.out.push({ kind: 'resumeSock', sock: k.id });
  }
  s.out.push({ kind: 'data', conn, bytes });
  // R13.10: a destroyed connection's last buffered input is delivered.
  if (c?.closed === true && k.buffered === 0) forgetIfFinished(s, c);
}

export function deliverEof(s: NswState, k: Sock, conn: number): void {
  k.eofDelivered = true;
  s.out.push({ kind: 'eof', conn });
  const c = s.conns.get(conn);
  if (c !== undefined) forgetIfFinished(s, c);
}

export function fire(s: NswState, timerId: number): void {
  const t = s.timers.get(timerId);
  if (t !== undefined && !t.repeat) s.timers.delete(timerId);
  else if (t !== undefined) t.dueAt += t.ms;
  s.out.push({ kind: 'fire', timerId });
}

/** R4: the action may reach the kernel socket (never a ghost's, a stopped one's, or fenced). */
export function emitRelease(s: NswState, conn: number, action: OutputAction): void {
  const c = s.conns.get(conn);
  if (c === undefined || c.stopped || !s.releasing) return;
  if (c.sock.awaiting) {
    // R13.6: the tail goes first, once the connection is back; this waits behind it.
    c.sock.deferred.push(action);
    return;
  }
  if (action.kind === 'write') {
    c.released += action.bytes.length;
    // R13.1: the copy a checkpoint's output tail is cut from (the client may not have it yet).
    if (s.keepTails) {
      c.tail.push(action.bytes);
      if (c.released - c.tailFrom > c.trimAbove) {
        // Asked once per doubling: a client that acknowledges nothing costs O(log) asks.
        c.trimAbove = 2 * (c.released - c.tailFrom);
        s.out.push({ kind: 'tailOver', conn });
      }
    } else c.tailFrom = c.released;
  }
  if (c.sock.ghost) return;
  s.out.push({ kind: 'release', conn, sock: c.sock.id, action });
}

/**
 * R13.9 (the machine's `liftGate`): everything held goes now, in the order it was made, and
 * nothing is logged or held from here on. Returns the bytes released.
 */
export function liftGate(s: NswState): number {
  s.logging = false;
  s.unacked = [];
  const before = s.gate.heldBytes;
  for (const o of s.gate.release(Number.POSITIVE_INFINITY)) emitRelease(s, o.conn, o.action);
  return before - s.gate.heldBytes;
}

/** R4.6: tells the statechart when held output crosses its limit (either way). */
export function checkHeld(s: NswState): void {
  const over = s.gate.heldBytes > s.limits.maxHeldBytes;
  if (over !== s.inputPaused) s.control({ type: over ? 'HELD_OVER_LIMIT' : 'HELD_UNDER_LIMIT' });
}

export const divergence = (
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

export const describeLogged = (d: Determinant | undefined): string =>
  d === undefined ? 'nothing more' : describeDet(d);

function concat(parts: readonly Uint8Array[], len: number): Uint8Array {
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** R12.1: adds a write to the connection's running hash; the copy to hold and its determinant. */
export function hashWrite(
  c: Conn,
  bytes: Uint8Array,
): { data: Uint8Array; det: Extract<Determinant, { kind: 'outputHash' }> } {
  // Copied: the application may reuse its buffer while the write is held.
  const data = bytes.slice();
  const hash = c.hasher.update(data);
  return { data, det: { kind: 'outputHash', conn: c.conn, offset: c.hasher.offset, hash } };
}

/** R12.1 (the machine's `stopConnection`): drop its held output, release nothing more on it. */
export function stopConn(s: NswState, conn: number, error: NswDivergence): void {
  const c = s.conns.get(conn);
  if (c === undefined || c.stopped) return;
  c.stopped = true;
  s.gate.dropConn(conn);
  s.out.push({ kind: 'stop', conn, error });
}

// ---------------------------------------------------------------------------------------------
// R13.10: a finished connection is forgotten

/**
 * R13.10: the application closed `c` at determinant `closeDet` (appended or, in replay, met).
 * Forgotten at once if that finishes it, else when what it waits for comes.
 */
export function closedByApp(s: NswState, c: Conn, how: CloseHow, closeDet: number): void {
  c.closed = true;
  c.closeHow = how;
  c.closeDet = closeDet;
  if (s.logging && closeDet >= s.stable) s.closing.push(c);
  else forgetIfFinished(s, c);
}

/** R13.10: `detStored` moved `stable`: closes now stored may finish their connections. */
export function closesStored(s: NswState): void {
  let i = 0;
  while (i < s.closing.length && (s.closing[i]?.closeDet ?? s.stable) < s.stable) i++;
  if (i === 0) return;
  for (const c of s.closing.splice(0, i)) forgetIfFinished(s, c);
}

/**
 * R13.10: whether nothing can need `c` any more: the application closed it and that close is
 * stored (so its FIN or RST left the gate), no input of it will be delivered (its end of
 * stream was; or the application destroyed it and nothing of it is buffered), no checkpoint
 * will list it (the logger said ConnDone; a ghost is a record the logger closed already; or
 * there are no checkpoints), a restored one has its socket again, and the replay is over (the
 * rest of the log may still name it). A stopped connection (R12.1) is kept: it diverged, and
 * its kernel socket stays as it is.
 */
function finished(s: NswState, c: Conn): boolean {
  const k = c.sock;
  if (!c.closed || c.stopped || k.awaiting || s.pos < s.log.length) return false;
  const unlogged = !s.logging;
  if (!unlogged && c.closeDet >= s.stable) return false;
  return inputOver(c) && (c.done || k.ghost || !s.ckpt.enabled || unlogged);
}

/**
 * R13.10: no input of `c` will be delivered any more (so no `read` or `eof` determinant will
 * name it): its end of stream was delivered, or the application destroyed it and nothing of
 * it is buffered (the runtime destroyed the kernel socket with the RST).
 */
export function inputOver(c: Conn): boolean {
  const k = c.sock;
  return k.eofDelivered || (c.closeHow === 'destroy' && k.buffered === 0 && !k.eof);
}

/** R13.10: drops `c` and its socket from every table, and tells the runtime (`forget`). */
export function forgetIfFinished(s: NswState, c: Conn): void {
  if (!finished(s, c) || s.conns.get(c.conn) !== c) return;
  s.conns.delete(c.conn);
  s.socks.delete(c.sock.id);
  s.forgotten++;
  // R13.3: it left the checkpoint's table, which only a new checkpoint tells the logger.
  if (s.ckpt.enabled) s.doneSinceCheckpoint++;
  s.out.push({ kind: 'forget', conn: c.conn, sock: c.sock.id });
}

/**
 * R13.10 at the end of a replay (or once unprotected): every connection the log held back is
 * looked at once, and the ghosts the log never accepted (never offered live, R11.3) go.
 */
export function forgetAllFinished(s: NswState): void {
  for (const c of [...s.conns.values()]) forgetIfFinished(s, c);
  s.closing = s.closing.filter((c) => s.conns.get(c.conn) === c);
  if (s.pos < s.log.length) return;
  for (const k of [...s.socks.values()]) {
    if (k.ghost && k.conn === null) {
      s.socks.delete(k.id);
      s.out.push({ kind: 'forget', conn: null, sock: k.id });
    }
  }
}

/**
 * The per-event work of one mode (spec/nsw.md): the functions NswCore calls for every
 * delivery and every call of the application, chosen once per mode change, never per event.
 */
export interface DataPath {
  /**
   * What kernel input does: `queued` for delivery in arrival order (recording, live),
   * `buffered` until the log asks for it (replaying; diverged delivers nothing), `refused`
   * before the mode is known.
   */
  readonly input: 'queued' | 'buffered' | 'refused';
  /** R3.3: at most one delivery. */
  next(s: NswState): void;
  /**
   * R3.2 / R11.4: a determinant the application causes (`make` builds it when recording; in
   * replay the next logged one must be of `kind` and pass `same`). The one in force, or
   * undefined when the run has diverged.
   */
  pulled(
    s: NswState,
    kind: Determinant['kind'],
    what: string,
    make: () => Determinant,
    same: (logged: Determinant) => boolean,
  ): Determinant | undefined;
  /** R4.1 / R12.1: the application wrote `bytes` on `c` (not closed, not empty). */
  write(s: NswState, c: Conn, bytes: Uint8Array): void;
  /** R4.3 / R12.1: the application ended or destroyed `c` (not closed yet). */
  close(s: NswState, c: Conn, how: 'end' | 'destroy'): void;
}
