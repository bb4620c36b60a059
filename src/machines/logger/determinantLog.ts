// The NSW's determinant log in the store (spec/logger.md "Storage"; spec/nsw.md R3): stored
// contiguously in `detSeq` order, a resend must match what is held (accepted unchecked below a
// stored checkpoint, R14.6); an `accept` is linked to the open connection record of the same
// client address and port (lowest unlinked connId), so that a `close` becomes `CloseLogged`
// for that record and never for a later connection that reuses the port ("Recovery service").

import {
  type CheckpointConnEntry,
  type CloseHow,
  type Determinant,
  encodeDeterminant,
  type LimitName,
} from '../../wire/logmsg.ts';
import {
  type ConnLog,
  establish,
  type StoreError,
  type StoreState,
  stableDetOf,
  storeError,
} from './storeState.ts';

/** CloseLogged owed to the SSW: the application's close of this client's connection is stored. */
export interface CloseAnnouncement {
  readonly conn: number;
  readonly clientAddr: number;
  readonly clientPort: number;
  readonly how: CloseHow;
  /** the close position in the server's output (close determinant `offset`, spec/ssw.md R5.2) */
  readonly offset: number;
}

export type DetOutcome =
  | {
      readonly kind: 'stored' | 'full';
      readonly stableDet: number;
      /** set when this append stored a `close` determinant for a connection the SSW still has */
      readonly closeLogged: CloseAnnouncement | null;
      readonly limit: LimitName | null;
    }
  | StoreError;

/**
 * R3: one determinant. `detSeq` below `stableDet` is a resend (it must match what is held;
 * below `detBase` it is accepted unchecked, R14.6), above it a gap. `force` stores it past
 * the limits (R14.2: a determinant a complete checkpoint covers, dropped right after).
 */
export function logDeterminant(
  s: StoreState,
  detSeq: number,
  det: Determinant,
  force = false,
): DetOutcome {
  if (detSeq < s.base) {
    return { kind: 'stored', stableDet: stableDetOf(s), closeLogged: null, limit: null };
  }
  const enc = encodeDeterminant(det);
  if (detSeq < stableDetOf(s)) {
    const have = s.dets[detSeq - s.base]!;
    return have.length === enc.length && have.every((b, i) => b === enc[i])
      ? { kind: 'stored', stableDet: stableDetOf(s), closeLogged: null, limit: null }
      : storeError('conflict', `determinant ${detSeq} differs from the stored one`);
  }
  if (detSeq > stableDetOf(s)) {
    return storeError('gap', `determinant ${detSeq} but stableDet is ${stableDetOf(s)}`);
  }
  if (det.kind === 'close' && !s.accepts.has(det.conn)) {
    return storeError('unknownConn', `close of NSW conn ${det.conn} without its accept`);
  }
  if (!force && s.dets.length >= s.lim.maxDets) {
    return { kind: 'full', stableDet: stableDetOf(s), closeLogged: null, limit: 'dets' };
  }
  if (!force && s.used + enc.length > s.lim.maxStoredBytes) {
    return { kind: 'full', stableDet: stableDetOf(s), closeLogged: null, limit: 'bytes' };
  }
  s.dets.push(enc);
  s.used += enc.length;
  let closeLogged: CloseAnnouncement | null = null;
  if (det.kind === 'accept') {
    s.accepts.set(det.conn, {
      clientAddr: det.clientAddr,
      clientPort: det.clientPort,
      detSeq,
    });
    link(s, det.conn);
  } else if (det.kind === 'close') {
    const c = link(s, det.conn);
    if (c !== undefined) {
      c.close = { how: det.how, offset: det.offset };
      if (!c.closed) closeLogged = announcement(c, c.close);
    }
  }
  return { kind: 'stored', stableDet: stableDetOf(s), closeLogged, limit: null };
}

/**
 * CloseLogged owed to an SSW that (re)connects: every connection the SSW still has whose
 * application close is stored. Matching is by connection record, not by address, so a client
 * port reused after ConnClosed never inherits an old close (R5).
 */
export function pendingCloses(s: StoreState): CloseAnnouncement[] {
  const out: CloseAnnouncement[] = [];
  for (const c of s.conns.values()) {
    if (!c.closed && c.close !== null) out.push(announcement(c, c.close));
  }
  return out;
}

/**
 * ConnDone owed to an NSW that (re)joins (spec/logger.md "Recovery service"): the NSW
 * connection of every record the SSW reported closed that is still held. One sent while the
 * NSW's link was down is lost, and the NSW keeps such a connection in every checkpoint's table
 * (spec/nsw.md R13.1), which in turn keeps the record here: without this neither would ever
 * go. Bounded by the records held (`maxConns`).
 */
export function doneConns(s: StoreState): number[] {
  const out: number[] = [];
  for (const c of s.conns.values()) if (c.closed && c.nswConn !== null) out.push(c.nswConn);
  return out;
}

const announcement = (
  c: ConnLog,
  close: { readonly how: CloseHow; readonly offset: number },
): CloseAnnouncement => ({
  conn: c.syn.conn,
  clientAddr: c.syn.clientAddr,
  clientPort: c.syn.clientPort,
  how: close.how,
  offset: close.offset,
});

/** The open connection record a NSW conn corresponds to, linked on first use. */
export function link(s: StoreState, nswConn: number): ConnLog | undefined {
  for (const c of s.conns.values()) if (c.nswConn === nswConn) return c;
  const a = s.accepts.get(nswConn);
  if (a === undefined) return undefined;
  return linkTo(s, nswConn, a.clientAddr, a.clientPort, a.detSeq);
}

/** The record of a checkpoint table entry (linked now if its accept was not yet). */
export function linkEntry(s: StoreState, e: CheckpointConnEntry): ConnLog | undefined {
  for (const c of s.conns.values()) if (c.nswConn === e.nswConn) return c;
  // No accept left in the map means it was below an earlier checkpoint's D (R14.5 d).
  const a = s.accepts.get(e.nswConn);
  return linkTo(s, e.nswConn, e.clientAddr, e.clientPort, a?.detSeq ?? -1);
}

function linkTo(
  s: StoreState,
  nswConn: number,
  clientAddr: number,
  clientPort: number,
  acceptDet: number | null,
): ConnLog | undefined {
  // The lowest unlinked open record of that client address/port: the 4-tuple cannot be in
  // use twice at once, and the SSW assigns connIds in increasing order.
  let best: ConnLog | undefined;
  for (const c of s.conns.values()) {
    if (c.nswConn !== null || c.closed) continue;
    if (c.syn.clientAddr !== clientAddr || c.syn.clientPort !== clientPort) continue;
    if (best === undefined || c.syn.conn < best.syn.conn) best = c;
  }
  if (best !== undefined) {
    best.nswConn = nswConn;
    best.acceptDet = acceptDet;
    establish(s, best);
  }
  return best;
}
