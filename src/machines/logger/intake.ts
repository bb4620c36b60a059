// What a link sends the store, core side (spec/logger.md "Storage", "What is dropped, and
// when", "Capabilities"): LogSyn, LogData and LogDeterminant are stored and acknowledged
// (SynStored, DataStored for what is stored even when the rest is parked, DetStored), a part
// that does not fit goes to R15 (atLimit.ts); the SSW's hints and a link's Capabilities are
// applied, and a ConnClosed whose NSW connection is known owes that NSW `ConnDone` (spec/nsw.md
// R13.1).

import type { LoggerMessage } from '../../wire/logmsg.ts';
import { full, tellConnOn } from './atLimit.ts';
import { type CoreCtx, currentLinks, refuse } from './coreContext.ts';
import { announceClose } from './recoveryService.ts';

export function storeMessage(ctx: CoreCtx, link: number, msg: LoggerMessage): void {
  switch (msg.kind) {
    case 'LogSyn': {
      const r = ctx.store.logSyn(msg);
      if (r.kind === 'stored')
        ctx.out.push({ kind: 'send', link, msg: { kind: 'SynStored', conn: r.conn } });
      else if (r.kind === 'full') full(ctx, link, msg, r.limit, msg.conn);
      else refuse(ctx, link, r.code, r.detail);
      return;
    }
    case 'LogData': {
      const r = ctx.store.logData(msg.conn, msg.seq, msg.payload, msg.fin);
      if (r.kind === 'error') {
        refuse(ctx, link, r.code, r.detail);
        return;
      }
      if (r.kind === 'abandoned') {
        tellConnOn(ctx, link, r.conn, r.reason);
        return;
      }
      // Ack what is stored, even if part of the message is left over: acks are cumulative
      // and the clamp at the SSW may advance by that much.
      ctx.out.push({
        kind: 'send',
        link,
        msg: { kind: 'DataStored', conn: r.conn, stableSeq: r.stableSeq, finLogged: r.finLogged },
      });
      if (r.kind === 'full') full(ctx, link, msg, r.limit ?? 'bytes', msg.conn);
      return;
    }
    case 'LogDeterminant': {
      const r = ctx.store.logDeterminant(msg.detSeq, msg.det);
      if (r.kind === 'error') {
        refuse(ctx, link, r.code, r.detail);
        return;
      }
      if (r.kind === 'full') {
        full(ctx, link, msg, r.limit ?? 'bytes', null);
        return;
      }
      ctx.out.push({ kind: 'send', link, msg: { kind: 'DetStored', stableDet: r.stableDet } });
      if (r.closeLogged !== null) announceClose(ctx, r.closeLogged);
      return;
    }
    default:
      refuse(ctx, link, 'wrongRole', `${msg.kind} is not stored`);
  }
}

export function applyHint(ctx: CoreCtx, link: number, msg: LoggerMessage): void {
  const l = ctx.links.get(link);
  switch (msg.kind) {
    case 'Capabilities':
      if (l === undefined) return;
      l.caps = { checkpoints: msg.checkpoints, unrecorded: msg.unrecorded };
      if (l.role === 'ssw') ctx.store.setUnrecorded(msg.unrecorded);
      // ConnDone owed from before this NSW (re)joined: one sent while its link was down is
      // lost, and the connection would stay in its checkpoints and its record here for good.
      if (l.role === 'nsw' && l.epoch === ctx.epoch) {
        for (const conn of ctx.store.doneConns())
          ctx.out.push({ kind: 'send', link, msg: { kind: 'ConnDone', conn } });
      }
      return;
    case 'ClientAcked':
    case 'ConnEstablished': {
      const r =
        msg.kind === 'ClientAcked'
          ? ctx.store.clientAcked(msg.conn, msg.clientAck)
          : ctx.store.connEstablished(msg.conn);
      if (r === null) return;
      if (r.kind === 'abandoned') tellConnOn(ctx, link, r.conn, r.reason);
      else refuse(ctx, link, r.code, r.detail);
      return;
    }
    case 'ConnClosed': {
      const r = ctx.store.connClosed(msg.conn);
      if ('kind' in r) {
        if (r.kind === 'abandoned') tellConnOn(ctx, link, r.conn, r.reason);
        else refuse(ctx, link, r.code, r.detail);
        return;
      }
      // R13.1: the NSW keeps the connection in its checkpoints until it hears this.
      if (r.nswConn !== null) {
        for (const [id, n] of currentLinks(ctx, 'nsw')) {
          if (n.caps !== null)
            ctx.out.push({ kind: 'send', link: id, msg: { kind: 'ConnDone', conn: r.nswConn } });
        }
      }
      return;
    }
    default:
      refuse(ctx, link, 'wrongRole', `${msg.kind} is not a hint`);
  }
}
