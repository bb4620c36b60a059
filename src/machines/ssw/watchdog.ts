// The stall watchdog (spec/ssw.md W.1-W.5): a connection whose client waits for something
// (its SYN-ACK, the ack of its bytes or FIN, or a server close the SSW holds) and that makes no
// progress for longer than the recovery budget, while no failure the SSW knows of is in
// progress, is reported. A stall nothing explains is the worst bug FT-TCP can have: clients
// wait forever and nobody notices. Reporting it needs no trust in the code that caused it.
//
// Pure and clock-free: the runtime calls `check` on the engine's tick with the host's state and
// the engine's connection views (`SswEngine.watchdogHost`, `connectionViews`); the watchdog
// keeps one small record per connection, visits a bounded slice of them per call and returns
// reports (rare; an empty shared array otherwise). It decides nothing for the data path.

import { match, P } from 'ts-pattern';
import { seqGe, seqGt, seqSub } from '../../wire/seq.ts';
import type { RecoveryParams } from '../recovery/params.ts';
import type { ConnMode } from './classify.ts';

// ---------------------------------------------------------------------------------------
// Budget

/**
 * W.1: the recovery budget, the longest a failure the protocol handles may hold a connection
 * still before the state the watchdog sees changes: a failover's detection and STONITH
 * (`suspectAfterMs + stonithDeadlineMs`) or a lost logger's lease and L.2 grace (`leaseMs +
 * unprotectAfterMs`), whichever is longer. 1200 ms with the defaults.
 */
export const stallBudgetMs = (p: RecoveryParams): number =>
  Math.max(p.suspectAfterMs + p.stonithDeadlineMs, p.leaseMs + p.unprotectAfterMs);

// ---------------------------------------------------------------------------------------
// W.2 Is a failure in progress?

export type HostRole = 'standby' | 'active' | 'fenced';
export type HostLogger = 'awaitingLogger' | 'protected' | 'unprotected' | 'colocated';
export type HostApp = 'appRunning' | 'appDead' | 'recovering';

/** The host as the watchdog judges it: the host statechart's regions, its lease (engine
 * clock) and whether the runtime's logger link is up and welcomed. */
export interface WatchdogHost {
  readonly role: HostRole;
  readonly logger: HostLogger;
  readonly app: HostApp;
  readonly leaseUntil: number;
  readonly loggerLinkUp: boolean;
}

/**
 * What the host is doing. `healthy` and `unprotected` are watched; every other condition is a
 * failure in progress (or no service at all) and suspends the watchdog (W.2).
 */
export type HostCondition =
  | 'inactive' // standby or fenced: nothing is served here
  | 'startup' // no logger has welcomed this SSW yet (L.2 start-up grace)
  | 'appDead' // R5.4: the application died; recovery is about to start
  | 'recovering' // R6: connections are being re-created
  | 'loggerLost' // L.1/L.2: the link is down or the lease ran out (stalling through the grace)
  | 'healthy'
  | 'unprotected'; // L.2/L.3: the logger loss was handled; connections forward unclamped

export const hostConditionOf = (h: WatchdogHost, nowMs: number): HostCondition =>
  match([h.role, h.app, h.logger] as const)
    .with(['standby', P._, P._], ['fenced', P._, P._], () => 'inactive' as const)
    .with(['active', 'appDead', P._], () => 'appDead' as const)
    .with(['active', 'recovering', P._], () => 'recovering' as const)
    .with(['active', 'appRunning', 'awaitingLogger'], () => 'startup' as const)
    .with(['active', 'appRunning', 'unprotected'], () => 'unprotected' as const)
    // L.6: no lease, but the link still carries every DataStored.
    .with(['active', 'appRunning', 'colocated'], () =>
      h.loggerLinkUp ? ('healthy' as const) : ('loggerLost' as const),
    )
    .with(['active', 'appRunning', 'protected'], () =>
      h.loggerLinkUp && nowMs <= h.leaseUntil ? ('healthy' as const) : ('loggerLost' as const),
    )
    .exhaustive();

