// The SSW daemon of one server host. Run it inside the host's namespace
// (`ip netns exec ftl-primary node --import tsx src/runtime/ssw/main.ts ...`): it attaches to
// the host's TUN device there, opens its raw socket in the host's NIC namespace, and runs the
// core (pass-through or the FT-TCP engine) on a data-path thread between the two. The main
// thread holds the logger and heartbeat links, the control channel and the application.
// `--help` lists the flags.
//
// Control channel (src/runtime/recovery/README.md §2): NDJSON on a unix socket, requests
// `status`, `takeover`, `app-crashed`, `app-started` (with the epoch of a local recovery the
// coordinator fenced); events (`recreated`, `live`, `error`) pushed without id.
// Stdout: NDJSON timeline (ssw-up, takeover, app-exit, app-start, recreated, live, stall,
// stall-over (spec/ssw.md W.5), app-hung, ... and the application's own timeline lines passed
// through). Exit: 0 on SIGTERM, 1 fatal, 2 bad usage.
import { existsSync, unlinkSync, writeSync } from 'node:fs';
import net from 'node:net';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  type AppLivenessParams,
  checkAppLivenessParams,
  DEFAULT_APP_HANG_MS,
  DEFAULT_APP_START_GRACE_MS,
  formatAppLivenessError,
} from '../../machines/recovery/appLiveness.ts';
import { MAX_TIMING_MS, type RecoveryParams } from '../../machines/recovery/params.ts';
import { stallBudgetMs } from '../../machines/ssw/watchdog.ts';
import { ipv4FromString } from '../../wire/addr.ts';
import { cliBounded, cliHostPort, formatHostPort, type HostPort, runMain } from '../common/args.ts';
import { Log, Timeline } from '../common/log.ts';
import { testHook, testHooksEnabled } from '../common/testhook.ts';
import { addRecoveryParamOptions, recoveryParamsFromOpts } from '../recovery/params-cli.ts';
import { type ControlReply, serveControlClient } from './controlServer.ts';
import type { CoreSpec, DatapathEvent } from './dataThread.protocol.ts';
import { SswDataThread } from './dataThread.ts';
import { checkImpairSpec, type ImpairSpec } from './impair.ts';
import { SswLinks } from './links.ts';
import { AppSupervisor, checkPreloadPath } from './supervisor.ts';

interface Opts extends RecoveryParams {
  hostId: string;
  tun: string;
  nicNetns: string;
  nicIf: string;
  service: string;
  mode: 'passthrough' | 'forward' | 'fttcp';
  standby: boolean;
  control?: string;
  statsMs: number;
  logger?: HostPort;
  heartbeat?: HostPort;
  epoch: number;
  appCmd?: string;
  appPreload: string[];
  warmSpare: boolean;
  recreateRetryMs: number;
  appUnrecorded: boolean;
  appHangMs: number;
  appStartGraceMs: number;
  stallBudgetMs?: number;
}

/** A logger epoch as the wire carries it (u32, 0 is "none"). */
const isEpoch = (v: unknown): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 0xffff_ffff;
/** How long the primary waits for its detector before joining the logger anyway. */
const HEARTBEAT_FIRST_ACK_WAIT_MS = 5000;

