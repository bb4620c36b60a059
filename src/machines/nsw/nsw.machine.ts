// The NSW's control statechart (spec/nsw.md): its modes and the output-commit gate, built from
// the same pure functions as NswCore (./determinants.ts, ./gate.ts). NswCore is what the
// runtime drives per event (no actor send on the data path); this machine is the model of the
// same rules: it is what the model-based test explores edge by edge, what the diagrams are
// generated from, and what spec/traceability.md cites for R3, R4, R11, R12.
//
//   starting --RECORD--> recording            (first incarnation)
//   starting --LOG_FETCHED--> replaying --(log exhausted)--> live
//   replaying --(DIVERGED conn=null)--> diverged (final); DIVERGED conn=c stops c only
//
// Effects are named actions: `logDeterminant` (send LogDeterminant), `releaseOutput` (perform
// on the kernel socket), `stopConnection`, `stopApplication`, `announceLive`.

import { assign, setup } from 'xstate';
import type { Determinant } from '../../wire/logmsg.ts';
import { appendDeterminant, type DetLogState, type DetRecord } from './determinants.ts';
import { type GatedOutput, type OutputAction, releasableWrites } from './gate.ts';

export interface NswContext {
  readonly detLog: DetLogState;
  readonly stableDet: number;
  /** output held by the gate, oldest first */
  readonly queue: readonly GatedOutput[];
  /** connections stopped by a divergence (R12) */
  readonly stopped: readonly number[];
  /** logged determinants the replay has still to consume */
  readonly replayLeft: number;
}

export type NswEvent =
  /** first incarnation: there is no log, record from determinant 0 */
  | { readonly type: 'RECORD' }
  /** a recovering incarnation fetched the log (FetchLog 'nsw'): replay its determinants */
  | { readonly type: 'LOG_FETCHED'; readonly logLength: number }
  /** recording/live: the application saw a nondeterministic result (or wrote: outputHash) */
  | { readonly type: 'APPEND'; readonly det: Determinant }
  /** the application made output on `conn` */
  | { readonly type: 'OUTPUT'; readonly conn: number; readonly action: OutputAction }
  /** the logger stored every determinant below `stableDet` */
  | { readonly type: 'DET_STORED'; readonly stableDet: number }
  /** replay consumed one logged determinant */
  | { readonly type: 'REPLAY_CONSUMED' }
  /** replay found the run leaving the log: one connection, or (null) the whole application */
  | { readonly type: 'DIVERGED'; readonly conn: number | null; readonly reason: string };

// Guards and updates as plain functions of (context, event), unit-testable on their own.

/** A DetStored that moves the stable point forward, and only over determinants we appended. */
export const advancesStableDet = (ctx: NswContext, e: NswEvent): boolean =>
  e.type === 'DET_STORED' && e.stableDet > ctx.stableDet && e.stableDet <= ctx.detLog.detSeq;

export const isConnDivergence = (e: NswEvent): boolean => e.type === 'DIVERGED' && e.conn !== null;
export const isAppDivergence = (e: NswEvent): boolean => e.type === 'DIVERGED' && e.conn === null;

/** R4: queue the action behind every determinant appended before it, then release what may go. */
export function gateOutput(
  ctx: NswContext,
  conn: number,
  action: OutputAction,
): { ctx: NswContext; release: GatedOutput[] } {
  if (ctx.stopped.includes(conn)) return { ctx, release: [] };
  const queue = [...ctx.queue, { conn, needDet: ctx.detLog.gateDet, action }];
  const { release, keep } = releasableWrites(queue, ctx.stableDet);
  return { ctx: { ...ctx, queue: keep }, release: [...release] };
}

