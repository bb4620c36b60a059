// Chaos schedules (src/runtime/lab/failure/chaos.ts) are walks through the failure model: for
// any draws fast-check makes (and any it shrinks to), the schedule starts with a fresh lab,
// takes only transitions the model has, and ends where a recovery is over.
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  CHAOS_LIMITS,
  drawsArb,
  formatSchedule,
  replayCommand,
  scheduleOf,
} from '../../src/runtime/lab/failure/chaos.ts';
import { failureModel, isRestState } from '../../src/runtime/lab/failure/model.ts';
import { modelGraph, step } from '../../src/runtime/lab/failure/paths.ts';

const g = modelGraph(failureModel);

describe('chaos schedules', () => {
  test.prop([drawsArb()])('are walks of the model from a fresh lab to rest', (draws) => {
    const s = scheduleOf(g, draws);
    expect(s[0]?.event).toBe('SETUP');
    let at = 'init';
    for (const x of s) {
      const next = step(failureModel, at, { type: x.event });
      expect(next, `${at} --${x.event}`).toBeDefined();
      at = next?.to ?? at;
      expect(x.knob).toBeGreaterThanOrEqual(0);
      expect(x.knob).toBeLessThanOrEqual(99);
    }
    expect(isRestState(at)).toBe(true);
    // Drawn steps, then at most the longest way back to rest (a failover: 7 steps).
    expect(s.length).toBeLessThanOrEqual(1 + CHAOS_LIMITS.maxSteps + 7);
  });

  it('means the same schedule for the same draws, and a knob shows where it is not the middle', () => {
    const draws = [
      { pick: 0, knob: 10 },
      { pick: 3, knob: 50 },
      { pick: 7, knob: 99 },
    ];
    expect(scheduleOf(g, draws)).toEqual(scheduleOf(g, draws));
    const text = formatSchedule(scheduleOf(g, draws));
    expect(text.startsWith('SETUP ')).toBe(true);
    expect(text).toMatch(/\(10\)/);
    expect(replayCommand(7, '3:1')).toBe('npm run chaos -- --seed 7 --path 3:1');
  });

  it('reaches faults of every kind within a few hundred draws', () => {
    const seen = new Set<string>();
    for (const draws of fc.sample(drawsArb(), { seed: 1, numRuns: 300 }))
      for (const x of scheduleOf(g, draws)) seen.add(x.event);
    for (const e of [
      'HOST_CRASH',
      'APP_CRASH',
      'CRASH_MID_REPLAY',
      'LOSS_BURST',
      'PARTITION',
      'DUP_BURST',
      'STOP_READING',
      'HALF_CLOSE',
    ])
      expect(seen.has(e), e).toBe(true);
  });
});
