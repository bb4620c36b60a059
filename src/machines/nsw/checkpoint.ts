// R13 checkpoints, the NSW's side (spec/nsw.md R13.1-R13.7): what a checkpoint holds, when one
// may be taken, the frames it travels in, and the restore of a recovering incarnation from one.
// Pure functions over the core's state (./state.ts); the application's snapshot comes in as
// bytes, the kernel's unacknowledged output as a number per connection (the runtime reads
// SIOCOUTQ), and time as the live clock. The blob's layout is the NSW's own business (the
// logger never reads it, spec/logger.md R14): its codec is here and never throws.

import {
  type CheckpointConnEntry,
  type CloseHow,
  type Determinant,
  type LoggerMessage,
  MAX_CHECKPOINT_CHUNK,
  type MessageOf,
} from '../../wire/logmsg.ts';
import { err, ok, type Result } from '../../wire/result.ts';
import { OutputHasher } from './determinants.ts';
import type { OutputAction } from './gate.ts';
import {
  type Conn,
  forgetIfFinished,
  inputOver,
  loadLog,
  type NswState,
  NswUsageError,
  newConn,
  type Sock,
} from './state.ts';

export {
  CHECKPOINT_EVERY_BYTES_RANGE,
  CHECKPOINT_EVERY_MS_RANGE,
  type CheckpointSchedule,
  type CheckpointState,
  DEFAULT_CHECKPOINT_SCHEDULE,
} from './state.ts';

// ---------------------------------------------------------------------------------------------
// The blob (R13.1): the application snapshot, the NSW's own state, the output tails

export interface BlobTimer {
  readonly timerId: number;
  readonly repeat: boolean;
  readonly ms: number;
  /** time left until its expiry when the checkpoint was taken */
  readonly remainingMs: number;
}

export interface BlobConn {
  readonly nswConn: number;
  /** R13.7: the output hash chain's value */
  readonly chain: Uint8Array;
  /** the output tail: bytes [outputFrom, writeOffset) */
  readonly tail: Uint8Array;
}

export interface CheckpointBlob {
  readonly snapshot: Uint8Array;
  readonly nextConn: number;
  readonly nextTimer: number;
  /** the last value now() returned */
  readonly clock: number;
  readonly timers: readonly BlobTimer[];
  readonly conns: readonly BlobConn[];
}

const BLOB_MAGIC = 0x4654434b; // 'FTCK'
const BLOB_VERSION = 1;

export function encodeBlob(b: CheckpointBlob): Uint8Array {
  let n = 4 + 1 + 8 + b.snapshot.length + 4 + 4 + 8 + 4 + b.timers.length * 21 + 4;
  for (const c of b.conns) n += 4 + 32 + 8 + c.tail.length;
  const out = new Uint8Array(n);
  const v = new DataView(out.buffer);
  let o = 0;
  v.setUint32(o, BLOB_MAGIC);
  v.setUint8(o + 4, BLOB_VERSION);
  o += 5;
  v.setFloat64(o, b.snapshot.length);
  out.set(b.snapshot, o + 8);
  o += 8 + b.snapshot.length;
  v.setUint32(o, b.nextConn);
  v.setUint32(o + 4, b.nextTimer);
  v.setFloat64(o + 8, b.clock);
  v.setUint32(o + 16, b.timers.length);
  o += 20;
  for (const t of b.timers) {
    v.setUint32(o, t.timerId);
    v.setUint8(o + 4, t.repeat ? 1 : 0);
    v.setFloat64(o + 5, t.ms);
    v.setFloat64(o + 13, t.remainingMs);
    o += 21;
  }
  v.setUint32(o, b.conns.length);
  o += 4;
  for (const c of b.conns) {
    v.setUint32(o, c.nswConn);
    out.set(c.chain, o + 4);
    v.setFloat64(o + 36, c.tail.length);
    out.set(c.tail, o + 44);
    o += 44 + c.tail.length;
  }
  return out;
}

