// The recovery daemon's engine (backup host): binds the failure detector and the recovery
// coordinator of src/machines/recovery to heartbeats, real timers, the logger link, the
// control channel to the backup SSW and the application process. Every decision (when the
// primary is dead, which epoch to fence to, what follows what) is the machines'; this class
// turns timers and sockets into their events and their named actions into I/O.

import type { ChildProcess } from 'node:child_process';
import { type Actor, createActor } from 'xstate';
import {
  type AppLivenessParams,
  appHeartbeatPeriodMs,
} from '../../machines/recovery/appLiveness.ts';
import {
  DEFAULT_RECOVERY_PARAMS,
  failureDetectorMachine,
  loggerRestartDelayMs,
  type RecoveryParams,
  recoveryCoordinatorMachine,
  type TimelineEvent,
} from '../../machines/recovery/index.ts';
import type { LoggerMessage } from '../../wire/logmsg.ts';
import { formatHostPort, type HostPort } from '../common/args.ts';
import { killGroup, spawnSupervised } from '../common/children.ts';
import { loggerLinkCodec } from '../common/codec.ts';
import { CONTROL_CHANNEL } from '../common/controlChannel.ts';
import { HangWatch } from '../common/hangWatch.ts';
import { parseNdjsonObject, readLines } from '../common/lines.ts';
import { LinkClient, type LinkConnection, LinkServer } from '../common/link.ts';
import { Log, Timeline } from '../common/log.ts';
import { APP_HEARTBEAT_ENV, APP_HEARTBEAT_LINE } from '../nsw/heartbeat.ts';
import { HOLD_MODULE } from '../ssw/supervisor.ts';
import { SswControlClient } from './control.ts';

export interface RecoveryDaemonOptions {
  readonly heartbeatListen: HostPort;
  readonly logger: HostPort;
  readonly epoch: number;
  readonly hostId: string;
  readonly params?: RecoveryParams;
  /** unix socket of the backup SSW's control channel; absent = no SSW to drive (tests) */
  readonly sswControl?: string;
  /** shell command that starts the application in replay; absent = none */
  readonly appCmd?: string;
  /**
   * V.1, R10.6: keep a warm spare of `appCmd` (Node and its loaders up, these modules
   * imported, held before its main module by src/runtime/ssw/hold.mjs) from the start; the
   * first incarnation is the spare, released with its epoch; later ones start cold. Absent:
   * every incarnation starts cold. Paths absolute (the SSW's `checkPreloadPath`).
   */
  readonly appSpare?: { readonly preload: readonly string[] };
  /** shell command that power-fences the old primary; absent = logical fencing only */
  readonly fenceCmd?: string;
  /**
   * shell command that runs the logger on this host (spec/recovery.md S.1): started with the
   * daemon, restarted `loggerRestartDelayMs` after it dies (spec/ssw.md L.9), stopped with it;
   * absent = the logger is someone else's
   */
  readonly loggerCmd?: string;
  /**
   * R10.1-R10.5 after a failover: watch the heartbeat of the application this daemon runs and
   * kill it into the crash path when it stops (`hangMs` 0 or absent: no watch)
   */
  readonly appLiveness?: AppLivenessParams;
  /** bound on one control request (takeover) before recovery gives up the attempt */
  readonly controlTimeoutMs?: number;
  readonly log?: Log;
  readonly timeline?: Timeline;
}

/** S.2: how long stopped children get between SIGTERM and SIGKILL (and SIGKILL and giving up). */
const STOP_GRACE_MS = 1500;
/** S.1: bound on logger restarts (a logger that cannot start is not retried for ever). */
const MAX_LOGGER_STARTS = 10;
const LOGGER_RESTART_WINDOW_MS = 10 * 60_000;
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

type Detector = Actor<typeof failureDetectorMachine>;
type Coordinator = Actor<typeof recoveryCoordinatorMachine>;

