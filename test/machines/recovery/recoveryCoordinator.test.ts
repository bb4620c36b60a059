// Model-based test of the recovery coordinator (R8, R9, R10): both host roles, every
// reachable (state, event) edge including stale Fenced answers and crashes at every step of
// recovery; 100% state and transition coverage is asserted. The recorder checks, from the
// effects alone, the orders the spec requires: a fresh epoch per Fence, replay only at an
// acknowledged epoch, the address claimed only after STONITH, live only after replay.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import {
  attemptsLeft,
  fenceIsCurrent,
  formatTimeline,
  isBackupHost,
  isFailover,
  loggerIsRemote,
  type RecoveryCoordinatorContext,
  type RecoveryCoordinatorEvent,
  recoveryCoordinatorMachine,
  replayCountsValid,
  servesHere,
  type TimelineEvent,
} from '../../../src/machines/recovery/index.ts';
import { runModel } from './mbt.ts';

interface Effect {
  readonly name: string;
  readonly ctx: RecoveryCoordinatorContext;
  readonly timeline?: TimelineEvent;
}
interface Rec {
  effects: Effect[];
  acked: Set<number>;
}

const EVENT_TYPES = [
  'PRIMARY_DEAD',
  'APP_CRASHED',
  'FENCED',
  'POWER_FENCED',
  'ADDRESS_TAKEN',
  'REPLAY_DONE',
  'LEASE_EXPIRED',
  'LEASE_RENEWED',
  'UNPROTECT_TIMEOUT',
  'FENCED_OUT',
  'STONITH_TIMEOUT',
] as const;

const events = ({
  context,
}: {
  context: RecoveryCoordinatorContext;
}): RecoveryCoordinatorEvent[] => [
  { type: 'PRIMARY_DEAD' },
  { type: 'APP_CRASHED' },
  { type: 'FENCED', epoch: context.fenceEpoch },
  // A late answer to the Fence of an earlier attempt.
  { type: 'FENCED', epoch: context.fenceEpoch - 1 },
  { type: 'POWER_FENCED' },
  { type: 'ADDRESS_TAKEN' },
  { type: 'REPLAY_DONE', bytes: 1500, determinants: 4 },
  { type: 'REPLAY_DONE', bytes: -1, determinants: 0 },
  { type: 'LEASE_EXPIRED' },
  { type: 'LEASE_RENEWED' },
  { type: 'UNPROTECT_TIMEOUT' },
  { type: 'FENCED_OUT' },
  { type: 'STONITH_TIMEOUT' },
];

const checkEffects = (rec: Rec): void => {
  let lastFence = -1;
  let powerFencedThisAttempt = false;
  let replayStarted = false;
  for (const e of rec.effects) {
    switch (e.name) {
      case 'sendFence':
        // R8: every Fence asks for an epoch above everything held or asked before.
        expect(e.ctx.fenceEpoch).toBeGreaterThan(Math.max(lastFence, e.ctx.epoch));
        lastFence = e.ctx.fenceEpoch;
        powerFencedThisAttempt = false;
        replayStarted = false;
        break;
      case 'powerFencePrimary':
        expect(e.ctx.path).toBe('failover');
        powerFencedThisAttempt = true;
        break;
      case 'claimServiceAddress':
        // Never answer ARP for the service address while the old primary might.
        expect(powerFencedThisAttempt).toBe(true);
        break;
      case 'startReplay':
        // The new incarnation runs only at an epoch the logger acknowledged (I5).
        expect(e.ctx.epoch).toBe(lastFence);
        expect(rec.acked.has(lastFence)).toBe(true);
        if (e.ctx.path === 'failover') expect(powerFencedThisAttempt).toBe(true);
        replayStarted = true;
        break;
      case 'switchToLive':
        expect(replayStarted).toBe(true);
        break;
    }
  }
};

