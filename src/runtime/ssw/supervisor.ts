// The SSW daemon is also the local supervisor of the server application (local recovery, R10):
// it starts the application, notices its death at once (child exit, not a timeout), and
// starts the next incarnation in replay when asked. It decides nothing about the protocol:
// the engine is told `appExit`/`appStarted` and acts on them.
//
// The application's stdout (its NDJSON timeline) is passed through to the daemon's stdout,
// so the lab reads one timeline per host; its stderr goes to the daemon's stderr, prefixed.
//
// A hung application is a crashed one (R10.1-R10.5, spec/recovery.md): with `liveness`, the
// supervisor asks the NSW for heartbeat lines on that same stdout, judges each incarnation
// with `judgeApp` (src/machines/recovery/appLiveness.ts) and SIGKILLs one that stopped
// beating; its exit then takes the crash path above.
import type { ChildProcess } from 'node:child_process';
import {
  type AppLivenessParams,
  type AppVerdict,
  appHeartbeatPeriodMs,
  judgeApp,
} from '../../machines/recovery/appLiveness.ts';
import { killGroup, spawnSupervised } from '../common/children.ts';
import { LineReader } from '../common/lines.ts';
import type { Log } from '../common/log.ts';
import { NSW_CONTROL_ENV, nswControlLine } from '../nsw/control.ts';
import { APP_HEARTBEAT_ENV, APP_HEARTBEAT_LINE } from '../nsw/heartbeat.ts';

export type AppMode = 'record' | 'replay';

export interface SupervisorOptions {
  /** shell command line; run as `/bin/sh -c 'exec <cmd>'` so the pid is the application's */
  cmd: string;
  env: Record<string, string>;
  log: Log;
  onExit: (info: {
    pid: number;
    code: number | null;
    signal: string | null;
    incarnation: number;
  }) => void;
  /** explicit bound: more restarts than this in `restartWindowMs` is a fatal crash loop */
  maxRestarts: number;
  restartWindowMs: number;
  /** keep a held replay incarnation ready (Node already started), released at the next death */
  warmSpare: boolean;
  /**
   * R10: watch each incarnation's heartbeats with these limits (`hangMs` 0: no watch, R10.4).
   * Only for an NSW application: one that never beats is killed when its start-up grace ends.
   */
  liveness?: AppLivenessParams;
  /** R10.2/R10.3: called with the verdict just before a hung incarnation is killed */
  onHung?: (info: {
    pid: number;
    incarnation: number;
    rule: 'R10.2' | 'R10.3';
    phase: 'startup' | 'running';
    silentMs: number;
    limitMs: number;
  }) => void;
  /**
   * Modules the warm spare imports before it holds (absolute paths, `checkPreloadPath`): the
   * application's library code, loaded and compiled ahead of the crash, so that a release only
   * loads the main module itself. They must have no side effects at import.
   */
  preload?: readonly string[];
}

