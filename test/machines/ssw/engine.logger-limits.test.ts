// The SSW engine at a logger limit (spec/ssw.md "Checkpoints and logger limits, SSW side"):
// L.7, the logger's `Unprotected` (scope app and conn), and R2.7, ConnEstablished and the re-log
// of an embryonic record the logger expired. Before L.7 the engine ignored `Unprotected`: the
// logger, which answers nothing any more, left SYN-ACKs, FINs and acks held for good.
import { describe, expect, it } from 'vitest';
import { type SswConfig, type SswEffect, SswEngine } from '../../../src/machines/ssw/index.ts';
import type { LoggerMessage } from '../../../src/wire/logmsg.ts';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpOption } from '../../../src/wire/tcp.ts';
import {
  CLIENT,
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
const OPTS: TcpOption[] = [{ kind: 'mss', mss: 1460 }];

const config = (over: Partial<SswConfig> = {}): SswConfig => ({
  serviceAddr: SERVICE,
  serviceMac: SERVICE_MAC,
  mode: 'ftTcp',
  role: 'active',
  ...over,
});

const copy = (fx: readonly SswEffect[]): SswEffect[] => [...fx];

/** A welcomed engine. */
function engine(over: Partial<SswConfig> = {}): SswEngine {
  const e = new SswEngine(config(over));
  e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 600_000 }, 0);
  return e;
}

/** SYN and the kernel's SYN-ACK on client port `port`: the LogSyn (the SYN-ACK is held). */
function handshake(e: SswEngine, port: number, at: number) {
  e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN, options: OPTS }, port), at);
  const fx = copy(
    e.onTunPacket(
      kernelPacket({ seq: S_ISN, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK, options: OPTS }, port),
      at + 1,
    ),
  );
  const logSyn = loggerMsgs(fx)[0];
  if (logSyn?.kind !== 'LogSyn') throw new Error('no LogSyn');
  return logSyn;
}

/** A protected connection on `port`: record stored, 'abcdef' logged (not stored), kernel acked. */
function withData(e: SswEngine, port: number, at: number): number {
  const { conn } = handshake(e, port, at);
  e.onLoggerMessage({ kind: 'SynStored', conn }, at + 2);
  e.onLanFrame(
    clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'abcdef' }, port),
    at + 3,
  );
  const clamped = lanSegs(
    copy(
      e.onTunPacket(kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 7, flags: TCP_ACK }, port), at + 4),
    ),
  );
  // R1.2: the kernel acked 'abcdef', the logger has not stored it: the client is told C_ISN + 1.
  expect(clamped[0]?.tcp.ack).toBe(C_ISN + 1);
  return conn;
}

const unprotected = (
  scope: 'app' | 'conn',
  conn: number,
  reason: Extract<LoggerMessage, { kind: 'Unprotected' }>['reason'],
): LoggerMessage => ({ kind: 'Unprotected', scope, conn, reason, detail: 'test' });

