// R6.10 the standby's store (src/machines/ssw/standby.ts): per client connection it keeps only
// the latest segment with data, SYN or FIN, to the service address; bounded in count and age.
// (Ported from the runtime's former StandbySnoop; the engine-level test is in engine.test.ts.)
import { describe, expect, it } from 'vitest';
import { keptKeyOf, StandbyKeep } from '../../../src/machines/ssw/standby.ts';
import { NO_OFFLOAD, VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4 } from '../../../src/wire/vnet.ts';

const SERVICE = 0xc6120064; // 198.18.0.100
const LIMITS = { maxKept: 1024, maxAgeMs: 2000 };
const frame = (o: {
  src?: number;
  dst?: number;
  port?: number;
  sport?: number;
  seq?: number;
  flags?: number;
  payload?: number;
  proto?: number;
  ethertype?: number;
}): Uint8Array => {
  const len = 20 + 20 + (o.payload ?? 0);
  const f = new Uint8Array(14 + len);
  const v = new DataView(f.buffer);
  v.setUint16(12, o.ethertype ?? 0x0800);
  f[14] = 0x45;
  v.setUint16(16, len);
  f[23] = o.proto ?? 6;
  v.setUint32(26, o.src ?? 0xc612000a);
  v.setUint32(30, o.dst ?? SERVICE);
  v.setUint16(34, o.port ?? 40000);
  v.setUint16(36, o.sport ?? 7);
  v.setUint32(38, o.seq ?? 1);
  f[46] = 5 << 4;
  f[47] = o.flags ?? 0x18;
  return f;
};
const seqOf = (f: Uint8Array): number => new DataView(f.buffer, f.byteOffset).getUint32(38);

describe('R6.10 StandbyKeep', () => {
  it('keeps the latest data segment per connection; a pure ACK does not displace it', () => {
    const s = new StandbyKeep(LIMITS);
    expect(s.offer(frame({ seq: 100, payload: 1000 }), NO_OFFLOAD, 0, SERVICE)).toBe(true);
    s.offer(frame({ seq: 50, payload: 1000 }), NO_OFFLOAD, 200, SERVICE); // RTO retransmission
    expect(s.offer(frame({ seq: 2000, flags: 0x10 }), NO_OFFLOAD, 300, SERVICE)).toBe(false);
    s.offer(frame({ port: 40001, seq: 7, flags: 0x02 }), NO_OFFLOAD, 250, SERVICE); // a SYN
    expect(s.size).toBe(2);
    const { segments, kept } = s.take(400);
    expect(kept).toBe(2);
    expect(segments.map((k) => seqOf(k.frame))).toEqual([50, 7]);
    expect(s.take(400).kept).toBe(0);
    expect(s.size).toBe(0);
  });

  it('one entry per 4-tuple: the same client port to another server port is another connection', () => {
    const s = new StandbyKeep(LIMITS);
    s.offer(frame({ sport: 7, seq: 1, payload: 1 }), NO_OFFLOAD, 0, SERVICE);
    s.offer(frame({ sport: 8, seq: 2, payload: 1 }), NO_OFFLOAD, 1, SERVICE);
    expect(s.take(1).segments.map((k) => seqOf(k.frame))).toEqual([1, 2]);
  });

  it('ignores what is not TCP to the service address, and copies what it keeps', () => {
    const s = new StandbyKeep(LIMITS);
    s.offer(frame({ dst: 0xc6120065, payload: 10 }), NO_OFFLOAD, 0, SERVICE);
    s.offer(frame({ proto: 17, payload: 10 }), NO_OFFLOAD, 0, SERVICE);
    s.offer(frame({ ethertype: 0x0806, payload: 10 }), NO_OFFLOAD, 0, SERVICE);
    s.offer(new Uint8Array(20), NO_OFFLOAD, 0, SERVICE);
    const f = frame({ seq: 9, payload: 10 });
    s.offer(f, NO_OFFLOAD, 0, SERVICE);
    f.fill(0);
    expect(s.take(0).segments.map((k) => seqOf(k.frame))).toEqual([9]);
  });

  it('keptKeyOf names the connection and tells a SYN from a SYN-ACK', () => {
    expect(keptKeyOf(frame({ flags: 0x02 }), SERVICE)).toEqual({
      clientAddr: 0xc612000a,
      clientPort: 40000,
      serverPort: 7,
      syn: true,
    });
    expect(keptKeyOf(frame({ flags: 0x12 }), SERVICE)?.syn).toBe(false);
    expect(keptKeyOf(frame({ flags: 0x11 }), SERVICE)?.syn).toBe(false); // FIN
    expect(keptKeyOf(frame({ flags: 0x10 }), SERVICE)).toBeUndefined(); // pure ACK
  });

  it('is bounded: connections beyond the limit are not kept, old segments not delivered', () => {
    const s = new StandbyKeep(LIMITS);
    for (let i = 0; i < LIMITS.maxKept + 10; i++)
      s.offer(
        frame({ src: 0xc6120000 + (i >> 8), port: 1024 + (i & 0xff), payload: 1 }),
        NO_OFFLOAD,
        i,
        SERVICE,
      );
    // A known connection still updates at the bound.
    expect(
      s.offer(frame({ src: 0xc6120000, port: 1024, payload: 1 }), NO_OFFLOAD, 0, SERVICE),
    ).toBe(true);
    const { segments, kept } = s.take(LIMITS.maxAgeMs + 100);
    expect(kept).toBe(LIMITS.maxKept);
    expect(segments.length).toBe(LIMITS.maxKept - 100);
  });

  it('keeps a segment with its offload header: a GSO burst is delivered as it came', () => {
    const s = new StandbyKeep(LIMITS);
    const gso = {
      flags: VNET_F_NEEDS_CSUM,
      gsoType: VNET_GSO_TCPV4,
      hdrLen: 54,
      gsoSize: 1448,
      csumStart: 34,
      csumOffset: 16,
    };
    s.offer(frame({ seq: 1, payload: 30_000 }), gso, 0, SERVICE);
    s.offer(frame({ port: 40001, seq: 2, payload: 10 }), NO_OFFLOAD, 1, SERVICE);
    expect(s.take(1).segments.map((k) => k.vnet)).toEqual([gso, NO_OFFLOAD]);
  });
});
