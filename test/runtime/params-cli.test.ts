// One RecoveryParams for every daemon: the lab's set, the flags it becomes, and the daemons'
// parse of those flags agree; a set breaking spec/recovery.md P1-P4 never reaches a daemon.
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  checkRecoveryParams,
  DEFAULT_RECOVERY_PARAMS,
  minUnprotectAfterMs,
  type RecoveryParams,
} from '../../src/machines/recovery/params.ts';
import { FAST_TIMING, labRecoveryParams, ROBUST_TIMING } from '../../src/runtime/lab/lab.ts';
import { LabError } from '../../src/runtime/lab/topology.ts';
import {
  addRecoveryParamOptions,
  RECOVERY_PARAM_FLAGS,
  recoveryParamsArgv,
  recoveryParamsFromOpts,
} from '../../src/runtime/recovery/params-cli.ts';

const parse = (argv: string[]): ReturnType<typeof recoveryParamsFromOpts> => {
  const cmd = addRecoveryParamOptions(new Command('t').exitOverride()).configureOutput({
    writeErr: () => {},
  });
  cmd.parse(argv, { from: 'user' });
  return recoveryParamsFromOpts(cmd.opts<RecoveryParams>());
};

describe('recovery timing flags (params-cli)', () => {
  it('round-trips every field through the flags the lab passes', () => {
    const p: RecoveryParams = {
      heartbeatIntervalMs: 40,
      leaseMs: 700,
      suspectAfterMs: 800,
      driftMarginMs: 30,
      stonithDeadlineMs: 450,
      maxLinkDelayMs: 15,
      unprotectAfterMs: 1_500,
    };
    expect(checkRecoveryParams(p).ok).toBe(true);
    expect(parse(recoveryParamsArgv(p))).toEqual({ ok: true, value: p });
    expect(new Set(Object.values(RECOVERY_PARAM_FLAGS)).size).toBe(7);
  });
  it('defaults to DEFAULT_RECOVERY_PARAMS and refuses an unsafe set with the relation named', () => {
    expect(parse([])).toEqual({ ok: true, value: DEFAULT_RECOVERY_PARAMS });
    const r = parse(['--suspect-after-ms', '2000']);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/^unsafe timing \(unprotectTooEarly\): P3:/);
    expect(() => parse(['--lease-ms', 'soon'])).toThrow(/not a non-negative integer/);
    expect(() => parse(['--lease-ms', '60001'])).toThrow(/outside/);
  });
});

describe('labRecoveryParams (the one set a lab hands to every daemon)', () => {
  it('completes the lab timings with the defaults, keeping the G.3 margin', () => {
    for (const t of [FAST_TIMING, ROBUST_TIMING]) {
      const p = labRecoveryParams(t);
      expect(p.leaseMs).toBe(t.leaseMs);
      expect(p.suspectAfterMs).toBe(t.suspectAfterMs);
      expect(p.unprotectAfterMs).toBeGreaterThan(minUnprotectAfterMs(p));
      expect(checkRecoveryParams(p).ok).toBe(true);
    }
  });
  it('raises an unset grace above P3 when detection is slow, and keeps one that was set', () => {
    const slow = labRecoveryParams({ leaseMs: 2_000, suspectAfterMs: 3_000 });
    expect(slow.unprotectAfterMs).toBe(minUnprotectAfterMs(slow) + slow.heartbeatIntervalMs);
    expect(checkRecoveryParams(slow).ok).toBe(true);
    expect(
      labRecoveryParams({ leaseMs: 200, suspectAfterMs: 300, unprotectAfterMs: 5_000 })
        .unprotectAfterMs,
    ).toBe(5_000);
  });
  it('refuses a set that breaks a relation before any daemon starts', () => {
    expect(() => labRecoveryParams({ leaseMs: 800, suspectAfterMs: 800 })).toThrow(LabError);
    expect(() => labRecoveryParams({ leaseMs: 800, suspectAfterMs: 800 })).toThrow(/P2:/);
    expect(() =>
      labRecoveryParams({ leaseMs: 200, suspectAfterMs: 300, unprotectAfterMs: 700 }),
    ).toThrow(/P3:/);
  });
});
