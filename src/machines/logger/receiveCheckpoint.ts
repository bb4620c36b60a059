// A checkpoint on a link, core side (spec/logger.md R14.1, R14.2): its frames go to the link's
// assembler (checkpoint.ts); a checkpoint too large is rejected (CheckpointRejected, and R15.3
// reads it as a refusal), one out of order closes the link (`badCheckpoint`), and a whole one
// is stored once every determinant below its D is: those parked on the link are stored past
// the limit first (R14.5 drops them again at once). The truncation itself is the store's
// (truncation.ts); the machine hears CHECKPOINT_STORED with what it freed.

import type { LoggerMessage } from '../../wire/logmsg.ts';
import { parkedSize } from './atLimit.ts';
import { CheckpointAssembler, isCheckpointFrame, type StoredCheckpoint } from './checkpoint.ts';
import { type CoreCtx, refuse } from './coreContext.ts';
import { announceClose } from './recoveryService.ts';

export function takeCheckpointFrame(ctx: CoreCtx, link: number, msg: LoggerMessage): void {
  const l = ctx.links.get(link);
  if (l === undefined) return;
  if (msg.kind === 'CheckpointRefused') {
    ctx.out.push({
      kind: 'notice',
      notice: { kind: 'checkpointRefused', link, detail: `${msg.reason}: ${msg.detail}` },
    });
    ctx.after.push({ type: 'CHECKPOINT_REFUSED', reason: 'refused' });
    return;
  }
  if (!isCheckpointFrame(msg)) return;
  l.assembler ??= new CheckpointAssembler(
    () => ctx.store.limits.maxCheckpointBytes,
    () => ctx.store.checkpoint,
  );
  const step = l.assembler.take(msg);
  switch (step.kind) {
    case 'more':
    case 'ignored':
      return;
    case 'rejected':
      ctx.out.push({
        kind: 'send',
        link,
        msg: {
          kind: 'CheckpointRejected',
          ckptId: step.ckptId,
          reason: 'tooLarge',
          detail: step.detail,
        },
      });
      ctx.out.push({
        kind: 'notice',
        notice: { kind: 'checkpointRejected', ckptId: step.ckptId, detail: step.detail },
      });
      ctx.after.push({ type: 'CHECKPOINT_REFUSED', reason: 'tooLarge' });
      return;
    case 'error':
      refuse(ctx, link, 'badCheckpoint', step.detail);
      return;
    case 'complete':
      completeCheckpoint(ctx, link, step.checkpoint);
      return;
  }
}

/** R14.2: store a whole checkpoint once the determinants it covers are stored. */
export function completeCheckpoint(ctx: CoreCtx, link: number, ck: StoredCheckpoint): void {
  // The determinants below D that did not fit are parked on this link, first in its queue
  // (the link is ordered): store them past the limit; R14.5 drops them again at once.
  const q = ctx.parked.get(link) ?? [];
  let forced = false;
  while (ctx.store.stableDet < ck.detSeq && q.length > 0) {
    const m = q[0]!;
    if (m.kind !== 'LogDeterminant' || m.detSeq >= ck.detSeq) break;
    const r = ctx.store.logDeterminant(m.detSeq, m.det, true);
    if (r.kind === 'error') {
      refuse(ctx, link, r.code, r.detail);
      return;
    }
    q.shift();
    const l = ctx.links.get(link);
    if (l !== undefined) l.parkedBytes -= parkedSize(m);
    forced = true;
    if (r.closeLogged !== null) announceClose(ctx, r.closeLogged);
  }
  if (q.length === 0) ctx.parked.delete(link);
  if (forced)
    ctx.out.push({
      kind: 'send',
      link,
      msg: { kind: 'DetStored', stableDet: ctx.store.stableDet },
    });
  if (ctx.store.stableDet < ck.detSeq) {
    refuse(
      ctx,
      link,
      'gap',
      `checkpoint ${ck.ckptId} covers determinants up to ${ck.detSeq} but ${ctx.store.stableDet} were sent`,
    );
    return;
  }
  const why = ctx.store.checkCheckpoint(ck);
  if (why !== null) {
    refuse(ctx, link, 'badCheckpoint', why);
    return;
  }
  const report = ctx.store.storeCheckpoint(ck);
  ctx.out.push({
    kind: 'send',
    link,
    msg: { kind: 'CheckpointStored', ckptId: ck.ckptId, detSeq: ck.detSeq },
  });
  ctx.out.push({ kind: 'notice', notice: { kind: 'checkpointStored', link, report } });
  ctx.after.push({
    type: 'CHECKPOINT_STORED',
    full: ctx.store.atLimit() !== null,
    freed: report.freedBytes + report.dets + report.records,
    aboveHighWater: ctx.store.aboveHighWater() !== null,
  });
}