/** W.2: only these conditions are watched. */
export const hostWatched = (c: HostCondition): c is 'healthy' | 'unprotected' =>
  c === 'healthy' || c === 'unprotected';

// ---------------------------------------------------------------------------------------
// W.1 What the client waits for; W.3 who holds it

/** The fields of `SswConnectionView` (engine.ts) the watchdog reads. */
export interface WatchedConnection {
  readonly key: string;
  readonly clientAddr: number;
  readonly clientPort: number;
  readonly serverPort: number;
  readonly connId: number | undefined;
  readonly mode: ConnMode;
  readonly protected: boolean;
  readonly stableSeq: number;
  readonly loggedSeq: number;
  readonly finLogged: boolean;
  readonly kernelAck: number;
  readonly kernelAckValid: boolean;
  readonly kernelWindow: number;
  readonly kernelSndNxt: number;
  readonly sentAck: number;
  readonly rightEdge: number;
  readonly clientAck: number;
  readonly clientSndMax: number;
  /** the client retried its SYN after the SYN-ACK's release and has acked nothing since */
  readonly clientSynRetried: boolean;
  readonly clientFinSeq: number | undefined;
  readonly heldSynAck: boolean;
  readonly heldFin: boolean;
  readonly heldRst: boolean;
  readonly closeLogged: boolean;
  readonly oooBytes: number;
  readonly pendingLogBytes: number;
}

/** Where a connection is in its life, as far as the watchdog cares. */
export type ConnPhase = 'handshake' | 'dataPath' | 'recreating' | 'closed';

const phaseOfMode = (mode: ConnMode): ConnPhase =>
  match(mode)
    .with('listenSynSeen', 'awaitingSynStored', () => 'handshake' as const)
    .with('protected', 'translated', 'closing', 'unprotected', () => 'dataPath' as const)
    // R5.4 / R6: a failure of this connection's incarnation is in progress (W.2).
    .with('orphaned', 'awaitSynAck', 'injecting', () => 'recreating' as const)
    .with('closed', () => 'closed' as const)
    .exhaustive();

/**
 * The decision table above, evaluated once per mode: the watchdog asks it for every visit
 * (128 per tick), and a ts-pattern match per call (a matcher object and its closures) was a
 * third of the watchdog's CPU with a thousand connections.
 */
const PHASE_OF_MODE: Readonly<Record<ConnMode, ConnPhase>> = {
  listenSynSeen: phaseOfMode('listenSynSeen'),
  awaitingSynStored: phaseOfMode('awaitingSynStored'),
  protected: phaseOfMode('protected'),
  translated: phaseOfMode('translated'),
  unprotected: phaseOfMode('unprotected'),
  closing: phaseOfMode('closing'),
  orphaned: phaseOfMode('orphaned'),
  awaitSynAck: phaseOfMode('awaitSynAck'),
  injecting: phaseOfMode('injecting'),
  closed: phaseOfMode('closed'),
};

export const connPhaseOf = (mode: ConnMode): ConnPhase => PHASE_OF_MODE[mode];

/**
 * W.1: what the client waits for. `synAck`: its SYN is unanswered. `data` / `fin`: client
 * sequence space the SSW has seen lies beyond the ack the client was sent (`clientSndMax >
 * sentAck`; `fin` when only the FIN is left). `serverClose`: the SSW holds the kernel's FIN or
 * RST (R5.1, R5.3). `none`: nothing (server data the client has not acked is the client's
 * business: TCP's own flow control).
 */
export type Pending = 'none' | 'synAck' | 'data' | 'fin' | 'serverClose';

export const pendingOf = (c: WatchedConnection): Pending =>
  PENDING_BY_PHASE[connPhaseOf(c.mode)](c);

/** W.1 per phase, as a table the type checker holds exhaustive (the per-visit path: no
 * matcher built per call, see PHASE_OF_MODE). */
