// The lab's stall check (spec/ssw.md W.7): every `stall` event any process of a run wrote (the
// SSW daemons' watchdog, W.1-W.5, and the clients', W.6) must be explained by a failure the
// run injected, or the run fails. Every lab test applies it when its lab closes
// (test/lab/stall-guard.ts); the chaos runner applies the same function to its runs.
//
// A failure window is declared by whoever injects the failure (`Lab.fault`, and `crashHost`
// itself): from the injection to its end (a SIGCONT, a link back up) or, for a crash or a
// kill, until the system is live again: every component that reports `live` (the SSW when its
// connections are re-created, the NSW when its replay is done, the recovery daemon when both
// are) has done so after the injection. A stall is excused when its wait began inside a
// window, or at most one budget before it (what was outstanding when the failure struck), and
// by nothing else. An SSW stall whose clock started when a recovery the SSW itself sat out
// ended (`afterFailure`, W.2) is judged against that recovery without the SSW's own `live`:
// the SSW already gave its part of the recovery its whole length, so only another component
// still recovering when the wait began (the application's replay) excuses it.
// A wait that begins in a window and outlives it is excused here; the client's own verdict
// (its stream intact, within its timeout) and the SSW's watchdog after the recovery judge it.

/** A process's name and the JSON lines of its stdout (LabProc has both). */
export interface ProcEvents {
  readonly name: string;
  readonly events: readonly Record<string, unknown>[];
}

/** A failure a run injected. Times are wall-clock ms (Date.now()). */
export interface FaultWindow {
  readonly what: string;
  readonly fromWallMs: number;
  /** when the failure ended; absent: still going at the end of the run, unless `until` */
  readonly toWallMs?: number;
  /** `live`: the window ends when every component reporting `live` has, after `fromWallMs` */
  readonly until?: 'live';
}

export interface StallFinding {
  readonly proc: string;
  readonly event: Readonly<Record<string, unknown>>;
  /** the window that excuses it (absent: a violation) */
  readonly excusedBy?: string;
  /** why it is not excused, or not judged (malformed) */
  readonly why?: string;
}

export interface StallCheck {
  readonly violations: readonly StallFinding[];
  readonly excused: readonly StallFinding[];
  /** `watchdog-late` events: the watchdog's thread starved (W.4); not failures, but evidence */
  readonly late: readonly StallFinding[];
  readonly windows: readonly ResolvedWindow[];
}

export interface ResolvedWindow {
  readonly what: string;
  readonly fromWallMs: number;
  readonly toWallMs: number;
  readonly endedBy: 'declared' | 'live' | 'openToEnd';
  /** `live`: each component's first `live` after the window opened (`proc/component`) */
  readonly lives?: readonly { readonly who: string; readonly wallMs: number }[];
}

/** Who wrote a `live` or `stall` line: its process and, within it, its component (the SSW
 * daemon's stdout carries its application's lines too). */
const whoOf = (proc: string, e: Readonly<Record<string, unknown>>): string =>
  `${proc}/${typeof e.component === 'string' ? e.component : ''}`;

const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : undefined;

/** Wall-clock ms of a timeline event (`wall` ISO from common/log.ts Timeline, or `atWallMs`). */
export const eventWallMs = (e: Readonly<Record<string, unknown>>): number | undefined => {
  const at = num(e.atWallMs);
  if (at !== undefined) return at;
  if (typeof e.wall !== 'string') return undefined;
  const t = Date.parse(e.wall);
  return Number.isFinite(t) ? t : undefined;
};

/**
 * The windows with their ends: declared; or, for `until: 'live'`, the latest of each
 * component's first `live` after the window opened (a component of the failed host that never
 * reports again does not count: it has none); or open to the end.
 */
