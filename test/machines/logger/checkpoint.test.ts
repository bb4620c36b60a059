// R14.1: the frame order of one checkpoint on a link, and the frames a stored checkpoint is
// served back as (R14.9).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CheckpointAssembler,
  type CheckpointFrame,
  CKPT_CONN_COST,
  checkpointFrames,
} from '../../../src/machines/logger/checkpoint.ts';
import { type CheckpointConnEntry, MAX_CHECKPOINT_CHUNK } from '../../../src/wire/logmsg.ts';

const SEED = Number(process.env.FC_SEED ?? 0xc4e7);

const entry = (nswConn: number): CheckpointConnEntry => ({
  nswConn,
  clientAddr: 1,
  clientPort: 2,
  readOffset: 3,
  eof: false,
  writeOffset: 5,
  outputFrom: 4,
  close: null,
  done: false,
});
const begin = (ckptId: number, conns: number, blobBytes: number, detSeq = 10): CheckpointFrame => ({
  kind: 'CheckpointBegin',
  ckptId,
  detSeq,
  conns,
  blobBytes,
});
const conn = (ckptId: number, n: number): CheckpointFrame => ({
  kind: 'CheckpointConn',
  ckptId,
  ...entry(n),
});
const data = (ckptId: number, offset: number, bytes: number[]): CheckpointFrame => ({
  kind: 'CheckpointData',
  ckptId,
  offset,
  data: new Uint8Array(bytes),
});
const end = (ckptId: number): CheckpointFrame => ({ kind: 'CheckpointEnd', ckptId });

const assembler = (max = 1 << 20, floor: { ckptId: number; detSeq: number } | null = null) =>
  new CheckpointAssembler(
    () => max,
    () => floor,
  );

describe('R14.1 receiving a checkpoint', () => {
  it('Begin, the announced connections in increasing order, contiguous data, End: complete', () => {
    const a = assembler();
    expect(a.take(begin(1, 2, 3))).toEqual({ kind: 'more' });
    expect(a.take(conn(1, 0))).toEqual({ kind: 'more' });
    expect(a.take(conn(1, 4))).toEqual({ kind: 'more' });
    const frame = data(1, 0, [7, 8]);
    expect(a.take(frame)).toEqual({ kind: 'more' });
    // The blob is copied out of the frame buffer the link reuses.
    if (frame.kind === 'CheckpointData') frame.data.fill(0);
    expect(a.take(data(1, 2, [9]))).toEqual({ kind: 'more' });
    expect(a.pendingBytes).toBe(3 + 2 * CKPT_CONN_COST);
    const r = a.take(end(1));
    expect(r).toEqual({
      kind: 'complete',
      checkpoint: {
        ckptId: 1,
        detSeq: 10,
        conns: [entry(0), entry(4)],
        blob: [new Uint8Array([7, 8]), new Uint8Array([9])],
        blobBytes: 3,
        cost: 3 + 2 * CKPT_CONN_COST,
      },
    });
    expect(a.inProgress).toBe(false);
  });

  it('anything out of order or miscounted is an error (badCheckpoint)', () => {
    const bad = (
      frames: CheckpointFrame[],
      floor: { ckptId: number; detSeq: number } | null = null,
    ) => {
      const a = assembler(1 << 20, floor);
      let last = { kind: 'more' } as ReturnType<typeof a.take>;
      for (const f of frames) {
        last = a.take(f);
        if (last.kind === 'error') return last.detail;
      }
      return `no error (${last.kind})`;
    };
    expect(bad([conn(1, 0)])).toMatch(/without CheckpointBegin/);
    expect(bad([begin(1, 1, 0), conn(2, 0)])).toMatch(/inside checkpoint 1/);
    expect(bad([begin(1, 2, 0), conn(1, 3), conn(1, 3)])).toMatch(/conn 3 after 3/);
    expect(bad([begin(1, 1, 0), conn(1, 0), conn(1, 1)])).toMatch(/more than the 1 announced/);
    expect(bad([begin(1, 1, 1), data(1, 0, [1])])).toMatch(/data before/);
    expect(bad([begin(1, 0, 2), data(1, 1, [1])])).toMatch(/data at 1, expected 0/);
    expect(bad([begin(1, 0, 1), data(1, 0, [1, 2])])).toMatch(/more than the 1 announced bytes/);
    expect(bad([begin(1, 0, 2), data(1, 0, [1]), end(1)])).toMatch(/1\/2 bytes/);
    expect(bad([begin(1, 1, 0), end(1)])).toMatch(/0\/1 connections/);
    expect(bad([begin(1, 0, 1), data(1, 0, [1]), conn(1, 0)])).toMatch(/more than the 0/);
    expect(bad([begin(5, 0, 0)], { ckptId: 5, detSeq: 0 })).toMatch(/not newer than the stored 5/);
    expect(bad([begin(6, 0, 0, 3)], { ckptId: 5, detSeq: 4 })).toMatch(/behind the stored one/);
  });

  it('a new Begin discards an unfinished checkpoint; discard() drops one whose link closed', () => {
    const a = assembler();
    a.take(begin(1, 0, 4));
    a.take(data(1, 0, [1, 2]));
    expect(a.take(begin(2, 0, 1))).toEqual({ kind: 'more' });
    a.take(data(2, 0, [3]));
    expect(a.take(end(2))).toMatchObject({ kind: 'complete', checkpoint: { ckptId: 2 } });
    a.take(begin(3, 0, 1));
    a.discard();
    expect(a.inProgress).toBe(false);
    expect(a.take(end(3))).toMatchObject({ kind: 'error' });
  });

  it('too large is rejected at Begin; its later frames are read and dropped', () => {
    const a = assembler(100);
    expect(a.take(begin(1, 1, 100 - CKPT_CONN_COST + 1))).toMatchObject({
      kind: 'rejected',
      ckptId: 1,
      detail: expect.stringMatching(/--max-checkpoint-bytes/),
    });
    expect(a.take(conn(1, 0))).toEqual({ kind: 'ignored' });
    expect(a.take(data(1, 0, [1]))).toEqual({ kind: 'ignored' });
    expect(a.take(end(1))).toEqual({ kind: 'ignored' });
    expect(a.take(begin(2, 1, 100 - CKPT_CONN_COST))).toEqual({ kind: 'more' });
  });
});

