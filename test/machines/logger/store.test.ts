// The logger store (spec/logger.md): contiguity, resend checks, limits, close announcements,
// the recovery stream. Properties: under any split / resend / limit schedule the stored bytes
// are a prefix of what was sent, the ack equals what is stored, and usage stays in the limit.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONN_RECORD_COST } from '../../../src/machines/logger/limits.ts';
import { LoggerStore } from '../../../src/machines/logger/store.ts';
import type { Determinant, LoggerMessage, SynRecord } from '../../../src/wire/logmsg.ts';
import { seqAdd } from '../../../src/wire/seq.ts';

const SEED = Number(process.env.FC_SEED ?? 0x5709e);
const RUNS = Number(process.env.FC_RUNS ?? 150);

const opts = { mss: 1460, wscale: 7, sackOk: true, tsVal: 1, tsEcr: null };
const syn = (conn: number, clientPort = 40000 + conn, clientIsn = 1000 * conn): SynRecord => ({
  conn,
  clientAddr: 0xc6120002,
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

describe('LoggerStore: client streams', () => {
  it('stableSeq is clientIsn + 1 + stored bytes, + 1 once the FIN is stored', () => {
    const s = new LoggerStore();
    expect(s.logSyn(syn(1, 40001, 0xffff_fffe))).toEqual({ kind: 'stored', conn: 1 });
    expect(s.stableSeq(1)).toBe(0xffff_ffff);
    const r = s.logData(1, 0xffff_ffff, bytes('abc'), false);
    expect(r).toMatchObject({ kind: 'stored', stableSeq: 2, finLogged: false, added: 3 });
    expect(s.logData(1, 2, bytes(''), true)).toMatchObject({
      kind: 'stored',
      stableSeq: 3,
      finLogged: true,
    });
    expect(new TextDecoder().decode(s.clientBytes(1))).toBe('abc');
  });

  it('resends must match; holes and unknown connections are refused', () => {
    const s = new LoggerStore();
    s.logSyn(syn(1));
    const start = 1001;
    s.logData(1, start, bytes('hello'), false);
    expect(s.logData(1, start + 2, bytes('llo wo'), false)).toMatchObject({
      kind: 'stored',
      added: 3,
      stableSeq: start + 8,
    });
    expect(s.logData(1, start + 1, bytes('EL'), false)).toMatchObject({
      kind: 'error',
      code: 'conflict',
    });
    expect(s.logData(1, start + 9, bytes('x'), false)).toMatchObject({
      kind: 'error',
      code: 'gap',
    });
    expect(s.logData(1, start - 1, bytes('x'), false)).toMatchObject({
      kind: 'error',
      code: 'gap',
    });
    expect(s.logData(2, 0, bytes('x'), false)).toMatchObject({
      kind: 'error',
      code: 'unknownConn',
    });
    expect(s.logSyn({ ...syn(1), serverIsn: 78 })).toMatchObject({
      kind: 'error',
      code: 'conflict',
    });
    expect(s.logSyn(syn(1))).toEqual({ kind: 'stored', conn: 1 });
    s.logData(1, start + 8, bytes(''), true);
    expect(s.logData(1, start + 8, bytes('z'), false)).toMatchObject({
      kind: 'error',
      code: 'conflict',
    });
    expect(s.logData(1, start + 3, bytes('lo wo'), true)).toMatchObject({
      kind: 'stored',
      finLogged: true,
    });
    expect(s.logData(1, start + 3, bytes('lo w'), true)).toMatchObject({
      kind: 'error',
      code: 'conflict',
    });
  });

  it('stores the prefix that fits and reports full; nothing beyond it is acknowledged', () => {
    const s = new LoggerStore({ maxStoredBytes: CONN_RECORD_COST + 4 });
    s.logSyn(syn(1));
    const r = s.logData(1, 1001, bytes('abcdef'), true);
    expect(r).toMatchObject({ kind: 'full', stableSeq: 1005, finLogged: false, added: 4 });
    expect(s.usage().storedBytes).toBe(CONN_RECORD_COST + 4);
    expect(s.logSyn(syn(2))).toEqual({ kind: 'full', limit: 'bytes' });
    const big = new LoggerStore({ maxConns: 1 });
    big.logSyn(syn(1));
    expect(big.logSyn(syn(2))).toEqual({ kind: 'full', limit: 'conns' });
  });
});

describe('LoggerStore: determinants and CloseLogged', () => {
  const accept = (conn: number, port: number): Determinant => ({
    kind: 'accept',
    conn,
    clientAddr: 0xc6120002,
    clientPort: port,
  });

  it('appends in detSeq order; resends must match; gaps are refused', () => {
    const s = new LoggerStore();
    expect(s.logDeterminant(0, accept(0, 40001))).toMatchObject({ kind: 'stored', stableDet: 1 });
    expect(s.logDeterminant(0, accept(0, 40001))).toMatchObject({ kind: 'stored', stableDet: 1 });
    expect(s.logDeterminant(0, accept(0, 40002))).toMatchObject({
      kind: 'error',
      code: 'conflict',
    });
    expect(s.logDeterminant(2, { kind: 'eof', conn: 0 })).toMatchObject({
      kind: 'error',
      code: 'gap',
    });
    expect(s.logDeterminant(1, { kind: 'close', conn: 5, how: 'end', offset: 0 })).toMatchObject({
      kind: 'error',
      code: 'unknownConn',
    });
    const lim = new LoggerStore({ maxDets: 1 });
    lim.logDeterminant(0, { kind: 'clock', value: 1 });
    expect(lim.logDeterminant(1, { kind: 'clock', value: 2 })).toMatchObject({
      kind: 'full',
      stableDet: 1,
    });
  });

  it('a stored close is announced for the SSW record of that client, once per record', () => {
    const s = new LoggerStore();
    s.logSyn(syn(7, 40001));
    s.logDeterminant(0, accept(0, 40001));
    const r = s.logDeterminant(1, { kind: 'close', conn: 0, how: 'end', offset: 3 });
    expect(r).toMatchObject({
      kind: 'stored',
      closeLogged: { conn: 7, clientPort: 40001, how: 'end', offset: 3 },
    });
    // Announced again (after Welcome / FetchLog) with the same position.
    expect(s.pendingCloses()).toEqual([
      { conn: 7, clientAddr: 0xc6120002, clientPort: 40001, how: 'end', offset: 3 },
    ]);
    s.connClosed(7);
    expect(s.pendingCloses()).toEqual([]);
    // The client reuses its port: the new record must not inherit the old close (R5).
    s.logSyn(syn(9, 40001));
    expect(s.pendingCloses()).toEqual([]);
    s.logDeterminant(2, accept(1, 40001));
    expect(
      s.logDeterminant(3, { kind: 'close', conn: 1, how: 'destroy', offset: 0 }),
    ).toMatchObject({
      closeLogged: { conn: 9, how: 'destroy', offset: 0 },
    });
  });
});

describe('LoggerStore: recovery stream', () => {
  it("'ssw' streams open connections; 'nsw' streams closed ones and every determinant", () => {
    const s = new LoggerStore({ replayChunkBytes: 4 });
    s.logSyn(syn(1));
    s.logData(1, 1001, bytes('abcdefghij'), true);
    s.clientAcked(1, 500);
    s.clientAcked(1, 400); // a stale hint resent after a reconnect does not lower it
    s.logSyn(syn(2));
    s.logData(2, 2001, bytes('xy'), false);
    s.logSyn(syn(3));
    s.connClosed(3);
    s.logDeterminant(0, { kind: 'clock', value: 3 });
    // A peer without Capabilities gets the stream of before (no ReplayResume).
    const ssw = [...s.replay('ssw', false)];
    const brief = (m: LoggerMessage) =>
      m.kind === 'ReplayData'
        ? `D${m.conn}@${m.seq}:${new TextDecoder().decode(m.payload)}${m.fin ? '|F' : ''}`
        : m.kind === 'ReplaySyn'
          ? `S${m.conn}/${m.clientAck}`
          : m.kind;
    expect(ssw.map(brief)).toEqual([
      'S1/500',
      'D1@1001:abcd',
      'D1@1005:efgh',
      'D1@1009:ij|F',
      'S2/null',
      'D2@2001:xy',
      'ReplayEnd',
    ]);
    expect(ssw.at(-1)).toEqual({ kind: 'ReplayEnd', conns: 2, bytes: 12, dets: 0 });
    const nsw = [...s.replay('nsw', false)];
    expect(nsw.map(brief)).toEqual(['S3/null', 'ReplayDeterminant', 'ReplayEnd']);
    expect(nsw.at(-1)).toEqual({ kind: 'ReplayEnd', conns: 1, bytes: 0, dets: 1 });
  });

  it('a fetch is a snapshot of the moment it is asked', () => {
    const s = new LoggerStore();
    s.logSyn(syn(1));
    s.logData(1, 1001, bytes('ab'), false);
    const it = s.replay('ssw');
    s.logData(1, 1003, bytes('cd'), true);
    const got = [...it];
    expect(got.at(-1)).toEqual({ kind: 'ReplayEnd', conns: 1, bytes: 2, dets: 0 });
    expect(got.find((m) => m.kind === 'ReplayData')).toMatchObject({
      payload: bytes('ab'),
      fin: false,
    });
  });
});

describe('LoggerStore properties', () => {
  it('whatever the split, resend and limit schedule: stored = sent prefix, ack = stored, usage <= limit', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.array(
          fc.record({
            back: fc.nat(20),
            len: fc.integer({ min: 0, max: 40 }),
            raise: fc.boolean(),
          }),
          {
            minLength: 1,
            maxLength: 60,
          },
        ),
        fc.integer({ min: 0, max: 150 }),
        (stream, steps, budget) => {
          const isn = 0xffff_ff00; // wraps inside the stream
          const s = new LoggerStore({ maxStoredBytes: CONN_RECORD_COST + budget });
          s.logSyn(syn(1, 40001, isn));
          const start = seqAdd(isn, 1);
          let limit = CONN_RECORD_COST + budget;
          for (const st of steps) {
            const stored = s.clientBytes(1)!.length;
            // A sender resends from at most `back` bytes before the stored end (never a gap).
            const from = Math.max(0, stored - st.back);
            const to = Math.min(stream.length, from + st.len);
            const fin = to === stream.length;
            const r = s.logData(1, seqAdd(start, from), stream.subarray(from, to), fin);
            if (r.kind === 'error') throw new Error(r.detail);
            if (r.kind === 'abandoned') throw new Error('abandoned');
            const have = s.clientBytes(1)!;
            expect([...have]).toEqual([...stream.subarray(0, have.length)]);
            expect(r.stableSeq).toBe(seqAdd(start, have.length + (r.finLogged ? 1 : 0)));
            expect(r.finLogged).toBe(r.finLogged && have.length === stream.length);
            expect(s.usage().storedBytes).toBeLessThanOrEqual(limit);
            if (st.raise) {
              limit += 16;
              s.setLimits({ maxStoredBytes: limit });
            }
          }
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