describe('SSW L.7: Unprotected from the logger', () => {
  it('L.7 scope app: held SYN-ACK and FIN released, clamps lifted, nothing more logged, new connections unprotected, for good', () => {
    const e = engine();
    withData(e, CPORT, 1);
    // R5.1: the kernel's FIN with no close logged is held.
    const fin = copy(
      e.onTunPacket(kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 7, flags: TCP_ACK | TCP_FIN }), 10),
    );
    expect(lanSegs(fin).some((s) => (s.tcp.flags & TCP_FIN) !== 0)).toBe(false);
    // R2.1: a second connection's SYN-ACK is held until SynStored.
    handshake(e, CPORT + 1, 11);

    const fx = copy(e.onLoggerMessage(unprotected('app', 0, 'noCheckpoint'), 20));
    expect(e.hostState().logger).toBe('unprotected');
    const out = lanSegs(fx);
    // The held SYN-ACK goes to the second client (L.2 as for a lost logger).
    expect(
      out.some((s) => s.tcp.dstPort === CPORT + 1 && s.tcp.flags === (TCP_SYN | TCP_ACK)),
    ).toBe(true);
    // The first client gets the held FIN, acking what the kernel acked (clamp lifted).
    const first = out.filter((s) => s.tcp.dstPort === CPORT);
    expect(first.some((s) => (s.tcp.flags & TCP_FIN) !== 0 && s.tcp.ack === C_ISN + 7)).toBe(true);
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('unprotected');
    expect(e.connection(CLIENT, CPORT + 1, SPORT)?.mode).toBe('unprotected');
    const l7 = logEvents(fx).find((x) => x.rule === 'L.7');
    expect(l7?.detail).toMatchObject({ scope: 'app', reason: 'noCheckpoint' });
    expect(loggerMsgs(fx)).toEqual([]);

    // Client bytes now go straight to the kernel, unlogged; the kernel's ack is not clamped.
    const more = copy(
      e.onLanFrame(
        clientFrame({ seq: 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'xyz' }, CPORT + 1),
        21,
      ),
    );
    expect(tunSegs(more)).toHaveLength(1);
    expect(loggerMsgs(more)).toEqual([]);
    const acked = lanSegs(
      copy(e.onTunPacket(kernelPacket({ seq: S_ISN + 1, ack: 4, flags: TCP_ACK }, CPORT + 1), 22)),
    );
    expect(acked[0]?.tcp.ack).toBe(4);
    // L.3: a new connection is accepted unprotected: SYN-ACK not held, no LogSyn.
    e.onLanFrame(clientFrame({ seq: 7, flags: TCP_SYN, options: OPTS }, CPORT + 2), 23);
    const sa = copy(
      e.onTunPacket(
        kernelPacket({ seq: 9, ack: 8, flags: TCP_SYN | TCP_ACK, options: OPTS }, CPORT + 2),
        24,
      ),
    );
    expect(lanSegs(sa)).toHaveLength(1);
    expect(loggerMsgs(sa)).toEqual([]);
    // Nothing to the logger on ticks (no ClientAcked), nor after a reconnect (no resend of the
    // dropped queue, no LogSyn), and a Welcome does not re-protect this incarnation.
    expect(loggerMsgs(copy(e.onTick(60_000)))).toEqual([]);
    const again = copy(e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 600_000 }, 60_001));
    expect(loggerMsgs(again)).toEqual([]);
    expect(e.hostState().logger).toBe('unprotected');
    // A connection that ends says nothing to the logger either (no ConnClosed).
    const rst = copy(
      e.onLanFrame(
        clientFrame({ seq: 4, ack: S_ISN + 1, flags: TCP_ACK | TCP_RST }, CPORT + 1),
        60_002,
      ),
    );
    expect(e.connection(CLIENT, CPORT + 1, SPORT)).toBeUndefined();
    expect(loggerMsgs(rst)).toEqual([]);
  });

  it('L.7 scope app at a co-located logger (after a takeover) ends protection too', () => {
    const e = new SswEngine(config({ role: 'standby' }));
    e.takeover(1);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 200 }, 2);
    e.startRecovery([], 3);
    expect(e.hostState().logger).toBe('colocated');
    handshake(e, CPORT, 4);
    const fx = copy(e.onLoggerMessage(unprotected('app', 0, 'storeFull'), 10));
    expect(e.hostState().logger).toBe('unprotected');
    expect(lanSegs(fx).map((s) => s.tcp.flags)).toEqual([TCP_SYN | TCP_ACK]);
  });

  it('L.7 scope conn (storeFull): only that connection goes unprotected; the others stay clamped and logged', () => {
    const e = engine({ appRecorded: false });
    const conn1 = withData(e, CPORT, 1);
    withData(e, CPORT + 1, 10);
    const fx = copy(e.onLoggerMessage(unprotected('conn', conn1, 'storeFull'), 20));
    expect(e.hostState().logger).toBe('protected');
    expect(e.connection(CLIENT, CPORT, SPORT)).toMatchObject({
      mode: 'unprotected',
      protected: false,
    });
    expect(e.connection(CLIENT, CPORT + 1, SPORT)).toMatchObject({
      mode: 'protected',
      protected: true,
    });
    // The clamp on the first is lifted at once (what the kernel acked is told).
    expect(lanSegs(fx).map((s) => [s.tcp.dstPort, s.tcp.ack])).toEqual([[CPORT, C_ISN + 7]]);
    expect(logEvents(fx).find((x) => x.rule === 'L.7')).toMatchObject({
      conn: conn1,
      detail: { scope: 'conn', reason: 'storeFull' },
    });
    // The first's bytes are no longer logged; the second's are, and its ack stays clamped.
    const a = copy(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 7, ack: S_ISN + 1, flags: TCP_ACK, payload: 'gh' }),
        21,
      ),
    );
    expect(loggerMsgs(a)).toEqual([]);
    expect(tunSegs(a)).toHaveLength(1);
    const b = copy(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 7, ack: S_ISN + 1, flags: TCP_ACK, payload: 'gh' }, CPORT + 1),
        22,
      ),
    );
    expect(loggerMsgs(b).map((m) => m.kind)).toEqual(['LogData']);
    const clamped = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 9, flags: TCP_ACK }, CPORT + 1),
          23,
        ),
      ),
    );
    expect(clamped[0]?.tcp.ack).toBe(C_ISN + 1);
    // Told again for a later message of the same connection: nothing changes.
    expect(copy(e.onLoggerMessage(unprotected('conn', conn1, 'storeFull'), 24))).toEqual([]);
  });

  it('L.7 scope conn on a record awaiting SynStored releases its SYN-ACK', () => {
    const e = engine({ appRecorded: false });
    const { conn } = handshake(e, CPORT, 1);
    const fx = copy(e.onLoggerMessage(unprotected('conn', conn, 'storeFull'), 5));
    expect(lanSegs(fx).map((s) => s.tcp.flags)).toEqual([TCP_SYN | TCP_ACK]);
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('unprotected');
  });
});