/** Never throws: a blob that is not one of ours is an error with the reason. */
export function decodeBlob(bytes: Uint8Array): Result<CheckpointBlob, string> {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  const need = (k: number): boolean => o + k <= bytes.length;
  const len = (at: number): number | undefined => {
    const x = v.getFloat64(at);
    return Number.isSafeInteger(x) && x >= 0 ? x : undefined;
  };
  if (!need(13)) return err('checkpoint blob: truncated header');
  if (v.getUint32(0) !== BLOB_MAGIC || v.getUint8(4) !== BLOB_VERSION)
    return err('checkpoint blob: not an NSW checkpoint (magic or version)');
  const snapLen = len(5);
  o = 13;
  if (snapLen === undefined || !need(snapLen + 20)) return err('checkpoint blob: bad snapshot');
  const snapshot = bytes.slice(o, o + snapLen);
  o += snapLen;
  const nextConn = v.getUint32(o);
  const nextTimer = v.getUint32(o + 4);
  const clock = v.getFloat64(o + 8);
  const nTimers = v.getUint32(o + 16);
  o += 20;
  if (!need(nTimers * 21 + 4)) return err('checkpoint blob: truncated timers');
  const timers: BlobTimer[] = [];
  for (let i = 0; i < nTimers; i++, o += 21) {
    timers.push({
      timerId: v.getUint32(o),
      repeat: v.getUint8(o + 4) === 1,
      ms: v.getFloat64(o + 5),
      remainingMs: v.getFloat64(o + 13),
    });
  }
  const nConns = v.getUint32(o);
  o += 4;
  const conns: BlobConn[] = [];
  for (let i = 0; i < nConns; i++) {
    if (!need(44)) return err('checkpoint blob: truncated connection');
    const tailLen = len(o + 36);
    if (tailLen === undefined || !need(44 + tailLen)) return err('checkpoint blob: bad tail');
    conns.push({
      nswConn: v.getUint32(o),
      chain: bytes.slice(o + 4, o + 36),
      tail: bytes.slice(o + 44, o + 44 + tailLen),
    });
    o += 44 + tailLen;
  }
  if (o !== bytes.length) return err(`checkpoint blob: ${bytes.length - o} bytes after its end`);
  return ok({ snapshot, nextConn, nextTimer, clock, timers, conns });
}

// ---------------------------------------------------------------------------------------------
// R13.2, R13.3: whether a checkpoint is due

/** R13.3 (the mode and the quiescent point, R13.2, are the caller's). */
export function checkpointDue(s: NswState, nowMs: number): boolean {
  const k = s.ckpt;
  if (!k.enabled || k.inFlight !== null || k.awaiting > 0) return false;
  if (k.wanted || s.bytesSinceCheckpoint >= k.schedule.everyBytes) return true;
  // Anything to record since the last one: bytes, or connections the logger finished (whose
  // records only a checkpoint without them drops; an idle application would keep them).
  const changed = s.bytesSinceCheckpoint > 0 || s.doneSinceCheckpoint > 0;
  return changed && nowMs - k.lastAtMs >= k.schedule.everyMs;
}

// ---------------------------------------------------------------------------------------------
// R13.1, R13.4: taking one

/** Output of `c` the gate still holds, in order (not released yet). */
function heldWrites(s: NswState, conn: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const o of s.gate.snapshot())
    if (o.conn === conn && o.action.kind === 'write') out.push(o.action.bytes);
  return out;
}

