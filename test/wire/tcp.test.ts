import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  emitTcp,
  findSackBlocks,
  findTimestamps,
  fromHex,
  ipv4FromString,
  parseTcp,
  parseTcpOptions,
  parseTcpSegment,
  rewriteAck,
  rewriteFlags,
  rewriteSackBlocks,
  rewriteSeq,
  rewriteTimestamps,
  rewriteWindow,
  seqAdd,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_SYN,
  type TcpOption,
  TcpPacket,
  type TcpRepr,
  tcpBufferLen,
  tcpOptionsLength,
  tcpToString,
  toHex,
} from '../../src/wire/index.ts';
import {
  fcParams,
  ipv4Addr,
  seqNum,
  tcpOptionNoEol,
  tcpOptionsRaw,
  tcpReprArb,
  u16,
  u32,
} from './arbitraries.ts';

const SRC = ipv4FromString('198.18.0.1');
const DST = ipv4FromString('198.18.0.2');

// TCP segments (the IP payload) of four packets whose checksums were computed by an
// independent Python implementation and reported "correct" by tshark (tcp.check_checksum).
const SYN = fromHex(
  '9c4000070102030400000000a002faf0dc330000020405b40402080a112233440000000001030307',
);
const DATA = fromHex('9c40000701020305a0b0c0d0801801f6919a00000101080a112233455566778868656c6c6f');
// 7 -> 40000 (reverse direction), so the pseudo-header addresses swap.
const SACK = fromHex(
  '00079c40a0b0c0d00102030aa01001f5afb300000101051201020400010205000102060001020700',
);
const UNKNOWN = fromHex('9c400007fffffffe0000000570110000e66e00001e040081010000006162');

/** Sets one byte and returns the buffer, for one-line malformed variants. */
const patch = (b: Uint8Array, at: number, v: number): Uint8Array => {
  b[at] = v;
  return b;
};