/** The daemon's flags (the timing flags of spec/recovery.md are added by `parseOptions`). */
function sswProgram(): Command {
  return new Command('ssw')
    .description('FT-TCP south-side wrapper daemon for one server host')
    .requiredOption('--host-id <id>', 'host name for logs (primary, backup)')
    .option('--tun <name>', 'TUN device of this host (in the current netns)', 'ftl-tun0')
    .requiredOption('--nic-netns <ns>', 'namespace holding the LAN interface')
    .requiredOption('--nic-if <name>', 'LAN interface in --nic-netns')
    .option('--service <ipv4>', 'service address', '198.18.0.100')
    .addOption(
      new Option(
        '--mode <mode>',
        'passthrough: bare L2/L3 relay (I/O floor); forward: the engine without logging; fttcp: FT-TCP',
      )
        .choices(['passthrough', 'forward', 'fttcp'])
        .default('forward'),
    )
    .option('--standby', 'start silent (no ARP, drop everything) until a takeover request', false)
    .option('--control <path>', 'unix socket for the control channel (NDJSON)')
    .option('--logger <host:port>', 'logger address (fttcp mode)', cliHostPort)
    .option(
      '--heartbeat <host:port>',
      'failure detector to send heartbeats to (primary)',
      cliHostPort,
    )
    .option('--epoch <n>', 'logger epoch to join', cliBounded(1, 0xffffffff), 1)
    .option(
      '--app-cmd <cmd>',
      'application to supervise (started in record mode; restarted in replay when it dies)',
    )
    .option(
      '--stats-ms <ms>',
      'print counters to stderr this often (0: never)',
      cliBounded(0, 3_600_000),
      0,
    )
    .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2))
    .option(
      '--app-unrecorded',
      'the application is not NSW-wrapped (iperf3, a plain echo): the SSW records its closes itself on a second logger link (spec/ssw.md R5.8)',
      false,
    )
    .option('--no-warm-spare', 'do not keep a held replay incarnation of the application ready')
    .option(
      '--app-preload <module>',
      "absolute path of a module the warm spare imports before it holds (the application's library code; repeatable)",
      (v: string, prev: string[]) => {
        const why = checkPreloadPath(v);
        if (why !== undefined) throw new InvalidArgumentError(why);
        return [...prev, v];
      },
      [] as string[],
    )
    .option(
      '--app-hang-ms <ms>',
      'R10.2: kill and recover the NSW application when its heartbeats stop this long (0: no watch; off with --app-unrecorded and outside --mode fttcp)',
      cliBounded(0, MAX_TIMING_MS),
      DEFAULT_APP_HANG_MS,
    )
    .option(
      '--app-start-grace-ms <ms>',
      "R10.3: time for a starting incarnation's first heartbeat",
      cliBounded(0, MAX_TIMING_MS),
      DEFAULT_APP_START_GRACE_MS,
    )
    .option(
      '--stall-budget-ms <ms>',
      'report a connection stalled this long with no failure in progress (spec/ssw.md W.1; 0: never; default: the recovery budget of the timing flags)',
      cliBounded(0, MAX_TIMING_MS),
    )
    .option(
      '--recreate-retry-ms <ms>',
      'R6.3 fake-SYN retry period while the restarted application is not listening yet',
      cliBounded(1, 60_000),
      25,
    );
}

/** The daemon's command line (exits 2 on a bad one, as commander and `usage` do), and the
 * application watch it asks for (R10.2-R10.4; undefined: none). */
function parseOptions(): {
  o: Opts;
  params: RecoveryParams;
  appLiveness: AppLivenessParams | undefined;
} {
  const program = sswProgram();
  // The timing of spec/recovery.md (heartbeat period, lease, L.1 margin = driftMarginMs, L.2
  // grace), with the same flags and checks as the recovery daemon's: the lab hands both one set.
  addRecoveryParamOptions(program).parse();
  const o = program.opts<Opts>();
  const timing = recoveryParamsFromOpts(o);
  if (!timing.ok) usage(timing.message);
  if (o.mode === 'fttcp' && o.logger === undefined) usage('--mode fttcp needs --logger');
  if (o.appUnrecorded && o.mode !== 'fttcp') usage('--app-unrecorded applies to --mode fttcp only');
  const liveness = checkAppLivenessParams({
    hangMs: o.appHangMs,
    startGraceMs: o.appStartGraceMs,
  });
  if (!liveness.ok)
    usage(`--app-hang-ms/--app-start-grace-ms: ${formatAppLivenessError(liveness.error)}`);
  // R10.4: only an NSW application beats. One that is not (--app-unrecorded) or one outside
  // FT-TCP (no local recovery to run) is never watched; asking for it explicitly is an error.
  const watchable = o.mode === 'fttcp' && !o.appUnrecorded;
  if (!watchable && program.getOptionValueSource('appHangMs') === 'cli' && o.appHangMs > 0)
    usage(
      '--app-hang-ms needs an NSW application (--mode fttcp without --app-unrecorded); 0 turns it off',
    );
  const appLiveness = watchable ? liveness.value : undefined;
  return { o, params: timing.value, appLiveness };
}

function usage(m: string): never {
  process.stderr.write(`ssw: ${m}\n`);
  process.exit(2);
}

/** What the data-path thread runs, once the raw socket's MAC is known. */
const coreSpec =
  (o: Opts, params: RecoveryParams, serviceIp: number) =>
  (mac: Uint8Array): CoreSpec => {
    if (o.mode === 'passthrough')
      return { kind: 'passthrough', mac: [...mac], serviceIp, active: !o.standby };
    return {
      kind: 'engine',
      mode: o.mode === 'fttcp' ? 'ftTcp' : 'forward',
      mac: [...mac],
      serviceIp,
      active: !o.standby,
      hostId: o.hostId,
      epoch: o.epoch,
      leaseMarginMs: params.driftMarginMs,
      recreateRetryMs: o.recreateRetryMs,
      unprotectAfterMs: params.unprotectAfterMs,
      stallBudgetMs: o.stallBudgetMs ?? stallBudgetMs(params),
      ...(o.appUnrecorded ? { appRecorded: false } : {}),
    };
  };

