// The core at a limit (spec/logger.md "R15 Limits: a checkpoint first, then explicitly
// unprotected, never a freeze", and the parking of "Bounded memory"): an append that does not
// fit parks its message (and every later one of its link) within maxParkedBytes per link; the
// statechart (logger.machine.ts) decides between asking for a checkpoint (R15.1, R15.2),
// giving a connection or the application's log up (R15.4) and the lossless stall (R15.5), and
// the functions here carry those decisions out; `settle` feeds the machine the facts after
// every event until nothing more is called for. Parked messages are retried in order when
// the machine is back to storing (R15.3).

import type { LimitName, LoggerMessage, UnprotectedReason } from '../../wire/logmsg.ts';
import { type CoreCtx, currentLinks } from './coreContext.ts';
import { LIMIT_FLAG } from './limits.ts';

/** A parked message's charge against maxParkedBytes: its payload and a fixed overhead. */
export const parkedSize = (m: LoggerMessage): number =>
  64 + (m.kind === 'LogData' ? m.payload.length : 0);

export function park(ctx: CoreCtx, link: number, msg: LoggerMessage): void {
  const q = ctx.parked.get(link);
  if (q === undefined) ctx.parked.set(link, [msg]);
  else q.push(msg);
  const l = ctx.links.get(link);
  if (l === undefined) return;
  l.parkedBytes += parkedSize(msg);
  // R15.2: parked messages live outside the store's budget; a link whose backlog passes the
  // bound is not read any more (its sender's TCP window then stalls it).
  if (l.parkedBytes > ctx.maxParkedBytes && !l.paused) {
    l.paused = true;
    ctx.out.push({ kind: 'pause', link });
  }
}

/** The store could not take `msg` whole: it is parked, and R15 decides what comes next. */
export function full(
  ctx: CoreCtx,
  link: number,
  msg: LoggerMessage,
  limit: LimitName,
  conn: number | null,
): void {
  park(ctx, link, msg);
  // R15.4 conn scope needs an unrecorded log: no application state ties its connections.
  ctx.storeFull = { link, limit, conn: ctx.store.unrecorded ? conn : null };
  ctx.lastLimit = limit;
}

/** After an event: what its actions raised, then whatever R15 calls for next. */
export function settle(ctx: CoreCtx): void {
  // Each round either sends one event or retries the parked messages; a full store can
  // give up one connection per parked message (R15.4 conn scope), so the bound grows with
  // them. Passing it means the machine and the core disagree: stop at the cause.
  let parked = 0;
  for (const q of ctx.parked.values()) parked += q.length;
  const bound = 64 + 4 * parked;
  for (let guard = 0; guard < bound; guard++) {
    const next = ctx.after.shift();
    if (next !== undefined) {
      ctx.sendOnly(next);
      continue;
    }
    const m = ctx.mode;
    if (ctx.storeFull !== null) {
      if (m === 'accepting' || m === 'checkpointAsked') {
        const f = ctx.storeFull;
        if (ctx.parked.size === 0) {
          ctx.storeFull = null;
          continue;
        }
        if (ctx.sentFullFor !== f) {
          ctx.sentFullFor = f;
          ctx.sendOnly({ type: 'STORE_FULL', ...f, ...facts(ctx) });
          continue;
        }
        // The machine is back to storing (a checkpoint made room, a connection was given
        // up): retry what was parked, in order.
        ctx.storeFull = null;
        ctx.sentFullFor = null;
        retryParked(ctx);
        continue;
      }
      return;
    }
    if (m === 'accepting') {
      // Cheap first: this runs after every stored message.
      const limit = ctx.store.aboveHighWater();
      if (limit !== null && hasCheckpointer(ctx)) {
        ctx.lastLimit = limit;
        ctx.sendOnly({ type: 'HIGH_WATER', limit, ...facts(ctx) });
        continue;
      }
    }
    return;
  }
  throw new Error('logger core: R15 decisions did not settle (a machine loop)');
}

