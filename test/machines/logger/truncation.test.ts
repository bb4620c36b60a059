// The store's side of checkpoints (spec/logger.md R14) and limits (R15.4, R15.6): one
// `describe` per rule, then the property behind I7 `TruncationSafe`: whatever the schedule of
// appends and checkpoints, a recovery from the stored checkpoint gets back exactly the client
// bytes and determinants it needs.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CKPT_CONN_COST, type StoredCheckpoint } from '../../../src/machines/logger/checkpoint.ts';
import { CONN_RECORD_COST } from '../../../src/machines/logger/limits.ts';
import { LoggerStore } from '../../../src/machines/logger/store.ts';
import { seqOfOffset, unwrapSeq } from '../../../src/machines/logger/streams.ts';
import {
  type CheckpointConnEntry,
  type Determinant,
  encodeDeterminant,
  type LoggerMessage,
  type SynRecord,
} from '../../../src/wire/logmsg.ts';
import { seqAdd } from '../../../src/wire/seq.ts';

const SEED = Number(process.env.FC_SEED ?? 0x7e0c);
const RUNS = Number(process.env.FC_RUNS ?? 150);

const ADDR = 0xc6120002;
const opts = { mss: 1460, wscale: 7, sackOk: true, tsVal: 1, tsEcr: null };
const syn = (conn: number, clientPort = 40000 + conn, clientIsn = 1000 * conn): SynRecord => ({
  conn,
  clientAddr: ADDR,
  clientPort,
  serverAddr: 0xc612000a,
  serverPort: 6379,
  clientIsn,
  serverIsn: 77,
  clientOpts: opts,
  serverOpts: opts,
  synTimeMs: 5,
});
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);
const accept = (conn: number, port: number): Determinant => ({
  kind: 'accept',
  conn,
  clientAddr: ADDR,
  clientPort: port,
});
const entry = (
  nswConn: number,
  port: number,
  readOffset: number,
  more: Partial<CheckpointConnEntry> = {},
): CheckpointConnEntry => ({
  nswConn,
  clientAddr: ADDR,
  clientPort: port,
  readOffset,
  eof: false,
  writeOffset: 0,
  outputFrom: 0,
  close: null,
  done: false,
  ...more,
});
const ckpt = (
  ckptId: number,
  detSeq: number,
  conns: CheckpointConnEntry[],
  blob = bytes('snapshot'),
): StoredCheckpoint => ({
  ckptId,
  detSeq,
  conns,
  blob: [blob],
  blobBytes: blob.length,
  cost: blob.length + CKPT_CONN_COST * conns.length,
});
const start = (isn: number) => seqAdd(isn, 1);
const detBytes = (d: Determinant) => encodeDeterminant(d).length;