const unwrap = <T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T => {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.error)}`);
  return r.value;
};
const kindOf = (r: { ok: boolean; error?: { kind: string } }): string | undefined =>
  r.ok ? undefined : r.error?.kind;

describe('TcpPacket / TcpRepr: static vectors', () => {
  it('deconstructs a Linux-style SYN', () => {
    const p = unwrap(TcpPacket.checked(SYN));
    expect([p.srcPort, p.dstPort, p.seqNumber, p.dataOffset, p.headerLength]).toEqual([
      40000, 7, 0x01020304, 10, 40,
    ]);
    expect([p.syn, p.ack, p.fin, p.rst, p.psh, p.urg, p.ece, p.cwr, p.ns]).toEqual([
      true,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(p.window).toBe(64240);
    expect(p.checksum).toBe(0xdc33);
    expect(p.segmentLength).toBe(1);
    expect(p.verifyChecksum(SRC, DST)).toBe(true);
    const r = unwrap(parseTcp(p, SRC, DST));
    expect(r.ack).toBeUndefined();
    expect(r.options).toEqual([
      { kind: 'mss', mss: 1460 },
      { kind: 'sackPermitted' },
      { kind: 'timestamps', tsVal: 0x11223344, tsEcr: 0 },
      { kind: 'nop' },
      { kind: 'wscale', shift: 7 },
    ]);
    expect(tcpToString(r)).toBe(
      '40000 > 7: Flags [S], seq 16909060, win 64240, options [mss 1460,sackOK,TS val 287454020 ecr 0,nop,wscale 7], length 0',
    );
  });

  it('deconstructs data with NOP NOP TS', () => {
    const r = unwrap(parseTcpSegment(DATA, SRC, DST));
    expect(r.flags).toBe(TCP_PSH | TCP_ACK);
    expect(r.ack).toBe(0xa0b0c0d0);
    expect(new TextDecoder().decode(r.payload)).toBe('hello');
    expect(r.options).toEqual([
      { kind: 'nop' },
      { kind: 'nop' },
      { kind: 'timestamps', tsVal: 0x11223345, tsEcr: 0x55667788 },
    ]);
    expect(tcpToString(r)).toBe(
      '40000 > 7: Flags [P.], seq 16909061:16909066, ack 2695938256, win 502, options [nop,nop,TS val 287454021 ecr 1432778632], length 5',
    );
  });

  it('deconstructs SACK blocks', () => {
    const r = unwrap(parseTcpSegment(SACK, DST, SRC));
    expect(r.options[2]).toEqual({
      kind: 'sack',
      blocks: [
        { left: 0x01020400, right: 0x01020500 },
        { left: 0x01020600, right: 0x01020700 },
      ],
    });
    expect(findSackBlocks(unwrap(TcpPacket.checked(SACK)))).toEqual([
      { left: 0x01020400, right: 0x01020500 },
      { left: 0x01020600, right: 0x01020700 },
    ]);
  });

  it('keeps an unknown option byte-exact and stops at EOL', () => {
    const r = unwrap(parseTcpSegment(UNKNOWN, SRC, DST));
    expect(r.flags).toBe(TCP_FIN | TCP_ACK);
    expect(r.options.map((o) => o.kind)).toEqual(['unknown', 'nop', 'eol']);
    const u = r.options[0] as Extract<TcpOption, { kind: 'unknown' }>;
    expect(u.type).toBe(30);
    expect(toHex(u.data)).toBe('0081');
  });

  it('constructs every vector byte for byte', () => {
    for (const [seg, s, d] of [
      [SYN, SRC, DST],
      [DATA, SRC, DST],
      [SACK, DST, SRC],
      [UNKNOWN, SRC, DST],
    ] as const) {
      const r = unwrap(parseTcpSegment(seg, s, d));
      const buf = new Uint8Array(tcpBufferLen(r));
      emitTcp(r, buf, s, d);
      expect(toHex(buf)).toBe(toHex(seg));
    }
  });
});

describe('TCP malformed input', () => {
  const cases: [string, Uint8Array, string][] = [
    ['truncated fixed header', SYN.subarray(0, 19), 'truncated'],
    ['data offset 4', patch(SYN.slice(), 12, 0x40), 'badHeaderLength'],
    ['data offset past the end', SYN.subarray(0, 36), 'truncated'],
    ['SYN+FIN', patch(SYN.slice(), 13, TCP_SYN | TCP_FIN), 'synFin'],
    ['bad checksum', patch(SYN.slice(), 17, 0x34), 'badChecksum'], // was 0x33
  ];
  for (const [name, seg, kind] of cases) {
    it(`${name} -> ${kind}`, () => {
      expect(kindOf(parseTcpSegment(seg, SRC, DST))).toBe(kind);
    });
  }

  const optionCases: [string, string, string][] = [
    ['length byte missing', '0101 01 02', 'optionOverrun'],
    ['length runs past the area', '02 08 05b4', 'optionOverrun'],
    ['length below 2', '1e 01 0000', 'badOption'],
    ['MSS of length 3', '02 03 05 00', 'badOption'],
    ['wscale of length 4', '03 04 0700', 'badOption'],
    ['sackPermitted of length 3', '04 03 00 00', 'badOption'],
    ['SACK with a partial block', '05 12 0000000100000002 0000', 'optionOverrun'],
    ['SACK of length 9', '05 09 00000001000000 02', 'badOption'],
    ['SACK with no block', '05 02 0000', 'badOption'],
    ['timestamps of length 8', '08 08 000000010000', 'badOption'],
  ];
  for (const [name, hex, kind] of optionCases) {
    it(`option ${name} -> ${kind}`, () => {
      expect(kindOf(parseTcpOptions(fromHex(hex)))).toBe(kind);
      // And the same options inside a whole segment with a valid checksum.
      const opts = fromHex(hex);
      const padded = new Uint8Array((opts.length + 3) & ~3);
      padded.set(opts);
      const seg = new Uint8Array(20 + padded.length);
      seg.set(SYN.subarray(0, 20));
      seg[12] = (seg.length / 4) << 4;
      seg.set(padded, 20);
      const p = new TcpPacket(seg);
      p.fillChecksum(SRC, DST);
      expect(kindOf(parseTcp(p, SRC, DST))).toBe(kind);
      // The tolerant in-place accessors never throw on the same bytes.
      expect(() => [findTimestamps(p), findSackBlocks(p)]).not.toThrow();
    });
  }
});

const emit = (r: TcpRepr, s: number, d: number): TcpPacket => {
  const buf = new Uint8Array(tcpBufferLen(r));
  return emitTcp(r, buf, s, d);
};

describe('TCP laws', () => {
  it('parse(emit(r)) == r for normal-form reprs, and the checksum verifies', () => {
    fc.assert(
      fc.property(tcpReprArb(), ipv4Addr, ipv4Addr, (r, s, d) => {
        const p = emit(r, s, d);
        expect(p.verifyChecksum(s, d)).toBe(true);
        expect(p.checksumStatus(s, d)).toBe('valid');
        expect(unwrap(parseTcp(unwrap(TcpPacket.checked(p.buffer)), s, d))).toEqual(r);
      }),
      fcParams(5000),
    );
  });

  it('parse(emit(r)) adds exactly one EOL when the options need padding and lack one', () => {
    fc.assert(
      fc.property(tcpReprArb(tcpOptionsRaw), (r) => {
        const back = unwrap(parseTcp(emit(r, SRC, DST), SRC, DST));
        const needsPad = tcpOptionsLength(r.options) % 4 !== 0;
        expect(back.options).toEqual(needsPad ? [...r.options, { kind: 'eol' }] : r.options);
      }),
      fcParams(2000),
    );
  });

  it('emit refuses an impossible repr instead of writing a corrupt segment', () => {
    const base: TcpRepr = {
      srcPort: 1,
      dstPort: 2,
      seq: 0,
      ack: undefined,
      flags: TCP_ACK,
      window: 0,
      urgent: 0,
      options: [],
      payload: new Uint8Array(0),
    };
    expect(() => emit(base, SRC, DST)).toThrow(RangeError); // ACK flag without ack
    const tooLong: TcpRepr = {
      ...base,
      flags: 0,
      options: Array(5).fill({ kind: 'timestamps', tsVal: 0, tsEcr: 0 }),
    };
    expect(() => emit(tooLong, SRC, DST)).toThrow(RangeError);
    expect(() => emitTcp({ ...base, flags: 0 }, new Uint8Array(19), SRC, DST)).toThrow(RangeError);
  });
});

// Options with timestamps and SACK at every alignment, to exercise odd offsets.
const rewritableOptions: fc.Arbitrary<TcpOption[]> = fc
  .tuple(
    fc.array(
      tcpOptionNoEol.filter((o) => o.kind !== 'timestamps' && o.kind !== 'sack'),
      { maxLength: 3 },
    ),
    fc.record({ tsVal: u32, tsEcr: u32 }),
    fc.array(fc.record({ left: seqNum, right: seqNum }), { minLength: 1, maxLength: 2 }),
    fc.nat({ max: 3 }),
  )
  .map(([pre, ts, blocks, nops]) => {
    const out: TcpOption[] = [];
    for (let i = 0; i < nops; i++) out.push({ kind: 'nop' });
    for (const o of pre) if (tcpOptionsLength([...out, o]) <= 12) out.push(o);
    out.push({ kind: 'timestamps', ...ts }, { kind: 'sack', blocks });
    return tcpOptionsLength(out) % 4 === 0 ? out : [...out, { kind: 'eol' } as TcpOption];
  });

describe('in-place rewrites', () => {
  it('static: rewrite the DATA vector and get the checksum a full computation gives', () => {
    const p = new TcpPacket(DATA.slice());
    rewriteSeq(p, 0xdeadbeef);
    rewriteAck(p, 7);
    rewriteWindow(p, 1);
    expect(rewriteTimestamps(p, 1, 2)).toBe(true);
    const incremental = p.checksum;
    p.fillChecksum(SRC, DST);
    expect(incremental).toBe(p.checksum);
    expect(findTimestamps(p)).toEqual({ tsVal: 1, tsEcr: 2 });
    expect(rewriteTimestamps(new TcpPacket(SACK.slice()), 1, 2)).toBe(false);
    expect(rewriteSackBlocks(new TcpPacket(DATA.slice()), (e) => e)).toBe(0);
  });

  it('law: incremental update == full recomputation for seq/ack/window/flags/TS/SACK rewrites', () => {
    fc.assert(
      fc.property(
        tcpReprArb(rewritableOptions),
        ipv4Addr,
        ipv4Addr,
        fc.record({
          seq: u32,
          ack: u32,
          win: u16,
          tsVal: u32,
          tsEcr: u32,
          delta: u32,
          flags: fc.constantFrom(TCP_ACK, TCP_ACK | TCP_PSH, TCP_ACK | TCP_FIN),
        }),
        (r, s, d, w) => {
          const p = emit(r, s, d);
          rewriteSeq(p, w.seq);
          rewriteAck(p, w.ack);
          rewriteWindow(p, w.win);
          rewriteFlags(p, w.flags);
          expect(rewriteTimestamps(p, w.tsVal, w.tsEcr)).toBe(true);
          const blocks = r.options.find((o) => o.kind === 'sack');
          const n = blocks?.kind === 'sack' ? blocks.blocks.length : -1;
          expect(rewriteSackBlocks(p, (e) => seqAdd(e, -w.delta))).toBe(n);
          const incremental = p.checksum;
          expect(p.verifyChecksum(s, d)).toBe(true);
          p.fillChecksum(s, d);
          expect(incremental).toBe(p.checksum);
          expect([p.seqNumber, p.ackNumber, p.window, p.flags]).toEqual([
            w.seq,
            w.ack,
            w.win,
            w.flags,
          ]);
          expect(findTimestamps(p)).toEqual({ tsVal: w.tsVal, tsEcr: w.tsEcr });
          if (blocks?.kind === 'sack') {
            expect(findSackBlocks(p)).toEqual(
              blocks.blocks.map((b) => ({
                left: seqAdd(b.left, -w.delta),
                right: seqAdd(b.right, -w.delta),
              })),
            );
          }
        },
      ),
      fcParams(5000),
    );
  });

  it('law: with a partial (offloaded) checksum, rewrites leave the field and completion is correct', () => {
    fc.assert(
      fc.property(
        tcpReprArb(rewritableOptions),
        ipv4Addr,
        ipv4Addr,
        fc.record({ seq: u32, ack: u32, win: u16, tsVal: u32, tsEcr: u32 }),
        (r, s, d, w) => {
          const buf = new Uint8Array(tcpBufferLen(r));
          const p = emitTcp(r, buf, s, d, { checksum: 'partial' });
          const partial = p.checksum;
          expect(p.checksumStatus(s, d)).toBe(p.verifyChecksum(s, d) ? 'valid' : 'partial');
          rewriteSeq(p, w.seq, 'partial');
          rewriteAck(p, w.ack, 'partial');
          rewriteWindow(p, w.win, 'partial');
          rewriteTimestamps(p, w.tsVal, w.tsEcr, 'partial');
          rewriteSackBlocks(p, (e) => e ^ 0x5555, 'partial');
          // The pseudo-header did not change, so the offload seed must not either...
          expect(p.checksum).toBe(partial);
          // ...and what the NIC then computes is the correct full checksum of the new bytes.
          p.completePartialChecksum();
          expect(p.verifyChecksum(s, d)).toBe(true);
          // Whereas eqn. 3 applied to the partial seed would be wrong (shows the mode matters).
          const q = emitTcp(r, new Uint8Array(buf.length), s, d, { checksum: 'partial' });
          // Flipping bit 16 moves the high word by exactly 1, never 0 mod 0xffff.
          rewriteSeq(q, (q.seqNumber ^ 0x1_0000) >>> 0, 'full');
          q.completePartialChecksum();
          expect(q.verifyChecksum(s, d)).toBe(false);
        },
      ),
      fcParams(3000),
    );
  });
});
