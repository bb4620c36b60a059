// fencing.ts (spec/logger.md R8.2), over a core context without an actor: the links of older
// epochs are closed and awaited, `Fenced` goes only to a coordinator still connected, and the
// fence completes (LINKS_CLOSED) only when no old link is left and the machine is fencing.

import { describe, expect, it } from 'vitest';
import { closeLinksBelow, maybeFenced, replyFenced } from '../../../src/machines/logger/fencing.ts';
import { fakeCore } from './fakeCore.ts';

describe('fencing.ts: R8.2 old links closed, then Fenced', () => {
  it('closeLinksBelow closes every SSW/NSW link of an older epoch, and only those', () => {
    const ctx = fakeCore({ epoch: 3 });
    ctx.addLink(1, 'ssw', { epoch: 2 });
    ctx.addLink(2, 'nsw', { epoch: 1 });
    ctx.addLink(3, 'ssw', { epoch: 3 });
    ctx.addLink(9, 'coordinator', { epoch: 0 });
    ctx.addLink(10, null, { epoch: 0 });
    ctx.parked.set(1, [{ kind: 'ConnClosed', conn: 1 }]);
    closeLinksBelow(ctx, 3);
    expect(ctx.out).toEqual([
      { kind: 'close', link: 1, reason: 'fenced: epoch 2 < 3' },
      { kind: 'close', link: 2, reason: 'fenced: epoch 1 < 3' },
    ]);
    expect([...ctx.links.keys()]).toEqual([3, 9, 10]);
    expect([...ctx.closing]).toEqual([1, 2]);
    expect(ctx.parked.size).toBe(0);
  });

  it('a full store is forgotten with the parked messages of the closed links', () => {
    const ctx = fakeCore({ epoch: 2 });
    ctx.addLink(1, 'ssw', { epoch: 1 });
    ctx.addLink(2, 'nsw', { epoch: 2 });
    const f = { link: 1, limit: 'bytes' as const, conn: null };
    ctx.storeFull = f;
    ctx.sentFullFor = f;
    ctx.parked.set(1, [{ kind: 'ConnClosed', conn: 1 }]);
    closeLinksBelow(ctx, 2);
    expect(ctx.storeFull).toBeNull();
    expect(ctx.sentFullFor).toBeNull();
    // A current link's parked messages keep the episode open.
    const ctx2 = fakeCore({ epoch: 2 });
    ctx2.addLink(1, 'ssw', { epoch: 1 });
    ctx2.addLink(2, 'nsw', { epoch: 2 });
    ctx2.storeFull = f;
    ctx2.parked.set(2, [{ kind: 'ConnClosed', conn: 1 }]);
    closeLinksBelow(ctx2, 2);
    expect(ctx2.storeFull).toBe(f);
  });

  it('replyFenced answers the coordinator that asked, if it is still connected', () => {
    const ctx = fakeCore({ epoch: 4 });
    ctx.addLink(9, 'coordinator', { epoch: 0 });
    replyFenced(ctx, 9, 4);
    replyFenced(ctx, 8, 4);
    replyFenced(ctx, null, 4);
    expect(ctx.out).toEqual([{ kind: 'send', link: 9, msg: { kind: 'Fenced', epoch: 4 } }]);
  });

  it('maybeFenced: LINKS_CLOSED once no old link is awaited, and only while fencing', () => {
    const ctx = fakeCore({ epoch: 5 });
    ctx.mode = 'fencing';
    ctx.closing.add(1);
    maybeFenced(ctx);
    expect(ctx.sent).toEqual([]);
    ctx.closing.delete(1);
    maybeFenced(ctx);
    expect(ctx.sent).toEqual([{ type: 'LINKS_CLOSED', epoch: 5 }]);
    ctx.mode = 'accepting';
    maybeFenced(ctx);
    expect(ctx.sent).toHaveLength(1);
  });
});
