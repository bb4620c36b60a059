// Model-based test of the logger statechart (R8, backpressure): every reachable (state, event)
// edge over frames of every role at the current, an older and a newer epoch, Fence to the
// next / same / an older epoch, STORE_FULL, SPACE_FREED and LINKS_CLOSED. 100% state and
// transition coverage is asserted (harness: test/machines/recovery/mbt.ts). The check is an
// oracle written from spec/messages.md, independent of the machine: after each step it
// predicts which effect the frame must have had.

import { describe, expect, it } from 'vitest';
import type { EventObject } from 'xstate';
import {
  classifyFrame,
  type LoggerContext,
  type LoggerEvent,
  loggerMachine,
} from '../../../src/machines/logger/logger.machine.ts';
import type { LoggerMessage, Role } from '../../../src/wire/logmsg.ts';
import { runModel } from '../recovery/mbt.ts';

interface Rec {
  effects: { name: string; p?: unknown }[];
}

const MAX_EPOCH = 3;

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
  return [
    ...out,
    { type: 'STORE_FULL', link: 1 },
    { type: 'SPACE_FREED' },
    { type: 'LINKS_CLOSED', epoch: e },
  ];
};

describe('loggerMachine', () => {
  it('covers every state and transition; refuses old epochs after a Fence; parks only while backpressured', async () => {
    const cov = await runModel<Rec>(loggerMachine, {
      inputs: [{ epoch: 1 }],
      eventTypes: ['FRAME', 'STORE_FULL', 'SPACE_FREED', 'LINKS_CLOSED'],
      events: (snap) => frames(snap.context as LoggerContext) as EventObject[],
      serializeState: (s) => JSON.stringify([s.value, s.context]),
      stopWhen: (s) => (s.context as LoggerContext).epoch >= MAX_EPOCH,
      newRecorder: () => ({ effects: [] }),
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
          },
        });
      },
      check: ({ expected, actual, event, rec }) => {
        expect(actual.value).toEqual(expected.value);
        expect(actual.context).toEqual(expected.context);
        const last = rec.effects.at(-1);
        const e = event as LoggerEvent;
        if (e.type !== 'FRAME') {
          rec.effects.length = 0;
          return;
        }
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
          expect(actual.value).toEqual({ serving: 'accepting' });
          expect(e.epoch).toBe((actual.context as LoggerContext).epoch);
        }
        if (rec.effects.some((x) => x.name === 'parkMessage'))
          expect(actual.value).toEqual({ serving: 'backpressured' });
        rec.effects.length = 0;
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

describe('classifyFrame', () => {
  const ctx = { epoch: 4, fencer: null };
  const hello = (role: Role, epoch: number): LoggerMessage => ({
    kind: 'Hello',
    role,
    hostId: 'h',
    epoch,
  });
  it('Hello: the frame epoch must equal the body epoch and the logger epoch', () => {
    expect(
      classifyFrame(ctx, false, {
        type: 'FRAME',
        link: 1,
        role: null,
        epoch: 4,
        msg: hello('nsw', 4),
      }),
    ).toEqual({ kind: 'welcome' });
    expect(
      classifyFrame(ctx, false, {
        type: 'FRAME',
        link: 1,
        role: null,
        epoch: 3,
        msg: hello('nsw', 4),
      }),
    ).toMatchObject({ code: 'badMessage' });
    expect(
      classifyFrame(ctx, false, {
        type: 'FRAME',
        link: 1,
        role: null,
        epoch: 3,
        msg: hello('ssw', 3),
      }),
    ).toMatchObject({ code: 'staleEpoch' });
    expect(
      classifyFrame(ctx, false, {
        type: 'FRAME',
        link: 1,
        role: null,
        epoch: 5,
        msg: hello('ssw', 5),
      }),
    ).toMatchObject({ code: 'futureEpoch' });
    expect(
      classifyFrame(ctx, true, {
        type: 'FRAME',
        link: 1,
        role: null,
        epoch: 4,
        msg: hello('ssw', 4),
      }),
    ).toMatchObject({ code: 'fencing' });
  });
  it('roles: what each may send', () => {
    const v = (role: Role, msg: LoggerMessage) =>
      classifyFrame(ctx, false, { type: 'FRAME', link: 1, role, epoch: 4, msg }).kind;
    expect(
      v('ssw', {
        kind: 'LogSyn',
        conn: 1,
        clientAddr: 1,
        clientPort: 1,
        serverAddr: 1,
        serverPort: 1,
        clientIsn: 1,
        serverIsn: 1,
        clientOpts: { mss: 1, wscale: null, sackOk: false, tsVal: null, tsEcr: null },
        serverOpts: { mss: 1, wscale: null, sackOk: false, tsVal: null, tsEcr: null },
        synTimeMs: 0,
      }),
    ).toBe('store');
    expect(v('nsw', { kind: 'LogDeterminant', detSeq: 0, det: { kind: 'eof', conn: 0 } })).toBe(
      'store',
    );
    expect(v('ssw', { kind: 'LogDeterminant', detSeq: 0, det: { kind: 'eof', conn: 0 } })).toBe(
      'refuse',
    );
    expect(v('ssw', { kind: 'FetchLog', what: 'ssw' })).toBe('fetch');
    expect(v('ssw', { kind: 'FetchLog', what: 'nsw' })).toBe('refuse');
    expect(v('nsw', { kind: 'DetStored', stableDet: 1 })).toBe('refuse');
    expect(v('coordinator', { kind: 'Fence', newEpoch: 5 })).toBe('fence');
    expect(
      v('coordinator', {
        kind: 'LogData',
        conn: 1,
        seq: 1,
        payload: new Uint8Array(0),
        fin: false,
      }),
    ).toBe('refuse');
  });
});
