// The bug "a stale kernel socket on the 4-tuple answers the fake SYN" (failure path 3 on the
// lab: HALF_CLOSE, HOST_CRASH, CRASH_MID_REPLAY and CRASH_AFTER_LIVE on the backup). The third
// incarnation on the backup host completed the close of a half-closed connection and was
// killed 50 ms after going live; its kernel socket stayed in LAST_ACK (its FIN retransmitted,
// the SSW had forgotten the connection after both FINs). The log still listed the connection,
// so the fourth incarnation's recovery re-created it: every fake SYN reached the LAST_ACK
// socket, whose only answer is a challenge ACK (RFC 5961 4), which the SSW dropped. It sent
// fake SYNs every retry period for 23 s, the replay waited for the accept, and the service
// never went live. Rule: spec/ssw.md R6.3 (a socket of an earlier incarnation on the 4-tuple).
import { describe, expect, it } from 'vitest';
import { type SswConfig, type SswEffect, SswEngine } from '../../../src/machines/ssw/index.ts';
import { arpRequest, buildArpFrame } from '../../../src/wire/arp.ts';
import type { LoggerMessage } from '../../../src/wire/logmsg.ts';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpOption } from '../../../src/wire/tcp.ts';
import {
  CLIENT,
  CLIENT_MAC,
  CPORT,
  kernelPacket,
  logEvents,
  SERVICE,
  SERVICE_MAC,
  SPORT,
  tunSegs,
} from './packets.ts';

const C_ISN = 1000;
const S_ISN = 5000;
const K = 77;
const CONN = 7;
const RETRY_MS = 200;
const synAckOpts: TcpOption[] = [
  { kind: 'mss', mss: 1460 },
  { kind: 'sackPermitted' },
  { kind: 'timestamps', tsVal: 10, tsEcr: 100 },
  { kind: 'nop' },
  { kind: 'wscale', shift: 7 },
];
const config: SswConfig = {
  serviceAddr: SERVICE,
  serviceMac: SERVICE_MAC,
  mode: 'ftTcp',
  role: 'standby',
  recreateRetryMs: RETRY_MS,
};
const copy = (fx: readonly SswEffect[]): SswEffect[] => [...fx];
const enc = (t: string): Uint8Array => new TextEncoder().encode(t);

/** The log of a half-closed connection: its record, the client's 'tail' and FIN. */
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
    clientAck: S_ISN + 1,
  },
  { kind: 'ReplayData', conn: CONN, seq: C_ISN + 1, payload: enc('tail'), fin: true },
];

/** A takeover whose recovery sends the first fake SYN. */
function recovering(): SswEngine {
  const e = new SswEngine(config);
  e.takeover(1);
  e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 60_000 }, 2);
  e.onLanFrame(buildArpFrame(arpRequest(CLIENT_MAC, CLIENT, SERVICE)), 2);
  for (const r of records) e.onLoggerMessage(r, 3);
  const syn = tunSegs(
    copy(e.onLoggerMessage({ kind: 'ReplayEnd', conns: 1, bytes: 4, dets: 0 }, 4)),
  );
  expect(syn.map((s) => [s.tcp.seq, s.tcp.flags])).toEqual([[C_ISN, TCP_SYN]]);
  expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('awaitSynAck');
  return e;
}

/** The stale socket's rcv.nxt: past the client's tail and FIN (it had them all). */
const STALE_RCV_NXT = C_ISN + 6;

describe('a stale kernel socket on the 4-tuple answers the fake SYN (R6.3)', () => {
  for (const [what, flags, payload] of [
    ['a challenge ACK', TCP_ACK, ''],
    ['its FIN retransmitted from LAST_ACK', TCP_ACK | TCP_FIN, 'tail'],
  ] as const) {
    it(`R6.3 ${what}: the SSW aborts the stale socket with an RST at its ack, the retried fake SYN re-creates the connection`, () => {
      const e = recovering();
      const answer = copy(
        e.onTunPacket(
          kernelPacket({ seq: K + 1, ack: STALE_RCV_NXT, flags, ...(payload ? { payload } : {}) }),
          5,
        ),
      );
      // The RST sits at the stale socket's rcv.nxt (in its window exactly: accepted).
      expect(tunSegs(answer).map((s) => [s.tcp.seq, s.tcp.flags])).toEqual([
        [STALE_RCV_NXT, TCP_RST],
      ]);
      expect(logEvents(answer).map((ev) => ev.what)).toContain(
        'stale kernel socket on the 4-tuple: aborted',
      );
      expect(e.stats.staleSocketsAborted).toBe(1);
      // Nothing of the stale socket reached the client.
      expect(answer.some((f) => f.to === 'lan')).toBe(false);
      // The retry period later the fake SYN goes again, now to the listener.
      const retry = tunSegs(copy(e.onTick(5 + RETRY_MS + 1)));
      expect(retry.map((s) => [s.tcp.seq, s.tcp.flags])).toEqual([[C_ISN, TCP_SYN]]);
      const inj = tunSegs(
        copy(
          e.onTunPacket(
            kernelPacket({ seq: K, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK, options: synAckOpts }),
            RETRY_MS + 10,
          ),
        ),
      );
      // The new kernel gets the fake ACK, the client's tail and its FIN (R6.4, R6.5).
      expect(inj.map((x) => [x.text, x.tcp.flags & TCP_FIN])).toEqual([
        ['', 0],
        ['tail', 0],
        ['', TCP_FIN],
      ]);
    });
  }

  it('R6.3 a SYN from the kernel while awaiting the SYN-ACK is dropped, no RST', () => {
    const e = recovering();
    const fx = copy(e.onTunPacket(kernelPacket({ seq: K, flags: TCP_SYN }), 5));
    expect(tunSegs(fx)).toEqual([]);
    expect(e.stats.staleSocketsAborted).toBe(0);
  });
});
