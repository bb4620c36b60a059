// Which core the data-path thread runs, and the binding of the FT-TCP engine
// (src/machines/ssw/engine.ts) to the thread's fds. The binding decides nothing: it hands the
// engine packets, logger messages and time, and carries out the effects it returns. What it
// adds is plumbing the engine leaves to its runtime:
//   - FetchLog 'ssw' is sent when recovery needs the log: at takeover (after the logger's
//     Welcome in the new epoch) and when the supervised application died and restarts
//     (local recovery). The engine re-creates connections by itself on ReplayEnd.
//   - With `appRecorded: false` (spec/ssw.md R5.8) the engine's recorder-link messages are
//     framed here like the logger's and go out as `recorderFrames`; what the main thread's
//     recorder link receives comes back as the `recorder` command.
//   - Control-channel answers and timeline events: the takeover reply waits for ReplayEnd
//     (conns, bytes); `recreated` after ReplayEnd, `live` when the engine's host state leaves
//     `recovering`.
//   - The stall watchdog (spec/ssw.md W.1-W.5) looks after each engine tick: `stall`,
//     `stall-over` and `watchdog-late` timeline events, with wall-clock times the lab compares.
import { SERVER_FIN_ACK_TO_KERNEL, type SswEffect, SswEngine } from '../../machines/ssw/index.ts';
import { StallWatchdog, watchdogEvent } from '../../machines/ssw/watchdog.ts';
import type { LoggerMessage } from '../../wire/logmsg.ts';
import type { VnetHdr } from '../../wire/vnet.ts';
import { type TestHookPoint, testHook } from '../common/testhook.ts';
import {
  type CoreSpec,
  type DatapathCommand,
  type DatapathCore,
  type DatapathEmit,
  passThroughCore,
  type SswOut,
} from './dataThread.protocol.ts';
import { FrameBatch } from './frames.ts';

/** Limits on the logger frames carried to the main thread in one transfer (a poll round's
 * worth normally; a longer burst is cut here). */
const MAX_LOGGER_BATCH = 4096;
const MAX_LOGGER_BATCH_BYTES = 1024 * 1024;

type EngineSpec = Extract<CoreSpec, { kind: 'engine' }>;

/**
 * The logger and recorder links as the data-path thread sees them: messages framed with the
 * epoch the main thread's link joined with, batched per poll round (or run of back-to-back
 * rounds, dataThread.worker.ts), and (R1.7 on the wire)
 * nothing sent to the logger from a (re)connect until its Welcome has reached the engine: the
 * engine resends everything unacknowledged, in order, when it sees the Welcome, and a fresh
 * LogData sent in between would reach the logger ahead of that resend, past the end it stored,
 * a gap the logger refuses by closing the link, over and over while the client streams.
 * Frames are tagged with the connection (`gen`) they were framed for, and the main thread
 * drops those of an earlier one.
 */
class LoggerFramer {
  /** The epoch frames carry: the spec's at start, the coordinator's from a takeover on. */
  epoch: number;
  gen = 0;
  welcomed = false;
  private readonly toLogger = new FrameBatch();
  /** R5.8 (unrecorded application): the recorder link's frames, batched the same way. */
  private readonly toRecorder = new FrameBatch();

  constructor(
    epoch: number,
    private readonly emit: DatapathEmit,
  ) {
    this.epoch = epoch;
  }

  send(m: LoggerMessage): void {
    if (!this.welcomed) return;
    this.toLogger.append(m, this.epoch);
    if (this.toLogger.count >= MAX_LOGGER_BATCH || this.toLogger.bytes >= MAX_LOGGER_BATCH_BYTES)
      this.flushLogger();
  }

  record(m: LoggerMessage): void {
    this.toRecorder.append(m, this.epoch);
  }

  flushLogger(): void {
    const count = this.toLogger.count;
    const bytes = this.toLogger.take();
    if (bytes === undefined) return;
    this.emit({ kind: 'loggerFrames', bytes, count, gen: this.gen }, [bytes.buffer as ArrayBuffer]);
  }

  flushRecorder(): void {
    const count = this.toRecorder.count;
    const bytes = this.toRecorder.take();
    if (bytes === undefined) return;
    this.emit({ kind: 'recorderFrames', bytes, count }, [bytes.buffer as ArrayBuffer]);
  }

  /** Whatever an old epoch or connection still holds would be refused: cut it off first. */
  switchEpoch(epoch: number): void {
    this.flushLogger();
    this.epoch = epoch;
    // The main thread rejoins with the new epoch: nothing is welcomed in it until its Welcome.
    this.welcomed = false;
  }
}