describe('R14.8 stream offsets are 64-bit: a sequence number is unwrapped against the stored end', () => {
  it('unwrapSeq is the signed distance from the end, across the 32-bit wrap', () => {
    const s0 = 0xffff_fff0;
    expect(unwrapSeq(s0, 0, s0)).toBe(0);
    expect(unwrapSeq(s0, 0, seqAdd(s0, 5))).toBe(5);
    expect(unwrapSeq(s0, 0, seqAdd(s0, -1))).toBe(-1);
    // At 4 GiB + 100 the sequence number has wrapped past the start: still the far offset.
    const end = 2 ** 32 + 100;
    expect(unwrapSeq(s0, end, seqOfOffset(s0, end))).toBe(end);
    expect(unwrapSeq(s0, end, seqOfOffset(s0, end - 7))).toBe(end - 7);
    expect(unwrapSeq(s0, end, seqOfOffset(s0, end + 9))).toBe(end + 9);
    expect(seqOfOffset(s0, 2 ** 52 + 3)).toBe(seqAdd(s0, 3));
  });

  it('a connection driven past 4 GiB: new bytes stored at their offset, not taken for resends of the first ones', () => {
    const s = new LoggerStore();
    const isn = 0xffff_fff0; // the stream wraps the sequence space in its first 16 bytes
    s.logSyn(syn(1, 40001, isn));
    s.logDeterminant(0, accept(0, 40001));
    s.logData(1, start(isn), bytes('hello'), false);
    // The application consumed 4 GiB + 100 bytes (synthetic: a checkpoint says so). Bytes the
    // SSW then logs below that point are counted but not held (R14.6), so driving the stream
    // past 4 GiB costs no memory.
    const far = 2 ** 32 + 100;
    s.storeCheckpoint(ckpt(1, 1, [entry(0, 40001, far)]));
    const chunk = new Uint8Array(1 << 20);
    let off = 5;
    while (off < far) {
      const n = Math.min(chunk.length, far - off);
      const r = s.logData(1, seqOfOffset(start(isn), off), chunk.subarray(0, n), false);
      expect(r.kind).toBe('stored');
      off += n;
    }
    expect(s.stream(1)).toEqual({ heldFrom: far, end: far, dropTo: far, fin: false });
    expect(s.usage().storedBytes).toBe(CONN_RECORD_COST);
    // The old unsigned distance from the start read this as offset 100, a resend of the
    // stream's first bytes; it is offset 2^32 + 100, new bytes.
    const seq = seqOfOffset(start(isn), far);
    expect((seq - start(isn)) >>> 0).toBe(100);
    const r = s.logData(1, seq, bytes('past 4 GiB'), false);
    expect(r).toMatchObject({
      kind: 'stored',
      added: 10,
      stableSeq: seqOfOffset(start(isn), far + 10),
    });
    expect(text(s.clientBytes(1))).toBe('past 4 GiB');
    // A resend across that point is compared with what is held there...
    expect(s.logData(1, seqOfOffset(start(isn), far + 5), bytes('4 GiB!'), false)).toMatchObject({
      kind: 'stored',
      added: 1,
    });
    expect(s.logData(1, seqOfOffset(start(isn), far + 5), bytes('4 GIB'), false)).toMatchObject({
      kind: 'error',
      code: 'conflict',
    });
    // ...and a hole beyond the end is still a gap.
    expect(s.logData(1, seqOfOffset(start(isn), far + 20), bytes('x'), false)).toMatchObject({
      kind: 'error',
      code: 'gap',
    });
    // Replay places the held bytes at their offset (seq of 2^32 + 100) and says where it starts.
    const ssw = [...s.replay('ssw')];
    expect(ssw.find((m) => m.kind === 'ReplayResume')).toEqual({
      kind: 'ReplayResume',
      conn: 1,
      readOffset: far,
      outputFrom: 0,
      end: far + 11,
    });
    expect(ssw.find((m) => m.kind === 'ReplayData')).toMatchObject({ seq, fin: false });
  });
});