/** Why a preload path is refused: it must be absolute and survive NODE_OPTIONS's splitting. */
export const checkPreloadPath = (path: string): string | undefined => {
  if (!path.startsWith('/')) return `preload module '${path}' is not an absolute path`;
  if (/[\s"'\\]/.test(path))
    return `preload module '${path}' has whitespace, a quote or a backslash (NODE_OPTIONS splits on them)`;
  return undefined;
};

/**
 * The longest line of the application's stdout or stderr held while it is unterminated
 * (characters): a timeline event is far shorter; beyond it the line is dropped, with a warning.
 */
export const MAX_APP_LINE = 1 << 20;

/** `--import` this module to hold a Node process before its main module loads, until a line
 * arrives on stdin: a warm spare whose start-up (Node, the TypeScript loader) is already paid. */
export const HOLD_MODULE = new URL('./hold.mjs', import.meta.url).pathname;

export class AppSupervisor {
  private child: ChildProcess | undefined;
  private spare: ChildProcess | undefined;
  private incarnation = 0;
  private readonly starts: number[] = [];
  private stopping = false;
  /** the watch of the running incarnation (R10), undefined when off or none runs */
  private watch:
    | { startedMs: number; lastBeatMs: number | undefined; timer: NodeJS.Timeout | undefined }
    | undefined;

  constructor(private readonly o: SupervisorOptions) {
    for (const m of o.preload ?? []) {
      const why = checkPreloadPath(m);
      if (why !== undefined) throw new Error(why);
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  start(mode: AppMode, extraEnv: Record<string, string> = {}): number {
    if (this.running) throw new Error(`application already running (pid ${this.pid})`);
    const now = Date.now();
    while (this.starts.length > 0 && (this.starts[0] ?? 0) < now - this.o.restartWindowMs)
      this.starts.shift();
    if (this.starts.length > this.o.maxRestarts) {
      throw new Error(
        `application restarted ${this.starts.length} times in ${this.o.restartWindowMs} ms: crash loop`,
      );
    }
    this.starts.push(now);
    const incarnation = ++this.incarnation;
    const spare = this.spare;
    this.spare = undefined;
    const useSpare =
      mode === 'replay' &&
      spare !== undefined &&
      spare.exitCode === null &&
      spare.signalCode === null;
    const child = useSpare ? spare : this.spawnApp(mode, extraEnv, false);
    // The spare's stdin stays open after its release: it is the NSW's control channel.
    if (useSpare) child.stdin?.write('go\n');
    else if (spare !== undefined) killGroup(spare, 'SIGKILL');
    this.child = child;
    child.stdin?.on('error', () => {}); // a dead child's pipe: its exit is what counts
    const prefix = `[app#${incarnation}] `;
    const out = new LineReader((line) => {
      // R10.1: a heartbeat is noted, not passed on (ten a second would drown the timeline).
      if (line === APP_HEARTBEAT_LINE) this.beat(child, pid, incarnation);
      else process.stdout.write(line.startsWith('{') ? `${line}\n` : `${prefix}${line}\n`);
    }, MAX_APP_LINE);
    const err = new LineReader((line) => {
      if (line !== '') process.stderr.write(`${prefix}${line}\n`);
    }, MAX_APP_LINE);
    const overlong = (stream: string): void =>
      this.o.log.warn('application output line too long: dropped', {
        incarnation,
        stream,
        maxChars: MAX_APP_LINE,
      });
    child.stdout?.on('data', (d: Buffer) => {
      if (out.push(d) === 'overlong') overlong('stdout');
    });
    child.stdout?.on('end', () => out.end());
    child.stderr?.on('data', (d: Buffer) => {
      if (err.push(d) === 'overlong') overlong('stderr');
    });
    child.stderr?.on('end', () => err.end());
    const pid = child.pid ?? -1;
    child.on('exit', (code, signal) => {
      if (this.child === child) {
        this.child = undefined;
        this.unwatch();
      }
      if (this.stopping) return;
      this.o.log.warn('application exited', { pid, code, signal, incarnation });
      this.o.onExit({ pid, code, signal, incarnation });
    });
    this.o.log.info('application started', { pid, mode, incarnation, warmSpare: useSpare });
    this.startWatch(child, pid, incarnation);
    if (this.o.warmSpare) this.spare = this.spawnApp('replay', extraEnv, true);
    return pid;
  }

  private spawnApp(mode: AppMode, extraEnv: Record<string, string>, held: boolean): ChildProcess {
    // Node's own options go in NODE_OPTIONS so that the command line stays the user's. The
    // spare loads the TypeScript loader and the preloaded modules before holding (most of a
    // start-up's cost); the command's own `--import tsx` and the main module's imports then
    // find them already loaded.
    const nodeOptions = held
      ? [
          process.env.NODE_OPTIONS ?? '',
          '--import tsx',
          ...(this.o.preload ?? []).map((m) => `--import ${m}`),
          `--import ${HOLD_MODULE}`,
        ]
          .join(' ')
          .trim()
      : (process.env.NODE_OPTIONS ?? '');
    // S.2: own process group, killed with this daemon (parent-death signal) or as a group.
    return spawnSupervised(`exec ${this.o.cmd}`, {
      env: {
        ...process.env,
        ...this.o.env,
        ...extraEnv,
        FTTCP_MODE: mode,
        NODE_OPTIONS: nodeOptions,
        // R13.9: the NSW reads this supervisor's control lines on its stdin.
        [NSW_CONTROL_ENV]: 'stdin',
        ...(this.watching
          ? { [APP_HEARTBEAT_ENV]: String(appHeartbeatPeriodMs(this.o.liveness?.hangMs ?? 0)) }
          : {}),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  private get watching(): boolean {
    return this.o.liveness !== undefined && this.o.liveness.hangMs > 0;
  }

  // ------------------------------------------------------------------------------------------
  // R10: the hang watch. The clock is monotonic (performance.now): a wall-clock step must not
  // look like silence.

  private startWatch(child: ChildProcess, pid: number, incarnation: number): void {
    this.unwatch();
    if (!this.watching) return;
    this.watch = { startedMs: performance.now(), lastBeatMs: undefined, timer: undefined };
    this.check(child, pid, incarnation, false);
  }

  private beat(child: ChildProcess, pid: number, incarnation: number): void {
    const w = this.watch;
    if (this.child !== child || w === undefined) return;
    const first = w.lastBeatMs === undefined;
    w.lastBeatMs = performance.now();
    // The first beat moves the deadline from the end of the grace (R10.3) to the hang limit
    // (R10.2), which may be earlier: re-armed now. Later beats only move it later, which the
    // pending timer finds when it fires.
    if (first) this.check(child, pid, incarnation, false);
  }

  private unwatch(): void {
    clearTimeout(this.watch?.timer);
    this.watch = undefined;
  }

  /**
   * Judges the running incarnation and re-arms the timer for the verdict's deadline. A
   * first 'hung' is confirmed one poll phase later (`setImmediate`): a timer that fired late
   * because this daemon's own loop was held up runs before the poll phase that reads the
   * heartbeats waiting in the pipe, and those must count before the application is judged.
   */
  private check(child: ChildProcess, pid: number, incarnation: number, confirming: boolean): void {
    const w = this.watch;
    const p = this.o.liveness;
    if (w === undefined || p === undefined || this.child !== child || this.stopping) return;
    clearTimeout(w.timer);
    const v: AppVerdict = judgeApp(w, performance.now(), p);
    if (v.kind === 'unwatched') return;
    if (v.kind === 'alive') {
      w.timer = setTimeout(
        () => this.check(child, pid, incarnation, false),
        Math.max(1, v.recheckAtMs - performance.now()),
      );
      w.timer.unref();
      return;
    }
    if (!confirming) {
      setImmediate(() => this.check(child, pid, incarnation, true));
      return;
    }
    this.unwatch();
    this.o.log.warn('application hung: killing it', { pid, incarnation, ...v });
    this.o.onHung?.({
      pid,
      incarnation,
      rule: v.rule,
      phase: v.phase,
      // Rounded up: silence just past an integer limit must not read as equal to it.
      silentMs: Math.ceil(v.silentMs),
      limitMs: v.limitMs,
    });
    // SIGKILL reaches a stopped process too; its exit runs the crash path (onExit).
    killGroup(child, 'SIGKILL');
  }

  /**
   * R13.9a (spec/ssw.md L.2, L.8): the host went unprotected; the running incarnation's NSW
   * is told now. A later incarnation is not: it joins a logger itself (its NSW does not start
   * without one) and its log starts without a gap (spec/ssw.md L.10).
   */
  tellUnprotected(why: string): void {
    const stdin = this.child?.stdin;
    if (stdin === undefined || stdin === null || stdin.destroyed) return;
    stdin.write(nswControlLine({ cmd: 'unprotected', reason: why }));
  }

  stop(): void {
    this.unwatch();
    this.stopping = true;
    // S.2: the whole group of each (what the application started goes with it).
    if (this.child !== undefined) killGroup(this.child, 'SIGKILL');
    if (this.spare !== undefined) killGroup(this.spare, 'SIGKILL');
  }
}