export class RecoveryDaemon {
  private readonly params: RecoveryParams;
  private readonly log: Log;
  private readonly timeline: Timeline;
  private readonly hbServer: LinkServer<LoggerMessage>;
  private hbPeer: LinkConnection<LoggerMessage> | undefined;
  private hbTimers: NodeJS.Timeout[] = [];
  private sawPrimary = false;
  private readonly detector: Detector;
  private readonly coordinator: Coordinator;
  private loggerLink: LinkClient<LoggerMessage> | undefined;
  private epoch: number;
  private readonly control: SswControlClient | undefined;
  private app: ChildProcess | undefined;
  /** the warm spare (V.1), held until the first incarnation takes it */
  private spare: ChildProcess | undefined;
  /** S.1: the logger this daemon runs, and its restarts (bounded) */
  private loggerProc: ChildProcess | undefined;
  private loggerIncarnation = 0;
  private readonly loggerStarts: number[] = [];
  private loggerRestartTimer: NodeJS.Timeout | undefined;
  /** S.2: every child, until its exit (stopped as a group with the daemon) */
  private readonly children = new Set<ChildProcess>();
  private stonithTimer: NodeJS.Timeout | undefined;
  private replay = {
    sswBytes: 0,
    sswLive: false,
    nswDets: 0,
    nswLive: false,
    reported: false,
    /** a takeover of this attempt already started the SSW's report afresh (see claimAddress) */
    sswArmed: false,
  };
  private stopped = false;

  constructor(private readonly opts: RecoveryDaemonOptions) {
    this.params = opts.params ?? DEFAULT_RECOVERY_PARAMS;
    this.log = opts.log ?? new Log({ component: 'recovery', hostId: opts.hostId });
    this.timeline = opts.timeline ?? new Timeline('recovery');
    this.epoch = opts.epoch;
    this.hbServer = new LinkServer(
      { codec: loggerLinkCodec, log: this.log, maxConnections: 8 },
      (c) => this.onHeartbeatConn(c),
    );
    this.control =
      opts.sswControl === undefined
        ? undefined
        : new SswControlClient(opts.sswControl, this.log.child('control'));

    this.detector = createActor(
      failureDetectorMachine.provide({
        actions: {
          grantLease: (_, p: { seq: number }) => {
            this.hbPeer?.send(
              { kind: 'HeartbeatAck', seq: p.seq, leaseMs: this.params.leaseMs },
              this.epoch,
            );
          },
          reportPrimaryDead: () => this.coordinator.send({ type: 'PRIMARY_DEAD' }),
          reportSuspect: () =>
            this.timeline.event('suspect', {
              lastSeq: this.detector.getSnapshot().context.lastSeq,
            }),
          withdrawSuspicion: () => this.timeline.event('suspicion-withdrawn'),
          timeline: (_, e: TimelineEvent) => this.emitTimeline(e),
        },
      }),
    );

    this.coordinator = createActor(
      recoveryCoordinatorMachine.provide({
        actions: {
          sendFence: ({ context }) => this.sendFence(context.fenceEpoch),
          silenceDeadIncarnation: () => void this.controlCmd('app-crashed', {}),
          powerFencePrimary: () => this.powerFence(),
          claimServiceAddress: () => void this.claimAddress(),
          startReplay: ({ context }) => this.startReplay(context.epoch),
          switchToLive: () => this.log.info('recovery complete: live', { epoch: this.epoch }),
          goUnprotected: () => this.log.warn('unprotected'),
          abandonConnections: () => this.log.error('recovery failed: connections abandoned'),
          stopServing: () => this.log.warn('fenced out: stopping'),
          timeline: (_, e: TimelineEvent) => this.emitTimeline(e),
        },
      }),
      { input: { role: 'backup', epoch: opts.epoch } },
    );
  }

