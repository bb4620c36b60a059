import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkRecoveryParams,
  DEFAULT_RECOVERY_PARAMS,
  formatRecoveryParamsError,
  minUnprotectAfterMs,
  type RecoveryParams,
} from '../../machines/recovery/params.ts';
import { stallBudgetMs } from '../../machines/ssw/watchdog.ts';
import { parseNdjsonObject } from '../common/lines.ts';
import { BUSY_ON_SIGUSR2_ENV } from '../examples/testhooks.ts';
import type { Tool } from '../prereq.ts';
import { recoveryParamsArgv } from '../recovery/params-cli.ts';
import {
  LAB_WAITS,
  type LabProc,
  newRunDir,
  REPO_ROOT,
  spawnInNs,
  stopProc,
  tsxArgv,
  tsxArgvAt,
  waitEvent,
  waitExit,
} from './procs.ts';
import { checkStalls, type FaultWindow, type StallCheck } from './stalls.ts';
import type { StreamResult } from './streamclient.ts';
import {
  ADDR,
  existingLabNs,
  IF,
  ip,
  killNs,
  LabError,
  labDown,
  labUp,
  NS,
  type NsName,
  nsPids,
} from './topology.ts';

export type ServerHost = 'primary' | 'backup';
export type SswMode = 'passthrough' | 'forward' | 'fttcp';

export const HOST_NS: Record<ServerHost, NsName> = { primary: NS.primary, backup: NS.backup };
export const NIC: Record<ServerHost, { ns: NsName; ifName: string }> = {
  primary: { ns: NS.pnic, ifName: IF.pnic },
  backup: { ns: NS.bnic, ifName: IF.bnic },
};

/** Control socket of a host's SSW (a unix socket is reachable across namespaces). */
/** The benchmark logger's storage limit (see startFtTcpHosts). */
export const BENCH_LOG_BYTES = 6 * 2 ** 30;

export const sswControlPath = (runDir: string, host: ServerHost): string =>
  join(runDir, `ssw-${host}.sock`);

export interface SswStart {
  mode: SswMode;
  standby?: boolean;
  extraArgs?: string[];
  /** extra environment of the daemon, which its application inherits (test hooks) */
  env?: Record<string, string>;
}

export const LOGGER_ADDR = `${ADDR.replBackup}:7400`;
export const HEARTBEAT_ADDR = `${ADDR.replBackup}:7401`;
export const APP_PORT = { kv: 6379, echo: 7 } as const;
export type AppName = keyof typeof APP_PORT;

/** The example server's command line (mode, logger and epoch come from FTTCP_* variables that
 * the SSW's supervisor or the recovery daemon set). */
export const appCommand = (app: AppName, root = REPO_ROOT): string =>
  [
    process.execPath,
    '--import',
    'tsx',
    join(root, 'src/runtime/examples', `${app}.ts`),
    '--listen',
    `${ADDR.service}:${APP_PORT[app]}`,
  ].join(' ');

/** The logger daemon's command line on the backup host (replication link). */
export const loggerArgv = (extraArgs: readonly string[], root = REPO_ROOT): string[] =>
  tsxArgvAt(root, 'src/runtime/logger/main.ts', '--listen', LOGGER_ADDR, ...extraArgs);

/** The same as one shell command (for the recovery daemon's --logger-cmd; no spaces in it). */
export const loggerCommand = (extraArgs: readonly string[], root = REPO_ROOT): string =>
  loggerArgv(extraArgs, root).join(' ');

/** Lease and suspicion for a failover pair; any other field of RecoveryParams may be set too
 * (the rest are completed by `labRecoveryParams`). */
export type FailoverTiming = Pick<RecoveryParams, 'leaseMs' | 'suspectAfterMs'> &
  Partial<RecoveryParams>;
