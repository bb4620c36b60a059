// The engine with offloaded packets (wire/vnet.ts): a GSO burst with a partial checksum is
// logged and forwarded as one packet, its header moved by the Ethernet header, and in-place
// rewrites leave the partial field alone; segments the engine may keep stand alone.
import { describe, expect, it } from 'vitest';
import { type SswEffect, SswEngine } from '../../../src/machines/ssw/index.ts';
import { pseudoHeaderSum } from '../../../src/wire/checksum.ts';
import { ETHERNET_HEADER_LEN } from '../../../src/wire/ethernet.ts';
import { IP_PROTO_TCP, Ipv4Packet } from '../../../src/wire/ipv4.ts';
import { TCP_ACK, TCP_PSH, TCP_SYN, type TcpOption, TcpPacket } from '../../../src/wire/tcp.ts';
import {
  NO_OFFLOAD,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TCPV4,
  type VnetHdr,
} from '../../../src/wire/vnet.ts';
import {
  CLIENT,
  CPORT,
  clientFrame,
  kernelPacket,
  lanSegs,
  loggerMsgs,
  SERVICE,
  SERVICE_MAC,
  SPORT,
} from './packets.ts';

const C_ISN = 1000;
const S_ISN = 5000;
const OPTS: TcpOption[] = [{ kind: 'mss', mss: 1460 }];
const copy = (fx: readonly SswEffect[]): SswEffect[] => [...fx];

/** Turns a built packet's checksum into what an offloading sender leaves: the pseudo sum. */
const makePartial = (ipPacket: Uint8Array): TcpPacket => {
  const ip = Ipv4Packet.checked(ipPacket);
  if (!ip.ok) throw new Error('bad ip');
  const tcp = new TcpPacket(ip.value.payload);
  tcp.fillPartialChecksum(ip.value.src, ip.value.dst);
  return tcp;
};
const tso = (start: number): VnetHdr => ({
  flags: VNET_F_NEEDS_CSUM,
  gsoType: VNET_GSO_TCPV4,
  hdrLen: start + 20,
  gsoSize: 1448,
  csumStart: start,
  csumOffset: 16,
});

function established() {
  const e = new SswEngine({
    serviceAddr: SERVICE,
    serviceMac: SERVICE_MAC,
    mode: 'ftTcp',
    role: 'active',
  });
  e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }, 0);
  e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN, options: OPTS }), 1);
  const fx = copy(
    e.onTunPacket(
      kernelPacket({ seq: S_ISN, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK, options: OPTS }),
      2,
    ),
  );
  const logSyn = loggerMsgs(fx)[0];
  if (logSyn?.kind !== 'LogSyn') throw new Error('no LogSyn');
  e.onLoggerMessage({ kind: 'SynStored', conn: logSyn.conn }, 3);
  e.onLanFrame(clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK }), 4);
  return { e, conn: logSyn.conn };
}

