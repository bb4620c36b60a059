// Model-based tests of sswConnectionMachine: every edge of the reachable graph is executed
// against a live actor with recording effects; rule assertions run on every step; state and
// transition coverage must be 100%.

import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { connModeOf, sswConnectionMachine } from '../../../src/machines/ssw/connection.machine.ts';
import { runModelBasedTests } from './mbt.ts';

const EFFECTS = [
  'logSyn',
  'holdSynAckUntilSynStored',
  'releaseHeldSynAck',
  'dropHeldSynAck',
  'releaseHeldFin',
  'releaseHeldRst',
  'suppressCrashFin',
  'abortKernelSocket',
  'liftClamps',
  'sendFakeSyn',
  'dropKernelReply',
  'captureSynAckAndTranslate',
  'sendFakeAck',
  'injectLoggedStream',
  'promptClient',
  'resetClient',
  'reportConnClosed',
] as const;

// A FIN/RST at or away from the logged close's position (R5.2), and a CloseLogged that finds
// the held FIN/RST at or away from it: every combination, so the guards are exercised both ways.
const POSITIONED_EVENTS = [
  { type: 'KERNEL_FIN', atClose: false },
  { type: 'KERNEL_FIN', atClose: true },
  { type: 'KERNEL_RST', atClose: false },
  { type: 'KERNEL_RST', atClose: true },
  ...[false, true].flatMap((finAtClose) =>
    [false, true].map((rstAtClose) => ({ type: 'CLOSE_LOGGED', finAtClose, rstAtClose })),
  ),
];

type Snap = {
  value: unknown;
  context: { closeLogged: boolean; finHeld: boolean; rstHeld: boolean; protected: boolean };
};

describe('sswConnectionMachine (model-based)', () => {
  it('covers every state and transition, with the SSW rules holding on every step', async () => {
    const cov = await runModelBasedTests({
      machine: sswConnectionMachine,
      input: { connKey: 'c', protected: true },
      events: POSITIONED_EVENTS,
      effectNames: EFFECTS,
      checkStep: (prevRaw, event, sut, fx) => {
        const prev = prevRaw as Snap;
        const now = sut.actor.getSnapshot() as unknown as Snap & { status: string };
        // R2.3: the held SYN-ACK is released only by SynStored, or by losing the logger (L.2).
        if (fx.includes('releaseHeldSynAck'))
          expect(['SYN_STORED', 'LOGGER_LOST']).toContain(event.type);
        // R5.2 / R5.3: a held FIN or RST is released only once the close is logged, and only
        // if it sits where that close puts it.
        if (fx.includes('releaseHeldFin')) expect(event).toMatchObject({ finAtClose: true });
        if (fx.includes('releaseHeldRst')) expect(event).toMatchObject({ rstAtClose: true });
        // R5.2: a FIN anywhere but at the logged close (a crash FIN) never closes a protected
        // connection, whatever close is logged (tla/ MCBugFinAtAnyPosition).
        if (
          event.type === 'KERNEL_FIN' &&
          !(event as { atClose?: boolean }).atClose &&
          prev.context.protected
        ) {
          expect(now.value).not.toBe('closing');
        }
        // R5.4: the death of the app orphans every protected connection that has not passed
        // the FIN of its logged close, even if the close is logged (its last output may not
        // have reached the kernel), and aborts its kernel socket so the fake SYN (R6.2) finds
        // the 4-tuple free.
        if (event.type === 'APP_EXIT' && typeof prev.value === 'object' && prev.value !== null) {
          const v = prev.value as { established?: string };
          if (v.established === 'protected' || v.established === 'translated') {
            expect(now.value).toBe('orphaned');
            expect(fx).toContain('abortKernelSocket');
          }
        }
        // R5.4: an orphan's FIN/RST is suppressed, never forwarded.
        if (
          prev.value === 'orphaned' &&
          (event.type === 'KERNEL_FIN' || event.type === 'KERNEL_RST')
        ) {
          expect(fx).toEqual(['suppressCrashFin']);
          expect(now.value).toBe('orphaned');
        }
        // R6.3/R6.4/R6.5 in this order: deltas before the fake ACK before injection.
        if (fx.includes('captureSynAckAndTranslate')) {
          expect(fx).toEqual(['captureSynAckAndTranslate', 'sendFakeAck', 'injectLoggedStream']);
        }
        // Every way out reports ConnClosed once, so the logger can free the connection.
        if (now.status === 'done' && (prev as { status?: string }).status !== 'done') {
          expect(fx.filter((f) => f === 'reportConnClosed')).toHaveLength(1);
        }
        // The data-path mode is defined for every state the machine can be in.
        expect(() => connModeOf(now.value)).not.toThrow();
      },
    });
    console.log(
      `sswConnectionMachine: states ${cov.states.covered}/${cov.states.total}, transitions ${cov.transitions.covered}/${cov.transitions.total}, ` +
        `graph edges ${cov.edges.covered}/${cov.edges.total}, ${cov.paths} paths, ${cov.steps} steps`,
    );
    expect(cov.states.missing).toEqual([]);
    expect(cov.transitions.missing).toEqual([]);
    expect(cov.states.covered).toBe(cov.states.total);
    expect(cov.transitions.covered).toBe(cov.transitions.total);
    expect(cov.edges.covered).toBe(cov.edges.total);
  });

  it('the coverage accounting notices a transition that is never taken', async () => {
    // Same machine, but the model may never send CONN_DONE: coverage must drop below 100%.
    const cov = await runModelBasedTests({
      machine: sswConnectionMachine.provide({}),
      input: { connKey: 'c', protected: true },
      events: POSITIONED_EVENTS,
      effectNames: EFFECTS,
      filterEvents: (e) => e.type !== 'CONN_DONE',
    });
    expect(cov.transitions.missing.some((k) => k.includes('CONN_DONE'))).toBe(true);
  });

  it('connModeOf maps every leaf state to its data-path mode', () => {
    const a = createActor(sswConnectionMachine, {
      input: { connKey: 'k', protected: true },
    }).start();
    expect(connModeOf(a.getSnapshot().value)).toBe('listenSynSeen');
    a.send({ type: 'KERNEL_SYN_ACK' });
    expect(connModeOf(a.getSnapshot().value)).toBe('awaitingSynStored');
    a.send({ type: 'SYN_STORED' });
    expect(connModeOf(a.getSnapshot().value)).toBe('protected');
    a.send({ type: 'KERNEL_FIN', atClose: false }); // a crash FIN: held
    expect(connModeOf(a.getSnapshot().value)).toBe('protected');
    a.send({ type: 'CLOSE_LOGGED', finAtClose: false, rstAtClose: false }); // not its close
    expect(connModeOf(a.getSnapshot().value)).toBe('protected');
    a.send({ type: 'APP_EXIT' });
    expect(connModeOf(a.getSnapshot().value)).toBe('orphaned');
    a.send({ type: 'RECOVER' });
    expect(connModeOf(a.getSnapshot().value)).toBe('awaitSynAck');
    a.send({ type: 'KERNEL_SYN_ACK' });
    expect(connModeOf(a.getSnapshot().value)).toBe('injecting');
    a.send({ type: 'INJECTION_DONE' });
    expect(connModeOf(a.getSnapshot().value)).toBe('translated');
    expect(() => connModeOf({ nowhere: 'x' })).toThrow();
  });
});
