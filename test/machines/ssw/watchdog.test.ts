// The stall watchdog (spec/ssw.md W.1-W.5): its decision tables on their own (host condition,
// what the client waits for, who holds it), the watchdog's clocks against a reference model
// (fast-check), its bounds, and the watchdog over the real engine: a connection whose
// DataStored never comes is reported after the budget; one during replay, or with the logger
// down, is not.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RECOVERY_PARAMS } from '../../../src/machines/recovery/params.ts';
import { CONN_MODES, type ConnMode } from '../../../src/machines/ssw/classify.ts';
import { type SswConfig, SswEngine } from '../../../src/machines/ssw/index.ts';
import {
  connPhaseOf,
  type HostApp,
  type HostLogger,
  type HostRole,
  hostConditionOf,
  hostWatched,
  pendingOf,
  StallWatchdog,
  stallBudgetMs,
  stuckOf,
  type WatchdogHost,
  type WatchdogReport,
  type WatchedConnection,
  watchdogEvent,
} from '../../../src/machines/ssw/watchdog.ts';
import type { LoggerMessage } from '../../../src/wire/logmsg.ts';
import { seqAdd, seqGt } from '../../../src/wire/seq.ts';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '../../../src/wire/tcp.ts';
import {
  CLIENT,
  CPORT,
  clientFrame,
  kernelPacket,
  lanSegs,
  loggerMsgs,
  SERVICE,
  SERVICE_MAC,
  SPORT,
} from './packets.ts';

const ROLES: readonly HostRole[] = ['standby', 'active', 'fenced'];
const APPS: readonly HostApp[] = ['appRunning', 'appDead', 'recovering'];
const LOGGERS: readonly HostLogger[] = ['awaitingLogger', 'protected', 'unprotected', 'colocated'];

const HEALTHY: WatchdogHost = {
  role: 'active',
  logger: 'protected',
  app: 'appRunning',
  leaseUntil: Number.POSITIVE_INFINITY,
  loggerLinkUp: true,
};

/** A connection view with everything settled: nothing pending. */
const conn = (over: Partial<WatchedConnection> = {}): WatchedConnection => ({
  key: '198.18.0.10:40000>7',
  clientAddr: CLIENT,
  clientPort: CPORT,
  serverPort: SPORT,
  connId: 1,
  mode: 'protected',
  protected: true,
  stableSeq: 1000,
  loggedSeq: 1000,
  finLogged: false,
  kernelAck: 1000,
  kernelAckValid: true,
  kernelWindow: 65535,
  kernelSndNxt: 5001,
  sentAck: 1000,
  rightEdge: 66535,
  clientAck: 5001,
  clientSndMax: 1000,
  clientSynRetried: false,
  clientFinSeq: undefined,
  heldSynAck: false,
  heldFin: false,
  heldRst: false,
  closeLogged: false,
  oooBytes: 0,
  pendingLogBytes: 0,
  ...over,
});

describe('W.1 the recovery budget', () => {
  it('is the longer of a failover (suspect + STONITH) and a lost logger (lease + L.2 grace)', () => {
    expect(stallBudgetMs(DEFAULT_RECOVERY_PARAMS)).toBe(1200);
    expect(
      stallBudgetMs({ ...DEFAULT_RECOVERY_PARAMS, suspectAfterMs: 900, stonithDeadlineMs: 2000 }),
    ).toBe(2900);
  });
});

describe('W.2 host condition: is a failure in progress?', () => {
  it('every combination of the host regions, link and lease (the table against a second reading)', () => {
    for (const role of ROLES)
      for (const app of APPS)
        for (const logger of LOGGERS)
          for (const loggerLinkUp of [true, false])
            for (const leaseLeft of [-1, 0, 1]) {
              const now = 1000;
              const c = hostConditionOf(
                { role, app, logger, loggerLinkUp, leaseUntil: now + leaseLeft },
                now,
              );
              // Watched: an active host serving, whose logger either was given up (L.2) or is
              // reachable (and leased, unless co-located: L.6).
              const expected =
                role === 'active' &&
                app === 'appRunning' &&
                (logger === 'unprotected' ||
                  (logger === 'colocated' && loggerLinkUp) ||
                  (logger === 'protected' && loggerLinkUp && leaseLeft >= 0));
              expect(
                hostWatched(c),
                JSON.stringify({ role, app, logger, loggerLinkUp, leaseLeft, c }),
              ).toBe(expected);
              if (role !== 'active') expect(c).toBe('inactive');
              else if (app !== 'appRunning') expect(c).toBe(app);
              else if (logger === 'awaitingLogger') expect(c).toBe('startup');
            }
  });
});