describe('SSW engine with offloaded packets', () => {
  it('a client GSO burst with a partial checksum is logged whole and reaches the TUN as it came', () => {
    const { e } = established();
    const payload = new Uint8Array(20_000).map((_, i) => i & 0xff);
    const frame = clientFrame({
      seq: C_ISN + 1,
      ack: S_ISN + 1,
      flags: TCP_ACK | TCP_PSH,
      payload,
    });
    const tcp = makePartial(frame.subarray(ETHERNET_HEADER_LEN));
    const partial = tcp.checksum;
    const fx = copy(e.onLanFrame(frame, 5, tso(ETHERNET_HEADER_LEN + 20)));
    expect(e.stats.dropBadChecksum).toBe(0);
    expect(e.stats.lanPartialChecksums).toBe(0); // trusted from the header: not summed
    const log = loggerMsgs(fx).filter((m) => m.kind === 'LogData');
    expect(log).toHaveLength(1);
    expect(log[0]?.kind === 'LogData' && log[0].payload.length).toBe(20_000);
    const tun = fx.filter((x) => x.to === 'tun');
    expect(tun).toHaveLength(1);
    const out = tun[0];
    if (out?.to !== 'tun') throw new Error('no tun effect');
    expect(out.vnet).toEqual(tso(20)); // offsets now count from the IP header
    expect(out.packet.length).toBe(20 + 20 + 20_000);
    expect(new TcpPacket(out.packet.subarray(20)).checksum).toBe(partial);
  });

  it('R6.10 a burst a standby kept is handed over with its offload header after re-creation', () => {
    const e = new SswEngine({
      serviceAddr: SERVICE,
      serviceMac: SERVICE_MAC,
      mode: 'ftTcp',
      role: 'standby',
    });
    const payload = new Uint8Array(20_000).map((_, i) => (i * 7) & 0xff);
    const frame = clientFrame({
      seq: C_ISN + 1,
      ack: S_ISN + 1,
      flags: TCP_ACK | TCP_PSH,
      payload,
    });
    makePartial(frame.subarray(ETHERNET_HEADER_LEN));
    expect(copy(e.onLanFrame(frame, 10, tso(ETHERNET_HEADER_LEN + 20)))).toEqual([]);
    frame.fill(0); // the runtime reuses its read buffer
    e.takeover(20);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 60_000 }, 21);
    e.onLoggerMessage(
      {
        kind: 'ReplaySyn',
        conn: 3,
        clientAddr: CLIENT,
        clientPort: CPORT,
        serverAddr: SERVICE,
        serverPort: SPORT,
        clientIsn: C_ISN,
        serverIsn: S_ISN,
        clientOpts: { mss: 1460, wscale: null, sackOk: false, tsVal: null, tsEcr: null },
        serverOpts: { mss: 1460, wscale: null, sackOk: false, tsVal: null, tsEcr: null },
        synTimeMs: 0,
        clientAck: S_ISN + 1,
      },
      22,
    );
    const fx = copy(e.onLoggerMessage({ kind: 'ReplayEnd', conns: 1, bytes: 0, dets: 0 }, 23));
    // Its partial checksum was trusted from the kept header (not summed, not dropped), and the
    // whole burst was logged as one piece.
    expect(e.stats.dropBadChecksum).toBe(0);
    expect(e.stats.lanPartialChecksums).toBe(0);
    const log = loggerMsgs(fx).filter((m) => m.kind === 'LogData');
    expect(log).toHaveLength(1);
    expect(log[0]?.kind === 'LogData' && log[0].payload).toEqual(payload);
  });

  it('a kernel data burst keeps its partial field through the ack clamp; its header moves +14', () => {
    const { e } = established();
    // The kernel acks bytes the log does not hold yet: the ack is clamped (R1.2) in place.
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'abc' }),
      5,
    );
    const pkt = kernelPacket({
      seq: S_ISN + 1,
      ack: C_ISN + 4,
      flags: TCP_ACK | TCP_PSH,
      payload: new Uint8Array(9000),
    });
    const tcp = makePartial(pkt);
    const partial = tcp.checksum;
    const fx = copy(e.onTunPacket(pkt, 6, tso(20)));
    const lan = fx.filter((x) => x.to === 'lan');
    expect(lan).toHaveLength(1);
    const out = lan[0];
    if (out?.to !== 'lan') throw new Error('no lan effect');
    expect(out.vnet).toEqual(tso(34));
    const sent = new TcpPacket(out.frame.subarray(ETHERNET_HEADER_LEN + 20));
    expect(sent.ackNumber).toBe(C_ISN + 1); // clamped at stableSeq
    // RFC 1624 applied to a pseudo-header sum would have changed it: it must not.
    expect(sent.checksum).toBe(partial);
    expect(sent.checksum).toBe(pseudoHeaderSum(SERVICE, CLIENT, IP_PROTO_TCP, 20 + 9000));
  });

  it('a partial pure ACK or SYN-ACK from the kernel is completed: what may be held stands alone', () => {
    const e = new SswEngine({
      serviceAddr: SERVICE,
      serviceMac: SERVICE_MAC,
      mode: 'ftTcp',
      role: 'active',
    });
    e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }, 0);
    // Learn the client's MAC so the released SYN-ACK goes out at once.
    e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN, options: OPTS }), 1);
    const synAck = kernelPacket({
      seq: S_ISN,
      ack: C_ISN + 1,
      flags: TCP_SYN | TCP_ACK,
      options: OPTS,
    });
    makePartial(synAck);
    const csumOnly: VnetHdr = {
      ...NO_OFFLOAD,
      flags: VNET_F_NEEDS_CSUM,
      csumStart: 20,
      csumOffset: 16,
    };
    const held = copy(e.onTunPacket(synAck, 2, csumOnly));
    const logSyn = loggerMsgs(held)[0];
    if (logSyn?.kind !== 'LogSyn') throw new Error('no LogSyn');
    const released = copy(e.onLoggerMessage({ kind: 'SynStored', conn: logSyn.conn }, 3));
    // lanSegs verifies the checksum: the held copy was completed before it was kept.
    const segs = lanSegs(released);
    expect(segs).toHaveLength(1);
    expect(segs[0]?.tcp).toMatchObject({ seq: S_ISN, flags: TCP_SYN | TCP_ACK });
    const out = released.find((x) => x.to === 'lan');
    expect(out?.to === 'lan' && out.vnet).toBeFalsy();
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('protected');
  });
});
