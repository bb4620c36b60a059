// Properties of the close position and the end of a connection (spec/ssw.md R5.2, R5.7;
// closes.ts). Seeded: a failure prints the seed and path; replay with FC_SEED=<seed>.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { atLoggedClose, kernelDoneWith, loggedCloseOf } from '../../../src/machines/ssw/closes.ts';
import { clientSeq, origSeq, streamOffset } from '../../../src/machines/ssw/spaces.ts';
import { seqAdd } from '../../../src/wire/seq.ts';

const seed = Number(process.env.FC_SEED ?? 20261127);
const params = { seed, numRuns: 300 };
const u32 = fc.nat({ max: 0xffff_ffff });
const span = fc.nat({ max: 1 << 29 });
/** The server's ISN (original space) and a close offset, as the log gives them. */
const oseq = u32.map((n) => origSeq(n));

describe('R5.2 the close position', () => {
  it('an end passes a FIN exactly at serverIsn + 1 + offset, across the wrap, and nowhere else', () => {
    fc.assert(
      fc.property(oseq, fc.nat({ max: Number.MAX_SAFE_INTEGER - 1 }), span, (isn, offset, d) => {
        const close = loggedCloseOf(isn, 'end', streamOffset(offset));
        const at = seqAdd(isn, 1 + (offset % 0x1_0000_0000));
        expect(close.seq).toBe(at);
        expect(atLoggedClose(close, 'fin', at)).toBe(true);
        // A crash FIN before the close's last output (d > 0 bytes missing), or any FIN after.
        if (d > 0) {
          expect(atLoggedClose(close, 'fin', seqAdd(at, -d))).toBe(false);
          expect(atLoggedClose(close, 'fin', seqAdd(at, d))).toBe(false);
          expect(atLoggedClose(close, 'rst', seqAdd(at, -d))).toBe(false);
        }
        expect(atLoggedClose(close, 'rst', seqAdd(at, d))).toBe(true);
      }),
      params,
    );
  });

  it('a destroy passes a FIN or RST at or below the position, never beyond it', () => {
    fc.assert(
      fc.property(oseq, fc.nat({ max: 1 << 30 }), span, fc.boolean(), (isn, offset, d, fin) => {
        const close = loggedCloseOf(isn, 'destroy', streamOffset(offset));
        const kind = fin ? 'fin' : 'rst';
        expect(atLoggedClose(close, kind, seqAdd(close.seq, -d))).toBe(true);
        if (d > 0) expect(atLoggedClose(close, kind, seqAdd(close.seq, d))).toBe(false);
      }),
      params,
    );
  });

  it("no logged close: no FIN or RST is the application's", () => {
    expect(atLoggedClose(undefined, 'fin', origSeq(0))).toBe(false);
    expect(atLoggedClose(undefined, 'rst', origSeq(0))).toBe(false);
    // A small worked example: ISN 0xffff_fffe, 3 bytes written -> FIN at 2 (wrapped).
    expect(loggedCloseOf(origSeq(0xffff_fffe), 'end', streamOffset(3)).seq).toBe(2);
  });
});

describe('R5.7 the kernel is done with a closing connection', () => {
  it('only once it acked the client FIN and was handed the ack of its own FIN (wrap included)', () => {
    fc.assert(
      fc.property(
        u32.map((n) => clientSeq(n)),
        fc.integer({ min: 1, max: 1 << 30 }),
        (fin, d) => {
          expect(kernelDoneWith(fin, seqAdd(fin, 1), true)).toBe(true);
          expect(kernelDoneWith(fin, seqAdd(fin, d), true)).toBe(true);
          // The kernel has not acked the FIN: it still has a socket waiting for it.
          expect(kernelDoneWith(fin, fin, true)).toBe(false);
          expect(kernelDoneWith(fin, seqAdd(fin, -d), true)).toBe(false);
          // The kernel has not seen the client's ack of its FIN: still in LAST_ACK.
          expect(kernelDoneWith(fin, seqAdd(fin, 1), false)).toBe(false);
          expect(kernelDoneWith(undefined, seqAdd(fin, 1), true)).toBe(false);
          expect(kernelDoneWith(fin, undefined, true)).toBe(false);
        },
      ),
      params,
    );
  });
});
