// The NSW's errors, each with what a caller needs to act on it (spec/nsw.md R12, R4.7).

import type { NswDivergence } from '../../machines/nsw/index.ts';

/** A bad mode, logger address or FTTCP_* variable: a usage error, exit code 2 in the CLIs. */
export class NswConfigError extends Error {
  override readonly name = 'NswConfigError';
}

/** R4.7: the NSW is fenced; a newer incarnation owns the service; nothing may be released again. */
export class NswFencedError extends Error {
  override readonly name = 'NswFencedError';
}

/** R12: the replayed application did not repeat the recorded run. */
export class NswDivergenceError extends Error {
  override readonly name = 'NswDivergenceError';
  readonly detSeq: number;
  /** the connection that diverged, or null when the whole application did */
  readonly conn: number | null;
  constructor(readonly divergence: NswDivergence) {
    super(divergence.message);
    this.detSeq = divergence.detSeq;
    this.conn = divergence.conn;
  }
}

/** Exit codes of an application that does not handle the NSW's 'error' event. */
export const exitCodeOf = (e: Error): number =>
  e instanceof NswDivergenceError ? 3 : e instanceof NswFencedError ? 4 : 1;
