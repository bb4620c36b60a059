// The SSW's application supervisor keeps a warm spare (Node and the TS loader started, held
// before the main module) and, with `preload`, the application's library modules already
// imported: a release then evaluates only the main module (the failover and local-recovery
// stall figures depend on it). Real processes, no root.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_APP_HANG_MS } from '../../src/machines/recovery/appLiveness.ts';
import { Log } from '../../src/runtime/common/log.ts';
import { BUSY_ON_SIGUSR2_ENV } from '../../src/runtime/examples/testhooks.ts';
import { APP_HEARTBEAT_LINE } from '../../src/runtime/nsw/heartbeat.ts';
import {
  AppSupervisor,
  checkPreloadPath,
  type SupervisorOptions,
} from '../../src/runtime/ssw/supervisor.ts';
import { waitFor } from './helpers.ts';

const dirs: string[] = [];
const sups: AppSupervisor[] = [];
afterEach(() => {
  for (const s of sups.splice(0)) s.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const lines = (path: string): string[] => {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
  } catch {
    return [];
  }
};

describe('AppSupervisor warm spare', () => {
  it('refuses preload paths NODE_OPTIONS would split or resolve elsewhere', () => {
    expect(checkPreloadPath('/abs/lib.ts')).toBeUndefined();
    expect(checkPreloadPath('lib.ts')).toMatch(/not an absolute path/);
    expect(checkPreloadPath('/a b/lib.ts')).toMatch(/whitespace/);
    expect(checkPreloadPath('/a"b/lib.ts')).toMatch(/quote/);
    expect(
      () =>
        new AppSupervisor({
          cmd: 'true',
          env: {},
          log: new Log({ component: 'test', level: 'error' }),
          onExit: () => {},
          maxRestarts: 1,
          restartWindowMs: 1000,
          warmSpare: true,
          preload: ['rel.ts'],
        }),
    ).toThrow(/not an absolute path/);
  });

  it('imports the preloaded modules before holding; the released main module reuses them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ftl-sup-'));
    dirs.push(dir);
    const mark = join(dir, 'mark');
    const lib = join(dir, 'lib.mjs');
    const main = join(dir, 'main.mjs');
    writeFileSync(
      lib,
      `import { appendFileSync } from 'node:fs';
appendFileSync(process.env.MARK, 'lib ' + process.pid + '\\n');
export const loadedAt = process.pid;
`,
    );
    writeFileSync(
      main,
      `import { appendFileSync } from 'node:fs';
import { loadedAt } from ${JSON.stringify(lib)};
appendFileSync(process.env.MARK, 'main ' + process.pid + ' ' + process.env.FTTCP_MODE + ' ' + loadedAt + '\\n');
setInterval(() => {}, 1000);
`,
    );
    const exits: number[] = [];
    const sup = new AppSupervisor({
      cmd: `${process.execPath} ${main}`,
      env: { MARK: mark },
      log: new Log({ component: 'test', level: 'error' }),
      onExit: (i) => exits.push(i.pid),
      maxRestarts: 5,
      restartWindowMs: 60_000,
      warmSpare: true,
      preload: [lib],
    });
    sups.push(sup);
    const first = sup.start('record');
    // The recording incarnation loads lib itself; the held spare loads it too, but not main.
    await waitFor('spare preloaded', () => lines(mark).length === 3, 30_000);
    const before = lines(mark);
    expect(before.filter((l) => l.startsWith('main '))).toEqual([`main ${first} record ${first}`]);
    const spareLib = before.find((l) => l.startsWith('lib ') && l !== `lib ${first}`);
    expect(spareLib).toBeDefined();
    const sparePid = Number(spareLib?.split(' ')[1]);
    process.kill(first, 'SIGKILL');
    await waitFor('first incarnation reported dead', () => exits.includes(first), 10_000);
    const second = sup.start('replay');
    expect(second).toBe(sparePid);
    await waitFor('released spare runs main', () => lines(mark).length === 4, 10_000);
    // lib was not evaluated again: main got the instance imported before the hold.
    expect(lines(mark)[3]).toBe(`main ${sparePid} replay ${sparePid}`);
  }, 60_000);
});

