// Model-based test of the failure detector (R9): every reachable (state, event) edge over
// heartbeats, stale heartbeats, current and stale timer expiries; 100% state and transition
// coverage is asserted. The recorder is an independent oracle for the detector's safety:
// it declares death only after a current timeout AND the expiry of the last lease granted,
// and never grants a lease afterwards.

import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import {
  expiresCurrentLease,
  type FailureDetectorContext,
  type FailureDetectorEvent,
  failureDetectorMachine,
  isFreshHeartbeat,
  lastLeaseExpired,
  timeoutIsCurrent,
} from '../../../src/machines/recovery/index.ts';
import { runModel } from './mbt.ts';

interface Rec {
  effects: { name: string; seq?: number }[];
  /** Oracle state, computed from the events alone. */
  granted: number;
  expiredLeases: Set<number>;
  timedOutAfter: Set<number>;
  dead: boolean;
}

const SEQS = [1, 2] as const;

describe('failureDetectorMachine', () => {
  it('covers every state and transition, and never grants a lease after declaring death', async () => {
    const cov = await runModel<Rec>(failureDetectorMachine, {
      inputs: [undefined],
      eventTypes: ['HEARTBEAT', 'HEARTBEAT_TIMEOUT', 'LEASE_EXPIRED'],
      events: () =>
        SEQS.flatMap((seq): FailureDetectorEvent[] => [
          { type: 'HEARTBEAT', seq, sentMs: seq * 50 },
          { type: 'HEARTBEAT_TIMEOUT', afterSeq: seq },
          { type: 'LEASE_EXPIRED', seq },
        ]),
      serializeState: (s) => JSON.stringify([s.value, s.context]),
      newRecorder: () => ({
        effects: [],
        granted: -1,
        expiredLeases: new Set(),
        timedOutAfter: new Set(),
        dead: false,
      }),
      provide: (rec) =>
        failureDetectorMachine.provide({
          actions: {
            grantLease: (_, p) => rec.effects.push({ name: 'grantLease', seq: p.seq }),
            reportPrimaryDead: () => rec.effects.push({ name: 'reportPrimaryDead' }),
            reportSuspect: () => rec.effects.push({ name: 'reportSuspect' }),
            withdrawSuspicion: () => rec.effects.push({ name: 'withdrawSuspicion' }),
            timeline: () => {},
          },
        }),
      check: ({ expected, actual, event, rec }) => {
        expect(actual.value).toEqual(expected.value);
        expect(actual.context).toEqual(expected.context);
        const e = event as FailureDetectorEvent;
        // Oracle: update from the event, independently of the machine.
        if (e.type === 'LEASE_EXPIRED') rec.expiredLeases.add(e.seq);
        if (e.type === 'HEARTBEAT_TIMEOUT') rec.timedOutAfter.add(e.afterSeq);
        const grants = rec.effects.filter((x) => x.name === 'grantLease');
        const lastGrant = grants.at(-1);
        if (e.type === 'HEARTBEAT' && e.seq > rec.granted && !rec.dead) {
          expect(lastGrant?.seq).toBe(e.seq);
          rec.granted = e.seq;
        }
        // Leases only ever grow, and none is granted after death was declared.
        const seqs = grants.map((g) => g.seq ?? -1);
        expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
        expect(new Set(seqs).size).toBe(seqs.length);
        const deaths = rec.effects.filter((x) => x.name === 'reportPrimaryDead').length;
        expect(deaths).toBeLessThanOrEqual(1);
        if (deaths === 1 && !rec.dead) {
          rec.dead = true;
          // Safety of R9: the last lease is over and a current timeout was seen.
          expect(rec.expiredLeases.has(rec.granted)).toBe(true);
          expect(rec.timedOutAfter.has(rec.granted)).toBe(true);
          expect(actual.value).toBe('confirmedDead');
        }
        if (rec.dead) {
          const deathAt = rec.effects.findIndex((x) => x.name === 'reportPrimaryDead');
          expect(rec.effects.slice(deathAt).some((x) => x.name === 'grantLease')).toBe(false);
        }
      },
    });
    console.log(
      `failureDetector: states ${cov.states.covered}/${cov.states.total}, transitions ${cov.transitions.covered}/${cov.transitions.total}, ${cov.edges} edges in ${cov.paths} paths`,
    );
    expect(cov.states.missing).toEqual([]);
    expect(cov.transitions.missing).toEqual([]);
  });
});

