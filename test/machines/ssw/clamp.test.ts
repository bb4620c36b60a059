// Properties of what the client may be told (spec/ssw.md R1.2-R1.5; clamp.ts). Seeded: a
// failure prints the seed and path; replay with FC_SEED=<seed>.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  adjustWindow,
  clampAck,
  clampSackEdge,
  kernelWindowField,
  MAX_WINDOW_FIELD,
  pureAckOwed,
  sackBlockSendable,
} from '../../../src/machines/ssw/clamp.ts';
import { clientSeq } from '../../../src/machines/ssw/spaces.ts';
import { seqAdd, seqGe, seqGt, seqLe, seqLt, seqSub } from '../../../src/wire/seq.ts';
import {
  emitTcp,
  findSackBlocks,
  keepSackBlocks,
  MAX_SACK_BLOCKS,
  rewriteSackBlocks,
  TCP_ACK,
  type TcpOption,
  type TcpRepr,
  tcpBufferLen,
} from '../../../src/wire/tcp.ts';

const seed = Number(process.env.FC_SEED ?? 20261127);
const params = { seed, numRuns: 300 };
const u32 = fc.nat({ max: 0xffff_ffff });
/** A client-space sequence number (the space every R1 clamp works in). */
const cseq = u32.map((n) => clientSeq(n));
const span = fc.nat({ max: 1 << 29 });
const wscale = fc.integer({ min: 0, max: 14 });

describe('R1.2 clampAck', () => {
  it('never acks an unlogged byte, never goes backwards, never invents receipt', () => {
    fc.assert(
      fc.property(cseq, span, span, (sentAck, s, k) => {
        const stableSeq = seqAdd(sentAck, s);
        const kernelAck = seqAdd(sentAck, k);
        const ack = clampAck(kernelAck, stableSeq, sentAck);
        expect(seqLe(ack, stableSeq)).toBe(true);
        expect(seqLe(ack, kernelAck)).toBe(true);
        expect(seqGe(ack, sentAck)).toBe(true);
        expect(ack).toBe(seqAdd(sentAck, Math.min(s, k)));
      }),
      params,
    );
  });

  it('R1.4 a pure ACK is owed exactly when the clamped ack would move', () => {
    fc.assert(
      fc.property(cseq, span, span, (sentAck, s, k) => {
        const stableSeq = seqAdd(sentAck, s);
        const kernelAck = seqAdd(sentAck, k);
        expect(pureAckOwed(kernelAck, stableSeq, sentAck)).toBe(
          clampAck(kernelAck, stableSeq, sentAck) !== sentAck,
        );
      }),
      params,
    );
  });
});

