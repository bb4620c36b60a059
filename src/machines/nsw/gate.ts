// R4 output commit, the gate itself (spec/nsw.md). Every output action of the application
// (bytes, FIN, RST) is queued with `needDet`: the determinants it may depend on are those
// below it. It is released to the kernel socket only once `stableDet >= needDet`.
//
// R4.2: one FIFO for all connections: `needDet` never decreases along the queue (it is the log
// position when the action was made), so the releasable actions are always a prefix and the
// release order is the order the application acted in; a connection's bytes and then its FIN
// stay in order without per-connection bookkeeping.
//
// R4.5: the gate is here and not in the SSW because only the NSW sees each write when it is
// made and knows the log position then; the SSW's per-packet path holds no determinant.

export type OutputAction =
  | { readonly kind: 'write'; readonly bytes: Uint8Array }
  | { readonly kind: 'end' }
  | { readonly kind: 'destroy' };

export interface GatedOutput {
  readonly conn: number;
  readonly needDet: number;
  readonly action: OutputAction;
}

export const outputBytes = (o: GatedOutput): number =>
  o.action.kind === 'write' ? o.action.bytes.length : 0;

/** The prefix of `queue` that `stableDet` covers, and the rest. */
export function releasableWrites(
  queue: readonly GatedOutput[],
  stableDet: number,
): { readonly release: readonly GatedOutput[]; readonly keep: readonly GatedOutput[] } {
  let n = 0;
  while (n < queue.length && queue[n]!.needDet <= stableDet) n++;
  return { release: queue.slice(0, n), keep: queue.slice(n) };
}

/**
 * The same gate as a mutable FIFO for the data path: O(1) amortised per action instead of a
 * slice per release. `push` says whether the action may go at once (nothing ahead of it and
 * its determinants already stored), in which case it is not queued.
 */
export class OutputGate {
  private q: GatedOutput[] = [];
  private head = 0;
  private held = 0;

  get heldBytes(): number {
    return this.held;
  }

  get length(): number {
    return this.q.length - this.head;
  }

  push(o: GatedOutput, stableDet: number): boolean {
    if (this.length === 0 && o.needDet <= stableDet) return true;
    // needDet is the log position when the action was made: it never decreases.
    const last = this.q[this.q.length - 1];
    if (last !== undefined && this.length > 0 && last.needDet > o.needDet) {
      throw new Error(`output gate: needDet went back from ${last.needDet} to ${o.needDet}`);
    }
    this.q.push(o);
    this.held += outputBytes(o);
    return false;
  }

  release(stableDet: number): GatedOutput[] {
    const out: GatedOutput[] = [];
    while (this.head < this.q.length && this.q[this.head]!.needDet <= stableDet) {
      const o = this.q[this.head++]!;
      this.held -= outputBytes(o);
      out.push(o);
    }
    if (this.head === this.q.length) {
      this.q = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.q.length) {
      this.q = this.q.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /** Drop every queued action of `conn` (the connection was stopped); returns how many. */
  dropConn(conn: number): number {
    const before = this.length;
    const rest = this.q.slice(this.head).filter((o) => o.conn !== conn);
    this.held = rest.reduce((n, o) => n + outputBytes(o), 0);
    this.q = rest;
    this.head = 0;
    return before - rest.length;
  }

  /** Everything queued, oldest first (for tests and diagnostics). */
  snapshot(): readonly GatedOutput[] {
    return this.q.slice(this.head);
  }
}