describe('failure detector guards', () => {
  const ctx = (lastSeq: number, leaseExpired = false): FailureDetectorContext => ({
    lastSeq,
    leaseExpired,
  });
  it('D.1 isFreshHeartbeat accepts only newer integer seqs', () => {
    expect(isFreshHeartbeat(ctx(-1), { type: 'HEARTBEAT', seq: 0, sentMs: 0 })).toBe(true);
    expect(isFreshHeartbeat(ctx(3), { type: 'HEARTBEAT', seq: 3, sentMs: 0 })).toBe(false);
    expect(isFreshHeartbeat(ctx(3), { type: 'HEARTBEAT', seq: 2, sentMs: 0 })).toBe(false);
    expect(isFreshHeartbeat(ctx(3), { type: 'HEARTBEAT', seq: 3.5, sentMs: 0 })).toBe(false);
    expect(isFreshHeartbeat(ctx(3), { type: 'LEASE_EXPIRED', seq: 4 })).toBe(false);
  });
  it('D.2 timeoutIsCurrent ignores timers armed before the newest heartbeat', () => {
    expect(timeoutIsCurrent(ctx(5), { type: 'HEARTBEAT_TIMEOUT', afterSeq: 5 })).toBe(true);
    expect(timeoutIsCurrent(ctx(5), { type: 'HEARTBEAT_TIMEOUT', afterSeq: 4 })).toBe(false);
    expect(timeoutIsCurrent(ctx(5), { type: 'LEASE_EXPIRED', seq: 5 })).toBe(false);
  });
  it('D.2 expiresCurrentLease ignores superseded leases', () => {
    expect(expiresCurrentLease(ctx(5), { type: 'LEASE_EXPIRED', seq: 5 })).toBe(true);
    expect(expiresCurrentLease(ctx(5), { type: 'LEASE_EXPIRED', seq: 4 })).toBe(false);
    expect(expiresCurrentLease(ctx(5), { type: 'HEARTBEAT_TIMEOUT', afterSeq: 5 })).toBe(false);
  });
  it('lastLeaseExpired reads the flag', () => {
    expect(lastLeaseExpired(ctx(1, true))).toBe(true);
    expect(lastLeaseExpired(ctx(1, false))).toBe(false);
  });
});

// The rules of spec/recovery.md "R9 Failure detection" as concrete runs: each names the events
// and the effects the rule asks for.
describe('failure detector rules', () => {
  const run = (events: FailureDetectorEvent[]) => {
    const effects: string[] = [];
    const actor = createActor(
      failureDetectorMachine.provide({
        actions: {
          grantLease: (_, p) => effects.push(`grant ${p.seq}`),
          reportPrimaryDead: () => effects.push('dead'),
          reportSuspect: () => effects.push('suspect'),
          withdrawSuspicion: () => effects.push('withdraw'),
          timeline: (_, p) => effects.push(`timeline ${p.kind}`),
        },
      }),
    ).start();
    for (const e of events) actor.send(e);
    const { value: state, status } = actor.getSnapshot();
    actor.stop();
    return status === 'done' ? { state, effects, done: true } : { state, effects };
  };
  const hb = (seq: number): FailureDetectorEvent => ({ type: 'HEARTBEAT', seq, sentMs: seq });

  it('D.1 a fresh heartbeat is answered by a lease; duplicates and reordered ones grant nothing', () => {
    expect(run([hb(1), hb(3), hb(3), hb(2)]).effects).toEqual(['grant 1', 'grant 3']);
  });

  it('D.2 a timer armed before the newest heartbeat is stale and ignored', () => {
    const r = run([
      hb(1),
      hb(2),
      { type: 'LEASE_EXPIRED', seq: 1 },
      { type: 'HEARTBEAT_TIMEOUT', afterSeq: 1 },
    ]);
    expect(r).toEqual({ state: 'trusting', effects: ['grant 1', 'grant 2'] });
  });

  it('D.3 in trusting a lease expiry is only remembered; the timeout then confirms death', () => {
    expect(run([hb(1), { type: 'LEASE_EXPIRED', seq: 1 }]).state).toBe('trusting');
    expect(
      run([hb(1), { type: 'LEASE_EXPIRED', seq: 1 }, { type: 'HEARTBEAT_TIMEOUT', afterSeq: 1 }])
        .state,
    ).toBe('confirmedDead');
    // A timeout while the last lease still runs only suspects.
    expect(run([hb(1), { type: 'HEARTBEAT_TIMEOUT', afterSeq: 1 }])).toEqual({
      state: 'suspecting',
      effects: ['grant 1', 'suspect'],
    });
  });

  it('D.4 a fresh heartbeat withdraws a suspicion; the last lease expiring confirms it', () => {
    const suspect: FailureDetectorEvent[] = [hb(1), { type: 'HEARTBEAT_TIMEOUT', afterSeq: 1 }];
    expect(run([...suspect, hb(2)])).toEqual({
      state: 'trusting',
      effects: ['grant 1', 'suspect', 'withdraw', 'grant 2'],
    });
    expect(run([...suspect, hb(1), { type: 'LEASE_EXPIRED', seq: 1 }])).toEqual({
      state: 'confirmedDead',
      effects: ['grant 1', 'suspect', 'dead', 'timeline detected'],
      done: true,
    });
  });

  it('D.5 death is reported with the timeline event, in a final state that grants nothing', () => {
    const r = run([
      hb(1),
      { type: 'HEARTBEAT_TIMEOUT', afterSeq: 1 },
      { type: 'LEASE_EXPIRED', seq: 1 },
    ]);
    expect(r).toEqual({
      state: 'confirmedDead',
      effects: ['grant 1', 'suspect', 'dead', 'timeline detected'],
      done: true,
    });
  });
});
