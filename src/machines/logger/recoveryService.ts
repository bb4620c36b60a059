// The recovery service, core side (spec/logger.md "Recovery service", R14.9): a link's
// Welcome (with the CloseLogged owed to an SSW that connects), the FetchLog answer handed to
// the runtime as a stream (the store builds it, replay.ts), and CloseLogged to the SSWs of
// the epoch when an application close is stored.

import type { CloseHow, Role } from '../../wire/logmsg.ts';
import { type CoreCtx, currentLinks } from './coreContext.ts';

export function welcome(ctx: CoreCtx, link: number, role: Role | null): void {
  const l = ctx.links.get(link);
  if (l === undefined || role === null) return;
  l.role = role;
  l.epoch = ctx.epoch;
  l.told = false;
  ctx.out.push({
    kind: 'send',
    link,
    msg: { kind: 'Welcome', epoch: ctx.epoch, leaseMs: ctx.leaseMs },
  });
  if (role === 'ssw') {
    // CloseLogged owed from before this SSW (re)connected (spec/messages.md "CloseLogged").
    for (const c of ctx.store.pendingCloses()) {
      ctx.out.push({
        kind: 'send',
        link,
        msg: {
          kind: 'CloseLogged',
          clientAddr: c.clientAddr,
          clientPort: c.clientPort,
          how: c.how,
          offset: c.offset,
        },
      });
    }
  }
}

export function streamLog(ctx: CoreCtx, link: number, what: 'ssw' | 'nsw'): void {
  const l = ctx.links.get(link);
  // R14.9: the checkpoint and ReplayResume go to peers that declared Capabilities.
  ctx.out.push({
    kind: 'stream',
    link,
    messages: ctx.store.replay(what, (l?.caps ?? null) !== null),
  });
  if (what === 'ssw') {
    // A recovering SSW learns its connections from this stream; the closes it must honour
    // for them (R5.2) follow it, so that it never sees a CloseLogged for a connection it
    // does not know yet.
    for (const c of ctx.store.pendingCloses()) {
      ctx.out.push({
        kind: 'send',
        link,
        msg: {
          kind: 'CloseLogged',
          clientAddr: c.clientAddr,
          clientPort: c.clientPort,
          how: c.how,
          offset: c.offset,
        },
      });
    }
  }
}

/** An application close was stored: CloseLogged to every SSW of the epoch. */
export function announceClose(
  ctx: CoreCtx,
  c: { clientAddr: number; clientPort: number; how: CloseHow; offset: number },
): void {
  for (const [id] of currentLinks(ctx, 'ssw')) {
    ctx.out.push({
      kind: 'send',
      link: id,
      msg: {
        kind: 'CloseLogged',
        clientAddr: c.clientAddr,
        clientPort: c.clientPort,
        how: c.how,
        offset: c.offset,
      },
    });
  }
}
