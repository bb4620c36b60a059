// Process supervision (spec/recovery.md S.2): a daemon's children run in their own process
// group with a parent-death signal. Each daemon that starts processes is stopped (SIGTERM) and
// killed (SIGKILL, as a crash) with children running, and no child may survive either. Real
// processes, no root; every process a test starts is killed by group at the end.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  killGroup,
  pdeathsigAvailable,
  spawnSupervised,
} from '../../src/runtime/common/children.ts';
import { LineReader, parseNdjsonObject } from '../../src/runtime/common/lines.ts';
import { Log } from '../../src/runtime/common/log.ts';
import { AppSupervisor } from '../../src/runtime/ssw/supervisor.ts';
import { waitFor } from './helpers.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const quiet = new Log({ component: 'test', level: 'error' });
const groups: number[] = [];
const dirs: string[] = [];
const procs: ChildProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.kill('SIGKILL');
  for (const g of groups.splice(0)) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A process's state letter and process group (/proc/<pid>/stat), undefined when gone. */
const statOf = (pid: number): { state: string; pgid: number } | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: f[0] ?? '?', pgid: Number(f[2]) };
  } catch {
    return undefined;
  }
};
/** Alive: exists and is not a zombie (this machine's init reaps orphans late, if at all). */
const pidAlive = (pid: number): boolean => {
  const s = statOf(pid);
  return s !== undefined && s.state !== 'Z';
};
/** Whether any live (not zombie) process is in group `pgid`. */
const groupAlive = (pgid: number): boolean =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .some((d) => {
      const s = statOf(Number(d));
      return s !== undefined && s.pgid === pgid && s.state !== 'Z';
    });
/** The pids a script wrote to its file, one a line. */
const pidsIn = (path: string): number[] => {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map(Number);
  } catch {
    return [];
  }
};

/** A script that forks a grandchild (like npx) and then execs a long sleep; both pids noted. */
const forkingScript = (pidFile: string): string =>
  `sleep 300 & echo $! >> ${pidFile}; echo $$ >> ${pidFile}; exec sleep 301`;

/** The recovery daemon as a process, running `loggerCmd` as its logger (S.1). */
function startRecoveryDaemon(loggerCmd: string): {
  p: ChildProcess;
  events: Record<string, unknown>[];
} {
  const events: Record<string, unknown>[] = [];
  const p = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src/runtime/recovery/main.ts'),
      '--heartbeat-listen',
      '127.0.0.1:0',
      '--logger',
      '127.0.0.1:9',
      '--logger-cmd',
      loggerCmd,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT },
  );
  procs.push(p);
  const lines = new LineReader((l) => {
    const e = parseNdjsonObject(l);
    if (e !== undefined) events.push(e);
  });
  p.stdout?.on('data', (d: Buffer) => lines.push(d));
  p.stderr?.resume();
  return { p, events };
}

describe('process supervision (S.2)', () => {
  it('setpriv is here: children get a parent-death signal', () => {
    expect(pdeathsigAvailable()).toBe(true);
  });

  it('killGroup ends a child and what it forked', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fttcp-children-'));
    dirs.push(dir);
    const pidFile = join(dir, 'pids');
    const c = spawnSupervised(forkingScript(pidFile), { stdio: 'ignore' });
    const cpid = c.pid as number;
    groups.push(cpid);
    await waitFor('both pids written', () => pidsIn(pidFile).length === 2);
    expect(pidsIn(pidFile)).toContain(c.pid);
    killGroup(c, 'SIGTERM');
    await waitFor('group gone', () => !groupAlive(cpid) && !pidsIn(pidFile).some(pidAlive), 5000);
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`the recovery daemon's logger does not outlive the daemon (${signal})`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fttcp-children-'));
      dirs.push(dir);
      const pidFile = join(dir, 'pids');
      // SIGTERM: the daemon stops its children's groups, a forked grandchild included. SIGKILL
      // (a crash): the parent-death signal ends the child it started (a grandchild the child
      // forked is that child's to end: `exec` keeps the chain one process).
      const cmd =
        signal === 'SIGTERM' ? forkingScript(pidFile) : `echo $$ >> ${pidFile}; exec sleep 302`;
      const d = startRecoveryDaemon(cmd);
      await waitFor(
        'logger started',
        () => d.events.some((e) => e.event === 'logger-start'),
        20_000,
      );
      const pid = d.events.find((e) => e.event === 'logger-start')?.pid as number;
      groups.push(pid);
      await waitFor('pids written', () => pidsIn(pidFile).length >= (signal === 'SIGTERM' ? 2 : 1));
      expect(pidAlive(pid)).toBe(true);
      d.p.kill(signal);
      await waitFor('daemon gone', () => d.p.exitCode !== null || d.p.signalCode !== null, 10_000);
      await waitFor(
        'no child of the daemon left',
        () => !groupAlive(pid) && !pidsIn(pidFile).some(pidAlive),
        5000,
      );
    });
  }

  it("the recovery daemon restarts its logger when it dies (S.1), after L.9's delay", async () => {
    const d = startRecoveryDaemon('exec sleep 303');
    await waitFor('logger started', () => d.events.some((e) => e.event === 'logger-start'), 20_000);
    const first = d.events.find((e) => e.event === 'logger-start')?.pid as number;
    groups.push(first);
    const t0 = performance.now();
    process.kill(first, 'SIGKILL');
    await waitFor('exit seen', () => d.events.some((e) => e.event === 'logger-exit'), 5000);
    const exit = d.events.find((e) => e.event === 'logger-exit') ?? {};
    expect(exit).toMatchObject({ pid: first, signal: 'SIGKILL' });
    await waitFor(
      'restarted',
      () => d.events.filter((e) => e.event === 'logger-start').length === 2,
      10_000,
    );
    expect(performance.now() - t0).toBeGreaterThanOrEqual((exit.restartInMs as number) - 20);
    const second = d.events.filter((e) => e.event === 'logger-start')[1] ?? {};
    groups.push(second.pid as number);
    expect(second).toMatchObject({ incarnation: 2 });
    d.p.kill('SIGTERM');
    await waitFor('daemon gone', () => d.p.exitCode !== null, 10_000);
    await waitFor('no logger left', () => !groupAlive(second.pid as number), 5000);
  });

  it("the SSW daemon's application supervisor stops the application's whole group", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fttcp-children-'));
    dirs.push(dir);
    const pidFile = join(dir, 'pids');
    const sup = new AppSupervisor({
      cmd: `/bin/sh -c '${forkingScript(pidFile)}'`,
      env: {},
      log: quiet,
      onExit: () => {},
      maxRestarts: 1,
      restartWindowMs: 60_000,
      warmSpare: false,
    });
    const pid = sup.start('record');
    groups.push(pid);
    await waitFor('both pids written', () => pidsIn(pidFile).length === 2);
    sup.stop();
    await waitFor('group gone', () => !groupAlive(pid) && !pidsIn(pidFile).some(pidAlive), 5000);
  });
});
