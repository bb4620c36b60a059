// atLimit.ts (spec/logger.md R15 and the parking of "Bounded memory"), over a core context
// without an actor: what each R15 effect does to the links, the parked messages and the
// effects; the decisions themselves are the statechart's (logger.machine.test.ts) and the
// whole loop is limits.test.ts's.

import { describe, expect, it } from 'vitest';
import {
  abandonConn,
  askForCheckpoint,
  discardMessage,
  full,
  giveUp,
  park,
  parkedSize,
  pauseIntake,
  resumeIntake,
  settle,
  stallWithoutEnd,
  tellConn,
  tellConnOn,
} from '../../../src/machines/logger/atLimit.ts';
import type { LoggerMessage } from '../../../src/wire/logmsg.ts';
import { fakeCore } from './fakeCore.ts';

const data = (conn: number, n: number): LoggerMessage => ({
  kind: 'LogData',
  conn,
  seq: 1,
  payload: new Uint8Array(n),
  fin: false,
});
const det: LoggerMessage = { kind: 'LogDeterminant', detSeq: 0, det: { kind: 'eof', conn: 1 } };

describe('atLimit.ts: parking (R15.2) and the R15 effects', () => {
  it('parkedSize charges the payload and a fixed overhead', () => {
    expect(parkedSize(data(1, 100))).toBe(164);
    expect(parkedSize(det)).toBe(64);
  });

  it('park keeps order per link and pauses a link once, past maxParkedBytes', () => {
    const ctx = fakeCore({ maxParkedBytes: 400 });
    ctx.addLink(1, 'ssw');
    park(ctx, 1, data(1, 100));
    park(ctx, 1, data(2, 100));
    expect(ctx.out).toEqual([]);
    park(ctx, 1, data(3, 100));
    park(ctx, 1, data(4, 100));
    expect(ctx.out).toEqual([{ kind: 'pause', link: 1 }]);
    expect(ctx.parked.get(1)?.map((m) => (m.kind === 'LogData' ? m.conn : 0))).toEqual([
      1, 2, 3, 4,
    ]);
    expect(ctx.links.get(1)?.parkedBytes).toBe(4 * 164);
  });

  it('full parks the message and names the connection only in an unrecorded log (R15.4)', () => {
    const ctx = fakeCore();
    ctx.addLink(1, 'ssw');
    full(ctx, 1, data(7, 1), 'conns', 7);
    expect(ctx.storeFull).toEqual({ link: 1, limit: 'conns', conn: null });
    expect(ctx.lastLimit).toBe('conns');
    ctx.store.setUnrecorded(true);
    full(ctx, 1, data(7, 1), 'bytes', 7);
    expect(ctx.storeFull).toEqual({ link: 1, limit: 'bytes', conn: 7 });
    expect(ctx.parked.get(1)).toHaveLength(2);
  });

  it('pauseIntake: SSW links always, NSW links only when asked; resumeIntake resumes all', () => {
    const ctx = fakeCore();
    ctx.addLink(1, 'ssw');
    ctx.addLink(2, 'nsw');
    ctx.addLink(9, 'coordinator');
    pauseIntake(ctx, false);
    expect(ctx.out).toEqual([{ kind: 'pause', link: 1 }]);
    pauseIntake(ctx, true);
    expect(ctx.out.slice(1)).toEqual([{ kind: 'pause', link: 2 }]);
    ctx.out = [];
    resumeIntake(ctx);
    expect(ctx.out).toEqual([
      { kind: 'resume', link: 1 },
      { kind: 'resume', link: 2 },
    ]);
  });

  it('askForCheckpoint (R15.1, R15.2): to checkpointing NSWs of the epoch, arms the timer', () => {
    const ctx = fakeCore({ epoch: 2 });
    ctx.addLink(1, 'nsw', { checkpoints: true });
    ctx.addLink(2, 'nsw', { caps: true });
    ctx.addLink(3, 'nsw', { epoch: 1, checkpoints: true });
    ctx.lastLimit = 'dets';
    askForCheckpoint(ctx, 4, 'atLimit');
    expect(ctx.out.map((e) => e.kind)).toEqual(['send', 'armCheckpointTimer', 'notice']);
    expect(ctx.out[0]).toMatchObject({
      link: 1,
      msg: { kind: 'CheckpointWanted', reason: 'atLimit', limit: 'dets' },
    });
    expect(ctx.out[1]).toEqual({ kind: 'armCheckpointTimer', ask: 4, ms: 500 });
  });

  it('tellConn tells the SSWs of the epoch that can be told; tellConnOn tells one link', () => {
    const ctx = fakeCore({ epoch: 2 });
    ctx.addLink(1, 'ssw', { caps: true });
    ctx.addLink(2, 'ssw');
    ctx.addLink(3, 'ssw', { epoch: 1, caps: true });
    tellConn(ctx, 5, 'embryonicExpired', 'why');
    expect(ctx.out).toEqual([
      {
        kind: 'send',
        link: 1,
        msg: {
          kind: 'Unprotected',
          scope: 'conn',
          conn: 5,
          reason: 'embryonicExpired',
          detail: 'why',
        },
      },
      {
        kind: 'notice',
        notice: {
          kind: 'unprotected',
          scope: 'conn',
          conn: 5,
          reason: 'embryonicExpired',
          detail: 'why',
        },
      },
    ]);
    ctx.out = [];
    tellConnOn(ctx, 2, 5, 'storeFull');
    expect(ctx.out).toMatchObject([
      { kind: 'send', link: 2, msg: { kind: 'Unprotected', scope: 'conn', conn: 5 } },
    ]);
  });

  it('abandonConn (R15.4 conn): drops the connection, its parked messages, tells the SSW', () => {
    const ctx = fakeCore();
    ctx.addLink(1, 'ssw', { caps: true });
    park(ctx, 1, data(5, 10));
    park(ctx, 1, data(6, 10));
    abandonConn(ctx, 5, 'bytes');
    expect(ctx.store.abandonedReason(5)).toBe('storeFull');
    expect(ctx.parked.get(1)).toEqual([data(6, 10)]);
    expect(ctx.links.get(1)?.parkedBytes).toBe(parkedSize(data(6, 10)));
    expect(ctx.out[0]).toMatchObject({ msg: { kind: 'Unprotected', scope: 'conn', conn: 5 } });
  });

  it('giveUp (R15.4 app): the log dropped, every link of the epoch told once, links resumed', () => {
    const ctx = fakeCore({ epoch: 2 });
    ctx.addLink(1, 'ssw', { caps: true }).paused = true;
    ctx.addLink(2, 'nsw');
    ctx.addLink(3, 'nsw', { epoch: 1, caps: true });
    park(ctx, 1, data(5, 10));
    const f = { link: 1, limit: 'bytes' as const, conn: null };
    ctx.storeFull = f;
    giveUp(ctx, 'noCheckpoint', null);
    expect(ctx.store.unprotected).toBe(true);
    expect(ctx.parked.size).toBe(0);
    expect(ctx.storeFull).toBeNull();
    expect(ctx.out.map((e) => e.kind)).toEqual(['send', 'resume', 'notice']);
    expect(ctx.out[0]).toMatchObject({ link: 1, msg: { kind: 'Unprotected', scope: 'app' } });
    expect(ctx.links.get(1)?.told).toBe(true);
    // discardMessage: a link told already is not told again; one that declares itself now is.
    ctx.out = [];
    discardMessage(ctx, 1, det);
    discardMessage(ctx, 2, det);
    expect(ctx.out).toEqual([]);
    discardMessage(ctx, 2, { kind: 'Capabilities', checkpoints: true, unrecorded: false });
    discardMessage(ctx, 2, det);
    expect(ctx.out).toMatchObject([{ link: 2, msg: { kind: 'Unprotected', scope: 'app' } }]);
  });

  it('stallWithoutEnd (R15.5) names the limit and the flag that raises it', () => {
    const ctx = fakeCore();
    stallWithoutEnd(ctx, 'conns');
    expect(ctx.out).toMatchObject([
      { kind: 'notice', notice: { kind: 'stalled', limit: 'conns' } },
    ]);
    expect(JSON.stringify(ctx.out)).toContain('--max-conns');
  });

  it('settle: raised events go first, STORE_FULL once per episode, then the parked retry', () => {
    const ctx = fakeCore();
    ctx.addLink(1, 'ssw', { caps: true });
    ctx.after.push({ type: 'SPACE_FREED' });
    park(ctx, 1, data(5, 1));
    park(ctx, 1, data(6, 1));
    const f = { link: 1, limit: 'bytes' as const, conn: null };
    ctx.storeFull = f;
    settle(ctx);
    expect(ctx.sent).toEqual([
      { type: 'SPACE_FREED' },
      {
        type: 'STORE_FULL',
        link: 1,
        limit: 'bytes',
        conn: null,
        checkpointer: false,
        tellable: true,
      },
    ]);
    // The fake machine stayed in accepting: the episode is over, the parked messages retried.
    expect(ctx.storeFull).toBeNull();
    expect(ctx.stored.map((s) => s.msg)).toEqual([data(5, 1), data(6, 1)]);
    expect(ctx.parked.size).toBe(0);
  });

  it('settle waits while the machine is not storing, and throws on a machine loop', () => {
    const ctx = fakeCore();
    ctx.mode = 'awaitingCheckpoint';
    ctx.storeFull = { link: 1, limit: 'bytes', conn: null };
    settle(ctx);
    expect(ctx.sent).toEqual([]);
    // A machine that raises an event for every event it gets never settles.
    const loop = fakeCore();
    loop.sendOnly = (e) => {
      loop.after.push(e);
    };
    loop.after.push({ type: 'SPACE_FREED' });
    expect(() => settle(loop)).toThrow(/did not settle/);
  });
});
