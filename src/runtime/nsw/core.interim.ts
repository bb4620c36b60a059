// INTERIM pure logic, to be moved to src/machines/nsw (helper C's NswCore) — src/machines/nsw
// had not landed when the NSW library was written. No I/O, no clock: the library
// (./index.ts) feeds it events and performs what it returns.
//
// Two pieces:
// - OutputCommit (R4): each output action (write, end, destroy) is tagged with the number of
//   determinants appended before it (`need`); it may reach the kernel only once the logger
//   has stored all of them (`stableDet >= need`). Actions leave in the order they were made,
//   so a connection's bytes, then its FIN, keep their order, and one FIFO serves all
//   connections (`need` never decreases along the queue).
// - ReplayCursor (R11, R12): walks the logged determinants in order. Input-like determinants
//   (accept, read, eof, timer) are *pushed* by the library when it can satisfy them; the
//   others (clock, random, close, outputHash) are *pulled* by the application's own calls and
//   must be exactly the next one logged, else the run has diverged (typed error, with the
//   position and both sides).

import type { Determinant, DeterminantKind } from '../../wire/logmsg.ts';

export interface Held<A> {
  readonly need: number;
  readonly action: A;
  readonly bytes: number;
}

export class OutputCommit<A> {
  private readonly queue: Held<A>[] = [];
  private head = 0;
  private heldBytes = 0;

  /** Bytes of output waiting for their determinants to be stored. */
  get held(): number {
    return this.heldBytes;
  }
  get length(): number {
    return this.queue.length - this.head;
  }

  /** Returns true if the action may be performed at once (nothing held before it, need met). */
  push(need: number, action: A, bytes: number, stableDet: number): boolean {
    if (this.length === 0 && need <= stableDet) return true;
    this.queue.push({ need, action, bytes });
    this.heldBytes += bytes;
    return false;
  }

  /** Actions released by `stableDet`, in order. */
  release(stableDet: number): A[] {
    const out: A[] = [];
    while (this.head < this.queue.length && this.queue[this.head]!.need <= stableDet) {
      const h = this.queue[this.head]!;
      out.push(h.action);
      this.heldBytes -= h.bytes;
      this.head++;
    }
    // Compact now and then so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return out;
  }
}

export class NswDivergenceError extends Error {
  override readonly name = 'NswDivergenceError';
  constructor(
    readonly detSeq: number,
    readonly expected: string,
    readonly logged: Determinant | undefined,
  ) {
    super(
      `replay diverged at determinant ${detSeq}: the application ${expected}, the log has ${
        logged === undefined ? 'nothing more' : describeDet(logged)
      }`,
    );
  }
}

export function describeDet(d: Determinant): string {
  switch (d.kind) {
    case 'random':
      return `random(${d.bytes.length} bytes)`;
    case 'outputHash':
      return `outputHash(conn ${d.conn}, offset ${d.offset}, 0x${d.hash.toString(16)})`;
    default:
      return `${d.kind}(${Object.entries(d)
        .filter(([k]) => k !== 'kind')
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(', ')})`;
  }
}

/** Determinants the library delivers; the rest are consumed by the application's calls. */
export const PUSHED: ReadonlySet<DeterminantKind> = new Set(['accept', 'read', 'eof', 'timer']);

export class ReplayCursor {
  private pos = 0;
  constructor(readonly dets: readonly Determinant[]) {}

  get position(): number {
    return this.pos;
  }
  get done(): boolean {
    return this.pos >= this.dets.length;
  }
  peek(): Determinant | undefined {
    return this.dets[this.pos];
  }

  /** Consume the next determinant, which the caller has checked. */
  advance(): void {
    this.pos++;
  }

  /**
   * The application made a call that was logged as `kind` in the recorded run: the next
   * determinant must be of that kind and satisfy `check` (R12), else NswDivergenceError.
   */
  pull<K extends DeterminantKind>(
    kind: K,
    what: string,
    check: (d: Extract<Determinant, { kind: K }>) => boolean = () => true,
  ): Extract<Determinant, { kind: K }> {
    const d = this.dets[this.pos];
    if (d === undefined || d.kind !== kind || !check(d as Extract<Determinant, { kind: K }>)) {
      throw new NswDivergenceError(this.pos, what, d);
    }
    this.pos++;
    return d as Extract<Determinant, { kind: K }>;
  }
}
