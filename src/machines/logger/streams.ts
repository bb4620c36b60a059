// Client streams in the store (spec/logger.md "Storage"): the connection record (R2, `LogSyn`),
// the client bytes (R1, `LogData`: contiguous, a resend must match what is held, R14.6 below
// the truncation point), 64-bit stream offsets and the unwrapping of a 32-bit sequence number
// against the stored end (R14.8), and the SSW's hints (`ClientAcked`, `ConnEstablished`, which
// establish a record, R15.6). What fits under the limits is stored; the rest is reported `full`
// and parked by the caller (R15).

import type { LimitName, SynRecord } from '../../wire/logmsg.ts';
import { SEQ_MOD, seqAdd, seqGt, seqSub } from '../../wire/seq.ts';
import { CONN_RECORD_COST } from './limits.ts';
import {
  type Abandoned,
  type ConnLog,
  establish,
  type StoreError,
  type StoreState,
  storeError,
  unknown,
} from './storeState.ts';

export type SynOutcome =
  | { readonly kind: 'stored'; readonly conn: number }
  | { readonly kind: 'full'; readonly limit: LimitName }
  | StoreError;

export type DataOutcome =
  | {
      readonly kind: 'stored' | 'full';
      readonly conn: number;
      readonly stableSeq: number;
      readonly finLogged: boolean;
      /** bytes of this message newly stored (duplicates excluded; R14.6 bytes included) */
      readonly added: number;
      /** the limit that stopped it (`full`), else null */
      readonly limit: LimitName | null;
    }
  | Abandoned
  | StoreError;

export type HintOutcome = null | Abandoned | StoreError;

/** The sequence number of a stream offset (exact for every safe-integer offset). */
export const seqOfOffset = (startSeq: number, offset: number): number =>
  seqAdd(startSeq, offset % SEQ_MOD);

/**
 * R14.8: the offset of `seq` in a stream whose stored end is at offset `end`. The signed
 * 32-bit distance from the end's sequence number is exact while the sender has less than
 * 2^31 bytes unacknowledged, which a TCP window (at most 2^30) guarantees.
 */
export const unwrapSeq = (startSeq: number, end: number, seq: number): number =>
  end + seqSub(seq, seqOfOffset(startSeq, end));

/** Every client byte below this is stored (a stored FIN counts as one). */
export const stableSeqOf = (c: ConnLog): number => seqOfOffset(c.startSeq, c.end + (c.fin ? 1 : 0));

const optsEqual = (a: SynRecord['clientOpts'], b: SynRecord['clientOpts']): boolean =>
  a.mss === b.mss &&
  a.wscale === b.wscale &&
  a.sackOk === b.sackOk &&
  a.tsVal === b.tsVal &&
  a.tsEcr === b.tsEcr;

const synEqual = (a: SynRecord, b: SynRecord): boolean =>
  a.conn === b.conn &&
  a.clientAddr === b.clientAddr &&
  a.clientPort === b.clientPort &&
  a.serverAddr === b.serverAddr &&
  a.serverPort === b.serverPort &&
  a.clientIsn === b.clientIsn &&
  a.serverIsn === b.serverIsn &&
  optsEqual(a.clientOpts, b.clientOpts) &&
  optsEqual(a.serverOpts, b.serverOpts) &&
  Object.is(a.synTimeMs, b.synTimeMs);

const synRecordOf = (m: SynRecord): SynRecord => ({
  conn: m.conn,
  clientAddr: m.clientAddr,
  clientPort: m.clientPort,
  serverAddr: m.serverAddr,
  serverPort: m.serverPort,
  clientIsn: m.clientIsn,
  serverIsn: m.serverIsn,
  clientOpts: m.clientOpts,
  serverOpts: m.serverOpts,
  synTimeMs: m.synTimeMs,
});

/** Does `b` equal the held bytes at held position `from` (0 = heldFrom)? Only resends take this path. */
const bytesEqualAt = (chunks: readonly Uint8Array[], from: number, b: Uint8Array): boolean => {
  let base = 0;
  let i = 0;
  for (const c of chunks) {
    const end = base + c.length;
    while (i < b.length && from + i < end) {
      if (c[from + i - base] !== b[i]) return false;
      i++;
    }
    base = end;
    if (i === b.length) return true;
  }
  return i === b.length;
};

