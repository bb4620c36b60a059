// R1 log before ack (spec/ssw.md R1.1; logBeforeAck.ts). Seeded: a failure prints the seed and
// path; replay with FC_SEED=<seed>.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newLogSpan } from '../../../src/machines/ssw/logBeforeAck.ts';
import { clientSeq } from '../../../src/machines/ssw/spaces.ts';
import { seqAdd } from '../../../src/wire/seq.ts';

const seed = Number(process.env.FC_SEED ?? 20261127);
const params = { seed, numRuns: 300 };
const u32 = fc.nat({ max: 0xffff_ffff });

describe('R1.1 the bytes new to the log', () => {
  it('newLogSpan returns exactly the bytes at and after loggedSeq', () => {
    fc.assert(
      fc.property(
        u32.map((n) => clientSeq(n)),
        fc.nat({ max: 3000 }),
        fc.integer({ min: -4000, max: 4000 }),
        (seq, len, d) => {
          const loggedSeq = seqAdd(seq, d);
          const s = newLogSpan(seq, len, loggedSeq);
          if (s.count > 0) {
            expect(seqAdd(seq, s.offset)).toBe(loggedSeq);
            expect(s.offset + s.count).toBe(len);
          } else expect(d < 0 || d >= len).toBe(true);
        },
      ),
      params,
    );
  });
});
