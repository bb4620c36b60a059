import { describe, expect, it } from 'vitest';
import {
  checkRecoveryParams,
  DEFAULT_RECOVERY_PARAMS,
  formatRecoveryParamsError,
  formatTimeline,
  MAX_TIMING_MS,
  minUnprotectAfterMs,
} from '../../../src/machines/recovery/index.ts';

describe('checkRecoveryParams (R9 timing relations)', () => {
  it('accepts the defaults', () => {
    expect(checkRecoveryParams(DEFAULT_RECOVERY_PARAMS).ok).toBe(true);
  });
  it('rejects suspicion that could fire while the last lease may still be honoured', () => {
    const r = checkRecoveryParams({ ...DEFAULT_RECOVERY_PARAMS, suspectAfterMs: 240 });
    expect(r).toEqual({
      ok: false,
      error: { kind: 'suspectTooEarly', suspectAfterMs: 240, leaseMs: 200, driftMarginMs: 40 },
    });
  });
  it('rejects an unprotect grace shorter than the latest possible takeover', () => {
    const min = minUnprotectAfterMs(DEFAULT_RECOVERY_PARAMS);
    expect(min).toBe(50 + 2 * 20 + 300 + 500 + 40 - 200);
    const r = checkRecoveryParams({ ...DEFAULT_RECOVERY_PARAMS, unprotectAfterMs: min });
    expect(r).toEqual({
      ok: false,
      error: { kind: 'unprotectTooEarly', unprotectAfterMs: min, minimum: min },
    });
    expect(checkRecoveryParams({ ...DEFAULT_RECOVERY_PARAMS, unprotectAfterMs: min + 1 }).ok).toBe(
      true,
    );
  });
  it('rejects a lease that lapses between two heartbeats', () => {
    const r = checkRecoveryParams({ ...DEFAULT_RECOVERY_PARAMS, leaseMs: 50 });
    expect(r.ok === false && r.error.kind).toBe('leaseNotLongerThanInterval');
  });
  it('rejects a drift margin not below the lease (every lease would end on arrival)', () => {
    const r = checkRecoveryParams({
      ...DEFAULT_RECOVERY_PARAMS,
      driftMarginMs: 200,
      suspectAfterMs: 500,
      unprotectAfterMs: 2_000,
    });
    expect(r).toEqual({
      ok: false,
      error: { kind: 'driftNotBelowLease', driftMarginMs: 200, leaseMs: 200 },
    });
  });
  it('explains each refusal with the relation and its numbers', () => {
    const cases: [Partial<typeof DEFAULT_RECOVERY_PARAMS>, RegExp][] = [
      [{ leaseMs: 50 }, /^P1: leaseMs \(50\) must exceed heartbeatIntervalMs \(50\)/],
      [
        { driftMarginMs: 200, suspectAfterMs: 500, unprotectAfterMs: 2_000 },
        /^P4: driftMarginMs \(200\) must be below leaseMs \(200\)/,
      ],
      [{ suspectAfterMs: 240 }, /^P2: suspectAfterMs \(240\) must exceed leaseMs \+ driftMarginMs/],
      [{ unprotectAfterMs: 730 }, /^P3: unprotectAfterMs \(730\) must exceed 730/],
      [{ stonithDeadlineMs: 0 }, /^stonithDeadlineMs must be/],
      [{ leaseMs: MAX_TIMING_MS + 1 }, /over the 60000 ms bound/],
    ];
    for (const [patch, re] of cases) {
      const r = checkRecoveryParams({ ...DEFAULT_RECOVERY_PARAMS, ...patch });
      if (r.ok) throw new Error(`accepted ${JSON.stringify(patch)}`);
      expect(formatRecoveryParamsError(r.error)).toMatch(re);
    }
  });
  it('rejects non-integers, non-positive and absurd values', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      const r = checkRecoveryParams({ ...DEFAULT_RECOVERY_PARAMS, heartbeatIntervalMs: bad });
      expect(r.ok === false && r.error.kind).toBe('notPositiveInteger');
    }
    const r = checkRecoveryParams({
      ...DEFAULT_RECOVERY_PARAMS,
      suspectAfterMs: MAX_TIMING_MS + 1,
    });
    expect(r.ok === false && r.error.kind).toBe('tooLarge');
    const d = checkRecoveryParams({ ...DEFAULT_RECOVERY_PARAMS, driftMarginMs: -1 });
    expect(d.ok === false && d.error.kind).toBe('notPositiveInteger');
  });
});

describe('formatTimeline', () => {
  it('prints the names spec/recovery.md uses', () => {
    expect(formatTimeline({ kind: 'crash', what: 'host' })).toBe('crash host');
    expect(formatTimeline({ kind: 'detected' })).toBe('detected');
    expect(formatTimeline({ kind: 'fenced', epoch: 3 })).toBe('fenced epoch=3');
    expect(formatTimeline({ kind: 'takeover' })).toBe('takeover');
    expect(formatTimeline({ kind: 'replay', bytes: 1500, determinants: 4 })).toBe(
      'replay 1500 bytes / 4 determinants',
    );
    expect(formatTimeline({ kind: 'live', epoch: 3 })).toBe('live epoch=3');
  });
});
