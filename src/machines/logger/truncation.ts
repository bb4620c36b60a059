// Log truncation in the store (spec/logger.md "R14 Checkpoints and log truncation", R14.2-R14.7,
// and "What is dropped, and when"): whether a checkpoint may be stored (I7 rests on it),
// storing it and dropping what it makes unnecessary (determinants below D, the bytes each
// connection of its table had read, the records finished before D), and `ConnClosed`, which
// drops a record at once when a stored checkpoint already covers it (R14.5 c) or when the log
// is unrecorded (R14.5 e). A byte is dropped only when a stored checkpoint covers it.

import type { CheckpointConnEntry } from '../../wire/logmsg.ts';
import type { StoredCheckpoint } from './checkpoint.ts';
import { linkEntry } from './determinantLog.ts';
import {
  type Abandoned,
  type ConnLog,
  decodeStored,
  dropRecord,
  establish,
  type StoreError,
  type StoreState,
  stableDetOf,
  unknown,
} from './storeState.ts';

/** What storing a checkpoint dropped (R14.5); `storedBytes` went down by `freedBytes`. */
export interface TruncationReport {
  readonly ckptId: number;
  readonly detSeq: number;
  readonly dets: number;
  readonly clientBytes: number;
  readonly records: number;
  readonly freedBytes: number;
  /** linked, accepted before D, absent from the table, yet not ConnClosed: kept (anomaly) */
  readonly keptUnlisted: number;
}

export interface ConnClosedOutcome {
  /** the NSW connection the record was linked to: ConnDone is owed to the NSW (spec/logger.md) */
  readonly nswConn: number | null;
}

/**
 * The SSW will not re-create this connection any more. Its stream is kept while a recovery
 * may need it (R14.5 c), except in an unrecorded log (R14.5 e).
 */
export function connClosed(
  s: StoreState,
  conn: number,
): ConnClosedOutcome | Abandoned | StoreError {
  const c = s.conns.get(conn);
  if (c === undefined) {
    const r = unknown(s, conn, 'ConnClosed');
    // A record already dropped (R14.5 c/e) has nothing left to close.
    return r.kind === 'error' ? { nswConn: null } : r;
  }
  c.closed = true;
  establish(s, c);
  // R14.5 c at once: a close the SSW reports after the stored checkpoint already covers the
  // connection (accepted before D, gone from its table) drops the record now; waiting for
  // the next checkpoint kept it, and the NSW's entry awaiting ConnDone, for as long as the
  // application stayed idle.
  const ck = s.ckpt;
  if (
    ck !== null &&
    c.nswConn !== null &&
    c.acceptDet !== null &&
    c.acceptDet < ck.detSeq &&
    !ck.conns.some((e) => e.nswConn === c.nswConn)
  ) {
    dropRecord(s, c);
    s.accepts.delete(c.nswConn);
    return { nswConn: c.nswConn };
  }
  if (s.unrecordedLog) {
    dropRecord(s, c);
    if (c.nswConn !== null) s.accepts.delete(c.nswConn);
    trimUnrecordedDets(s);
    return { nswConn: null };
  }
  return { nswConn: c.nswConn };
}

/**
 * Why `ck` cannot be stored, or null. I7 rests on this: a checkpoint never moves a
 * connection's truncation point back (a later checkpoint has read at least as far), and
 * never covers determinants the log has not got.
 */
export function checkCheckpoint(s: StoreState, ck: StoredCheckpoint): string | null {
  if (s.ckpt !== null && ck.detSeq < s.ckpt.detSeq)
    return `checkpoint ${ck.ckptId} at ${ck.detSeq} is behind the stored one at ${s.ckpt.detSeq}`;
  if (ck.detSeq > stableDetOf(s))
    return `checkpoint ${ck.ckptId} covers determinants up to ${ck.detSeq} but ${stableDetOf(s)} are stored`;
  for (const e of ck.conns) {
    for (const c of s.conns.values()) {
      if (c.nswConn === e.nswConn && e.readOffset < c.dropTo)
        return `checkpoint ${ck.ckptId}: conn ${e.nswConn} read ${e.readOffset} < ${c.dropTo} of an earlier checkpoint`;
    }
  }
  return null;
}

