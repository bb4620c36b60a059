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
import { type SswEffect, SswEngine } from '../../machines/ssw/index.ts';
import { StallWatchdog, watchdogEvent } from '../../machines/ssw/watchdog.ts';
import type { SswOut } from './core.ts';
import {
  type CoreSpec,
  type DatapathCore,
  type DatapathEmit,
  passThroughCore,
} from './datapath.protocol.ts';
import { FrameBatch } from './frames.ts';

/** Limits on the logger frames carried to the main thread in one transfer (a poll round's
 * worth normally; a longer burst is cut here). */
const MAX_LOGGER_BATCH = 4096;
const MAX_LOGGER_BATCH_BYTES = 1024 * 1024;

const engineCore = (
  spec: Extract<CoreSpec, { kind: 'engine' }>,
  out: SswOut,
  emit: DatapathEmit,
): DatapathCore => {
  const engine = new SswEngine({
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
  // Frames are built here with the epoch the main thread's logger link joined with: the
  // spec's at start, the coordinator's from a takeover on (the main thread reconnects with it
  // before it posts the takeover command).
  let epoch = spec.epoch;
  // R1.7 on the wire: from a (re)connect until the logger's Welcome has reached the engine,
  // nothing goes to the logger; the engine resends everything unacknowledged, in order, when
  // it sees the Welcome. A fresh LogData sent in between would reach the logger ahead of that
  // resend, past the end it stored: a gap the logger refuses by closing the link, over and
  // over while the client streams. Frames are tagged with the connection (`gen`) they were
  // framed for, and the main thread drops those of an earlier one.
  let gen = 0;
  let welcomed = false;
  const toLogger = new FrameBatch();
  const flushLogger = (): void => {
    const count = toLogger.count;
    const bytes = toLogger.take();
    if (bytes === undefined) return;
    emit({ kind: 'loggerFrames', bytes, count, gen }, [bytes.buffer as ArrayBuffer]);
  };
  const sendToLogger = (m: Parameters<FrameBatch['append']>[0]): void => {
    if (!welcomed) return;
    toLogger.append(m, epoch);
    if (toLogger.count >= MAX_LOGGER_BATCH || toLogger.bytes >= MAX_LOGGER_BATCH_BYTES)
      flushLogger();
  };
  // R5.8 (unrecorded application): the recorder link's frames, batched the same way.
  const toRecorder = new FrameBatch();
  const flushRecorder = (): void => {
    const count = toRecorder.count;
    const bytes = toRecorder.take();
    if (bytes === undefined) return;
    emit({ kind: 'recorderFrames', bytes, count }, [bytes.buffer as ArrayBuffer]);
  };
  const apply = (effects: readonly SswEffect[]): void => {
    for (const e of effects) {
      switch (e.to) {
        case 'lan':
          out.lan(e.frame, e.vnet);
          break;
        case 'tun':
          out.tun(e.packet, e.vnet);
          break;
        case 'logger':
          sendToLogger(e.msg);
          break;
        case 'recorder':
          toRecorder.append(e.msg, epoch);
          break;
        case 'log':
          emit({
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
  };

  // W.4: only FT-TCP holds anything a client could wait for.
  const watchdog =
    spec.mode === 'ftTcp' && (spec.stallBudgetMs ?? 0) > 0
      ? new StallWatchdog({ budgetMs: spec.stallBudgetMs ?? 0 })
      : undefined;
  // This thread's clock (performance.now()) to wall-clock ms.
  const wallOf = (ms: number): number => performance.timeOrigin + ms;
  const watch = (now: number): void => {
    if (watchdog === undefined) return;
    // W.2: the link counts as up once the logger welcomed this connection of it.
    const host = { ...engine.watchdogHost(), loggerLinkUp: welcomed };
    for (const r of watchdog.check(now, host, () => engine.connectionViews())) {
      const { event, fields } = watchdogEvent(r, now, wallOf, spec.serviceIp);
      emit({ kind: 'timeline', event, fields });
    }
  };

  let nextTickAt = 0;
  let tickEvery = 10;
  // Recovery bookkeeping (reporting only).
  let fetchWanted = false;
  let appDied = false;
  let fetching = false;
  let replayConns = 0;
  let replayBytes = 0;
  let takeoverReplyId: number | undefined;
  let lastApp = engine.hostState().app;
  const watchHost = (): void => {
    const app = engine.hostState().app;
    if (app !== lastApp) {
      emit({ kind: 'timeline', event: 'ssw-app-state', fields: { from: lastApp, to: app } });
      if (lastApp === 'recovering' && app === 'appRunning') {
        emit({ kind: 'timeline', event: 'live', fields: {}, push: true });
      }
      lastApp = app;
    }
  };
  const requestLog = (): void => {
    if (fetching) return;
    fetching = true;
    fetchWanted = false;
    replayConns = 0;
    replayBytes = 0;
    sendToLogger({ kind: 'FetchLog', what: 'ssw' });
    flushLogger();
  };

  return {
    onTunPacket: (p, now, vnet) => apply(engine.onTunPacket(p, now, vnet)),
    onLanFrame: (f, now, vnet) => apply(engine.onLanFrame(f, now, vnet)),
    command: (c, now) => {
      switch (c.cmd) {
        case 'logger':
          for (const m of c.msgs) {
            if (m.kind === 'Welcome') welcomed = true;
            if (m.kind === 'ReplaySyn') replayConns++;
            else if (m.kind === 'ReplayData') replayBytes += m.payload.length;
            apply(engine.onLoggerMessage(m, now));
            if (m.kind === 'Welcome' && fetchWanted) requestLog();
            if (m.kind === 'ReplayEnd') {
              fetching = false;
              const fields = { conns: replayConns, bytes: replayBytes };
              emit({ kind: 'timeline', event: 'replay-ssw', fields });
              emit({
                kind: 'timeline',
                event: 'recreated',
                fields: { conns: replayConns },
                push: true,
              });
              if (takeoverReplyId !== undefined) {
                emit({ kind: 'reply', id: takeoverReplyId, body: { ok: true, ...fields } });
                takeoverReplyId = undefined;
              }
            }
          }
          break;
        case 'takeover':
          // Whatever the old epoch still holds would be refused in the new one (the engine
          // resends what is unacknowledged after Welcome): cut it off before switching.
          flushLogger();
          epoch = c.epoch;
          apply(engine.takeover(now));
          emit({ kind: 'timeline', event: 'takeover', fields: { epoch: c.epoch } });
          takeoverReplyId = c.id;
          // The main thread reconnects with the new epoch; fetch once welcomed.
          fetchWanted = true;
          break;
        case 'appExit':
          apply(engine.onAppExit(now));
          appDied = true;
          break;
        case 'appStarted':
          if (c.epoch !== undefined && c.epoch !== epoch) {
            // A local recovery fenced at a new epoch (L.6): what the old epoch still holds would
            // be refused; the main thread rejoins with the new one, the engine resends what is
            // unacknowledged after its Welcome, and the log is fetched then.
            flushLogger();
            epoch = c.epoch;
            if (appDied) fetchWanted = true;
            appDied = false;
            break;
          }
          // Local recovery: the new incarnation is starting; get the log to re-create from.
          // (After a takeover the log was fetched already; app-started only says who runs.)
          if (appDied) requestLog();
          appDied = false;
          break;
        case 'recorder':
          for (const m of c.msgs) apply(engine.onRecorderMessage(m, now));
          break;
        case 'recorderDown':
          engine.onRecorderDown();
          break;
        case 'loggerConnected':
          flushLogger();
          gen = c.gen;
          welcomed = false;
          break;
        case 'loggerDisconnected':
          flushLogger();
          welcomed = false;
          break;
        case 'heartbeatAck':
          // L.1: the lease runs from the send of the heartbeat this ack answers.
          apply(engine.onHeartbeatAcked(c.sentAbsMs - performance.timeOrigin, c.leaseMs, now));
          break;
        case 'fenced':
          apply(
            engine.onLoggerMessage({ kind: 'Error', code: 'staleEpoch', message: c.reason }, now),
          );
          break;
        default:
          break;
      }
      watchHost();
    },
    status: () => ({
      host: engine.hostState(),
      conns: engine.connectionCount(),
      stats: { ...engine.stats },
    }),
    nextTickMs: (now, tickMs) => {
      if (nextTickAt === 0) nextTickAt = now + tickMs;
      tickEvery = tickMs;
      return Math.max(0, Math.ceil(nextTickAt - now));
    },
    maybeTick: (now) => {
      // The engine's tick walks every connection: once per tick period, not per packet burst.
      if (now < nextTickAt) return;
      nextTickAt = now + tickEvery;
      apply(engine.onTick(now));
      watchHost();
      watch(now);
    },
    flush: () => {
      flushLogger();
      flushRecorder();
    },
  };
};

export const createCore = (spec: CoreSpec, out: SswOut, emit: DatapathEmit): DatapathCore =>
  spec.kind === 'passthrough' ? passThroughCore(spec, out, emit) : engineCore(spec, out, emit);