const PENDING_BY_PHASE: Readonly<Record<ConnPhase, (c: WatchedConnection) => Pending>> = {
  handshake: () => 'synAck',
  recreating: () => 'none',
  closed: () => 'none',
  dataPath: (c) => {
    // The SYN-ACK was released (R2.3) and the client retries its SYN: it still waits for it.
    if (c.clientSynRetried) return 'synAck';
    if (seqGt(c.clientSndMax, c.sentAck))
      return c.clientFinSeq !== undefined && c.sentAck === c.clientFinSeq ? 'fin' : 'data';
    return c.heldFin || c.heldRst ? 'serverClose' : 'none';
  },
};

/**
 * W.3: `ssw` when FT-TCP is the one holding what the client waits for; `kernel` when the
 * server's kernel itself has not answered (a full receive buffer behind a stopped reader, a
 * listen queue: TCP's own behaviour, reported as a distinct kind so that nothing hides).
 */
export type Holder = 'ssw' | 'kernel';

export type StallWhy =
  /** R2.1: the SYN-ACK is held until SynStored, which has not come */
  | 'synAckHeld'
  /** R2.3/R2.4: the SYN-ACK was released, yet the client retries its SYN: the SYN-ACKs on
   * their way to it (the release, the kernel's answers to the retries) do not arrive */
  | 'synAckLost'
  /** the kernel has not answered the SYN (no listener, a full accept queue) */
  | 'noKernelSynAck'
  /** R1.2: the kernel acked past what the client was told; DataStored has not come */
  | 'ackClamped'
  /** R1.4: stableSeq and kernelAck are both past the client's ack, and no ACK went out */
  | 'ackOwed'
  /** R1.1/R1.6: client bytes past loggedSeq that no kernel acked: held after a hole, or dropped
   * (hold limit, log backpressure) */
  | 'notLogged'
  /** the kernel's window is closed and it holds client bytes beyond it (a stopped reader) */
  | 'zeroWindow'
  /** the kernel holds client bytes inside an open window and does not ack them */
  | 'kernelNotAcking'
  /** R5.1/R5.3: the kernel's FIN or RST is held until CloseLogged, which has not come */
  | 'closeHeld';

export interface Stuck {
  readonly holder: Holder;
  readonly why: StallWhy;
}

/** W.3: who holds what the client waits for (`pending` is `pendingOf(c)`, not `none`). */
export const stuckOf = (c: WatchedConnection, pending: Exclude<Pending, 'none'>): Stuck =>
  match(pending)
    .with('synAck', (): Stuck => {
      if (c.heldSynAck || c.mode === 'awaitingSynStored')
        return { holder: 'ssw', why: 'synAckHeld' };
      // Past the handshake phase the SYN-ACK went out: what is lost lies on the SSW's way to
      // the client (its LAN write, the frame's addresses), not in the kernel, which answers
      // every retry (R2.4).
      if (connPhaseOf(c.mode) !== 'handshake') return { holder: 'ssw', why: 'synAckLost' };
      return { holder: 'kernel', why: 'noKernelSynAck' };
    })
    .with('serverClose', () => ({ holder: 'ssw' as const, why: 'closeHeld' as const }))
    .with('data', 'fin', (): Stuck => {
      if (c.kernelAckValid && seqGt(c.kernelAck, c.sentAck)) {
        // The kernel has it; the client was not told. R1.2 allows telling it up to stableSeq.
        const allowed = seqGe(c.stableSeq, c.kernelAck) ? c.kernelAck : c.stableSeq;
        return { holder: 'ssw', why: seqGt(allowed, c.sentAck) ? 'ackOwed' : 'ackClamped' };
      }
      // Protected: every byte below loggedSeq was forwarded after logging (R1.1). If the
      // kernel acked all of those, the bytes the client waits for never reached it whole.
      if (c.protected && !seqGt(c.loggedSeq, c.kernelAck) && seqGt(c.clientSndMax, c.loggedSeq))
        return { holder: 'ssw', why: 'notLogged' };
      return { holder: 'kernel', why: c.kernelWindow === 0 ? 'zeroWindow' : 'kernelNotAcking' };
    })
    .exhaustive();

// ---------------------------------------------------------------------------------------
// W.4 The watchdog

