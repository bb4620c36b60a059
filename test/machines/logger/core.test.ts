// LoggerCore = loggerMachine + store, the object the logger daemon drives. Examples for the
// link rules, then the three safety properties of spec/logger.md under random schedules:
// never an ack beyond what is stored, never more than the limit, nothing from an older epoch
// stored or acknowledged after Fence.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoggerCore } from '../../../src/machines/logger/core.ts';
import { coalesceAcks, type LoggerEffect } from '../../../src/machines/logger/coreContext.ts';
import { CONN_RECORD_COST } from '../../../src/machines/logger/limits.ts';
import {
  type Determinant,
  encodeMessage,
  type LoggerMessage,
  type SynRecord,
} from '../../../src/wire/logmsg.ts';
import { seqAdd, seqLe } from '../../../src/wire/seq.ts';

const SEED = Number(process.env.FC_SEED ?? 0xc0de);
const RUNS = Number(process.env.FC_RUNS ?? 120);

const o = { mss: 1460, wscale: null, sackOk: false, tsVal: null, tsEcr: null };
const syn = (conn: number, clientPort: number): SynRecord => ({
  conn,
  clientAddr: 0xc6120002,
  clientPort,
  serverAddr: 0xc612000a,
  serverPort: 7,
  clientIsn: 100,
  serverIsn: 200,
  clientOpts: o,
  serverOpts: o,
  synTimeMs: 1,
});
const sends = (fx: LoggerEffect[], link?: number): LoggerMessage[] =>
  fx.flatMap((e) => (e.kind === 'send' && (link === undefined || e.link === link) ? [e.msg] : []));

const hello = (core: LoggerCore, role: 'ssw' | 'nsw' | 'coordinator', epoch: number) => {
  const link = core.openLink();
  const fx = core.frame(link, epoch, { kind: 'Hello', role, hostId: role, epoch });
  return { link, fx };
};

