// The bug "server RST after both FINs, failover of a half-closed connection" (lab
// failover-more.test.ts "a connection the client half-closed before the crash", under a CPU
// hog). The client had sent its last bytes and FIN, the primary's kernel acked them, and the
// host died before the echo of the tail and the application's close. On the backup the
// re-created kernel's FIN came with the regenerated tail (R6.6: the segment is sent whole), the
// client acked it, and the kernel, whose RTT estimate came from the SSW's local acks (R6.6: a
// few ms), retransmitted the tail and FIN (a tail loss probe) before that ack reached it; the
// ack then closed its socket (LAST_ACK -> CLOSED), and the client's ack of the retransmission
// reached a kernel with no socket, which answered RST, and the SSW passed it on. Two gaps:
// - the re-created connection's `clientFinSeq` was unknown (a failover's record never saw the
//   client's FIN go by), so R5.7 never judged the kernel done and forwarded the second ack;
// - once both FINs are acked R5.7 forgets the connection at the next tick (10 ms), so a late
//   ack, or the kernel's retransmission still on its way, met the bare kernel after all.
// Rules: spec/ssw.md R5.7, R5.11, R6.6.
import { describe, expect, it } from 'vitest';
import { type SswConfig, type SswEffect, SswEngine } from '../../../src/machines/ssw/index.ts';
import { arpRequest, buildArpFrame } from '../../../src/wire/arp.ts';
import type { LoggerMessage } from '../../../src/wire/logmsg.ts';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpOption } from '../../../src/wire/tcp.ts';
import {
  CLIENT,
  CLIENT_MAC,
  CPORT,
  clientFrame,
  kernelPacket,
  lanSegs,
  logEvents,
  loggerMsgs,
  SERVICE,
  SERVICE_MAC,
  SPORT,
  tunSegs,
} from './packets.ts';

const C_ISN = 1000;
const S_ISN = 5000;
/** The re-created kernel's ISN: far from S_ISN, so an untranslated segment shows. */
const K = 0x7000_0000;
const CONN = 3;
const QUIET = 1000;
const synAckOpts: TcpOption[] = [
  { kind: 'mss', mss: 1460 },
  { kind: 'sackPermitted' },
  { kind: 'timestamps', tsVal: 10, tsEcr: 100 },
  { kind: 'nop' },
  { kind: 'wscale', shift: 7 },
];
const config = (over: Partial<SswConfig> = {}): SswConfig => ({
  serviceAddr: SERVICE,
  serviceMac: SERVICE_MAC,
  mode: 'ftTcp',
  role: 'standby',
  closeQuietMs: QUIET,
  ...over,
});
const copy = (fx: readonly SswEffect[]): SswEffect[] => [...fx];
const enc = (t: string): Uint8Array => new TextEncoder().encode(t);

// The client sent 'abcdefgh' and 'tail' and its FIN (client bytes C_ISN+1..C_ISN+12, FIN at
// C_ISN+13); the primary echoed 'abcdefgh', which the client acked (clientAck S_ISN+9), and
// died before echoing 'tail' and closing. The replayed application writes 'abcdefghtail' and
// closes at offset 12: its FIN sits at S_ISN+13.
const CLIENT_END = C_ISN + 14;
const SERVER_END = S_ISN + 14;
const records: LoggerMessage[] = [
  {
    kind: 'ReplaySyn',
    conn: CONN,
    clientAddr: CLIENT,
    clientPort: CPORT,
    serverAddr: SERVICE,
    serverPort: SPORT,
    clientIsn: C_ISN,
    serverIsn: S_ISN,
    clientOpts: { mss: 1460, wscale: 7, sackOk: true, tsVal: 100, tsEcr: 0 },
    serverOpts: { mss: 1460, wscale: 7, sackOk: true, tsVal: 7000, tsEcr: 100 },
    synTimeMs: 0,
    clientAck: S_ISN + 9,
  },
  { kind: 'ReplayData', conn: CONN, seq: C_ISN + 1, payload: enc('abcdefghtail'), fin: true },
];

const connClosed = (fx: readonly SswEffect[]) =>
  loggerMsgs(copy(fx)).filter((m) => m.kind === 'ConnClosed');

/** The client's ack of everything and of the server's FIN (its pure ACK). */
const clientAckOfFin = () => clientFrame({ seq: CLIENT_END, ack: SERVER_END, flags: TCP_ACK });

/** The kernel's tail loss probe: the last piece of its FIN segment again, FIN included. */
const kernelProbe = () =>
  kernelPacket({
    seq: K + 9,
    ack: CLIENT_END,
    flags: TCP_ACK | TCP_FIN,
    payload: 'tail',
  });

/** What a kernel with no socket answers a segment with ACK: RST at the segment's ack. */
const kernelNoSocketRst = () => kernelPacket({ seq: K + 14, flags: TCP_RST });

/**
 * The failover as the evidence shows it: take over, re-create from the log, inject, go live;
 * the replayed application's close is logged after go-live; the kernel's FIN segment carries
 * the regenerated 'efgh' the client has and the new 'tail' (R6.6: sent whole), and passes at
 * the logged close. Returns the engine with the connection `closing`.
 */