/** R2: the connection record. A retransmitted identical LogSyn is answered again. */
export function logSyn(s: StoreState, msg: SynRecord): SynOutcome {
  // Only the record's own fields: callers pass the LogSyn message itself, whose `kind` must
  // not travel into the ReplaySyn built from this record.
  const syn = synRecordOf(msg);
  const have = s.conns.get(syn.conn);
  if (have !== undefined) {
    return synEqual(have.syn, syn)
      ? { kind: 'stored', conn: syn.conn }
      : storeError('conflict', `conn ${syn.conn}: a different SYN record is stored`);
  }
  if (s.conns.size >= s.lim.maxConns) return { kind: 'full', limit: 'conns' };
  if (s.used + CONN_RECORD_COST > s.lim.maxStoredBytes) return { kind: 'full', limit: 'bytes' };
  // A new record for a connection given up (R2.7: a late handshake logs its SYN again).
  s.abandonedConns.delete(syn.conn);
  s.conns.set(syn.conn, {
    syn,
    startSeq: seqAdd(syn.clientIsn, 1),
    chunks: [],
    heldFrom: 0,
    end: 0,
    dropTo: 0,
    fin: false,
    clientAck: null,
    established: false,
    stampMs: null,
    closed: false,
    nswConn: null,
    acceptDet: null,
    close: null,
  });
  s.embryonic.add(syn.conn);
  s.used += CONN_RECORD_COST;
  return { kind: 'stored', conn: syn.conn };
}

/**
 * R1: client bytes. `seq` may start below the stored end (a resend: the overlap with held
 * bytes must match, R14.6 below them) but not above it (a gap). Stores what fits under the
 * limits and reports `full` if some of the message (bytes or FIN) is left over; the caller
 * retries the same message later.
 */
export function logData(
  s: StoreState,
  conn: number,
  seq: number,
  payload: Uint8Array,
  fin: boolean,
): DataOutcome {
  const c = s.conns.get(conn);
  if (c === undefined) return unknown(s, conn, 'LogData');
  const off = unwrapSeq(c.startSeq, c.end, seq);
  if (off < 0) {
    return storeError('gap', `conn ${conn}: seq ${seq} is ${-off} bytes before the stream`);
  }
  if (off > c.end) {
    return storeError(
      'gap',
      `conn ${conn}: seq ${seq} is ${off - c.end} bytes beyond the stored end`,
    );
  }
  const overlap = Math.min(payload.length, c.end - off);
  // R14.6: bytes below heldFrom were dropped by a checkpoint; a resend of them is accepted
  // unchecked. The held part of the overlap must match.
  const unheld = Math.min(overlap, Math.max(0, c.heldFrom - off));
  if (
    overlap > unheld &&
    !bytesEqualAt(c.chunks, off + unheld - c.heldFrom, payload.subarray(unheld, overlap))
  ) {
    return storeError(
      'conflict',
      `conn ${conn}: resent bytes at seq ${seq} differ from the stored ones`,
    );
  }
  const fresh = payload.subarray(overlap);
  if (c.fin && (fresh.length > 0 || (fin && off + payload.length !== c.end))) {
    return storeError('conflict', `conn ${conn}: data or a different FIN after the stored FIN`);
  }
  if (c.end + fresh.length > Number.MAX_SAFE_INTEGER) {
    return storeError('conflict', `conn ${conn}: the stream would pass 2^53 bytes`);
  }
  // R14.6: the part below dropTo (bytes the application consumed before they were stored,
  // R14.3) moves the end without being held.
  const skip = Math.min(fresh.length, Math.max(0, c.dropTo - c.end));
  c.end += skip;
  if (c.heldFrom < c.end && c.chunks.length === 0) c.heldFrom = Math.min(c.end, c.dropTo);
  const rest = fresh.subarray(skip);
  const room = Math.max(0, s.lim.maxStoredBytes - s.used);
  const take = Math.min(rest.length, room);
  if (take > 0) {
    // Copied: the payload is a view into a frame buffer the link reuses.
    c.chunks.push(rest.slice(0, take));
    c.end += take;
    s.used += take;
  }
  const allBytes = take === rest.length;
  if (fin && allBytes) c.fin = true;
  if (skip + take > 0 || c.fin) establish(s, c);
  return {
    kind: allBytes ? 'stored' : 'full',
    conn,
    stableSeq: stableSeqOf(c),
    finLogged: c.fin,
    added: skip + take,
    limit: allBytes ? null : 'bytes',
  };
}

/** Lazy hint from the SSW (no reply): what the client holds of the server's stream. */
export function clientAcked(s: StoreState, conn: number, clientAck: number): HintOutcome {
  const c = s.conns.get(conn);
  if (c === undefined) return unknown(s, conn, 'ClientAcked');
  // Keep the highest in serial order: a hint resent after a reconnect must not lower it.
  if (c.clientAck === null || seqGt(clientAck, c.clientAck)) c.clientAck = clientAck;
  // R15.6: the client acknowledged server data beyond the SYN-ACK.
  if (seqGt(clientAck, seqAdd(c.syn.serverIsn, 1))) establish(s, c);
  return null;
}

/** R15.6, spec/ssw.md R2.7: the SSW saw the client acknowledge the SYN-ACK. */
export function connEstablished(s: StoreState, conn: number): HintOutcome {
  const c = s.conns.get(conn);
  if (c === undefined) return unknown(s, conn, 'ConnEstablished');
  establish(s, c);
  return null;
}