/** R13.1: drop the tail copies below `from` (never needed again: `outputFrom` only grows). */
export function trimTail(c: Conn, from: number): void {
  let at = c.tailFrom;
  while (c.tail.length > 0 && at + c.tail[0]!.length <= from) at += c.tail.shift()!.length;
  if (c.tail.length > 0 && at < from) {
    // A copy, not a view: the dropped part's buffer can be freed.
    c.tail[0] = c.tail[0]!.slice(from - at);
    at = from;
  }
  c.tailFrom = c.tail.length === 0 ? Math.max(from, c.released) : at;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * The connections a checkpoint's table holds (R13.1), in increasing `nswConn`: every one the
 * NSW holds, except one that is closed, done (ConnDone) and whose input is over. A closed and
 * done connection whose end of stream was not delivered yet stays: its `eof` (or a `read` of
 * bytes still buffered) will be logged after `D`, and a replay from this checkpoint must know
 * the connection then (R12.2), with the logger keeping its record to serve it as a ghost
 * (spec/logger.md R14.5 c drops a closed record the table does not list).
 */
function tableConns(s: NswState): Conn[] {
  const out: Conn[] = [];
  for (const c of s.conns.values()) if (!(c.closed && c.done && inputOver(c))) out.push(c);
  return out.sort((a, b) => a.conn - b.conn);
}

/**
 * R13.1, R13.4: the checkpoint at `D = detSeq` as the frames the logger expects. `unacked`
 * gives, per connection, the released bytes the client may not have yet (SIOCOUTQ and what
 * is still queued in the runtime); `nowMs` is the live clock (timers' time left).
 */
export function takeCheckpoint(
  s: NswState,
  snapshot: Uint8Array,
  unacked: (conn: number) => number,
  nowMs: number,
): LoggerMessage[] {
  const k = s.ckpt;
  if (k.inFlight !== null) throw new NswUsageError('a checkpoint is already in flight (R13.2)');
  const ckptId = k.nextId++;
  const detSeq = s.detLog.detSeq;
  const entries: CheckpointConnEntry[] = [];
  const blobConns: BlobConn[] = [];
  for (const c of tableConns(s)) {
    const writeOffset = c.hasher.offset;
    // A ghost's or a stopped connection's client will never get more: its tail is empty.
    const owed = !c.sock.ghost && !c.stopped && !c.done;
    const gone = Math.max(0, Math.min(c.released, unacked(c.conn)));
    const outputFrom = owed ? Math.max(c.tailFrom, c.released - gone) : writeOffset;
    let tail: Uint8Array = new Uint8Array(0);
    if (owed) {
      trimTail(c, outputFrom);
      tail = concat([...c.tail, ...heldWrites(s, c.conn), ...deferredWrites(c.sock)]);
    }
    if (tail.length !== writeOffset - outputFrom)
      throw new Error(
        `R13.1: conn ${c.conn} tail of ${tail.length} bytes for [${outputFrom}, ${writeOffset})`,
      );
    entries.push({
      nswConn: c.conn,
      clientAddr: c.sock.clientAddr,
      clientPort: c.sock.clientPort,
      readOffset: c.readOffset,
      eof: c.sock.eofDelivered,
      writeOffset,
      outputFrom,
      close: c.closeHow,
      done: c.done,
    });
    blobConns.push({ nswConn: c.conn, chain: c.hasher.chain, tail });
  }
  const timers: BlobTimer[] = [];
  for (const [timerId, t] of s.timers) {
    timers.push({ timerId, repeat: t.repeat, ms: t.ms, remainingMs: Math.max(0, t.dueAt - nowMs) });
  }
  const blob = encodeBlob({
    snapshot,
    nextConn: s.nextConn,
    nextTimer: s.nextTimer,
    clock: s.lastClock,
    timers,
    conns: blobConns,
  });
  k.inFlight = { ckptId, detSeq };
  k.wanted = false;
  k.lastAtMs = nowMs;
  s.bytesSinceCheckpoint = 0;
  s.doneSinceCheckpoint = 0;
  return checkpointMessages(ckptId, detSeq, entries, blob);
}

/** R13.4: CheckpointBegin, the table, the blob in chunks, CheckpointEnd. */
export function checkpointMessages(
  ckptId: number,
  detSeq: number,
  entries: readonly CheckpointConnEntry[],
  blob: Uint8Array,
): LoggerMessage[] {
  const out: LoggerMessage[] = [
    { kind: 'CheckpointBegin', ckptId, detSeq, conns: entries.length, blobBytes: blob.length },
  ];
  for (const e of entries) out.push({ kind: 'CheckpointConn', ckptId, ...e });
  for (let offset = 0; offset < blob.length; offset += MAX_CHECKPOINT_CHUNK) {
    const data = blob.subarray(offset, Math.min(blob.length, offset + MAX_CHECKPOINT_CHUNK));
    out.push({ kind: 'CheckpointData', ckptId, offset, data });
  }
  out.push({ kind: 'CheckpointEnd', ckptId });
  return out;
}

// ---------------------------------------------------------------------------------------------
// R13.6: restoring

/** A checkpoint as the start of a `FetchLog 'nsw'` answer delivers it, reassembled. */
export interface FetchedCheckpoint {
  readonly begin: MessageOf<'CheckpointBegin'>;
  readonly conns: readonly CheckpointConnEntry[];
  readonly blob: Uint8Array;
}

/**
 * Collects the checkpoint frames at the start of a FetchLog 'nsw' answer (R14.9). Undefined
 * when there is none; an error when the frames do not make one checkpoint.
 */
export function fetchedCheckpoint(
  records: readonly LoggerMessage[],
): Result<FetchedCheckpoint | undefined, string> {
  const first = records[0];
  if (first?.kind !== 'CheckpointBegin') {
    if (records.some((m) => m.kind.startsWith('Checkpoint')))
      return err('checkpoint frames not at the start of the log');
    return ok(undefined);
  }
  const conns: CheckpointConnEntry[] = [];
  const parts: Uint8Array[] = [];
  let received = 0;
  for (let i = 1; i < records.length; i++) {
    const m = records[i]!;
    if (m.kind === 'CheckpointConn') {
      const { kind: _k, ckptId: _id, ...e } = m;
      conns.push(e);
    } else if (m.kind === 'CheckpointData') {
      if (m.offset !== received) return err(`checkpoint data at ${m.offset}, not ${received}`);
      parts.push(m.data);
      received += m.data.length;
    } else if (m.kind === 'CheckpointEnd') {
      if (conns.length !== first.conns || received !== first.blobBytes)
        return err('checkpoint served incomplete');
      return ok({ begin: first, conns, blob: concat(parts) });
    } else return err(`${m.kind} inside the served checkpoint`);
  }
  return err('checkpoint served without CheckpointEnd');
}

/** R13.6: a restored connection's socket id: negative, never one the runtime hands out. */
export const restoredSockId = (conn: number): number => -1 - conn;

/**
 * R13.6: the NSW state at the checkpoint, then the log that follows it. Returns the snapshot
 * for the application's restore(). Effects: `restored` per connection, `rearm` per timer.
 */
export function restoreCheckpoint(
  s: NswState,
  ck: FetchedCheckpoint,
  log: readonly Determinant[],
  nowMs: number,
): Result<Uint8Array, string> {
  const b = decodeBlob(ck.blob);
  if (!b.ok) return b;
  const blob = b.value;
  const byConn = new Map(blob.conns.map((c) => [c.nswConn, c]));
  for (const e of ck.conns) {
    const bc = byConn.get(e.nswConn);
    if (bc === undefined) return err(`checkpoint conn ${e.nswConn} has no state in the blob`);
    if (bc.tail.length !== e.writeOffset - e.outputFrom)
      return err(`checkpoint conn ${e.nswConn}: tail does not match [outputFrom, writeOffset)`);
  }
  for (const e of ck.conns) {
    const bc = byConn.get(e.nswConn)!;
    const id = restoredSockId(e.nswConn);
    const k: Sock = {
      id,
      clientAddr: e.clientAddr,
      clientPort: e.clientPort,
      ghost: false,
      awaiting: true,
      deferred: [],
      conn: e.nswConn,
      chunks: [],
      off: 0,
      buffered: 0,
      eof: e.eof,
      eofDelivered: e.eof,
      paused: false,
    };
    const c = newConn(e.nswConn, k, new OutputHasher(bc.chain, e.writeOffset));
    c.readOffset = e.readOffset;
    c.closed = e.close !== null;
    c.closeHow = e.close;
    c.done = e.done;
    c.released = e.outputFrom;
    c.tailFrom = e.outputFrom;
    // R13.6: the tail first, then the close as recorded; replayed output queues behind.
    if (bc.tail.length > 0) k.deferred.push({ kind: 'write', bytes: bc.tail });
    if (e.close !== null) k.deferred.push({ kind: e.close });
    s.socks.set(id, k);
    s.conns.set(e.nswConn, c);
    s.ckpt.awaiting++;
    s.out.push({
      kind: 'restored',
      conn: e.nswConn,
      sock: id,
      clientAddr: e.clientAddr,
      clientPort: e.clientPort,
      eof: e.eof,
      closed: e.close,
    });
  }
  s.nextConn = blob.nextConn;
  s.nextTimer = blob.nextTimer;
  s.lastClock = blob.clock;
  s.clockFloor = blob.clock;
  for (const t of blob.timers) {
    s.timers.set(t.timerId, { repeat: t.repeat, ms: t.ms, dueAt: nowMs + t.remainingMs });
    s.out.push({ kind: 'rearm', timerId: t.timerId, ms: t.remainingMs });
  }
  s.detLog = { detSeq: ck.begin.detSeq, gateDet: ck.begin.detSeq };
  s.ckpt.stored = { ckptId: ck.begin.ckptId, detSeq: ck.begin.detSeq };
  s.ckpt.nextId = ck.begin.ckptId + 1;
  loadLog(s, log, ck.begin.detSeq);
  return ok(blob.snapshot);
}

function deferredWrites(k: Sock): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const a of k.deferred) if (a.kind === 'write') out.push(a.bytes);
  return out;
}

