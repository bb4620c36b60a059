// NswCore and its control statechart (spec/nsw.md "Modes and control"): the statechart is
// what decides the mode, the link's state and paused input, and it hears only control
// events: a recording or a replay of hundreds of deliveries sends it a handful of events,
// never one per delivery (the replay's speed depends on it). Then the link rules the core
// carries out for the machine: R3.5 (re-send after a reconnect) and R4.7 (fenced).

import { describe, expect, it } from 'vitest';
import type { InspectionEvent } from 'xstate';
import { dataPathOf, NswCore } from '../../../src/machines/nsw/core.ts';
import { NSW_MODES } from '../../../src/machines/nsw/nsw.machine.ts';
import { RECORD_PATH } from '../../../src/machines/nsw/recordPath.ts';
import { REPLAY_PATH } from '../../../src/machines/nsw/replayPath.ts';
import type { Determinant } from '../../../src/wire/logmsg.ts';
import { Harness, releasedText } from './harness.ts';

const A = 0xc6120002;
const enc = (s: string) => new TextEncoder().encode(s);

/** The event types the statechart received (its start excluded). */
function eventLog(): { types: string[]; inspect: (e: InspectionEvent) => void } {
  const types: string[] = [];
  return {
    types,
    inspect: (e) => {
      if (e.type === '@xstate.event' && e.event.type !== 'xstate.init') types.push(e.event.type);
    },
  };
}

describe('NswCore drives its statechart with control events only', () => {
  it('recording and replaying 300 requests: RECORD, then LOG_FETCHED and LOG_EXHAUSTED', () => {
    const N = 300;
    const recEvents = eventLog();
    const rec = new Harness({ mode: 'recording', inspect: recEvents.inspect });
    rec.perform(rec.core.kernelAccept(1, A, 5000));
    rec.pump();
    for (let i = 0; i < N; i++) {
      rec.perform(rec.core.kernelData(1, enc(`r${i}!`)));
      rec.pump();
      rec.perform(rec.core.detStored(rec.core.detSeq));
    }
    // accept + greeting hash, then read + echo hash + clock + stamp hash per request
    expect(rec.core.detSeq).toBe(2 + 4 * N);
    expect(recEvents.types).toEqual(['RECORD']);

    const log: Determinant[] = rec.logged.map((r) => r.det);
    const repEvents = eventLog();
    const rep = new Harness({ mode: 'replaying', log, inspect: repEvents.inspect });
    rep.perform(rep.core.kernelAccept(7, A, 5000));
    for (let i = 0; i < N; i++) rep.perform(rep.core.kernelData(7, enc(`r${i}!`)));
    rep.pump();
    expect(rep.core.mode).toBe('live');
    expect(rep.deliveries).toEqual(rec.deliveries);
    expect(repEvents.types).toEqual(['LOG_FETCHED', 'LOG_EXHAUSTED']);
  });

  it('each mode selects its data path; recording and live share one', () => {
    const paths = new Map(NSW_MODES.map((m) => [m, dataPathOf(m)]));
    expect(paths.get('recording')).toBe(RECORD_PATH);
    expect(paths.get('live')).toBe(RECORD_PATH);
    expect(paths.get('replaying')).toBe(REPLAY_PATH);
    expect(paths.get('starting')?.input).toBe('refused');
    expect(paths.get('diverged')?.input).toBe('buffered');
  });

  it('refuses input and calls before the mode is known; record() or replay() only once', () => {
    const core = new NswCore();
    expect(core.mode).toBe('starting');
    expect(() => core.kernelAccept(1, A, 1)).toThrow(/before the mode is known/);
    expect(core.record()).toEqual([]);
    expect(core.mode).toBe('recording');
    expect(() => core.record()).toThrow(/record\(\) in recording/);
    expect(() => core.replay([])).toThrow(/replay\(\) in recording/);
  });
});

