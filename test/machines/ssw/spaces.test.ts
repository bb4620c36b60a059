// Sequence spaces in the types (src/machines/ssw/spaces.ts): the compiler refuses a number of
// one space where another is meant, and the translation functions are the only way across.
// Checked by `npm run typecheck` (every `@ts-expect-error` below must stay an error, or the
// typecheck fails); the runtime assertions only show the values are the same numbers.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { clampAck } from '../../../src/machines/ssw/clamp.ts';
import { closeOffsetOf, loggedCloseOf } from '../../../src/machines/ssw/closes.ts';
import {
  type ClientSeq,
  clientSeq,
  type KernelSeq,
  kernelSeq,
  type OrigSeq,
  origSeq,
  type StreamOffset,
  streamOffset,
} from '../../../src/machines/ssw/spaces.ts';
import { toKernelSeq, toOriginalSeq } from '../../../src/machines/ssw/translate.ts';
import { seqAdd, seqGt, seqMax } from '../../../src/wire/seq.ts';

describe('sequence spaces in the types', () => {
  const t = { deltaSeq: 0x8000_0000, tsDelta: 0 };
  const k = kernelSeq(10);
  const o = origSeq(10);
  const c = clientSeq(10);

  it('translation is the way between kernel and original space', () => {
    expectTypeOf(toOriginalSeq(k, t)).toEqualTypeOf<OrigSeq>();
    expectTypeOf(toKernelSeq(o, t)).toEqualTypeOf<KernelSeq>();
    expect(toKernelSeq(toOriginalSeq(k, t), t)).toBe(k);
    // @ts-expect-error a kernel sequence number is not an original one
    const asOrig: OrigSeq = k;
    // @ts-expect-error the read constructors refuse a number that already has a space
    origSeq(k);
    // @ts-expect-error toOriginalSeq takes the kernel's numbers only
    toOriginalSeq(o, t);
    expect(asOrig).toBe(10);
  });

  it('arithmetic keeps the space; comparisons take one space', () => {
    expectTypeOf(seqAdd(c, 5)).toEqualTypeOf<ClientSeq>();
    expectTypeOf(seqMax(o, seqAdd(o, 1))).toEqualTypeOf<OrigSeq>();
    expectTypeOf(seqAdd(10, 5)).toEqualTypeOf<number>();
    // @ts-expect-error a client number against a kernel one
    seqGt(c, k);
    // @ts-expect-error an original number against a client one (the server's stream vs. the client's)
    seqMax(o, c);
    expect(seqGt(seqAdd(c, 1), c)).toBe(true);
  });

  it('the rules take the space they work in', () => {
    expectTypeOf(clampAck(c, c, c)).toEqualTypeOf<ClientSeq>();
    // @ts-expect-error R1.2 clamps client-space acks; a kernel seq is the server's stream
    clampAck(k, c, c);
    // @ts-expect-error a plain number has no space: it is named where it is read
    clampAck(10, c, c);
    expect(clampAck(seqAdd(c, 9), seqAdd(c, 4), c)).toBe(14);
  });

  it('a stream offset and an original sequence number convert through the close position', () => {
    const isn = origSeq(0xffff_fff0);
    const off = closeOffsetOf(isn, seqAdd(isn, 101));
    expectTypeOf(off).toEqualTypeOf<StreamOffset>();
    expect(off).toBe(100);
    expect(loggedCloseOf(isn, 'end', off).seq).toBe(seqAdd(isn, 101));
    // @ts-expect-error an offset is not a sequence number
    loggedCloseOf(isn, 'end', seqAdd(isn, 101));
    expect(streamOffset(5)).toBe(5);
  });
});
