// Giving records up, in the store (spec/logger.md R15.4, R15.6): a connection given up
// (`abandon`, R15.4 conn scope: its record dropped, remembered so that later messages for it
// are answered `Unprotected`, bounded by maxConns), embryonic records that expire (R15.6), and
// the whole log given up (`unprotect`, R15.4 app scope). When the logger gives up is decided
// by the statechart and the core (logger.machine.ts, atLimit.ts).

import type { UnprotectedReason } from '../../wire/logmsg.ts';
import { dropRecord, isInCheckpoint, type StoreState } from './storeState.ts';

/** R15.4 conn scope: give a connection up (its record is dropped, its memory freed). */
export function abandon(s: StoreState, conn: number, reason: UnprotectedReason): void {
  const c = s.conns.get(conn);
  if (c !== undefined) {
    dropRecord(s, c);
    if (c.nswConn !== null && !isInCheckpoint(s, c.nswConn)) s.accepts.delete(c.nswConn);
  }
  s.abandonedConns.delete(conn);
  s.abandonedConns.set(conn, reason);
  // Bounded: the oldest abandoned connections are forgotten first.
  while (s.abandonedConns.size > s.lim.maxConns) {
    const oldest = s.abandonedConns.keys().next().value;
    if (oldest === undefined) break;
    s.abandonedConns.delete(oldest);
  }
}

/**
 * R15.6: called on every tick. Stamps records stored since the last tick, and expires the
 * embryonic ones stamped at least `embryonicTtlMs` ago (abandoned with `embryonicExpired`).
 */
export function expireEmbryonic(s: StoreState, nowMs: number): number[] {
  const expired: number[] = [];
  for (const id of [...s.embryonic]) {
    const c = s.conns.get(id);
    if (c === undefined || c.established) {
      s.embryonic.delete(id);
      continue;
    }
    if (c.stampMs === null) c.stampMs = nowMs;
    else if (nowMs - c.stampMs >= s.lim.embryonicTtlMs) {
      abandon(s, id, 'embryonicExpired');
      expired.push(id);
    }
  }
  return expired;
}

/** R15.4 app scope: the whole log is dropped; nothing is stored any more. */
export function unprotect(s: StoreState): void {
  s.gaveUp = true;
  s.conns.clear();
  s.embryonic.clear();
  s.dets = [];
  s.accepts.clear();
  s.ckpt = null;
  s.used = 0;
}
