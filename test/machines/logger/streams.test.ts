// streams.ts (spec/logger.md "Storage", R14.6, R14.8) as free functions over a store state:
// offsets and their sequence numbers, the SYN record, contiguous client bytes with resends
// checked, the prefix that fits under the byte limit, and the hints that establish a record.

import { describe, expect, it } from 'vitest';
import { CONN_RECORD_COST, DEFAULT_LOGGER_LIMITS } from '../../../src/machines/logger/limits.ts';
import { newStoreState } from '../../../src/machines/logger/storeState.ts';
import {
  clientAcked,
  connEstablished,
  logData,
  logSyn,
  seqOfOffset,
  stableSeqOf,
  unwrapSeq,
} from '../../../src/machines/logger/streams.ts';
import type { SynRecord } from '../../../src/wire/logmsg.ts';
import { seqAdd } from '../../../src/wire/seq.ts';

const opts = { mss: 1460, wscale: 7, sackOk: true, tsVal: 1, tsEcr: null };
const syn = (conn: number, clientIsn = 1000 * conn): SynRecord => ({
  conn,
  clientAddr: 0xc6120002,
  clientPort: 40000 + conn,
  serverAddr: 0xc612000a,
  serverPort: 6379,
  clientIsn,
  serverIsn: 77,
  clientOpts: opts,
  serverOpts: opts,
  synTimeMs: 5,
});
const state = (over: Partial<typeof DEFAULT_LOGGER_LIMITS> = {}) =>
  newStoreState({ ...DEFAULT_LOGGER_LIMITS, ...over });
const bytes = (s: string) => new TextEncoder().encode(s);

describe('streams.ts: records, client bytes and offsets', () => {
  it('R14.8 seqOfOffset and unwrapSeq are inverse around the stored end, across 2^32', () => {
    const start = 0xffff_fff0;
    expect(seqOfOffset(start, 0)).toBe(start);
    expect(seqOfOffset(start, 2 ** 32 + 5)).toBe(seqAdd(start, 5));
    for (const end of [0, 100, 2 ** 32 - 3, 2 ** 32 + 7, 3 * 2 ** 32 + 11]) {
      for (const d of [-1000, -1, 0, 1, 1000]) {
        if (end + d < 0) continue;
        expect(unwrapSeq(start, end, seqOfOffset(start, end + d))).toBe(end + d);
      }
    }
  });

  it('logSyn: a record costs CONN_RECORD_COST; the same again is stored, another is a conflict', () => {
    const s = state({ maxConns: 1 });
    expect(logSyn(s, syn(1))).toEqual({ kind: 'stored', conn: 1 });
    expect(s.used).toBe(CONN_RECORD_COST);
    expect(s.embryonic.has(1)).toBe(true);
    expect(logSyn(s, { ...syn(1), kind: 'LogSyn' } as SynRecord)).toEqual({
      kind: 'stored',
      conn: 1,
    });
    expect(logSyn(s, { ...syn(1), serverIsn: 78 })).toMatchObject({ code: 'conflict' });
    expect(logSyn(s, syn(2))).toEqual({ kind: 'full', limit: 'conns' });
    // The stored record is the record's own fields: no `kind` travels into a ReplaySyn.
    expect('kind' in (s.conns.get(1)?.syn ?? {})).toBe(false);
  });

  it('logData: contiguous, resends checked, a gap refused, the prefix that fits stored', () => {
    const s = state({ maxStoredBytes: CONN_RECORD_COST + 8, highWaterBytes: 1 });
    logSyn(s, syn(1));
    const c = s.conns.get(1);
    expect(logData(s, 1, 1001, bytes('hello'), false)).toMatchObject({
      kind: 'stored',
      added: 5,
      stableSeq: 1006,
    });
    expect(s.embryonic.has(1)).toBe(false);
    expect(logData(s, 1, 1002, bytes('eX'), false)).toMatchObject({ code: 'conflict' });
    expect(logData(s, 1, 1007, bytes('x'), false)).toMatchObject({ code: 'gap' });
    expect(logData(s, 1, 1004, bytes('lo world'), true)).toMatchObject({
      kind: 'full',
      added: 3,
      finLogged: false,
      limit: 'bytes',
    });
    expect(c?.end).toBe(8);
    expect(c === undefined ? 0 : stableSeqOf(c)).toBe(1009);
    expect(logData(s, 9, 1, bytes('x'), false)).toMatchObject({ code: 'unknownConn' });
  });

  it('R14.6: bytes below the truncation point are accepted unchecked and not held', () => {
    const s = state();
    logSyn(s, syn(1));
    const c = s.conns.get(1);
    if (c === undefined) throw new Error('no record');
    c.dropTo = 4;
    expect(logData(s, 1, 1001, bytes('abcdef'), false)).toMatchObject({ kind: 'stored', added: 6 });
    expect(c.heldFrom).toBe(4);
    expect(s.used).toBe(CONN_RECORD_COST + 2);
    // A resend of the dropped part differs, and is still accepted.
    expect(logData(s, 1, 1001, bytes('XYZ'), false)).toMatchObject({ kind: 'stored', added: 0 });
  });

  it('hints: ClientAcked keeps the highest and establishes past the SYN-ACK; ConnEstablished', () => {
    const s = state();
    logSyn(s, syn(1));
    logSyn(s, syn(2));
    expect(clientAcked(s, 1, 78)).toBeNull();
    expect(s.embryonic.has(1)).toBe(true);
    expect(clientAcked(s, 1, 90)).toBeNull();
    expect(clientAcked(s, 1, 80)).toBeNull();
    expect(s.conns.get(1)?.clientAck).toBe(90);
    expect(s.embryonic.has(1)).toBe(false);
    expect(connEstablished(s, 2)).toBeNull();
    expect(s.conns.get(2)?.established).toBe(true);
    s.abandonedConns.set(3, 'storeFull');
    expect(connEstablished(s, 3)).toEqual({ kind: 'abandoned', conn: 3, reason: 'storeFull' });
    expect(clientAcked(s, 4, 1)).toMatchObject({ code: 'unknownConn' });
  });
});
