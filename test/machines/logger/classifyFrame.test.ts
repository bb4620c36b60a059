// classifyFrame.ts (spec/logger.md R8.1, the link rules of spec/messages.md): the frame
// classification as the machine's guards and the core's data path ask it (`frameVerdict`):
// the same verdict as `classifyFrame` whatever was asked before, never one left over from
// another event, context or fencing flag; the data path's kinds, whose verdict depends on the
// role and the kind only, get the same verdict whatever else their frame carries; then
// `classifyFrame` by example (the epochs of a Hello, what each role may send).

import { describe, expect, it } from 'vitest';
import { classifyFrame, frameVerdict } from '../../../src/machines/logger/classifyFrame.ts';
import type { FrameEvent } from '../../../src/machines/logger/events.ts';
import type { LoggerMessage, Role } from '../../../src/wire/logmsg.ts';

const MSGS: LoggerMessage[] = [
  { kind: 'LogData', conn: 1, seq: 1000, payload: new Uint8Array([1, 2]), fin: false },
  { kind: 'LogData', conn: 9, seq: 77, payload: new Uint8Array(0), fin: true },
  { kind: 'ClientAcked', conn: 1, clientAck: 5 },
  { kind: 'ClientAcked', conn: 3, clientAck: 900 },
  { kind: 'LogDeterminant', detSeq: 0, det: { kind: 'read', conn: 0, len: 3 } },
  { kind: 'LogDeterminant', detSeq: 4, det: { kind: 'eof', conn: 2 } },
  { kind: 'FetchLog', what: 'ssw' },
  { kind: 'FetchLog', what: 'nsw' },
  { kind: 'Heartbeat', seq: 1, hostId: 'p' },
] as unknown as LoggerMessage[];

const frame = (role: FrameEvent['role'], epoch: number, msg: LoggerMessage): FrameEvent => ({
  type: 'FRAME',
  link: 1,
  role,
  caps: null,
  epoch,
  msg,
});

describe('logger frame verdicts', () => {
  it('frameVerdict answers as classifyFrame for every event, context and fencing flag', () => {
    const ctxs = [{ epoch: 1 }, { epoch: 2 }, { epoch: 2 }];
    for (const role of ['ssw', 'nsw'] as const)
      for (const msg of MSGS)
        for (const ctx of ctxs)
          for (const epoch of [1, 2]) {
            const e = frame(role, epoch, msg);
            // Asked twice each way, interleaved, as the guards do.
            for (const fencing of [false, true, false, true]) {
              const want = classifyFrame({ ...ctx }, fencing, { ...e });
              expect(frameVerdict(ctx, fencing, e)).toEqual(want);
            }
          }
  });

  it('never answers from another event of the same kind or another context', () => {
    const ctx1 = { epoch: 1 };
    const ok = frame('ssw', 1, MSGS[0] as LoggerMessage);
    expect(frameVerdict(ctx1, false, ok).kind).toBe('store');
    // The same message from the wrong role, then in a newer context: each its own verdict.
    expect(frameVerdict(ctx1, false, frame('nsw', 1, MSGS[0] as LoggerMessage))).toMatchObject({
      kind: 'refuse',
      code: 'wrongRole',
    });
    expect(frameVerdict({ epoch: 2 }, false, ok)).toMatchObject({
      kind: 'refuse',
      code: 'staleEpoch',
    });
    expect(frameVerdict(ctx1, true, ok)).toMatchObject({ kind: 'refuse', code: 'fencing' });
    expect(frameVerdict(ctx1, false, ok).kind).toBe('store');
  });

  it('gives the data path kinds one verdict per role and kind, whatever else they carry', () => {
    const ctx = { epoch: 3 };
    for (const role of ['ssw', 'nsw'] as const) {
      const byKind = new Map<string, unknown>();
      for (const msg of MSGS) {
        if (msg.kind === 'FetchLog' || msg.kind === 'Heartbeat') continue;
        const v = classifyFrame(ctx, false, frame(role, 3, msg));
        if (!byKind.has(msg.kind)) byKind.set(msg.kind, v);
        expect(v).toEqual(byKind.get(msg.kind));
      }
      expect(byKind.get('LogData')).toEqual(
        role === 'ssw' ? { kind: 'store' } : expect.objectContaining({ code: 'wrongRole' }),
      );
      expect(byKind.get('LogDeterminant')).toEqual(
        role === 'nsw' ? { kind: 'store' } : expect.objectContaining({ code: 'wrongRole' }),
      );
    }
  });
});

