// Properties of R7 translation (spec/ssw.md R7, R6.3; translate.ts). Seeded: a failure prints
// the seed and path; replay with FC_SEED=<seed>.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kernelSeq, origSeq } from '../../../src/machines/ssw/spaces.ts';
import {
  clampInboundAck,
  computeDeltaSeq,
  computeTsDelta,
  IDENTITY,
  toClientTs,
  toKernelSeq,
  toKernelTs,
  toOriginalSeq,
  translateInboundSegment,
  translateOutboundSeq,
  translateOutboundTs,
} from '../../../src/machines/ssw/translate.ts';
import { seqAdd, seqSub } from '../../../src/wire/seq.ts';
import {
  emitTcp,
  findSackBlocks,
  findTimestamps,
  TCP_ACK,
  type TcpOption,
  type TcpPacket,
  type TcpRepr,
  tcpBufferLen,
} from '../../../src/wire/tcp.ts';

const seed = Number(process.env.FC_SEED ?? 20261127);
const params = { seed, numRuns: 300 };
const u32 = fc.nat({ max: 0xffff_ffff });
const span = fc.nat({ max: 1 << 29 });
const kseq = u32.map((n) => kernelSeq(n));
const oseq = u32.map((n) => origSeq(n));
const SRC = 0xc612_0001;
const DST = 0xc612_000a;

describe('R7 translation', () => {
  const t = fc.record({ deltaSeq: u32, tsDelta: u32 });
  // With NOP NOP TS, at most 3 SACK blocks fit in the 40 bytes of options.
  const sack = fc.array(fc.record({ left: u32, right: u32 }), { maxLength: 3 });
  const kernelSack = fc.array(fc.record({ left: kseq, right: kseq }), { maxLength: 3 });

  /** A segment as the kernel (or the client) sends it: NOP NOP TS, SACK blocks when given. */
  const segment = (
    seq: number,
    ack: number,
    tsVal: number,
    tsEcr: number,
    blocks: readonly { left: number; right: number }[],
  ): TcpPacket => {
    const options: TcpOption[] = [
      { kind: 'nop' },
      { kind: 'nop' },
      { kind: 'timestamps', tsVal, tsEcr },
    ];
    if (blocks.length > 0) options.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks });
    const r: TcpRepr = {
      srcPort: 7000,
      dstPort: 40000,
      seq,
      ack,
      flags: TCP_ACK,
      window: 500,
      urgent: 0,
      options,
      payload: new Uint8Array([1, 2, 3]),
    };
    return emitTcp(r, new Uint8Array(tcpBufferLen(r)), SRC, DST);
  };

  it('R7.5 inbound undoes outbound for seq, SACK edges and timestamps, in place (bijection)', () => {
    fc.assert(
      fc.property(t, kseq, u32, u32, kernelSack, (tr, seq, tsVal, tsEcr, blocks) => {
        // The kernel's segment goes out: seq and TSval move to the client's view.
        const out = segment(seq, 0, tsVal, tsEcr, []);
        translateOutboundSeq(out, tr, 'full');
        const sent = translateOutboundTs(out, tr, 'full');
        expect(out.seqNumber).toBe(toOriginalSeq(seq, tr));
        expect(sent).toBe(toClientTs(tsVal, tr));
        expect(findTimestamps(out)).toEqual({ tsVal: sent, tsEcr });
        expect(out.verifyChecksum(SRC, DST)).toBe(true);
        // The client echoes it: ack = seq', TSecr = TSval', SACK in the same (original) space.
        const echo = segment(
          1,
          out.seqNumber,
          9,
          sent ?? 0,
          blocks.map((b) => ({
            left: toOriginalSeq(b.left, tr),
            right: toOriginalSeq(b.right, tr),
          })),
        );
        translateInboundSegment(echo, tr, undefined, 'full');
        expect(echo.ackNumber).toBe(out.seqNumber); // no SYN-ACK yet: the ack is left alone
        const back = segment(
          1,
          out.seqNumber,
          9,
          sent ?? 0,
          blocks.map((b) => ({
            left: toOriginalSeq(b.left, tr),
            right: toOriginalSeq(b.right, tr),
          })),
        );
        translateInboundSegment(back, tr, seqAdd(origSeq(out.seqNumber), 1), 'full');
        expect(back.ackNumber).toBe(seq);
        expect(findTimestamps(back)).toEqual({ tsVal: 9, tsEcr: tsVal });
        expect(findSackBlocks(back)).toEqual(blocks);
        expect(back.verifyChecksum(SRC, DST)).toBe(true);
        expect(toKernelSeq(toOriginalSeq(seq, tr), tr)).toBe(seq);
        expect(toKernelTs(toClientTs(tsVal, tr), tr)).toBe(tsVal);
      }),
      params,
    );
  });

  it('R7.5 translation is injective and, with zero deltas, leaves every byte alone', () => {
    fc.assert(
      fc.property(t, u32, u32, sack, (tr, a, b, blocks) => {
        expect(toOriginalSeq(kernelSeq(a), tr) === toOriginalSeq(kernelSeq(b), tr)).toBe(a === b);
        expect(toClientTs(a, tr) === toClientTs(b, tr)).toBe(a === b);
        const p = segment(a, b, a, b, blocks);
        const before = p.buffer.slice();
        translateOutboundSeq(p, IDENTITY, 'full');
        translateOutboundTs(p, IDENTITY, 'full');
        translateInboundSegment(p, IDENTITY, origSeq(b), 'full');
        expect(p.buffer).toEqual(before);
        // A translated SACK block covers the same bytes: its width is kept.
        const q = segment(a, b, a, b, blocks);
        translateInboundSegment(q, tr, undefined, 'full');
        findSackBlocks(q).forEach((blk, i) => {
          const orig = blocks[i] ?? { left: 0, right: 0 };
          expect(toOriginalSeq(kernelSeq(blk.left), tr)).toBe(orig.left);
          expect(seqSub(blk.right, blk.left)).toBe(seqSub(orig.right, orig.left));
        });
      }),
      params,
    );
  });

  it('R6.3 deltaSeq maps the kernel ISN onto the original ISN', () => {
    fc.assert(
      fc.property(oseq, kseq, (serverIsn, kernelIsn) => {
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
      fc.property(oseq, span, span, (sndNxt, below, above) => {
        expect(clampInboundAck(seqAdd(sndNxt, above), sndNxt)).toBe(sndNxt);
        expect(clampInboundAck(seqAdd(sndNxt, -below), sndNxt)).toBe(seqAdd(sndNxt, -below));
      }),
      params,
    );
  });
});
