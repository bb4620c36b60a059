// The logger's control statechart (spec/logger.md): which frames it takes, when it fences,
// and what it does at a limit. Data never lives here: the store (./store.ts) holds it, and the
// per-message work is a named action (`storeMessage`, `applyHint`, `streamLog`, ...) provided
// by whoever owns the store (./core.ts for the daemon, recording fakes in tests).
//
//   serving.accepting --HIGH_WATER--> serving.checkpointAsked                        (R15.1)
//   serving.{accepting,checkpointAsked} --STORE_FULL--> serving.awaitingCheckpoint   (R15.2)
//                                                    | serving.accepting (conn given up, R15.4)
//                                                    | serving.unprotected          (R15.4)
//                                                    | serving.backpressured        (R15.5)
//   serving.awaitingCheckpoint --CHECKPOINT_STORED / _TIMEOUT / _REFUSED--> ...     (R15.3)
//   serving.* --FRAME Fence(newEpoch > epoch)--> fencing --LINKS_CLOSED--> serving
//
// R8.2: the epoch moves only on a Fence from the coordinator. It moves on *entering* fencing,
// so from that instant every frame of an older epoch is refused (`staleEpoch`), before the old
// links are even closed; `Fenced` is sent only once the runtime reports them closed, so when
// the coordinator hears `Fenced` nothing of the old epoch can be stored or acknowledged any
// more: the old primary can neither log nor commit output (R8.3).
//
// R15: a limit never stalls the service without end. The machine decides between waiting
// (bounded) for a checkpoint, giving one connection up, giving the application's log up, and
// (only with peers too old to be told) the lossless stall of before; the core supplies the
// facts the guards need (is a checkpointing NSW connected, can a peer be told) in the events.

import { match } from 'ts-pattern';
import { assign, setup } from 'xstate';
import type {
  LimitName,
  LoggerErrorCode,
  LoggerMessage,
  Role,
  UnprotectedReason,
} from '../../wire/logmsg.ts';
import { classifyFrame, type FrameVerdict, frameVerdict } from './classifyFrame.ts';
import type { FrameEvent, LoggerContext, LoggerEvent, LoggerInput } from './events.ts';

const verdictOf = (ctx: LoggerContext, fencing: boolean, e: LoggerEvent): FrameVerdict | null =>
  e.type === 'FRAME' ? frameVerdict(ctx, fencing, e) : null;

const is =
  (kind: FrameVerdict['kind'], fencing: boolean) =>
  ({ context, event }: { context: LoggerContext; event: LoggerEvent }): boolean =>
    verdictOf(context, fencing, event)?.kind === kind;

const frameOf = (e: LoggerEvent): FrameEvent => {
  if (e.type !== 'FRAME') throw new Error(`logger machine: ${e.type} where a FRAME was expected`);
  return e;
};

type Ev<T extends LoggerEvent['type']> = Extract<LoggerEvent, { type: T }>;
const as = <T extends LoggerEvent['type']>(e: LoggerEvent, type: T): Ev<T> => {
  if (e.type !== type) throw new Error(`logger machine: ${e.type} where ${type} was expected`);
  return e as Ev<T>;
};

/** Parameters of `giveUp` (R15.4 app scope), from the event that ends protection. */
const giveUpParams = ({
  event,
}: {
  event: LoggerEvent;
}): { reason: UnprotectedReason; limit: LimitName | null } =>
  match(event)
    .with({ type: 'STORE_FULL' }, (e) => ({ reason: 'storeFull' as const, limit: e.limit }))
    .with({ type: 'CHECKPOINT_REFUSED' }, (e) => ({
      reason:
        e.reason === 'tooLarge' ? ('checkpointTooLarge' as const) : ('checkpointRefused' as const),
      limit: null,
    }))
    .otherwise(() => ({ reason: 'noCheckpoint' as const, limit: null }));

/** STORE_FULL in accepting and checkpointAsked: R15.2 (wait), R15.4 (conn, app), R15.5 (stall). */
const storeFullTransitions = [
  { guard: 'checkpointerConnected', target: 'awaitingCheckpoint' },
  {
    guard: 'connCanBeGivenUp',
    target: 'accepting',
    actions: {
      type: 'abandonConn',
      params: ({ event }: { event: LoggerEvent }) => {
        const e = as(event, 'STORE_FULL');
        return { conn: e.conn ?? 0, limit: e.limit };
      },
    },
  },
  {
    guard: 'peersCanBeTold',
    target: 'unprotected',
    actions: ['markUnprotected', { type: 'giveUp', params: giveUpParams }],
  },
  {
    target: 'backpressured',
    actions: {
      type: 'stallWithoutEnd',
      params: ({ event }: { event: LoggerEvent }) => ({ limit: as(event, 'STORE_FULL').limit }),
    },
  },
] as const;

