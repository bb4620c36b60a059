import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checksumData,
  checksumFinish,
  checksumFold,
  checksumUpdate16,
  checksumUpdate32,
  fromHex,
  ipv4FromString,
  pseudoHeaderSum,
} from '../../src/wire/index.ts';
import { fcParams, u16, u32 } from './arbitraries.ts';

// Reference sum written the naive way (BigInt, one fold at the end), independent of the
// unrolled production loop.
const naiveSum = (b: Uint8Array): number => {
  let s = 0n;
  for (let i = 0; i < b.length; i += 2) s += BigInt((b[i]! << 8) | (b[i + 1] ?? 0));
  while (s > 0xffffn) s = (s & 0xffffn) + (s >> 16n);
  return Number(s);
};

describe('checksum', () => {
  it('RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2', () => {
    const b = fromHex('0001f203f4f5f6f7');
    expect(checksumData(b)).toBe(0xddf2);
    expect(checksumFinish(checksumData(b))).toBe(0x220d);
  });

  it('odd length pads the last byte with zero', () => {
    // 0x0102 + 0xff00 = 0x1_0002, end-around carry -> 0x0003
    expect(checksumData(fromHex('0102ff'))).toBe(0x0003);
    expect(checksumData(fromHex('ab'))).toBe(0xab00);
    expect(checksumData(new Uint8Array(0))).toBe(0);
  });

  it('a known IPv4 header checks (tshark-confirmed vector)', () => {
    const hdr = fromHex('4500003c1234400040069c60c6120001c6120002');
    expect(checksumFold(checksumData(hdr))).toBe(0xffff);
    const zeroed = hdr.slice();
    zeroed[10] = 0;
    zeroed[11] = 0;
    expect(checksumFinish(checksumData(zeroed))).toBe(0x9c60);
  });

  it('pseudo-header sum of 198.18.0.1 -> 198.18.0.2 proto 6 len 40', () => {
    const s = pseudoHeaderSum(ipv4FromString('198.18.0.1'), ipv4FromString('198.18.0.2'), 6, 40);
    // c612 + 0001 + c612 + 0002 + 0006 + 0028 = 1_8c55 -> 8c56
    expect(s).toBe(0x8c56);
  });

  it('checksumFold handles accumulators above 2^32', () => {
    expect(checksumFold(0x1_0000_0000)).toBe(1);
    expect(checksumFold(0xffff_ffff * 3)).toBe(checksumFold((0xffff_ffff * 3) % 0xffff || 0xffff));
  });

  it('law: checksumData equals the naive sum at any alignment, chaining works for even splits', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(), fc.nat(3), (b, cut, shift) => {
        expect(checksumData(b)).toBe(naiveSum(b));
        // The same bytes at another byte offset of their buffer (word and byte paths).
        const shifted = new Uint8Array(b.length + shift).subarray(shift);
        shifted.set(b);
        expect(checksumData(shifted, 7)).toBe(checksumFold(naiveSum(b) + 7));
        const k = (cut % (b.length + 1)) & ~1;
        expect(checksumFold(checksumData(b.subarray(k), checksumData(b.subarray(0, k))))).toBe(
          checksumFold(naiveSum(b)),
        );
      }),
      fcParams(2000),
    );
  });

  it('law: a buffer with its own checksum appended verifies', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }).filter((b) => b.length % 2 === 0),
        (b) => {
          const c = checksumFinish(checksumData(b));
          const withSum = new Uint8Array(b.length + 2);
          withSum.set(b);
          withSum[b.length] = c >>> 8;
          withSum[b.length + 1] = c & 0xff;
          expect(checksumFold(checksumData(withSum))).toBe(0xffff);
        },
      ),
      fcParams(2000),
    );
  });

  it('law: RFC 1624 updates equal full recomputation (16 and 32 bit)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 8, maxLength: 64 }).filter((b) => b.length % 2 === 0),
        fc.nat(),
        u16,
        u32,
        (b0, at, w, v) => {
          // A leading non-zero word stands for the pseudo-header (never all zero for TCP).
          const b = b0.slice();
          b[0] = 0x45;
          const full = (x: Uint8Array) => checksumFinish(checksumData(x));
          const i16 = 2 + 2 * (at % ((b.length - 2) / 2));
          const c0 = full(b);
          const old16 = (b[i16]! << 8) | b[i16 + 1]!;
          const b16 = b.slice();
          b16[i16] = w >>> 8;
          b16[i16 + 1] = w & 0xff;
          expect(checksumUpdate16(c0, old16, w)).toBe(full(b16));

          const i32 = 2 + 2 * (at % ((b.length - 4) / 2));
          const old32 =
            ((b[i32]! << 24) | (b[i32 + 1]! << 16) | (b[i32 + 2]! << 8) | b[i32 + 3]!) >>> 0;
          const b32 = b.slice();
          b32[i32] = v >>> 24;
          b32[i32 + 1] = (v >>> 16) & 0xff;
          b32[i32 + 2] = (v >>> 8) & 0xff;
          b32[i32 + 3] = v & 0xff;
          expect(checksumUpdate32(c0, old32, v)).toBe(full(b32));
        },
      ),
      fcParams(5000),
    );
  });
});
