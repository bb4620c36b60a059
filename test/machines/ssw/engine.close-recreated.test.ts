// The bug "a re-created connection whose close completed, then a crash of the new incarnation"
// (chaos seed 20261203 path 3: HALF_CLOSE, HOST_CRASH, CRASH_MID_REPLAY on the backup). A
// failover's record never saw the client's FIN go by, so after the replay completed the close
// the SSW kept the connection `closing` (R5.7) instead of forgetting it; a crash of the new
// incarnation then let the dying kernel's RST through (`closing` passes every RST) and left the
// connection out of the next recovery (R6.1 re-created orphans only) while the log, whose
// ConnClosed never came or was lost across the fence, still listed it: the next replay waited
// for it for good. Rules: spec/ssw.md R5.7, R5.9, R5.10, R6.1, R6.7.
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
const K = 77;
const CONN = 7;
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
  ...over,
});
const copy = (fx: readonly SswEffect[]): SswEffect[] => [...fx];
const enc = (t: string): Uint8Array => new TextEncoder().encode(t);

/** The log of the half-closed connection: its record, the client's 'tail' and FIN. */
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
const closeLogged: LoggerMessage = {
  kind: 'CloseLogged',
  clientAddr: CLIENT,
  clientPort: CPORT,
  how: 'end',
  offset: 4,
};
const connClosed = (fx: readonly SswEffect[]) =>
  loggerMsgs(copy(fx)).filter((m) => m.kind === 'ConnClosed');

/** The new incarnation's handshake, injection and go-live (kernel ISN `k`). */
function recreate(e: SswEngine, at: number, k: number): void {
  const inj = tunSegs(
    copy(
      e.onTunPacket(
        kernelPacket({ seq: k, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK, options: synAckOpts }),
        at,
      ),
    ),
  );
  expect(inj.map((x) => [x.text, x.tcp.flags & TCP_FIN])).toEqual([
    ['', 0],
    ['tail', 0],
    ['', TCP_FIN],
  ]);
  e.onTunPacket(kernelPacket({ seq: k + 1, ack: C_ISN + 6, flags: TCP_ACK }), at + 1);
}

/** The replayed application echoes 'tail' and closes: its FIN at the logged close passes. */
function replayedClose(e: SswEngine, at: number, k: number): SswEffect[] {
  return copy(
    e.onTunPacket(
      kernelPacket({ seq: k + 1, ack: C_ISN + 6, flags: TCP_ACK | TCP_FIN, payload: 'tail' }),
      at,
    ),
  );
}

/** A failover: the backup's SSW takes over, re-creates the connection, the replay closes it. */
function failoverClosing() {
  const e = new SswEngine(config());
  e.takeover(1);
  e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 60_000 }, 2);
  // The client's MAC, as the takeover's ARP exchange teaches it (A.3).
  e.onLanFrame(buildArpFrame(arpRequest(CLIENT_MAC, CLIENT, SERVICE)), 2);
  for (const r of records) e.onLoggerMessage(r, 3);
  const syn = tunSegs(
    copy(e.onLoggerMessage({ kind: 'ReplayEnd', conns: 1, bytes: 4, dets: 0 }, 4)),
  );
  expect(syn[0]?.tcp).toMatchObject({ seq: C_ISN, flags: TCP_SYN });
  recreate(e, 5, K);
  expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('translated');
  e.onLoggerMessage(closeLogged, 10);
  const fin = lanSegs(replayedClose(e, 11, K));
  expect(fin[0]?.tcp).toMatchObject({ seq: S_ISN + 1, ack: C_ISN + 6 });
  expect((fin[0]?.tcp.flags ?? 0) & TCP_FIN).toBe(TCP_FIN);
  expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('closing');
  return e;
}