describe('LoggerCore', () => {
  it('Hello, LogSyn, LogData, determinants, CloseLogged to the SSW', () => {
    const core = new LoggerCore({ epoch: 1, leaseMs: 500 });
    const ssw = hello(core, 'ssw', 1);
    expect(sends(ssw.fx)).toEqual([{ kind: 'Welcome', epoch: 1, leaseMs: 500 }]);
    const nsw = hello(core, 'nsw', 1);
    expect(sends(core.frame(ssw.link, 1, { kind: 'LogSyn', ...syn(3, 4000) }))).toEqual([
      { kind: 'SynStored', conn: 3 },
    ]);
    // Two LogData in one read: one cumulative ack.
    const fx = core.frames(ssw.link, [
      {
        epoch: 1,
        msg: { kind: 'LogData', conn: 3, seq: 101, payload: new Uint8Array([1, 2]), fin: false },
      },
      {
        epoch: 1,
        msg: { kind: 'LogData', conn: 3, seq: 103, payload: new Uint8Array([3]), fin: true },
      },
    ]);
    expect(sends(fx)).toEqual([{ kind: 'DataStored', conn: 3, stableSeq: 105, finLogged: true }]);
    const dets: Determinant[] = [
      { kind: 'accept', conn: 0, clientAddr: 0xc6120002, clientPort: 4000 },
      { kind: 'read', conn: 0, len: 3 },
      { kind: 'close', conn: 0, how: 'end', offset: 12 },
    ];
    const dfx = core.frames(
      nsw.link,
      dets.map((det, i) => ({ epoch: 1, msg: { kind: 'LogDeterminant', detSeq: i, det } })),
    );
    expect(sends(dfx, nsw.link)).toEqual([{ kind: 'DetStored', stableDet: 3 }]);
    expect(sends(dfx, ssw.link)).toEqual([
      { kind: 'CloseLogged', clientAddr: 0xc6120002, clientPort: 4000, how: 'end', offset: 12 },
    ]);
    // An SSW that reconnects hears the close again until ConnClosed, with its position (R5.2).
    const again = hello(core, 'ssw', 1);
    expect(sends(again.fx).map((m) => m.kind)).toEqual(['Welcome', 'CloseLogged']);
    expect(sends(again.fx)[1]).toMatchObject({ kind: 'CloseLogged', how: 'end', offset: 12 });
    core.frame(again.link, 1, { kind: 'ConnClosed', conn: 3 });
    expect(sends(hello(core, 'ssw', 1).fx).map((m) => m.kind)).toEqual(['Welcome']);
  });

  it('bad input: message before Hello, wrong role, gap, bad frame: Error then close', () => {
    const core = new LoggerCore({ epoch: 2, leaseMs: 500 });
    const l = core.openLink();
    const fx = core.frame(l, 2, { kind: 'DetStored', stableDet: 0 });
    expect(fx).toEqual([
      {
        kind: 'send',
        link: l,
        msg: { kind: 'Error', code: 'notWelcomed', message: 'DetStored before Hello' },
      },
      { kind: 'close', link: l, reason: 'notWelcomed: DetStored before Hello' },
    ]);
    const n = hello(core, 'nsw', 2);
    expect(
      sends(
        core.frame(n.link, 2, { kind: 'LogDeterminant', detSeq: 5, det: { kind: 'eof', conn: 0 } }),
      ),
    ).toMatchObject([{ kind: 'Error', code: 'gap' }]);
    const s = hello(core, 'ssw', 2);
    expect(core.badFrame(s.link, 'crc')).toMatchObject([
      { kind: 'send', msg: { code: 'badMessage' } },
      { kind: 'close' },
    ]);
  });

  it('R15.5 peers without Capabilities: the lossless stall of before, said once, until the limit is raised', () => {
    const core = new LoggerCore({
      epoch: 1,
      leaseMs: 500,
      limits: { maxStoredBytes: CONN_RECORD_COST + 2 },
    });
    const s = hello(core, 'ssw', 1);
    core.frame(s.link, 1, { kind: 'LogSyn', ...syn(1, 5000) });
    const fx = core.frames(s.link, [
      {
        epoch: 1,
        msg: { kind: 'LogData', conn: 1, seq: 101, payload: new Uint8Array([1, 2, 3]), fin: false },
      },
      {
        epoch: 1,
        msg: { kind: 'LogData', conn: 1, seq: 104, payload: new Uint8Array([4]), fin: true },
      },
    ]);
    expect(fx).toEqual([
      {
        kind: 'send',
        link: s.link,
        msg: { kind: 'DataStored', conn: 1, stableSeq: 103, finLogged: false },
      },
      {
        kind: 'notice',
        notice: {
          kind: 'stalled',
          limit: 'bytes',
          detail: expect.stringMatching(/no peer declared Capabilities.*--max-bytes/),
        },
      },
      { kind: 'pause', link: s.link },
    ]);
    expect(core.mode).toBe('backpressured');
    const more = core.setLimits({ maxStoredBytes: CONN_RECORD_COST + 10 });
    expect(more).toEqual([
      { kind: 'resume', link: s.link },
      {
        kind: 'send',
        link: s.link,
        msg: { kind: 'DataStored', conn: 1, stableSeq: 106, finLogged: true },
      },
    ]);
    expect(core.mode).toBe('accepting');
  });

  it('R8.2 Fence: old links closed, Fenced after they are gone, old epoch refused, new epoch served', () => {
    const core = new LoggerCore({ epoch: 1, leaseMs: 500 });
    const s = hello(core, 'ssw', 1);
    const c = hello(core, 'coordinator', 0);
    const fx = core.frame(c.link, 0, { kind: 'Fence', newEpoch: 2 });
    expect(fx).toEqual([{ kind: 'close', link: s.link, reason: 'fenced: epoch 1 < 2' }]);
    expect(core.mode).toBe('fencing');
    expect(sends(hello(core, 'ssw', 2).fx)).toMatchObject([{ kind: 'Error', code: 'fencing' }]);
    expect(sends(core.linkClosed(s.link))).toEqual([{ kind: 'Fenced', epoch: 2 }]);
    expect(sends(hello(core, 'ssw', 1).fx)).toMatchObject([{ kind: 'Error', code: 'staleEpoch' }]);
    expect(sends(hello(core, 'ssw', 2).fx)).toEqual([{ kind: 'Welcome', epoch: 2, leaseMs: 500 }]);
    expect(sends(core.frame(c.link, 0, { kind: 'Fence', newEpoch: 2 }))).toEqual([
      { kind: 'Fenced', epoch: 2 },
    ]);
  });

  it('R8.4 the store spans epochs: the fenced-to epoch continues the same logs', () => {
    const core = new LoggerCore({ epoch: 1, leaseMs: 500 });
    const ssw = hello(core, 'ssw', 1);
    const nsw = hello(core, 'nsw', 1);
    core.frame(ssw.link, 1, { kind: 'LogSyn', ...syn(3, 4000) });
    const data = (seq: number, bytes: number[]) =>
      ({ kind: 'LogData', conn: 3, seq, payload: new Uint8Array(bytes), fin: false }) as const;
    core.frame(ssw.link, 1, data(101, [1, 2]));
    const read = (detSeq: number): LoggerMessage => ({
      kind: 'LogDeterminant',
      detSeq,
      det: { kind: 'read', conn: 0, len: 1 },
    });
    core.frame(nsw.link, 1, read(0));
    const c = hello(core, 'coordinator', 0);
    core.frame(c.link, 0, { kind: 'Fence', newEpoch: 2 });
    core.linkClosed(ssw.link);
    core.linkClosed(nsw.link);
    expect(core.epoch).toBe(2);
    const ssw2 = hello(core, 'ssw', 2);
    const nsw2 = hello(core, 'nsw', 2);
    // Same connId, same stream: the next byte of epoch 2 follows those of epoch 1.
    expect(sends(core.frame(ssw2.link, 2, data(103, [3])))).toEqual([
      { kind: 'DataStored', conn: 3, stableSeq: 104, finLogged: false },
    ]);
    // detSeq goes on from the log's length.
    expect(sends(core.frame(nsw2.link, 2, read(1)), nsw2.link)).toEqual([
      { kind: 'DetStored', stableDet: 2 },
    ]);
    expect(core.store.stableDet).toBe(2);
  });

  it('FetchLog streams the recovery log as an iterable, without building it in memory', () => {
    const core = new LoggerCore({ epoch: 1, leaseMs: 500 });
    const s = hello(core, 'ssw', 1);
    core.frame(s.link, 1, { kind: 'LogSyn', ...syn(1, 5000) });
    core.frame(s.link, 1, {
      kind: 'LogData',
      conn: 1,
      seq: 101,
      payload: new Uint8Array([7]),
      fin: false,
    });
    const fx = core.frame(s.link, 1, { kind: 'FetchLog', what: 'ssw' });
    expect(fx).toHaveLength(1);
    const e = fx[0]!;
    if (e.kind !== 'stream') throw new Error(`expected a stream, got ${e.kind}`);
    expect([...e.messages].map((m) => m.kind)).toEqual(['ReplaySyn', 'ReplayData', 'ReplayEnd']);
    // A stored close of that connection follows the stream (the SSW knows the conn by then).
    const n = hello(core, 'nsw', 1);
    core.frames(n.link, [
      {
        epoch: 1,
        msg: {
          kind: 'LogDeterminant',
          detSeq: 0,
          det: { kind: 'accept', conn: 0, clientAddr: 0xc6120002, clientPort: 5000 },
        },
      },
      {
        epoch: 1,
        msg: {
          kind: 'LogDeterminant',
          detSeq: 1,
          det: { kind: 'close', conn: 0, how: 'destroy', offset: 0 },
        },
      },
    ]);
    const again = core.frame(s.link, 1, { kind: 'FetchLog', what: 'ssw' });
    expect(again.map((x) => (x.kind === 'send' ? x.msg.kind : x.kind))).toEqual([
      'stream',
      'CloseLogged',
    ]);
  });

  it('coalesceAcks keeps the last ack per connection, in place', () => {
    const d = (conn: number, stableSeq: number): LoggerEffect => ({
      kind: 'send',
      link: 1,
      msg: { kind: 'DataStored', conn, stableSeq, finLogged: false },
    });
    expect(coalesceAcks([d(1, 5), d(2, 7), d(1, 9)])).toEqual([d(2, 7), d(1, 9)]);
  });
});