  /** Coordinator state, for tests and status. */
  get state(): { detector: unknown; coordinator: unknown; epoch: number } {
    return {
      detector: this.detector.getSnapshot().value,
      coordinator: this.coordinator.getSnapshot().value,
      epoch: this.epoch,
    };
  }

  async start(): Promise<HostPort> {
    if (this.opts.loggerCmd !== undefined) this.startLogger(this.opts.loggerCmd);
    if (this.opts.appCmd !== undefined && this.opts.appSpare !== undefined)
      this.spare = this.startSpare(this.opts.appCmd, this.opts.appSpare.preload);
    this.detector.start();
    this.coordinator.start();
    this.control?.start();
    this.control?.on('event', (e) => this.onControlEvent(e));
    this.loggerLink = new LinkClient<LoggerMessage>({
      target: this.opts.logger,
      codec: loggerLinkCodec,
      log: this.log.child('logger-link'),
      onConnect: (c) =>
        c.send(
          { kind: 'Hello', role: 'coordinator', hostId: this.opts.hostId, epoch: this.epoch },
          this.epoch,
        ),
      onMessage: (m) => this.onLoggerMessage(m),
    });
    this.loggerLink.start();
    const bound = await this.hbServer.listen(this.opts.heartbeatListen);
    this.log.info('listening for heartbeats', { addr: formatHostPort(bound), ...this.params });
    this.timeline.event('ready', {
      heartbeat: formatHostPort(bound),
      logger: formatHostPort(this.opts.logger),
      epoch: this.epoch,
    });
    return bound;
  }

  /** Stops everything, the children as groups (S.2); idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private stopping: Promise<void> | undefined;

  private async stopNow(): Promise<void> {
    this.stopped = true;
    for (const t of this.hbTimers) clearTimeout(t);
    if (this.stonithTimer !== undefined) clearTimeout(this.stonithTimer);
    if (this.loggerRestartTimer !== undefined) clearTimeout(this.loggerRestartTimer);
    this.detector.stop();
    this.coordinator.stop();
    this.control?.stop();
    this.loggerLink?.stop();
    await Promise.all([this.stopChildren(), this.hbServer.close()]);
  }

  /**
   * S.2: every child and what it started (its process group): SIGTERM, then SIGKILL for a
   * group still there after STOP_GRACE_MS. Resolves when every child has exited.
   */
  private async stopChildren(): Promise<void> {
    const kids = [...this.children];
    for (const c of kids) killGroup(c, 'SIGTERM');
    const exited = (c: ChildProcess): Promise<void> =>
      c.exitCode !== null || c.signalCode !== null
        ? Promise.resolve()
        : new Promise((r) => c.once('exit', () => r()));
    const grace = new Promise<'late'>((r) => setTimeout(() => r('late'), STOP_GRACE_MS).unref());
    const r = await Promise.race([Promise.all(kids.map(exited)), grace]);
    // SIGKILL to every group, exited leader or not: a leader that left on SIGTERM may leave
    // members behind (a wrapper whose child ignored it).
    for (const c of kids) killGroup(c, 'SIGKILL');
    if (r === 'late') await Promise.race([Promise.all(kids.map(exited)), delay(STOP_GRACE_MS)]);
  }

  /** S.2: for the daemon's own exit (a fatal error): every group SIGKILLed, synchronously. */
  killChildrenNow(): void {
    for (const c of this.children) killGroup(c, 'SIGKILL');
  }

