// Fencing, core side (spec/logger.md "R8 Epochs and fencing", R8.2): on entering `fencing` the
// statechart has already moved the epoch (logger.machine.ts); here every SSW/NSW link of an
// older epoch is closed, and once the runtime has reported them all closed the machine hears
// LINKS_CLOSED and `Fenced` goes to the coordinator that asked. Which frames an older epoch
// may still send (none) is classifyFrame.ts's R8.1.

import type { CoreCtx } from './coreContext.ts';

export function closeLinksBelow(ctx: CoreCtx, epoch: number): void {
  for (const [id, l] of ctx.links) {
    if ((l.role === 'ssw' || l.role === 'nsw') && l.epoch < epoch) {
      ctx.out.push({ kind: 'close', link: id, reason: `fenced: epoch ${l.epoch} < ${epoch}` });
      ctx.links.delete(id);
      ctx.parked.delete(id);
      ctx.closing.add(id);
    }
  }
  // Parked messages are gone with their links; whatever was full may fit now.
  if (ctx.parked.size === 0) {
    ctx.storeFull = null;
    ctx.sentFullFor = null;
  }
}

/** `Fenced` to the coordinator that asked (none when it is gone). */
export function replyFenced(ctx: CoreCtx, link: number | null, epoch: number): void {
  if (link !== null && ctx.links.has(link)) {
    ctx.out.push({
      kind: 'send',
      link,
      msg: { kind: 'Fenced', epoch },
    });
  }
}

/** A fence whose old links are all closed completes (LINKS_CLOSED). */
export function maybeFenced(ctx: CoreCtx): void {
  if (ctx.closing.size === 0 && ctx.mode === 'fencing') {
    ctx.send({ type: 'LINKS_CLOSED', epoch: ctx.epoch });
  }
}