export const loggerMachine = setup({
  types: {
    context: {} as LoggerContext,
    events: {} as LoggerEvent,
    input: {} as LoggerInput,
  },
  guards: {
    welcome: is('welcome', false),
    welcomeWhileFencing: is('welcome', true),
    fenceToNewerEpoch: is('fence', false),
    fenceToNewerEpochWhileFencing: is('fence', true),
    fenceRepeat: is('fenceRepeat', false),
    fenceRepeatWhileFencing: is('fenceRepeat', true),
    storeFrame: is('store', false),
    hintFrame: is('hint', false),
    checkpointFrame: is('checkpoint', false),
    fetchFrame: is('fetch', false),
    refuseFrame: is('refuse', false),
    refuseWhileFencing: is('refuse', true),
    linksOfOldEpochsClosed: ({ context, event }) =>
      event.type === 'LINKS_CLOSED' && event.epoch === context.epoch,
    linksClosedWhileUnprotected: ({ context, event }) =>
      event.type === 'LINKS_CLOSED' && event.epoch === context.epoch && context.unprotected,
    // R15.1, R15.2: a checkpoint can be asked for.
    checkpointerConnected: ({ event }) =>
      (event.type === 'HIGH_WATER' || event.type === 'STORE_FULL') && event.checkpointer,
    // R15.4 conn scope: an unrecorded log, a connection's message, and the SSW can be told.
    connCanBeGivenUp: ({ event }) =>
      event.type === 'STORE_FULL' && event.conn !== null && event.tellable,
    // R15.4 app scope needs someone to tell; R15.5 otherwise.
    peersCanBeTold: ({ event }) => event.type === 'STORE_FULL' && event.tellable,
    // R15.3
    roomAgain: ({ event }) => event.type === 'CHECKPOINT_STORED' && !event.full,
    freedSome: ({ event }) => event.type === 'CHECKPOINT_STORED' && event.freed > 0,
    belowHighWater: ({ event }) => event.type === 'CHECKPOINT_STORED' && !event.aboveHighWater,
    timeoutIsCurrent: ({ context, event }) =>
      event.type === 'CHECKPOINT_TIMEOUT' && event.ask === context.ask,
  },
  actions: {
    // Effects, provided by the owner of the links and the store. Parameters are computed here
    // so that the provider does no protocol reasoning of its own.
    welcome: (_, _p: { link: number; role: Role | null }) => {},
    refuse: (_, _p: { link: number; code: LoggerErrorCode; detail: string }) => {},
    storeMessage: (_, _p: { link: number; msg: LoggerMessage }) => {},
    parkMessage: (_, _p: { link: number; msg: LoggerMessage }) => {},
    applyHint: (_, _p: { link: number; msg: LoggerMessage }) => {},
    takeCheckpointFrame: (_, _p: { link: number; msg: LoggerMessage }) => {},
    streamLog: (_, _p: { link: number; what: 'ssw' | 'nsw' }) => {},
    closeLinksBelow: (_, _p: { epoch: number }) => {},
    replyFenced: (_, _p: { link: number | null; epoch: number }) => {},
    /** stop reading the SSW links, and NSW links too unless `nsw` (R15.2 keeps them read) */
    pauseIntake: (_, _p: { nsw: boolean }) => {},
    resumeIntake: () => {},
    /** R15.1, R15.2: send CheckpointWanted and arm the timer for generation `ask` */
    askForCheckpoint: (_, _p: { ask: number; reason: 'highWater' | 'atLimit' }) => {},
    /** R15.4 conn scope */
    abandonConn: (_, _p: { conn: number; limit: LimitName }) => {},
    /** R15.4 app scope: drop the log, tell the peers, discard parked, resume the links */
    giveUp: (_, _p: { reason: UnprotectedReason; limit: LimitName | null }) => {},
    /** R15.4: a store message after the log was given up: dropped (the link is told once) */
    discardMessage: (_, _p: { link: number; msg: LoggerMessage }) => {},
    /** R15.5: nobody can be told; log why the logger stalls */
    stallWithoutEnd: (_, _p: { limit: LimitName }) => {},
    markUnprotected: assign({ unprotected: true }),
  },
}).createMachine({
  id: 'logger',
  context: ({ input }) => ({ epoch: input.epoch, fencer: null, ask: 0, unprotected: false }),
  initial: 'serving',
  states: {
    serving: {
      initial: 'accepting',
      on: {
        FRAME: [
          // R8.2: the epoch moves at once; `Fenced` waits for the old links to be closed.
          {
            guard: 'fenceToNewerEpoch',
            target: 'fencing',
            actions: [
              assign(({ context, event }) => {
                const v = frameVerdict(context, false, frameOf(event));
                return {
                  epoch: v.kind === 'fence' ? v.newEpoch : context.epoch,
                  fencer: frameOf(event).link,
                };
              }),
              { type: 'closeLinksBelow', params: ({ context }) => ({ epoch: context.epoch }) },
            ],
          },
          {
            guard: 'fenceRepeat',
            actions: {
              type: 'replyFenced',
              params: ({ context, event }) => ({ link: frameOf(event).link, epoch: context.epoch }),
            },
          },
          {
            guard: 'welcome',
            actions: {
              type: 'welcome',
              params: ({ event }) => {
                const f = frameOf(event);
                return { link: f.link, role: f.msg.kind === 'Hello' ? f.msg.role : null };
              },
            },
          },
          {
            guard: 'hintFrame',
            actions: {
              type: 'applyHint',
              params: ({ event }) => ({ link: frameOf(event).link, msg: frameOf(event).msg }),
            },
          },
          {
            // R14.1: checkpoint frames are never parked (their own budget, R14.7).
            guard: 'checkpointFrame',
            actions: {
              type: 'takeCheckpointFrame',
              params: ({ event }) => ({ link: frameOf(event).link, msg: frameOf(event).msg }),
            },
          },
          {
            guard: 'fetchFrame',
            actions: {
              type: 'streamLog',
              params: ({ event }) => {
                const f = frameOf(event);
                return { link: f.link, what: f.msg.kind === 'FetchLog' ? f.msg.what : 'ssw' };
              },
            },
          },
          {
            guard: 'refuseFrame',
            actions: {
              type: 'refuse',
              params: ({ context, event }) =>
                refusal(frameVerdict(context, false, frameOf(event)), frameOf(event).link),
            },
          },
        ],
      },
      states: {
        accepting: {
          on: {
            FRAME: {
              guard: 'storeFrame',
              actions: {
                type: 'storeMessage',
                params: ({ event }) => ({ link: frameOf(event).link, msg: frameOf(event).msg }),
              },
            },
            HIGH_WATER: { guard: 'checkpointerConnected', target: 'checkpointAsked' },
            STORE_FULL: [...storeFullTransitions],
          },
        },
        checkpointAsked: {
          // R15.1: still storing; at most one CheckpointWanted per checkpointWaitMs.
          entry: [
            assign({ ask: ({ context }) => context.ask + 1 }),
            {
              type: 'askForCheckpoint',
              params: ({ context }) => ({ ask: context.ask, reason: 'highWater' as const }),
            },
          ],
          on: {
            FRAME: {
              guard: 'storeFrame',
              actions: {
                type: 'storeMessage',
                params: ({ event }) => ({ link: frameOf(event).link, msg: frameOf(event).msg }),
              },
            },
            CHECKPOINT_STORED: { guard: 'belowHighWater', target: 'accepting' },
            CHECKPOINT_TIMEOUT: { guard: 'timeoutIsCurrent', target: 'accepting' },
            STORE_FULL: [...storeFullTransitions],
          },
        },
        awaitingCheckpoint: {
          // R15.2: bounded. The SSW links are paused; NSW links stay read so that the
          // checkpoint can arrive behind the determinants already sent (they park).
          entry: [
            assign({ ask: ({ context }) => context.ask + 1 }),
            { type: 'pauseIntake', params: { nsw: false } },
            {
              type: 'askForCheckpoint',
              params: ({ context }) => ({ ask: context.ask, reason: 'atLimit' as const }),
            },
          ],
          exit: 'resumeIntake',
          on: {
            FRAME: {
              guard: 'storeFrame',
              actions: {
                type: 'parkMessage',
                params: ({ event }) => ({ link: frameOf(event).link, msg: frameOf(event).msg }),
              },
            },
            CHECKPOINT_STORED: [
              { guard: 'roomAgain', target: 'accepting' },
              // R15.3: the application is consuming its input; the next checkpoint frees more.
              { guard: 'freedSome', target: 'awaitingCheckpoint', reenter: true },
              {
                target: 'unprotected',
                actions: ['markUnprotected', { type: 'giveUp', params: giveUpParams }],
              },
            ],
            CHECKPOINT_TIMEOUT: {
              guard: 'timeoutIsCurrent',
              target: 'unprotected',
              actions: ['markUnprotected', { type: 'giveUp', params: giveUpParams }],
            },
            CHECKPOINT_REFUSED: {
              target: 'unprotected',
              actions: ['markUnprotected', { type: 'giveUp', params: giveUpParams }],
            },
            SPACE_FREED: { target: 'accepting' },
          },
        },
        backpressured: {
          // R15.5: bounded memory without loss, and without end: only for peers too old to be
          // told (no Capabilities). Intake pauses, TCP flow control stalls the senders, and
          // nothing beyond the store is acked, until an operator raises the limits.
          entry: { type: 'pauseIntake', params: { nsw: true } },
          exit: 'resumeIntake',
          on: {
            FRAME: {
              guard: 'storeFrame',
              actions: {
                type: 'parkMessage',
                params: ({ event }) => ({ link: frameOf(event).link, msg: frameOf(event).msg }),
              },
            },
            SPACE_FREED: { target: 'accepting' },
          },
        },
        unprotected: {
          // R15.4: nothing is stored any more; nothing can be recovered.
          on: {
            FRAME: [
              {
                guard: 'storeFrame',
                actions: {
                  type: 'discardMessage',
                  params: ({ event }) => ({ link: frameOf(event).link, msg: frameOf(event).msg }),
                },
              },
              {
                // Hints name records that are gone; Capabilities still say who can be told.
                guard: 'hintFrame',
                actions: {
                  type: 'discardMessage',
                  params: ({ event }) => ({ link: frameOf(event).link, msg: frameOf(event).msg }),
                },
              },
              {
                guard: 'checkpointFrame',
                actions: {
                  type: 'discardMessage',
                  params: ({ event }) => ({ link: frameOf(event).link, msg: frameOf(event).msg }),
                },
              },
              {
                guard: 'fetchFrame',
                actions: {
                  type: 'refuse',
                  params: ({ event }) => ({
                    link: frameOf(event).link,
                    code: 'unprotected' as const,
                    detail: 'the log was given up (R15.4): nothing can be recovered',
                  }),
                },
              },
            ],
          },
        },
      },
    },
    fencing: {
      on: {
        FRAME: [
          {
            // A coordinator that restarted recovery (R10) may fence again, further.
            guard: 'fenceToNewerEpochWhileFencing',
            target: 'fencing',
            reenter: true,
            actions: [
              assign(({ context, event }) => {
                const v = classifyFrame(context, true, frameOf(event));
                return {
                  epoch: v.kind === 'fence' ? v.newEpoch : context.epoch,
                  fencer: frameOf(event).link,
                };
              }),
              { type: 'closeLinksBelow', params: ({ context }) => ({ epoch: context.epoch }) },
            ],
          },
          {
            // The same Fence again: `Fenced` goes to the newest asker when fencing completes.
            guard: 'fenceRepeatWhileFencing',
            actions: assign(({ event }) => ({ fencer: frameOf(event).link })),
          },
          {
            guard: 'welcomeWhileFencing',
            actions: {
              type: 'welcome',
              params: ({ event }) => ({ link: frameOf(event).link, role: 'coordinator' as const }),
            },
          },
          {
            guard: 'refuseWhileFencing',
            actions: {
              type: 'refuse',
              params: ({ context, event }) =>
                refusal(classifyFrame(context, true, frameOf(event)), frameOf(event).link),
            },
          },
        ],
        LINKS_CLOSED: [
          {
            // R15.4: a log given up stays given up across epochs.
            guard: 'linksClosedWhileUnprotected',
            target: '#logger.serving.unprotected',
            actions: [
              {
                type: 'replyFenced',
                params: ({ context }) => ({ link: context.fencer, epoch: context.epoch }),
              },
              assign({ fencer: null }),
            ],
          },
          {
            guard: 'linksOfOldEpochsClosed',
            target: 'serving',
            actions: [
              {
                type: 'replyFenced',
                params: ({ context }) => ({ link: context.fencer, epoch: context.epoch }),
              },
              assign({ fencer: null }),
            ],
          },
        ],
      },
    },
  },
});

const refusal = (
  v: FrameVerdict,
  link: number,
): { link: number; code: LoggerErrorCode; detail: string } =>
  v.kind === 'refuse'
    ? { link, code: v.code, detail: v.detail }
    : { link, code: 'badMessage', detail: 'not a refusal' };
