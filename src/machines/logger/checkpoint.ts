// A checkpoint as the logger receives and keeps it (spec/logger.md R14.1, R14.4): the frame
// order of one checkpoint on one NSW link, checked as the frames arrive, and the stored form
// the store truncates by and the recovery service sends back. Pure logic: no I/O, no clock.
//
// The logger reads a checkpoint's table (where each connection restarts) but never its blob
// (the application snapshot and the NSW's own state, spec/nsw.md R13.1): the blob is kept as
// the chunks it arrived in and sent back the same way.

import {
  type CheckpointConnEntry,
  type LoggerMessage,
  MAX_CHECKPOINT_CHUNK,
} from '../../wire/logmsg.ts';

/** What one table entry costs against `maxCheckpointBytes` (its frame is 45 bytes). */
export const CKPT_CONN_COST = 64;

export interface StoredCheckpoint {
  readonly ckptId: number;
  /** `D`: every determinant below it is covered */
  readonly detSeq: number;
  /** in strictly increasing `nswConn` */
  readonly conns: readonly CheckpointConnEntry[];
  /** the blob, in the chunks it arrived in */
  readonly blob: readonly Uint8Array[];
  readonly blobBytes: number;
  /** `blobBytes + CKPT_CONN_COST * conns.length`: its charge against maxCheckpointBytes */
  readonly cost: number;
}

export const checkpointCost = (blobBytes: number, conns: number): number =>
  blobBytes + CKPT_CONN_COST * conns;

export type CheckpointFrame = Extract<
  LoggerMessage,
  { kind: 'CheckpointBegin' | 'CheckpointConn' | 'CheckpointData' | 'CheckpointEnd' }
>;

export const isCheckpointFrame = (m: LoggerMessage): m is CheckpointFrame =>
  m.kind === 'CheckpointBegin' ||
  m.kind === 'CheckpointConn' ||
  m.kind === 'CheckpointData' ||
  m.kind === 'CheckpointEnd';

export type AssemblyStep =
  /** the frame was taken; the checkpoint is not complete yet */
  | { readonly kind: 'more' }
  /** CheckpointEnd of a whole checkpoint */
  | { readonly kind: 'complete'; readonly checkpoint: StoredCheckpoint }
  /** R14.1: too large, known at CheckpointBegin; answer CheckpointRejected */
  | { readonly kind: 'rejected'; readonly ckptId: number; readonly detail: string }
  /** a later frame of a rejected checkpoint: read and dropped */
  | { readonly kind: 'ignored' }
  /** out of order or miscounted: `Error badCheckpoint`, close the link */
  | { readonly kind: 'error'; readonly detail: string };

interface InProgress {
  readonly ckptId: number;
  readonly detSeq: number;
  readonly nConns: number;
  readonly blobBytes: number;
  readonly conns: CheckpointConnEntry[];
  readonly blob: Uint8Array[];
  received: number;
}

/**
 * One link's checkpoint in progress. `floor` gives the stored checkpoint's id and `D` (a new
 * checkpoint must be newer and not behind it, R14.1).
 */
export class CheckpointAssembler {
  private cur: InProgress | null = null;
  private rejectedId: number | null = null;

  constructor(
    private readonly maxBytes: () => number,
    private readonly floor: () => { readonly ckptId: number; readonly detSeq: number } | null,
  ) {}

  /** Bytes the checkpoint in progress holds (counted against the checkpoint budget). */
  get pendingBytes(): number {
    const c = this.cur;
    return c === null ? 0 : checkpointCost(c.received, c.conns.length);
  }

  get inProgress(): boolean {
    return this.cur !== null;
  }

  /** Drops a checkpoint in progress (its link closed, R14.2: never stored in part). */
  discard(): void {
    this.cur = null;
    this.rejectedId = null;
  }

  take(m: CheckpointFrame): AssemblyStep {
    switch (m.kind) {
      case 'CheckpointBegin':
        return this.begin(m);
      case 'CheckpointConn':
        return this.conn(m);
      case 'CheckpointData':
        return this.data(m);
      case 'CheckpointEnd':
        return this.end(m);
    }
  }

  private begin(m: Extract<CheckpointFrame, { kind: 'CheckpointBegin' }>): AssemblyStep {
    // A new Begin replaces an unfinished checkpoint (R14.1): the NSW gave that one up.
    this.cur = null;
    this.rejectedId = null;
    const f = this.floor();
    if (f !== null && m.ckptId <= f.ckptId)
      return error(`checkpoint ${m.ckptId} is not newer than the stored ${f.ckptId}`);
    if (f !== null && m.detSeq < f.detSeq)
      return error(`checkpoint ${m.ckptId} at ${m.detSeq} is behind the stored one at ${f.detSeq}`);
    const cost = checkpointCost(m.blobBytes, m.conns);
    if (cost > this.maxBytes()) {
      this.rejectedId = m.ckptId;
      return {
        kind: 'rejected',
        ckptId: m.ckptId,
        detail: `checkpoint ${m.ckptId} needs ${cost} bytes > maxCheckpointBytes ${this.maxBytes()} (raise --max-checkpoint-bytes)`,
      };
    }
    this.cur = {
      ckptId: m.ckptId,
      detSeq: m.detSeq,
      nConns: m.conns,
      blobBytes: m.blobBytes,
      conns: [],
      blob: [],
      received: 0,
    };
    return more;
  }

