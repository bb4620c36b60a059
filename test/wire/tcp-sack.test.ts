// keepSackBlocks: removing SACK blocks in place (used by the SSW's R1.5 so that a block clamped
// empty never reaches the wire). Laws: the checksum discipline of the other rewrites, the kept
// blocks and only they remain in order, every other option and the header length are untouched.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  emitTcp,
  findSackBlocks,
  keepSackBlocks,
  MAX_SACK_BLOCKS,
  parseTcpOptions,
  type SackBlock,
  TCP_ACK,
  type TcpOption,
  TcpPacket,
  type TcpRepr,
  tcpBufferLen,
  tcpOptionsLength,
} from '../../src/wire/index.ts';
import { fcParams, ipv4Addr, seqNum, tcpOptionNoEol, tcpReprArb } from './arbitraries.ts';

const notSack = tcpOptionNoEol.filter((o) => o.kind !== 'sack');

/** Options around one SACK option (1-4 blocks) at every alignment, within 40 bytes. */
const withSack: fc.Arbitrary<TcpOption[]> = fc
  .tuple(
    fc.array(notSack, { maxLength: 4 }),
    fc.array(fc.record({ left: seqNum, right: seqNum }), {
      minLength: 1,
      maxLength: MAX_SACK_BLOCKS,
    }),
    fc.array(notSack, { maxLength: 4 }),
  )
  .map(([pre, blocks, post]) => {
    const sack: TcpOption = { kind: 'sack', blocks };
    const out: TcpOption[] = [];
    for (const o of pre) if (tcpOptionsLength([...out, o, sack]) <= 40) out.push(o);
    out.push(sack);
    for (const o of post) if (tcpOptionsLength([...out, o]) <= 40) out.push(o);
    return out;
  });

const emitWith = (r: TcpRepr, s: number, d: number, mode: 'full' | 'partial'): TcpPacket =>
  emitTcp(r, new Uint8Array(tcpBufferLen(r)), s, d, { checksum: mode });

const optionsOf = (p: TcpPacket): TcpOption[] => {
  const r = parseTcpOptions(p.buffer.subarray(20, p.headerLength));
  if (!r.ok) throw new Error(`options do not parse: ${r.error.kind}`);
  return r.value;
};

/** What the option list must become: the SACK option filtered, its freed bytes NOPs. */
const expectedOptions = (before: TcpOption[], keep: readonly boolean[]): TcpOption[] =>
  before.flatMap((o): TcpOption[] => {
    if (o.kind !== 'sack') return [o];
    const kept = o.blocks.filter((_, i) => keep[i]);
    const nops = Array.from(
      { length: 8 * (o.blocks.length - kept.length) + (kept.length ? 0 : 2) },
      () => ({
        kind: 'nop' as const,
      }),
    );
    return kept.length ? [{ kind: 'sack', blocks: kept }, ...nops] : nops;
  });

const maskArb = fc.array(fc.boolean(), { minLength: MAX_SACK_BLOCKS, maxLength: MAX_SACK_BLOCKS });

describe('keepSackBlocks', () => {
  it('law (full checksum): result == full recomputation; kept blocks, other options, lengths unchanged', () => {
    fc.assert(
      fc.property(tcpReprArb(withSack), ipv4Addr, ipv4Addr, maskArb, (r, s, d, keep) => {
        const p = emitWith(r, s, d, 'full');
        const before = optionsOf(p);
        const blocks = findSackBlocks(p);
        const hl = p.headerLength;
        const payload = p.payload.slice();
        const seen: number[] = [];
        const n = keepSackBlocks(p, (left, right, i) => {
          expect(blocks[i]).toEqual({ left, right });
          seen.push(i);
          return keep[i] === true;
        });
        expect(seen).toEqual(blocks.map((_, i) => i));
        const kept = blocks.filter((_, i) => keep[i]);
        expect(n).toBe(kept.length);
        expect(findSackBlocks(p)).toEqual(kept);
        expect(optionsOf(p)).toEqual(expectedOptions(before, keep));
        expect(p.headerLength).toBe(hl);
        expect(p.payload).toEqual(payload);
        expect(p.verifyChecksum(s, d)).toBe(true);
        const incremental = p.checksum;
        p.fillChecksum(s, d);
        expect(incremental).toBe(p.checksum);
      }),
      fcParams(3000),
    );
  });

  it('law (partial checksum): the field is left alone and completion is correct', () => {
    fc.assert(
      fc.property(tcpReprArb(withSack), ipv4Addr, ipv4Addr, maskArb, (r, s, d, keep) => {
        const p = emitWith(r, s, d, 'partial');
        const seed = p.checksum;
        keepSackBlocks(p, (_l, _r, i) => keep[i] === true, 'partial');
        expect(p.checksum).toBe(seed);
        p.completePartialChecksum();
        expect(p.verifyChecksum(s, d)).toBe(true);
      }),
      fcParams(1000),
    );
  });

  it('keeping every block writes nothing; no SACK option returns 0', () => {
    const r: TcpRepr = {
      srcPort: 1,
      dstPort: 2,
      seq: 3,
      ack: 4,
      flags: TCP_ACK,
      window: 5,
      urgent: 0,
      options: [
        { kind: 'nop' },
        { kind: 'nop' },
        { kind: 'sack', blocks: [{ left: 1, right: 2 }] },
      ],
      payload: new Uint8Array(0),
    };
    const p = emitWith(r, 7, 8, 'full');
    const bytes = p.buffer.slice();
    expect(keepSackBlocks(p, () => true)).toBe(1);
    expect(p.buffer).toEqual(bytes);
    const q = emitWith({ ...r, options: [{ kind: 'mss', mss: 1460 }] }, 7, 8, 'full');
    expect(keepSackBlocks(q, () => false)).toBe(0);
    // Dropping the only block leaves 12 NOPs where the option was (header length kept).
    expect(keepSackBlocks(p, () => false)).toBe(0);
    expect(optionsOf(p)).toEqual(Array.from({ length: 12 }, () => ({ kind: 'nop' })));
    expect(p.verifyChecksum(7, 8)).toBe(true);
  });

  it('never throws on arbitrary segment bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 80 }), fc.boolean(), (bytes, k) => {
        const c = TcpPacket.checked(bytes);
        if (!c.ok) return;
        const blocks: SackBlock[] = findSackBlocks(c.value);
        const n = keepSackBlocks(c.value, (_l, _r, i) => k && i % 2 === 0);
        expect(n).toBeLessThanOrEqual(blocks.length);
      }),
      fcParams(3000),
    );
  });
});