describe('NswCore logger link (R3.5, R4.7)', () => {
  it('R3.5: after the link comes back, every determinant not acknowledged is sent again', () => {
    const h = new Harness({ mode: 'recording' });
    h.perform(h.core.linkUp());
    expect(h.logged).toEqual([]);
    h.perform(h.core.kernelAccept(1, A, 1));
    h.pump();
    h.perform(h.core.kernelData(1, enc('ab')));
    h.pump();
    const sent = h.logged.length;
    expect(sent).toBe(4); // accept, greeting hash, read, echo hash
    h.perform(h.core.detStored(2));
    h.perform(h.core.linkDown());
    const resent = h.core.linkUp().filter((e) => e.kind === 'log');
    expect(resent.map((e) => (e.kind === 'log' ? e.record.detSeq : -1))).toEqual([2, 3]);
    // A second LINK_UP without a LINK_DOWN between (the link is up) re-sends nothing.
    expect(h.core.linkUp()).toEqual([]);
  });

  it('R4.7: fenced, nothing more is released and the link is closed once', () => {
    const h = new Harness({ mode: 'recording' });
    h.perform(h.core.linkUp());
    h.perform(h.core.kernelAccept(1, A, 1));
    h.pump();
    expect(h.core.fence().map((e) => e.kind)).toEqual(['closeLink']);
    expect(h.core.fenced).toBe(true);
    h.perform(h.core.detStored(h.core.detSeq));
    h.perform(h.core.write(0, enc('late')));
    expect(h.released).toEqual([]);
    expect(h.core.fence()).toEqual([]);
    expect(h.core.linkUp()).toEqual([]);
  });

  it('R13.9: unprotected, everything held goes at once, in order; later output is neither held nor logged', () => {
    const h = new Harness({ mode: 'recording', limits: { maxHeldBytes: 8 } });
    h.perform(h.core.linkUp());
    h.perform(h.core.kernelAccept(1, A, 1));
    h.pump();
    h.perform(h.core.kernelData(1, enc('abcdefghijkl')));
    h.pump();
    // Nothing stored: the greeting and the echo are held, and input paused (R4.6).
    expect(h.released).toEqual([]);
    expect(h.core.heldBytes).toBeGreaterThan(8);
    const fx = h.core.unprotect('ssw unprotected (L.2)');
    h.perform(fx);
    const kinds = fx.map((e) => e.kind);
    // Released first, then the link closed and the announcement (with what was released),
    // then R4.6's resume.
    expect(kinds.filter((k) => k !== 'release')).toEqual([
      'closeLink',
      'unprotected',
      'resumeInput',
    ]);
    expect(fx.find((e) => e.kind === 'unprotected')).toEqual({
      kind: 'unprotected',
      reason: 'ssw unprotected (L.2)',
      released: 'hi0;ABCDEFGHIJKL'.length,
    });
    expect(releasedText(h).get(0)).toBe('hi0;ABCDEFGHIJKL');
    expect(h.core.heldBytes).toBe(0);
    expect(h.core.unprotected).toBe(true);
    const logged = h.logged.length;
    h.perform(h.core.kernelData(1, enc('mn')));
    h.pump();
    h.perform(h.core.kernelEof(1));
    h.pump();
    expect(releasedText(h).get(0)).toBe('hi0;ABCDEFGHIJKLMN|FIN');
    expect(h.logged.length).toBe(logged);
    // For good: no second announcement, no resend on a reconnect, no fencing after it.
    expect(h.core.unprotect('again')).toEqual([]);
    expect(h.core.linkUp()).toEqual([]);
    expect(h.core.fence()).toEqual([]);
    expect(h.core.fenced).toBe(false);
  });

  it('R13.9 after R4.7: a fenced NSW stays fenced (nothing is released)', () => {
    const h = new Harness({ mode: 'recording' });
    h.perform(h.core.kernelAccept(1, A, 1));
    h.pump();
    h.perform(h.core.fence());
    expect(h.core.unprotect('late')).toEqual([]);
    expect(h.core.unprotected).toBe(false);
    expect(h.released).toEqual([]);
  });
});