  private conn(m: Extract<CheckpointFrame, { kind: 'CheckpointConn' }>): AssemblyStep {
    if (this.isRejected(m.ckptId)) return ignored;
    const c = this.current(m.ckptId, 'CheckpointConn');
    if (typeof c === 'string') return error(c);
    if (c.conns.length >= c.nConns)
      return error(`checkpoint ${c.ckptId}: more than the ${c.nConns} announced connections`);
    if (c.received > 0) return error(`checkpoint ${c.ckptId}: a connection after its data`);
    const last = c.conns.at(-1);
    if (last !== undefined && m.nswConn <= last.nswConn)
      return error(`checkpoint ${c.ckptId}: conn ${m.nswConn} after ${last.nswConn}`);
    const { kind: _k, ckptId: _id, ...entry } = m;
    c.conns.push(entry);
    return more;
  }

  private data(m: Extract<CheckpointFrame, { kind: 'CheckpointData' }>): AssemblyStep {
    if (this.isRejected(m.ckptId)) return ignored;
    const c = this.current(m.ckptId, 'CheckpointData');
    if (typeof c === 'string') return error(c);
    if (c.conns.length < c.nConns)
      return error(`checkpoint ${c.ckptId}: data before its ${c.nConns} connections`);
    if (m.offset !== c.received)
      return error(`checkpoint ${c.ckptId}: data at ${m.offset}, expected ${c.received}`);
    if (c.received + m.data.length > c.blobBytes)
      return error(`checkpoint ${c.ckptId}: more than the ${c.blobBytes} announced bytes`);
    // Copied: the data is a view into a frame buffer the link reuses.
    if (m.data.length > 0) c.blob.push(m.data.slice());
    c.received += m.data.length;
    return more;
  }

  private end(m: Extract<CheckpointFrame, { kind: 'CheckpointEnd' }>): AssemblyStep {
    if (this.isRejected(m.ckptId)) {
      this.rejectedId = null;
      return ignored;
    }
    const c = this.current(m.ckptId, 'CheckpointEnd');
    if (typeof c === 'string') return error(c);
    if (c.conns.length !== c.nConns || c.received !== c.blobBytes)
      return error(
        `checkpoint ${c.ckptId} ended with ${c.conns.length}/${c.nConns} connections and ${c.received}/${c.blobBytes} bytes`,
      );
    this.cur = null;
    return {
      kind: 'complete',
      checkpoint: {
        ckptId: c.ckptId,
        detSeq: c.detSeq,
        conns: c.conns,
        blob: c.blob,
        blobBytes: c.blobBytes,
        cost: checkpointCost(c.blobBytes, c.conns.length),
      },
    };
  }

  private isRejected(ckptId: number): boolean {
    return this.cur === null && this.rejectedId === ckptId;
  }

  private current(ckptId: number, what: string): InProgress | string {
    const c = this.cur;
    if (c === null) return `${what} of checkpoint ${ckptId} without CheckpointBegin`;
    if (c.ckptId !== ckptId) return `${what} of checkpoint ${ckptId} inside checkpoint ${c.ckptId}`;
    return c;
  }
}

const more: AssemblyStep = { kind: 'more' };
const ignored: AssemblyStep = { kind: 'ignored' };
const error = (detail: string): AssemblyStep => ({ kind: 'error', detail });

/**
 * The frames of a stored checkpoint, as they open a `FetchLog 'nsw'` answer (R14.9): the
 * table, then the blob re-cut into chunks a frame can carry.
 */
export function* checkpointFrames(ck: StoredCheckpoint): Generator<LoggerMessage, void, undefined> {
  yield {
    kind: 'CheckpointBegin',
    ckptId: ck.ckptId,
    detSeq: ck.detSeq,
    conns: ck.conns.length,
    blobBytes: ck.blobBytes,
  };
  for (const e of ck.conns) yield { kind: 'CheckpointConn', ckptId: ck.ckptId, ...e };
  let offset = 0;
  for (const chunk of ck.blob) {
    for (let from = 0; from < chunk.length; from += MAX_CHECKPOINT_CHUNK) {
      const data = chunk.subarray(from, Math.min(chunk.length, from + MAX_CHECKPOINT_CHUNK));
      yield { kind: 'CheckpointData', ckptId: ck.ckptId, offset, data };
      offset += data.length;
    }
  }
  yield { kind: 'CheckpointEnd', ckptId: ck.ckptId };
}