type Op =
  | { op: 'data'; back: number; len: number }
  | { op: 'det' }
  | { op: 'fence' }
  | { op: 'raise' }
  | { op: 'reconnectOld' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('data' as const),
      back: fc.nat(8),
      len: fc.integer({ min: 0, max: 24 }),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ op: 'det' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'fence' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'raise' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reconnectOld' as const }) },
);

describe('LoggerCore properties', () => {
  it('never acks beyond what it stored, never exceeds its limit, stores nothing of an old epoch after Fence', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 150 }),
        fc.array(opArb, { maxLength: 50 }),
        fc.nat(80),
        (stream, ops, budget) => {
          let limit = CONN_RECORD_COST + 40 + budget;
          const core = new LoggerCore({
            epoch: 1,
            leaseMs: 100,
            limits: { maxStoredBytes: limit },
          });
          const coord = hello(core, 'coordinator', 0).link;
          let epoch = 1;
          let ssw = hello(core, 'ssw', epoch).link;
          let nsw = hello(core, 'nsw', epoch).link;
          const live = new Set([ssw, nsw]);
          core.frame(ssw, epoch, { kind: 'LogSyn', ...syn(1, 6000) });
          let sentData = 0; // bytes handed to the logger (contiguous)
          let sentDets = 0;
          let fencedAt = Number.POSITIVE_INFINITY;
          const start = 101;
          const check = (fx: LoggerEffect[], fromOld: boolean) => {
            for (const e of fx) {
              if (e.kind === 'close') {
                live.delete(e.link);
                fx.push(...core.linkClosed(e.link));
              }
              if (e.kind !== 'send') continue;
              const m = e.msg;
              // Whatever the core says must be encodable as a frame (no RangeError at the link).
              encodeMessage(m, core.epoch);
              if (m.kind === 'DataStored') {
                expect(fromOld).toBe(false);
                expect(seqLe(m.stableSeq, core.store.stableSeq(1)!)).toBe(true);
              }
              if (m.kind === 'DetStored') {
                expect(fromOld).toBe(false);
                expect(m.stableDet).toBeLessThanOrEqual(core.store.stableDet);
              }
              if (m.kind === 'Fenced') fencedAt = m.epoch;
            }
            const have = core.store.clientBytes(1)!;
            expect([...have]).toEqual([...stream.subarray(0, have.length)]);
            expect(core.store.usage().storedBytes).toBeLessThanOrEqual(limit);
          };
          for (const op of ops) {
            const before = { bytes: core.store.clientBytes(1)!.length, dets: core.store.stableDet };
            switch (op.op) {
              case 'data': {
                if (!live.has(ssw)) break;
                const stored = core.store.clientBytes(1)!.length;
                const from = Math.max(0, Math.min(sentData, stored) - op.back);
                const to = Math.min(stream.length, from + op.len);
                sentData = Math.max(sentData, to);
                check(
                  core.frame(ssw, epoch, {
                    kind: 'LogData',
                    conn: 1,
                    seq: seqAdd(start, from),
                    payload: stream.slice(from, to),
                    fin: false,
                  }),
                  false,
                );
                break;
              }
              case 'det':
                if (!live.has(nsw)) break;
                check(
                  core.frame(nsw, epoch, {
                    kind: 'LogDeterminant',
                    detSeq: sentDets++,
                    det: { kind: 'clock', value: sentDets },
                  }),
                  false,
                );
                break;
              case 'fence': {
                const fx = core.frame(coord, 0, { kind: 'Fence', newEpoch: epoch + 1 });
                check(fx, false);
                expect(fencedAt).toBe(epoch + 1);
                epoch += 1;
                // The new incarnation resends from the store's acks (spec/messages.md).
                ssw = hello(core, 'ssw', epoch).link;
                nsw = hello(core, 'nsw', epoch).link;
                live.add(ssw);
                live.add(nsw);
                sentData = core.store.clientBytes(1)!.length;
                sentDets = core.store.stableDet;
                break;
              }
              case 'raise':
                limit += 20;
                check(core.setLimits({ maxStoredBytes: limit }), false);
                break;
              case 'reconnectOld': {
                // The old primary, if any, tries again with its epoch.
                if (epoch === 1) break;
                const l = core.openLink();
                const fx = core.frames(l, [
                  {
                    epoch: epoch - 1,
                    msg: { kind: 'Hello', role: 'ssw', hostId: 'old', epoch: epoch - 1 },
                  },
                  {
                    epoch: epoch - 1,
                    msg: {
                      kind: 'LogData',
                      conn: 1,
                      seq: start,
                      payload: stream.slice(0, 1),
                      fin: false,
                    },
                  },
                ]);
                expect(sends(fx)).toMatchObject([{ kind: 'Error', code: 'staleEpoch' }]);
                check(fx, true);
                expect(core.store.clientBytes(1)!.length).toBe(before.bytes);
                expect(core.store.stableDet).toBe(before.dets);
                break;
              }
            }
          }
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
