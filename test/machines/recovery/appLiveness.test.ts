// R10.1-R10.4: the pure verdict on a supervised application's heartbeats (spec/recovery.md
// "A hung application is a crashed one").
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AppLivenessParams,
  appHeartbeatPeriodMs,
  checkAppLivenessParams,
  DEFAULT_APP_LIVENESS,
  DEFAULT_RECOVERY_PARAMS,
  formatAppLivenessError,
  judgeApp,
  MAX_TIMING_MS,
  MIN_APP_HANG_MS,
} from '../../../src/machines/recovery/index.ts';

const P: AppLivenessParams = { hangMs: 1000, startGraceMs: 5000 };

describe('judgeApp', () => {
  it('R10.3 start-up: alive until the grace has passed without a first heartbeat', () => {
    const w = { startedMs: 100, lastBeatMs: undefined };
    expect(judgeApp(w, 100, P)).toEqual({ kind: 'alive', recheckAtMs: 5101 });
    // Silence equal to the limit is still alive; the hang limit does not apply yet.
    expect(judgeApp(w, 5100, P)).toEqual({ kind: 'alive', recheckAtMs: 5101 });
    expect(judgeApp(w, 5101, P)).toEqual({
      kind: 'hung',
      rule: 'R10.3',
      phase: 'startup',
      silentMs: 5001,
      limitMs: 5000,
    });
  });

  it('R10.2 running: from the first heartbeat on, the hang limit counts from the last one', () => {
    // Started long ago: the grace no longer matters once it beats.
    const w = { startedMs: 0, lastBeatMs: 9000 };
    expect(judgeApp(w, 9500, P)).toEqual({ kind: 'alive', recheckAtMs: 10_001 });
    expect(judgeApp(w, 10_000, P).kind).toBe('alive');
    expect(judgeApp(w, 10_250, P)).toEqual({
      kind: 'hung',
      rule: 'R10.2',
      phase: 'running',
      silentMs: 1250,
      limitMs: 1000,
    });
  });

  it('R10.2 a first heartbeat early in the grace puts the application under the hang limit', () => {
    // Beat at 200 ms, then silent: hung at 1201 ms, well inside the 5 s grace.
    expect(judgeApp({ startedMs: 0, lastBeatMs: 200 }, 1201, P).kind).toBe('hung');
  });

  it('R10.4 a limit of 0 watches nothing', () => {
    const off = { ...P, hangMs: 0 };
    expect(judgeApp({ startedMs: 0, lastBeatMs: undefined }, 1e9, off)).toEqual({
      kind: 'unwatched',
    });
    expect(judgeApp({ startedMs: 0, lastBeatMs: 1 }, 1e9, off)).toEqual({ kind: 'unwatched' });
  });

  it('a clock read before the last beat (never from a monotonic clock) is no silence', () => {
    expect(judgeApp({ startedMs: 50, lastBeatMs: 100 }, 90, P)).toEqual({
      kind: 'alive',
      recheckAtMs: 1101,
    });
    expect(judgeApp({ startedMs: 50, lastBeatMs: undefined }, 10, P).kind).toBe('alive');
  });

  it('hung exactly when the silence passes the limit that applies; alive answers name a later recheck', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: MIN_APP_HANG_MS, max: MAX_TIMING_MS }),
        fc.integer({ min: 1, max: MAX_TIMING_MS }),
        fc.integer({ min: 0, max: 1e7 }),
        fc.option(fc.integer({ min: 0, max: 1e6 }), { nil: undefined }),
        fc.integer({ min: 0, max: 2e5 }),
        (hangMs, startGraceMs, startedMs, beatAfter, elapsed) => {
          const p = { hangMs, startGraceMs };
          const lastBeatMs = beatAfter === undefined ? undefined : startedMs + beatAfter;
          const from = lastBeatMs ?? startedMs;
          const now = from + elapsed;
          const limit = lastBeatMs === undefined ? startGraceMs : hangMs;
          const v = judgeApp({ startedMs, lastBeatMs }, now, p);
          if (elapsed > limit) {
            expect(v).toMatchObject({ kind: 'hung', silentMs: elapsed, limitMs: limit });
          } else {
            expect(v.kind).toBe('alive');
            if (v.kind === 'alive') {
              expect(v.recheckAtMs).toBeGreaterThan(now);
              // Rechecked at its deadline with no new heartbeat, it is hung.
              expect(judgeApp({ startedMs, lastBeatMs }, v.recheckAtMs, p).kind).toBe('hung');
            }
          }
        },
      ),
    );
  });
});

describe('checkAppLivenessParams', () => {
  it('accepts the defaults and a watch turned off', () => {
    expect(checkAppLivenessParams(DEFAULT_APP_LIVENESS).ok).toBe(true);
    expect(checkAppLivenessParams({ ...DEFAULT_APP_LIVENESS, hangMs: 0 }).ok).toBe(true);
    expect(checkAppLivenessParams({ hangMs: MIN_APP_HANG_MS, startGraceMs: 1 }).ok).toBe(true);
  });

  it('the default limit sits above the failure detector suspicion (spec/recovery.md R10.2)', () => {
    expect(DEFAULT_APP_LIVENESS.hangMs).toBeGreaterThanOrEqual(
      3 * DEFAULT_RECOVERY_PARAMS.suspectAfterMs,
    );
    expect(DEFAULT_APP_LIVENESS.startGraceMs).toBeGreaterThan(DEFAULT_APP_LIVENESS.hangMs);
  });

  it('refuses each bad value with a line that says why', () => {
    const cases: [Partial<AppLivenessParams>, string, RegExp][] = [
      [{ hangMs: 50 }, 'hangTooShort', /^R10.2: hangMs \(50\) must be 0 \(off\) or at least 100/],
      [{ hangMs: -1 }, 'notInteger', /^hangMs must be a non-negative integer/],
      [{ hangMs: 1.5 }, 'notInteger', /^hangMs must be/],
      [{ startGraceMs: Number.NaN }, 'notInteger', /^startGraceMs must be/],
      [{ hangMs: MAX_TIMING_MS + 1 }, 'tooLarge', /over the 60000 ms bound/],
      [{ startGraceMs: MAX_TIMING_MS + 1 }, 'tooLarge', /startGraceMs = 60001/],
      [{ startGraceMs: 0 }, 'graceNotPositive', /^R10.3: startGraceMs must be positive/],
    ];
    for (const [patch, kind, re] of cases) {
      const r = checkAppLivenessParams({ ...DEFAULT_APP_LIVENESS, ...patch });
      if (r.ok) throw new Error(`accepted ${JSON.stringify(patch)}`);
      expect(r.error.kind).toBe(kind);
      expect(formatAppLivenessError(r.error)).toMatch(re);
    }
  });
});

describe('appHeartbeatPeriodMs (R10.1)', () => {
  it('ten beats per limit, never under 10 ms', () => {
    expect(appHeartbeatPeriodMs(1000)).toBe(100);
    expect(appHeartbeatPeriodMs(MIN_APP_HANG_MS)).toBe(10);
    expect(appHeartbeatPeriodMs(1)).toBe(10);
    expect(appHeartbeatPeriodMs(MAX_TIMING_MS)).toBe(6000);
  });
});
