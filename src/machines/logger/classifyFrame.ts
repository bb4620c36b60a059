// Frame classification (spec/logger.md "R8 Epochs and fencing" R8.1, the link rules of
// spec/messages.md, "Capabilities", R14.1): what a frame calls for, decided from the frame, the
// link's role and capabilities and the logger's epoch alone, as one pure function
// (`classifyFrame`), and the same answer once per frame event (`frameVerdict`) for the
// statechart's guards and the core's data path. The world test drives `classifyFrame` too.

import { match, P } from 'ts-pattern';
import type { LoggerErrorCode, LoggerMessage, Role } from '../../wire/logmsg.ts';
import type { FrameEvent, LoggerContext } from './events.ts';

/** What a frame calls for, decided from the frame alone and the logger's epoch. */
export type FrameVerdict =
  | { readonly kind: 'welcome' }
  | { readonly kind: 'fence'; readonly newEpoch: number }
  | { readonly kind: 'fenceRepeat' }
  | { readonly kind: 'store' }
  | { readonly kind: 'hint' }
  | { readonly kind: 'checkpoint' }
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
export function classifyFrame(
  ctx: Pick<LoggerContext, 'epoch'> & Partial<LoggerContext>,
  fencing: boolean,
  e: FrameEvent,
): FrameVerdict {
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
  if (!BY_ROLE_AND_KIND.has(msg.kind)) return verdictByKind(role, e, msg);
  // The data path's frames (every LogData, LogDeterminant, ClientAcked, ...): their verdict
  // depends on the role and the kind only, so the table below is consulted once per pair.
  const key = `${role}/${msg.kind}`;
  let v = verdictsByRoleAndKind.get(key);
  if (v === undefined) {
    v = verdictByKind(role, e, msg);
    verdictsByRoleAndKind.set(key, v);
  }
  return v;
}

/** Kinds whose verdict (after the epoch check) is a function of the link's role alone. */
const BY_ROLE_AND_KIND: ReadonlySet<LoggerMessage['kind']> = new Set<LoggerMessage['kind']>([
  'LogSyn',
  'LogData',
  'ClientAcked',
  'ConnClosed',
  'ConnEstablished',
  'LogDeterminant',
]);
const verdictsByRoleAndKind = new Map<string, FrameVerdict>();

/** The decision table of a welcomed ssw or nsw link's frames (after the epoch check). */
function verdictByKind(role: Role, e: FrameEvent, msg: LoggerMessage): FrameVerdict {
  return match(msg)
    .with({ kind: P.union('LogSyn', 'LogData') }, () => (role === 'ssw' ? store : wrong(role, msg)))
    .with({ kind: P.union('ClientAcked', 'ConnClosed', 'ConnEstablished') }, () =>
      role === 'ssw' ? hint : wrong(role, msg),
    )
    .with({ kind: 'Capabilities' }, (m) =>
      // Each flag belongs to one role (spec/logger.md "Capabilities").
      (m.checkpoints && role !== 'nsw') || (m.unrecorded && role !== 'ssw')
        ? refuse(
            'wrongRole',
            `${role} may not declare ${m.checkpoints ? 'checkpoints' : 'unrecorded'}`,
          )
        : hint,
    )
    .with({ kind: 'LogDeterminant' }, () => (role === 'nsw' ? store : wrong(role, msg)))
    .with(
      {
        kind: P.union(
          'CheckpointBegin',
          'CheckpointConn',
          'CheckpointData',
          'CheckpointEnd',
          'CheckpointRefused',
        ),
      },
      // R14.1: only an NSW that declared it can checkpoint.
      () =>
        role === 'nsw' && e.caps?.checkpoints === true
          ? checkpoint
          : refuse(
              'wrongRole',
              `${role} without the checkpoints capability may not send ${msg.kind}`,
            ),
    )
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
          'ReplayResume',
          'CheckpointStored',
          'CheckpointRejected',
          'CheckpointWanted',
          'ConnDone',
          'Unprotected',
          'Error',
        ),
      },
      () => wrong(role, msg),
    )
    .exhaustive();
}

const store: FrameVerdict = { kind: 'store' };
const hint: FrameVerdict = { kind: 'hint' };
const checkpoint: FrameVerdict = { kind: 'checkpoint' };
const fetch: FrameVerdict = { kind: 'fetch' };
const wrong = (role: Role, msg: LoggerMessage): FrameVerdict =>
  refuse(
    'wrongRole',
    `${role} may not send ${msg.kind}${msg.kind === 'FetchLog' ? ` '${msg.what}'` : ''}`,
  );

/** R8.1: one epoch; older is fenced out, newer was never fenced to, and fencing is in progress. */
function checkEpoch(
  ctx: Pick<LoggerContext, 'epoch'>,
  fencing: boolean,
  epoch: number,
): FrameVerdict | null {
  if (epoch < ctx.epoch) return refuse('staleEpoch', `epoch ${epoch} < ${ctx.epoch}: fenced`);
  if (epoch > ctx.epoch) return refuse('futureEpoch', `epoch ${epoch} > ${ctx.epoch}`);
  if (fencing) return refuse('fencing', `fencing to epoch ${ctx.epoch}; retry after reconnect`);
  return null;
}

/** The last frame classified, with the context and its verdicts (not fencing, fencing). */
let lastFrame:
  | {
      e: FrameEvent;
      ctx: Pick<LoggerContext, 'epoch'>;
      v: [FrameVerdict | undefined, FrameVerdict | undefined];
    }
  | undefined;

/**
 * `classifyFrame`, once per frame event and context: the machine's guards each ask it of the
 * same event (a dozen for a frame that is not stored, e.g. every ClientAcked hint), and
 * `LoggerCore.feed` asks it first with the same event and context. Pure inputs (xstate
 * contexts are replaced, never mutated), so the answer cannot go stale.
 */
export const frameVerdict = (
  ctx: Pick<LoggerContext, 'epoch'>,
  fencing: boolean,
  e: FrameEvent,
): FrameVerdict => {
  let memo = lastFrame;
  if (memo === undefined || memo.e !== e || memo.ctx !== ctx) {
    memo = { e, ctx, v: [undefined, undefined] };
    lastFrame = memo;
  }
  const i = fencing ? 1 : 0;
  let v = memo.v[i];
  if (v === undefined) {
    v = classifyFrame(ctx, fencing, e);
    memo.v[i] = v;
  }
  return v;
};