describe('AppSupervisor hang watch (R10)', () => {
  const NSW = join(import.meta.dirname, '../../src/runtime/nsw/index.ts');
  /** What the supervisor passes on to its stdout (the daemon's timeline). */
  let passed: string[] = [];
  beforeEach(() => {
    passed = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      passed.push(String(chunk));
      return true;
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  const upSeen = (): boolean => passed.some((l) => l.includes('"event":"up"'));
  /** An application on the real NSW (plain mode: no logger needed; it beats because the
   * supervisor set FTTCP_APP_HEARTBEAT_MS), then doing `then` after `afterMs`. */
  const nswApp = (then: string, afterMs: number): string => {
    const dir = mkdtempSync(join(tmpdir(), 'ftl-hang-'));
    dirs.push(dir);
    const file = join(dir, 'app.mts');
    writeFileSync(
      file,
      `import { Nsw } from ${JSON.stringify(NSW)};
await Nsw.open({ mode: 'plain' });
process.stdout.write(JSON.stringify({ event: 'up' }) + '\\n');
setTimeout(() => { ${then} }, ${afterMs});
setInterval(() => {}, 1000);
`,
    );
    return `${process.execPath} --import tsx ${file}`;
  };
  /** A Node process that is not NSW-wrapped: it never beats. */
  const silentApp = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'ftl-hang-'));
    dirs.push(dir);
    const file = join(dir, 'app.mjs');
    writeFileSync(file, 'setInterval(() => {}, 1000);\n');
    return `${process.execPath} ${file}`;
  };
  type Hung = Parameters<NonNullable<SupervisorOptions['onHung']>>[0];
  type Exit = Parameters<SupervisorOptions['onExit']>[0];
  const supervise = (
    cmd: string,
    liveness: SupervisorOptions['liveness'],
    env: Record<string, string> = {},
  ): { sup: AppSupervisor; hung: Hung[]; exits: Exit[] } => {
    const hung: Hung[] = [];
    const exits: Exit[] = [];
    const sup = new AppSupervisor({
      cmd,
      env,
      log: new Log({ component: 'test', level: 'error' }),
      onHung: (h) => hung.push(h),
      onExit: (e) => exits.push(e),
      maxRestarts: 5,
      restartWindowMs: 60_000,
      warmSpare: false,
      ...(liveness !== undefined ? { liveness } : {}),
    });
    sups.push(sup);
    return { sup, hung, exits };
  };
  // Start-up (tsx, the NSW) may take seconds on a loaded machine: the grace must not be what
  // these tests measure.
  const WATCH = { hangMs: 300, startGraceMs: 20_000 };
  // Where a test asserts that a healthy application is NOT killed, the shipped limit: a loaded
  // machine may starve a process for a few hundred ms, which is what the default allows for.
  const WATCH_DEFAULT = { hangMs: DEFAULT_APP_HANG_MS, startGraceMs: 20_000 };

  it('R10.2 an application that beat and then was stopped (SIGSTOP) is killed, then its next incarnation is watched too', async () => {
    const { sup, hung, exits } = supervise(
      nswApp("process.kill(process.pid, 'SIGSTOP')", 600),
      WATCH,
    );
    const first = sup.start('record');
    await waitFor('the stopped application judged hung', () => hung.length === 1, 30_000);
    expect(hung[0]).toMatchObject({ pid: first, incarnation: 1, rule: 'R10.2', phase: 'running' });
    expect(hung[0]?.silentMs).toBeGreaterThan(WATCH.hangMs);
    // Judged from its first heartbeat on by the hang limit, not at the end of the grace.
    expect(hung[0]?.silentMs).toBeLessThan(WATCH.startGraceMs);
    expect(hung[0]?.limitMs).toBe(WATCH.hangMs);
    // Killed (SIGKILL ends a stopped process), and its exit is the crash path's.
    await waitFor('its exit', () => exits.length === 1, 10_000);
    expect(exits[0]).toMatchObject({ pid: first, signal: 'SIGKILL', incarnation: 1 });
    const second = sup.start('replay');
    await waitFor('the next incarnation judged hung', () => hung.length === 2, 30_000);
    expect(hung[1]).toMatchObject({ pid: second, incarnation: 2, rule: 'R10.2' });
  }, 90_000);

  it('R10.2 an application whose event loop spins (busy handler) is killed', async () => {
    const { sup, hung, exits } = supervise(nswApp('for (;;) {}', 600), WATCH);
    const pid = sup.start('record');
    await waitFor('the spinning application judged hung', () => hung.length === 1, 30_000);
    expect(hung[0]).toMatchObject({ pid, rule: 'R10.2', phase: 'running' });
    expect(hung[0]?.silentMs).toBeLessThan(WATCH.startGraceMs);
    await waitFor('its exit', () => exits.length === 1, 10_000);
    expect(exits[0]?.signal).toBe('SIGKILL');
  }, 60_000);

  it("R10.2 the example server's busy-loop test hook (SIGUSR2) is a hang", async () => {
    const echo = join(import.meta.dirname, '../../src/runtime/examples/echo.ts');
    const { sup, hung, exits } = supervise(
      `${process.execPath} --import tsx ${echo} --listen 127.0.0.1:0 --mode plain`,
      WATCH_DEFAULT,
      { [BUSY_ON_SIGUSR2_ENV]: '1' },
    );
    const pid = sup.start('record');
    await waitFor('listening', () => passed.some((l) => l.includes('"event":"listening"')), 30_000);
    // Alive for a few limits while it serves nothing...
    await new Promise((r) => setTimeout(r, 3 * WATCH_DEFAULT.hangMs));
    expect(hung).toEqual([]);
    // ...then its event loop spins in the signal handler.
    process.kill(pid, 'SIGUSR2');
    await waitFor('judged hung', () => hung.length === 1, 30_000);
    expect(hung[0]).toMatchObject({ pid, rule: 'R10.2', phase: 'running' });
    await waitFor('its exit', () => exits.length === 1, 10_000);
    expect(exits[0]?.signal).toBe('SIGKILL');
  }, 60_000);

  it('R10.3 an application that never gives a first heartbeat is killed when the grace ends', async () => {
    const { sup, hung, exits } = supervise(silentApp(), { hangMs: 300, startGraceMs: 800 });
    const pid = sup.start('record');
    await waitFor('judged hung at start-up', () => hung.length === 1, 30_000);
    expect(hung[0]).toMatchObject({ pid, rule: 'R10.3', phase: 'startup', limitMs: 800 });
    expect(hung[0]?.silentMs).toBeGreaterThan(800);
    await waitFor('its exit', () => exits.length === 1, 10_000);
    expect(exits[0]?.signal).toBe('SIGKILL');
  }, 60_000);

  it('R10.2 a beating application is left alone over many hang limits', async () => {
    const { sup, hung, exits } = supervise(
      nswApp("process.stdout.write(JSON.stringify({ event: 'still' }) + '\\n')", 10),
      WATCH_DEFAULT,
    );
    sup.start('record');
    // Its first heartbeat (the NSW is up), then four limits' worth of beats.
    await waitFor('the NSW up', () => sup.running && upSeen(), 30_000);
    await new Promise((r) => setTimeout(r, 4 * WATCH_DEFAULT.hangMs));
    expect(hung).toEqual([]);
    expect(exits).toEqual([]);
    expect(sup.running).toBe(true);
    // The application's own lines pass; its heartbeats do not.
    expect(passed.filter((l) => l.includes('"event":"still"'))).toHaveLength(1);
    expect(passed.some((l) => l.includes(APP_HEARTBEAT_LINE))).toBe(false);
  }, 60_000);

  it('R10.4 without a watch (or with a limit of 0) an application that never beats is not killed', async () => {
    for (const liveness of [undefined, { hangMs: 0, startGraceMs: 200 }]) {
      const { sup, hung, exits } = supervise(silentApp(), liveness);
      sup.start('record');
      await new Promise((r) => setTimeout(r, 1000));
      expect(hung).toEqual([]);
      expect(exits).toEqual([]);
      expect(sup.running).toBe(true);
      sup.stop();
    }
  }, 30_000);
});