export interface StallWatchdogConfig {
  /** W.1: no progress for longer than this is a stall (ms, > 0). */
  readonly budgetMs: number;
  /** W.4: connections visited per `check` (bounded work per tick). Default 128. */
  readonly maxVisitsPerCheck?: number;
  /** W.4: a gap between two checks longer than this means the watchdog itself did not run
   * (a starved thread): every clock restarts. Default `budgetMs / 2`. */
  readonly maxCheckGapMs?: number;
}

/** What ended a failure the watchdog sat out, for a stall whose clock started at its end. */
export type SatOut = Exclude<HostCondition, 'healthy' | 'unprotected'> | 'recreatingConn';

export type WatchdogReport =
  | {
      readonly kind: 'stall';
      readonly conn: WatchedConnection;
      readonly host: WatchdogHost;
      readonly condition: HostCondition;
      readonly pending: Exclude<Pending, 'none'>;
      readonly stuck: Stuck;
      /** engine clock: when the wait began (or the failure it followed ended) */
      readonly sinceMs: number;
      readonly waitedMs: number;
      readonly budgetMs: number;
      /** W.2: the clock started when this failure ended (the system's own recovery) */
      readonly afterFailure: SatOut | undefined;
    }
  | {
      readonly kind: 'stallOver';
      readonly conn: WatchedConnection;
      readonly pending: Exclude<Pending, 'none'>;
      readonly stuck: Stuck;
      readonly sinceMs: number;
      readonly durationMs: number;
      /** progress, or a failure the watchdog sits out began (`recreatingConn`, a host one) */
      readonly endedBy: 'progress' | SatOut | 'forgotten';
    }
  | { readonly kind: 'late'; readonly gapMs: number; readonly maxCheckGapMs: number };

interface Rec {
  pending: Pending;
  sentAck: number;
  mode: ConnMode;
  heldFin: boolean;
  heldRst: boolean;
  sinceMs: number;
  /** the stall report of this wait, if one went out */
  reported:
    | { pending: Exclude<Pending, 'none'>; stuck: Stuck; conn: WatchedConnection }
    | undefined;
  /** the last failure sat out that concerned this connection, and when it ended */
  failure: { what: SatOut; endMs: number } | undefined;
  sweep: number;
}

const NO_REPORTS: readonly WatchdogReport[] = [];

export class StallWatchdog {
  readonly budgetMs: number;
  readonly maxVisitsPerCheck: number;
  readonly maxCheckGapMs: number;
  private readonly recs = new Map<string, Rec>();
  private iter: Iterator<WatchedConnection> | undefined;
  private sweep = 0;
  private lastCheckMs: number | undefined;
  /** the failure being sat out, and the last one with when it ended */
  private satOut: SatOut | undefined;
  private lastFailure: { what: SatOut; endMs: number } | undefined;
  private out: WatchdogReport[] = [];

  constructor(c: StallWatchdogConfig) {
    if (!(Number.isFinite(c.budgetMs) && c.budgetMs > 0))
      throw new RangeError(`watchdog budget must be a positive duration, got ${c.budgetMs}`);
    this.budgetMs = c.budgetMs;
    this.maxVisitsPerCheck = Math.max(1, Math.floor(c.maxVisitsPerCheck ?? 128));
    this.maxCheckGapMs = c.maxCheckGapMs ?? c.budgetMs / 2;
  }

  /** Connections with a record (at most those tracked by the engine at the last sweep). */
  get tracked(): number {
    return this.recs.size;
  }

