// Properties of R7 translation (spec/ssw.md R7, R6.3; translate.ts). Seeded: a failure prints
// the seed and path; replay with FC_SEED=<seed>.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  clampInboundAck,
  computeDeltaSeq,
  computeTsDelta,
  IDENTITY,
  toKernelSeq,
  toOriginalSeq,
  translateInbound,
  translateOutbound,
} from '../../../src/machines/ssw/translate.ts';
import { seqAdd, seqSub } from '../../../src/wire/seq.ts';

const seed = Number(process.env.FC_SEED ?? 20261127);
const params = { seed, numRuns: 300 };
const u32 = fc.nat({ max: 0xffff_ffff });
const span = fc.nat({ max: 1 << 29 });

describe('R7 translation', () => {
  const t = fc.record({ deltaSeq: u32, tsDelta: u32 });
  const sack = fc.array(fc.record({ left: u32, right: u32 }), { maxLength: 4 });

  it('R7.5 inbound undoes outbound for seq and timestamps (bijection mod 2^32)', () => {
    fc.assert(
      fc.property(t, u32, fc.option(u32, { nil: undefined }), (tr, seq, tsVal) => {
        const out = translateOutbound({ seq, tsVal }, tr);
        // What the client echoes back is the translated value: ack = seq', TSecr = TSval'.
        const back = translateInbound({ ack: out.seq, tsEcr: out.tsVal, sack: [] }, tr);
        expect(back.ack).toBe(seq);
        expect(back.tsEcr).toBe(tsVal);
        expect(toKernelSeq(toOriginalSeq(seq, tr), tr)).toBe(seq);
      }),
      params,
    );
  });

  it('R7.5 translation is injective and the identity with zero deltas', () => {
    fc.assert(
      fc.property(t, u32, u32, sack, (tr, a, b, blocks) => {
        const ta = translateOutbound({ seq: a, tsVal: a }, tr);
        const tb = translateOutbound({ seq: b, tsVal: b }, tr);
        expect(ta.seq === tb.seq).toBe(a === b);
        expect(translateInbound({ ack: a, tsEcr: b, sack: blocks }, IDENTITY)).toEqual({
          ack: a,
          tsEcr: b,
          sack: blocks,
        });
        const moved = translateInbound({ ack: a, tsEcr: b, sack: blocks }, tr);
        moved.sack.forEach((blk, i) => {
          expect(toOriginalSeq(blk.left, tr)).toBe(blocks[i]?.left);
          expect(toOriginalSeq(blk.right, tr)).toBe(blocks[i]?.right);
          // Block width is preserved: a translated SACK covers the same bytes.
          const orig = blocks[i] ?? { left: 0, right: 0 };
          expect(seqSub(blk.right, blk.left)).toBe(seqSub(orig.right, orig.left));
        });
      }),
      params,
    );
  });

  it('R6.3 deltaSeq maps the kernel ISN onto the original ISN', () => {
    fc.assert(
      fc.property(u32, u32, (serverIsn, kernelIsn) => {
        const deltaSeq = computeDeltaSeq(serverIsn, kernelIsn);
        expect(toOriginalSeq(kernelIsn, { deltaSeq, tsDelta: 0 })).toBe(serverIsn);
      }),
      params,
    );
  });

  it('R6.3 tsDelta makes the first translated TSval pass PAWS', () => {
    fc.assert(
      fc.property(
        u32,
        fc.nat({ max: 1e9 }),
        fc.nat({ max: 1e8 }),
        fc.nat({ max: 600_000 }),
        u32,
        fc.option(fc.nat({ max: 1e8 }), { nil: undefined }),
        (synTs, synTimeMs, elapsed, marginMs, kernelTsVal, sentAhead) => {
          const tsValSent = sentAhead === undefined ? undefined : seqAdd(synTs, sentAhead);
          const tsDelta = computeTsDelta({
            loggedSynAckTsVal: synTs,
            synTimeMs,
            nowMs: synTimeMs + elapsed,
            marginMs,
            kernelTsVal,
            tsValSent,
          });
          const first = seqAdd(kernelTsVal, tsDelta);
          // At least the first incarnation's clock now (1 ms ticks) plus the margin.
          expect(seqSub(first, synTs)).toBeGreaterThanOrEqual(elapsed + marginMs);
          if (tsValSent !== undefined) expect(seqSub(first, tsValSent)).toBeGreaterThan(0);
        },
      ),
      params,
    );
  });

  it('R7.4 inbound acks are capped at the kernel snd.nxt', () => {
    fc.assert(
      fc.property(u32, span, span, (sndNxt, below, above) => {
        expect(clampInboundAck(seqAdd(sndNxt, above), sndNxt)).toBe(sndNxt);
        expect(clampInboundAck(seqAdd(sndNxt, -below), sndNxt)).toBe(seqAdd(sndNxt, -below));
      }),
      params,
    );
  });
});