describe('R1.3 adjustWindow', () => {
  const step = fc.record({
    stable: fc.nat({ max: 200_000 }),
    kernel: fc.nat({ max: 200_000 }),
    field: fc.nat({ max: 65535 }),
  });

  it('over any run, the advertised edge never passes the kernel edge and falls short of it by less than a unit (the cap aside)', () => {
    fc.assert(
      fc.property(
        cseq,
        wscale,
        wscale,
        fc.array(step, { minLength: 1, maxLength: 40 }),
        (isn, kws, cws, steps) => {
          let sentAck = isn;
          let kernelAck = isn;
          let stableSeq = isn;
          let rightEdge = isn;
          for (const st of steps) {
            stableSeq = seqAdd(stableSeq, st.stable);
            kernelAck = seqAdd(kernelAck, st.kernel);
            const ack = clampAck(kernelAck, stableSeq, sentAck);
            const out = adjustWindow({
              ack,
              kernelAck,
              kernelField: st.field,
              kernelWscale: kws,
              clientWscale: cws,
              rightEdge,
            });
            expect(out.field).toBeGreaterThanOrEqual(0);
            expect(out.field).toBeLessThanOrEqual(MAX_WINDOW_FIELD);
            expect(Number.isInteger(out.field)).toBe(true);
            // What this very segment advertises, as the client computes it.
            const advertised = seqAdd(ack, out.field * 2 ** cws);
            expect(out.rightEdge).toBe(advertised);
            const kernelEdge = seqAdd(kernelAck, st.field * 2 ** kws);
            expect(seqLe(advertised, kernelEdge)).toBe(true);
            if (out.field < MAX_WINDOW_FIELD)
              expect(seqSub(kernelEdge, advertised)).toBeLessThan(2 ** cws);
            sentAck = ack;
            rightEdge = out.rightEdge;
          }
        },
      ),
      params,
    );
  });

  it('the edge moves left only when the kernel edge does, or by less than a unit', () => {
    // A kernel that never shrinks its own edge (Linux without memory pressure): each step
    // offers at least the edge before, rounded up to its scale as Linux rounds.
    const grow = fc.record({
      stable: fc.nat({ max: 5000 }),
      kernel: fc.nat({ max: 5000 }),
      more: fc.nat({ max: 5000 }),
    });
    fc.assert(
      fc.property(
        cseq,
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 10 }),
        fc.array(grow, { minLength: 1, maxLength: 40 }),
        (isn, kws, cws, steps) => {
          let sentAck = isn;
          let kernelAck = isn;
          let stableSeq = isn;
          let kernelEdge = seqAdd(isn, 2 ** kws);
          let rightEdge = isn;
          for (const st of steps) {
            stableSeq = seqAdd(stableSeq, st.stable);
            kernelAck = seqAdd(kernelAck, st.kernel);
            const want = seqAdd(kernelEdge, st.more);
            const field = Math.ceil(Math.max(0, seqSub(want, kernelAck)) / 2 ** kws);
            kernelEdge = seqAdd(kernelAck, field * 2 ** kws);
            const ack = clampAck(kernelAck, stableSeq, sentAck);
            const out = adjustWindow({
              ack,
              kernelAck,
              kernelField: field,
              kernelWscale: kws,
              clientWscale: cws,
              rightEdge,
            });
            expect(seqSub(out.rightEdge, rightEdge)).toBeGreaterThan(-(2 ** cws));
            // Not clamped, same scale: the kernel's own field, exactly.
            if (ack === kernelAck && kws === cws) expect(out.field).toBe(field);
            sentAck = ack;
            rightEdge = out.rightEdge;
          }
        },
      ),
      params,
    );
  });

  it('a zero window from the kernel reaches the client as zero when the ack is not clamped, whatever edge was offered before', () => {
    fc.assert(
      fc.property(cseq, span, wscale, wscale, (ack, before, kws, cws) => {
        const out = adjustWindow({
          ack,
          kernelAck: ack,
          kernelField: 0,
          kernelWscale: kws,
          clientWscale: cws,
          rightEdge: seqAdd(ack, before),
        });
        expect(out).toEqual({ field: 0, rightEdge: ack });
      }),
      params,
    );
  });

  it("while a re-created kernel catches up (its ack behind the client's), the edge the client was told stays", () => {
    fc.assert(
      fc.property(
        cseq,
        fc.integer({ min: 1, max: 200_000 }),
        span,
        fc.nat({ max: 65535 }),
        wscale,
        wscale,
        (ack, behind, told, field, kws, cws) => {
          const rightEdge = seqAdd(ack, Math.min(told, MAX_WINDOW_FIELD * 2 ** cws));
          const out = adjustWindow({
            ack,
            kernelAck: seqAdd(ack, -behind),
            kernelField: field,
            kernelWscale: kws,
            clientWscale: cws,
            rightEdge,
          });
          const advertised = seqAdd(ack, out.field * 2 ** cws);
          expect(out.rightEdge).toBe(advertised);
          expect(seqGe(advertised, rightEdge)).toBe(true);
          // Rounded up from the larger of the edge told and the new kernel's, by under a unit.
          const kernelEdge = seqAdd(seqAdd(ack, -behind), field * 2 ** kws);
          const target = seqGe(kernelEdge, rightEdge) ? kernelEdge : rightEdge;
          if (out.field < MAX_WINDOW_FIELD)
            expect(seqSub(advertised, target)).toBeLessThan(2 ** cws);
        },
      ),
      params,
    );
  });

  it('a SYN-ACK window (unscaled) is kept as the largest scaled field that offers no more than it', () => {
    fc.assert(
      fc.property(fc.nat({ max: 65535 }), wscale, (window, kws) => {
        const field = kernelWindowField(window, true, kws);
        expect(field * 2 ** kws).toBeLessThanOrEqual(window);
        expect(window - field * 2 ** kws).toBeLessThan(2 ** kws);
        expect(kernelWindowField(window, false, kws)).toBe(window);
      }),
      params,
    );
  });

  it('unscaled (SYN-ACK) windows pass through unchanged when nothing is clamped', () => {
    fc.assert(
      fc.property(cseq, fc.nat({ max: 65535 }), (ack, field) => {
        const out = adjustWindow({
          ack,
          kernelAck: ack,
          kernelField: field,
          kernelWscale: 0,
          clientWscale: 0,
          rightEdge: ack,
        });
        expect(out.field).toBe(field);
      }),
      params,
    );
  });
});