// Sequence numbers near a base that may sit at the wrap.
const arbConn = fc
  .record({
    base: fc.oneof(fc.constant(0xffff_ff00), fc.integer({ min: 0, max: 0xffff_ffff })),
    mode: fc.constantFrom(...CONN_MODES),
    protected: fc.boolean(),
    sent: fc.integer({ min: 0, max: 3000 }),
    stable: fc.integer({ min: 0, max: 3000 }),
    logged: fc.integer({ min: 0, max: 3000 }),
    kernel: fc.integer({ min: 0, max: 3000 }),
    kernelAckValid: fc.boolean(),
    clientMax: fc.integer({ min: 0, max: 3000 }),
    fin: fc.option(fc.integer({ min: 0, max: 3000 }), { nil: undefined }),
    kernelWindow: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1 << 20 })),
    heldSynAck: fc.boolean(),
    heldFin: fc.boolean(),
    heldRst: fc.boolean(),
    synRetried: fc.boolean(),
  })
  .map((r) =>
    conn({
      mode: r.mode,
      protected: r.protected,
      sentAck: seqAdd(r.base, r.sent),
      stableSeq: seqAdd(r.base, r.stable),
      loggedSeq: seqAdd(r.base, r.logged),
      kernelAck: seqAdd(r.base, r.kernel),
      kernelAckValid: r.kernelAckValid,
      clientSndMax: seqAdd(r.base, r.clientMax),
      clientFinSeq: r.fin === undefined ? undefined : seqAdd(r.base, r.fin),
      kernelWindow: r.kernelWindow,
      heldSynAck: r.heldSynAck,
      heldFin: r.heldFin,
      heldRst: r.heldRst,
      clientSynRetried: r.synRetried,
    }),
  );

describe('W.1 / W.3 what the client waits for, and who holds it', () => {
  it('pending follows the phase and the client bytes past sentAck', () => {
    fc.assert(
      fc.property(arbConn, (c) => {
        const p = pendingOf(c);
        const phase = connPhaseOf(c.mode);
        if (phase === 'recreating' || phase === 'closed') return p === 'none';
        if (phase === 'handshake') return p === 'synAck';
        if (c.clientSynRetried) return p === 'synAck';
        if (seqGt(c.clientSndMax, c.sentAck)) return p === 'data' || p === 'fin';
        return p === (c.heldFin || c.heldRst ? 'serverClose' : 'none');
      }),
    );
  });

  it('the SSW holds it whenever the kernel acked past what the client was told; ackOwed exactly when R1.2 allowed more', () => {
    fc.assert(
      fc.property(arbConn, (c) => {
        const p = pendingOf(c);
        if (p !== 'data' && p !== 'fin') return true;
        const s = stuckOf(c, p);
        if (c.kernelAckValid && seqGt(c.kernelAck, c.sentAck)) {
          const allowed = seqGt(c.stableSeq, c.kernelAck) ? c.kernelAck : c.stableSeq;
          return (
            s.holder === 'ssw' && s.why === (seqGt(allowed, c.sentAck) ? 'ackOwed' : 'ackClamped')
          );
        }
        if (s.holder === 'kernel')
          return s.why === (c.kernelWindow === 0 ? 'zeroWindow' : 'kernelNotAcking');
        // The SSW's own: protected bytes seen past everything it logged and the kernel acked.
        return (
          s.why === 'notLogged' &&
          c.protected &&
          !seqGt(c.loggedSeq, c.kernelAck) &&
          seqGt(c.clientSndMax, c.loggedSeq)
        );
      }),
    );
  });

  it("a handshake: the held SYN-ACK is the SSW's, a missing one the kernel's; a held close is the SSW's", () => {
    expect(stuckOf(conn({ mode: 'awaitingSynStored', heldSynAck: true }), 'synAck')).toEqual({
      holder: 'ssw',
      why: 'synAckHeld',
    });
    expect(stuckOf(conn({ mode: 'listenSynSeen' }), 'synAck')).toEqual({
      holder: 'kernel',
      why: 'noKernelSynAck',
    });
    // Released (past the handshake phase) and retried by the client: lost on the SSW's way.
    expect(stuckOf(conn({ mode: 'protected', clientSynRetried: true }), 'synAck')).toEqual({
      holder: 'ssw',
      why: 'synAckLost',
    });
    expect(pendingOf(conn({ mode: 'unprotected', clientSynRetried: true }))).toBe('synAck');
    expect(stuckOf(conn({ heldFin: true }), 'serverClose')).toEqual({
      holder: 'ssw',
      why: 'closeHeld',
    });
  });
});