/** The FT-TCP engine as a data-path core. */
class EngineCore implements DatapathCore {
  private readonly engine: SswEngine;
  private readonly links: LoggerFramer;
  /** W.4: only FT-TCP holds anything a client could wait for. */
  private readonly watchdog: StallWatchdog | undefined;
  private readonly serviceIp: number;
  private nextTickAt = 0;
  private tickEvery = 10;
  // Recovery bookkeeping (reporting only).
  private fetchWanted = false;
  private appDied = false;
  private fetching = false;
  private replayConns = 0;
  private replayBytes = 0;
  private takeoverReplyId: number | undefined;
  private lastApp: string;
  /** the host's logger region last reported (L.2, L.4: `unprotected` / `protected` events) */
  private lastLogger: string;
  /** the last L.2 engine event: why the host goes unprotected */
  private unprotectWhy = '';
  /** L.7: `app` when the logger gave the application's log up, else `host` (L.2, L.8) */
  private unprotectScope = 'host';

  constructor(
    spec: EngineSpec,
    private readonly out: SswOut,
    private readonly emit: DatapathEmit,
  ) {
    this.engine = new SswEngine({
      serviceAddr: spec.serviceIp,
      serviceMac: new Uint8Array(spec.mac),
      mode: spec.mode,
      role: spec.active ? 'active' : 'standby',
      tunHeadroom: true,
      leaseMarginMs: spec.leaseMarginMs,
      recreateRetryMs: spec.recreateRetryMs,
      unprotectAfterMs: spec.unprotectAfterMs,
      ...(spec.appRecorded === false ? { appRecorded: false } : {}),
    });
    this.links = new LoggerFramer(spec.epoch, emit);
    this.lastApp = this.engine.hostState().app;
    this.lastLogger = this.engine.hostState().logger;
    this.serviceIp = spec.serviceIp;
    const budgetMs = spec.stallBudgetMs ?? 0;
    this.watchdog =
      spec.mode === 'ftTcp' && budgetMs > 0 ? new StallWatchdog({ budgetMs }) : undefined;
  }

  onTunPacket(p: Uint8Array, now: number, vnet: VnetHdr): void {
    this.apply(this.engine.onTunPacket(p, now, vnet));
  }

  onLanFrame(f: Uint8Array, now: number, vnet: VnetHdr): void {
    this.apply(this.engine.onLanFrame(f, now, vnet));
  }

  command(c: DatapathCommand, now: number): void {
    const engine = this.engine;
    switch (c.cmd) {
      case 'logger':
        this.loggerMessages(c.msgs, now);
        break;
      case 'takeover':
        this.takeover(c.id, c.epoch, now);
        break;
      case 'appExit':
        this.apply(engine.onAppExit(now));
        this.appDied = true;
        break;
      case 'appStarted':
        this.appStarted(c.epoch);
        break;
      case 'recorder':
        for (const m of c.msgs) this.apply(engine.onRecorderMessage(m, now));
        break;
      case 'recorderDown':
        engine.onRecorderDown();
        break;
      case 'loggerConnected':
        this.links.flushLogger();
        this.links.gen = c.gen;
        this.links.welcomed = false;
        break;
      case 'loggerDisconnected':
        this.links.flushLogger();
        this.links.welcomed = false;
        this.apply(engine.onLoggerLinkDown(now));
        break;
      case 'heartbeatAck':
        // L.1: the lease runs from the send of the heartbeat this ack answers.
        this.apply(engine.onHeartbeatAcked(c.sentAbsMs - performance.timeOrigin, c.leaseMs, now));
        break;
      case 'fenced':
        this.apply(
          engine.onLoggerMessage({ kind: 'Error', code: 'staleEpoch', message: c.reason }, now),
        );
        break;
      default:
        break;
    }
    this.watchHost();
  }

  status(): Record<string, unknown> {
    return {
      host: this.engine.hostState(),
      conns: this.engine.connectionCount(),
      stats: { ...this.engine.stats },
    };
  }

  nextTickMs(now: number, tickMs: number): number {
    if (this.nextTickAt === 0) this.nextTickAt = now + tickMs;
    this.tickEvery = tickMs;
    return Math.max(0, Math.ceil(this.nextTickAt - now));
  }

  maybeTick(now: number): void {
    // The engine's tick walks every connection: once per tick period, not per packet burst.
    if (now < this.nextTickAt) return;
    this.nextTickAt = now + this.tickEvery;
    this.apply(this.engine.onTick(now));
    this.watchHost();
    this.watchStalls(now);
  }

  flush(): void {
    this.links.flushLogger();
    this.links.flushRecorder();
  }