function facts(ctx: CoreCtx): { checkpointer: boolean; tellable: boolean } {
  return { checkpointer: hasCheckpointer(ctx), tellable: hasTellable(ctx) };
}

/** R15.2: an NSW of this epoch can checkpoint. */
function hasCheckpointer(ctx: CoreCtx): boolean {
  return currentLinks(ctx, 'nsw').some(([, l]) => l.caps?.checkpoints === true);
}

/** R15.4: some SSW/NSW of this epoch understands Unprotected. */
function hasTellable(ctx: CoreCtx): boolean {
  return (
    currentLinks(ctx, 'ssw').some(([, l]) => l.caps !== null) ||
    currentLinks(ctx, 'nsw').some(([, l]) => l.caps !== null)
  );
}

/** R15.6: expiry needs an SSW of this epoch that can be told. */
export function sswWithCaps(ctx: CoreCtx): boolean {
  return currentLinks(ctx, 'ssw').some(([, l]) => l.caps !== null);
}

/** R15.1, R15.2: CheckpointWanted to every NSW of the epoch that can checkpoint, and the timer. */
export function askForCheckpoint(ctx: CoreCtx, ask: number, reason: 'highWater' | 'atLimit'): void {
  const { used, max } = ctx.store.measure(ctx.lastLimit);
  const msg: LoggerMessage = {
    kind: 'CheckpointWanted',
    reason,
    limit: ctx.lastLimit,
    used,
    max,
  };
  for (const [id, l] of currentLinks(ctx, 'nsw')) {
    if (l.caps?.checkpoints === true) ctx.out.push({ kind: 'send', link: id, msg });
  }
  ctx.out.push({ kind: 'armCheckpointTimer', ask, ms: ctx.checkpointWaitMs });
  ctx.out.push({
    kind: 'notice',
    notice: { kind: 'checkpointWanted', reason, limit: ctx.lastLimit, used, max },
  });
}

export function pauseIntake(ctx: CoreCtx, nsw: boolean): void {
  for (const [id, l] of ctx.links) {
    if (l.role !== 'ssw' && !(nsw && l.role === 'nsw')) continue;
    if (l.paused) continue;
    l.paused = true;
    ctx.out.push({ kind: 'pause', link: id });
  }
}

export function resumeIntake(ctx: CoreCtx): void {
  for (const [id, l] of ctx.links) {
    if (!l.paused) continue;
    l.paused = false;
    ctx.out.push({ kind: 'resume', link: id });
  }
}

/** R15.4 conn scope. */
export function abandonConn(ctx: CoreCtx, conn: number, limit: LimitName): void {
  ctx.store.abandon(conn, 'storeFull');
  // Its parked messages will never be stored: drop them (their sender is told).
  for (const [id, q] of [...ctx.parked]) {
    const kept = q.filter(
      (m) => !((m.kind === 'LogSyn' || m.kind === 'LogData') && m.conn === conn),
    );
    if (kept.length === 0) ctx.parked.delete(id);
    else ctx.parked.set(id, kept);
    const l = ctx.links.get(id);
    if (l !== undefined) l.parkedBytes = kept.reduce((n, m) => n + parkedSize(m), 0);
  }
  const { used, max } = ctx.store.measure(limit);
  tellConn(
    ctx,
    conn,
    'storeFull',
    `conn ${conn}: logger limit ${limit} reached (${used}/${max}; raise ${LIMIT_FLAG[limit]})`,
  );
}

/** Unprotected {conn} to every SSW link of the epoch that can be told, and a notice. */
export function tellConn(
  ctx: CoreCtx,
  conn: number,
  reason: UnprotectedReason,
  detail: string,
): void {
  for (const [id, l] of currentLinks(ctx, 'ssw')) {
    if (l.caps !== null)
      ctx.out.push({
        kind: 'send',
        link: id,
        msg: { kind: 'Unprotected', scope: 'conn', conn, reason, detail },
      });
  }
  ctx.out.push({
    kind: 'notice',
    notice: { kind: 'unprotected', scope: 'conn', conn, reason, detail },
  });
}

