// determinantLog.ts (spec/logger.md "Storage"): an NSW accept is linked to the lowest unlinked
// open record of its client address and port (never a closed one), which establishes it; a
// determinant below the stored checkpoint is accepted unchecked (R14.6); `force` stores past
// the limits (R14.2). The CloseLogged cases are store.test.ts's.

import { describe, expect, it } from 'vitest';
import { link, logDeterminant } from '../../../src/machines/logger/determinantLog.ts';
import { DEFAULT_LOGGER_LIMITS } from '../../../src/machines/logger/limits.ts';
import { newStoreState } from '../../../src/machines/logger/storeState.ts';
import { logSyn } from '../../../src/machines/logger/streams.ts';
import type { Determinant, SynRecord } from '../../../src/wire/logmsg.ts';

const opts = { mss: 1460, wscale: 7, sackOk: true, tsVal: 1, tsEcr: null };
const syn = (conn: number, clientPort: number): SynRecord => ({
  conn,
  clientAddr: 0xc6120002,
  clientPort,
  serverAddr: 0xc612000a,
  serverPort: 6379,
  clientIsn: 1000 * conn,
  serverIsn: 77,
  clientOpts: opts,
  serverOpts: opts,
  synTimeMs: 5,
});
const accept = (conn: number, port: number): Determinant => ({
  kind: 'accept',
  conn,
  clientAddr: 0xc6120002,
  clientPort: port,
});
const state = (over: Partial<typeof DEFAULT_LOGGER_LIMITS> = {}) =>
  newStoreState({ ...DEFAULT_LOGGER_LIMITS, ...over });

describe('determinantLog.ts: the determinant log and accept linking', () => {
  it('an accept links the lowest unlinked open record of that client, and establishes it', () => {
    const s = state();
    logSyn(s, syn(5, 40001));
    logSyn(s, syn(3, 40001));
    logSyn(s, syn(4, 40002));
    const closed = s.conns.get(3);
    if (closed === undefined) throw new Error('no record');
    closed.closed = true;
    logDeterminant(s, 0, accept(10, 40001));
    expect(s.conns.get(5)).toMatchObject({ nswConn: 10, acceptDet: 0, established: true });
    expect(s.conns.get(3)?.nswConn).toBeNull();
    expect(s.embryonic.has(5)).toBe(false);
    // Linked once: asking again finds the same record.
    expect(link(s, 10)?.syn.conn).toBe(5);
    expect(link(s, 11)).toBeUndefined();
  });

  it('an accept before its LogSyn is linked when the record is first needed', () => {
    const s = state();
    logDeterminant(s, 0, accept(10, 40001));
    logSyn(s, syn(1, 40001));
    expect(s.conns.get(1)?.nswConn).toBeNull();
    expect(link(s, 10)?.syn.conn).toBe(1);
  });

  it('R14.6 below the held log a determinant is not compared; R14.2 force passes the limits', () => {
    const s = state({ maxDets: 1 });
    logDeterminant(s, 0, { kind: 'clock', value: 1 });
    expect(logDeterminant(s, 1, { kind: 'clock', value: 2 })).toMatchObject({
      kind: 'full',
      limit: 'dets',
    });
    expect(logDeterminant(s, 1, { kind: 'clock', value: 2 }, true)).toMatchObject({
      kind: 'stored',
      stableDet: 2,
    });
    s.dets = s.dets.slice(1);
    s.base = 1;
    expect(logDeterminant(s, 0, { kind: 'clock', value: 99 })).toMatchObject({
      kind: 'stored',
      stableDet: 2,
    });
  });
});
