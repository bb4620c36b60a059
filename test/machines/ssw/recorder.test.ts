// R5.8 the recorder link's sequencing (src/machines/ssw/recorder.ts): determinant numbers
// continue the log's (learnt by FetchLog 'nsw' on the first Welcome), unacknowledged ones go
// again after a reconnect, a refusal that means another writer stops it; bounded.
import { describe, expect, it } from 'vitest';
import { CloseRecorder } from '../../../src/machines/ssw/recorder.ts';
import type { Determinant, LoggerMessage } from '../../../src/wire/logmsg.ts';

const accept = (conn: number): Determinant => ({
  kind: 'accept',
  conn,
  clientAddr: 0xc612000a,
  clientPort: 40000 + conn,
});
const close = (conn: number, offset: number): Determinant => ({
  kind: 'close',
  conn,
  how: 'end',
  offset,
});
const welcome: LoggerMessage = { kind: 'Welcome', epoch: 1, leaseMs: 200 };
const seqs = (ms: readonly LoggerMessage[] | 'refused'): number[] =>
  ms === 'refused' ? [] : ms.flatMap((m) => (m.kind === 'LogDeterminant' ? [m.detSeq] : []));

describe('R5.8 CloseRecorder', () => {
  it('learns the log length on its first Welcome, then numbers what it queued from there', () => {
    const r = new CloseRecorder(16);
    // Recorded before the link exists: queued, nothing to send.
    expect(r.record([accept(1), close(1, 5)])).toEqual([]);
    expect(r.onMessage(welcome)).toEqual([{ kind: 'FetchLog', what: 'nsw' }]);
    expect(r.status).toBe('fetching');
    // The replay's records are not the recorder's business.
    expect(r.onMessage({ kind: 'ReplayDeterminant', detSeq: 0, det: accept(9) })).toEqual([]);
    const sent = r.onMessage({ kind: 'ReplayEnd', conns: 0, bytes: 0, dets: 7 });
    expect(sent).toEqual([
      { kind: 'LogDeterminant', detSeq: 7, det: accept(1) },
      { kind: 'LogDeterminant', detSeq: 8, det: close(1, 5) },
    ]);
    expect(r.status).toBe('ready');
    // Ready: recorded determinants go at once, numbered on.
    expect(seqs(r.record([accept(2), close(2, 0)]))).toEqual([9, 10]);
    expect(r.pending).toBe(4);
  });

  it('DetStored forgets what it covers; a reconnect resends the rest in order', () => {
    const r = new CloseRecorder(16);
    r.onMessage(welcome);
    r.onMessage({ kind: 'ReplayEnd', conns: 0, bytes: 0, dets: 0 });
    r.record([accept(1), close(1, 5)]);
    r.record([accept(2), close(2, 3)]);
    r.onMessage({ kind: 'DetStored', stableDet: 3 });
    expect(r.pending).toBe(1);
    // A stale ack moves nothing.
    r.onMessage({ kind: 'DetStored', stableDet: 1 });
    expect(r.pending).toBe(1);
    r.linkDown();
    // While down, nothing is sent; it waits for the Welcome.
    expect(r.record([accept(3), close(3, 1)])).toEqual([]);
    expect(seqs(r.onMessage(welcome))).toEqual([3, 4, 5]);
  });

  it('a fetch cut off with its link is asked again; a late ReplayEnd outside a fetch is ignored', () => {
    const r = new CloseRecorder(16);
    expect(r.onMessage({ kind: 'ReplayEnd', conns: 0, bytes: 0, dets: 4 })).toEqual([]);
    expect(r.status).toBe('unknownBase');
    r.onMessage(welcome);
    r.linkDown();
    expect(r.onMessage(welcome)).toEqual([{ kind: 'FetchLog', what: 'nsw' }]);
  });

  it('is bounded: beyond maxPending nothing is recorded (all or none)', () => {
    const r = new CloseRecorder(3);
    expect(r.record([accept(1), close(1, 0)])).toEqual([]);
    expect(r.record([accept(2), close(2, 0)])).toBe('refused');
    expect(r.pending).toBe(2);
  });

  it('a refusal meaning another writer (conflict) stops it; fencing-type errors do not', () => {
    const r = new CloseRecorder(16);
    r.onMessage(welcome);
    r.onMessage({ kind: 'ReplayEnd', conns: 0, bytes: 0, dets: 0 });
    r.onMessage({ kind: 'Error', code: 'fencing', message: 'retry' });
    expect(r.status).toBe('ready');
    r.record([accept(1), close(1, 0)]);
    r.onMessage({ kind: 'Error', code: 'conflict', message: 'determinant 0 differs' });
    expect(r.status).toBe('failed');
    expect(r.pending).toBe(0);
    expect(r.record([accept(2), close(2, 0)])).toBe('refused');
    expect(r.onMessage(welcome)).toEqual([]);
  });
});