/** A control-channel request, as parsed (fields checked where they are used). */
interface ControlRequest {
  id?: unknown;
  cmd?: unknown;
  epoch?: unknown;
  pid?: unknown;
  spec?: unknown;
}
type Reply = ControlReply;

/** The daemon's main-thread state: the data path, the links, the control clients. */
class SswDaemon {
  role: 'active' | 'standby';
  links: SswLinks | undefined;
  readonly dp: SswDataThread;
  /** Numbers the logger link's connections; frames framed for another are dropped. */
  loggerGen = 0;
  readonly controlClients = new Set<net.Socket>();
  // T.2: a control `takeover` is answered once the data path has sent the gratuitous ARP (its
  // `takeover` timeline event), not when the log is re-created: the coordinator starts the
  // application's replay then, while this SSW still fetches and re-creates (V.1).
  private readonly takeoverWaiters: Reply[] = [];
  // The last ReplayEnd's counts, reported to the coordinator with the `live` event.
  private sswReplay: Record<string, unknown> = {};

  constructor(
    readonly o: Opts,
    readonly params: RecoveryParams,
    readonly log: Log,
    readonly timeline: Timeline,
    serviceIp: number,
  ) {
    this.role = o.standby ? 'standby' : 'active';
    this.dp = new SswDataThread({
      tunName: o.tun,
      nicNetns: o.nicNetns,
      nicIf: o.nicIf,
      tickMs: 10,
      core: coreSpec(o, params, serviceIp),
      onEvent: (e) => this.onDataEvent(e),
      onError: (e) => {
        log.error('data-path thread failed', { error: e });
        process.exit(1);
      },
    });
  }

  pushEvent(e: Record<string, unknown>): void {
    for (const c of this.controlClients) c.write(`${JSON.stringify(e)}\n`);
  }

  /** The supervised application (when there is one), told when the host's protection changes. */
  app: AppSupervisor | undefined;

  /** An event from the data-path thread (timeline lines, frames for the links). */
  onDataEvent(e: DatapathEvent): void {
    if (e.kind === 'timeline') {
      this.timeline.event(e.event, e.fields);
      // R13.9: the NSW gives up protection when this host does, not on its own (spec/nsw.md).
      // Only a host that was protected had an NSW that logged (spec/ssw.md L.10).
      if (e.event === 'unprotected' && e.fields.from === 'protected') {
        this.log.warn('unprotected: acks and output no longer wait for the logger', e.fields);
        this.app?.tellUnprotected(String(e.fields.reason ?? 'ssw unprotected'));
      } else if (e.event === 'protected') {
        this.log.info(
          e.fields.from === 'unprotected'
            ? 'protected again: new connections are logged (L.4)'
            : 'protected: the logger welcomed us, new connections are logged (L.4)',
        );
      }
      if (e.event === 'takeover')
        for (const w of this.takeoverWaiters.splice(0)) w({ ok: true, ...e.fields });
      if (e.event === 'replay-ssw') this.sswReplay = e.fields;
      if (e.push)
        this.pushEvent({
          event: e.event,
          ...(e.event === 'live' ? this.sswReplay : {}),
          ...e.fields,
        });
    } else if (e.kind === 'recorderFrames') {
      if (this.links?.writeRecorderFrames(e.bytes) !== true)
        this.log.debug('recorder not connected: left to the engine to resend', { lost: e.count });
    } else if (e.kind === 'loggerFrames') {
      // Frames the data path framed for an earlier connection could overtake the engine's
      // resend after the next Welcome (R1.7) and reach the logger past a gap: dropped, they
      // are part of that resend.
      if (e.gen !== this.loggerGen)
        this.log.debug('frames for an earlier logger connection: left to the resend', {
          lost: e.count,
        });
      else if (this.links?.writeFrames(e.bytes) !== true)
        this.log.debug('logger not connected: messages left to the engine to resend', {
          lost: e.count,
        });
    }
  }

