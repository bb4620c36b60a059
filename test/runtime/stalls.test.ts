// The lab's stall check (spec/ssw.md W.7) and the clients' stall watch (W.6), without a lab:
// which `stall` events a failure window excuses, how windows end (declared, at the system's
// `live`, or never), that a malformed event never passes, and the watch's timing on a fake
// clock.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertNoStalls,
  checkStalls,
  type FaultWindow,
  formatStallViolations,
  type ProcEvents,
  resolveWindows,
} from '../../src/runtime/lab/stalls.ts';
import { StallWatch } from '../../src/runtime/lab/stallwatch.ts';

const BUDGET = 1000;
const stall = (sinceWallMs: number, extra: Record<string, unknown> = {}) => ({
  event: 'stall',
  sinceWallMs,
  atWallMs: sinceWallMs + BUDGET + 1,
  ...extra,
});
const live = (ms: number) => ({ event: 'live', wall: new Date(ms).toISOString() });
const procs = (...events: Record<string, unknown>[][]): ProcEvents[] =>
  events.map((e, i) => ({ name: `p${i}`, events: e }));

describe('W.7 the stall check', () => {
  it('with no failure injected every stall is a violation, and says so', () => {
    const c = checkStalls(
      procs([stall(10_000)], [{ event: 'connected' }, stall(20_000)]),
      [],
      BUDGET,
    );
    expect(c.violations.map((v) => v.proc)).toEqual(['p0', 'p1']);
    expect(c.excused).toEqual([]);
    expect(formatStallViolations(c, '/runs/x')).toMatch(
      /2 stall\(s\).*logs in \/runs\/x[\s\S]*no failure was injected/,
    );
  });

  it('a window excuses a wait that began inside it or at most one budget before it, nothing else', () => {
    const w: FaultWindow[] = [{ what: 'logger stopped', fromWallMs: 10_000, toWallMs: 12_000 }];
    const at = (since: number) => checkStalls(procs([stall(since)]), w, BUDGET).violations.length;
    expect(at(8_999)).toBe(1);
    expect(at(9_000)).toBe(0);
    expect(at(11_999)).toBe(0);
    expect(at(12_000)).toBe(1);
    expect(checkStalls(procs([stall(10_500)]), w, BUDGET).excused[0]?.excusedBy).toBe(
      'logger stopped',
    );
  });

  it("property: excused exactly when some window contains the wait's start (less one budget)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            from: fc.integer({ min: 0, max: 100_000 }),
            len: fc.integer({ min: 0, max: 10_000 }),
          }),
          { maxLength: 4 },
        ),
        fc.array(fc.integer({ min: 0, max: 120_000 }), { maxLength: 8 }),
        (ws, sinces) => {
          const faults = ws.map((w, i) => ({
            what: `f${i}`,
            fromWallMs: w.from,
            toWallMs: w.from + w.len,
          }));
          const c = checkStalls(procs(sinces.map((s) => stall(s))), faults, BUDGET);
          const excusable = (s: number) =>
            faults.some((f) => s >= f.fromWallMs - BUDGET && s < f.toWallMs);
          return (
            c.violations.length === sinces.filter((s) => !excusable(s)).length &&
            c.excused.length === sinces.filter(excusable).length
          );
        },
      ),
    );
  });

  it('a crash window ends when every component that reports live has, after it', () => {
    const ps: ProcEvents[] = [
      { name: 'ssw-primary', events: [{ ...live(5_000), component: 'ssw@primary' }] }, // before
      {
        name: 'ssw-backup',
        events: [
          { ...live(20_000), component: 'ssw@backup' },
          { ...live(60_000), component: 'ssw@backup' }, // a later recovery
        ],
      },
      { name: 'recovery', events: [{ ...live(21_900), component: 'recovery' }] },
    ];
    const [w] = resolveWindows(ps, [{ what: 'crash', fromWallMs: 10_000, until: 'live' }]);
    expect(w).toMatchObject({ fromWallMs: 10_000, toWallMs: 21_900, endedBy: 'live' });
    expect(w?.lives?.map((l) => l.who).sort()).toEqual([
      'recovery/recovery',
      'ssw-backup/ssw@backup',
    ]);
    const [open] = resolveWindows(ps, [{ what: 'late crash', fromWallMs: 70_000, until: 'live' }]);
    expect(open?.endedBy).toBe('openToEnd');
  });

  it('an SSW stall that began as its own recovery ended is excused only while another component still recovered', () => {
    const faults: FaultWindow[] = [{ what: 'app killed', fromWallMs: 10_000, until: 'live' }];
    const sswLive = { ...live(12_000), component: 'ssw@primary' };
    const sswStall = stall(11_990, { afterFailure: 'recovering', component: 'ssw@primary' });
    const client = [stall(11_990)];
    // The SSW's own live is the last: its wait is its own.
    const alone = checkStalls(procs([sswLive, sswStall], client), faults, BUDGET);
    expect(alone.violations.map((v) => v.proc)).toEqual(['p0']);
    expect(alone.violations[0]?.why).toMatch(/after the recovery from recovering ended/);
    // The application's replay went live later (its lines come through the SSW's stdout).
    const appLive = { ...live(13_900), component: 'fttcp-echo' };
    expect(
      checkStalls(procs([sswLive, appLive, sswStall], client), faults, BUDGET).violations,
    ).toEqual([]);
    // ... but not a wait that began after that too.
    const later = stall(14_000, { afterFailure: 'recovering', component: 'ssw@primary' });
    expect(
      checkStalls(procs([sswLive, appLive, later]), faults, BUDGET).violations.map((v) => v.proc),
    ).toEqual(['p0']);
    // A declared window of another failure still going on excuses it.
    const frozen: FaultWindow[] = [
      ...faults,
      { what: 'logger stopped', fromWallMs: 9_000, toWallMs: 15_000 },
    ];
    expect(checkStalls(procs([sswLive, sswStall], client), frozen, BUDGET).violations).toEqual([]);
  });

  it("the verdict: throws with every failing run's evidence, passes runs with none", () => {
    const run = (events: Record<string, unknown>[], faults: FaultWindow[], runDir: string) => ({
      runDir,
      stallCheck: () => checkStalls(procs(events), faults, BUDGET),
    });
    const clean = run(
      [stall(10_500)],
      [{ what: 'f', fromWallMs: 10_000, toWallMs: 11_000 }],
      '/r/ok',
    );
    expect(() => assertNoStalls([clean])).not.toThrow();
    expect(() => assertNoStalls([clean, run([stall(50_000)], [], '/r/bad')])).toThrow(
      /1 stall\(s\) with no failure to explain them.*logs in \/r\/bad/,
    );
  });

  it('a stall event that cannot be judged (no sinceWallMs) never passes', () => {
    const c = checkStalls(procs([{ event: 'stall' }]), [{ what: 'x', fromWallMs: 0 }], BUDGET);
    expect(c.violations[0]?.why).toMatch(/without sinceWallMs/);
  });

  it('watchdog-late events are kept as evidence, not failures; stall-over is not a stall', () => {
    const c = checkStalls(
      procs([
        { event: 'watchdog-late', gapMs: 900 },
        { event: 'stall-over', sinceWallMs: 1 },
      ]),
      [],
      BUDGET,
    );
    expect(c.violations).toEqual([]);
    expect(c.late).toHaveLength(1);
  });
});

