// The SSW's test impairer (src/runtime/ssw/impair.ts): duplication hands a frame over twice
// (the second an independent copy: the engine rewrites frames in place), reordering swaps a
// frame with the next one (or lets it go at a tick), and outside its duration it is a wire.
import { describe, expect, it } from 'vitest';
import { checkImpairSpec, LanImpairer, MAX_HOLD_MS } from '../../src/runtime/ssw/impair.ts';
import { NO_OFFLOAD, type VnetHdr } from '../../src/wire/vnet.ts';

const frame = (n: number): Uint8Array => new Uint8Array([n, n, n]);
const collect = (): {
  got: number[];
  deliver: (f: Uint8Array, h: VnetHdr) => void;
  frames: Uint8Array[];
} => {
  const got: number[] = [];
  const frames: Uint8Array[] = [];
  return {
    got,
    frames,
    deliver: (f) => {
      got.push(f[0] as number);
      frames.push(f);
    },
  };
};

describe('impair spec', () => {
  it('refuses what is out of range, with the field named', () => {
    expect(
      checkImpairSpec({ dupPct: 10, reorderPct: 0, durationMs: 100, seed: 1 }),
    ).toBeUndefined();
    expect(checkImpairSpec(null)).toMatch(/not an object/);
    expect(checkImpairSpec({ dupPct: 101, reorderPct: 0, durationMs: 100, seed: 1 })).toMatch(
      /dupPct/,
    );
    expect(checkImpairSpec({ dupPct: 1, reorderPct: -1, durationMs: 100, seed: 1 })).toMatch(
      /reorderPct/,
    );
    expect(checkImpairSpec({ dupPct: 1, reorderPct: 1, durationMs: 0, seed: 1 })).toMatch(
      /durationMs/,
    );
    expect(checkImpairSpec({ dupPct: 1, reorderPct: 1, durationMs: 10, seed: 2 ** 32 })).toMatch(
      /seed/,
    );
    expect(checkImpairSpec({ dupPct: 1.5, reorderPct: 1, durationMs: 10, seed: 1 })).toMatch(
      /dupPct/,
    );
  });
});

describe('LanImpairer', () => {
  it('is a wire when idle', () => {
    const imp = new LanImpairer();
    const c = collect();
    expect(imp.busy(0)).toBe(false);
    for (let i = 1; i <= 3; i++) imp.pass(frame(i), NO_OFFLOAD, 0, c.deliver);
    expect(c.got).toEqual([1, 2, 3]);
  });

  it('duplicates every frame at 100%, the second an independent copy', () => {
    const imp = new LanImpairer();
    imp.set({ dupPct: 100, reorderPct: 0, durationMs: 1000, seed: 5 }, 0);
    const c = collect();
    const f = frame(7);
    imp.pass(f, NO_OFFLOAD, 1, (g, h) => {
      c.deliver(g, h);
      g[0] = 99; // the engine rewrites in place
    });
    expect(c.got).toEqual([7, 7]);
    expect(c.frames[1]).not.toBe(c.frames[0]);
    expect(imp.stats.duplicated).toBe(1);
  });

  it('swaps adjacent frames at 100% reordering, and lets a lone held frame go at a tick', () => {
    const imp = new LanImpairer();
    imp.set({ dupPct: 0, reorderPct: 100, durationMs: 1000, seed: 9 }, 0);
    const c = collect();
    for (let i = 1; i <= 5; i++) imp.pass(frame(i), NO_OFFLOAD, i, c.deliver);
    expect(c.got).toEqual([2, 1, 4, 3]);
    imp.tick(5 + MAX_HOLD_MS - 1, c.deliver);
    expect(c.got).toEqual([2, 1, 4, 3]);
    expect(imp.busy(10)).toBe(true);
    imp.tick(5 + MAX_HOLD_MS, c.deliver);
    expect(c.got).toEqual([2, 1, 4, 3, 5]);
  });

  it('ends with its duration, flushing a held frame behind the next one', () => {
    const imp = new LanImpairer();
    imp.set({ dupPct: 0, reorderPct: 100, durationMs: 10, seed: 3 }, 0);
    const c = collect();
    imp.pass(frame(1), NO_OFFLOAD, 5, c.deliver);
    expect(c.got).toEqual([]);
    imp.pass(frame(2), NO_OFFLOAD, 10, c.deliver);
    expect(c.got).toEqual([2, 1]);
    expect(imp.busy(10)).toBe(false);
    imp.pass(frame(3), NO_OFFLOAD, 11, c.deliver);
    expect(c.got).toEqual([2, 1, 3]);
  });

  it('impairs about the share asked for, reproducibly from the seed', () => {
    const run = (seed: number): number[] => {
      const imp = new LanImpairer();
      imp.set({ dupPct: 30, reorderPct: 0, durationMs: 1000, seed }, 0);
      const c = collect();
      for (let i = 0; i < 1000; i++) imp.pass(frame(i & 0xff), NO_OFFLOAD, 1, c.deliver);
      expect(imp.stats.duplicated).toBeGreaterThan(200);
      expect(imp.stats.duplicated).toBeLessThan(400);
      return c.got;
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });
});