/** A message for a connection given up: told again (R15.4), never unknownConn. */
export function tellConnOn(
  ctx: CoreCtx,
  link: number,
  conn: number,
  reason: UnprotectedReason,
): void {
  ctx.out.push({
    kind: 'send',
    link,
    msg: {
      kind: 'Unprotected',
      scope: 'conn',
      conn,
      reason,
      detail: `conn ${conn} is not protected any more`,
    },
  });
}

/** R15.4 app scope. */
export function giveUp(ctx: CoreCtx, reason: UnprotectedReason, limit: LimitName | null): void {
  const l = limit ?? ctx.lastLimit;
  const { used, max } = ctx.store.measure(l);
  const how =
    reason === 'checkpointTooLarge'
      ? 'raise --max-checkpoint-bytes'
      : reason === 'noCheckpoint'
        ? `raise ${LIMIT_FLAG[l]} or --checkpoint-wait-ms`
        : `raise ${LIMIT_FLAG[l]}`;
  const detail = `logger limit ${l} reached (${used}/${max}); ${reason}: the application's log is given up and nothing can be recovered; ${how}`;
  ctx.store.unprotect();
  ctx.parked.clear();
  ctx.storeFull = null;
  ctx.sentFullFor = null;
  for (const [id, link] of ctx.links) {
    link.parkedBytes = 0;
    link.assembler?.discard();
    if (
      (link.role === 'ssw' || link.role === 'nsw') &&
      link.epoch === ctx.epoch &&
      link.caps !== null
    ) {
      link.told = true;
      ctx.out.push({
        kind: 'send',
        link: id,
        msg: { kind: 'Unprotected', scope: 'app', conn: 0, reason, detail },
      });
    }
  }
  resumeIntake(ctx);
  ctx.out.push({
    kind: 'notice',
    notice: { kind: 'unprotected', scope: 'app', conn: 0, reason, detail },
  });
}

/** R15.4: a store message after the log was given up: dropped (the link is told once). */
export function discardMessage(ctx: CoreCtx, link: number, msg: LoggerMessage): void {
  const l = ctx.links.get(link);
  if (l === undefined) return;
  // A link that declares itself now can be told (R15.4: once per link).
  if (msg.kind === 'Capabilities')
    l.caps = { checkpoints: msg.checkpoints, unrecorded: msg.unrecorded };
  if (l.caps === null || l.told) return;
  l.told = true;
  ctx.out.push({
    kind: 'send',
    link,
    msg: {
      kind: 'Unprotected',
      scope: 'app',
      conn: 0,
      reason: 'storeFull',
      detail: 'the application log was given up earlier (R15.4)',
    },
  });
}

/** R15.5: nobody can be told; say why the logger stalls. */
export function stallWithoutEnd(ctx: CoreCtx, limit: LimitName): void {
  const { used, max } = ctx.store.measure(limit);
  ctx.out.push({
    kind: 'notice',
    notice: {
      kind: 'stalled',
      limit,
      detail: `logger limit ${limit} reached (${used}/${max}) and no peer declared Capabilities: stalling every link until the limit is raised (${LIMIT_FLAG[limit]}); R15.5`,
    },
  });
}

/** R15.3: the parked messages, in order, until the store is full again. */
function retryParked(ctx: CoreCtx): void {
  for (const [link, queue] of [...ctx.parked]) {
    ctx.parked.delete(link);
    const l = ctx.links.get(link);
    if (l !== undefined) l.parkedBytes = 0;
    for (let i = 0; i < queue.length; i++) {
      const cur = ctx.links.get(link);
      if (cur === undefined) break;
      if (ctx.storeFull !== null) {
        // Full again: the rest stays parked, in order.
        for (const m of queue.slice(i)) park(ctx, link, m);
        break;
      }
      if (ctx.mode === 'unprotected') break;
      ctx.storeMessage(link, queue[i]!);
    }
  }
}