describe('recoveryCoordinatorMachine', () => {
  it('covers every state and transition over both roles, with the effect orders of R8-R10', async () => {
    const cov = await runModel<Rec>(recoveryCoordinatorMachine, {
      inputs: [
        { role: 'primary', epoch: 1, maxAttempts: 2 },
        { role: 'backup', epoch: 1, maxAttempts: 2 },
      ],
      eventTypes: EVENT_TYPES,
      events: events as never,
      serializeState: (s) => JSON.stringify([s.value, s.context]),
      // Epochs grow with every recovery: stop expanding after a few, which is past the
      // depth at which every transition has been taken.
      stopWhen: (s) => (s.context as RecoveryCoordinatorContext).fenceEpoch >= 6,
      newRecorder: () => ({ effects: [], acked: new Set() }),
      provide: (rec) => {
        const effect =
          (name: string) =>
          ({ context }: { context: RecoveryCoordinatorContext }) =>
            rec.effects.push({ name, ctx: context });
        return recoveryCoordinatorMachine.provide({
          actions: {
            sendFence: effect('sendFence'),
            silenceDeadIncarnation: effect('silenceDeadIncarnation'),
            powerFencePrimary: effect('powerFencePrimary'),
            claimServiceAddress: effect('claimServiceAddress'),
            startReplay: effect('startReplay'),
            switchToLive: effect('switchToLive'),
            goUnprotected: effect('goUnprotected'),
            abandonConnections: effect('abandonConnections'),
            stopServing: effect('stopServing'),
            timeline: ({ context }, params) =>
              rec.effects.push({ name: 'timeline', ctx: context, timeline: params }),
          },
        });
      },
      check: ({ expected, actual, event, rec }) => {
        expect(actual.value).toEqual(expected.value);
        const e = event as RecoveryCoordinatorEvent;
        if (e.type === 'FENCED') rec.acked.add(e.epoch);
        checkEffects(rec);
        const names = rec.effects.map((x) => x.name);
        if (actual.value === 'failed') expect(names.at(-2)).toBe('abandonConnections');
        if (actual.value === 'unprotected') {
          expect(names).toContain('goUnprotected');
          // Unprotected only after a lease expiry and the full grace, never straight away.
          const kinds = rec.effects.flatMap((x) => (x.timeline ? [x.timeline.kind] : []));
          expect(kinds.slice(-2)).toEqual(['stalled', 'unprotected']);
        }
        if (actual.value === 'fencedOut') expect(names.at(-2)).toBe('stopServing');
        // A failover never claims the address after its STONITH deadline passed.
        const giveUp = rec.effects.findIndex((x) => x.timeline?.kind === 'failed');
        if (giveUp >= 0)
          expect(rec.effects.slice(giveUp).some((x) => x.name === 'claimServiceAddress')).toBe(
            false,
          );
        if (actual.value === 'live' && e.type === 'REPLAY_DONE') {
          const kinds = rec.effects.flatMap((x) => (x.timeline ? [x.timeline.kind] : []));
          expect(kinds.slice(-2)).toEqual(['replay', 'live']);
        }
      },
    });
    console.log(
      `recoveryCoordinator: states ${cov.states.covered}/${cov.states.total}, transitions ${cov.transitions.covered}/${cov.transitions.total}, ${cov.edges} edges in ${cov.paths} paths`,
    );
    expect(cov.states.missing).toEqual([]);
    expect(cov.transitions.missing).toEqual([]);
  });
});