  /**
   * V.1: the warm spare of `cmd`, held on its stdin (src/runtime/ssw/hold.mjs) until
   * `startApp` releases it. Node's options go in NODE_OPTIONS so that the command stays the
   * user's (as the SSW's supervisor does with its own spare).
   */
  private startSpare(cmd: string, preload: readonly string[]): ChildProcess {
    const nodeOptions = [
      process.env.NODE_OPTIONS ?? '',
      '--import tsx',
      ...preload.map((m) => `--import ${m}`),
      `--import ${HOLD_MODULE}`,
    ]
      .join(' ')
      .trim();
    const p = this.spawnChild(
      cmd,
      {
        ...process.env,
        FTTCP_MODE: 'replay',
        FTTCP_LOGGER: formatHostPort(this.opts.logger),
        NODE_OPTIONS: nodeOptions,
      },
      'pipe',
    );
    this.log.info('warm spare started', { pid: p.pid });
    this.timeline.event('app-spare', { pid: p.pid });
    p.on('exit', (code, signal) => {
      if (this.spare === p && !this.stopped) {
        // Not an incarnation yet: nothing to recover; the first one starts cold instead.
        this.spare = undefined;
        this.log.warn('warm spare exited before its release', { pid: p.pid, code, signal });
      }
    });
    return p;
  }

  /** S.2: a child in its own group, dying with this daemon; tracked until it exits. */
  private spawnChild(
    script: string,
    env: NodeJS.ProcessEnv,
    stdin: 'ignore' | 'pipe' = 'ignore',
  ): ChildProcess {
    const p = spawnSupervised(script, { env, stdio: [stdin, 'pipe', 'pipe'] });
    this.children.add(p);
    p.on('exit', () => this.children.delete(p));
    p.on('error', (e) => {
      this.children.delete(p);
      this.log.error('child did not start', { script, error: e.message });
    });
    return p;
  }

  // ------------------------------------------------------------------------------------------
  // The logger (spec/recovery.md S.1)

  private startLogger(cmd: string): void {
    const now = Date.now();
    while ((this.loggerStarts[0] ?? now) < now - LOGGER_RESTART_WINDOW_MS)
      this.loggerStarts.shift();
    if (this.loggerStarts.length >= MAX_LOGGER_STARTS) {
      const error = `logger restarted ${this.loggerStarts.length} times in ${LOGGER_RESTART_WINDOW_MS} ms: not again`;
      this.log.error(error);
      this.timeline.event('error', { error });
      return;
    }
    this.loggerStarts.push(now);
    const incarnation = ++this.loggerIncarnation;
    const p = this.spawnChild(cmd, process.env);
    this.loggerProc = p;
    this.log.info('logger started', { pid: p.pid, incarnation });
    this.timeline.event('logger-start', { pid: p.pid, incarnation });
    // The logger's own timeline ('listening', ...) goes on on this daemon's: one per host.
    if (p.stdout === null || p.stderr === null) return; // stdio is 'pipe': always there
    readLines(p.stdout, (line) => {
      if (line.startsWith('{')) process.stdout.write(`${line}\n`);
      else process.stderr.write(`[logger ${p.pid}] ${line}\n`);
    });
    readLines(p.stderr, (line) => process.stderr.write(`[logger ${p.pid}] ${line}\n`));
    p.on('exit', (code, signal) => {
      if (this.loggerProc !== p || this.stopped) return;
      this.loggerProc = undefined;
      // L.9: the restarted logger is empty; it must not welcome the primary before the
      // primary gave up its lease (L.8) and the grace (L.2): then nothing is resent to it.
      const restartInMs = loggerRestartDelayMs(this.params);
      this.log.error('logger exited: its log is lost; restarting it', {
        pid: p.pid,
        code,
        signal,
        restartInMs,
      });
      this.timeline.event('logger-exit', { pid: p.pid, code, signal, incarnation, restartInMs });
      this.loggerRestartTimer = setTimeout(() => {
        this.loggerRestartTimer = undefined;
        if (!this.stopped) this.startLogger(cmd);
      }, restartInMs);
    });
  }

  private emitTimeline(e: TimelineEvent): void {
    const { kind, ...fields } = e;
    this.timeline.event(kind === 'detected' ? 'detected' : kind, fields);
  }

  // ------------------------------------------------------------------------------------------
  // Heartbeats (README section 1)