/** The recovery defaults (src/machines/recovery/params.ts): detection in ~300 ms. */
export const FAST_TIMING: FailoverTiming = {
  leaseMs: DEFAULT_RECOVERY_PARAMS.leaseMs,
  suspectAfterMs: DEFAULT_RECOVERY_PARAMS.suspectAfterMs,
};
/** For tests on a shared, loaded machine (CI runs the unit tests beside them): a primary whose
 * event loop stalls for ~150 ms must not lose its lease and go unprotected (L.2). Slower to
 * detect, same protocol. */
export const ROBUST_TIMING: FailoverTiming = { leaseMs: 800, suspectAfterMs: 900 };

/**
 * The one RecoveryParams a lab hands to every daemon (logger lease, SSW heartbeat period,
 * lease margin and L.2 grace, detector and coordinator): `t` over the defaults. If `t` leaves
 * `unprotectAfterMs` open it is raised, when needed, to one heartbeat period above the least
 * safe grace (P3), so a slower detection never leaves a partitioned primary unprotected while
 * the backup can still take over. A set that breaks P1-P4 is refused here, before any daemon
 * starts (each daemon checks it again).
 */
export const labRecoveryParams = (t: FailoverTiming): RecoveryParams => {
  const base: RecoveryParams = { ...DEFAULT_RECOVERY_PARAMS, ...t };
  const p: RecoveryParams =
    t.unprotectAfterMs !== undefined
      ? base
      : {
          ...base,
          unprotectAfterMs: Math.max(
            base.unprotectAfterMs,
            minUnprotectAfterMs(base) + base.heartbeatIntervalMs,
          ),
        };
  const r = checkRecoveryParams(p);
  if (!r.ok)
    throw new LabError(`lab timing ${JSON.stringify(t)}: ${formatRecoveryParamsError(r.error)}`);
  return r.value;
};

/**
 * Modules of each example application a warm spare imports before it holds (no side effects
 * at import): the NSW, commander, the application's own library code. A release then loads
 * only the main module, ~15 ms instead of ~100-200 ms on this machine.
 */
export const APP_PRELOAD: Record<AppName, readonly string[]> = {
  echo: ['src/runtime/examples/appcli.ts'],
  kv: ['src/runtime/examples/appcli.ts', 'src/runtime/examples/kvserver.ts'],
};
const appPreload = (app: AppName, root: string): string[] =>
  APP_PRELOAD[app].map((m) => join(root, m));

/**
 * Whether the SSW of the tree at `root` announces `protected` (L.4) on its timeline. A
 * benchmark's baseline (`bench:lab --baseline-root`) may be a tree from before the event: its
 * SSW is then given OLD_TREE_SETTLE_MS to join its logger, and a client that connects sooner
 * pays one SYN retransmit (a slower row, never a wrong one).
 */
const announcesProtection = (root: string): boolean => {
  try {
    return readFileSync(join(root, 'src/runtime/ssw/engineCore.ts'), 'utf8').includes(
      "event: 'protected'",
    );
  } catch {
    return false;
  }
};
const OLD_TREE_SETTLE_MS = 2_000;

/** R6.3 fake-SYN retry while the restarted application is not listening yet: the engine's
 * tick period, since a warm spare listens within a few ms of its release. */
export const LAB_RECREATE_RETRY_MS = 10;

/** Rounds of the reply-checking KV client; it answers 3 replies a round plus its PING. */
export const KV_CLIENT_OPS = 3000;
/** The test lines redis-benchmark's CSV holds when it ran every test of `startKvLoad`. */
export const REDIS_BENCHMARK_TESTS = ['PING_INLINE', 'PING_MBULK', 'SET', 'GET', 'INCR'] as const;
/** What `startKvLoad` runs besides the project's own client. */
export const KV_LOAD_TOOLS: readonly Tool[] = ['redis-benchmark'];

/** A failure a test injected, from `Lab.fault` until `end()`. */
export interface FaultHandle {
  end(): void;
}

