// R1 log before ack (spec/ssw.md "R1 Log before ack"): which client bytes are new to the log
// (R1.1).

import { seqGt, seqSub } from '../../wire/seq.ts';

/**
 * R1.1: the part of a client segment [seq, seq+len) that is new to the log, given `loggedSeq`
 * (next byte not yet handed to the logger). Returns the offset into the payload and the count;
 * count 0 means nothing new in order (a duplicate, or a segment past a hole).
 */
export const newLogSpan = (
  seq: number,
  len: number,
  loggedSeq: number,
): { offset: number; count: number } => {
  const d = seqSub(loggedSeq, seq);
  if (d < 0 || d >= len) return { offset: 0, count: 0 };
  return { offset: d, count: len - d };
};

/** R1.1: the segment starts past `loggedSeq`: there is a hole before it. */
export const isAfterHole = (seq: number, loggedSeq: number): boolean => seqGt(seq, loggedSeq);