  /**
   * A test hook (../common/testhook.ts, off unless FTTCP_TEST_HOOKS is set): the announcement
   * is posted to the main thread, which prints it while this thread is frozen.
   */
  private hook(point: TestHookPoint, details: Record<string, unknown> = {}): void {
    testHook(point, (event, fields) => this.emit({ kind: 'timeline', event, fields }), details);
  }

  /** Carries out the engine's effects. */
  private apply(effects: readonly SswEffect[]): void {
    for (const e of effects) {
      switch (e.to) {
        case 'lan':
          this.out.lan(e.frame, e.vnet);
          break;
        case 'tun':
          this.out.tun(e.packet, e.vnet);
          break;
        case 'logger':
          this.links.send(e.msg);
          break;
        case 'recorder':
          this.links.record(e.msg);
          break;
        case 'log':
          if ((e.event.rule === 'L.2' || e.event.rule === 'L.8') && e.event.conn === undefined)
            this.unprotectWhy = e.event.what;
          if (e.event.rule === 'L.7')
            this.loggerGaveUp(e.event.conn, e.event.client, e.event.detail);
          if (e.event.rule === 'R2.1') {
            // Hook ssw.synack-held: the SYN-ACK is held (R2.1); its record goes to the logger
            // first, so a crash here leaves a stored record and a client in SYN-SENT (R6.9).
            this.links.flushLogger();
            this.hook('ssw.synack-held', { conn: e.event.conn });
          } else if (e.event.rule === 'R5.7' && e.event.what === SERVER_FIN_ACK_TO_KERNEL) {
            // Hook ssw.server-fin-acked: the client acked the server's FIN; the ack (the next
            // effect) has not reached the kernel, whose retransmission timers run meanwhile.
            this.hook('ssw.server-fin-acked', { conn: e.event.conn });
          }
          this.emit({
            kind: 'timeline',
            event: 'engine',
            fields: {
              rule: e.event.rule,
              what: e.event.what,
              ...(e.event.conn !== undefined ? { conn: e.event.conn } : {}),
              ...(e.event.client !== undefined ? { client: e.event.client } : {}),
              ...(e.event.detail !== undefined ? { detail: e.event.detail } : {}),
            },
          });
          break;
      }
    }
  }

  /** Logger messages in order; a Welcome may start a wanted fetch, ReplayEnd is reported. */
  private loggerMessages(msgs: readonly LoggerMessage[], now: number): void {
    for (const m of msgs) {
      if (m.kind === 'Welcome') this.links.welcomed = true;
      // Hook ssw.logged-unacked: the logger stored the client's bytes; the engine has not
      // released the ack that says so.
      if (m.kind === 'DataStored')
        this.hook('ssw.logged-unacked', { conn: m.conn, stableSeq: m.stableSeq });
      if (m.kind === 'ReplaySyn') this.replayConns++;
      else if (m.kind === 'ReplayData') this.replayBytes += m.payload.length;
      this.apply(this.engine.onLoggerMessage(m, now));
      // spec/logger.md R15.4: a log given up answers FetchLog with `Error unprotected`: nothing
      // to re-create. The recovery ends with no records rather than waiting for a ReplayEnd
      // that never comes (the new incarnation would never be let serve).
      if (m.kind === 'Error' && m.code === 'unprotected' && this.fetching) {
        this.apply(this.engine.startRecovery([], now));
        this.replayEnded();
      }
      if (m.kind === 'Welcome' && this.fetchWanted) this.requestLog();
      if (m.kind === 'ReplayEnd') this.replayEnded();
    }
  }

  private replayEnded(): void {
    this.fetching = false;
    const fields = { conns: this.replayConns, bytes: this.replayBytes };
    this.emit({ kind: 'timeline', event: 'replay-ssw', fields });
    this.emit({
      kind: 'timeline',
      event: 'recreated',
      fields: { conns: this.replayConns },
      push: true,
    });
    if (this.takeoverReplyId !== undefined) {
      this.emit({ kind: 'reply', id: this.takeoverReplyId, body: { ok: true, ...fields } });
      this.takeoverReplyId = undefined;
    }
  }

  private takeover(id: number, epoch: number, now: number): void {
    // Whatever the old epoch still holds would be refused in the new one (the engine
    // resends what is unacknowledged after Welcome): cut it off before switching.
    this.links.switchEpoch(epoch);
    this.apply(this.engine.takeover(now));
    // Hook ssw.takeover-arp: the gratuitous ARP is out; the takeover is not acknowledged and
    // the log not fetched.
    this.hook('ssw.takeover-arp', { epoch });
    this.emit({ kind: 'timeline', event: 'takeover', fields: { epoch } });
    this.takeoverReplyId = id;
    // The main thread reconnects with the new epoch; fetch once welcomed.
    this.fetchWanted = true;
  }