/** Labs closed and not yet judged by the stall check (test/lab/stall-guard.ts takes them). */
const closedLabs: Lab[] = [];
/** Hands over the labs closed since the last call (bounded: a process closes few labs). */
export const takeClosedLabs = (): Lab[] => closedLabs.splice(0);

export interface LabOptions {
  /**
   * Test hooks on (src/runtime/common/testhook.ts): every process of the lab gets
   * FTTCP_TEST_HOOKS=<runDir>/hooks, where the test arms hook points, and the example servers'
   * busy-loop hook (FTTCP_TEST_BUSY_ON_SIGUSR2).
   */
  readonly testHooks?: boolean;
  /** The run directory to use (created if needed) instead of a fresh `runs/<stamp>-<label>`. */
  readonly runDir?: string;
  /**
   * Another checkout of the project whose daemons (logger, SSW, recovery daemon, example
   * applications) this lab runs instead of this tree's: the benchmark's baseline rows. Clients
   * and the lab itself stay this tree's. Default: this tree.
   */
  readonly codeRoot?: string;
}

/**
 * The timeline of the applications the recovery daemon ran on the backup host (its warm spare
 * and later incarnations): the daemon passes their lines to its stderr as `[app PID] line`.
 */
export const recoveryAppEvents = (runDir: string): Record<string, unknown>[] => {
  let text: string;
  try {
    text = readFileSync(join(runDir, 'recovery.err'), 'utf8');
  } catch {
    return [];
  }
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    const m = /^\[app \d+\] (\{.*)$/.exec(line);
    const ev = m?.[1] === undefined ? undefined : parseNdjsonObject(m[1]);
    if (ev !== undefined) out.push(ev);
  }
  return out;
};

/** How long a daemon's children get to follow it (parent-death signal, group kill). */
const ORPHAN_WAIT_MS = 3000;

/** The parent pid of a live `pid` (/proc/<pid>/stat); undefined when it is gone or a zombie
 * (dead: it holds nothing, and this machine's init may reap orphans late). */
const parentOf = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, the last ')' ends it.
    const [state, ppidField] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(ppidField);
    return state === 'Z' || !Number.isInteger(ppid) ? undefined : ppid;
  } catch {
    return undefined;
  }
};

const describePid = (pid: number): string => {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return `${pid} ${cmd.slice(0, 160)}`;
  } catch {
    return String(pid);
  }
};

/**
 * Processes in the lab's namespaces that are not this process's children, waited for up to
 * `waitMs` to go (a parent-death signal or a group kill in flight): each as "pid cmdline".
 */
export const labOrphans = async (waitMs: number): Promise<string[]> => {
  const left = (): number[] =>
    existingLabNs()
      .flatMap((ns) => nsPids(ns))
      .filter((pid) => {
        const ppid = parentOf(pid);
        return ppid !== undefined && ppid !== process.pid;
      });
  const deadline = Date.now() + waitMs;
  let pids = left();
  while (pids.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    pids = left();
  }
  return pids.map(describePid);
};

export class Lab {
  readonly procs: LabProc[] = [];
  /** W.7: the failures injected into this lab so far (spec/ssw.md; src/runtime/lab/stalls.ts) */
  readonly faults: FaultWindow[] = [];
  /** the timing handed to the daemons (the last FT-TCP start), which sets the stall budget */
  private params: RecoveryParams = DEFAULT_RECOVERY_PARAMS;
  private closed = false;
  /** Environment every process of this lab gets (test hooks). */
  private readonly env: Record<string, string>;
  /** The test-hook directory, when hooks are on. */
  readonly hookDir: string | undefined;
  /** Where the daemons' code comes from (LabOptions.codeRoot). */
  readonly codeRoot: string;

