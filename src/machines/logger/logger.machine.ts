// The logger's control statechart (spec/logger.md): which frames it takes, when it fences, and
// when it applies backpressure. Data never lives here: the store (./store.ts) holds it, and
// the per-message work is a named action (`storeMessage`, `applyHint`, `streamLog`, ...)
// provided by whoever owns the store (./core.ts for the daemon, recording fakes in tests).
//
//   serving.accepting --STORE_FULL--> serving.backpressured --SPACE_FREED--> serving.accepting
//   serving.* --FRAME Fence(newEpoch > epoch)--> fencing --LINKS_CLOSED--> serving.accepting
//
// R8: the epoch moves only on a Fence from the coordinator. It moves on *entering* fencing,
// so from that instant every frame of an older epoch is refused (`staleEpoch`), before the old
// links are even closed; `Fenced` is sent only once the runtime reports them closed, so when
// the coordinator hears `Fenced` nothing of the old epoch can be stored or acknowledged any
// more: the old primary can neither log nor commit output.

import { match, P } from 'ts-pattern';
import { assign, setup } from 'xstate';
import type { LoggerErrorCode, LoggerMessage, Role } from '../../wire/logmsg.ts';

export interface LoggerContext {
  /** The one epoch this logger serves. */
  readonly epoch: number;
  /** The coordinator link that asked for the fence in progress (it gets `Fenced`). */
  readonly fencer: number | null;
}

export interface LoggerInput {
  readonly epoch: number;
}

/** A decoded frame from a link. `role` is what the link said in its Hello (null before). */
export interface FrameEvent {
  readonly type: 'FRAME';
  readonly link: number;
  readonly role: Role | null;
  /** the frame header's epoch */
  readonly epoch: number;
  readonly msg: LoggerMessage;
}

export type LoggerEvent =
  | FrameEvent
  /** the store could not take a message whole: the rest is parked, intake must pause */
  | { readonly type: 'STORE_FULL'; readonly link: number }
  /** the store has room again (limits raised): parked messages may be retried */
  | { readonly type: 'SPACE_FREED' }
  /** the runtime has closed every ssw/nsw link whose epoch is below `epoch` */
  | { readonly type: 'LINKS_CLOSED'; readonly epoch: number };

/** What a frame calls for, decided from the frame alone and the logger's epoch. */
export type FrameVerdict =
  | { readonly kind: 'welcome' }
  | { readonly kind: 'fence'; readonly newEpoch: number }
  | { readonly kind: 'fenceRepeat' }
  | { readonly kind: 'store' }
  | { readonly kind: 'hint' }
  | { readonly kind: 'fetch' }
  | { readonly kind: 'refuse'; readonly code: LoggerErrorCode; readonly detail: string };

const refuse = (code: LoggerErrorCode, detail: string): FrameVerdict => ({
  kind: 'refuse',
  code,
  detail,
});

/**
 * R8 and the link rules of spec/messages.md, as one pure function. The coordinator is exempt
 * from epoch checks: it creates epochs (its Fence names the next one), so it cannot be expected
 * to hold the current one already; every other role must match the logger's epoch exactly.
 */
export function classifyFrame(ctx: LoggerContext, fencing: boolean, e: FrameEvent): FrameVerdict {
  const { msg } = e;
  if (e.role === null) {
    if (msg.kind !== 'Hello') return refuse('notWelcomed', `${msg.kind} before Hello`);
    if (msg.role === 'coordinator') return { kind: 'welcome' };
    if (e.epoch !== msg.epoch)
      return refuse('badMessage', `Hello epoch ${msg.epoch} in a frame of epoch ${e.epoch}`);
    return checkEpoch(ctx, fencing, msg.epoch) ?? { kind: 'welcome' };
  }
  if (e.role === 'coordinator') {
    return match(msg)
      .with(
        { kind: 'Fence' },
        (f): FrameVerdict =>
          f.newEpoch > ctx.epoch
            ? { kind: 'fence', newEpoch: f.newEpoch }
            : f.newEpoch === ctx.epoch
              ? { kind: 'fenceRepeat' }
              : refuse(
                  'staleEpoch',
                  `Fence to ${f.newEpoch} but the epoch is already ${ctx.epoch}`,
                ),
      )
      .otherwise((m) => refuse('wrongRole', `coordinator may not send ${m.kind}`));
  }
  const bad = checkEpoch(ctx, fencing, e.epoch);
  if (bad !== null) return bad;
  const role = e.role;
  return match(msg)
    .with({ kind: P.union('LogSyn', 'LogData') }, () => (role === 'ssw' ? store : wrong(role, msg)))
    .with({ kind: P.union('ClientAcked', 'ConnClosed') }, () =>
      role === 'ssw' ? hint : wrong(role, msg),
    )
    .with({ kind: 'LogDeterminant' }, () => (role === 'nsw' ? store : wrong(role, msg)))
    .with({ kind: 'FetchLog' }, (m) => (m.what === role ? fetch : wrong(role, msg)))
    .with(
      {
        kind: P.union(
          'Hello',
          'Welcome',
          'SynStored',
          'DataStored',
          'DetStored',
          'CloseLogged',
          'Heartbeat',
          'HeartbeatAck',
          'Fence',
          'Fenced',
          'ReplaySyn',
          'ReplayData',
          'ReplayDeterminant',
          'ReplayEnd',
          'Error',
        ),
      },
      () => wrong(role, msg),
    )
    .exhaustive();
}

