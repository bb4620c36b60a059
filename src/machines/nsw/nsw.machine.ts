// The NSW's control statechart (spec/nsw.md "Modes and control"). It decides the mode the data
// path follows and reacts to the few events that change it; NswCore (./core.ts) owns an actor
// of it, maps the mode to a data path (./record.ts in recording and live, ./replay.ts in
// replaying) and provides the named actions. Per-event work (each delivery, write, DetStored,
// clock read) never comes here: replay runs hundreds of deliveries per event-loop turn, and
// an actor message each would cost more than the delivery.
//
//   mode:  starting --RECORD--> recording                                (first incarnation)
//          starting --LOG_FETCHED--> replaying --LOG_EXHAUSTED--> live   (R11.6; empty log: live)
//          replaying --APP_DIVERGED--> diverged (R12.2); CONN_DIVERGED stops one connection (R12.1)
//   link:  down --LINK_UP--> up (R3.5: re-send what is unacknowledged) --LINK_DOWN--> down
//          down | up --FENCED--> fenced (R4.7: nothing is released again)
//          down | up --UNPROTECTED--> unprotected (R13.9: the gate is lifted, nothing is logged)
//   input: flowing --HELD_OVER_LIMIT--> paused --HELD_UNDER_LIMIT--> flowing       (R4.6)
//
// No I/O and no context: what the data path needs (positions, buffers, the gate) lives in the
// core's state; the machine keeps only which state it is in.

import { setup } from 'xstate';

export interface NswDivergence {
  /** position in the log where the run left it */
  readonly detSeq: number;
  readonly conn: number | null;
  /** what the application (or the kernel) did */
  readonly actual: string;
  /** what the log has there */
  readonly logged: string;
  readonly message: string;
}

export type NswEvent =
  /** first incarnation: there is no log, record from determinant 0 */
  | { readonly type: 'RECORD' }
  /** a recovering incarnation fetched the log (FetchLog 'nsw') */
  | { readonly type: 'LOG_FETCHED'; readonly logLength: number }
  /** R11.6: the replay consumed the last logged determinant */
  | { readonly type: 'LOG_EXHAUSTED' }
  /** R12.1, R12.3: one connection's output or input left the log; the others go on */
  | { readonly type: 'CONN_DIVERGED'; readonly conn: number; readonly error: NswDivergence }
  /** R12.2: the application's own calls left the log */
  | { readonly type: 'APP_DIVERGED'; readonly error: NswDivergence }
  /** the logger link is up (Welcome pending) / lost */
  | { readonly type: 'LINK_UP' }
  | { readonly type: 'LINK_DOWN' }
  /** the logger refused our epoch (staleEpoch, futureEpoch): a newer incarnation owns it */
  | { readonly type: 'FENCED' }
  /**
   * R13.9: protection is given up for the rest of this incarnation: the SSW of this host went
   * unprotected (spec/ssw.md L.2, L.8; told on the NSW's control channel) or the logger said
   * `Unprotected {scope: app}` (L.7)
   */
  | { readonly type: 'UNPROTECTED'; readonly reason: string }
  /** R4.6: output held for output commit went above / back to its limit */
  | { readonly type: 'HELD_OVER_LIMIT' }
  | { readonly type: 'HELD_UNDER_LIMIT' };

/** The data path a mode selects (see ./core.ts `dataPathOf`). */
export type NswMode = 'starting' | 'recording' | 'replaying' | 'live' | 'diverged';

export const NSW_MODES: readonly NswMode[] = [
  'starting',
  'recording',
  'replaying',
  'live',
  'diverged',
];

const reasonOf = (e: NswEvent): string => (e.type === 'UNPROTECTED' ? e.reason : '');

const announceUnprotected = {
  type: 'announceUnprotected',
  params: ({ event }: { event: NswEvent }) => ({ reason: reasonOf(event) }),
} as const;

const divergenceOf = (e: NswEvent): NswDivergence | undefined =>
  e.type === 'CONN_DIVERGED' || e.type === 'APP_DIVERGED' ? e.error : undefined;