describe('recoveryCoordinatorMachine under long random event sequences', () => {
  // The model-based test takes every edge once; this drives long sequences (stale answers,
  // crashes at any point, repeated recoveries) and checks the same effect-order oracles.
  const arbEvent = fc.oneof(
    fc.constantFrom<RecoveryCoordinatorEvent>(
      { type: 'PRIMARY_DEAD' },
      { type: 'APP_CRASHED' },
      { type: 'POWER_FENCED' },
      { type: 'ADDRESS_TAKEN' },
      { type: 'LEASE_EXPIRED' },
      { type: 'LEASE_RENEWED' },
      { type: 'UNPROTECT_TIMEOUT' },
      { type: 'FENCED_OUT' },
      { type: 'STONITH_TIMEOUT' },
    ),
    fc
      .integer({ min: 0, max: 3 })
      .map((n) => ({ type: 'REPLAY_DONE' as const, bytes: n * 100, determinants: n })),
    // A Fenced answer for the Fence in flight (offset 0) or an earlier/later one.
    fc.integer({ min: -1, max: 1 }).map((d) => ({ type: 'FENCED' as const, epoch: d })),
  );
  it('keeps R8-R10 effect orders for any sequence of events', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('primary' as const, 'backup' as const),
        fc.array(arbEvent, { maxLength: 40 }),
        (role, events) => {
          const rec: Rec = { effects: [], acked: new Set() };
          const effect =
            (name: string) =>
            ({ context }: { context: RecoveryCoordinatorContext }) =>
              rec.effects.push({ name, ctx: context });
          const actor = createActor(
            recoveryCoordinatorMachine.provide({
              actions: {
                sendFence: effect('sendFence'),
                powerFencePrimary: effect('powerFencePrimary'),
                claimServiceAddress: effect('claimServiceAddress'),
                startReplay: effect('startReplay'),
                switchToLive: effect('switchToLive'),
              },
            }),
            { input: { role, epoch: 1 } },
          ).start();
          for (const e of events) {
            // FENCED offsets are relative to the Fence in flight, so "current" stays meaningful.
            const ev =
              e.type === 'FENCED'
                ? { ...e, epoch: actor.getSnapshot().context.fenceEpoch + e.epoch }
                : e;
            if (ev.type === 'FENCED') rec.acked.add(ev.epoch);
            actor.send(ev);
            checkEffects(rec);
            const c = actor.getSnapshot().context;
            expect(c.epoch).toBeLessThanOrEqual(c.fenceEpoch);
            expect(c.attempt).toBeLessThanOrEqual(c.maxAttempts);
          }
          actor.stop();
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('recovery coordinator guards', () => {
  const base: RecoveryCoordinatorContext = {
    role: 'primary',
    epoch: 4,
    fenceEpoch: 5,
    loggerRemote: true,
    path: 'local',
    attempt: 1,
    maxAttempts: 3,
  };
  it('roles', () => {
    expect(isBackupHost({ ...base, role: 'backup' })).toBe(true);
    expect(isBackupHost(base)).toBe(false);
    expect(servesHere(base)).toBe(true);
    expect(servesHere({ ...base, role: 'backup' })).toBe(false);
  });
  it('fenceIsCurrent accepts only the epoch of the Fence in flight', () => {
    expect(fenceIsCurrent(base, { type: 'FENCED', epoch: 5 })).toBe(true);
    expect(fenceIsCurrent(base, { type: 'FENCED', epoch: 4 })).toBe(false);
    expect(fenceIsCurrent(base, { type: 'FENCED', epoch: 6 })).toBe(false);
    expect(fenceIsCurrent(base, { type: 'POWER_FENCED' })).toBe(false);
  });
  it('isFailover, attemptsLeft', () => {
    expect(isFailover({ ...base, path: 'failover' })).toBe(true);
    expect(isFailover(base)).toBe(false);
    expect(attemptsLeft(base)).toBe(true);
    expect(attemptsLeft({ ...base, attempt: 3 })).toBe(false);
  });
  it('loggerIsRemote only on a serving host whose logger lives elsewhere', () => {
    expect(loggerIsRemote(base)).toBe(true);
    expect(loggerIsRemote({ ...base, loggerRemote: false })).toBe(false);
    expect(loggerIsRemote({ ...base, role: 'backup' })).toBe(false);
  });
  it('replayCountsValid rejects negative, fractional and unsafe counts', () => {
    expect(replayCountsValid(base, { type: 'REPLAY_DONE', bytes: 0, determinants: 0 })).toBe(true);
    expect(replayCountsValid(base, { type: 'REPLAY_DONE', bytes: -1, determinants: 0 })).toBe(
      false,
    );
    expect(replayCountsValid(base, { type: 'REPLAY_DONE', bytes: 1.5, determinants: 0 })).toBe(
      false,
    );
    expect(replayCountsValid(base, { type: 'REPLAY_DONE', bytes: 1, determinants: 2 ** 60 })).toBe(
      false,
    );
    expect(replayCountsValid(base, { type: 'APP_CRASHED' })).toBe(false);
  });
});

// The rules of spec/recovery.md (fencing F, takeover T, switch to live V, logger lost G) as
// concrete runs: each names the events and the effects and states the rule asks for.
describe('recovery coordinator rules', () => {
  const run = (role: 'primary' | 'backup', events: RecoveryCoordinatorEvent[]) => {
    const effects: string[] = [];
    const effect =
      (name: string) =>
      ({ context }: { context: RecoveryCoordinatorContext }) =>
        effects.push(name === 'sendFence' ? `sendFence ${context.fenceEpoch}` : name);
    const actor = createActor(
      recoveryCoordinatorMachine.provide({
        actions: {
          sendFence: effect('sendFence'),
          silenceDeadIncarnation: effect('silenceDeadIncarnation'),
          powerFencePrimary: effect('powerFencePrimary'),
          claimServiceAddress: effect('claimServiceAddress'),
          startReplay: effect('startReplay'),
          switchToLive: effect('switchToLive'),
          goUnprotected: effect('goUnprotected'),
          abandonConnections: effect('abandonConnections'),
          stopServing: effect('stopServing'),
          timeline: (_, p) => effects.push(`timeline ${formatTimeline(p)}`),
        },
      }),
      { input: { role, epoch: 1 } },
    ).start();
    for (const e of events) actor.send(e);
    const { value, context } = actor.getSnapshot();
    actor.stop();
    return { state: JSON.stringify(value), context, effects };
  };

  it('F.1 every attempt fences at a new epoch above everything held or asked', () => {
    const r = run('primary', [{ type: 'APP_CRASHED' }, { type: 'APP_CRASHED' }]);
    expect(r.effects.filter((e) => e.startsWith('sendFence'))).toEqual([
      'sendFence 2',
      'sendFence 3',
    ]);
  });

  it('F.2 only the answer to the Fence in flight counts; the epoch is adopted from it', () => {
    const crashes: RecoveryCoordinatorEvent[] = [{ type: 'APP_CRASHED' }, { type: 'APP_CRASHED' }];
    const late = run('primary', [...crashes, { type: 'FENCED', epoch: 2 }]);
    expect(late.state).toBe('{"recovering":"fencing"}');
    expect(late.context.epoch).toBe(1);
    const current = run('primary', [...crashes, { type: 'FENCED', epoch: 3 }]);
    expect(current.state).toBe('{"recovering":"replaying"}');
    expect(current.context.epoch).toBe(3);
  });

  it('F.3, T.1, T.2, V.1 failover: STONITH, then the address, then the replay as primary', () => {
    const r = run('backup', [
      { type: 'PRIMARY_DEAD' },
      { type: 'FENCED', epoch: 2 },
      { type: 'ADDRESS_TAKEN' }, // before STONITH: ignored
      { type: 'POWER_FENCED' },
      { type: 'ADDRESS_TAKEN' },
    ]);
    expect(r.effects.filter((e) => !e.startsWith('timeline'))).toEqual([
      'sendFence 2',
      'powerFencePrimary',
      'claimServiceAddress',
      'startReplay',
    ]);
    expect(r.state).toBe('{"recovering":"replaying"}');
    // T.2: this host serves now, beside its own logger.
    expect(r.context.role).toBe('primary');
    expect(r.context.loggerRemote).toBe(false);
  });

  it('F.4 a STONITH not confirmed in time abandons the failover: the address is never claimed', () => {
    const r = run('backup', [
      { type: 'PRIMARY_DEAD' },
      { type: 'FENCED', epoch: 2 },
      { type: 'STONITH_TIMEOUT' },
      { type: 'POWER_FENCED' },
    ]);
    expect(r.state).toBe('"failed"');
    expect(r.effects).toContain('abandonConnections');
    expect(r.effects).not.toContain('claimServiceAddress');
  });

  it('F.5 a serving primary told it is fenced stops serving', () => {
    const r = run('primary', [{ type: 'FENCED_OUT' }]);
    expect(r.state).toBe('"fencedOut"');
    expect(r.effects).toEqual(['stopServing', 'timeline fenced-out']);
    // A backup (it serves nothing) is not a zombie.
    expect(run('backup', [{ type: 'FENCED_OUT' }]).state).toBe('"idle"');
  });

  it('V.2 live only after valid replay counts: replay, switchToLive, live at the epoch', () => {
    const toReplay: RecoveryCoordinatorEvent[] = [
      { type: 'APP_CRASHED' },
      { type: 'FENCED', epoch: 2 },
    ];
    const bad = run('primary', [...toReplay, { type: 'REPLAY_DONE', bytes: -1, determinants: 0 }]);
    expect(bad.state).toBe('{"recovering":"replaying"}');
    const r = run('primary', [...toReplay, { type: 'REPLAY_DONE', bytes: 10, determinants: 2 }]);
    expect(r.state).toBe('"live"');
    expect(r.effects.slice(-3)).toEqual([
      'timeline replay 10 bytes / 2 determinants',
      'switchToLive',
      'timeline live epoch=2',
    ]);
  });

  it('G.1 a lease expiry stalls a primary whose logger is remote; a renewal returns to live', () => {
    const stalled = run('primary', [{ type: 'LEASE_EXPIRED' }]);
    expect(stalled.state).toBe('"stalled"');
    expect(stalled.effects).toEqual(['timeline stalled']);
    expect(run('primary', [{ type: 'LEASE_EXPIRED' }, { type: 'LEASE_RENEWED' }]).state).toBe(
      '"live"',
    );
  });

  it('G.2 unprotected only after the grace past the lease, never at the lease expiry', () => {
    const r = run('primary', [{ type: 'LEASE_EXPIRED' }, { type: 'UNPROTECT_TIMEOUT' }]);
    expect(r.state).toBe('"unprotected"');
    expect(r.effects).toEqual(['timeline stalled', 'goUnprotected', 'timeline unprotected']);
    expect(run('primary', [{ type: 'UNPROTECT_TIMEOUT' }]).state).toBe('"idle"');
  });

  it('G.4 an application crash while stalled or unprotected has no log behind it: failed', () => {
    const stalled = run('primary', [{ type: 'LEASE_EXPIRED' }, { type: 'APP_CRASHED' }]);
    expect(stalled.state).toBe('"failed"');
    expect(stalled.effects).not.toContain('sendFence 2');
    const unprotected = run('primary', [
      { type: 'LEASE_EXPIRED' },
      { type: 'UNPROTECT_TIMEOUT' },
      { type: 'APP_CRASHED' },
    ]);
    expect(unprotected.state).toBe('"failed"');
    expect(unprotected.effects).toContain('abandonConnections');
  });

  it('G.5 fenced while stalled: fencedOut, as while serving', () => {
    const r = run('primary', [{ type: 'LEASE_EXPIRED' }, { type: 'FENCED_OUT' }]);
    expect(r.state).toBe('"fencedOut"');
    expect(r.effects).toContain('stopServing');
  });
});
