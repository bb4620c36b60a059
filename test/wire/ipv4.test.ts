import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  emitIpv4,
  fromHex,
  Ipv4Packet,
  type Ipv4Repr,
  ipv4BufferLen,
  ipv4FromString,
  ipv4ReprToString,
  ipv4ToString,
  parseIpv4,
  parseIpv4Address,
  toHex,
} from '../../src/wire/index.ts';
import { fcParams, ipv4ReprArb, u32 } from './arbitraries.ts';

// SYN 198.18.0.1 -> 198.18.0.2, id 0x1234, DF, ttl 64. Checksums computed by an independent
// Python implementation and confirmed "correct" by tshark with ip.check_checksum:TRUE.
const SYN_PACKET = fromHex(
  '4500003c1234400040069c60c6120001c61200029c4000070102030400000000a002faf0dc330000' +
    '020405b40402080a112233440000000001030307',
);

/** Sets one byte and returns the buffer, for one-line malformed variants. */
const patch = (b: Uint8Array, at: number, v: number): Uint8Array => {
  b[at] = v;
  return b;
};

const unwrap = <T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T => {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.error)}`);
  return r.value;
};

describe('IPv4 addresses', () => {
  it('round-trips text and numbers', () => {
    expect(ipv4FromString('198.18.0.1')).toBe(0xc6120001);
    expect(ipv4ToString(0xc6130002)).toBe('198.19.0.2');
    expect(ipv4FromString('255.255.255.255')).toBe(0xffff_ffff);
    fc.assert(
      fc.property(u32, (a) => {
        expect(ipv4FromString(ipv4ToString(a))).toBe(a);
      }),
      fcParams(2000),
    );
  });
  it('refuses bad text with a typed error', () => {
    for (const s of ['1.2.3', '1.2.3.256', '01.2.3.4', 'a.b.c.d', '1.2.3.4 ', '']) {
      const r = parseIpv4Address(s);
      expect(r.ok, s).toBe(false);
      if (!r.ok) expect(r.error.kind).toBe('badAddress');
    }
    expect(() => ipv4FromString('nope')).toThrow(RangeError);
  });
});

describe('Ipv4Packet / Ipv4Repr', () => {
  it('deconstructs a known packet', () => {
    const p = unwrap(Ipv4Packet.checked(SYN_PACKET));
    expect(p.version).toBe(4);
    expect(p.headerLength).toBe(20);
    expect(p.totalLength).toBe(60);
    expect(p.ident).toBe(0x1234);
    expect(p.dontFragment).toBe(true);
    expect(p.moreFragments).toBe(false);
    expect(p.fragmentOffset).toBe(0);
    expect(p.ttl).toBe(64);
    expect(p.protocol).toBe(6);
    expect(p.checksum).toBe(0x9c60);
    expect(ipv4ToString(p.src)).toBe('198.18.0.1');
    expect(ipv4ToString(p.dst)).toBe('198.18.0.2');
    expect(p.verifyChecksum()).toBe(true);
    expect(p.payload.length).toBe(40);
    const r = unwrap(parseIpv4(p));
    expect(r).toMatchObject({
      protocol: 6,
      ttl: 64,
      ident: 0x1234,
      dontFragment: true,
      payloadLength: 40,
    });
    expect(ipv4ReprToString(r)).toBe(
      'IP 198.18.0.1 > 198.18.0.2: proto 6 ttl 64 id 4660 DF len 60',
    );
  });

  it('constructs the same bytes', () => {
    const repr: Ipv4Repr = {
      src: ipv4FromString('198.18.0.1'),
      dst: ipv4FromString('198.18.0.2'),
      protocol: 6,
      ttl: 64,
      ident: 0x1234,
      dscp: 0,
      ecn: 0,
      dontFragment: true,
      options: new Uint8Array(0),
      payloadLength: 40,
    };
    const buf = new Uint8Array(ipv4BufferLen(repr));
    const p = emitIpv4(repr, buf);
    p.payload.set(SYN_PACKET.subarray(20));
    expect(toHex(buf)).toBe(toHex(SYN_PACKET));
  });

  it('excludes trailing link padding from the payload', () => {
    const padded = new Uint8Array(SYN_PACKET.length + 6);
    padded.set(SYN_PACKET);
    const p = unwrap(Ipv4Packet.checked(padded));
    expect(p.payload.length).toBe(40);
    expect(p.datagram.length).toBe(60);
  });

  const malformed: [string, (b: Uint8Array) => Uint8Array, string][] = [
    ['truncated header', (b) => b.subarray(0, 19), 'truncated'],
    ['truncated datagram', (b) => b.subarray(0, 59), 'truncated'],
    ['version 6', (b) => patch(b, 0, 0x65), 'badVersion'],
    ['IHL 4', (b) => patch(b, 0, 0x44), 'badHeaderLength'],
    ['IHL past end', (b) => patch(b, 0, 0x4f).subarray(0, 40), 'truncated'],
    ['total < header', (b) => patch(patch(b, 2, 0), 3, 19), 'badLength'],
  ];
  for (const [name, mutate, kind] of malformed) {
    it(`refuses ${name} (${kind})`, () => {
      const r = Ipv4Packet.checked(mutate(SYN_PACKET.slice()));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.kind).toBe(kind);
    });
  }

  it('reports a bad checksum unless verification is switched off', () => {
    const b = SYN_PACKET.slice();
    b[8] = 63; // ttl changed, checksum not
    const p = unwrap(Ipv4Packet.checked(b));
    const r = parseIpv4(p);
    expect(!r.ok && r.error.kind).toBe('badChecksum');
    expect(parseIpv4(p, { verifyChecksum: false }).ok).toBe(true);
  });

  it('reports fragments (MF set, or non-zero offset) as a typed error', () => {
    for (const [hi, lo] of [
      [0x20, 0x00], // MF, offset 0: first fragment
      [0x00, 0x10], // offset 128: last fragment
    ] as const) {
      const b = SYN_PACKET.slice();
      b[6] = hi;
      b[7] = lo;
      const p = new Ipv4Packet(b);
      p.fillChecksum();
      const r = parseIpv4(p);
      expect(!r.ok && r.error.kind).toBe('fragment');
    }
  });

  it('setters write the fields they name', () => {
    const p = new Ipv4Packet(SYN_PACKET.slice());
    p.fragmentOffset = 1480;
    p.moreFragments = true;
    p.dontFragment = false;
    p.ttl = 1;
    p.dscp = 46;
    p.ecn = 3;
    expect([p.fragmentOffset, p.moreFragments, p.dontFragment, p.ttl, p.dscp, p.ecn]).toEqual([
      1480,
      true,
      false,
      1,
      46,
      3,
    ]);
    expect(p.isFragment).toBe(true);
  });

  it('law: parse(emit(r)) == r and the header checksum verifies', () => {
    fc.assert(
      fc.property(ipv4ReprArb, (r) => {
        const buf = new Uint8Array(ipv4BufferLen(r));
        const p = emitIpv4(r, buf);
        expect(p.verifyChecksum()).toBe(true);
        const back = unwrap(parseIpv4(unwrap(Ipv4Packet.checked(buf))));
        expect(back).toEqual(r);
      }),
      fcParams(3000),
    );
  });
});