/** One connection, changed by `over`, as an iterator source. */
const one =
  (c: WatchedConnection): (() => Iterator<WatchedConnection>) =>
  () =>
    [c][Symbol.iterator]();

const stalls = (rs: readonly WatchdogReport[]) => rs.filter((r) => r.kind === 'stall');

describe('W.4 the watchdog', () => {
  it('reports a wait once, after the budget and not at it; progress ends it (stall-over)', () => {
    const w = new StallWatchdog({ budgetMs: 1000 });
    const waiting = conn({ clientSndMax: 1100, kernelAck: 1100, loggedSeq: 1100 });
    expect(w.check(0, HEALTHY, one(waiting))).toEqual([]);
    for (let t = 10; t <= 1000; t += 10) expect(w.check(t, HEALTHY, one(waiting))).toEqual([]);
    const r = w.check(1010, HEALTHY, one(waiting));
    expect(r).toMatchObject([
      { kind: 'stall', pending: 'data', stuck: { holder: 'ssw', why: 'ackClamped' }, sinceMs: 0 },
    ]);
    expect(w.check(1020, HEALTHY, one(waiting))).toEqual([]);
    const acked = { ...waiting, sentAck: 1100, stableSeq: 1100 };
    expect(w.check(1030, HEALTHY, one(acked))).toMatchObject([
      { kind: 'stallOver', durationMs: 1030, endedBy: 'progress' },
    ]);
  });

  it('W.2 sits out a failure the SSW knows of; the clock starts again at its end (afterFailure)', () => {
    const w = new StallWatchdog({ budgetMs: 1000 });
    const waiting = conn({ clientSndMax: 1100, kernelAck: 1100, loggedSeq: 1100 });
    const failures: WatchdogHost[] = [
      { ...HEALTHY, loggerLinkUp: false },
      { ...HEALTHY, leaseUntil: 0 },
      { ...HEALTHY, app: 'recovering' },
      { ...HEALTHY, app: 'appDead' },
      { ...HEALTHY, role: 'standby' },
    ];
    let t = 0;
    for (const h of failures) {
      for (let i = 0; i < 300; i++, t += 10) expect(w.check(t, h, one(waiting))).toEqual([]);
    }
    const end = t;
    for (; t <= end + 1000; t += 10) expect(w.check(t, HEALTHY, one(waiting))).toEqual([]);
    expect(w.check(t, HEALTHY, one(waiting))).toMatchObject([
      { kind: 'stall', sinceMs: end, afterFailure: 'inactive' },
    ]);
  });

  it('W.2 a connection being re-created is sat out; a reported wait ends when its re-creation begins', () => {
    const w = new StallWatchdog({ budgetMs: 100, maxCheckGapMs: 1e9 });
    const waiting = conn({ clientSndMax: 1100, kernelAck: 1100, loggedSeq: 1100 });
    w.check(0, HEALTHY, one(waiting));
    expect(stalls(w.check(200, HEALTHY, one(waiting)))).toHaveLength(1);
    for (const mode of ['orphaned', 'awaitSynAck', 'injecting'] as const) {
      const r = w.check(300, HEALTHY, one({ ...waiting, mode }));
      expect(stalls(r)).toEqual([]);
      for (let t = 310; t < 2000; t += 50)
        expect(w.check(t, HEALTHY, one({ ...waiting, mode }))).toEqual([]);
    }
    // Live again, the client still unanswered: judged from the re-creation's end.
    w.check(2000, HEALTHY, one({ ...waiting, mode: 'translated' }));
    expect(w.check(2101, HEALTHY, one({ ...waiting, mode: 'translated' }))).toMatchObject([
      { kind: 'stall', sinceMs: 2000, afterFailure: 'recreatingConn' },
    ]);
  });

  it('W.4 a late check (starved thread) restarts the clocks instead of reporting', () => {
    const w = new StallWatchdog({ budgetMs: 1000 });
    const waiting = conn({ clientSndMax: 1100, kernelAck: 1100, loggedSeq: 1100 });
    w.check(0, HEALTHY, one(waiting));
    const r = w.check(5000, HEALTHY, one(waiting));
    expect(r).toEqual([{ kind: 'late', gapMs: 5000, maxCheckGapMs: 500 }]);
    expect(stalls(w.check(5400, HEALTHY, one(waiting)))).toEqual([]);
    expect(stalls(w.check(5800, HEALTHY, one(waiting)))).toEqual([]);
    expect(stalls(w.check(6001, HEALTHY, one(waiting)))).toHaveLength(1);
  });

  it('W.4 bounded work: at most maxVisitsPerCheck views read per check, every connection still judged', () => {
    const n = 1000;
    const conns = Array.from({ length: n }, (_, i) =>
      conn({ key: `k${i}`, clientSndMax: 1100, kernelAck: 1100, loggedSeq: 1100 }),
    );
    let reads = 0;
    const views = (): Iterator<WatchedConnection> => {
      const it = conns[Symbol.iterator]();
      return {
        next: () => {
          reads++;
          return it.next();
        },
      };
    };
    const w = new StallWatchdog({ budgetMs: 1000, maxVisitsPerCheck: 50, maxCheckGapMs: 1e9 });
    const reported = new Set<string>();
    for (let t = 0; t <= 2500; t += 10) {
      const before = reads;
      for (const r of w.check(t, HEALTHY, views)) if (r.kind === 'stall') reported.add(r.conn.key);
      // 50 views, plus the one `done` read that ends a sweep.
      expect(reads - before).toBeLessThanOrEqual(51);
    }
    expect(reported.size).toBe(n);
    expect(w.tracked).toBe(n);
    // Forgotten by the engine: forgotten here at the end of the next sweep.
    conns.splice(10);
    for (let t = 2510; t <= 2800; t += 10) w.check(t, HEALTHY, views);
    expect(w.tracked).toBe(10);
  });

  it('refuses a budget that is not a positive duration', () => {
    expect(() => new StallWatchdog({ budgetMs: 0 })).toThrow(RangeError);
    expect(() => new StallWatchdog({ budgetMs: Number.NaN })).toThrow(RangeError);
  });

  it('W.1 against a reference model: a stall exactly when one wait outlasts the budget with no failure in it', () => {
    type Act = 'same' | 'progress' | 'idle' | 'wait' | 'fail' | 'heal';
    const budget = 500;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            dt: fc.integer({ min: 1, max: 300 }),
            act: fc.constantFrom<Act>(
              'same',
              'same',
              'same',
              'progress',
              'idle',
              'wait',
              'fail',
              'heal',
            ),
          }),
          { maxLength: 120 },
        ),
        (steps) => {
          const w = new StallWatchdog({ budgetMs: budget, maxCheckGapMs: 1e9 });
          let t = 0;
          let sent = 1000;
          let waiting = true;
          let healthy = true;
          // The reference: the wait the watchdog should be timing, if any.
          let rec: { since: number; waiting: boolean; sent: number; reported: boolean } | undefined;
          // What each check saw, for the semantic check below.
          const seen: { t: number; healthy: boolean; waiting: boolean; sent: number }[] = [];
          for (const s of steps) {
            t += s.dt;
            if (s.act === 'progress') sent += 10;
            else if (s.act === 'idle') waiting = false;
            else if (s.act === 'wait') waiting = true;
            else if (s.act === 'fail') healthy = false;
            else if (s.act === 'heal') healthy = true;
            const v = waiting
              ? conn({
                  sentAck: sent,
                  stableSeq: sent,
                  clientSndMax: sent + 10,
                  kernelAck: sent + 10,
                  loggedSeq: sent + 10,
                })
              : conn({
                  sentAck: sent,
                  stableSeq: sent,
                  clientSndMax: sent,
                  kernelAck: sent,
                  loggedSeq: sent,
                });
            const got = stalls(
              w.check(t, healthy ? HEALTHY : { ...HEALTHY, app: 'recovering' }, one(v)),
            );
            seen.push({ t, healthy, waiting, sent });
            let want: number | undefined; // the sinceMs of the stall expected now
            if (!healthy) rec = undefined;
            else if (rec === undefined || rec.waiting !== waiting || rec.sent !== sent)
              rec = { since: t, waiting, sent, reported: false };
            else if (waiting && !rec.reported && t - rec.since > budget) {
              rec.reported = true;
              want = rec.since;
            }
            if (got.length !== (want === undefined ? 0 : 1)) return false;
            const r = got[0];
            if (r === undefined) continue;
            if (r.kind !== 'stall' || r.sinceMs !== want) return false;
            // Semantics, independent of the model: every check in the wait was healthy, waiting,
            // with the same ack, and the wait is longer than the budget.
            if (t - r.sinceMs <= budget) return false;
            for (const x of seen)
              if (x.t >= r.sinceMs && (!x.healthy || !x.waiting || x.sent !== sent)) return false;
          }
          return true;
        },
      ),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// With the engine

