// abandon.ts (spec/logger.md R15.4, R15.6): a connection given up is dropped and remembered
// (the oldest forgotten past maxConns), embryonic records expire a TTL after the first tick
// that saw them, established ones never do, and the whole log given up holds nothing.

import { describe, expect, it } from 'vitest';
import { abandon, expireEmbryonic, unprotect } from '../../../src/machines/logger/abandon.ts';
import { CONN_RECORD_COST, DEFAULT_LOGGER_LIMITS } from '../../../src/machines/logger/limits.ts';
import { newStoreState } from '../../../src/machines/logger/storeState.ts';
import { connEstablished, logData, logSyn } from '../../../src/machines/logger/streams.ts';
import type { SynRecord } from '../../../src/wire/logmsg.ts';

const opts = { mss: 1460, wscale: 7, sackOk: true, tsVal: 1, tsEcr: null };
const syn = (conn: number): SynRecord => ({
  conn,
  clientAddr: 0xc6120002,
  clientPort: 40000 + conn,
  serverAddr: 0xc612000a,
  serverPort: 6379,
  clientIsn: 1000 * conn,
  serverIsn: 77,
  clientOpts: opts,
  serverOpts: opts,
  synTimeMs: 5,
});
const state = (over: Partial<typeof DEFAULT_LOGGER_LIMITS> = {}) =>
  newStoreState({ ...DEFAULT_LOGGER_LIMITS, ...over });

describe('abandon.ts: R15.4 and R15.6 in the store', () => {
  it('abandon drops the record, frees its cost and remembers why', () => {
    const s = state();
    logSyn(s, syn(1));
    logData(s, 1, 1001, new Uint8Array(10), false);
    expect(s.used).toBe(CONN_RECORD_COST + 10);
    abandon(s, 1, 'storeFull');
    expect(s.conns.has(1)).toBe(false);
    expect(s.used).toBe(0);
    expect(s.abandonedConns.get(1)).toBe('storeFull');
    // A new LogSyn for it is a new record (R2.7), no longer abandoned.
    expect(logSyn(s, syn(1))).toEqual({ kind: 'stored', conn: 1 });
    expect(s.abandonedConns.has(1)).toBe(false);
  });

  it('abandoned connections are bounded by maxConns, the oldest forgotten first', () => {
    const s = state({ maxConns: 2 });
    abandon(s, 1, 'storeFull');
    abandon(s, 2, 'storeFull');
    abandon(s, 3, 'embryonicExpired');
    expect([...s.abandonedConns.keys()]).toEqual([2, 3]);
    // Abandoned again: it becomes the youngest.
    abandon(s, 2, 'storeFull');
    abandon(s, 4, 'storeFull');
    expect([...s.abandonedConns.keys()]).toEqual([2, 4]);
  });

  it('R15.6: stamped at the first tick, expired a TTL later; established records never', () => {
    const s = state({ embryonicTtlMs: 1000 });
    logSyn(s, syn(1));
    logSyn(s, syn(2));
    expect(expireEmbryonic(s, 5000)).toEqual([]);
    connEstablished(s, 2);
    expect(expireEmbryonic(s, 5999)).toEqual([]);
    expect(expireEmbryonic(s, 6000)).toEqual([1]);
    expect(s.abandonedConns.get(1)).toBe('embryonicExpired');
    expect(s.conns.has(2)).toBe(true);
    expect(s.embryonic.size).toBe(0);
    expect(expireEmbryonic(s, 60_000)).toEqual([]);
  });

  it('unprotect (R15.4 app) drops everything and says so', () => {
    const s = state();
    logSyn(s, syn(1));
    unprotect(s);
    expect(s.gaveUp).toBe(true);
    expect(s.conns.size + s.embryonic.size + s.dets.length + s.accepts.size).toBe(0);
    expect(s.ckpt).toBeNull();
    expect(s.used).toBe(0);
  });
});