export const nswMachine = setup({
  types: {
    events: {} as NswEvent,
  },
  guards: {
    /** R11.6: a fetched log with no determinant has nothing to replay. */
    logIsEmpty: ({ event }) => event.type === 'LOG_FETCHED' && event.logLength === 0,
  },
  actions: {
    // Effects, provided by the core.
    /** R11.6: kernel input buffered beyond the log is delivered, and logged, as live input */
    takeRestAsLiveInput: () => {},
    /** R11.6: tell the runtime (timeline, 'live' event) */
    announceLive: () => {},
    /** R12.1: drop the connection's held output, release nothing more on it */
    stopConnection: (_, _p: { conn: number; error: NswDivergence }) => {},
    /** R12.2: nothing more is delivered, logged or released; the runtime reports the error */
    stopApplication: (_, _p: { error: NswDivergence }) => {},
    /** R3.5: every determinant sent and not acknowledged goes again */
    resendUnacknowledged: () => {},
    /** R4.7: fenced; nothing is released again and the link is closed */
    releaseNothingMore: () => {},
    /** R13.9: release everything held, log nothing more, close the link */
    liftGate: () => {},
    /** R13.9: tell the runtime (timeline event `unprotected`, log line) */
    announceUnprotected: (_, _p: { reason: string }) => {},
    /** R4.6 */
    pauseInput: () => {},
    resumeInput: () => {},
  },
}).createMachine({
  id: 'nsw',
  type: 'parallel',
  states: {
    mode: {
      initial: 'starting',
      states: {
        // Until the runtime knows whether this incarnation has a log (it asks the logger).
        starting: {
          on: {
            RECORD: { target: 'recording' },
            LOG_FETCHED: [
              {
                guard: 'logIsEmpty',
                target: 'live',
                actions: ['takeRestAsLiveInput', 'announceLive'],
              },
              { target: 'replaying' },
            ],
          },
        },
        recording: {},
        // Divergence is found only here: afterwards there is no log to compare with. A
        // connection stopped here stays stopped when live (the core keeps it).
        replaying: {
          on: {
            LOG_EXHAUSTED: { target: 'live', actions: ['takeRestAsLiveInput', 'announceLive'] },
            CONN_DIVERGED: {
              actions: {
                type: 'stopConnection',
                params: ({ event }) => ({
                  conn: event.type === 'CONN_DIVERGED' ? event.conn : -1,
                  error: divergenceOf(event)!,
                }),
              },
            },
            APP_DIVERGED: {
              target: 'diverged',
              actions: {
                type: 'stopApplication',
                params: ({ event }) => ({ error: divergenceOf(event)! }),
              },
            },
          },
        },
        // A recovered incarnation that caught up with its log: it records again, numbering
        // new determinants from the log's length. Same data path as recording; a separate
        // state because a trace must say which one an incarnation is in.
        live: {},
        diverged: { type: 'final' },
      },
    },
    link: {
      initial: 'down',
      states: {
        down: {
          on: {
            LINK_UP: { target: 'up', actions: 'resendUnacknowledged' },
            FENCED: { target: 'fenced' },
            UNPROTECTED: { target: 'unprotected', actions: announceUnprotected },
          },
        },
        up: {
          on: {
            LINK_DOWN: { target: 'down' },
            FENCED: { target: 'fenced' },
            UNPROTECTED: { target: 'unprotected', actions: announceUnprotected },
          },
        },
        // I5: a newer incarnation owns the service; this one never releases output again.
        fenced: { type: 'final', entry: 'releaseNothingMore' },
        // R13.9: no logger protects this incarnation any more (its log has a gap from here),
        // so holding output for a DetStored would freeze every client for good: everything
        // held goes, and everything after goes at once, unlogged, until the process exits.
        // Final: a log with a gap cannot be resumed; only a checkpoint could re-seed one.
        unprotected: { type: 'final', entry: 'liftGate' },
      },
    },
    input: {
      initial: 'flowing',
      states: {
        flowing: { on: { HELD_OVER_LIMIT: { target: 'paused' } } },
        // Bounded held output without telling the application (write() returns true): the
        // kernel sockets are not read, so nothing new is delivered, so nothing new is logged.
        paused: {
          entry: 'pauseInput',
          exit: 'resumeInput',
          on: { HELD_UNDER_LIMIT: { target: 'flowing' } },
        },
      },
    },
  },
});

/** The mode region of a snapshot value. */
export const modeOf = (value: unknown): NswMode => {
  const m = (value as { mode?: unknown }).mode;
  if (typeof m === 'string' && (NSW_MODES as readonly string[]).includes(m)) return m as NswMode;
  throw new Error(`nsw machine: no mode in ${JSON.stringify(value)}`);
};