  /**
   * One look, on the engine's tick: the host's condition, then at most `maxVisitsPerCheck`
   * connections from where the last call stopped (`views` is called for a new sweep; its
   * iterator may be kept across calls). Returns the reports this look produced.
   */
  check(
    nowMs: number,
    host: WatchdogHost,
    views: () => Iterator<WatchedConnection>,
  ): readonly WatchdogReport[] {
    this.out = [];
    const last = this.lastCheckMs;
    this.lastCheckMs = nowMs;
    if (last !== undefined && nowMs - last > this.maxCheckGapMs) {
      // W.4: the watchdog did not run for a while (its thread starved): what it remembers is
      // stale, and a wait it did not watch is not one it can judge.
      this.out.push({ kind: 'late', gapMs: nowMs - last, maxCheckGapMs: this.maxCheckGapMs });
      for (const r of this.recs.values()) if (r.reported === undefined) r.sinceMs = nowMs;
    }
    const condition = hostConditionOf(host, nowMs);
    if (!hostWatched(condition)) {
      this.sitOut(condition, nowMs);
      return this.done();
    }
    if (this.satOut !== undefined) {
      this.lastFailure = { what: this.satOut, endMs: nowMs };
      this.satOut = undefined;
    }
    let wrapped = false;
    for (let visits = 0; visits < this.maxVisitsPerCheck; ) {
      if (this.iter === undefined) {
        if (wrapped) break; // one sweep start per call: bounded even with no connection
        wrapped = true;
        this.sweep++;
        this.iter = views();
      }
      const n = this.iter.next();
      if (n.done === true) {
        this.iter = undefined;
        this.forgetUnseen(nowMs);
        continue;
      }
      visits++;
      this.visit(n.value, nowMs, host, condition);
    }
    return this.done();
  }

  private done(): readonly WatchdogReport[] {
    return this.out.length === 0 ? NO_REPORTS : this.out;
  }

  /** W.2: a failure the SSW knows of is in progress: no record survives it. */
  private sitOut(what: SatOut, nowMs: number): void {
    if (this.satOut === undefined) {
      for (const r of this.recs.values()) this.endReported(r, nowMs, what);
      this.recs.clear();
      this.iter = undefined;
    }
    this.satOut = what;
  }

  /** After a full sweep: records of connections the engine no longer tracks go. */
  private forgetUnseen(nowMs: number): void {
    for (const [k, r] of this.recs) {
      if (r.sweep === this.sweep) continue;
      this.endReported(r, nowMs, 'forgotten');
      this.recs.delete(k);
    }
  }

  private endReported(r: Rec, nowMs: number, endedBy: 'progress' | SatOut | 'forgotten'): void {
    const rep = r.reported;
    if (rep === undefined) return;
    r.reported = undefined;
    this.out.push({
      kind: 'stallOver',
      conn: rep.conn,
      pending: rep.pending,
      stuck: rep.stuck,
      sinceMs: r.sinceMs,
      durationMs: nowMs - r.sinceMs,
      endedBy,
    });
  }

  private visit(
    c: WatchedConnection,
    nowMs: number,
    host: WatchdogHost,
    cond: HostCondition,
  ): void {
    const phase = connPhaseOf(c.mode);
    const pending = pendingOf(c);
    let r = this.recs.get(c.key);
    if (r === undefined) {
      r = {
        pending,
        sentAck: c.sentAck,
        mode: c.mode,
        heldFin: c.heldFin,
        heldRst: c.heldRst,
        sinceMs: nowMs,
        reported: undefined,
        // Records are dropped while a host failure is sat out (a new one may follow its end).
        failure: this.lastFailure,
        sweep: this.sweep,
      };
      this.recs.set(c.key, r);
    }
    r.sweep = this.sweep;
    if (phase === 'recreating') {
      // W.2: this connection's incarnation died and is being re-created: sat out.
      this.endReported(r, nowMs, 'recreatingConn');
      r.failure = { what: 'recreatingConn', endMs: nowMs };
      r.pending = 'none';
      r.mode = c.mode;
      r.sinceMs = nowMs;
      return;
    }
    const progressed =
      r.pending !== pending ||
      r.sentAck !== c.sentAck ||
      r.mode !== c.mode ||
      r.heldFin !== c.heldFin ||
      r.heldRst !== c.heldRst;
    if (progressed) {
      this.endReported(r, nowMs, 'progress');
      r.pending = pending;
      r.sentAck = c.sentAck;
      r.mode = c.mode;
      r.heldFin = c.heldFin;
      r.heldRst = c.heldRst;
      r.sinceMs = nowMs;
      return;
    }
    if (pending === 'none' || r.reported !== undefined) return;
    const waitedMs = nowMs - r.sinceMs;
    if (waitedMs <= this.budgetMs) return;
    const stuck = stuckOf(c, pending);
    r.reported = { pending, stuck, conn: c };
    // W.2: a wait that began within a budget of the end of a failure the SSW sat out.
    const f = r.failure;
    const afterFailure =
      f !== undefined && r.sinceMs - f.endMs <= this.budgetMs ? f.what : undefined;
    this.out.push({
      kind: 'stall',
      conn: c,
      host,
      condition: cond,
      pending,
      stuck,
      sinceMs: r.sinceMs,
      waitedMs,
      budgetMs: this.budgetMs,
      afterFailure,
    });
  }
}

