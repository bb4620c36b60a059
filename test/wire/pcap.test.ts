import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fromHex,
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  PcapWriter,
  pcapTimestampFromMs,
  pcapToBytes,
  readPcap,
  toHex,
} from '../../src/wire/index.ts';
import { fcParams } from './arbitraries.ts';

const must = <T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T => {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.error)}`);
  return r.value;
};

describe('pcap', () => {
  it('writes the classic global and record headers (microseconds, big-endian)', () => {
    const bytes = pcapToBytes(LINKTYPE_RAW, [
      { data: fromHex('4500'), ts: { sec: 1, nsec: 2_000 } },
    ]);
    expect(toHex(bytes)).toBe(
      'a1b2c3d4' +
        '0002' +
        '0004' +
        '00000000' +
        '00000000' +
        '00040000' +
        '00000065' +
        '00000001' +
        '00000002' +
        '00000002' +
        '00000002' +
        '4500',
    );
  });

  it('reads a little-endian nanosecond file written by hand', () => {
    const le = fromHex(
      '4d3cb2a1' +
        '0200' +
        '0400' +
        '00000000' +
        '00000000' +
        'ffff0000' +
        '01000000' +
        '0a000000' +
        '15cd5b07' +
        '03000000' +
        '05000000' +
        'aabbcc',
    );
    const f = must(readPcap(le));
    expect(f.header).toMatchObject({
      linkType: LINKTYPE_ETHERNET,
      nanosecond: true,
      bigEndian: false,
      snaplen: 65535,
    });
    expect(f.records).toHaveLength(1);
    expect(f.records[0]).toMatchObject({ ts: { sec: 10, nsec: 123_456_789 }, originalLength: 5 });
    expect(toHex(f.records[0]!.data)).toBe('aabbcc');
  });

  it('truncates to the snap length, keeping the original length', () => {
    const parts: Uint8Array[] = [];
    const w = new PcapWriter({ linkType: LINKTYPE_RAW, snaplen: 4, sink: (b) => parts.push(b) });
    w.write(new Uint8Array(10), { sec: 0, nsec: 0 });
    expect(w.packets).toBe(1);
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    const rec = must(readPcap(all)).records[0]!;
    expect([rec.data.length, rec.originalLength]).toEqual([4, 10]);
  });

  it('refuses bad magic, truncation and oversize records with typed errors', () => {
    const good = pcapToBytes(LINKTYPE_RAW, [{ data: new Uint8Array(8), ts: { sec: 0, nsec: 0 } }]);
    const badMagic = good.slice();
    badMagic[0] = 0;
    expect(readPcap(badMagic)).toMatchObject({ ok: false, error: { kind: 'badMagic' } });
    expect(readPcap(good.subarray(0, 20))).toMatchObject({
      ok: false,
      error: { kind: 'truncated' },
    });
    expect(readPcap(good.subarray(0, 30))).toMatchObject({
      ok: false,
      error: { kind: 'truncated' },
    });
    expect(readPcap(good.subarray(0, good.length - 1))).toMatchObject({
      ok: false,
      error: { kind: 'truncated' },
    });
    const huge = good.slice();
    huge[24 + 8] = 0x7f; // incl_len ~ 2 GiB
    expect(readPcap(huge)).toMatchObject({ ok: false, error: { kind: 'oversize' } });
  });

  it('pcapTimestampFromMs splits milliseconds', () => {
    expect(pcapTimestampFromMs(1_700_000_000_123.5)).toEqual({
      sec: 1_700_000_000,
      nsec: 123_500_000,
    });
  });

  it('law: read(write(records)) == records, in both resolutions', () => {
    const rec = fc.record({
      data: fc.uint8Array({ maxLength: 100 }),
      ts: fc.record({
        sec: fc.integer({ min: 0, max: 0xffff_ffff }),
        nsec: fc.integer({ min: 0, max: 999_999_999 }),
      }),
    });
    fc.assert(
      fc.property(fc.array(rec, { maxLength: 8 }), fc.boolean(), (records, ns) => {
        const f = must(readPcap(pcapToBytes(LINKTYPE_ETHERNET, records, ns)));
        expect(f.header.nanosecond).toBe(ns);
        expect(
          f.records.map((r) => ({ data: toHex(r.data), ts: r.ts, len: r.originalLength })),
        ).toEqual(
          records.map((r) => ({
            data: toHex(r.data),
            ts: { sec: r.ts.sec, nsec: ns ? r.ts.nsec : Math.floor(r.ts.nsec / 1000) * 1000 },
            len: r.data.length,
          })),
        );
      }),
      fcParams(1000),
    );
  });
});