  private appStarted(epoch: number | undefined): void {
    if (epoch !== undefined && epoch !== this.links.epoch) {
      // A local recovery fenced at a new epoch (L.6): what the old epoch still holds would
      // be refused; the main thread rejoins with the new one, the engine resends what is
      // unacknowledged after its Welcome, and the log is fetched then.
      this.links.switchEpoch(epoch);
      if (this.appDied) this.fetchWanted = true;
      this.appDied = false;
      return;
    }
    // Local recovery: the new incarnation is starting; get the log to re-create from.
    // (After a takeover the log was fetched already; app-started only says who runs.)
    if (this.appDied) this.requestLog();
    this.appDied = false;
  }

  /** W.1-W.5 after a tick: stall reports as timeline events. */
  private watchStalls(now: number): void {
    if (this.watchdog === undefined) return;
    // W.2: the link counts as up once the logger welcomed this connection of it.
    const host = { ...this.engine.watchdogHost(), loggerLinkUp: this.links.welcomed };
    // This thread's clock (performance.now()) to wall-clock ms.
    const wallOf = (ms: number): number => performance.timeOrigin + ms;
    for (const r of this.watchdog.check(now, host, () => this.engine.connectionViews())) {
      const { event, fields } = watchdogEvent(r, now, wallOf, this.serviceIp);
      this.emit({ kind: 'timeline', event, fields });
    }
  }

  private watchHost(): void {
    this.watchLogger();
    const app = this.engine.hostState().app;
    if (app === this.lastApp) return;
    this.emit({
      kind: 'timeline',
      event: 'ssw-app-state',
      fields: { from: this.lastApp, to: app },
    });
    if (this.lastApp === 'recovering' && app === 'appRunning')
      this.emit({ kind: 'timeline', event: 'live', fields: {}, push: true });
    this.lastApp = app;
  }

  /**
   * L.2 / L.4: the host's protection as timeline events the daemon acts on (pushed to control
   * clients; the daemon tells its application's NSW, spec/nsw.md R13.9) and the lab shows.
   */
  private watchLogger(): void {
    const logger = this.engine.hostState().logger;
    if (logger === this.lastLogger) return;
    const from = this.lastLogger;
    this.lastLogger = logger;
    if (logger === 'unprotected')
      this.emit({
        kind: 'timeline',
        event: 'unprotected',
        fields: { scope: this.unprotectScope, from, reason: this.unprotectWhy || 'logger lost' },
        push: true,
      });
    else if (logger === 'protected') this.unprotectScope = 'host';
    if (logger === 'protected')
      // The first one too (from awaitingLogger): until it, a SYN is dropped (not ready), so
      // whoever starts a host waits for it before a client connects.
      this.emit({
        kind: 'timeline',
        event: 'protected',
        fields: { rule: 'L.4', from, what: 'connections opened from now on are protected' },
        push: true,
      });
  }

  /**
   * L.7: the logger gave protection up. Scope `app`: the host's `unprotected` event (watchLogger)
   * carries the scope and the logger's reason. Scope `conn`: an `unprotected` event of its own
   * for that connection (the host, and the application's NSW, stay protected).
   */
  private loggerGaveUp(
    conn: number | undefined,
    client: string | undefined,
    detail: Record<string, unknown> | undefined,
  ): void {
    const reason = String(detail?.reason ?? 'logger limit');
    if (conn === undefined) {
      this.unprotectScope = 'app';
      this.unprotectWhy = reason;
      return;
    }
    this.emit({
      kind: 'timeline',
      event: 'unprotected',
      fields: { scope: 'conn', conn, ...(client !== undefined ? { client } : {}), reason },
    });
  }

  private requestLog(): void {
    if (this.fetching) return;
    // Not welcomed (yet) in this epoch: `send` drops a FetchLog then, and a fetch marked as
    // under way with nothing sent never ends (no ReplayEnd): the connections would wait for
    // their re-creation for good. Fetch at the Welcome instead. (A local recovery's
    // app-started right after a takeover, before the logger welcomed the new epoch.)
    if (!this.links.welcomed) {
      this.fetchWanted = true;
      return;
    }
    this.fetching = true;
    this.fetchWanted = false;
    this.replayConns = 0;
    this.replayBytes = 0;
    this.links.send({ kind: 'FetchLog', what: 'ssw' });
    this.links.flushLogger();
  }
}

/** The core a spec names: the pass-through relay or the FT-TCP engine. */
export const createCore = (spec: CoreSpec, out: SswOut, emit: DatapathEmit): DatapathCore =>
  spec.kind === 'passthrough' ? passThroughCore(spec, out, emit) : new EngineCore(spec, out, emit);