// ---------------------------------------------------------------------------------------
// W.5 Timeline form

const addr = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

/** Signed distance `a - b` in bytes, for a reader of the timeline. */
const ahead = (a: number, b: number): number => seqSub(a, b);

/**
 * W.5: the fields of the `stall` / `stall-over` / `watchdog-late` timeline event for a report.
 * `wallOf` turns an engine-clock time into wall-clock ms (the lab compares timelines of
 * different processes by it); `serviceAddr` completes the 4-tuple.
 */
export const watchdogEvent = (
  r: WatchdogReport,
  nowMs: number,
  wallOf: (engineMs: number) => number,
  serviceAddr: number,
): { event: 'stall' | 'stall-over' | 'watchdog-late'; fields: Record<string, unknown> } => {
  if (r.kind === 'late')
    return {
      event: 'watchdog-late',
      fields: { rule: 'W.4', gapMs: Math.round(r.gapMs), maxCheckGapMs: r.maxCheckGapMs },
    };
  const c = r.conn;
  const who = {
    conn: c.connId,
    client: `${addr(c.clientAddr)}:${c.clientPort}`,
    server: `${addr(serviceAddr)}:${c.serverPort}`,
    pending: r.pending,
    holder: r.stuck.holder,
    why: r.stuck.why,
    sinceWallMs: Math.round(wallOf(r.sinceMs)),
    atWallMs: Math.round(wallOf(nowMs)),
  };
  if (r.kind === 'stallOver')
    return {
      event: 'stall-over',
      fields: { rule: 'W.1', ...who, durationMs: Math.round(r.durationMs), endedBy: r.endedBy },
    };
  return {
    event: 'stall',
    fields: {
      rule: r.stuck.holder === 'ssw' ? 'W.1' : 'W.3',
      ...who,
      waitedMs: Math.round(r.waitedMs),
      budgetMs: r.budgetMs,
      ...(r.afterFailure !== undefined ? { afterFailure: r.afterFailure } : {}),
      engine: {
        mode: c.mode,
        protected: c.protected,
        clientSndMax: c.clientSndMax,
        clientSynRetried: c.clientSynRetried,
        sentAck: c.sentAck,
        kernelAck: c.kernelAck,
        kernelAckValid: c.kernelAckValid,
        stableSeq: c.stableSeq,
        loggedSeq: c.loggedSeq,
        finLogged: c.finLogged,
        clientFinSeq: c.clientFinSeq ?? null,
        rightEdge: c.rightEdge,
        kernelWindow: c.kernelWindow,
        kernelSndNxt: c.kernelSndNxt,
        clientAck: c.clientAck,
        held: {
          synAck: c.heldSynAck,
          fin: c.heldFin,
          rst: c.heldRst,
          oooBytes: c.oooBytes,
          pendingLogBytes: c.pendingLogBytes,
        },
        closeLogged: c.closeLogged,
        // The same, as distances a person reads at a glance.
        unackedBytes: ahead(c.clientSndMax, c.sentAck),
        kernelAheadBytes: ahead(c.kernelAck, c.sentAck),
        unstoredBytes: ahead(c.loggedSeq, c.stableSeq),
      },
      host: {
        condition: r.condition,
        role: r.host.role,
        logger: r.host.logger,
        app: r.host.app,
        leaseLeftMs: Math.round(r.host.leaseUntil - nowMs),
        loggerLink: r.host.loggerLinkUp ? 'up' : 'down',
      },
    },
  };
};
