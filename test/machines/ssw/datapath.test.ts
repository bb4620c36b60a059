// Properties of the SSW data path (spec/ssw.md R1, R5, R6, R7). Seeded: a failure prints the
// seed and path; replay with FC_SEED=<seed>.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  adjustWindow,
  atLoggedClose,
  CONN_MODES,
  type ConnMode,
  clampAck,
  clampInboundAck,
  clampSackEdge,
  classifyClientSegment,
  classifyKernelSegment,
  clientActionOf,
  computeDeltaSeq,
  computeTsDelta,
  IDENTITY,
  kernelActionOf,
  kernelDoneWith,
  kernelWindowField,
  loggedCloseOf,
  MAX_WINDOW_FIELD,
  newLogSpan,
  pureAckOwed,
  regeneratedHandling,
  SEGMENT_KINDS,
  type SegmentKind,
  sackBlockSendable,
  segmentKind,
  segmentKindOfBits,
  toKernelSeq,
  toOriginalSeq,
  translateInbound,
  translateOutbound,
} from '../../../src/machines/ssw/datapath.ts';
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
const span = fc.nat({ max: 1 << 29 });
const wscale = fc.integer({ min: 0, max: 14 });

const MODES: readonly ConnMode[] = [
  'listenSynSeen',
  'awaitingSynStored',
  'protected',
  'translated',
  'unprotected',
  'closing',
  'orphaned',
  'awaitSynAck',
  'injecting',
  'closed',
];
const KINDS: readonly SegmentKind[] = ['syn', 'synAck', 'rst', 'fin', 'data', 'pureAck'];