describe('R14.5 truncation by a stored checkpoint', () => {
  // conn 1: open, app conn 0, in the table at readOffset 3
  // conn 2: ConnClosed, app conn 1, accepted before D, not in the table -> dropped whole (c)
  // conn 3: ConnClosed, app conn 2, in the table (a ghost the app still reads) -> truncated (b)
  // conn 4: never accepted by the application -> kept whole
  // conn 5: app conn 3 accepted after D -> kept whole
  const build = () => {
    const s = new LoggerStore();
    for (const c of [1, 2, 3, 4, 5]) s.logSyn(syn(c));
    s.logData(1, start(1000), bytes('abcdef'), false);
    s.logData(2, start(2000), bytes('gone'), true);
    s.logData(3, start(3000), bytes('ghost!'), true);
    s.logData(4, start(4000), bytes('waiting'), false);
    s.logData(5, start(5000), bytes('late'), false);
    const dets: Determinant[] = [
      accept(0, 40001),
      accept(1, 40002),
      { kind: 'read', conn: 1, len: 4 },
      { kind: 'eof', conn: 1 },
      { kind: 'close', conn: 1, how: 'end', offset: 0 },
      accept(2, 40003),
      { kind: 'read', conn: 0, len: 3 },
      accept(3, 40005),
    ];
    for (const [i, d] of dets.entries()) expect(s.logDeterminant(i, d).kind).toBe('stored');
    s.connClosed(2);
    s.connClosed(3);
    return { s, dets };
  };

  it('drops determinants below D, consumed bytes, finished records; keeps everything else', () => {
    const { s, dets } = build();
    const before = s.usage();
    const D = 7;
    const r = s.storeCheckpoint(
      ckpt(1, D, [entry(0, 40001, 3), entry(2, 40003, 2, { eof: false })]),
    );
    const detCost = dets.slice(0, D).reduce((n, d) => n + detBytes(d), 0);
    expect(r).toEqual({
      ckptId: 1,
      detSeq: D,
      dets: D,
      clientBytes: 3 + 2,
      records: 1,
      freedBytes: detCost + 3 + 2 + 4 + CONN_RECORD_COST,
      keptUnlisted: 0,
    });
    // R14.7: the accounting goes down by exactly what was dropped.
    expect(s.usage().storedBytes).toBe(before.storedBytes - r.freedBytes);
    expect(s.usage().checkpointBytes).toBe(s.checkpoint!.cost);
    // a. determinants: positions stay absolute
    expect(s.detBase).toBe(D);
    expect(s.stableDet).toBe(dets.length);
    expect(s.determinants()).toEqual(dets.slice(D));
    // b. consumed bytes
    expect(text(s.clientBytes(1))).toBe('def');
    expect(s.stream(1)).toMatchObject({ heldFrom: 3, end: 6, dropTo: 3 });
    expect(text(s.clientBytes(3))).toBe('ost!');
    // c. the finished record is gone; the others are whole
    expect(s.hasConn(2)).toBe(false);
    expect(text(s.clientBytes(4))).toBe('waiting');
    expect(text(s.clientBytes(5))).toBe('late');
    // d. a close can still name a table connection or one accepted after D, not a dropped one
    expect(s.logDeterminant(8, { kind: 'close', conn: 0, how: 'end', offset: 1 })).toMatchObject({
      kind: 'stored',
      closeLogged: { conn: 1 },
    });
    expect(s.logDeterminant(9, { kind: 'close', conn: 3, how: 'end', offset: 0 })).toMatchObject({
      kind: 'stored',
      closeLogged: { conn: 5 },
    });
    expect(s.logDeterminant(10, { kind: 'close', conn: 1, how: 'end', offset: 0 })).toMatchObject({
      kind: 'error',
      code: 'unknownConn',
    });
  });

  it('R14.5 c at once: a ConnClosed after the stored checkpoint drops a record the checkpoint finished', () => {
    const s = new LoggerStore();
    for (const c of [1, 2]) s.logSyn(syn(c));
    s.logData(1, start(1000), bytes('gone'), true);
    s.logData(2, start(2000), bytes('open'), false);
    const dets: Determinant[] = [
      accept(0, 40001),
      { kind: 'read', conn: 0, len: 4 },
      { kind: 'close', conn: 0, how: 'end', offset: 0 },
      accept(1, 40002),
    ];
    for (const [i, d] of dets.entries()) expect(s.logDeterminant(i, d).kind).toBe('stored');
    // The checkpoint comes before the SSW's ConnClosed of conn 1: its record is kept (the SSW
    // might still re-create it), as is conn 2 (accepted after D).
    expect(s.storeCheckpoint(ckpt(1, 3, [])).records).toBe(0);
    expect(s.hasConn(1)).toBe(true);
    // Then the close: the checkpoint already finished conn 1, so its record goes now.
    expect(s.connClosed(1)).toEqual({ nswConn: 0 });
    expect(s.hasConn(1)).toBe(false);
    // Conn 2 was accepted after D: its close keeps the record for the next checkpoint.
    s.connClosed(2);
    expect(s.hasConn(2)).toBe(true);
  });

  it('R14.4 a newer checkpoint replaces the older; truncation points only move forward', () => {
    const { s } = build();
    s.storeCheckpoint(ckpt(1, 7, [entry(0, 40001, 3), entry(2, 40003, 2)]));
    expect(s.checkCheckpoint(ckpt(2, 6, []))).toMatch(/behind the stored one/);
    expect(s.checkCheckpoint(ckpt(2, 7, [entry(0, 40001, 2)]))).toMatch(/read 2 < 3/);
    expect(s.checkCheckpoint(ckpt(2, 99, []))).toMatch(/covers determinants up to 99/);
    const second = ckpt(2, 8, [entry(0, 40001, 5), entry(3, 40005, 1)], bytes('s2'));
    expect(s.checkCheckpoint(second)).toBeNull();
    const r = s.storeCheckpoint(second);
    expect(s.checkpoint).toBe(second);
    expect(s.usage().checkpointBytes).toBe(2 + 2 * CKPT_CONN_COST);
    // conn 3's record (app conn 2, a ghost) is finished now: closed, not in the new table.
    expect(r).toMatchObject({ dets: 1, records: 1, clientBytes: 2 + 1 });
    expect(text(s.clientBytes(1))).toBe('f');
    expect(text(s.clientBytes(5))).toBe('ate');
  });

  it('R14.3/R14.6 a checkpoint may read past the stored end; those bytes then move the end unheld', () => {
    const s = new LoggerStore();
    s.logSyn(syn(1));
    s.logDeterminant(0, accept(0, 40001));
    s.logData(1, start(1000), bytes('ab'), false);
    s.storeCheckpoint(ckpt(1, 1, [entry(0, 40001, 5)]));
    expect(s.stream(1)).toEqual({ heldFrom: 2, end: 2, dropTo: 5, fin: false });
    // The SSW's LogData for bytes 2..7 arrives: 2..4 only move the end, 5..7 are held.
    expect(s.logData(1, start(1000) + 2, bytes('cdefgh'), false)).toMatchObject({
      kind: 'stored',
      added: 6,
      stableSeq: start(1000) + 8,
    });
    expect(text(s.clientBytes(1))).toBe('fgh');
    expect(s.usage().storedBytes).toBe(CONN_RECORD_COST + 3);
    // A resend below heldFrom is a duplicate nobody needs: accepted without comparison.
    expect(s.logData(1, start(1000), bytes('XYZW'), false)).toMatchObject({
      kind: 'stored',
      added: 0,
    });
    // The held part of a resend is still compared.
    expect(s.logData(1, start(1000) + 4, bytes('eF'), false)).toMatchObject({
      kind: 'error',
      code: 'conflict',
    });
    // A determinant below detBase is a resend of one the checkpoint covers: accepted.
    expect(s.logDeterminant(0, { kind: 'clock', value: 1 })).toMatchObject({
      kind: 'stored',
      stableDet: 1,
    });
  });

  it('R14.5 e: in an unrecorded log a ConnClosed record goes at once, with the determinants naming only it', () => {
    const s = new LoggerStore();
    s.setUnrecorded(true);
    s.logSyn(syn(1));
    s.logSyn(syn(2));
    s.logData(1, start(1000), bytes('one'), true);
    // The SSW's recorder logs accept + close per connection, with conn = connId (R5.8).
    s.logDeterminant(0, accept(1, 40001));
    s.logDeterminant(1, { kind: 'close', conn: 1, how: 'end', offset: 3 });
    s.logDeterminant(2, accept(2, 40002));
    const before = s.usage().storedBytes;
    expect(s.connClosed(1)).toEqual({ nswConn: null });
    expect(s.hasConn(1)).toBe(false);
    expect(s.detBase).toBe(2);
    expect(s.stableDet).toBe(3);
    expect(before - s.usage().storedBytes).toBe(
      CONN_RECORD_COST + 3 + detBytes(accept(1, 40001)) + 14,
    );
    // The recorder learns the next detSeq from ReplayEnd.dets (one past the last).
    expect([...s.replay('nsw')].at(-1)).toEqual({ kind: 'ReplayEnd', conns: 0, bytes: 0, dets: 3 });
  });
});