export const resolveWindows = (
  procs: readonly ProcEvents[],
  faults: readonly FaultWindow[],
): ResolvedWindow[] => {
  const lives: { who: string; wallMs: number }[] = [];
  for (const p of procs)
    for (const e of p.events) {
      if (e.event !== 'live') continue;
      const t = eventWallMs(e);
      if (t !== undefined) lives.push({ who: whoOf(p.name, e), wallMs: t });
    }
  lives.sort((a, b) => a.wallMs - b.wallMs);
  return faults.map((f): ResolvedWindow => {
    if (f.toWallMs !== undefined)
      return { what: f.what, fromWallMs: f.fromWallMs, toWallMs: f.toWallMs, endedBy: 'declared' };
    if (f.until === 'live') {
      const first = new Map<string, number>();
      for (const l of lives)
        if (l.wallMs >= f.fromWallMs && !first.has(l.who)) first.set(l.who, l.wallMs);
      if (first.size > 0) {
        const ends = [...first].map(([who, wallMs]) => ({ who, wallMs }));
        const toWallMs = Math.max(...ends.map((l) => l.wallMs));
        return { what: f.what, fromWallMs: f.fromWallMs, toWallMs, endedBy: 'live', lives: ends };
      }
    }
    return {
      what: f.what,
      fromWallMs: f.fromWallMs,
      toWallMs: Number.POSITIVE_INFINITY,
      endedBy: 'openToEnd',
    };
  });
};

/**
 * W.7: every `stall` event of `procs`, judged against `faults`. `budgetMs` is how far before a
 * window a wait may have begun and still be the failure's (what was outstanding when it struck).
 */
export const checkStalls = (
  procs: readonly ProcEvents[],
  faults: readonly FaultWindow[],
  budgetMs: number,
): StallCheck => {
  const windows = resolveWindows(procs, faults);
  const violations: StallFinding[] = [];
  const excused: StallFinding[] = [];
  const late: StallFinding[] = [];
  for (const p of procs) {
    for (const e of p.events) {
      if (e.event === 'watchdog-late') late.push({ proc: p.name, event: e });
      if (e.event !== 'stall') continue;
      const since = num(e.sinceWallMs);
      if (since === undefined) {
        // Never pass what cannot be judged.
        violations.push({ proc: p.name, event: e, why: 'stall event without sinceWallMs' });
        continue;
      }
      const afterRecovery = typeof e.afterFailure === 'string';
      const own = whoOf(p.name, e);
      const endFor = (w: ResolvedWindow): number =>
        afterRecovery && w.lives !== undefined
          ? Math.max(
              Number.NEGATIVE_INFINITY,
              ...w.lives.filter((l) => l.who !== own).map((l) => l.wallMs),
            )
          : w.toWallMs;
      const w = windows.find((w) => since >= w.fromWallMs - budgetMs && since < endFor(w));
      if (w !== undefined) excused.push({ proc: p.name, event: e, excusedBy: w.what });
      else
        violations.push({
          proc: p.name,
          event: e,
          why:
            windows.length === 0
              ? 'no failure was injected'
              : afterRecovery
                ? `began after the recovery from ${String(e.afterFailure)} ended, with no other component still recovering and outside any other failure`
                : 'began outside every failure window',
        });
    }
  }
  return { violations, excused, late, windows };
};

/** One paragraph per violation, with the event as the process wrote it (the evidence). */
export const formatStallViolations = (c: StallCheck, runDir?: string): string => {
  const lines = [
    `${c.violations.length} stall(s) with no failure to explain them (spec/ssw.md W.7)${runDir !== undefined ? `; logs in ${runDir}` : ''}:`,
  ];
  for (const v of c.violations)
    lines.push(`  ${v.proc}: ${v.why ?? ''}\n    ${JSON.stringify(v.event)}`);
  if (c.windows.length > 0)
    lines.push(
      `  failure windows: ${c.windows
        .map(
          (w) =>
            `${w.what} [${new Date(w.fromWallMs).toISOString()} .. ${Number.isFinite(w.toWallMs) ? new Date(w.toWallMs).toISOString() : 'end'} (${w.endedBy})]`,
        )
        .join('; ')}`,
    );
  return lines.join('\n');
};

/** What `assertNoStalls` needs of a lab (Lab has both). */
export interface JudgedRun {
  stallCheck(): StallCheck;
  readonly runDir: string;
}

/** W.7 as a verdict: throws, with the evidence of every run, if any run has a violation. */
export const assertNoStalls = (runs: readonly JudgedRun[]): void => {
  const failures: string[] = [];
  for (const r of runs) {
    const c = r.stallCheck();
    if (c.violations.length > 0) failures.push(formatStallViolations(c, r.runDir));
  }
  if (failures.length > 0) throw new Error(failures.join('\n'));
};
