// The store's state (spec/logger.md "Storage"): one record per connection (SYN record, held
// client bytes, what is known of its life), the determinant log, the NSW accepts, the stored
// checkpoint, and what they cost. The bottom of the store's files: the rule modules
// (streams.ts, determinantLog.ts, truncation.ts, abandon.ts, replay.ts) are free functions
// over a `StoreState`, and store.ts's `LoggerStore` is the object that holds one.
//
// Mutable on purpose: it holds megabytes of client bytes, and an immutable copy per append
// would be quadratic.

import {
  type CloseHow,
  type Determinant,
  decodeDeterminant,
  type SynRecord,
  type UnprotectedReason,
} from '../../wire/logmsg.ts';
import type { StoredCheckpoint } from './checkpoint.ts';
import { CONN_RECORD_COST, type LoggerLimits } from './limits.ts';

export type StoreErrorCode = 'unknownConn' | 'gap' | 'conflict';

export interface StoreError {
  readonly kind: 'error';
  readonly code: StoreErrorCode;
  readonly detail: string;
}

/** R15.4: a message for a connection the logger gave up (answered `Unprotected` again). */
export interface Abandoned {
  readonly kind: 'abandoned';
  readonly conn: number;
  readonly reason: UnprotectedReason;
}

export interface ConnLog {
  readonly syn: SynRecord;
  /** client sequence number of offset 0 (clientIsn + 1) */
  readonly startSeq: number;
  /** the held bytes [heldFrom, end), in order */
  chunks: Uint8Array[];
  heldFrom: number;
  end: number;
  /** R14.5 b: no recovery needs bytes below it */
  dropTo: number;
  fin: boolean;
  clientAck: number | null;
  /** R15.6: the handshake is known to have completed */
  established: boolean;
  /** R15.6: the first tick after it was stored (null until then) */
  stampMs: number | null;
  /** ConnClosed received: not re-created by the SSW any more; stream kept while needed */
  closed: boolean;
  /** the NSW connection number whose accept matched this record, once known */
  nswConn: number | null;
  /** the detSeq of that accept */
  acceptDet: number | null;
  /** the application's close (how, and its position in the output), once its determinant is stored */
  close: { readonly how: CloseHow; readonly offset: number } | null;
}

export interface StoreState {
  lim: LoggerLimits;
  readonly conns: Map<number, ConnLog>;
  /** R15.6: records not yet established, by connId */
  readonly embryonic: Set<number>;
  /** R15.4: connections given up, with why; insertion order = age (bounded by maxConns) */
  readonly abandonedConns: Map<number, UnprotectedReason>;
  /** held determinants, encoded; dets[i] is detSeq base + i */
  dets: Uint8Array[];
  /** the first determinant still held (the stored checkpoint's D, or 0) */
  base: number;
  /** NSW conn -> the accept determinant's client address/port and position */
  readonly accepts: Map<number, { clientAddr: number; clientPort: number; detSeq: number }>;
  /** held client bytes + held encoded determinants + CONN_RECORD_COST per record */
  used: number;
  ckpt: StoredCheckpoint | null;
  /** R15.4: the whole log was given up */
  gaveUp: boolean;
  /** R14.5 e: the SSW declared `unrecorded` */
  unrecordedLog: boolean;
}

export const newStoreState = (lim: LoggerLimits): StoreState => ({
  lim,
  conns: new Map(),
  embryonic: new Set(),
  abandonedConns: new Map(),
  dets: [],
  base: 0,
  accepts: new Map(),
  used: 0,
  ckpt: null,
  gaveUp: false,
  unrecordedLog: false,
});

/** One past the last stored determinant (absolute: truncation does not move it). */
export const stableDetOf = (s: StoreState): number => s.base + s.dets.length;

export const storeError = (code: StoreErrorCode, detail: string): StoreError => ({
  kind: 'error',
  code,
  detail,
});

/** A message for a connection without a record: given up (R15.4), else `unknownConn`. */
export function unknown(s: StoreState, conn: number, what: string): Abandoned | StoreError {
  const reason = s.abandonedConns.get(conn);
  return reason !== undefined
    ? { kind: 'abandoned', conn, reason }
    : storeError('unknownConn', `${what} for conn ${conn} without LogSyn`);
}

/** R15.6: the handshake is known to have completed; the record never expires. */
export function establish(s: StoreState, c: ConnLog): void {
  if (c.established) return;
  c.established = true;
  s.embryonic.delete(c.syn.conn);
}

export function dropRecord(s: StoreState, c: ConnLog): void {
  s.used -= c.end - c.heldFrom + CONN_RECORD_COST;
  s.conns.delete(c.syn.conn);
  s.embryonic.delete(c.syn.conn);
}

export function isInCheckpoint(s: StoreState, nswConn: number): boolean {
  return s.ckpt?.conns.some((e) => e.nswConn === nswConn) ?? false;
}

export function decodeStored(b: Uint8Array): Determinant {
  const r = decodeDeterminant(b);
  // The store only holds bytes it encoded itself; failing here means memory corruption.
  if (!r.ok) throw new Error(`logger store: stored determinant does not decode: ${r.error.detail}`);
  return r.value;
}

export function concat(parts: readonly Uint8Array[], len: number): Uint8Array {
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