describe('R14.9 recovery from the latest checkpoint', () => {
  it("'nsw': the checkpoint, the held ghosts from heldFrom, determinants from D; 'ssw': ReplayResume per record", () => {
    const s = new LoggerStore({ replayChunkBytes: 4 });
    s.logSyn(syn(1));
    s.logSyn(syn(2));
    s.logDeterminant(0, accept(0, 40001));
    s.logDeterminant(1, accept(1, 40002));
    s.logData(1, start(1000), bytes('0123456789'), false);
    s.logData(2, start(2000), bytes('ghost'), true);
    s.connClosed(2);
    s.logDeterminant(2, { kind: 'read', conn: 0, len: 4 });
    s.clientAcked(1, 90);
    const ck = ckpt(1, 3, [
      entry(0, 40001, 4, { writeOffset: 12, outputFrom: 10 }),
      entry(1, 40002, 2),
    ]);
    s.storeCheckpoint(ck);
    s.logDeterminant(3, { kind: 'read', conn: 0, len: 6 });
    const brief = (m: LoggerMessage) =>
      m.kind === 'ReplayData'
        ? `D${m.conn}@${m.seq}:${text(m.payload)}${m.fin ? '|F' : ''}`
        : m.kind === 'ReplayResume'
          ? `R${m.conn}:${m.readOffset}/${m.outputFrom}/${m.end}`
          : m.kind === 'ReplayDeterminant'
            ? `T${m.detSeq}`
            : m.kind === 'ReplaySyn'
              ? `S${m.conn}`
              : m.kind;
    const nsw = [...s.replay('nsw')];
    expect(nsw.map(brief)).toEqual([
      'CheckpointBegin',
      'CheckpointConn',
      'CheckpointConn',
      'CheckpointData',
      'CheckpointEnd',
      'S2',
      'R2:2/0/5',
      'D2@2003:ost|F',
      'T3',
      'ReplayEnd',
    ]);
    expect(nsw[0]).toEqual({
      kind: 'CheckpointBegin',
      ckptId: 1,
      detSeq: 3,
      conns: 2,
      blobBytes: 8,
    });
    expect(nsw[1]).toEqual({ kind: 'CheckpointConn', ckptId: 1, ...ck.conns[0] });
    expect(nsw.at(-1)).toEqual({ kind: 'ReplayEnd', conns: 1, bytes: 3, dets: 4 });
    const ssw = [...s.replay('ssw')];
    expect(ssw.map(brief)).toEqual(['S1', 'R1:4/10/10', 'D1@1005:4567', 'D1@1009:89', 'ReplayEnd']);
    expect(ssw[0]).toMatchObject({ clientAck: 90 });
    // A peer without Capabilities gets neither the checkpoint nor ReplayResume.
    expect([...s.replay('nsw', false)].map(brief)).toEqual([
      'S2',
      'D2@2003:ost|F',
      'T3',
      'ReplayEnd',
    ]);
  });

  it('a fetch is a snapshot: a truncation after it does not change the answer', () => {
    const s = new LoggerStore();
    s.logSyn(syn(1));
    s.logDeterminant(0, accept(0, 40001));
    s.logData(1, start(1000), bytes('abcdef'), false);
    const it = s.replay('ssw');
    s.storeCheckpoint(ckpt(1, 1, [entry(0, 40001, 4)]));
    const got = [...it];
    expect(got.find((m) => m.kind === 'ReplayData')).toMatchObject({ payload: bytes('abcdef') });
    expect(got.find((m) => m.kind === 'ReplayResume')).toMatchObject({ readOffset: 0 });
  });
});