  private onHeartbeatConn(c: LinkConnection<LoggerMessage>): void {
    let hello = false;
    c.on('error', (e) =>
      this.log.warn('heartbeat link dropped', { peer: c.peer, error: e.message }),
    );
    c.on('message', (m, frameEpoch) => {
      if (!hello) {
        if (m.kind !== 'Hello' || m.role !== 'ssw') {
          c.send(
            {
              kind: 'Error',
              code: 'helloFirst',
              message: 'first message must be Hello from role ssw',
            },
            this.epoch,
          );
          c.end();
          return;
        }
        if (m.epoch < this.epoch) {
          // R8: a fenced primary gets no lease again.
          c.send(
            { kind: 'Error', code: 'staleEpoch', message: `epoch ${m.epoch} < ${this.epoch}` },
            this.epoch,
          );
          c.end();
          return;
        }
        hello = true;
        this.hbPeer = c;
        c.send({ kind: 'Welcome', epoch: this.epoch, leaseMs: this.params.leaseMs }, this.epoch);
        if (!this.sawPrimary) {
          this.sawPrimary = true;
          this.timeline.event('heartbeat-up', { hostId: m.hostId, epoch: m.epoch });
        }
        return;
      }
      if (m.kind !== 'Heartbeat') return;
      if (frameEpoch < this.epoch) {
        c.send(
          { kind: 'Error', code: 'staleEpoch', message: `epoch ${frameEpoch} < ${this.epoch}` },
          this.epoch,
        );
        c.end();
        return;
      }
      this.hbPeer = c;
      const before = this.detector.getSnapshot().context.lastSeq;
      this.detector.send({ type: 'HEARTBEAT', seq: m.seq, sentMs: m.sentMs });
      const after = this.detector.getSnapshot().context.lastSeq;
      if (after !== before) this.armDetectorTimers(after);
    });
  }

  /**
   * Timeouts as events (D.2): each fresh heartbeat arms a suspicion timer and a lease-expiry
   * timer carrying its seq; older timers are cleared (the machine would ignore them anyway).
   */
  private armDetectorTimers(seq: number): void {
    for (const t of this.hbTimers) clearTimeout(t);
    this.hbTimers = [
      setTimeout(
        () => this.detector.send({ type: 'HEARTBEAT_TIMEOUT', afterSeq: seq }),
        this.params.suspectAfterMs,
      ),
      setTimeout(
        () => this.detector.send({ type: 'LEASE_EXPIRED', seq }),
        this.params.leaseMs + this.params.driftMarginMs,
      ),
    ];
  }

  // ------------------------------------------------------------------------------------------
  // Fencing (README section 3)

  private sendFence(newEpoch: number): void {
    this.log.info('fencing logger', { newEpoch });
    const r = this.loggerLink?.send({ kind: 'Fence', newEpoch }, this.epoch);
    if (r === 'not-connected' || r === undefined) {
      // The link reconnects; retry until the machine moves on (a later attempt has a new epoch).
      const again = setTimeout(() => {
        const s = this.coordinator.getSnapshot();
        if (
          !this.stopped &&
          s.matches({ recovering: 'fencing' }) &&
          s.context.fenceEpoch === newEpoch
        )
          this.sendFence(newEpoch);
      }, 100);
      this.hbTimers.push(again);
    }
  }

  private onLoggerMessage(m: LoggerMessage): void {
    switch (m.kind) {
      case 'Welcome':
        this.log.info('logger link up', { epoch: m.epoch });
        return;
      case 'Fenced':
        // The logger moved to m.epoch; our frames carry it from now on.
        this.epoch = Math.max(this.epoch, m.epoch);
        this.coordinator.send({ type: 'FENCED', epoch: m.epoch });
        return;
      case 'Error':
        this.log.error('logger refused the coordinator', { code: m.code, message: m.message });
        this.timeline.event('error', { error: `logger: ${m.code}: ${m.message}` });
        return;
      default:
        this.log.warn('unexpected message from logger', { kind: m.kind });
    }
  }

