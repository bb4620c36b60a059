// The standby's snoop store (src/runtime/ssw/snoop.ts): per client connection it keeps only
// the latest segment with data, SYN or FIN, to the service address; bounded in count and age.
import { describe, expect, it } from 'vitest';
import { SNOOP_MAX_AGE_MS, SNOOP_MAX_CLIENTS, StandbySnoop } from '../../src/runtime/ssw/snoop.ts';
import { NO_OFFLOAD, VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4 } from '../../src/wire/vnet.ts';

const SERVICE = 0xc6120064; // 198.18.0.100
const frame = (o: {
  src?: number;
  dst?: number;
  port?: number;
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
  v.setUint16(36, 7);
  v.setUint32(38, o.seq ?? 1);
  f[46] = 5 << 4;
  f[47] = o.flags ?? 0x18;
  return f;
};
const seqOf = (f: Uint8Array): number => new DataView(f.buffer, f.byteOffset).getUint32(38);

describe('StandbySnoop', () => {
  it('keeps the latest data segment per connection; a pure ACK does not displace it', () => {
    const s = new StandbySnoop(SERVICE);
    s.offer(frame({ seq: 100, payload: 1000 }), 0);
    s.offer(frame({ seq: 50, payload: 1000 }), 200); // the RTO retransmission of the head
    s.offer(frame({ seq: 2000, flags: 0x10 }), 300); // pure ACK
    s.offer(frame({ port: 40001, seq: 7, flags: 0x02 }), 250); // a SYN of another connection
    const { frames, kept } = s.take(400);
    expect(kept).toBe(2);
    expect(frames.map((f) => seqOf(f.frame))).toEqual([50, 7]);
    expect(s.take(400).kept).toBe(0);
  });

  it('ignores what is not TCP to the service address, and copies what it keeps', () => {
    const s = new StandbySnoop(SERVICE);
    s.offer(frame({ dst: 0xc6120065, payload: 10 }), 0);
    s.offer(frame({ proto: 17, payload: 10 }), 0);
    s.offer(frame({ ethertype: 0x0806, payload: 10 }), 0);
    s.offer(new Uint8Array(20), 0);
    const f = frame({ seq: 9, payload: 10 });
    s.offer(f, 0);
    f.fill(0);
    const { frames } = s.take(0);
    expect(frames.map((f) => seqOf(f.frame))).toEqual([9]);
  });

  it('is bounded: connections beyond the limit are not kept, old segments not delivered', () => {
    const s = new StandbySnoop(SERVICE);
    for (let i = 0; i < SNOOP_MAX_CLIENTS + 10; i++)
      s.offer(frame({ src: 0xc6120000 + (i >> 8), port: 1024 + (i & 0xff), payload: 1 }), i);
    const { frames, kept } = s.take(SNOOP_MAX_AGE_MS + 100);
    expect(kept).toBe(SNOOP_MAX_CLIENTS);
    expect(frames.length).toBe(SNOOP_MAX_CLIENTS - 100);
  });

  it('keeps a segment with its offload header: a GSO burst is delivered as it came', () => {
    const s = new StandbySnoop(SERVICE);
    const gso = {
      flags: VNET_F_NEEDS_CSUM,
      gsoType: VNET_GSO_TCPV4,
      hdrLen: 54,
      gsoSize: 1448,
      csumStart: 34,
      csumOffset: 16,
    };
    s.offer(frame({ seq: 1, payload: 30_000 }), 0, gso);
    s.offer(frame({ port: 40001, seq: 2, payload: 10 }), 1);
    const { frames } = s.take(1);
    expect(frames.map((f) => f.vnet)).toEqual([gso, NO_OFFLOAD]);
  });
});