  private constructor(
    readonly runDir: string,
    o: LabOptions,
  ) {
    this.hookDir = o.testHooks === true ? join(runDir, 'hooks') : undefined;
    this.codeRoot = o.codeRoot ?? REPO_ROOT;
    if (this.hookDir !== undefined) mkdirSync(this.hookDir, { recursive: true });
    // With hooks on, the example servers' busy-loop hook is armed too (SIGUSR2 spins their
    // event loop: src/runtime/examples/testhooks.ts).
    this.env =
      this.hookDir !== undefined
        ? { FTTCP_TEST_HOOKS: this.hookDir, [BUSY_ON_SIGUSR2_ENV]: '1' }
        : {};
  }

  /** Tears down whatever lab exists, builds a fresh one and opens a run directory. */
  static async create(label: string, o: LabOptions = {}): Promise<Lab> {
    labDown();
    labUp();
    if (o.runDir !== undefined) mkdirSync(o.runDir, { recursive: true });
    return new Lab(o.runDir ?? newRunDir(label), o);
  }

  /** W.1: the recovery budget of this lab's timing; the daemons' and clients' stall budget. */
  get stallBudgetMs(): number {
    return stallBudgetMs(this.params);
  }

  /**
   * W.7: a failure this test injects from now on (a SIGSTOP, a link down, a kill): stalls whose
   * wait begins inside it are the failure's. `until: 'live'`: it ends at the first `live`
   * event after it (a crash the system recovers from); otherwise at `end()`, or never.
   */
  fault(what: string, o: { until?: 'live' } = {}): FaultHandle {
    const w: { what: string; fromWallMs: number; toWallMs?: number; until?: 'live' } = {
      what,
      fromWallMs: Date.now(),
      ...(o.until !== undefined ? { until: o.until } : {}),
    };
    this.faults.push(w);
    return {
      end: () => {
        if (w.toWallMs === undefined) w.toWallMs = Date.now();
      },
    };
  }

  /** W.7: every `stall` of this lab's processes judged against its failures. */
  stallCheck(): StallCheck {
    return checkStalls(this.procs, this.faults, this.stallBudgetMs);
  }

  spawn(
    ns: NsName,
    name: string,
    argv: readonly string[],
    env: Record<string, string> = {},
    o: { stdin?: boolean } = {},
  ): LabProc {
    const p = spawnInNs(ns, name, argv, this.runDir, { ...this.env, ...env }, o);
    this.procs.push(p);
    return p;
  }

  async startSsw(host: ServerHost, s: SswStart): Promise<LabProc> {
    const nic = NIC[host];
    const args = [
      '--host-id',
      host,
      '--nic-netns',
      nic.ns,
      '--nic-if',
      nic.ifName,
      '--mode',
      s.mode,
      '--control',
      sswControlPath(this.runDir, host),
      ...(s.standby ? ['--standby'] : []),
      ...(s.extraArgs ?? []),
    ];
    const p = this.spawn(
      HOST_NS[host],
      `ssw-${host}`,
      tsxArgvAt(this.codeRoot, 'src/runtime/ssw/main.ts', ...args),
      s.env ?? {},
    );
    await waitEvent(p, (e) => e.event === 'ssw-up', LAB_WAITS.daemonUpMs, 'ssw-up');
    return p;
  }

  /** The plain echo server (no NSW) listening on `addr:port` in `ns`. */
  async startPlainEcho(ns: NsName, addr: string, port: number): Promise<LabProc> {
    const p = this.spawn(
      ns,
      `plainecho-${ns}`,
      tsxArgv('src/runtime/lab/plainecho.ts', '--listen', `${addr}:${port}`),
    );
    await waitEvent(p, (e) => e.event === 'listening', LAB_WAITS.daemonUpMs, 'listening');
    return p;
  }