  /** The logger link (and the recorder and heartbeat links): fttcp, or forward with a logger. */
  startLinks(logger: HostPort): void {
    const { o, log, dp } = this;
    const links = new SswLinks({
      hostId: o.hostId,
      epoch: o.epoch,
      logger,
      recorder: o.mode === 'fttcp' && o.appUnrecorded,
      ...(o.heartbeat !== undefined ? { heartbeat: o.heartbeat } : {}),
      heartbeatMs: this.params.heartbeatIntervalMs,
      log,
      sink: {
        loggerMessages: (msgs) => dp.send({ cmd: 'logger', msgs }),
        loggerConnected: () => dp.send({ cmd: 'loggerConnected', gen: ++this.loggerGen }),
        loggerDisconnected: (reason) => {
          log.warn('logger link down', { reason });
          dp.send({ cmd: 'loggerDisconnected' });
        },
        heartbeatAck: (sentMs, leaseMs) =>
          dp.send({ cmd: 'heartbeatAck', sentAbsMs: performance.timeOrigin + sentMs, leaseMs }),
        recorderMessages: (msgs) => dp.send({ cmd: 'recorder', msgs }),
        recorderDisconnected: (reason) => {
          log.warn('recorder link down', { reason });
          dp.send({ cmd: 'recorderDown' });
        },
        heartbeatError: (code, message) => {
          log.warn('detector refused us', { code, message });
          dp.send({ cmd: 'fenced', reason: `${code}: ${message}` });
        },
      },
    });
    this.links = links;
    // A standby joins the logger only at takeover, with the epoch the coordinator gives it.
    if (o.standby) return;
    // Heartbeats first: the logger's Welcome starts a short lease that only HeartbeatAcks
    // renew, so join the logger once the detector answers (or after a bound, without one).
    if (o.heartbeat !== undefined) {
      links.startHeartbeat();
      void links.firstHeartbeatAck(HEARTBEAT_FIRST_ACK_WAIT_MS).then(() => links.startLogger());
    } else {
      links.startLogger();
    }
  }

  /** The supervised application: restarted in replay when it dies (local recovery, R10), and
   * killed into that path when its heartbeats stop (`liveness`, R10.2). */
  supervise(cmd: string, liveness: AppLivenessParams | undefined): AppSupervisor {
    const { o, log, timeline, dp } = this;
    const app: AppSupervisor = new AppSupervisor({
      cmd,
      env: {
        FTTCP_HOST_ID: o.hostId,
        FTTCP_EPOCH: String(o.epoch),
        ...(o.logger !== undefined ? { FTTCP_LOGGER: formatHostPort(o.logger) } : {}),
      },
      log,
      maxRestarts: 20,
      warmSpare: o.warmSpare,
      preload: o.appPreload,
      restartWindowMs: 60_000,
      ...(liveness !== undefined ? { liveness } : {}),
      // R10.2/R10.3: why the kill comes, before the exit it causes ('app-exit' below).
      onHung: (info) => timeline.event('app-hung', { ...info }),
      onExit: (info) => {
        timeline.event('app-exit', { ...info });
        // Hook ssw.app-exit-untold: the application's listener is gone, the engine not yet
        // told (R2.8). The announcement is written at once: this thread freezes right after.
        testHook('ssw.app-exit-untold', (event, fields) =>
          writeSync(1, `${JSON.stringify({ component: `ssw@${o.hostId}`, event, ...fields })}\n`),
        );
        dp.send({ cmd: 'appExit' });
        // Local recovery (R10): the next incarnation replays at once; the engine re-creates
        // its connections when told it started (and retries fake SYNs until it listens).
        try {
          const pid = app.start('replay', { FTTCP_EPOCH: String(this.links?.epoch ?? o.epoch) });
          timeline.event('app-start', { pid, mode: 'replay' });
          dp.send({ cmd: 'appStarted' });
        } catch (e) {
          log.error('cannot restart the application', { error: e });
          timeline.event('error', { error: String(e) });
        }
      },
    });
    return app;
  }

