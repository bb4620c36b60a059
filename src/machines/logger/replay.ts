// The recovery service's answer from the store (spec/logger.md "Recovery service", R14.9):
// `FetchLog 'ssw'` gets every open record (ReplaySyn, ReplayResume, its held stream as
// ReplayData chunks); `FetchLog 'nsw'` gets the stored checkpoint, the closed records' streams
// and the determinants from the checkpoint's D; each ends with ReplayEnd. A snapshot of the
// store when it is asked, handed out as a generator so that a large log is written with the
// socket's backpressure, not built in memory.

import type { CheckpointConnEntry, LoggerMessage } from '../../wire/logmsg.ts';
import { checkpointFrames } from './checkpoint.ts';
import { concat, decodeStored, type StoreState, stableDetOf } from './storeState.ts';
import { seqOfOffset } from './streams.ts';

/**
 * The recovery service (FetchLog, R14.9). 'ssw': the connections to re-create. 'nsw': the
 * stored checkpoint, the closed connections' streams (replayed to the application as
 * connections without a kernel socket), then the held determinants. Each ends with
 * ReplayEnd, whose `dets` is one past the last determinant (the next detSeq). `resume`: the
 * peer declared Capabilities (it gets the checkpoint and ReplayResume). A snapshot: neither
 * later appends nor a later truncation are seen.
 */
export function replay(
  s: StoreState,
  what: 'ssw' | 'nsw',
  resume = true,
): Generator<LoggerMessage, void, undefined> {
  // Captured now, not when the generator first runs: chunk arrays are copied, and chunks are
  // never changed in place (a truncation replaces a cut chunk by a copy of its remainder).
  const ck = what === 'nsw' && resume ? s.ckpt : null;
  const table = new Map<number, CheckpointConnEntry>(
    (s.ckpt?.conns ?? []).map((e) => [e.nswConn, e]),
  );
  const conns = [...s.conns.values()]
    .filter((c) => c.closed === (what === 'nsw'))
    .sort((a, b) => a.syn.conn - b.syn.conn)
    .map((c) => {
      const e = c.nswConn === null ? undefined : table.get(c.nswConn);
      return {
        syn: c.syn,
        startSeq: c.startSeq,
        clientAck: c.clientAck,
        heldFrom: c.heldFrom,
        end: c.end,
        fin: c.fin,
        chunks: c.chunks.slice(),
        readOffset: e?.readOffset ?? 0,
        outputFrom: e?.outputFrom ?? 0,
      };
    });
  const dets = what === 'nsw' ? s.dets.slice() : [];
  const base = s.base;
  const next = what === 'nsw' ? stableDetOf(s) : 0;
  const chunk = s.lim.replayChunkBytes;
  return (function* (): Generator<LoggerMessage, void, undefined> {
    if (ck !== null) yield* checkpointFrames(ck);
    let bytes = 0;
    for (const c of conns) {
      bytes += c.end - c.heldFrom;
      yield { ...c.syn, kind: 'ReplaySyn', clientAck: c.clientAck };
      if (resume) {
        yield {
          kind: 'ReplayResume',
          conn: c.syn.conn,
          readOffset: c.readOffset,
          outputFrom: c.outputFrom,
          end: c.end,
        };
      }
      yield* replayData(c.syn.conn, c.startSeq, c.heldFrom, c.chunks, c.end, c.fin, chunk);
    }
    for (let i = 0; i < dets.length; i++) {
      yield { kind: 'ReplayDeterminant', detSeq: base + i, det: decodeStored(dets[i]!) };
    }
    yield { kind: 'ReplayEnd', conns: conns.length, bytes, dets: next };
  })();
}

function* replayData(
  conn: number,
  startSeq: number,
  heldFrom: number,
  chunks: readonly Uint8Array[],
  end: number,
  fin: boolean,
  max: number,
): Generator<LoggerMessage, void, undefined> {
  // Re-chunk the held stream into pieces of at most `max` bytes, in sequence order.
  const len = end - heldFrom;
  let off = heldFrom;
  let pending: Uint8Array[] = [];
  let pendingLen = 0;
  let sent = 0;
  const flush = function* (last: boolean): Generator<LoggerMessage, void, undefined> {
    const payload = concat(pending, pendingLen);
    yield { kind: 'ReplayData', conn, seq: seqOfOffset(startSeq, off), payload, fin: last && fin };
    off += pendingLen;
    sent += pendingLen;
    pending = [];
    pendingLen = 0;
  };
  for (const ch of chunks) {
    let from = 0;
    while (from < ch.length) {
      const take = Math.min(max - pendingLen, ch.length - from);
      pending.push(ch.subarray(from, from + take));
      pendingLen += take;
      from += take;
      if (pendingLen === max && sent + pendingLen < len) yield* flush(false);
    }
  }
  // The last piece carries the FIN; a stream with no bytes but a FIN is one empty ReplayData.
  if (pendingLen > 0 || fin) yield* flush(true);
}