export const nswMachine = setup({
  types: {
    context: {} as NswContext,
    events: {} as NswEvent,
  },
  guards: {
    emptyLog: ({ event }) => event.type === 'LOG_FETCHED' && event.logLength === 0,
    advancesStableDet: ({ context, event }) => advancesStableDet(context, event),
    isConnDivergence: ({ event }) => isConnDivergence(event),
    isAppDivergence: ({ event }) => isAppDivergence(event),
    stillReplaying: ({ context }) => context.replayLeft > 1,
  },
  actions: {
    logDeterminant: (_, _p: { record: DetRecord }) => {},
    releaseOutput: (_, _p: { output: readonly GatedOutput[] }) => {},
    stopConnection: (_, _p: { conn: number; reason: string }) => {},
    stopApplication: (_, _p: { reason: string }) => {},
    announceLive: () => {},
  },
}).createMachine({
  id: 'nsw',
  context: {
    detLog: { detSeq: 0, gateDet: 0 },
    stableDet: 0,
    queue: [],
    stopped: [],
    replayLeft: 0,
  },
  initial: 'starting',
  states: {
    // Until the runtime knows whether this incarnation has a log (it asks the logger first).
    starting: {
      on: {
        RECORD: { target: 'recorder.recording' },
        LOG_FETCHED: [
          { guard: 'emptyLog', target: 'recorder.live', actions: 'announceLive' },
          {
            target: 'replaying',
            // Everything in a fetched log is stored at the logger by definition; new
            // determinants continue the numbering after it.
            actions: assign(({ event }) => {
              const n = event.logLength;
              return { detLog: { detSeq: n, gateDet: n }, stableDet: n, replayLeft: n };
            }),
          },
        ],
      },
    },
    // Divergence is found only while replaying: afterwards there is no log to compare with.
    // A connection stopped here stays stopped when live (context.stopped).
    replaying: {
      on: {
        DIVERGED: [
          {
            guard: 'isAppDivergence',
            target: '#nsw.diverged',
            actions: {
              type: 'stopApplication',
              params: ({ event }) => ({ reason: reasonOf(event) }),
            },
          },
          {
            guard: 'isConnDivergence',
            actions: [
              assign(({ context, event }) => {
                const conn = event.type === 'DIVERGED' ? (event.conn ?? -1) : -1;
                return {
                  stopped: context.stopped.includes(conn)
                    ? context.stopped
                    : [...context.stopped, conn],
                  // Its held output is dropped: a diverged stream must not reach the client.
                  queue: context.queue.filter((o) => o.conn !== conn),
                };
              }),
              {
                type: 'stopConnection',
                params: ({ event }) => ({
                  conn: event.type === 'DIVERGED' ? (event.conn ?? -1) : -1,
                  reason: reasonOf(event),
                }),
              },
            ],
          },
        ],
        REPLAY_CONSUMED: [
          {
            guard: 'stillReplaying',
            actions: assign(({ context }) => ({ replayLeft: context.replayLeft - 1 })),
          },
          { target: 'recorder.live', actions: [assign({ replayLeft: 0 }), 'announceLive'] },
        ],
        OUTPUT: {
          // Replayed determinants are all stored: output made during replay passes the gate
          // at once (the SSW drops what the client already has, R6.6).
          actions: [
            {
              type: 'releaseOutput',
              params: ({ context, event }) => ({
                output: gateOutput(context, event.conn, event.action).release,
              }),
            },
            assign(({ context, event }) => gateOutput(context, event.conn, event.action).ctx),
          ],
        },
      },
    },
    // Recording (first incarnation) and live (after a replay) follow the same rules; they are
    // two states because a trace must say which one an incarnation is in.
    recorder: {
      initial: 'recording',
      on: {
        APPEND: {
          actions: [
            {
              type: 'logDeterminant',
              params: ({ context, event }) => ({
                record: appendDeterminant(context.detLog, event.det).record,
              }),
            },
            assign(({ context, event }) => ({
              detLog: appendDeterminant(context.detLog, event.det).state,
            })),
          ],
        },
        OUTPUT: {
          actions: [
            {
              type: 'releaseOutput',
              params: ({ context, event }) => ({
                output: gateOutput(context, event.conn, event.action).release,
              }),
            },
            assign(({ context, event }) => gateOutput(context, event.conn, event.action).ctx),
          ],
        },
        DET_STORED: {
          guard: 'advancesStableDet',
          actions: [
            {
              type: 'releaseOutput',
              params: ({ context, event }) => ({
                output: releasableWrites(context.queue, event.stableDet).release,
              }),
            },
            assign(({ context, event }) => ({
              stableDet: event.stableDet,
              queue: releasableWrites(context.queue, event.stableDet).keep,
            })),
          ],
        },
      },
      states: {
        recording: {},
        live: {},
      },
    },
    diverged: { type: 'final' },
  },
});

function reasonOf(e: NswEvent): string {
  return e.type === 'DIVERGED' ? e.reason : '';
}
