// R10.1-R10.5 (spec/recovery.md "A hung application is a crashed one"): whether a supervised
// application's event loop still turns, judged from the times of its heartbeats. Pure: the
// runtime reads the clock, counts heartbeat lines and performs the kill; this module only
// says alive (and until when) or hung (and why).
import { match, P } from 'ts-pattern';
import { MAX_TIMING_MS } from './params.ts';

/** Limits of the watch, in milliseconds of the supervisor's monotonic clock. */
export interface AppLivenessParams {
  /**
   * R10.2: an application whose last heartbeat is older than this is hung. 0 turns the watch
   * off (R10.4).
   */
  readonly hangMs: number;
  /**
   * R10.3: from the start of an incarnation, this long for its first heartbeat (Node's start,
   * module loading, the NSW's logger link), after which the first heartbeat is overdue.
   */
  readonly startGraceMs: number;
}

/**
 * R10.2 default. An application's event loop runs application code (a large request, its own
 * garbage collection, a replay batch), so it may pause far longer than the SSW's heartbeat
 * sender, whose silence the detector judges at `suspectAfterMs` (300 ms by default): a limit
 * of about three times that keeps a needless kill (which costs a local recovery, never correctness)
 * rare, and puts a hung application's clients in the same stall range as a failover's.
 */
export const DEFAULT_APP_HANG_MS = 1_000;
/**
 * R10.3 default. A cold start of Node, the TypeScript loader and the application's modules
 * takes about 0.5 s on an idle machine, but 2-4 s, and once more than 5 s, on the lab's two
 * cores under a load of 12-16; a grace shorter than the slowest start kills every start of a
 * loaded host until the restart bound calls it a crash loop. A hang before the NSW is up is
 * rare (nothing of the application runs yet), so its detection may be slow.
 */
export const DEFAULT_APP_START_GRACE_MS = 30_000;
/** Below this the heartbeat period (`appHeartbeatPeriodMs`) would be under 10 ms. */
export const MIN_APP_HANG_MS = 100;

export const DEFAULT_APP_LIVENESS: AppLivenessParams = {
  hangMs: DEFAULT_APP_HANG_MS,
  startGraceMs: DEFAULT_APP_START_GRACE_MS,
};

/**
 * R10.1: how often the NSW writes its heartbeat for a given limit: ten beats per limit, so a
 * limit is passed only when the event loop missed ten turns of its timer phase in a row, not
 * when one beat came late.
 */
export const appHeartbeatPeriodMs = (hangMs: number): number =>
  Math.max(10, Math.floor(hangMs / 10));

export type AppLivenessError =
  | { readonly kind: 'notInteger'; readonly field: keyof AppLivenessParams; readonly value: number }
  | { readonly kind: 'hangTooShort'; readonly hangMs: number }
  | { readonly kind: 'tooLarge'; readonly field: keyof AppLivenessParams; readonly value: number }
  | { readonly kind: 'graceNotPositive'; readonly startGraceMs: number };

/** The limits are integers; the hang limit is 0 (off) or in [MIN_APP_HANG_MS, MAX_TIMING_MS];
 * the grace is positive and bounded (a typo of seconds for ms must not mean an hour's wait). */
export const checkAppLivenessParams = (
  p: AppLivenessParams,
): { ok: true; value: AppLivenessParams } | { ok: false; error: AppLivenessError } => {
  for (const field of ['hangMs', 'startGraceMs'] as const) {
    const value = p[field];
    if (!Number.isInteger(value) || value < 0)
      return { ok: false, error: { kind: 'notInteger', field, value } };
    if (value > MAX_TIMING_MS) return { ok: false, error: { kind: 'tooLarge', field, value } };
  }
  if (p.hangMs !== 0 && p.hangMs < MIN_APP_HANG_MS)
    return { ok: false, error: { kind: 'hangTooShort', hangMs: p.hangMs } };
  if (p.startGraceMs === 0)
    return { ok: false, error: { kind: 'graceNotPositive', startGraceMs: p.startGraceMs } };
  return { ok: true, value: p };
};

export const formatAppLivenessError = (e: AppLivenessError): string =>
  match(e)
    .with(
      { kind: 'notInteger' },
      (x) => `${x.field} must be a non-negative integer number of ms, got ${x.value}`,
    )
    .with(
      { kind: 'tooLarge' },
      (x) => `${x.field} = ${x.value} ms is over the ${MAX_TIMING_MS} ms bound (seconds for ms?)`,
    )
    .with(
      { kind: 'hangTooShort' },
      (x) =>
        `R10.2: hangMs (${x.hangMs}) must be 0 (off) or at least ${MIN_APP_HANG_MS} ms (the heartbeat period is a tenth of it)`,
    )
    .with(
      { kind: 'graceNotPositive' },
      () => 'R10.3: startGraceMs must be positive (the application needs time to start)',
    )
    .exhaustive();

/** What the supervisor knows of one incarnation: when it started, when it last beat. */
export interface AppWatch {
  readonly startedMs: number;
  /** time of the last heartbeat line, undefined before the first */
  readonly lastBeatMs: number | undefined;
}

export type AppVerdict =
  /** alive; judge again at `recheckAtMs` unless a heartbeat arrives first */
  | { readonly kind: 'alive'; readonly recheckAtMs: number }
  /** R10.2 / R10.3: kill it and recover it as if it had crashed */
  | {
      readonly kind: 'hung';
      readonly rule: 'R10.2' | 'R10.3';
      readonly phase: 'startup' | 'running';
      /** how long it has been silent: since its start (startup) or its last heartbeat */
      readonly silentMs: number;
      readonly limitMs: number;
    }
  /** R10.4: the watch is off */
  | { readonly kind: 'unwatched' };

/**
 * R10.2-R10.4. Before its first heartbeat an incarnation is judged against the start-up grace
 * (R10.3: module loading and the NSW's start are not a hang); from its first heartbeat on,
 * against the hang limit (R10.2). The deadline is strict: silence equal to the limit is
 * still alive. A clock that went backwards (it must not: the runtime uses a monotonic one)
 * counts as no silence.
 */
export const judgeApp = (w: AppWatch, nowMs: number, p: AppLivenessParams): AppVerdict =>
  match(w.lastBeatMs)
    .when(
      () => p.hangMs === 0,
      (): AppVerdict => ({ kind: 'unwatched' }),
    )
    .with(P.number, (last): AppVerdict => {
      const silentMs = Math.max(0, nowMs - last);
      return silentMs > p.hangMs
        ? { kind: 'hung', rule: 'R10.2', phase: 'running', silentMs, limitMs: p.hangMs }
        : { kind: 'alive', recheckAtMs: last + p.hangMs + 1 };
    })
    .with(undefined, (): AppVerdict => {
      const silentMs = Math.max(0, nowMs - w.startedMs);
      return silentMs > p.startGraceMs
        ? { kind: 'hung', rule: 'R10.3', phase: 'startup', silentMs, limitMs: p.startGraceMs }
        : { kind: 'alive', recheckAtMs: w.startedMs + p.startGraceMs + 1 };
    })
    .exhaustive();