describe('a re-created connection whose close completed, then a crash of the new incarnation', () => {
  it('R5.7 a failover re-created connection is forgotten once both FINs are acked (its ConnClosed goes), like an original one', () => {
    const e = failoverClosing();
    // The client acks the server's FIN (its own FIN was acked before the crash: the log has it).
    e.onLanFrame(clientFrame({ seq: C_ISN + 6, ack: S_ISN + 6, flags: TCP_ACK }), 12);
    const done = copy(e.onTick(20));
    expect(connClosed(done)).toEqual([{ kind: 'ConnClosed', conn: CONN }]);
    expect(e.connection(CLIENT, CPORT, SPORT)).toBeUndefined();
    // The client's FIN is known from the log: R5.7 answered for a done kernel before that too.
    expect(e.connectionCount()).toBe(0);
  });

  it('R5.9 the new incarnation dies while the connection is closing: the dying kernel RST never reaches the client, and the next recovery re-creates the connection the log still lists', () => {
    const e = failoverClosing();
    // The crash comes before the client's ack of the FIN reached the kernel (LAST_ACK).
    const exit = copy(e.onAppExit(12));
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('orphaned');
    // R5.4: the dead incarnation's socket is aborted (RST at kernelAck, RFC 5961).
    expect(tunSegs(exit).map((x) => x.tcp)).toEqual([
      expect.objectContaining({ seq: C_ISN + 6, flags: TCP_RST }),
    ]);
    const rst = copy(
      e.onTunPacket(kernelPacket({ seq: K + 6, ack: C_ISN + 6, flags: TCP_ACK | TCP_RST }), 13),
    );
    expect(lanSegs(rst)).toHaveLength(0);
    // Nothing says the log closed it: the fetch lists it, and the SSW re-creates it, so the
    // replay's accept gets its kernel connection.
    const again = copy(e.startRecovery(records, 100));
    expect(tunSegs(again)[0]?.tcp).toMatchObject({ seq: C_ISN, flags: TCP_SYN });
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('awaitSynAck');
    const K2 = 9000;
    recreate(e, 101, K2);
    // The replay closes again; the client, which never acked the first FIN, gets it now.
    expect(lanSegs(replayedClose(e, 110, K2))).toHaveLength(1);
    e.onLanFrame(clientFrame({ seq: C_ISN + 6, ack: S_ISN + 6, flags: TCP_ACK }), 111);
    expect(connClosed(copy(e.onTick(120)))).toEqual([{ kind: 'ConnClosed', conn: CONN }]);
    expect(e.connectionCount()).toBe(0);
  });

  it('R5.10 a ConnClosed that falls in a recovery is withheld, and the fetch settles it: a connection the log lists is re-created, never left for the replay to wait on', () => {
    const e = failoverClosing();
    e.onAppExit(12);
    // The client gives up on the orphan meanwhile: the SSW is done with it, but the log's open
    // set must not change between the NSW's fetch and its own.
    const reset = copy(
      e.onLanFrame(clientFrame({ seq: C_ISN + 6, ack: S_ISN + 1, flags: TCP_RST | TCP_ACK }), 13),
    );
    expect(e.connection(CLIENT, CPORT, SPORT)).toBeUndefined();
    expect(connClosed(reset)).toEqual([]);
    expect(logEvents(reset).map((x) => x.rule)).toContain('R5.10');
    // The fetch still lists it (the NSW replays its accept): it is re-created.
    const rec = copy(e.startRecovery(records, 100));
    expect(tunSegs(rec)[0]?.tcp).toMatchObject({ seq: C_ISN, flags: TCP_SYN });
    expect(connClosed(rec)).toEqual([]);
    // Going live sends nothing for it: the fetch settled the withheld ConnClosed.
    recreate(e, 101, 9000);
    expect(e.hostState().app).toBe('appRunning');
    expect(connClosed(copy(e.onTick(120)))).toEqual([]);
  });

  it('R5.10 a ConnClosed withheld during a recovery of other connections goes at go-live', () => {
    const e = failoverClosing();
    e.onAppExit(12);
    // The fetch does not list it (the logger has it closed): forgotten, nothing re-created.
    const rec = copy(e.startRecovery([], 100));
    expect(tunSegs(rec).filter((x) => x.tcp.flags & TCP_SYN)).toHaveLength(0);
    expect(e.connection(CLIENT, CPORT, SPORT)).toBeUndefined();
    // Its ConnClosed (withheld while recovering) goes once the host is live: a repeat the
    // logger takes as the first.
    expect(e.hostState().app).toBe('appRunning');
    expect(connClosed(rec)).toEqual([{ kind: 'ConnClosed', conn: CONN }]);
  });

  it('R5.10 a ConnClosed sent before a fence or reconnect is sent again after the next Welcome; a fetch settles it', () => {
    const e = failoverClosing();
    e.onLanFrame(clientFrame({ seq: C_ISN + 6, ack: S_ISN + 6, flags: TCP_ACK }), 12);
    expect(connClosed(copy(e.onTick(20)))).toHaveLength(1);
    // The link breaks and comes back (the frame may have died with it).
    const w = copy(e.onLoggerMessage({ kind: 'Welcome', epoch: 3, leaseMs: 60_000 }, 30));
    expect(connClosed(w)).toEqual([{ kind: 'ConnClosed', conn: CONN }]);
    // A recovery's fetch is the logger's open set: nothing is owed after it.
    e.onAppExit(40);
    e.startRecovery([], 50);
    expect(
      connClosed(copy(e.onLoggerMessage({ kind: 'Welcome', epoch: 4, leaseMs: 60_000 }, 60))),
    ).toEqual([]);
  });

  it('R6.7 the replayed FIN at the logged close passes during injection: go-live leads to closing and the connection is forgotten', () => {
    const e = new SswEngine(config());
    e.takeover(1);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 60_000 }, 2);
    e.onLanFrame(buildArpFrame(arpRequest(CLIENT_MAC, CLIENT, SERVICE)), 2);
    for (const r of records) e.onLoggerMessage(r, 3);
    e.onLoggerMessage({ kind: 'ReplayEnd', conns: 1, bytes: 4, dets: 0 }, 4);
    e.onLoggerMessage(closeLogged, 4);
    e.onTunPacket(
      kernelPacket({ seq: K, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK, options: synAckOpts }),
      5,
    );
    // The kernel has taken 'tail' but not yet the FIN; the application already echoes and closes.
    const fin = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({ seq: K + 1, ack: C_ISN + 5, flags: TCP_ACK | TCP_FIN, payload: 'tail' }),
          6,
        ),
      ),
    );
    expect((fin[0]?.tcp.flags ?? 0) & TCP_FIN).toBe(TCP_FIN);
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('injecting');
    e.onTunPacket(kernelPacket({ seq: K + 6, ack: C_ISN + 6, flags: TCP_ACK }), 7);
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('closing');
    e.onLanFrame(clientFrame({ seq: C_ISN + 6, ack: S_ISN + 6, flags: TCP_ACK }), 8);
    expect(connClosed(copy(e.onTick(20)))).toEqual([{ kind: 'ConnClosed', conn: CONN }]);
  });
});