  /**
   * The KV load the demo and the KV lab tests share: Debian's unmodified redis-benchmark
   * (8 connections, `--csv` so its per-test lines can be checked) beside the reply-checking
   * KV client (3000 SET/GET/INCR rounds), both against the service address.
   */
  startKvLoad(o: { benchRequests: number; clientTimeoutMs: number }): {
    kv: LabProc;
    rb: LabProc;
  } {
    const target = `${ADDR.service}:${APP_PORT.kv}`;
    const kv = this.spawn(
      NS.client,
      'kvclient',
      tsxArgv(
        'src/runtime/lab/kvclient.ts',
        '--connect',
        target,
        '--ops',
        String(KV_CLIENT_OPS),
        '--interval-ms',
        '1',
        '--timeout-ms',
        String(o.clientTimeoutMs),
        '--stall-ms',
        String(this.stallBudgetMs),
      ),
    );
    const rb = this.spawn(NS.client, 'redis-benchmark', [
      'redis-benchmark',
      '-h',
      ADDR.service,
      '-p',
      String(APP_PORT.kv),
      '-n',
      String(o.benchRequests),
      '-c',
      '8',
      '-t',
      'set,get,incr,ping',
      '--csv',
    ]);
    return { kv, rb };
  }

  /** Starts the stream client in the client namespace; resolve `.result` when it ends. */
  startStream(name: string, args: string[]): { proc: LabProc; result: Promise<StreamResult> } {
    // W.6: the client watches for stalls with the lab's budget unless the test chose one.
    const stall = args.includes('--stall-ms') ? [] : ['--stall-ms', String(this.stallBudgetMs)];
    const proc = this.spawn(
      NS.client,
      name,
      tsxArgv('src/runtime/lab/streamclient.ts', ...stall, ...args),
    );
    const result = (async (): Promise<StreamResult> => {
      await waitExit(proc, 3_600_000);
      const last = proc.events.at(-1);
      if (last === undefined || typeof last.ok !== 'boolean') {
        throw new LabError(`${name} gave no result (exit ${proc.exitCode})`);
      }
      return last as unknown as StreamResult;
    })();
    return { proc, result };
  }

  /** The logger daemon on the backup host (replication link). */
  async startLogger(extraArgs: string[] = []): Promise<LabProc> {
    const p = this.spawn(NS.backup, 'logger', loggerArgv(extraArgs, this.codeRoot));
    await waitEvent(p, (e) => e.event === 'listening', LAB_WAITS.daemonUpMs, 'logger listening');
    return p;
  }

  /** The FT-TCP primary: logger on the backup, primary SSW in fttcp mode supervising `app`
   * (recorded through the NSW), optionally heartbeating to a detector. Resolves when the
   * application listens. */
  async startFtTcpPrimary(
    o: {
      app?: AppName;
      heartbeat?: boolean;
      params?: RecoveryParams;
      extraArgs?: string[];
      /** environment of the SSW daemon and so of its application (e.g. a test hook) */
      env?: Record<string, string>;
    } = {},
  ): Promise<LabProc> {
    this.params = o.params ?? DEFAULT_RECOVERY_PARAMS;
    const args = [
      '--logger',
      LOGGER_ADDR,
      '--recreate-retry-ms',
      String(LAB_RECREATE_RETRY_MS),
      ...recoveryParamsArgv(o.params ?? DEFAULT_RECOVERY_PARAMS),
    ];
    if (o.heartbeat) args.push('--heartbeat', HEARTBEAT_ADDR);
    if (o.app !== undefined) {
      args.push('--app-cmd', appCommand(o.app, this.codeRoot));
      for (const m of appPreload(o.app, this.codeRoot)) args.push('--app-preload', m);
    }
    const ssw = await this.startSsw('primary', {
      mode: 'fttcp',
      extraArgs: [...args, ...(o.extraArgs ?? [])],
      ...(o.env !== undefined ? { env: o.env } : {}),
    });
    // Up means protected (spec/ssw.md L.4), not only listening: until the logger's Welcome
    // reaches the data path, the engine drops a SYN (not ready) and a client that connects
    // then waits out its SYN retransmit (1 s, a stall W.6 flags). The application's
    // 'listening' can come first: the app and the data-path thread start together, and the
    // SSW joins the logger only after the detector's first HeartbeatAck.
    await Promise.all([
      announcesProtection(this.codeRoot)
        ? waitEvent(
            ssw,
            (e) => e.event === 'protected',
            LAB_WAITS.serviceUpMs,
            'SSW protected (L.4)',
          )
        : new Promise((r) => setTimeout(r, OLD_TREE_SETTLE_MS)),
      o.app === undefined
        ? undefined
        : waitEvent(
            ssw,
            (e) => e.event === 'listening',
            LAB_WAITS.serviceUpMs,
            `${o.app} listening`,
          ),
    ]);
    return ssw;
  }

