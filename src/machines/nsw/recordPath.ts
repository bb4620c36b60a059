// The data path of `recording` and `live` (spec/nsw.md R3, R4): kernel events are delivered
// in arrival order, one at a time, each logged as it is delivered (R3.1, R3.3); the
// application's own calls append their determinants; output waits in the gate for the
// determinants it may depend on (R4.1-R4.6).

import type { Determinant } from '../../wire/logmsg.ts';
import type { OutputAction } from './gate.ts';
import {
  append,
  bind,
  type Conn,
  checkHeld,
  closedByApp,
  type DataPath,
  deliverBytes,
  deliverEof,
  emitRelease,
  fire,
  hashWrite,
  type NswState,
  type Sock,
} from './state.ts';

/** R4.1: queue `action` behind every determinant appended before it; release it if it may go. */
function gateOutput(s: NswState, c: Conn, action: OutputAction): void {
  // R13.9: unprotected, there is no log to wait for (the gate was emptied when it was lifted).
  if (!s.logging) {
    emitRelease(s, c.conn, action);
    return;
  }
  if (s.gate.push({ conn: c.conn, needDet: s.detLog.gateDet, action }, s.stable))
    emitRelease(s, c.conn, action);
  checkHeld(s);
}

/** R3.1: delivers the next chunk buffered on `k` as one `read`. */
function deliverRead(s: NswState, k: Sock, conn: number): void {
  const len = (k.chunks[0]?.length ?? 0) - k.off;
  append(s, { kind: 'read', conn, len });
  deliverBytes(s, k, conn, len);
}

/** R3.1, R3.3: deliver the oldest kernel event, logging its determinant. */
function next(s: NswState): void {
  for (let item = s.inbox.shift(); item !== undefined; item = s.inbox.shift()) {
    if (item.kind === 'timer') {
      if (!s.timers.has(item.timerId)) continue; // cancelled, or fired by the replay
      append(s, { kind: 'timer', timerId: item.timerId });
      fire(s, item.timerId);
      return;
    }
    const k = s.socks.get(item.sock);
    if (k === undefined) continue;
    // A connection closed before the failure that the log never accepted: its client is
    // gone, so it is never offered to the application live.
    if (k.ghost && k.conn === null) continue;
    if (item.kind === 'accept') {
      if (k.conn !== null) continue; // matched during replay
      const conn = s.nextConn;
      append(s, { kind: 'accept', conn, clientAddr: k.clientAddr, clientPort: k.clientPort });
      bind(s, k, conn);
      return;
    }
    if (k.conn === null) {
      // The accept item precedes its socket's data and eof in the inbox.
      throw new Error(`nsw core: ${item.kind} of socket ${k.id} before its accept`);
    }
    if (item.kind === 'data') {
      if (k.buffered === 0) continue;
      deliverRead(s, k, k.conn);
      return;
    }
    if (k.eofDelivered) continue;
    if (k.buffered > 0) {
      // Should not happen (data items precede their eof); keep order regardless.
      s.inbox.unshift(item);
      deliverRead(s, k, k.conn);
      return;
    }
    append(s, { kind: 'eof', conn: k.conn });
    deliverEof(s, k, k.conn);
    return;
  }
}

export const RECORD_PATH: DataPath = {
  input: 'queued',
  next,
  pulled: (s, _kind, _what, make): Determinant => {
    const d = make();
    append(s, d);
    return d;
  },
  write: (s, c, bytes) => {
    // Hashed even when stopped: the offset of its close is still every byte written.
    const { data, det } = hashWrite(c, bytes);
    if (c.stopped) return;
    gateOutput(s, c, { kind: 'write', bytes: data });
    append(s, det);
  },
  close: (s, c, how) => {
    // The close position (R5.2): every byte the application wrote on this connection. The
    // SSW passes the kernel's FIN only at that point of the stream, so a crash FIN emitted
    // before the last output reached the kernel is never taken for this close.
    const closeDet = s.detLog.detSeq;
    append(s, { kind: 'close', conn: c.conn, how, offset: c.hasher.offset });
    c.closed = true;
    c.closeHow = how;
    // The close determinant is below gateDet now, so the FIN/RST waits for it to be stored:
    // the logger announces it to the SSW (CloseLogged) at that moment, and the SSW lets the
    // FIN/RST through only then (R4.3, R5.2).
    if (!c.stopped) gateOutput(s, c, { kind: how });
    // R13.10: after the FIN/RST's release (or its place in the gate).
    closedByApp(s, c, how, closeDet);
  },
};
