// Model-based test of the logger statechart (R8, R14, R15): every reachable (state, event)
// edge over frames of every role at the current, an older and a newer epoch, Fence to the
// next / same / an older epoch, checkpoint frames with and without the capability, HIGH_WATER,
// STORE_FULL with every combination of the facts R15 decides on, CHECKPOINT_STORED /
// _REFUSED / _TIMEOUT (current and stale), SPACE_FREED and LINKS_CLOSED. 100% state and
// transition coverage is asserted (harness: test/machines/recovery/mbt.ts). The check is an
// oracle written from spec/messages.md and spec/logger.md R15, independent of the machine:
// after each step it predicts which effect the event must have had and where it must lead.

import { describe, expect, it } from 'vitest';
import type { EventObject } from 'xstate';
import type { LoggerContext, LoggerEvent } from '../../../src/machines/logger/events.ts';
import { loggerMachine } from '../../../src/machines/logger/logger.machine.ts';
import type { LoggerMessage, Role } from '../../../src/wire/logmsg.ts';
import { runModel } from '../recovery/mbt.ts';

interface Rec {
  effects: { name: string; p?: unknown }[];
  /** the state and context before the step being checked */
  prev: { value: unknown; context: LoggerContext };
}

const MAX_EPOCH = 3;
const MAX_ASK = 3;
const CAPS = { checkpoints: true, unrecorded: false };

const frames = (ctx: LoggerContext): LoggerEvent[] => {
  const e = ctx.epoch;
  const out: LoggerEvent[] = [];
  const f = (link: number, role: Role | null, epoch: number, msg: LoggerMessage) =>
    out.push({ type: 'FRAME', link, role, epoch, msg });
  f(1, null, e, { kind: 'Hello', role: 'ssw', hostId: 'p', epoch: e });
  f(1, null, e - 1, { kind: 'Hello', role: 'ssw', hostId: 'p', epoch: e - 1 });
  f(1, null, e, { kind: 'LogData', conn: 1, seq: 1, payload: new Uint8Array(0), fin: false });
  f(9, null, 0, { kind: 'Hello', role: 'coordinator', hostId: 'b', epoch: 0 });
  f(1, 'ssw', e, { kind: 'LogData', conn: 1, seq: 1, payload: new Uint8Array([1]), fin: false });
  f(1, 'ssw', e - 1, {
    kind: 'LogData',
    conn: 1,
    seq: 1,
    payload: new Uint8Array([1]),
    fin: false,
  });
  f(1, 'ssw', e + 1, { kind: 'ConnClosed', conn: 1 });
  f(1, 'ssw', e, { kind: 'ClientAcked', conn: 1, clientAck: 5 });
  f(2, 'nsw', e, { kind: 'FetchLog', what: 'nsw' });
  f(2, 'nsw', e, { kind: 'LogData', conn: 1, seq: 1, payload: new Uint8Array(0), fin: false });
  f(9, 'coordinator', 0, { kind: 'Fence', newEpoch: e + 1 });
  f(9, 'coordinator', 0, { kind: 'Fence', newEpoch: e });
  f(9, 'coordinator', 0, { kind: 'Fence', newEpoch: e - 1 });
  // R14.1: checkpoint frames with and without the capability; a Capabilities hint.
  out.push({
    type: 'FRAME',
    link: 2,
    role: 'nsw',
    caps: CAPS,
    epoch: e,
    msg: { kind: 'CheckpointEnd', ckptId: 1 },
  });
  f(2, 'nsw', e, { kind: 'CheckpointEnd', ckptId: 1 });
  f(1, 'ssw', e, { kind: 'Capabilities', checkpoints: false, unrecorded: true });
  const facts = (checkpointer: boolean, tellable: boolean) => ({ checkpointer, tellable });
  return [
    ...out,
    { type: 'HIGH_WATER', limit: 'bytes', ...facts(true, true) },
    { type: 'HIGH_WATER', limit: 'bytes', ...facts(false, true) },
    { type: 'STORE_FULL', link: 1, limit: 'bytes', conn: null, ...facts(true, true) },
    { type: 'STORE_FULL', link: 1, limit: 'conns', conn: 3, ...facts(false, true) },
    { type: 'STORE_FULL', link: 1, limit: 'dets', conn: null, ...facts(false, true) },
    { type: 'STORE_FULL', link: 1, limit: 'bytes', conn: null, ...facts(false, false) },
    { type: 'CHECKPOINT_STORED', full: false, freed: 10, aboveHighWater: false },
    { type: 'CHECKPOINT_STORED', full: true, freed: 10, aboveHighWater: true },
    { type: 'CHECKPOINT_STORED', full: true, freed: 0, aboveHighWater: true },
    { type: 'CHECKPOINT_REFUSED', reason: 'refused' },
    { type: 'CHECKPOINT_REFUSED', reason: 'tooLarge' },
    { type: 'CHECKPOINT_TIMEOUT', ask: ctx.ask },
    { type: 'CHECKPOINT_TIMEOUT', ask: ctx.ask - 1 },
    { type: 'SPACE_FREED' },
    { type: 'LINKS_CLOSED', epoch: e },
  ];
};