describe('SSW R2.7: established and embryonic records', () => {
  it('R2.7 ConnEstablished goes once, with the first segment acking serverIsn + 1', () => {
    const e = engine();
    const { conn } = handshake(e, CPORT, 1);
    e.onLoggerMessage({ kind: 'SynStored', conn }, 3);
    // A segment that does not ack serverIsn + 1 (a SYN retry) says nothing.
    expect(
      loggerMsgs(copy(e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN, options: OPTS }), 4))),
    ).toEqual([]);
    const ack = copy(
      e.onLanFrame(clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK }), 5),
    );
    expect(loggerMsgs(ack)).toEqual([{ kind: 'ConnEstablished', conn }]);
    expect(tunSegs(ack)).toHaveLength(1);
    const data = copy(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'abc' }),
        6,
      ),
    );
    expect(loggerMsgs(data).map((m) => m.kind)).toEqual(['LogData']);
  });

  it('R2.7 an expired embryonic record is logged again when the handshake completes late; nothing reaches the kernel until SynStored', () => {
    const e = engine();
    const logSyn = handshake(e, CPORT, 1);
    const conn = logSyn.conn;
    e.onLoggerMessage({ kind: 'SynStored', conn }, 3);
    // The client has not acked the SYN-ACK for embryonicTtlMs: the logger drops the record.
    const exp = copy(e.onLoggerMessage(unprotected('conn', conn, 'embryonicExpired'), 30_000));
    expect(logEvents(exp).map((x) => x.rule)).toEqual(['R2.7']);
    expect(e.connection(CLIENT, CPORT, SPORT)).toMatchObject({
      mode: 'protected',
      protected: true,
    });
    // The late ack: the same record again, and nothing to the kernel.
    const late = copy(
      e.onLanFrame(clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK }), 30_100),
    );
    expect(loggerMsgs(late)).toEqual([logSyn]);
    expect(tunSegs(late)).toEqual([]);
    // Its data too waits (the client retransmits), and is not logged before the record is.
    const data = copy(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'abc' }),
        30_101,
      ),
    );
    expect(tunSegs(data)).toEqual([]);
    expect(loggerMsgs(data)).toEqual([]);
    // A reconnect before SynStored resends the record (R1.7).
    const re = copy(e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 600_000 }, 30_102));
    expect(loggerMsgs(re)).toEqual([logSyn]);
    // An Unprotected answering a message sent before the re-log changes nothing.
    e.onLoggerMessage(unprotected('conn', conn, 'embryonicExpired'), 30_103);
    expect(e.connection(CLIENT, CPORT, SPORT)?.protected).toBe(true);
    // Stored: the logger hears at once that the client acked; segments pass and are logged.
    const stored = copy(e.onLoggerMessage({ kind: 'SynStored', conn }, 30_200));
    expect(loggerMsgs(stored)).toEqual([{ kind: 'ConnEstablished', conn }]);
    expect(lanSegs(stored)).toEqual([]);
    const retx = copy(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'abc' }),
        30_300,
      ),
    );
    expect(tunSegs(retx)).toHaveLength(1);
    expect(loggerMsgs(retx).map((m) => m.kind)).toEqual(['LogData']);
    expect(e.stats.dropUntilSynStored).toBe(2);
  });

  it("R2.7 an expiry that crossed the client's ack (ConnEstablished already sent) leaves the connection unprotected, not stuck", () => {
    const e = engine();
    const conn = withData(e, CPORT, 1);
    const fx = copy(e.onLoggerMessage(unprotected('conn', conn, 'embryonicExpired'), 30_000));
    expect(e.connection(CLIENT, CPORT, SPORT)).toMatchObject({
      mode: 'unprotected',
      protected: false,
    });
    expect(lanSegs(fx).map((s) => s.tcp.ack)).toEqual([C_ISN + 7]);
  });
});
