// Model-based test of the NSW's control statechart (spec/nsw.md "Modes and control"): every
// reachable (state, event) edge over the mode (R11.6, R12.1, R12.2), the logger link (R3.5,
// R4.7, R13.9) and input (R4.6) events; 100% state and transition coverage is asserted (harness:
// test/machines/recovery/mbt.ts). The oracle, independent of the machine, checks on every step
// which effects a step must have had, from the previous state and the event alone.

import { describe, expect, it } from 'vitest';
import type { EventObject } from 'xstate';
import {
  modeOf,
  type NswDivergence,
  type NswEvent,
  nswMachine,
} from '../../../src/machines/nsw/nsw.machine.ts';
import { runModel } from '../recovery/mbt.ts';

type Value = { mode: string; link: string; input: string };

interface Rec {
  /** every effect, in order, as `name` or `name:conn` */
  fx: string[];
  /** effects already checked by an earlier step */
  seen: number;
  prev: Value;
}

const err = (conn: number | null): NswDivergence => ({
  detSeq: 3,
  conn,
  actual: 'a',
  logged: 'b',
  message: 'm',
});

const EVENTS: NswEvent[] = [
  { type: 'RECORD' },
  { type: 'LOG_FETCHED', logLength: 0 },
  { type: 'LOG_FETCHED', logLength: 3 },
  { type: 'LOG_EXHAUSTED' },
  { type: 'CONN_DIVERGED', conn: 1, error: err(1) },
  { type: 'APP_DIVERGED', error: err(null) },
  { type: 'LINK_UP' },
  { type: 'LINK_DOWN' },
  { type: 'FENCED' },
  { type: 'UNPROTECTED', reason: 'ssw unprotected' },
  { type: 'HELD_OVER_LIMIT' },
  { type: 'HELD_UNDER_LIMIT' },
];

const INITIAL: Value = { mode: 'starting', link: 'down', input: 'flowing' };

/** What a step must do, from the state before it and the event alone. */
function expectedStep(prev: Value, e: NswEvent): { next: Value; fx: string[] } {
  const next = { ...prev };
  const fx: string[] = [];
  const goLive = (): void => {
    next.mode = 'live';
    fx.push('takeRestAsLiveInput', 'announceLive');
  };
  switch (e.type) {
    case 'RECORD':
      if (prev.mode === 'starting') next.mode = 'recording';
      break;
    case 'LOG_FETCHED':
      if (prev.mode === 'starting') {
        if (e.logLength === 0) goLive();
        else next.mode = 'replaying';
      }
      break;
    case 'LOG_EXHAUSTED':
      if (prev.mode === 'replaying') goLive();
      break;
    case 'CONN_DIVERGED':
      // R12.1: divergence exists only while there is a log to compare with.
      if (prev.mode === 'replaying') fx.push(`stopConnection:${e.conn}`);
      break;
    case 'APP_DIVERGED':
      if (prev.mode === 'replaying') {
        next.mode = 'diverged';
        fx.push('stopApplication');
      }
      break;
    case 'LINK_UP':
      if (prev.link === 'down') {
        next.link = 'up';
        fx.push('resendUnacknowledged');
      }
      break;
    case 'LINK_DOWN':
      if (prev.link === 'up') next.link = 'down';
      break;
    case 'UNPROTECTED':
      // R13.9: from down or up only; fenced and unprotected are both for good.
      if (prev.link === 'down' || prev.link === 'up') {
        next.link = 'unprotected';
        fx.push(`announceUnprotected:${e.reason}`, 'liftGate');
      }
      break;
    case 'FENCED':
      if (prev.link === 'down' || prev.link === 'up') {
        next.link = 'fenced';
        fx.push('releaseNothingMore');
      }
      break;
    case 'HELD_OVER_LIMIT':
      if (prev.input === 'flowing') {
        next.input = 'paused';
        fx.push('pauseInput');
      }
      break;
    case 'HELD_UNDER_LIMIT':
      if (prev.input === 'paused') {
        next.input = 'flowing';
        fx.push('resumeInput');
      }
      break;
  }
  return { next, fx };
}