/** R13.6: the awaiting restored connection a new kernel connection (or ghost) is. */
export function restoredSockFor(s: NswState, clientAddr: number, clientPort: number) {
  if (s.ckpt.awaiting === 0) return undefined;
  let best: Sock | undefined;
  for (const k of s.socks.values()) {
    if (!k.awaiting || k.clientAddr !== clientAddr || k.clientPort !== clientPort) continue;
    if (best === undefined || (k.conn ?? 0) < (best.conn ?? 0)) best = k;
  }
  return best?.id;
}

/** R13.6: the restored connection's socket is here: its tail, its close, then replayed output. */
export function adopt(s: NswState, k: Sock, ghost: boolean, release: ReleaseFn): void {
  k.awaiting = false;
  k.ghost = ghost;
  s.ckpt.awaiting--;
  s.out.push({ kind: 'adopted', conn: k.conn!, sock: k.id });
  const pending = k.deferred;
  k.deferred = [];
  for (const a of pending) release(s, k.conn!, a);
  // R13.10: a restored connection that was finished but for its socket.
  const c = k.conn === null ? undefined : s.conns.get(k.conn);
  if (c !== undefined) forgetIfFinished(s, c);
}

export type ReleaseFn = (s: NswState, conn: number, action: OutputAction) => void;

/** CheckpointStored / CheckpointRejected for the one in flight (R13.4). */
export function checkpointAnswered(
  s: NswState,
  ckptId: number,
  stored: boolean,
): { readonly known: boolean } {
  const f = s.ckpt.inFlight;
  if (f === null || f.ckptId !== ckptId) return { known: false };
  s.ckpt.inFlight = null;
  if (stored) s.ckpt.stored = f;
  return { known: true };
}

/** The close a restored table entry recorded, for the runtime's socket. */
export type RestoredClose = CloseHow | null;
