// The pass-through core (the SSW's I/O floor in the benchmark), without any I/O: ARP answers
// only when active, client MACs learned, Ethernet framing both ways, frame padding trimmed.
import { describe, expect, it } from 'vitest';
import type { SswOut } from '../../src/runtime/ssw/dataThread.protocol.ts';
import { PassThroughCore } from '../../src/runtime/ssw/passthrough.ts';

const MAC = new Uint8Array([2, 0xf7, 0, 0, 1, 0x64]);
const CLIENT_MAC = new Uint8Array([2, 0xf7, 0, 0, 0, 0x10]);
const SERVICE = 0xc6120064; // 198.18.0.100
const CLIENT = 0xc612000a; // 198.18.0.10

const recorder = (): { out: SswOut; lan: Uint8Array[]; tun: Uint8Array[] } => {
  const lan: Uint8Array[] = [];
  const tun: Uint8Array[] = [];
  return { out: { lan: (f) => lan.push(f.slice()), tun: (p) => tun.push(p.slice()) }, lan, tun };
};

const arpRequest = (targetIp: number): Uint8Array => {
  const f = new Uint8Array(60); // padded to the Ethernet minimum
  const v = new DataView(f.buffer);
  f.fill(0xff, 0, 6);
  f.set(CLIENT_MAC, 6);
  v.setUint16(12, 0x0806);
  v.setUint16(14, 1);
  v.setUint16(16, 0x0800);
  f[18] = 6;
  f[19] = 4;
  v.setUint16(20, 1);
  f.set(CLIENT_MAC, 22);
  v.setUint32(28, CLIENT);
  v.setUint32(38, targetIp);
  return f;
};

const ipv4Frame = (payloadLen: number, pad: number): Uint8Array => {
  const f = new Uint8Array(14 + 20 + payloadLen + pad);
  const v = new DataView(f.buffer);
  f.set(MAC, 0);
  f.set(CLIENT_MAC, 6);
  v.setUint16(12, 0x0800);
  f[14] = 0x45;
  v.setUint16(16, 20 + payloadLen);
  f[23] = 6;
  v.setUint32(26, CLIENT);
  v.setUint32(30, SERVICE);
  return f;
};

describe('PassThroughCore', () => {
  it('answers ARP for the service address only when active', () => {
    const standby = new PassThroughCore(MAC, SERVICE, false);
    const r1 = recorder();
    standby.onLanFrame(arpRequest(SERVICE), r1.out);
    expect(r1.lan).toHaveLength(0);
    const active = new PassThroughCore(MAC, SERVICE, true);
    const r2 = recorder();
    active.onLanFrame(arpRequest(SERVICE), r2.out);
    active.onLanFrame(arpRequest(SERVICE + 1), r2.out);
    expect(r2.lan).toHaveLength(1);
    const reply = r2.lan[0] ?? new Uint8Array();
    const v = new DataView(reply.buffer);
    expect([...reply.subarray(0, 6)]).toEqual([...CLIENT_MAC]);
    expect(v.getUint16(20)).toBe(2);
    expect([...reply.subarray(22, 28)]).toEqual([...MAC]);
    expect(v.getUint32(28)).toBe(SERVICE);
  });

  it('strips Ethernet (and padding) inbound, frames to the learned MAC outbound', () => {
    const core = new PassThroughCore(MAC, SERVICE, true);
    const r = recorder();
    core.onLanFrame(ipv4Frame(4, 6), r.out);
    expect(r.tun).toHaveLength(1);
    expect(r.tun[0]?.byteLength).toBe(24);
    const reply = new Uint8Array(24);
    reply[0] = 0x45;
    new DataView(reply.buffer).setUint32(16, CLIENT);
    core.onTunPacket(reply, r.out);
    expect(r.lan).toHaveLength(1);
    expect([...(r.lan[0] ?? new Uint8Array()).subarray(0, 12)]).toEqual([...CLIENT_MAC, ...MAC]);
  });

  it('asks by ARP for an unknown destination and drops the packet', () => {
    const core = new PassThroughCore(MAC, SERVICE, true);
    const r = recorder();
    const p = new Uint8Array(20);
    p[0] = 0x45;
    new DataView(p.buffer).setUint32(16, CLIENT);
    core.onTunPacket(p, r.out);
    expect(r.lan).toHaveLength(1);
    expect(new DataView((r.lan[0] ?? new Uint8Array(42)).buffer).getUint16(20)).toBe(1);
    expect(core.stats.unknownNeighbor).toBe(1);
  });

  it('takeover sends gratuitous ARPs and makes a standby active', () => {
    const core = new PassThroughCore(MAC, SERVICE, false);
    const r = recorder();
    core.takeover(r.out);
    expect(core.active).toBe(true);
    expect(r.lan).toHaveLength(3);
    const v = new DataView((r.lan[0] ?? new Uint8Array(42)).buffer);
    expect(v.getUint32(28)).toBe(SERVICE);
    expect(v.getUint32(38)).toBe(SERVICE);
  });
});