  /** The FT-TCP hosts without an application (benchmark): logger + primary SSW in fttcp mode. */
  async startFtTcpHosts(): Promise<() => Promise<void>> {
    // Without checkpoints the log holds every client byte of a connection (spec/logger.md): at
    // the default 256 MB a multi-second bulk upload would measure the logger's backpressure,
    // not the path. 6 GB covers the benchmark's runs on this 24 GB machine.
    const logger = await this.startLogger([
      '--lease-ms',
      '60000',
      '--max-bytes',
      String(BENCH_LOG_BYTES),
    ]);
    // iperf3 and the plain echo are not NSW-wrapped: their closes are recorded by the SSW
    // (spec/ssw.md R5.8), or the engine would hold their FINs and RSTs for good.
    const ssw = await this.startFtTcpPrimary({ extraArgs: ['--app-unrecorded'] });
    return async () => {
      await stopProc(ssw);
      await stopProc(logger);
    };
  }

  /**
   * Primary + backup for failover: logger, backup SSW (standby, control socket), recovery
   * daemon (failure detector + coordinator, src/runtime/recovery) on the backup host, and the
   * primary SSW heartbeating to the detector and supervising `app`. Resolves when the
   * application listens and the detector has heard the primary.
   */
  async startFtTcpPair(
    app: AppName,
    o: {
      warmSpare?: boolean;
      timing?: FailoverTiming;
      /** the primary SSW's and the recovery daemon's `--app-hang-ms` (R10.2, R10.6; 0: a test
       * that stops the application on purpose, as a device rather than a fault, keeps it
       * stopped) */
      appHangMs?: number;
      /** environment of the application on both hosts (e.g. its checkpoint schedule, R13.3) */
      appEnv?: Record<string, string>;
      /** extra logger flags (e.g. a small --max-bytes) */
      loggerArgs?: string[];
      /** the recovery daemon runs the logger and restarts it when it dies (spec/recovery.md
       * S.1); `logger` is then the recovery daemon's process, whose timeline has the logger's */
      loggerSupervised?: boolean;
    } = {},
  ): Promise<{ primary: LabProc; backup: LabProc; recovery: LabProc; logger: LabProc }> {
    const t = labRecoveryParams(o.timing ?? FAST_TIMING);
    this.params = t;
    const loggerArgs = ['--lease-ms', String(t.leaseMs), ...(o.loggerArgs ?? [])];
    // The backup host's three daemons start together: none needs another to start (the
    // recovery daemon's logger link and control channel reconnect until their peer listens;
    // a standby SSW joins the logger only at takeover). Only the primary waits for them.
    const loggerUp = o.loggerSupervised === true ? undefined : this.startLogger(loggerArgs);
    const control = sswControlPath(this.runDir, 'backup');
    // `exec`: the application is the daemon's child itself, with its parent-death signal
    // (spec/recovery.md S.2; dash would fork it from a shell that alone gets the signal).
    const appCmd = `exec ${appCommand(app, this.codeRoot)}`;
    // V.1: the daemon keeps a warm spare of it (its own child: a hang's kill ends it, R10.6).
    // A baseline checkout older than the daemon's own spare (the benchmark's `codeRoot`)
    // starts cold: its daemon would refuse the flag.
    const spareArgs =
      o.warmSpare === false ||
      !readFileSync(join(this.codeRoot, 'src/runtime/recovery/main.ts'), 'utf8').includes(
        '--app-warm-spare',
      )
        ? []
        : [
            '--app-warm-spare',
            ...appPreload(app, this.codeRoot).flatMap((m) => ['--app-preload', m]),
          ];
    const backupUp = this.startSsw('backup', {
      mode: 'fttcp',
      standby: true,
      extraArgs: [
        '--logger',
        LOGGER_ADDR,
        '--recreate-retry-ms',
        String(LAB_RECREATE_RETRY_MS),
        ...recoveryParamsArgv(t),
      ],
    });
    const recovery = this.spawn(
      NS.backup,
      'recovery',
      tsxArgvAt(
        this.codeRoot,
        'src/runtime/recovery/main.ts',
        '--heartbeat-listen',
        HEARTBEAT_ADDR,
        '--logger',
        LOGGER_ADDR,
        '--ssw-control',
        control,
        '--app-cmd',
        appCmd,
        ...spareArgs,
        // STONITH hook: the primary's LAN link goes down (its NIC namespace is the lab's).
        '--fence-cmd',
        `ip -n ${NIC.primary.ns} link set ${NIC.primary.ifName} down`,
        '--host-id',
        'backup',
        ...(o.loggerSupervised === true
          ? ['--logger-cmd', `exec ${loggerCommand(loggerArgs, this.codeRoot)}`]
          : []),
        ...(o.appHangMs !== undefined ? ['--app-hang-ms', String(o.appHangMs)] : []),
        ...recoveryParamsArgv(t),
      ),
    );
    const [logger, backup] = await Promise.all([
      loggerUp ??
        waitEvent(
          recovery,
          (e) => e.event === 'listening' && e.component === 'logger',
          LAB_WAITS.daemonUpMs,
          'supervised logger listening',
        ).then(() => recovery),
      backupUp,
      waitEvent(
        recovery,
        (e) => e.event === 'ready',
        LAB_WAITS.serviceUpMs,
        'recovery daemon ready',
      ),
    ]);
    const primary = await this.startFtTcpPrimary({
      app,
      heartbeat: true,
      params: t,
      ...(o.appHangMs !== undefined ? { extraArgs: ['--app-hang-ms', String(o.appHangMs)] } : {}),
      ...(o.appEnv !== undefined ? { env: o.appEnv } : {}),
    });
    await waitEvent(
      recovery,
      (e) => e.event === 'heartbeat-up',
      LAB_WAITS.serviceUpMs,
      'detector hears the primary',
    );
    return { primary, backup, recovery, logger };
  }