const C_ISN = 1000;
const S_ISN = 5000;
const config: SswConfig = {
  serviceAddr: SERVICE,
  serviceMac: SERVICE_MAC,
  mode: 'ftTcp',
  role: 'active',
};

/** A protected connection through its handshake; the client has sent 'hello', the kernel acked
 * it, the logger has not stored it (no DataStored). */
const helloUnstored = () => {
  const e = new SswEngine(config);
  e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }, 0);
  e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN }), 1);
  const synAck = [
    ...e.onTunPacket(kernelPacket({ seq: S_ISN, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK }), 2),
  ];
  const logSyn = loggerMsgs(synAck)[0];
  if (logSyn?.kind !== 'LogSyn') throw new Error('no LogSyn');
  e.onLoggerMessage({ kind: 'SynStored', conn: logSyn.conn }, 3);
  e.onLanFrame(clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK }), 4);
  e.onLanFrame(
    clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK | TCP_PSH, payload: 'hello' }),
    10,
  );
  const out = lanSegs([
    ...e.onTunPacket(kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 6, flags: TCP_ACK }), 11),
  ]);
  // R1.2: the kernel's ack reaches the client clamped at stableSeq.
  expect(out[0]?.tcp.ack).toBe(C_ISN + 1);
  return { e, conn: logSyn.conn, logSyn };
};

