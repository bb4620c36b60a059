// The data path of `replaying` (spec/nsw.md R11, R12): the log, not the kernel, says what is
// delivered next (R11.1, R11.2; one step is ./replay.ts `nextReplayStep`); the application's
// own calls must meet the next logged determinant (R11.4); every write is checked against the
// logged output hash (R12). Output made here passes the gate at once (R11.5). When the last
// logged determinant is consumed the statechart is told (LOG_EXHAUSTED, R11.6); a divergence
// is told the same way (CONN_DIVERGED, APP_DIVERGED): the mode changes only there.

import type { Determinant } from '../../wire/logmsg.ts';
import { describeDet } from './determinants.ts';
import type { OutputAction } from './gate.ts';
import { nextReplayStep } from './replay.ts';
import {
  bind,
  type Conn,
  closedByApp,
  type DataPath,
  deliverBytes,
  deliverEof,
  describeLogged,
  divergence,
  emitRelease,
  fire,
  hashWrite,
  type NswState,
  sockOrThrow,
} from './state.ts';

/** R11.6: the log is consumed; from here the NSW records again (the statechart goes live). */
function checkExhausted(s: NswState): void {
  if (s.pos >= s.log.length) s.control({ type: 'LOG_EXHAUSTED' });
}

/** R12: one connection (R12.1, R12.3) or the whole application (R12.2) left the log. */
function diverge(
  s: NswState,
  conn: number | null,
  actual: string,
  logged: Determinant | undefined,
): void {
  if (conn === null) {
    s.control({
      type: 'APP_DIVERGED',
      error: divergence(s.logBase + s.pos, null, actual, describeLogged(logged)),
    });
    return;
  }
  if (s.conns.get(conn)?.stopped === false) stopOne(s, conn, actual, describeLogged(logged));
}

function stopOne(s: NswState, conn: number, actual: string, logged: string): void {
  s.control({
    type: 'CONN_DIVERGED',
    conn,
    error: divergence(s.logBase + s.pos, conn, actual, logged),
  });
}

/** R11.5: every replayed determinant is stored, so output made during replay may go at once. */
function replayOutput(s: NswState, c: Conn, action: OutputAction): void {
  const needDet = Math.min(s.detLog.gateDet, s.stable);
  if (s.gate.push({ conn: c.conn, needDet, action }, s.stable)) emitRelease(s, c.conn, action);
}

/** R11.4: the application's call must meet the next logged determinant; consumes it. */
function meet(
  s: NswState,
  what: string,
  same: (logged: Determinant) => boolean,
): Determinant | undefined {
  const logged = s.log[s.pos];
  if (logged === undefined || !same(logged)) {
    diverge(s, null, what, logged);
    return undefined;
  }
  s.pos++;
  return logged;
}

/** R11.1, R11.2: deliver the next logged pushed determinant if its input is here. */
function next(s: NswState): void {
  const det = s.log[s.pos];
  const step = nextReplayStep(det, s.view);
  const stopped =
    (det?.kind === 'read' || det?.kind === 'eof') && s.conns.get(det.conn)?.stopped === true;
  if (stopped && step.kind !== 'read' && step.kind !== 'eof') {
    // A stopped connection's input is still delivered when it is there (the application's
    // state may depend on it), but the replay does not wait for it.
    s.pos++;
    checkExhausted(s);
    return;
  }
  switch (step.kind) {
    case 'accept': {
      const k = sockOrThrow(s, step.sock);
      s.pos++;
      bind(s, k, step.conn);
      break;
    }
    case 'read': {
      const k = sockOrThrow(s, step.sock);
      s.pos++;
      deliverBytes(s, k, step.conn, step.len);
      break;
    }
    case 'eof': {
      const k = sockOrThrow(s, step.sock);
      s.pos++;
      // Bytes left unread at a logged eof were never read in the first run either.
      k.chunks = [];
      k.off = 0;
      k.buffered = 0;
      deliverEof(s, k, step.conn);
      break;
    }
    case 'timer': {
      s.pos++;
      fire(s, step.timerId);
      // The real expiry of this firing, if it came, must not fire it again when live.
      s.inbox.forgetTimer(step.timerId);
      break;
    }
    case 'diverged':
      diverge(s, step.conn, step.reason, det);
      // A connection's stream that cannot satisfy the log: skip the determinant so that the
      // other connections are not held hostage (R12.3). A whole-log problem stops everything.
      if (step.conn !== null) s.pos++;
      break;
    case 'wait':
    case 'awaitApp':
    case 'exhausted':
      return;
  }
  checkExhausted(s);
}

export const REPLAY_PATH: DataPath = {
  input: 'buffered',
  next,
  pulled: (s, _kind, what, _make, same) => {
    const d = meet(s, what, same);
    if (d !== undefined) checkExhausted(s);
    return d;
  },
  write: (s, c, bytes) => {
    const { data, det } = hashWrite(c, bytes);
    const logged = s.log[s.pos];
    if (logged?.kind !== 'outputHash' || logged.conn !== c.conn) {
      diverge(s, null, `the application wrote ${data.length} bytes on conn ${c.conn}`, logged);
      return;
    }
    s.pos++;
    if (!c.stopped && (logged.offset !== det.offset || logged.hash !== det.hash)) {
      // R12.1: the bytes differ from the first run's. Stop this connection only: the inputs
      // are still aligned (the log position matched), so the others can go on.
      stopOne(s, c.conn, `the application wrote ${describeDet(det)}`, describeDet(logged));
    }
    if (!c.stopped) replayOutput(s, c, { kind: 'write', bytes: data });
    checkExhausted(s);
  },
  close: (s, c, how) => {
    const offset = c.hasher.offset;
    const d = meet(
      s,
      `the application closed conn ${c.conn} (${how}) after ${offset} bytes`,
      (l) => l.kind === 'close' && l.conn === c.conn && l.how === how,
    );
    if (d === undefined) return;
    const closeDet = s.logBase + s.pos - 1;
    c.closed = true;
    c.closeHow = how;
    if (d.kind === 'close' && d.offset !== offset && !c.stopped) {
      // R12.1: same control flow, different output length; the outputHash checks normally
      // catch this first, but the close position is what the SSW trusts (R5.2), so check it.
      stopOne(
        s,
        c.conn,
        `the application closed conn ${c.conn} after ${offset} bytes`,
        describeDet(d),
      );
    }
    if (!c.stopped) replayOutput(s, c, { kind: how });
    // R13.10: held until the replay is over (the rest of the log may name it).
    closedByApp(s, c, how, closeDet);
    checkExhausted(s);
  },
};

/**
 * R11.6 (the statechart's `takeRestAsLiveInput`): input the kernel handed over beyond the log
 * is delivered, and logged, as live input: one item per remaining chunk, then the end of
 * stream, socket by socket in arrival order. A ghost the log never accepted is left out.
 */
export function takeRestAsLiveInput(s: NswState): void {
  for (const k of s.socks.values()) {
    if (k.ghost && k.conn === null) continue;
    for (let i = 0; i < k.chunks.length; i++) s.inbox.push({ kind: 'data', sock: k.id });
    if (k.eof && !k.eofDelivered) s.inbox.push({ kind: 'eof', sock: k.id });
  }
}