describe('W.6 the client stall watch', () => {
  const watch = (budgetMs: number) => {
    let now = 0;
    const lines: Record<string, unknown>[] = [];
    const w = new StallWatch({
      budgetMs,
      write: (e) => lines.push(e),
      describe: () => ({ waitingFor: 'echo', detail: { outstanding: 3 } }),
      endpoint: () => 'a:1>b:2',
      now: () => now,
      wallOf: (t) => 1_000_000 + t,
    });
    return {
      w,
      lines,
      at: (t: number) => {
        now = t;
      },
    };
  };

  it('reports one stall once a wait outlasts the budget, stall-over when something comes back', () => {
    const { w, lines, at } = watch(1000);
    at(100);
    w.waiting();
    at(1100);
    w.check();
    expect(lines).toEqual([]);
    at(1101);
    w.check();
    at(1500);
    w.check();
    expect(lines).toEqual([
      {
        event: 'stall',
        rule: 'W.6',
        conn: 'a:1>b:2',
        waitingFor: 'echo',
        waitedMs: 1001,
        budgetMs: 1000,
        sinceWallMs: 1_000_100,
        atWallMs: 1_001_101,
        outstanding: 3,
      },
    ]);
    at(1600);
    w.progress(true);
    expect(lines[1]).toMatchObject({
      event: 'stall-over',
      durationMs: 1500,
      sinceWallMs: 1_000_100,
    });
    // The next wait starts at that progress.
    at(2600);
    w.check();
    expect(lines).toHaveLength(2);
    at(2601);
    w.stop();
    expect(lines[2]).toMatchObject({ event: 'stall', sinceWallMs: 1_001_600 });
  });

  it('nothing outstanding is no wait; a budget of 0 turns it off', () => {
    const a = watch(1000);
    a.w.waiting();
    a.at(500);
    a.w.progress(false);
    a.at(5000);
    a.w.check();
    expect(a.lines).toEqual([]);
    a.w.stop();
    const off = watch(0);
    off.w.waiting();
    off.at(1e6);
    off.w.stop();
    expect(off.lines).toEqual([]);
  });
});