describe('R1.5 SACK blocks on the wire (clampSackEdge, then sackBlockSendable)', () => {
  // Blocks near the ack and stableSeq, so that every case occurs: kept, cut, emptied, stale.
  it('no block with left >= right, none past stableSeq, none stale; the checksum stays valid', () => {
    fc.assert(
      fc.property(
        cseq,
        fc.nat({ max: 48 }),
        fc.array(fc.tuple(fc.integer({ min: -80, max: 80 }), fc.nat({ max: 40 })), {
          minLength: 1,
          maxLength: MAX_SACK_BLOCKS,
        }),
        fc.constantFrom<'full' | 'partial'>('full', 'partial'),
        fc.nat({ max: 3 }),
        (ack, above, raw, mode, nops) => {
          const stable = seqAdd(ack, above);
          const blocks = raw.map(([d, w]) => ({ left: seqAdd(ack, d), right: seqAdd(ack, d + w) }));
          const options: TcpOption[] = [
            ...Array.from({ length: nops }, () => ({ kind: 'nop' as const })),
            { kind: 'sack', blocks },
          ];
          const r: TcpRepr = {
            srcPort: 80,
            dstPort: 40000,
            seq: 1,
            ack,
            flags: TCP_ACK,
            window: 100,
            urgent: 0,
            options,
            payload: new Uint8Array([1, 2, 3]),
          };
          const p = emitTcp(r, new Uint8Array(tcpBufferLen(r)), 7, 9, { checksum: mode });
          rewriteSackBlocks(p, (edge) => clampSackEdge(clientSeq(edge), stable), mode);
          keepSackBlocks(
            p,
            (l, rt, i) => sackBlockSendable(clientSeq(l), clientSeq(rt), i, ack),
            mode,
          );
          if (mode === 'partial') p.completePartialChecksum();
          expect(p.verifyChecksum(7, 9)).toBe(true);
          const out = findSackBlocks(p);
          out.forEach((b, i) => {
            expect(seqLt(b.left, b.right)).toBe(true);
            expect(seqLe(b.right, stable)).toBe(true);
            if (i > 0) expect(seqGt(b.right, ack)).toBe(true);
          });
          // Exactly the clamped blocks that are sendable remain, in order.
          const expected = blocks
            .map((b) => ({
              left: clampSackEdge(b.left, stable),
              right: clampSackEdge(b.right, stable),
            }))
            .filter((b, i) => sackBlockSendable(b.left, b.right, i, ack));
          expect(out).toEqual(expected);
        },
      ),
      { ...params, numRuns: 1000 },
    );
  });
});

describe('R1.5 clampSackEdge', () => {
  it('no block the client sees covers a byte at or past stableSeq', () => {
    fc.assert(
      fc.property(
        cseq,
        span,
        span,
        fc.integer({ min: -(1 << 20), max: 1 << 20 }),
        (stable, a, b, shift) => {
          const left = seqAdd(stable, shift);
          const right = seqAdd(left, 1 + Math.min(a, b));
          const l = clampSackEdge(left, stable);
          const r = clampSackEdge(right, stable);
          // What remains is within the original block and entirely below stableSeq.
          expect(seqLe(r, stable)).toBe(true);
          expect(seqGe(l, left) || l === stable).toBe(true);
          expect(seqLe(r, right)).toBe(true);
          // A block wholly at or above stableSeq is emptied (left == right), so it acks nothing.
          if (seqGe(left, stable)) expect(l).toBe(r);
          else expect(l).toBe(left);
        },
      ),
      params,
    );
  });
});