function failoverFinSent(over: Partial<SswConfig> = {}): SswEngine {
  const e = new SswEngine(config(over));
  e.takeover(1);
  e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 60_000 }, 2);
  e.onLanFrame(buildArpFrame(arpRequest(CLIENT_MAC, CLIENT, SERVICE)), 2);
  for (const r of records) e.onLoggerMessage(r, 3);
  const syn = tunSegs(
    copy(e.onLoggerMessage({ kind: 'ReplayEnd', conns: 1, bytes: 12, dets: 0 }, 4)),
  );
  expect(syn[0]?.tcp).toMatchObject({ seq: C_ISN, flags: TCP_SYN });
  const inj = tunSegs(
    copy(
      e.onTunPacket(
        kernelPacket({ seq: K, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK, options: synAckOpts }),
        5,
      ),
    ),
  );
  expect(inj.map((x) => [x.text, x.tcp.flags & TCP_FIN])).toEqual([
    ['', 0],
    ['abcdefghtail', 0],
    ['', TCP_FIN],
  ]);
  // The replayed application's first output, below clientAck: acked locally (R6.6).
  const regen = copy(
    e.onTunPacket(
      kernelPacket({ seq: K + 1, ack: C_ISN + 13, flags: TCP_ACK, payload: 'abcd' }),
      6,
    ),
  );
  expect(lanSegs(regen)).toHaveLength(0);
  expect(tunSegs(regen).map((x) => x.tcp.ack)).toEqual([K + 5]);
  // The kernel acks the whole stream and the client's FIN: go-live (R6.8), three prompts.
  const live = copy(
    e.onTunPacket(kernelPacket({ seq: K + 5, ack: CLIENT_END, flags: TCP_ACK }), 7),
  );
  expect(lanSegs(live)).toHaveLength(3);
  expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('translated');
  e.onLoggerMessage(
    { kind: 'CloseLogged', clientAddr: CLIENT, clientPort: CPORT, how: 'end', offset: 12 },
    8,
  );
  const fin = lanSegs(
    copy(
      e.onTunPacket(
        kernelPacket({
          seq: K + 5,
          ack: CLIENT_END,
          flags: TCP_ACK | TCP_FIN,
          payload: 'efghtail',
        }),
        9,
      ),
    ),
  );
  expect(fin.map((x) => [x.tcp.seq, x.tcp.ack, x.text, x.tcp.flags & TCP_FIN])).toEqual([
    [S_ISN + 5, CLIENT_END, 'efghtail', TCP_FIN],
  ]);
  expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('closing');
  return e;
}

describe("a re-created connection's kernel RST after both FINs never reaches the client", () => {
  it('R5.7 the evidence order: the ack of the FIN, then the kernel retransmits it, then the ack of that: the second ack never reaches the kernel', () => {
    const e = failoverFinSent();
    // The client acks the FIN; the kernel gets it (LAST_ACK -> CLOSED).
    const ack1 = tunSegs(copy(e.onLanFrame(clientAckOfFin(), 10)));
    expect(ack1.map((x) => x.tcp.ack)).toEqual([K + 14]);
    // The kernel had retransmitted the tail and FIN before that ack reached it: it goes out.
    const probe = lanSegs(copy(e.onTunPacket(kernelProbe(), 11)));
    expect(probe.map((x) => [x.tcp.seq, x.text])).toEqual([[S_ISN + 9, 'tail']]);
    // The client acks it again: the kernel has no socket any more, and would answer RST.
    const ack2 = copy(e.onLanFrame(clientAckOfFin(), 11));
    expect(tunSegs(ack2)).toEqual([]);
    expect(lanSegs(ack2)).toEqual([]);
    expect(e.stats.answeredAfterClose).toBe(1);
    // Had a client segment met the gone socket anyway, its RST stays here (R5.11).
    expect(lanSegs(copy(e.onTunPacket(kernelNoSocketRst(), 12)))).toEqual([]);
    expect(e.stats.dropRecentlyClosed).toBe(1);
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('closing');
  });

  it('R5.11 the connection is forgotten at the next tick; the retransmission read after that, the late ack and a kernel RST stay between the SSW and the kernel', () => {
    const e = failoverFinSent();
    e.onLanFrame(clientAckOfFin(), 10);
    // Both FINs acked, the client told of its FIN: forgotten (ConnClosed) as before.
    expect(connClosed(copy(e.onTick(20)))).toEqual([{ kind: 'ConnClosed', conn: CONN }]);
    expect(e.connection(CLIENT, CPORT, SPORT)).toBeUndefined();
    // The kernel's retransmission, read from the TUN only now, is not sent untranslated.
    expect(lanSegs(copy(e.onTunPacket(kernelProbe(), 25)))).toEqual([]);
    // The client's late ack (of the retransmission the SSW had passed on) does not reach the
    // socket-less kernel, and a kernel RST for the 4-tuple does not reach the client.
    expect(tunSegs(copy(e.onLanFrame(clientAckOfFin(), 40)))).toEqual([]);
    expect(lanSegs(copy(e.onTunPacket(kernelNoSocketRst(), 41)))).toEqual([]);
    expect(e.stats.dropRecentlyClosed).toBe(3);
    expect(logEvents(copy(e.onTunPacket(kernelProbe(), 42))).map((x) => x.rule)).toEqual(['R5.11']);
    // After closeQuietMs the 4-tuple is the kernel's again, as TCP would have it.
    e.onTick(20 + QUIET);
    expect(tunSegs(copy(e.onLanFrame(clientAckOfFin(), 20 + QUIET + 1)))).toHaveLength(1);
  });

  it('R5.11 a new connection from the same port ends the quiet time at once', () => {
    const e = failoverFinSent();
    e.onLanFrame(clientAckOfFin(), 10);
    e.onTick(20);
    const syn = copy(e.onLanFrame(clientFrame({ seq: 90_000, flags: TCP_SYN }), 30));
    expect(tunSegs(syn).map((x) => x.tcp.flags)).toEqual([TCP_SYN]);
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('listenSynSeen');
  });
});
