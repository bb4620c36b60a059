import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  emitVnetHdr,
  fromHex,
  NO_OFFLOAD,
  parseVnetHdr,
  shiftVnetHdr,
  VNET_F_DATA_VALID,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_TCPV4,
  VNET_HDR_LEN,
  type VnetHdr,
  vnetChecksumTrusted,
  vnetIsGso,
  vnetNeedsCsum,
} from '../../src/wire/index.ts';
import { fcParams } from './arbitraries.ts';

const u16 = fc.integer({ min: 0, max: 0xffff });
const hdrArb: fc.Arbitrary<VnetHdr> = fc.record({
  flags: fc.integer({ min: 0, max: 0xff }),
  gsoType: fc.integer({ min: 0, max: 0xff }),
  hdrLen: u16,
  gsoSize: u16,
  csumStart: u16,
  csumOffset: u16,
});

describe('virtio_net_hdr', () => {
  it('reads the layout a TUN hands over for a TSO burst (little-endian fields)', () => {
    // NEEDS_CSUM, TCPV4, hdr_len 52, gso_size 1448, csum_start 20, csum_offset 16: what the
    // server kernel writes before a 64 KB segment with timestamps (20 + 32 bytes of headers).
    const r = parseVnetHdr(fromHex('01 01 3400 a805 1400 1000'));
    expect(r).toEqual({
      ok: true,
      value: {
        flags: VNET_F_NEEDS_CSUM,
        gsoType: VNET_GSO_TCPV4,
        hdrLen: 52,
        gsoSize: 1448,
        csumStart: 20,
        csumOffset: 16,
      },
    });
    if (!r.ok) return;
    expect(vnetNeedsCsum(r.value)).toBe(true);
    expect(vnetIsGso(r.value)).toBe(true);
    expect(vnetChecksumTrusted(r.value)).toBe(true);
  });

  it('an all-zero header is the shared NO_OFFLOAD (no allocation on the common path)', () => {
    const r = parseVnetHdr(new Uint8Array(VNET_HDR_LEN));
    expect(r.ok && r.value).toBe(NO_OFFLOAD);
    expect(vnetIsGso(NO_OFFLOAD) || vnetNeedsCsum(NO_OFFLOAD)).toBe(false);
    expect(vnetChecksumTrusted(NO_OFFLOAD)).toBe(false);
  });

  it('DATA_VALID alone is trusted but neither partial nor GSO; ECN alone is not GSO', () => {
    const dv = { ...NO_OFFLOAD, flags: VNET_F_DATA_VALID };
    expect(vnetChecksumTrusted(dv)).toBe(true);
    expect(vnetNeedsCsum(dv)).toBe(false);
    expect(vnetIsGso({ ...NO_OFFLOAD, gsoType: VNET_GSO_ECN })).toBe(false);
    expect(vnetIsGso({ ...NO_OFFLOAD, gsoType: VNET_GSO_TCPV4 | VNET_GSO_ECN })).toBe(true);
  });

  it('short buffers are refused, not thrown on', () => {
    for (let n = 0; n < VNET_HDR_LEN; n++) {
      const r = parseVnetHdr(new Uint8Array(n));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.kind).toBe('truncated');
    }
    expect(() => emitVnetHdr(NO_OFFLOAD, new Uint8Array(9))).toThrow(RangeError);
  });

  it('emit then parse is the identity; arbitrary bytes always parse', () => {
    fc.assert(
      fc.property(hdrArb, (h) => {
        const b = new Uint8Array(VNET_HDR_LEN);
        emitVnetHdr(h, b);
        const r = parseVnetHdr(b);
        expect(r.ok).toBe(true);
        if (r.ok) expect({ ...r.value }).toEqual(h);
      }),
      fcParams(2000),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (b) => {
        const r = parseVnetHdr(b);
        expect(r.ok).toBe(b.length >= VNET_HDR_LEN);
      }),
      fcParams(2000),
    );
  });

  it('moving between TUN (IP first) and Ethernet shifts only offsets that mean something', () => {
    const tso: VnetHdr = {
      flags: VNET_F_NEEDS_CSUM,
      gsoType: VNET_GSO_TCPV4,
      hdrLen: 52,
      gsoSize: 1448,
      csumStart: 20,
      csumOffset: 16,
    };
    expect(shiftVnetHdr(tso, 14)).toEqual({ ...tso, hdrLen: 66, csumStart: 34 });
    expect(shiftVnetHdr(shiftVnetHdr(tso, 14), -14)).toEqual(tso);
    expect(shiftVnetHdr(NO_OFFLOAD, 14)).toBe(NO_OFFLOAD);
    const dv = { ...NO_OFFLOAD, flags: VNET_F_DATA_VALID, csumStart: 3 };
    expect(shiftVnetHdr(dv, 14)).toBe(dv);
    fc.assert(
      fc.property(hdrArb, fc.integer({ min: 0, max: 64 }), (h, d) => {
        const s = shiftVnetHdr(h, d);
        expect(s.gsoSize).toBe(h.gsoSize);
        expect(s.csumOffset).toBe(h.csumOffset);
        expect(s.flags).toBe(h.flags);
        if (vnetNeedsCsum(h)) expect(s.csumStart).toBe(h.csumStart + d);
      }),
      fcParams(1000),
    );
  });
});