  private powerFence(): void {
    const cmd = this.opts.fenceCmd;
    if (cmd === undefined) {
      this.coordinator.send({ type: 'POWER_FENCED' });
      return;
    }
    // STONITH must be confirmed within the deadline counted from detection (spec/recovery.md).
    this.stonithTimer = setTimeout(
      () => this.coordinator.send({ type: 'STONITH_TIMEOUT' }),
      this.params.stonithDeadlineMs,
    );
    const p = this.spawnChild(cmd, { ...process.env, FTTCP_EPOCH: String(this.epoch) });
    this.prefixOutput(p, 'fence-cmd');
    p.on('exit', (code, signal) => {
      if (this.stonithTimer !== undefined) clearTimeout(this.stonithTimer);
      if (code === 0) {
        this.timeline.event('power-fenced', {});
        this.coordinator.send({ type: 'POWER_FENCED' });
      } else {
        this.log.error('fence command failed', { code, signal });
        this.coordinator.send({ type: 'STONITH_TIMEOUT' });
      }
    });
  }

  // ------------------------------------------------------------------------------------------
  // Takeover and replay (README sections 2 and 4)

  private async controlCmd(
    cmd: string,
    fields: Record<string, unknown>,
  ): Promise<Record<string, unknown> | undefined> {
    if (this.control === undefined) return {};
    try {
      const r = await this.control.request(
        cmd,
        fields,
        this.opts.controlTimeoutMs ?? CONTROL_CHANNEL.requestTimeoutMs,
      );
      if (!r.ok) {
        this.log.error('SSW refused a control command', { cmd, error: r.error });
        this.timeline.event('error', { error: `ssw ${cmd}: ${String(r.error)}` });
        return undefined;
      }
      return r;
    } catch (e) {
      this.log.error('control command failed', { cmd, error: (e as Error).message });
      this.timeline.event('error', { error: (e as Error).message });
      return undefined;
    }
  }

  private async claimAddress(): Promise<void> {
    // The SSW fetches its log and re-creates from the takeover on (T.1): its `live` may come
    // right behind the takeover's reply (no connection to re-create), even in the same read.
    // So the report starts afresh before the request, and startReplay keeps what came since.
    this.replay = {
      sswBytes: 0,
      sswLive: this.control === undefined,
      nswDets: 0,
      nswLive: false,
      reported: false,
      sswArmed: true,
    };
    const r = await this.controlCmd('takeover', { epoch: this.epoch });
    if (r === undefined) return; // no ADDRESS_TAKEN: the recovery stays stuck and is visible as such
    if (typeof r.bytes === 'number') this.replay.sswBytes = r.bytes;
    this.coordinator.send({ type: 'ADDRESS_TAKEN' });
  }