describe('classifyFrame', () => {
  const ctx = { epoch: 4, fencer: null, ask: 0, unprotected: false };
  const hello = (role: Role, epoch: number): LoggerMessage => ({
    kind: 'Hello',
    role,
    hostId: 'h',
    epoch,
  });
  it('R8.1 Hello: the frame epoch must equal the body epoch and the logger epoch', () => {
    expect(
      classifyFrame(ctx, false, {
        type: 'FRAME',
        link: 1,
        role: null,
        epoch: 4,
        msg: hello('nsw', 4),
      }),
    ).toEqual({ kind: 'welcome' });
    expect(
      classifyFrame(ctx, false, {
        type: 'FRAME',
        link: 1,
        role: null,
        epoch: 3,
        msg: hello('nsw', 4),
      }),
    ).toMatchObject({ code: 'badMessage' });
    expect(
      classifyFrame(ctx, false, {
        type: 'FRAME',
        link: 1,
        role: null,
        epoch: 3,
        msg: hello('ssw', 3),
      }),
    ).toMatchObject({ code: 'staleEpoch' });
    expect(
      classifyFrame(ctx, false, {
        type: 'FRAME',
        link: 1,
        role: null,
        epoch: 5,
        msg: hello('ssw', 5),
      }),
    ).toMatchObject({ code: 'futureEpoch' });
    expect(
      classifyFrame(ctx, true, {
        type: 'FRAME',
        link: 1,
        role: null,
        epoch: 4,
        msg: hello('ssw', 4),
      }),
    ).toMatchObject({ code: 'fencing' });
  });
  it('roles: what each may send', () => {
    const v = (role: Role, msg: LoggerMessage) =>
      classifyFrame(ctx, false, { type: 'FRAME', link: 1, role, epoch: 4, msg }).kind;
    expect(
      v('ssw', {
        kind: 'LogSyn',
        conn: 1,
        clientAddr: 1,
        clientPort: 1,
        serverAddr: 1,
        serverPort: 1,
        clientIsn: 1,
        serverIsn: 1,
        clientOpts: { mss: 1, wscale: null, sackOk: false, tsVal: null, tsEcr: null },
        serverOpts: { mss: 1, wscale: null, sackOk: false, tsVal: null, tsEcr: null },
        synTimeMs: 0,
      }),
    ).toBe('store');
    expect(v('nsw', { kind: 'LogDeterminant', detSeq: 0, det: { kind: 'eof', conn: 0 } })).toBe(
      'store',
    );
    expect(v('ssw', { kind: 'LogDeterminant', detSeq: 0, det: { kind: 'eof', conn: 0 } })).toBe(
      'refuse',
    );
    expect(v('ssw', { kind: 'FetchLog', what: 'ssw' })).toBe('fetch');
    expect(v('ssw', { kind: 'FetchLog', what: 'nsw' })).toBe('refuse');
    expect(v('nsw', { kind: 'DetStored', stableDet: 1 })).toBe('refuse');
    expect(v('coordinator', { kind: 'Fence', newEpoch: 5 })).toBe('fence');
    expect(
      v('coordinator', {
        kind: 'LogData',
        conn: 1,
        seq: 1,
        payload: new Uint8Array(0),
        fin: false,
      }),
    ).toBe('refuse');
  });
});