const sub = (v: unknown): string | null =>
  typeof v === 'object' && v !== null && 'serving' in v
    ? String((v as { serving: unknown }).serving)
    : null;

describe('loggerMachine', () => {
  it('covers every state and transition; refuses old epochs after a Fence; parks only while waiting; a limit leads where R15 says', async () => {
    const cov = await runModel<Rec>(loggerMachine, {
      inputs: [{ epoch: 1 }],
      eventTypes: [
        'FRAME',
        'HIGH_WATER',
        'STORE_FULL',
        'CHECKPOINT_STORED',
        'CHECKPOINT_REFUSED',
        'CHECKPOINT_TIMEOUT',
        'SPACE_FREED',
        'LINKS_CLOSED',
      ],
      events: (snap) => frames(snap.context as LoggerContext) as EventObject[],
      serializeState: (s) => JSON.stringify([s.value, s.context]),
      stopWhen: (s) =>
        (s.context as LoggerContext).epoch >= MAX_EPOCH ||
        (s.context as LoggerContext).ask >= MAX_ASK,
      newRecorder: () => ({
        effects: [],
        prev: {
          value: { serving: 'accepting' },
          context: { epoch: 1, fencer: null, ask: 0, unprotected: false },
        },
      }),
      provide: (rec) => {
        const push = (name: string) => (_: unknown, p?: unknown) => rec.effects.push({ name, p });
        return loggerMachine.provide({
          actions: {
            welcome: push('welcome'),
            refuse: push('refuse'),
            storeMessage: push('storeMessage'),
            parkMessage: push('parkMessage'),
            applyHint: push('applyHint'),
            streamLog: push('streamLog'),
            closeLinksBelow: push('closeLinksBelow'),
            replyFenced: push('replyFenced'),
            pauseIntake: push('pauseIntake'),
            resumeIntake: push('resumeIntake'),
            takeCheckpointFrame: push('takeCheckpointFrame'),
            askForCheckpoint: push('askForCheckpoint'),
            abandonConn: push('abandonConn'),
            giveUp: push('giveUp'),
            discardMessage: push('discardMessage'),
            stallWithoutEnd: push('stallWithoutEnd'),
          },
        });
      },
      check: ({ expected, actual, event, rec }) => {
        expect(actual.value).toEqual(expected.value);
        expect(actual.context).toEqual(expected.context);
        const last = rec.effects.at(-1);
        const e = event as LoggerEvent;
        const before = sub(rec.prev.value);
        const after = sub(actual.value);
        const ctx = actual.context as LoggerContext;
        const did = (name: string) => rec.effects.some((x) => x.name === name);
        const done = () => {
          rec.prev = { value: actual.value, context: ctx };
          rec.effects.length = 0;
        };
        // Oracle from spec/logger.md R15: where each limit event must lead.
        if (e.type === 'STORE_FULL' && (before === 'accepting' || before === 'checkpointAsked')) {
          if (e.checkpointer) {
            expect(after).toBe('awaitingCheckpoint');
            expect(rec.effects).toContainEqual({
              name: 'askForCheckpoint',
              p: { ask: ctx.ask, reason: 'atLimit' },
            });
            expect(rec.effects).toContainEqual({ name: 'pauseIntake', p: { nsw: false } });
          } else if (e.conn !== null && e.tellable) {
            expect(after).toBe('accepting');
            expect(rec.effects).toContainEqual({
              name: 'abandonConn',
              p: { conn: e.conn, limit: e.limit },
            });
          } else if (e.tellable) {
            expect(after).toBe('unprotected');
            expect(rec.effects).toContainEqual({
              name: 'giveUp',
              p: { reason: 'storeFull', limit: e.limit },
            });
          } else {
            expect(after).toBe('backpressured');
            expect(did('stallWithoutEnd')).toBe(true);
          }
        }
        // R15.2: the wait is bounded. A current timeout, a refusal, or a checkpoint that freed
        // nothing ends it in `unprotected`, never in a wait.
        if (before === 'awaitingCheckpoint') {
          const ends =
            (e.type === 'CHECKPOINT_TIMEOUT' && e.ask === rec.prev.context.ask) ||
            e.type === 'CHECKPOINT_REFUSED' ||
            (e.type === 'CHECKPOINT_STORED' && e.full && e.freed === 0);
          if (ends) {
            expect(after).toBe('unprotected');
            expect(did('giveUp')).toBe(true);
          }
          if (e.type === 'CHECKPOINT_STORED' && !e.full) expect(after).toBe('accepting');
          if (e.type === 'CHECKPOINT_TIMEOUT' && e.ask !== rec.prev.context.ask)
            expect(after).toBe('awaitingCheckpoint');
        }
        if (did('giveUp')) {
          expect(after).toBe('unprotected');
          expect(ctx.unprotected).toBe(true);
        }
        if (e.type === 'HIGH_WATER' && before === 'accepting')
          expect(after).toBe(e.checkpointer ? 'checkpointAsked' : 'accepting');
        for (const x of rec.effects.filter((x) => x.name === 'askForCheckpoint'))
          expect((x.p as { ask: number }).ask).toBe(ctx.ask);
        if (did('discardMessage')) expect(after).toBe('unprotected');
        // R15.4: a log given up stays given up, across a Fence too.
        if (rec.prev.context.unprotected) expect(ctx.unprotected).toBe(true);
        if (
          e.type === 'LINKS_CLOSED' &&
          rec.prev.context.unprotected &&
          rec.prev.value === 'fencing'
        )
          expect(after).toBe('unprotected');
        if (e.type !== 'FRAME') {
          done();
          return;
        }
        // R14.1: checkpoint frames need the capability, and are never parked.
        if (
          e.msg.kind === 'CheckpointEnd' &&
          e.role === 'nsw' &&
          e.epoch === ctx.epoch &&
          actual.value !== 'fencing'
        ) {
          if (e.caps?.checkpoints === true)
            expect(did(after === 'unprotected' ? 'discardMessage' : 'takeCheckpointFrame')).toBe(
              true,
            );
          else expect(last).toMatchObject({ name: 'refuse', p: { code: 'wrongRole' } });
        }
        if (e.msg.kind === 'FetchLog' && after === 'unprotected' && e.epoch === ctx.epoch)
          expect(last).toMatchObject({ name: 'refuse', p: { code: 'unprotected' } });
        // Oracle from spec/messages.md: frames of an older epoch from an SSW/NSW are refused
        // as staleEpoch and never stored, whatever the state.
        if (
          e.role !== 'coordinator' &&
          e.msg.kind !== 'Hello' &&
          e.role !== null &&
          e.epoch < (actual.context as LoggerContext).epoch
        ) {
          expect(last).toMatchObject({ name: 'refuse', p: { code: 'staleEpoch' } });
        }
        const stored = rec.effects.some((x) => x.name === 'storeMessage');
        if (stored) {
          expect(['accepting', 'checkpointAsked']).toContain(after);
          expect(e.epoch).toBe((actual.context as LoggerContext).epoch);
        }
        if (rec.effects.some((x) => x.name === 'parkMessage'))
          expect(['backpressured', 'awaitingCheckpoint']).toContain(after);
        done();
      },
    });
    console.log(
      `loggerMachine coverage: states ${cov.states.covered}/${cov.states.total}, transitions ${cov.transitions.covered}/${cov.transitions.total}, ${cov.paths} paths, ${cov.edges} edges`,
    );
    expect(cov.states.missing).toEqual([]);
    expect(cov.transitions.missing).toEqual([]);
    expect(cov.states.covered).toBe(cov.states.total);
    expect(cov.transitions.covered).toBe(cov.transitions.total);
  });
});