/** Ticks engine and watchdog together every 10 ms over [from, to); returns the reports. */
const run = (
  e: SswEngine,
  w: StallWatchdog,
  from: number,
  to: number,
  linkUp: () => boolean = () => true,
): WatchdogReport[] => {
  const out: WatchdogReport[] = [];
  for (let t = from; t < to; t += 10) {
    e.onTick(t);
    out.push(
      ...w.check(t, { ...e.watchdogHost(), loggerLinkUp: linkUp() }, () => e.connectionViews()),
    );
  }
  return out;
};

describe('W.1-W.3 over the engine', () => {
  const budget = stallBudgetMs(DEFAULT_RECOVERY_PARAMS);

  it('a connection whose DataStored never comes is a stall of the SSW after the budget, with its view', () => {
    const { e, conn: id } = helloUnstored();
    const w = new StallWatchdog({ budgetMs: budget });
    const rs = run(e, w, 20, 20 + budget + 100);
    const s = stalls(rs);
    expect(s).toHaveLength(1);
    const r = s[0];
    if (r?.kind !== 'stall') throw new Error('no stall');
    expect(r.sinceMs).toBe(20);
    expect(r.waitedMs).toBeGreaterThan(budget);
    expect(r.waitedMs).toBeLessThanOrEqual(budget + 10);
    expect(r).toMatchObject({
      pending: 'data',
      stuck: { holder: 'ssw', why: 'ackClamped' },
      condition: 'healthy',
      afterFailure: undefined,
      conn: {
        connId: id,
        mode: 'protected',
        sentAck: C_ISN + 1,
        stableSeq: C_ISN + 1,
        kernelAck: C_ISN + 6,
        loggedSeq: C_ISN + 6,
        clientSndMax: C_ISN + 6,
        pendingLogBytes: 5,
      },
    });
    // The timeline form carries the 4-tuple and the engine's view.
    const ev = watchdogEvent(r, 20 + budget + 10, (ms) => 1_000_000 + ms, SERVICE);
    expect(ev.event).toBe('stall');
    expect(ev.fields).toMatchObject({
      rule: 'W.1',
      conn: id,
      client: `198.18.0.10:${CPORT}`,
      server: `198.18.0.1:${SPORT}`,
      holder: 'ssw',
      why: 'ackClamped',
      sinceWallMs: 1_000_020,
      engine: { kernelAheadBytes: 5, unstoredBytes: 5, unackedBytes: 5 },
      host: { condition: 'healthy', logger: 'protected', loggerLink: 'up' },
    });
    // DataStored at last: R1.4's pure ACK is progress; the stall is over.
    e.onLoggerMessage(
      { kind: 'DataStored', conn: id, stableSeq: C_ISN + 6, finLogged: false },
      2000,
    );
    const after = run(e, w, 2000, 2020);
    // The first check after a pause in this test's ticking is late (W.4); the wait ends.
    expect(after.filter((r) => r.kind !== 'late')).toMatchObject([
      { kind: 'stallOver', endedBy: 'progress' },
    ]);
    expect(stalls(run(e, w, 2020, 6000))).toEqual([]);
  });

  it('during a local recovery (application dead, replay) the same wait is not reported', () => {
    const { e, logSyn } = helloUnstored();
    const w = new StallWatchdog({ budgetMs: budget });
    expect(run(e, w, 20, 500)).toEqual([]);
    e.onAppExit(500);
    expect(stalls(run(e, w, 500, 4000))).toEqual([]);
    // Replay starts; the restarted kernel never answers the fake SYN: still re-creating.
    e.startRecovery(
      [{ ...logSyn, kind: 'ReplaySyn', clientAck: S_ISN + 1 } as LoggerMessage],
      4000,
    );
    expect(e.watchdogHost().app).toBe('recovering');
    expect(stalls(run(e, w, 4000, 10_000))).toEqual([]);
  });

  it('with the logger link down or the lease lapsed, the wait is sat out; once the link is back the clock restarts', () => {
    const { e } = helloUnstored();
    const w = new StallWatchdog({ budgetMs: budget });
    let up = false;
    expect(stalls(run(e, w, 20, 5000, () => up))).toEqual([]);
    up = true;
    const back = run(e, w, 5000, 5000 + budget + 100, () => up);
    expect(stalls(back)).toMatchObject([
      { kind: 'stall', sinceMs: 5000, afterFailure: 'loggerLost' },
    ]);
    // A lease that ran out (no renewal for 60 s) is a lost logger too, through the L.2 grace;
    // then the host serves unprotected, lifting the clamp with an ACK (L.2): no stall after.
    const { e: e2 } = helloUnstored();
    const w2 = new StallWatchdog({ budgetMs: budget });
    expect(stalls(run(e2, w2, 20, 1000))).toEqual([]);
    e2.onTick(60_000);
    expect(hostConditionOf({ ...e2.watchdogHost(), loggerLinkUp: true }, 60_000)).toBe(
      'loggerLost',
    );
    const through = run(e2, w2, 60_000, 60_000 + 4 * budget);
    expect(e2.watchdogHost().logger).toBe('unprotected');
    expect(stalls(through)).toEqual([]);
  });

  it("W.3 a zero window holding a client byte is the kernel's, told apart from the SSW's", () => {
    const { e, conn: id } = helloUnstored();
    e.onLoggerMessage({ kind: 'DataStored', conn: id, stableSeq: C_ISN + 6, finLogged: false }, 12);
    // The kernel's reader stopped: window 0. The client probes with a byte past it (as BSD
    // stacks do); the kernel drops it and acks where it was.
    e.onTunPacket(kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 6, flags: TCP_ACK, window: 0 }), 13);
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 6, ack: S_ISN + 1, flags: TCP_ACK | TCP_PSH, payload: 'x' }),
      14,
    );
    e.onTunPacket(kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 6, flags: TCP_ACK, window: 0 }), 15);
    e.onLoggerMessage({ kind: 'DataStored', conn: id, stableSeq: C_ISN + 7, finLogged: false }, 16);
    const w = new StallWatchdog({ budgetMs: budget });
    const s = stalls(run(e, w, 20, 20 + budget + 100));
    expect(s).toMatchObject([
      {
        pending: 'data',
        stuck: { holder: 'kernel', why: 'zeroWindow' },
        conn: {
          sentAck: C_ISN + 6,
          kernelAck: C_ISN + 6,
          kernelWindow: 0,
          clientSndMax: C_ISN + 7,
        },
      },
    ]);
    const ev = watchdogEvent(s[0] as WatchdogReport, 0, (ms) => ms, SERVICE);
    expect(ev.fields.rule).toBe('W.3');
  });

  it("a SYN-ACK held for a SynStored that never comes is the SSW's", () => {
    const e = new SswEngine(config);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }, 0);
    e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN }), 1);
    e.onTunPacket(kernelPacket({ seq: S_ISN, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK }), 2);
    const w = new StallWatchdog({ budgetMs: budget });
    expect(stalls(run(e, w, 10, 10 + budget + 100))).toMatchObject([
      {
        pending: 'synAck',
        stuck: { holder: 'ssw', why: 'synAckHeld' },
        conn: { mode: 'awaitingSynStored', heldSynAck: true },
      },
    ]);
  });

  // syn-hang: a client left in SYN-SENT after the SSW released its SYN-ACK (R2.3) was a wait the
  // watchdog could not see (nothing pending after the release). The client's SYN retry the SSW
  // passes on (R2.4) is the sign; its ACK ends the wait.
  it('syn-hang: a released SYN-ACK the client never got (it retries its SYN) is a stall; its ACK ends it', () => {
    const e = new SswEngine(config);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }, 0);
    e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN }), 1);
    e.onTunPacket(kernelPacket({ seq: S_ISN, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK }), 2);
    const connId = [...e.connectionViews()][0]?.connId ?? -1;
    // Released: the SYN-ACK is on the LAN. Lost there, the client retries its SYN 1 s later.
    const released = lanSegs(e.onLoggerMessage({ kind: 'SynStored', conn: connId }, 3));
    expect(released.map((s) => s.tcp.flags & (TCP_SYN | TCP_ACK))).toEqual([TCP_SYN | TCP_ACK]);
    e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN }), 1003);
    const [v] = [...e.connectionViews()];
    expect(v).toMatchObject({ mode: 'protected', clientSynRetried: true });
    const w = new StallWatchdog({ budgetMs: budget });
    const reports = run(e, w, 1010, 1010 + budget + 100);
    expect(stalls(reports)).toMatchObject([
      {
        pending: 'synAck',
        stuck: { holder: 'ssw', why: 'synAckLost' },
        conn: { clientSynRetried: true },
      },
    ]);
    const ev = watchdogEvent(stalls(reports)[0] as WatchdogReport, 0, (ms) => ms, SERVICE);
    expect(ev.fields).toMatchObject({
      rule: 'W.1',
      pending: 'synAck',
      holder: 'ssw',
      why: 'synAckLost',
    });
    // The kernel's answer to the retry reaches the client this time: its ACK ends the wait.
    const t = 1010 + budget + 200;
    e.onLanFrame(clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK }), t);
    expect([...e.connectionViews()][0]).toMatchObject({ clientSynRetried: false });
    const after = run(e, w, t + 10, t + 10 + budget + 100);
    expect(after).toMatchObject([{ kind: 'stallOver', endedBy: 'progress' }]);
    expect(stalls(after)).toEqual([]);
  });

  it('a SYN retry before the release (R2.4 while held) is the held SYN-ACK, not a lost one', () => {
    const e = new SswEngine(config);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }, 0);
    e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN }), 1);
    e.onTunPacket(kernelPacket({ seq: S_ISN, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK }), 2);
    e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN }), 1001);
    expect([...e.connectionViews()][0]).toMatchObject({
      mode: 'awaitingSynStored',
      clientSynRetried: false,
    });
  });

  it('modes the engine has are all classified (no mode left out of the phase table)', () => {
    const seen = new Set(CONN_MODES.map((m: ConnMode) => connPhaseOf(m)));
    expect([...seen].sort()).toEqual(['closed', 'dataPath', 'handshake', 'recreating']);
  });
});
