// A LAN impairer for tests: duplicates and reorders frames on the SSW's LAN side, one
// direction per instance, for a bounded time. The lab's kernels have no netem, and random
// loss is all iptables gives (`-m statistic`), so duplication and reordering are made here,
// in user space, where every client frame passes. OFF unless the daemon runs with test hooks
// (FTTCP_TEST_HOOKS, ../common/testhook.ts) and the control channel asks for it
// (`test-impair`); an idle impairer costs one comparison per frame.
//
// Reordering holds a frame back and lets it go right after the next one (an adjacent swap);
// a held frame that no other frame follows goes at the next tick. Duplication hands the frame
// over twice. Held and duplicated frames are copies: the engine rewrites the frames it is
// given in place, and the data-path thread reuses its read buffer.
import type { VnetHdr } from '../../wire/vnet.ts';

export interface ImpairSpec {
  /** percent of frames handed over twice (0-100) */
  readonly dupPct: number;
  /** percent of frames held back behind the next one (0-100) */
  readonly reorderPct: number;
  /** how long the impairment lasts from now (1 ms .. 60 s) */
  readonly durationMs: number;
  /** seed of the frame choices (u32) */
  readonly seed: number;
}

export const MAX_IMPAIR_MS = 60_000;
/** A held frame that nothing follows is let go after this long (a tick of the data path). */
export const MAX_HOLD_MS = 20;

/** Why `spec` is refused, or undefined (bad input gets a clear answer, not a silent default). */
export const checkImpairSpec = (spec: unknown): string | undefined => {
  if (typeof spec !== 'object' || spec === null) return 'impair spec is not an object';
  const s = spec as Record<string, unknown>;
  const int = (k: string, lo: number, hi: number): string | undefined =>
    typeof s[k] === 'number' &&
    Number.isInteger(s[k]) &&
    (s[k] as number) >= lo &&
    (s[k] as number) <= hi
      ? undefined
      : `${k} must be an integer in ${lo}..${hi}`;
  return (
    int('dupPct', 0, 100) ??
    int('reorderPct', 0, 100) ??
    int('durationMs', 1, MAX_IMPAIR_MS) ??
    int('seed', 0, 0xffff_ffff)
  );
};

export type Deliver = (frame: Uint8Array, vnet: VnetHdr) => void;

interface Held {
  frame: Uint8Array;
  vnet: VnetHdr;
  at: number;
}

export class LanImpairer {
  private until = 0;
  private dupPct = 0;
  private reorderPct = 0;
  private rng = 1;
  private held: Held | undefined;
  readonly stats = { frames: 0, duplicated: 0, reordered: 0 };

  set(spec: ImpairSpec, now: number): void {
    this.until = now + spec.durationMs;
    this.dupPct = spec.dupPct;
    this.reorderPct = spec.reorderPct;
    this.rng = spec.seed >>> 0 || 1;
  }

  /** Whether frames must go through `pass` (impairing, or a frame still held). */
  busy(now: number): boolean {
    return now < this.until || this.held !== undefined;
  }

  /** xorshift32: a percent draw. */
  private draw(): number {
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x >>> 0;
    return this.rng % 100;
  }

  /** One frame through the impairer: handed to `deliver` now, twice, or after the next one. */
  pass(frame: Uint8Array, vnet: VnetHdr, now: number, deliver: Deliver): void {
    const held = this.held;
    if (now >= this.until) {
      deliver(frame, vnet);
      this.release(deliver);
      return;
    }
    this.stats.frames++;
    if (held === undefined && this.draw() < this.reorderPct) {
      this.stats.reordered++;
      this.held = { frame: frame.slice(), vnet: { ...vnet }, at: now };
      return;
    }
    if (this.draw() < this.dupPct) {
      this.stats.duplicated++;
      const copy = frame.slice();
      deliver(frame, vnet);
      deliver(copy, { ...vnet });
    } else deliver(frame, vnet);
    this.release(deliver);
  }

  /** Lets a held frame go if it waited `MAX_HOLD_MS` (call on every tick). */
  tick(now: number, deliver: Deliver): void {
    if (this.held !== undefined && now - this.held.at >= MAX_HOLD_MS) this.release(deliver);
  }

  private release(deliver: Deliver): void {
    const h = this.held;
    if (h === undefined) return;
    this.held = undefined;
    deliver(h.frame, h.vnet);
  }
}
