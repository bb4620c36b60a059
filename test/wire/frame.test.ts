import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  crc32,
  crc32Table,
  decodeFrame,
  encodeFrame,
  FRAME_HEADER_LEN,
  type Frame,
  FrameDecoder,
  fromHex,
  MAX_FRAME_BODY,
  toHex,
} from '../../src/wire/index.ts';
import { fcParams, u8, u16, u32 } from './arbitraries.ts';

const enc = (s: string) => new TextEncoder().encode(s);

// Header and CRC of {type 0x10, flags 0x0102, epoch 7, body "abc"}: the CRC is zlib's CRC-32
// of the header with a zeroed crc field followed by the body (checked below with node:zlib).
const VECTOR = fromHex('01100102000000070000000300000000616263');
{
  const c = zlibCrc32(VECTOR);
  VECTOR[12] = c >>> 24;
  VECTOR[13] = (c >>> 16) & 0xff;
  VECTOR[14] = (c >>> 8) & 0xff;
  VECTOR[15] = c & 0xff;
}

const must = <T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T => {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.error)}`);
  return r.value;
};
const plain = (f: Frame) => ({ type: f.type, flags: f.flags, epoch: f.epoch, body: toHex(f.body) });

describe('crc32', () => {
  it('matches the standard check value and node:zlib; the table agrees, chained too', () => {
    expect(crc32(enc('123456789'))).toBe(0xcbf43926);
    expect(crc32Table(enc('123456789'))).toBe(0xcbf43926);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (b, cut) => {
        expect(crc32(b)).toBe(zlibCrc32(b));
        expect(crc32Table(b)).toBe(crc32(b));
        const k = cut % (b.length + 1);
        expect(crc32(b.subarray(k), crc32(b.subarray(0, k)))).toBe(crc32(b));
        expect(crc32Table(b.subarray(k), crc32Table(b.subarray(0, k)))).toBe(crc32(b));
      }),
      fcParams(1000),
    );
  });
  it('takes any 32-bit running value, signed or not, without throwing', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
        (b, c) => {
          expect(crc32(b, c)).toBe(crc32Table(b, c));
          expect(crc32(b, c | 0)).toBe(crc32(b, c >>> 0));
        },
      ),
      fcParams(1000),
    );
  });
});

describe('frame codec', () => {
  it('encodes the static vector', () => {
    expect(toHex(encodeFrame({ type: 0x10, flags: 0x0102, epoch: 7, body: enc('abc') }))).toBe(
      toHex(VECTOR),
    );
  });

  it('decodes the static vector, body as a subarray of the chunk', () => {
    const f = must(decodeFrame(VECTOR));
    expect(plain(f)).toEqual({ type: 0x10, flags: 0x0102, epoch: 7, body: '616263' });
    expect(f.body.buffer).toBe(VECTOR.buffer);
  });

  it('handles a frame split at every byte boundary and coalesced frames', () => {
    const two = new Uint8Array([
      ...VECTOR,
      ...encodeFrame({ type: 1, epoch: 0, body: new Uint8Array(0) }),
    ]);
    for (let cut = 0; cut <= two.length; cut++) {
      const d = new FrameDecoder();
      const a = must(d.push(two.subarray(0, cut)));
      const b = must(d.push(two.subarray(cut)));
      expect([...a, ...b].map(plain)).toEqual([
        { type: 0x10, flags: 0x0102, epoch: 7, body: '616263' },
        { type: 1, flags: 0, epoch: 0, body: '' },
      ]);
      expect(d.buffered).toBe(0);
      expect(d.finish().ok).toBe(true);
    }
  });

  it('byte-at-a-time delivery', () => {
    const d = new FrameDecoder();
    const out: Frame[] = [];
    for (const byte of VECTOR) out.push(...must(d.push(new Uint8Array([byte]))));
    expect(out.map(plain)).toEqual([{ type: 0x10, flags: 0x0102, epoch: 7, body: '616263' }]);
  });

  it('rejects a bad CRC, then stays poisoned', () => {
    const bad = VECTOR.slice();
    bad[bad.length - 1] = 0x64; // 'c' -> 'd'
    const d = new FrameDecoder();
    const r = d.push(bad);
    expect(!r.ok && r.error.kind).toBe('badChecksum');
    const again = d.push(VECTOR);
    expect(!again.ok && again.error.kind).toBe('poisoned');
    expect(d.error?.kind).toBe('badChecksum');
  });

  it('a corrupted header field is caught by the CRC too', () => {
    const bad = VECTOR.slice();
    bad[4] = 0x80; // epoch 7 -> 0x80000007
    expect(decodeFrame(bad)).toMatchObject({ ok: false, error: { kind: 'badChecksum' } });
  });

  it('rejects a bad version as soon as the header is complete', () => {
    const bad = VECTOR.slice();
    bad[0] = 2;
    const d = new FrameDecoder();
    const r = d.push(bad.subarray(0, FRAME_HEADER_LEN));
    expect(!r.ok && r.error.kind).toBe('badVersion');
  });

  it('rejects oversize from the header alone (before buffering the body)', () => {
    const hdr = VECTOR.slice(0, FRAME_HEADER_LEN);
    hdr[8] = 0x00;
    hdr[9] = 0x10;
    hdr[10] = 0x00;
    hdr[11] = 0x01; // 1 MiB + 1
    const r = new FrameDecoder().push(hdr);
    expect(!r.ok && r.error.kind).toBe('oversize');
    const small = new FrameDecoder({ maxBody: 2 }).push(VECTOR);
    expect(!small.ok && small.error.kind).toBe('oversize');
    expect(() =>
      encodeFrame({ type: 1, epoch: 0, body: new Uint8Array(MAX_FRAME_BODY + 1) }),
    ).toThrow(RangeError);
  });

  it('accepts a body of exactly MAX_FRAME_BODY', () => {
    const body = new Uint8Array(MAX_FRAME_BODY).fill(7);
    const f = must(decodeFrame(encodeFrame({ type: 0x12, epoch: 1, body })));
    expect(f.body.length).toBe(MAX_FRAME_BODY);
  });

  it('delivers the intact frames that precede an error', () => {
    const bad = VECTOR.slice();
    bad[0] = 9;
    const r = new FrameDecoder().push(new Uint8Array([...VECTOR, ...bad]));
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.error.delivered.map(plain)).toEqual([
        { type: 0x10, flags: 0x0102, epoch: 7, body: '616263' },
      ]);
  });

  it('finish() reports a stream that stopped mid-frame', () => {
    const d = new FrameDecoder();
    must(d.push(VECTOR.subarray(0, 17)));
    expect(d.finish()).toMatchObject({ ok: false, error: { kind: 'truncated' } });
    expect(decodeFrame(VECTOR.subarray(0, 10))).toMatchObject({
      ok: false,
      error: { kind: 'truncated' },
    });
  });

  it('law: any sequence of frames, cut into any chunks, decodes to the same frames', () => {
    const frameArb = fc.record({
      type: u8,
      flags: u16,
      epoch: u32,
      body: fc.uint8Array({ maxLength: 80 }),
    });
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 6 }),
        fc.array(fc.nat({ max: 60 }), { maxLength: 20 }),
        (frames, cuts) => {
          const stream = new Uint8Array(
            frames.reduce((n, f) => n + FRAME_HEADER_LEN + f.body.length, 0),
          );
          let o = 0;
          for (const f of frames) {
            const e = encodeFrame(f);
            stream.set(e, o);
            o += e.length;
          }
          const d = new FrameDecoder();
          const out: Frame[] = [];
          let at = 0;
          for (const c of [...cuts, stream.length]) {
            const next = Math.min(stream.length, at + c);
            out.push(...must(d.push(stream.subarray(at, next))));
            at = next;
          }
          expect(out.map(plain)).toEqual(frames.map((f) => ({ ...f, body: toHex(f.body) })));
          expect(d.finish().ok).toBe(true);
        },
      ),
      fcParams(2000),
    );
  });
});