  /** Host crash (A1): every process of the host dies at once and its LAN link goes down. */
  crashHost(host: ServerHost): number[] {
    // W.7: what the clients see until the system reports `live` again is the crash's.
    this.fault(`${host} host crash`, { until: 'live' });
    const pids = killNs(HOST_NS[host]);
    const nic = NIC[host];
    ip('-n', nic.ns, 'link', 'set', nic.ifName, 'down');
    return pids;
  }

  /**
   * Tears the lab down. Fails (after tearing it down all the same) when a process is left in
   * the lab's namespaces once everything the lab started has stopped: a daemon's child that
   * outlived it (spec/recovery.md S.2). The lab's own processes not in `procs` (captures) are
   * children of this process and are not counted; labDown ends them.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.procs.map((p) => stopProc(p, 'SIGTERM', LAB_WAITS.teardownGraceMs)));
    const orphans = await labOrphans(ORPHAN_WAIT_MS);
    labDown();
    // Judged after the processes stopped, so that every event they wrote is in.
    closedLabs.push(this);
    if (closedLabs.length > 16) closedLabs.shift();
    if (orphans.length > 0)
      throw new LabError(
        `teardown: ${orphans.length} process(es) outlived the daemons that started them (spec/recovery.md S.2): ${orphans.join('; ')}`,
      );
  }
}

export { ADDR };