  private startReplay(epoch: number): void {
    // Both sides report again for every attempt: the SSW after re-creating (event 'live'),
    // the NSW when its log is exhausted (timeline 'live' on the application's stdout).
    this.replay = {
      ...this.replay,
      // After a takeover of this attempt the SSW's report is already current; on the local
      // path it reports again after this app-started.
      sswLive: this.replay.sswArmed ? this.replay.sswLive : this.control === undefined,
      nswLive: false,
      nswDets: 0,
      reported: false,
      sswArmed: false,
    };
    const cmd = this.opts.appCmd;
    if (cmd === undefined) {
      this.replay.nswLive = true;
      this.maybeReplayDone();
      return;
    }
    const liveness = this.opts.appLiveness;
    const watching = liveness !== undefined && liveness.hangMs > 0;
    const env = {
      ...process.env,
      FTTCP_MODE: 'replay',
      FTTCP_LOGGER: formatHostPort(this.opts.logger),
      FTTCP_EPOCH: String(epoch),
      // R10.1: the NSW beats on its stdout, which this daemon reads.
      ...(watching ? { [APP_HEARTBEAT_ENV]: String(appHeartbeatPeriodMs(liveness.hangMs)) } : {}),
    };
    // V.1: the spare, while it lives, is this incarnation: it is this daemon's child like a
    // cold start, so a hang's kill (R10.6) and its exit are the application's own, and the
    // next incarnation starts only once it has been reaped (its port and sockets closed).
    const spare = this.spare;
    this.spare = undefined;
    const useSpare = spare !== undefined && spare.exitCode === null && spare.signalCode === null;
    const p = useSpare ? spare : this.spawnChild(cmd, env);
    if (useSpare) {
      // hold.mjs: a JSON line sets these before the main module loads.
      const release: Record<string, string> = { FTTCP_EPOCH: String(epoch) };
      if (watching) release[APP_HEARTBEAT_ENV] = String(appHeartbeatPeriodMs(liveness.hangMs));
      p.stdin?.on('error', () => {}); // a dead spare's pipe: its exit is what counts
      p.stdin?.end(`${JSON.stringify(release)}\n`);
    }
    this.app = p;
    // R10.2/R10.3: a hung application is a crashed one: killed (its group), its exit takes the
    // crash path below (APP_CRASHED: the coordinator restarts the recovery).
    const watch = watching
      ? new HangWatch(liveness, (v) => {
          const info = {
            pid: p.pid,
            rule: v.rule,
            phase: v.phase,
            silentMs: Math.ceil(v.silentMs),
            limitMs: v.limitMs,
          };
          this.log.warn('application hung: killing it', info);
          this.timeline.event('app-hung', info);
          killGroup(p, 'SIGKILL');
        })
      : undefined;
    this.log.info('application started in replay', { pid: p.pid, epoch, warmSpare: useSpare });
    this.timeline.event('app-started', { pid: p.pid, epoch });
    void this.controlCmd('app-started', { pid: p.pid, epoch });
    // The NSW reports its progress as NDJSON timeline events on the application's stdout.
    readLines(p.stdout!, (line) => {
      if (line === APP_HEARTBEAT_LINE) {
        watch?.beat();
        return;
      }
      process.stderr.write(`[app ${p.pid}] ${line}\n`);
      const ev = parseNdjsonObject(line);
      if (ev === undefined) return;
      if (ev.event === 'replay-start' && typeof ev.dets === 'number') this.replay.nswDets = ev.dets;
      if (ev.event === 'live' && this.app === p) {
        this.replay.nswLive = true;
        this.maybeReplayDone();
      }
    });
    readLines(p.stderr!, (line) => process.stderr.write(`[app ${p.pid}] ${line}\n`));
    p.on('exit', (code, signal) => {
      watch?.stop();
      this.log.warn('application exited', { pid: p.pid, code, signal });
      if (this.app === p && !this.stopped) {
        this.app = undefined;
        this.coordinator.send({ type: 'APP_CRASHED' });
      }
    });
  }

  private onControlEvent(e: { event: string } & Record<string, unknown>): void {
    this.log.info('SSW event', e);
    if (e.event === 'live') {
      this.replay.sswLive = true;
      if (typeof e.bytes === 'number') this.replay.sswBytes = e.bytes;
      this.maybeReplayDone();
    } else if (e.event === 'error') {
      this.timeline.event('error', { error: `ssw: ${String(e.error)}` });
    }
  }

  private maybeReplayDone(): void {
    if (
      this.replay.reported ||
      !this.replay.nswLive ||
      !(this.replay.sswLive || this.control === undefined)
    )
      return;
    this.replay.reported = true;
    this.coordinator.send({
      type: 'REPLAY_DONE',
      bytes: this.replay.sswBytes,
      determinants: this.replay.nswDets,
    });
  }

  private prefixOutput(p: ChildProcess, tag: string): void {
    readLines(p.stdout!, (l) => process.stderr.write(`[${tag}] ${l}\n`));
    readLines(p.stderr!, (l) => process.stderr.write(`[${tag}] ${l}\n`));
  }
}