describe('R14.9 a stored checkpoint served back', () => {
  it('is the same table and blob, re-cut into frames a frame can carry; what the assembler takes back is equal', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 5 }),
        fc.nat(4),
        (blob, nConns) => {
          const blobBytes = blob.reduce((n, b) => n + b.length, 0);
          const conns = Array.from({ length: nConns }, (_, i) => entry(i * 3));
          const ck = {
            ckptId: 7,
            detSeq: 9,
            conns,
            blob: blob.filter((b) => b.length > 0),
            blobBytes,
            cost: blobBytes + nConns * CKPT_CONN_COST,
          };
          const a = assembler();
          let last: ReturnType<typeof a.take> | undefined;
          for (const f of checkpointFrames(ck)) last = a.take(f as CheckpointFrame);
          expect(last?.kind).toBe('complete');
          if (last?.kind !== 'complete') return;
          const joined = (bs: readonly Uint8Array[]) => bs.flatMap((b) => [...b]);
          expect(joined(last.checkpoint.blob)).toEqual(joined(ck.blob));
          expect(last.checkpoint.conns).toEqual(conns);
          expect(last.checkpoint.cost).toBe(ck.cost);
        },
      ),
      { seed: SEED, numRuns: 100 },
    );
    // A blob chunk larger than a frame is cut at MAX_CHECKPOINT_CHUNK.
    const big = new Uint8Array(MAX_CHECKPOINT_CHUNK + 10);
    const frames = [
      ...checkpointFrames({
        ckptId: 1,
        detSeq: 0,
        conns: [],
        blob: [big],
        blobBytes: big.length,
        cost: big.length,
      }),
    ];
    expect(frames.map((f) => (f.kind === 'CheckpointData' ? f.data.length : f.kind))).toEqual([
      'CheckpointBegin',
      MAX_CHECKPOINT_CHUNK,
      10,
      'CheckpointEnd',
    ]);
  });
});