/** Recording fakes of the machine's effects; `announce` false is a broken announceLive. */
const recording = (rec: Rec, announce: boolean) => ({
  takeRestAsLiveInput: () => rec.fx.push('takeRestAsLiveInput'),
  announceLive: () => {
    if (announce) rec.fx.push('announceLive');
  },
  stopConnection: (_: unknown, p: { conn: number; error: NswDivergence }) => {
    expect(p.error.conn).toBe(p.conn);
    rec.fx.push(`stopConnection:${p.conn}`);
  },
  stopApplication: (_: unknown, p: { error: NswDivergence }) => {
    expect(p.error.conn).toBeNull();
    rec.fx.push('stopApplication');
  },
  resendUnacknowledged: () => rec.fx.push('resendUnacknowledged'),
  releaseNothingMore: () => rec.fx.push('releaseNothingMore'),
  announceUnprotected: (_: unknown, p: { reason: string }) =>
    rec.fx.push(`announceUnprotected:${p.reason}`),
  liftGate: () => rec.fx.push('liftGate'),
  pauseInput: () => rec.fx.push('pauseInput'),
  resumeInput: () => rec.fx.push('resumeInput'),
});

/** After each step: the new state and the step's effects are the ones the oracle says. */
function checkStep(now: Value, event: NswEvent, rec: Rec): void {
  const fx = rec.fx.slice(rec.seen);
  rec.seen = rec.fx.length;
  const want = expectedStep(rec.prev, event);
  expect(now).toEqual(want.next);
  expect(fx).toEqual(want.fx);
  expect(modeOf(now)).toBe(now.mode);
  rec.prev = now;
}

describe('nswMachine (model-based)', () => {
  it('covers every state and transition; each step has exactly the effects its rule names', async () => {
    const cov = await runModel<Rec>(nswMachine, {
      inputs: [undefined],
      eventTypes: [...new Set(EVENTS.map((e) => e.type))],
      events: () => EVENTS as EventObject[],
      serializeState: (s) => JSON.stringify(s.value),
      newRecorder: () => ({ fx: [], seen: 0, prev: INITIAL }),
      provide: (rec) => nswMachine.provide({ actions: recording(rec, true) }),
      check: ({ actual, event, rec }) => checkStep(actual.value as Value, event as NswEvent, rec),
    });
    console.log(
      `nswMachine coverage: states ${cov.states.covered}/${cov.states.total}, transitions ${cov.transitions.covered}/${cov.transitions.total}, ${cov.paths} paths, ${cov.edges} edges`,
    );
    expect(cov.states.missing).toEqual([]);
    expect(cov.transitions.missing).toEqual([]);
    expect(cov.states.covered).toBe(cov.states.total);
    expect(cov.transitions.covered).toBe(cov.transitions.total);
  });

  it('the oracle catches a machine that breaks a rule (one that never announces live)', async () => {
    const run = (announce: boolean) =>
      runModel<Rec>(nswMachine, {
        inputs: [undefined],
        eventTypes: [...new Set(EVENTS.map((e) => e.type))],
        events: () => EVENTS as EventObject[],
        serializeState: (s) => JSON.stringify(s.value),
        newRecorder: () => ({ fx: [], seen: 0, prev: INITIAL }),
        provide: (rec) => nswMachine.provide({ actions: recording(rec, announce) }),
        check: ({ actual, event, rec }) => checkStep(actual.value as Value, event as NswEvent, rec),
      });
    await expect(run(false)).rejects.toThrow();
    await expect(run(true)).resolves.toBeDefined();
  });

  it('modeOf reads the mode region and refuses anything else', () => {
    expect(modeOf({ mode: 'live', link: 'up', input: 'paused' })).toBe('live');
    expect(() => modeOf({ link: 'up' })).toThrow(/no mode/);
    expect(() => modeOf('recording')).toThrow(/no mode/);
  });
});
