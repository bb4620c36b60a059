// R3 determinants and R12 output hashes, as plain functions (spec/nsw.md).
//
// Two kinds of determinant, by who causes them:
// - *pushed*: the outside world hands the application something (accept, read, eof, timer).
//   The NSW decides when; in replay it delivers them in logged order.
// - *pulled*: the application asks or acts (clock, random, close, outputHash after a write).
//   The application decides when; in replay its call must meet exactly the next logged one.
// `outputHash` is evidence, not input: the application never sees it, so no output can depend
// on it, and the output-commit gate (./gate.ts) ignores it. That keeps the check free: a write
// does not wait for the hash of the write before it.

import { createHash } from 'node:crypto';
import type { Determinant, DeterminantKind } from '../../wire/logmsg.ts';

export interface DetRecord {
  readonly detSeq: number;
  readonly det: Determinant;
}

export const PUSHED_KINDS: ReadonlySet<DeterminantKind> = new Set([
  'accept',
  'read',
  'eof',
  'timer',
]);
export const PULLED_KINDS: ReadonlySet<DeterminantKind> = new Set([
  'clock',
  'random',
  'close',
  'outputHash',
]);

export const isPushed = (d: Determinant): boolean => PUSHED_KINDS.has(d.kind);

/** The NSW's view of its own log: what it appended and what output must wait for. */
export interface DetLogState {
  /** sequence number of the next determinant to append (R3.4: from 0, across incarnations) */
  readonly detSeq: number;
  /**
   * Output made now depends on every determinant below this: one past the last determinant
   * the application could have observed (everything but outputHash, R4.4).
   */
  readonly gateDet: number;
}

export const emptyDetLog: DetLogState = { detSeq: 0, gateDet: 0 };

/** Appends `det`: the record to send (LogDeterminant) and the new state. */
export function appendDeterminant(
  s: DetLogState,
  det: Determinant,
): { state: DetLogState; record: DetRecord } {
  const record = { detSeq: s.detSeq, det };
  const detSeq = s.detSeq + 1;
  return { state: { detSeq, gateDet: det.kind === 'outputHash' ? s.gateDet : detSeq }, record };
}

/** R13.7: the chain's starting value, 32 zero bytes. */
export const HASH_CHAIN_START: Uint8Array = new Uint8Array(32);

/**
 * Running hash of one connection's output (R12.1, R13.7): a chain per write, h_k =
 * SHA-256(h_{k-1} || bytes of write k), h_0 = 32 zero bytes; the first 8 bytes of h_k read as a
 * big-endian u64 are the `outputHash` value. A chain rather than one streaming SHA-256 because
 * its whole state is 32 bytes, which a checkpoint carries (a streaming context cannot be
 * saved), and writes are the application's calls, the same in replay (A2), so the chain
 * matches wherever replay starts. SHA-256 because it is native (fast on large writes) and a
 * chance collision cannot hide a divergence.
 */
export class OutputHasher {
  private h: Uint8Array;
  private off: number;

  constructor(chain: Uint8Array = HASH_CHAIN_START, offset = 0) {
    if (chain.length !== 32) throw new Error(`output hash chain of ${chain.length} bytes`);
    this.h = chain.slice();
    this.off = offset;
  }

  get offset(): number {
    return this.off;
  }

  /** R13.1: the chain value a checkpoint carries (a copy). */
  get chain(): Uint8Array {
    return this.h.slice();
  }

  /** Adds `bytes` and returns the hash of the whole output so far. */
  update(bytes: Uint8Array): bigint {
    const d = createHash('sha256').update(this.h).update(bytes).digest();
    this.h = new Uint8Array(d.buffer, d.byteOffset, 32);
    this.off += bytes.length;
    return d.readBigUInt64BE(0);
  }
}

/** One line for errors and timelines; payload-like fields by size only. */
export function describeDet(d: Determinant): string {
  switch (d.kind) {
    case 'random':
      return `random(${d.bytes.length} bytes)`;
    case 'outputHash':
      return `outputHash(conn ${d.conn}, offset ${d.offset}, 0x${d.hash.toString(16).padStart(16, '0')})`;
    default:
      return `${d.kind}(${Object.entries(d)
        .filter(([k]) => k !== 'kind')
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(', ')})`;
  }
}