/**
 * R14.2, R14.4, R14.5: `ck` becomes the stored checkpoint and the log is truncated by it.
 * The caller has checked R14.2's precondition (every determinant below D stored).
 */
export function storeCheckpoint(s: StoreState, ck: StoredCheckpoint): TruncationReport {
  if (ck.detSeq > stableDetOf(s)) {
    throw new Error(
      `R14.2: checkpoint ${ck.ckptId} at ${ck.detSeq} stored with stableDet ${stableDetOf(s)}`,
    );
  }
  const before = s.used;
  s.ckpt = ck;
  // a. determinants below D
  const nDets = ck.detSeq - s.base;
  let detBytes = 0;
  for (let i = 0; i < nDets; i++) detBytes += s.dets[i]!.length;
  s.dets = s.dets.slice(nDets);
  s.base = ck.detSeq;
  s.used -= detBytes;
  // b. the bytes each table connection had consumed
  const table = new Map<number, CheckpointConnEntry>(ck.conns.map((e) => [e.nswConn, e]));
  let clientBytes = 0;
  for (const e of ck.conns) {
    const c = linkEntry(s, e);
    if (c === undefined) continue;
    c.dropTo = Math.max(c.dropTo, e.readOffset);
    clientBytes += dropHeld(s, c);
  }
  // c. records finished before D: closed by the SSW, accepted before D, not in the table
  let records = 0;
  let keptUnlisted = 0;
  for (const c of [...s.conns.values()]) {
    if (c.nswConn === null || table.has(c.nswConn)) continue;
    if (c.acceptDet === null || c.acceptDet >= ck.detSeq) continue;
    if (c.closed) {
      dropRecord(s, c);
      records++;
    } else keptUnlisted++;
  }
  // d. accepts: only the table's and those after D can still be named by a close
  for (const [n, a] of s.accepts) {
    if (!table.has(n) && a.detSeq < ck.detSeq) s.accepts.delete(n);
  }
  return {
    ckptId: ck.ckptId,
    detSeq: ck.detSeq,
    dets: nDets,
    clientBytes,
    records,
    freedBytes: before - s.used,
    keptUnlisted,
  };
}

/** R14.5 b: drop the held bytes below min(end, dropTo); returns how many. */
export function dropHeld(s: StoreState, c: ConnLog): number {
  const to = Math.min(c.end, c.dropTo);
  let n = to - c.heldFrom;
  if (n <= 0) return 0;
  const dropped = n;
  let i = 0;
  while (n > 0) {
    const ch = c.chunks[i]!;
    if (ch.length <= n) {
      n -= ch.length;
      i++;
    } else {
      // R14.7: a copy of the remainder, so the dropped part's buffer can be freed.
      c.chunks[i] = ch.slice(n);
      n = 0;
    }
  }
  c.chunks = c.chunks.slice(i);
  c.heldFrom = to;
  s.used -= dropped;
  return dropped;
}

/** R14.5 e: drop the determinant prefix that names only dropped records. */
export function trimUnrecordedDets(s: StoreState): void {
  let n = 0;
  let bytes = 0;
  const live = new Set<number>();
  for (const c of s.conns.values()) if (c.nswConn !== null) live.add(c.nswConn);
  for (const enc of s.dets) {
    const d = decodeStored(enc);
    if (d.kind !== 'accept' && d.kind !== 'close') break;
    if (live.has(d.conn) || s.accepts.has(d.conn)) break;
    n++;
    bytes += enc.length;
  }
  if (n === 0) return;
  s.dets = s.dets.slice(n);
  s.base += n;
  s.used -= bytes;
}
