import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  SEQ_MOD,
  seqAdd,
  seqGe,
  seqGt,
  seqInWindow,
  seqLe,
  seqLt,
  seqMax,
  seqMin,
  seqSub,
} from '../../src/wire/seq.ts';
import { fcParams, seqNum } from './arbitraries.ts';

const delta = fc.integer({ min: -(2 ** 31) + 1, max: 2 ** 31 - 1 });

describe('seq arithmetic', () => {
  it('static cases across the wrap', () => {
    expect(seqAdd(0xffff_ffff, 1)).toBe(0);
    expect(seqAdd(0, -1)).toBe(0xffff_ffff);
    expect(seqSub(0, 0xffff_ffff)).toBe(1);
    expect(seqLt(0xffff_fff0, 0x10)).toBe(true);
    expect(seqGt(0x10, 0xffff_fff0)).toBe(true);
    expect(seqInWindow(2, 0xffff_fffe, 5)).toBe(true);
    expect(seqInWindow(3, 0xffff_fffe, 5)).toBe(false);
    expect(seqMax(0xffff_fff0, 0x10)).toBe(0x10);
    expect(seqMin(0xffff_fff0, 0x10)).toBe(0xffff_fff0);
  });

  it('law: seqAdd and seqSub are inverse, results stay in [0, 2^32)', () => {
    fc.assert(
      fc.property(seqNum, delta, (a, n) => {
        const b = seqAdd(a, n);
        expect(b).toBeGreaterThanOrEqual(0);
        expect(b).toBeLessThan(SEQ_MOD);
        expect(seqSub(b, a)).toBe(n);
        expect(seqAdd(b, -n)).toBe(a);
      }),
      fcParams(10_000),
    );
  });

  it('law: ordering is antisymmetric and consistent within 2^31', () => {
    fc.assert(
      fc.property(seqNum, delta, (a, n) => {
        const b = seqAdd(a, n);
        expect(seqLt(a, b)).toBe(n > 0);
        expect(seqLt(a, b) && seqLt(b, a)).toBe(false);
        expect(seqLe(a, b) && seqLe(b, a)).toBe(a === b);
        expect(seqGe(b, a)).toBe(seqLe(a, b));
        expect(seqMax(a, b)).toBe(n >= 0 ? b : a);
        expect(seqMin(a, b)).toBe(n >= 0 ? a : b);
      }),
      fcParams(10_000),
    );
  });

  it('law: seqInWindow(x, start, len) iff 0 <= x - start < len', () => {
    fc.assert(
      fc.property(seqNum, fc.integer({ min: 0, max: 2 ** 31 - 1 }), delta, (start, len, d) => {
        const x = seqAdd(start, d);
        expect(seqInWindow(x, start, len)).toBe(d >= 0 && d < len);
      }),
      fcParams(10_000),
    );
  });
});
