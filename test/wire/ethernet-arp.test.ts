import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ArpPacket,
  type ArpRepr,
  arpGratuitous,
  arpReply,
  arpRequest,
  arpToString,
  buildArpFrame,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  EthernetFrame,
  emitArp,
  emitEthernet,
  ethernetReprToString,
  fromHex,
  ipv4FromString,
  macFromString,
  macToString,
  parseArp,
  parseArpBytes,
  parseEthernet,
  parseMacAddress,
  toHex,
} from '../../src/wire/index.ts';
import { fcParams, ipv4Addr, mac } from './arbitraries.ts';

// Gratuitous ARP for 198.18.0.1 at 02:00:00:00:00:01, laid out by hand from RFC 826 / 5227.
const GARP_FRAME = fromHex(
  'ffffffffffff' +
    '020000000001' +
    '0806' + // Ethernet: broadcast, src, ARP
    '0001' +
    '0800' +
    '06' +
    '04' +
    '0001' + // htype 1, ptype IPv4, hlen 6, plen 4, request
    '020000000001' +
    'c6120001' +
    '000000000000' +
    'c6120001' + // sender = target IP
    '00'.repeat(18), // padding to 60 bytes
);

const must = <T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T => {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.error)}`);
  return r.value;
};

describe('MAC addresses', () => {
  it('round-trip text', () => {
    expect(macToString(macFromString('02:00:0A:ff:00:01'))).toBe('02:00:0a:ff:00:01');
    expect(macToString(macFromString('02-00-0a-ff-00-01'))).toBe('02:00:0a:ff:00:01');
    for (const s of ['02:00:0a:ff:00', '02:00:0a:ff:00:0g', '02:00-0a:ff:00:01', '']) {
      expect(parseMacAddress(s).ok, s).toBe(false);
    }
  });
});

describe('Ethernet', () => {
  it('deconstructs and constructs a header', () => {
    const f = must(EthernetFrame.checked(GARP_FRAME));
    const r = must(parseEthernet(f));
    expect(macToString(r.dst)).toBe('ff:ff:ff:ff:ff:ff');
    expect(macToString(r.src)).toBe('02:00:00:00:00:01');
    expect(r.ethertype).toBe(ETHERTYPE_ARP);
    expect(f.payload.length).toBe(46);
    expect(ethernetReprToString(r)).toBe('02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype 0x0806');
    const buf = new Uint8Array(14);
    emitEthernet(r, buf);
    expect(toHex(buf)).toBe(toHex(GARP_FRAME.subarray(0, 14)));
  });

  it('refuses a truncated header', () => {
    const r = EthernetFrame.checked(GARP_FRAME.subarray(0, 13));
    expect(!r.ok && r.error.kind).toBe('truncated');
  });

  it('law: parse(emit(r)) == r', () => {
    fc.assert(
      fc.property(mac, mac, fc.integer({ min: 0, max: 0xffff }), (dst, src, ethertype) => {
        const buf = new Uint8Array(14);
        emitEthernet({ dst, src, ethertype }, buf);
        expect(must(parseEthernet(must(EthernetFrame.checked(buf))))).toEqual({
          dst,
          src,
          ethertype,
        });
      }),
      fcParams(2000),
    );
  });
});

describe('ARP', () => {
  const m1 = macFromString('02:00:00:00:00:01');
  const m2 = macFromString('02:00:00:00:00:02');
  const a1 = ipv4FromString('198.18.0.1');
  const a2 = ipv4FromString('198.18.0.2');

  it('builds the gratuitous ARP frame byte for byte', () => {
    expect(toHex(buildArpFrame(arpGratuitous(m1, a1)))).toBe(toHex(GARP_FRAME));
  });

  it('parses request and reply, with tcpdump-like text', () => {
    const req = must(parseArpBytes(buildArpFrame(arpRequest(m1, a1, a2)).subarray(14)));
    expect(arpToString(req)).toBe('ARP, Request who-has 198.18.0.2 tell 198.18.0.1');
    const repFrame = buildArpFrame(arpReply(m2, a2, m1, a1));
    expect(macToString(repFrame.subarray(0, 6))).toBe('02:00:00:00:00:01'); // unicast to asker
    const rep = must(parseArpBytes(repFrame.subarray(14)));
    expect(arpToString(rep)).toBe('ARP, Reply 198.18.0.2 is-at 02:00:00:00:00:02');
  });

  it('refuses truncated, non-IPv4/Ethernet and unknown operations with typed errors', () => {
    const body = GARP_FRAME.slice(14, 42);
    expect(parseArpBytes(body.subarray(0, 27))).toMatchObject({
      ok: false,
      error: { kind: 'truncated' },
    });
    const ipv6 = body.slice();
    ipv6[2] = 0x86;
    ipv6[3] = 0xdd;
    expect(parseArpBytes(ipv6)).toMatchObject({ ok: false, error: { kind: 'unsupported' } });
    const hlen = body.slice();
    hlen[4] = 8;
    expect(parseArpBytes(hlen)).toMatchObject({ ok: false, error: { kind: 'badLength' } });
    const op = body.slice();
    op[7] = 3; // RARP request
    expect(parseArpBytes(op)).toMatchObject({ ok: false, error: { kind: 'unsupported' } });
  });

  it('law: parse(emit(r)) == r', () => {
    const arb: fc.Arbitrary<ArpRepr> = fc.record({
      operation: fc.constantFrom('request' as const, 'reply' as const),
      senderMac: mac,
      senderIp: ipv4Addr,
      targetMac: mac,
      targetIp: ipv4Addr,
    });
    fc.assert(
      fc.property(arb, (r) => {
        const buf = new Uint8Array(28);
        emitArp(r, buf);
        expect(must(parseArp(must(ArpPacket.checked(buf))))).toEqual(r);
      }),
      fcParams(2000),
    );
  });

  it('ETHERTYPE constants', () => {
    expect([ETHERTYPE_IPV4, ETHERTYPE_ARP]).toEqual([0x0800, 0x0806]);
  });
});