  /** One control request; `reply` answers it (with its id). */
  control(req: ControlRequest, reply: Reply): void {
    const { dp, links } = this;
    switch (req.cmd) {
      case 'status':
        void dp.request({ cmd: 'status' }).then((b) => reply({ ok: true, role: this.role, ...b }));
        return;
      case 'takeover':
        this.takeover(typeof req.epoch === 'number' ? req.epoch : this.o.epoch, reply);
        return;
      case 'app-crashed':
        // R10 local recovery driven by the recovery daemon (after a failover it, not this
        // daemon, supervises the application): the engine orphans the connections (R5.4).
        dp.send({ cmd: 'appExit' });
        reply({ ok: true });
        return;
      case 'app-started': {
        // The coordinator fenced the logger at a new epoch for this incarnation (F.1): the
        // logger link and the data path's frames move to it (spec/ssw.md L.6).
        const epoch = req.epoch;
        if (epoch !== undefined && !isEpoch(epoch)) {
          reply({ ok: false, error: 'bad-epoch' });
        } else if (epoch !== undefined && links !== undefined && epoch > links.epoch) {
          links.restartLogger(epoch);
          dp.send({ cmd: 'appStarted', epoch });
          reply({ ok: true });
        } else {
          dp.send({ cmd: 'appStarted' });
          reply({ ok: true });
        }
        return;
      }
      case 'test-impair': {
        // Tests only (FTTCP_TEST_HOOKS): duplicate / reorder LAN frames for a while.
        const why = testHooksEnabled() ? checkImpairSpec(req.spec) : 'test hooks are off';
        if (why !== undefined) reply({ ok: false, error: why });
        else {
          dp.send({ cmd: 'impair', spec: req.spec as ImpairSpec });
          reply({ ok: true });
        }
        return;
      }
      default:
        reply({ ok: false, error: 'unknown-cmd' });
    }
  }

  private takeover(epoch: number, reply: Reply): void {
    this.links?.restartLogger(epoch);
    let answered = false;
    const answer = (b: Record<string, unknown>): void => {
      if (answered) return;
      answered = true;
      if (b.ok === true) this.role = 'active';
      reply(b);
    };
    this.takeoverWaiters.push(answer);
    // The data path's own reply (at ReplayEnd) answers only if no ARP event came first
    // (a core that answers at once, or a refusal).
    void this.dp.request({ cmd: 'takeover', epoch }).then(answer);
  }

  /** The control channel: NDJSON requests on a unix socket; a malformed or endless line
   * closes that client. */
  controlServer(): net.Server {
    return net.createServer((sock) => this.controlClient(sock));
  }

  private controlClient(sock: net.Socket): void {
    this.controlClients.add(sock);
    sock.on('close', () => this.controlClients.delete(sock));
    sock.on('error', () => this.controlClients.delete(sock));
    serveControlClient(sock, (req, reply) => this.control(req, reply));
  }
}

const main = async (): Promise<void> => {
  const { o, params, appLiveness } = parseOptions();
  const log = new Log({ component: 'ssw', hostId: o.hostId });
  const timeline = new Timeline(`ssw@${o.hostId}`);
  const d = new SswDaemon(o, params, log, timeline, ipv4FromString(o.service));
  if (o.logger !== undefined) d.startLinks(o.logger);
  const app = o.appCmd === undefined ? undefined : d.supervise(o.appCmd, appLiveness);
  d.app = app;
  // S.2 (spec/recovery.md): whatever way this process ends (a fatal error included), the
  // application's group ends with it; a SIGKILL leaves that to its parent-death signal.
  process.on('exit', () => app?.stop());

  let server: net.Server | undefined;
  let statsTimer: ReturnType<typeof setInterval> | undefined;
  const stop = async (sig: string): Promise<void> => {
    log.info('stopping', { signal: sig });
    if (statsTimer) clearInterval(statsTimer);
    app?.stop();
    d.links?.stop();
    server?.close();
    for (const c of d.controlClients) c.destroy();
    await d.dp.close();
    process.exit(0);
  };
  // Before 'ssw-up': whoever reads that line may signal us at once, and a SIGTERM that lands
  // before a handler exists takes the default action (killed, the data path not closed).
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  log.info('up', { mode: o.mode, role: d.role, tun: o.tun, nic: `${o.nicNetns}/${o.nicIf}` });
  timeline.event('ssw-up', { mode: o.mode, role: d.role });
  if (app !== undefined && !o.standby) {
    const pid = app.start('record');
    timeline.event('app-start', { pid, mode: 'record' });
    d.dp.send({ cmd: 'appStarted' });
  }
  if (o.control !== undefined) {
    const path = o.control;
    if (existsSync(path)) unlinkSync(path);
    const listening = d.controlServer();
    server = listening;
    await new Promise<void>((res, rej) => {
      listening.once('error', rej);
      listening.listen(path, () => res());
    });
  }
  statsTimer =
    o.statsMs > 0
      ? setInterval(() => {
          void d.dp.request({ cmd: 'status' }).then((b) => log.info('counters', b));
        }, o.statsMs)
      : undefined;
};

runMain('ssw', main);
