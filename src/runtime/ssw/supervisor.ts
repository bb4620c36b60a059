// The SSW daemon is also the local supervisor of the server application (local recovery, R10):
// it starts the application, notices its death at once (child exit, not a timeout), and
// starts the next incarnation in replay when asked. It decides nothing about the protocol:
// the engine is told `appExit`/`appStarted` and acts on them.
//
// The application's stdout (its NDJSON timeline) is passed through to the daemon's stdout,
// so the lab reads one timeline per host; its stderr goes to the daemon's stderr, prefixed.
import { type ChildProcess, spawn } from 'node:child_process';
import type { Log } from '../common/log.ts';

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

/** `--import` this module to hold a Node process before its main module loads, until a line
 * arrives on stdin: a warm spare whose start-up (Node, the TypeScript loader) is already paid. */
export const HOLD_MODULE = new URL('./hold.mjs', import.meta.url).pathname;

export class AppSupervisor {
  private child: ChildProcess | undefined;
  private spare: ChildProcess | undefined;
  private incarnation = 0;
  private readonly starts: number[] = [];
  private stopping = false;

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
    if (useSpare) child.stdin?.end('go\n');
    else spare?.kill('SIGKILL');
    this.child = child;
    const prefix = `[app#${incarnation}] `;
    let partial = '';
    child.stdout?.on('data', (d: Buffer) => {
      partial += d.toString('utf8');
      let i = partial.indexOf('\n');
      while (i >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        i = partial.indexOf('\n');
        process.stdout.write(line.startsWith('{') ? `${line}\n` : `${prefix}${line}\n`);
      }
    });
    child.stderr?.on('data', (d: Buffer) => {
      for (const line of d.toString('utf8').split('\n'))
        if (line !== '') process.stderr.write(`${prefix}${line}\n`);
    });
    const pid = child.pid ?? -1;
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopping) return;
      this.o.log.warn('application exited', { pid, code, signal, incarnation });
      this.o.onExit({ pid, code, signal, incarnation });
    });
    this.o.log.info('application started', { pid, mode, incarnation, warmSpare: useSpare });
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
    return spawn('/bin/sh', ['-c', `exec ${this.o.cmd}`], {
      env: {
        ...process.env,
        ...this.o.env,
        ...extraEnv,
        FTTCP_MODE: mode,
        NODE_OPTIONS: nodeOptions,
      },
      stdio: [held ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
  }

  stop(): void {
    this.stopping = true;
    this.child?.kill('SIGKILL');
    this.spare?.kill('SIGKILL');
  }
}
