// Processes the lab starts inside its namespaces, each with its stdout/stderr kept in the
// run's directory (`runs/<timestamp>/<name>.out|.err`, git-ignored). `ip netns exec` execs the
// command in place, so the pid we hold is the daemon's own: killing it is killing the daemon.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, symlinkSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LineReader, parseNdjsonObject } from '../common/lines.ts';
import { LabError, type NsName } from './topology.ts';

export const REPO_ROOT = resolve(new URL('../../..', import.meta.url).pathname);
export const RUNS_DIR = join(REPO_ROOT, 'runs');

/** A fresh run directory, and `runs/latest` pointing at it. */
export const newRunDir = (label: string): string => {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(RUNS_DIR, `${stamp}-${label}`);
  mkdirSync(dir, { recursive: true });
  const latest = join(RUNS_DIR, 'latest');
  try {
    unlinkSync(latest);
  } catch {
    // none yet
  }
  try {
    symlinkSync(dir, latest);
  } catch {
    // a concurrent run took it; not important
  }
  return dir;
};

/** `FTTCP_LAB_CPU_PROF=<dir>`: every Node process the lab starts writes a V8 CPU profile there
 * (one file per thread, at exit); `--cpu-prof` is refused in NODE_OPTIONS, hence this switch. */
export const cpuProfArgs = (): string[] => {
  const dir = process.env.FTTCP_LAB_CPU_PROF;
  return dir === undefined || dir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`];
};

/** `node --import tsx <repo-relative script>`: runs a TypeScript entry without npx's extra processes. */
export const tsxArgv = (script: string, ...args: string[]): string[] =>
  tsxArgvAt(REPO_ROOT, script, ...args);

/** `tsxArgv` with the script taken from another checkout of the project (`root`): the
 * benchmark runs the daemons of a baseline revision beside this one's, in the same lab. */
export const tsxArgvAt = (root: string, script: string, ...args: string[]): string[] => [
  process.execPath,
  ...cpuProfArgs(),
  '--import',
  'tsx',
  join(root, script),
  ...args,
];

export interface LabProc {
  readonly name: string;
  readonly ns: NsName;
  readonly child: ChildProcess;
  readonly outPath: string;
  readonly errPath: string;
  /** stdout lines that parsed as JSON objects, in arrival order */
  readonly events: Record<string, unknown>[];
  exited: boolean;
  exitCode: number | null;
}

export const spawnInNs = (
  ns: NsName,
  name: string,
  argv: readonly string[],
  runDir: string,
  env: Record<string, string> = {},
  o: { stdin?: boolean } = {},
): LabProc => {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new LabError(`empty command for ${name}`);
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: [o.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  const outPath = join(runDir, `${name}.out`);
  const errPath = join(runDir, `${name}.err`);
  const out = createWriteStream(outPath);
  const err = createWriteStream(errPath);
  const p: LabProc = {
    name,
    ns,
    child,
    outPath,
    errPath,
    events: [],
    exited: false,
    exitCode: null,
  };
  // Timeline events are the NDJSON object lines; anything else is only kept in the file.
  const lines = new LineReader((line) => {
    const ev = line.startsWith('{') ? parseNdjsonObject(line) : undefined;
    if (ev !== undefined) p.events.push(ev);
  });
  child.stdout?.on('data', (d: Buffer) => {
    out.write(d);
    lines.push(d);
  });
  child.stderr?.pipe(err);
  child.on('exit', (code) => {
    p.exited = true;
    p.exitCode = code;
  });
  return p;
};

/**
 * How long the lab waits for its processes, written once. The margins are for a machine whose
 * two cores are shared with other builds and tests: a timeout here is a failure report, not
 * a pace, so it only has to be far beyond the normal case.
 */
export const LAB_WAITS = {
  /** poll period of waitEvent / waitExit */
  pollMs: 20,
  /** a daemon's first timeline line ('ssw-up', 'listening') after its start */
  daemonUpMs: 15_000,
  /** something that needs the service address or another daemon first ('listening' of an
   * application behind its SSW, 'ready', 'connected') */
  serviceUpMs: 20_000,
  /** a process's exit after its stop signal, and again after SIGKILL */
  stopGraceMs: 2000,
  /** each daemon's exit after SIGTERM at teardown (then SIGKILL) */
  teardownGraceMs: 1500,
} as const;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `pred` holds for one of the process's events; fails fast if it exits. */
export const waitEvent = async (
  p: LabProc,
  pred: (e: Record<string, unknown>) => boolean,
  timeoutMs: number,
  what: string,
): Promise<Record<string, unknown>> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const e = p.events.find(pred);
    if (e !== undefined) return e;
    if (p.exited)
      throw new LabError(`${p.name} exited (${p.exitCode}) before ${what}: ${tail(p.errPath)}`);
    if (Date.now() > deadline)
      throw new LabError(`${p.name}: no ${what} within ${timeoutMs} ms: ${tail(p.errPath)}`);
    await sleep(LAB_WAITS.pollMs);
  }
};

export const waitExit = async (p: LabProc, timeoutMs: number): Promise<number | null> => {
  const deadline = Date.now() + timeoutMs;
  while (!p.exited) {
    if (Date.now() > deadline) throw new LabError(`${p.name} still running after ${timeoutMs} ms`);
    await sleep(LAB_WAITS.pollMs);
  }
  return p.exitCode;
};

export const tail = (path: string, lines = 5): string => {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join(' | ');
  } catch {
    return '(no log)';
  }
};

export const stopProc = async (
  p: LabProc,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs: number = LAB_WAITS.stopGraceMs,
): Promise<void> => {
  if (p.exited) return;
  p.child.kill(signal);
  try {
    await waitExit(p, graceMs);
  } catch {
    p.child.kill('SIGKILL');
    await waitExit(p, LAB_WAITS.stopGraceMs).catch(() => undefined);
  }
};