describe('R15 limits, in the store', () => {
  it('R15.4 conn scope: an abandoned connection frees its memory and is answered, never unknownConn', () => {
    const s = new LoggerStore({ maxConns: 2 });
    s.logSyn(syn(1));
    s.logData(1, start(1000), bytes('abc'), false);
    s.abandon(1, 'storeFull');
    expect(s.usage()).toMatchObject({ storedBytes: 0, conns: 0, abandoned: 1 });
    expect(s.logData(1, start(1000) + 3, bytes('d'), false)).toEqual({
      kind: 'abandoned',
      conn: 1,
      reason: 'storeFull',
    });
    expect(s.clientAcked(1, 5)).toMatchObject({ kind: 'abandoned' });
    expect(s.connEstablished(1)).toMatchObject({ kind: 'abandoned' });
    expect(s.connClosed(1)).toMatchObject({ kind: 'abandoned' });
    // A new LogSyn for it is a new record (spec/ssw.md R2.7).
    expect(s.logSyn(syn(1))).toEqual({ kind: 'stored', conn: 1 });
    expect(s.abandonedReason(1)).toBeUndefined();
    // Bounded: the oldest abandoned connections are forgotten first.
    for (const c of [10, 11, 12]) s.abandon(c, 'storeFull');
    expect(s.usage().abandoned).toBe(2);
    expect(s.abandonedReason(10)).toBeUndefined();
    expect(s.logData(10, 0, bytes('x'), false)).toMatchObject({
      kind: 'error',
      code: 'unknownConn',
    });
  });

  it('R15.4 app scope: unprotect drops the whole log', () => {
    const s = new LoggerStore();
    s.logSyn(syn(1));
    s.logData(1, start(1000), bytes('abc'), false);
    s.logDeterminant(0, accept(0, 40001));
    s.storeCheckpoint(ckpt(1, 1, [entry(0, 40001, 1)]));
    s.unprotect();
    expect(s.unprotected).toBe(true);
    expect(s.usage()).toMatchObject({ storedBytes: 0, conns: 0, dets: 0, checkpointBytes: 0 });
    expect(s.checkpoint).toBeNull();
  });

  it('R15.6 embryonic records expire between the TTL and the TTL plus one tick; established ones never', () => {
    const s = new LoggerStore({ embryonicTtlMs: 1000 });
    for (const c of [1, 2, 3, 4, 5, 6]) s.logSyn(syn(c));
    s.connEstablished(2);
    s.logData(3, start(3000), bytes('x'), false);
    s.logDeterminant(0, accept(0, 40004));
    s.clientAcked(5, seqAdd(77, 1)); // the SYN-ACK acked: not enough (no ConnEstablished)
    s.clientAcked(6, seqAdd(77, 2)); // server data acked: the handshake completed
    expect(s.usage().embryonic).toBe(2);
    expect(s.expireEmbryonic(10_000)).toEqual([]); // stamped at the first tick after storage
    expect(s.expireEmbryonic(10_999)).toEqual([]);
    expect(s.expireEmbryonic(11_000)).toEqual([1, 5]);
    expect(s.abandonedReason(1)).toBe('embryonicExpired');
    expect(s.usage()).toMatchObject({ conns: 4, embryonic: 0 });
    // Established connections stay, however long they idle.
    expect(s.expireEmbryonic(1e12)).toEqual([]);
    expect(s.usage().conns).toBe(4);
  });

  it('R15.1 high water and limits are measured per limit', () => {
    const s = new LoggerStore({ maxStoredBytes: 1000, maxConns: 4, maxDets: 4 });
    expect(s.limits.highWaterBytes).toBe(500);
    s.setLimits({ maxStoredBytes: 2000 });
    expect(s.limits.highWaterBytes).toBe(1000);
    expect(() => s.setLimits({ highWaterBytes: 3000 })).toThrow(/highWaterBytes/);
    for (const c of [1, 2, 3]) s.logSyn(syn(c));
    expect(s.aboveHighWater()).toBe('conns');
    s.logSyn(syn(4));
    expect(s.atLimit()).toBe('conns');
    expect(s.measure('conns')).toEqual({ used: 4, max: 4 });
    expect(s.logDeterminant(0, { kind: 'clock', value: 1 }).kind).toBe('stored');
    for (let i = 1; i < 4; i++) s.logDeterminant(i, { kind: 'clock', value: i });
    expect(s.logDeterminant(4, { kind: 'clock', value: 9 })).toMatchObject({
      kind: 'full',
      limit: 'dets',
    });
    // R14.2: a determinant a complete checkpoint covers is stored past the limit.
    expect(s.logDeterminant(4, { kind: 'clock', value: 9 }, true)).toMatchObject({
      kind: 'stored',
      stableDet: 5,
    });
  });
});