const store: FrameVerdict = { kind: 'store' };
const hint: FrameVerdict = { kind: 'hint' };
const fetch: FrameVerdict = { kind: 'fetch' };
const wrong = (role: Role, msg: LoggerMessage): FrameVerdict =>
  refuse(
    'wrongRole',
    `${role} may not send ${msg.kind}${msg.kind === 'FetchLog' ? ` '${msg.what}'` : ''}`,
  );

function checkEpoch(ctx: LoggerContext, fencing: boolean, epoch: number): FrameVerdict | null {
  if (epoch < ctx.epoch) return refuse('staleEpoch', `epoch ${epoch} < ${ctx.epoch}: fenced`);
  if (epoch > ctx.epoch) return refuse('futureEpoch', `epoch ${epoch} > ${ctx.epoch}`);
  if (fencing) return refuse('fencing', `fencing to epoch ${ctx.epoch}; retry after reconnect`);
  return null;
}

const verdictOf = (ctx: LoggerContext, fencing: boolean, e: LoggerEvent): FrameVerdict | null =>
  e.type === 'FRAME' ? classifyFrame(ctx, fencing, e) : null;

const is =
  (kind: FrameVerdict['kind'], fencing: boolean) =>
  ({ context, event }: { context: LoggerContext; event: LoggerEvent }): boolean =>
    verdictOf(context, fencing, event)?.kind === kind;

const frameOf = (e: LoggerEvent): FrameEvent => {
  if (e.type !== 'FRAME') throw new Error(`logger machine: ${e.type} where a FRAME was expected`);
  return e;
};

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
    fetchFrame: is('fetch', false),
    refuseFrame: is('refuse', false),
    refuseWhileFencing: is('refuse', true),
    linksOfOldEpochsClosed: ({ context, event }) =>
      event.type === 'LINKS_CLOSED' && event.epoch === context.epoch,
  },
  actions: {
    // Effects, provided by the owner of the links and the store. Parameters are computed here
    // so that the provider does no protocol reasoning of its own.
    welcome: (_, _p: { link: number; role: Role | null }) => {},
    refuse: (_, _p: { link: number; code: LoggerErrorCode; detail: string }) => {},
    storeMessage: (_, _p: { link: number; msg: LoggerMessage }) => {},
    parkMessage: (_, _p: { link: number; msg: LoggerMessage }) => {},
    applyHint: (_, _p: { link: number; msg: LoggerMessage }) => {},
    streamLog: (_, _p: { link: number; what: 'ssw' | 'nsw' }) => {},
    closeLinksBelow: (_, _p: { epoch: number }) => {},
    replyFenced: (_, _p: { link: number | null; epoch: number }) => {},
    pauseIntake: () => {},
    resumeIntake: () => {},
  },
}).createMachine({
  id: 'logger',
  context: ({ input }) => ({ epoch: input.epoch, fencer: null }),
  initial: 'serving',
  states: {
    serving: {
      initial: 'accepting',
      on: {
        FRAME: [
          {
            guard: 'fenceToNewerEpoch',
            target: 'fencing',
            actions: [
              assign(({ context, event }) => {
                const v = classifyFrame(context, false, frameOf(event));
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
                refusal(classifyFrame(context, false, frameOf(event)), frameOf(event).link),
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
            STORE_FULL: { target: 'backpressured' },
          },
        },
        backpressured: {
          // Bounded memory without loss: intake pauses (the runtime stops reading the data
          // links), TCP flow control stalls the senders, and nothing beyond the store is acked.
          entry: 'pauseIntake',
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
        LINKS_CLOSED: {
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