describe('R1.2 clampAck', () => {
  it('never acks an unlogged byte, never goes backwards, never invents receipt', () => {
    fc.assert(
      fc.property(u32, span, span, (sentAck, s, k) => {
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
      fc.property(u32, span, span, (sentAck, s, k) => {
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
        u32,
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
        u32,
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
      fc.property(u32, span, wscale, wscale, (ack, before, kws, cws) => {
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
        u32,
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
      fc.property(u32, fc.nat({ max: 65535 }), (ack, field) => {
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
        u32,
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
          rewriteSackBlocks(p, (edge) => clampSackEdge(edge, stable), mode);
          keepSackBlocks(p, (l, rt, i) => sackBlockSendable(l, rt, i, ack), mode);
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
        u32,
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

describe('R5.2 the close position', () => {
  it('an end passes a FIN exactly at serverIsn + 1 + offset, across the wrap, and nowhere else', () => {
    fc.assert(
      fc.property(u32, fc.nat({ max: Number.MAX_SAFE_INTEGER - 1 }), span, (isn, offset, d) => {
        const close = loggedCloseOf(isn, 'end', offset);
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
      fc.property(u32, fc.nat({ max: 1 << 30 }), span, fc.boolean(), (isn, offset, d, fin) => {
        const close = loggedCloseOf(isn, 'destroy', offset);
        const kind = fin ? 'fin' : 'rst';
        expect(atLoggedClose(close, kind, seqAdd(close.seq, -d))).toBe(true);
        if (d > 0) expect(atLoggedClose(close, kind, seqAdd(close.seq, d))).toBe(false);
      }),
      params,
    );
  });

  it("no logged close: no FIN or RST is the application's", () => {
    expect(atLoggedClose(undefined, 'fin', 0)).toBe(false);
    expect(atLoggedClose(undefined, 'rst', 0)).toBe(false);
    // A small worked example: ISN 0xffff_fffe, 3 bytes written -> FIN at 2 (wrapped).
    expect(loggedCloseOf(0xffff_fffe, 'end', 3).seq).toBe(2);
  });
});

describe('classification (R2, R5, R6)', () => {
  const all = (f: (m: ConnMode, k: SegmentKind, c: boolean) => void): void => {
    for (const m of MODES) for (const k of KINDS) for (const c of [false, true]) f(m, k, c);
  };

  it('R5.1/R5.3 a FIN or RST reaches the client only at the logged close or if protection is off', () => {
    all((m, k, atClose) => {
      if (k !== 'fin' && k !== 'rst') return;
      const a = classifyKernelSegment(m, k, atClose);
      const reaches =
        a === 'forward' || a === 'forwardUnclamped' || (k === 'fin' && a === 'regenerated');
      if (reaches)
        expect(atClose || m === 'unprotected' || m === 'closing' || m === 'listenSynSeen').toBe(
          true,
        );
      if (m === 'orphaned') expect(a).toBe('suppressCrash');
    });
  });

  it('R2 / R6.3 SYN-ACKs before SynStored and during re-creation never reach the client', () => {
    expect(classifyKernelSegment('listenSynSeen', 'synAck', false)).toBe('firstSynAck');
    expect(classifyKernelSegment('awaitingSynStored', 'synAck', false)).toBe('holdSynAck');
    expect(classifyKernelSegment('awaitSynAck', 'synAck', false)).toBe('captureSynAck');
    expect(classifyKernelSegment('awaitSynAck', 'rst', false)).toBe('captureRst');
    for (const k of KINDS) {
      for (const m of ['awaitSynAck', 'injecting', 'orphaned', 'closed'] as const) {
        expect(['forward', 'forwardUnclamped']).not.toContain(classifyKernelSegment(m, k, false));
      }
    }
  });

  it('R1.1 every client byte on a protected path is logged before it reaches the kernel', () => {
    all((m, k) => {
      const a = classifyClientSegment(m, k);
      if (m === 'protected' || m === 'translated' || m === 'closing') {
        if (k === 'data' || k === 'fin') expect(a).toBe('logAndForward');
      }
      if (a === 'forwardRaw') expect(m).toBe('unprotected');
      if (m === 'orphaned' && (k === 'data' || k === 'fin')) expect(a).toBe('logOnly');
      if ((m === 'awaitSynAck' || m === 'injecting') && (k === 'data' || k === 'fin'))
        expect(a).toBe('logAndInject');
    });
  });

  it('segmentKind follows RST > SYN > FIN > data > ack', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.nat({ max: 1500 }),
        (syn, ack, fin, rst, payloadLength) => {
          const k = segmentKind({ syn, ack, fin, rst, payloadLength });
          if (rst) expect(k).toBe('rst');
          else if (syn) expect(k).toBe(ack ? 'synAck' : 'syn');
          else if (fin) expect(k).toBe('fin');
          else expect(k).toBe(payloadLength > 0 ? 'data' : 'pureAck');
        },
      ),
      params,
    );
  });
});

describe('R1.1 / R6.6 arithmetic', () => {
  it('newLogSpan returns exactly the bytes at and after loggedSeq', () => {
    fc.assert(
      fc.property(
        u32,
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

  it('regenerated bytes at or below clientAck are acked locally, others sent', () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: -100_000, max: 100_000 }), (clientAck, d) => {
        expect(regeneratedHandling(seqAdd(clientAck, d), clientAck)).toBe(
          d <= 0 ? 'ackLocally' : 'send',
        );
      }),
      params,
    );
  });
});

describe('per-packet tables', () => {
  it('agree with the ts-pattern definitions for every mode, kind and closeLogged', () => {
    for (const m of CONN_MODES) {
      for (const k of SEGMENT_KINDS) {
        expect(clientActionOf(m, k)).toBe(classifyClientSegment(m, k));
        for (const c of [false, true])
          expect(kernelActionOf(m, k, c)).toBe(classifyKernelSegment(m, k, c));
      }
    }
  });

  it('segmentKindOfBits agrees with segmentKind', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0x1ff }), fc.nat({ max: 1500 }), (flags, len) => {
        const k = segmentKind({
          syn: (flags & 2) !== 0,
          ack: (flags & 16) !== 0,
          fin: (flags & 1) !== 0,
          rst: (flags & 4) !== 0,
          payloadLength: len,
        });
        expect(segmentKindOfBits(flags, len)).toBe(k);
      }),
      params,
    );
  });
});

describe('R5.7 the kernel is done with a closing connection', () => {
  it('only once it acked the client FIN and was handed the ack of its own FIN (wrap included)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffff_ffff }), fc.integer({ min: 1, max: 1 << 30 }), (fin, d) => {
        expect(kernelDoneWith(fin, seqAdd(fin, 1), true)).toBe(true);
        expect(kernelDoneWith(fin, seqAdd(fin, d), true)).toBe(true);
        // The kernel has not acked the FIN: it still has a socket waiting for it.
        expect(kernelDoneWith(fin, fin, true)).toBe(false);
        expect(kernelDoneWith(fin, seqAdd(fin, -d), true)).toBe(false);
        // The kernel has not seen the client's ack of its FIN: still in LAST_ACK.
        expect(kernelDoneWith(fin, seqAdd(fin, 1), false)).toBe(false);
        expect(kernelDoneWith(undefined, seqAdd(fin, 1), true)).toBe(false);
        expect(kernelDoneWith(fin, undefined, true)).toBe(false);
      }),
      params,
    );
  });
});