describe('I7 TruncationSafe (property)', () => {
  it('a recovery from the stored checkpoint gets exactly the bytes after each readOffset and the determinants after D', () => {
    type Op =
      | { op: 'data'; conn: 0 | 1; len: number }
      | { op: 'read'; conn: 0 | 1; len: number }
      | { op: 'det' }
      | { op: 'ckpt'; back: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        op: fc.constant('data' as const),
        conn: fc.constantFrom(0 as const, 1 as const),
        len: fc.integer({ min: 1, max: 30 }),
      }),
      fc.record({
        op: fc.constant('read' as const),
        conn: fc.constantFrom(0 as const, 1 as const),
        len: fc.integer({ min: 1, max: 30 }),
      }),
      fc.record({ op: fc.constant('det' as const) }),
      fc.record({ op: fc.constant('ckpt' as const), back: fc.nat(4) }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 200, maxLength: 200 }), { minLength: 2, maxLength: 2 }),
        fc.array(opArb, { maxLength: 80 }),
        fc.nat(0xffff_ffff),
        (streams, ops, isn) => {
          const s = new LoggerStore();
          const sent = [0, 0]; // bytes the SSW logged per connection
          const read = [0, 0]; // bytes the application consumed (may run ahead of `sent`, R14.3)
          const dets: Determinant[] = [];
          // readAt[D]: what the application had consumed after determinants 0..D-1, i.e.
          // the readOffsets of a checkpoint taken at D.
          const readAt: number[][] = [[0, 0]];
          const logDet = (d: Determinant): void => {
            expect(s.logDeterminant(dets.length, d).kind).toBe('stored');
            dets.push(d);
            readAt.push([...read]);
          };
          for (const c of [0, 1]) {
            s.logSyn(syn(c + 1, 40001 + c, isn));
            logDet(accept(c, 40001 + c));
          }
          let ckptId = 0;
          let stored: { D: number; read: number[] } = { D: 0, read: [0, 0] };
          for (const o of ops) {
            if (o.op === 'data') {
              const from = sent[o.conn]!;
              const to = Math.min(200, from + o.len);
              const r = s.logData(
                o.conn + 1,
                seqOfOffset(start(isn), from),
                streams[o.conn]!.subarray(from, to),
                false,
              );
              expect(r.kind).toBe('stored');
              sent[o.conn] = to;
            } else if (o.op === 'read') {
              // The kernel may hand the application bytes the logger has not stored yet.
              const n = Math.min(o.len, 200 - read[o.conn]!);
              if (n === 0) continue;
              read[o.conn]! += n;
              logDet({ kind: 'read', conn: o.conn, len: n });
            } else if (o.op === 'det') {
              logDet({ kind: 'clock', value: dets.length });
            } else {
              // Taken at D, possibly a few determinants back (never behind the stored one).
              const D = Math.max(stored.D, dets.length - o.back);
              const at = readAt[D]!;
              const ck = ckpt(++ckptId, D, [entry(0, 40001, at[0]!), entry(1, 40002, at[1]!)]);
              expect(s.checkCheckpoint(ck)).toBeNull();
              s.storeCheckpoint(ck);
              stored = { D, read: [...at] };
            }
            // What a recovery starting now needs, from what the store would serve.
            const nsw = [...s.replay('nsw')];
            const replayed = nsw.flatMap((m) => (m.kind === 'ReplayDeterminant' ? [m] : []));
            expect(replayed.map((m) => m.detSeq)).toEqual(
              dets.map((_, i) => i).filter((i) => i >= stored.D),
            );
            expect(replayed.map((m) => m.det)).toEqual(dets.slice(stored.D));
            const resumes = new Map<number, { readOffset: number; end: number }>();
            const data = new Map<number, number[]>();
            for (const m of s.replay('ssw')) {
              if (m.kind === 'ReplayResume') resumes.set(m.conn, m);
              if (m.kind === 'ReplayData')
                data.set(m.conn, [...(data.get(m.conn) ?? []), ...m.payload]);
            }
            for (const c of [0, 1]) {
              const need = stored.read[c]!;
              const r = resumes.get(c + 1)!;
              expect(r.readOffset).toBe(need);
              expect(r.end).toBe(sent[c]);
              // Every stored byte at or after the restart point is there, in order.
              const got = data.get(c + 1) ?? [];
              const want = [...streams[c]!.subarray(Math.min(need, sent[c]!), sent[c]!)];
              expect(got).toEqual(want);
            }
          }
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
