// Replay in batches (spec/nsw.md R11, R3.3): up to REPLAY_BATCH deliveries in one event-loop
// turn, still one per macrotask. Node runs every immediate queued before its check phase in
// that phase, draining process.nextTick and the microtask queue between two of them, so each
// delivery's handlers and their promise continuations still finish before the next delivery
// (R3.3), exactly as with one turn per delivery; what goes is the poll and timer phases
// between deliveries (no kernel input is needed: the log says what comes next, and what it
// waits for is buffered).
//
// Output released meanwhile is gathered per kernel socket and written by the batch's last
// immediate: one write per socket per batch instead of one syscall (and one segment for the
// SSW to drop, R6.6) per reply. Delaying replayed output is always safe: it is released
// later, never earlier, and in the same order on each socket.

import type net from 'node:net';

/** Replay deliveries per event-loop turn. */
export const REPLAY_BATCH = 256;
/** Replayed output gathered for one socket before it is written, batch or not. */
export const REPLAY_BATCH_MAX_BYTES = 1 << 20;

export interface ReplayBatchHooks {
  /** One delivery; false when there was nothing to deliver (or the replay is over). */
  step(): boolean;
  /** The batch ended; `full`: every step delivered, so more may be ready. */
  end(full: boolean): void;
}

export class ReplayBatcher {
  /** batches scheduled and not yet ended */
  private running = 0;
  /** output released by the current batch, per kernel socket, written at its end */
  private readonly gathered = new Map<net.Socket, { parts: Uint8Array[]; bytes: number }>();

  constructor(private readonly hooks: ReplayBatchHooks) {}

  /** Output released now is gathered rather than written (a batch is running). */
  get gathering(): boolean {
    return this.running > 0;
  }

  /** Schedules one batch: REPLAY_BATCH delivery immediates, then its end. */
  run(): void {
    const b = { done: false };
    this.running++;
    for (let i = 0; i < REPLAY_BATCH; i++) {
      setImmediate(() => {
        if (!b.done && !this.hooks.step()) b.done = true;
      });
    }
    setImmediate(() => {
      this.running--;
      this.flushAll();
      this.hooks.end(!b.done);
    });
  }

  /** Writes `bytes` to `k` at the batch's end (at once when no batch runs). */
  write(k: net.Socket, bytes: Uint8Array): void {
    if (this.running === 0) {
      k.write(bytes);
      return;
    }
    const g = this.gathered.get(k);
    if (g === undefined) this.gathered.set(k, { parts: [bytes], bytes: bytes.length });
    else {
      g.parts.push(bytes);
      g.bytes += bytes.length;
      // Bounded: a batch of large replies goes out in pieces rather than pile up.
      if (g.bytes >= REPLAY_BATCH_MAX_BYTES) this.flush(k);
    }
  }

  /** Writes what is gathered for `k` now (before its FIN or RST: after every byte before it). */
  flush(k: net.Socket): void {
    const g = this.gathered.get(k);
    if (g === undefined) return;
    this.gathered.delete(k);
    // One write (one syscall, one hand-over to the kernel) for the whole batch's bytes.
    if (!k.destroyed) k.write(g.parts.length === 1 ? g.parts[0]! : Buffer.concat(g.parts, g.bytes));
  }

  private flushAll(): void {
    for (const k of [...this.gathered.keys()]) this.flush(k);
  }
}
