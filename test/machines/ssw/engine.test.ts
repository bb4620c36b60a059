// The SSW engine fed real packets (built with src/wire) and logger messages; checks what comes
// out on the LAN, into the kernel (TUN) and to the logger. Rules cited from spec/ssw.md.
import { describe, expect, it } from 'vitest';
import { DEFAULT_RECOVERY_PARAMS } from '../../../src/machines/recovery/params.ts';
import {
  checkSswConfig,
  DEFAULT_LEASE_MARGIN_MS,
  MAX_OUTSTANDING_HEARTBEATS,
  type SswConfig,
  SswConfigInvalid,
  type SswEffect,
  SswEngine,
} from '../../../src/machines/ssw/index.ts';
import { arpReply, arpRequest, buildArpFrame, parseArpBytes } from '../../../src/wire/arp.ts';
import { pseudoHeaderSum } from '../../../src/wire/checksum.ts';
import { ETHERNET_HEADER_LEN } from '../../../src/wire/ethernet.ts';
import type { LoggerMessage, SynOpts } from '../../../src/wire/logmsg.ts';
import { seqAdd, seqGe, seqSub } from '../../../src/wire/seq.ts';
import {
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  type TcpOption,
} from '../../../src/wire/tcp.ts';
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
  storeMsgs,
  tunSegs,
} from './packets.ts';

const C_ISN = 1000;
const S_ISN = 5000;
const CLIENT_OPTS: TcpOption[] = [
  { kind: 'mss', mss: 1460 },
  { kind: 'sackPermitted' },
  { kind: 'timestamps', tsVal: 100, tsEcr: 0 },
  { kind: 'nop' },
  { kind: 'wscale', shift: 7 },
];
const synAckOpts = (tsVal: number, ws: number): TcpOption[] => [
  { kind: 'mss', mss: 1460 },
  { kind: 'sackPermitted' },
  { kind: 'timestamps', tsVal, tsEcr: 100 },
  { kind: 'nop' },
  { kind: 'wscale', shift: ws },
];
const ts = (tsVal: number, tsEcr: number): TcpOption[] => [
  { kind: 'nop' },
  { kind: 'nop' },
  { kind: 'timestamps', tsVal, tsEcr },
];

const config = (over: Partial<SswConfig> = {}): SswConfig => ({
  serviceAddr: SERVICE,
  serviceMac: SERVICE_MAC,
  mode: 'ftTcp',
  role: 'active',
  ...over,
});

const copy = (fx: readonly SswEffect[]): SswEffect[] => [...fx];

/** A protected connection through the handshake, 'hello' logged and stored, kernel acked. */
function established(over: Partial<SswConfig> = {}) {
  const e = new SswEngine(config(over));
  copy(e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }, 0));
  const syn = copy(
    e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN, options: CLIENT_OPTS }), 1),
  );
  const synAck = copy(
    e.onTunPacket(
      kernelPacket({
        seq: S_ISN,
        ack: C_ISN + 1,
        flags: TCP_SYN | TCP_ACK,
        options: synAckOpts(7000, 7),
      }),
      2,
    ),
  );
  const logSyn = loggerMsgs(synAck)[0];
  if (logSyn?.kind !== 'LogSyn') throw new Error('no LogSyn');
  const conn = logSyn.conn;
  const released = copy(e.onLoggerMessage({ kind: 'SynStored', conn }, 3));
  return { e, conn, syn, synAck, released, logSyn };
}

describe('SSW engine: R2 connection record first', () => {
  it('forwards the SYN, logs the record and holds the SYN-ACK until SynStored', () => {
    const { syn, synAck, released, logSyn, e } = established();
    const toKernel = tunSegs(syn);
    expect(toKernel).toHaveLength(1);
    expect(toKernel[0]?.tcp.seq).toBe(C_ISN);
    // R2.1: logged, not sent.
    expect(lanSegs(synAck)).toHaveLength(0);
    expect(logSyn).toMatchObject({
      kind: 'LogSyn',
      clientAddr: CLIENT,
      clientPort: CPORT,
      serverAddr: SERVICE,
      serverPort: SPORT,
      clientIsn: C_ISN,
      serverIsn: S_ISN,
      clientOpts: { mss: 1460, wscale: 7, sackOk: true, tsVal: 100, tsEcr: 0 } satisfies SynOpts,
      serverOpts: { mss: 1460, wscale: 7, sackOk: true, tsVal: 7000, tsEcr: 100 } satisfies SynOpts,
    });
    // R2.3: released on SynStored, unchanged.
    const out = lanSegs(released);
    expect(out).toHaveLength(1);
    expect(out[0]?.tcp).toMatchObject({ seq: S_ISN, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK });
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('protected');
  });

  it('R2.2 a retransmitted SYN-ACK replaces the held one; only one goes out', () => {
    const e = new SswEngine(config());
    e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }, 0);
    e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN, options: CLIENT_OPTS }), 1);
    const first = copy(
      e.onTunPacket(
        kernelPacket({
          seq: S_ISN,
          ack: C_ISN + 1,
          flags: TCP_SYN | TCP_ACK,
          options: synAckOpts(7000, 7),
        }),
        2,
      ),
    );
    const again = copy(
      e.onTunPacket(
        kernelPacket({
          seq: S_ISN,
          ack: C_ISN + 1,
          flags: TCP_SYN | TCP_ACK,
          options: synAckOpts(7300, 7),
        }),
        300,
      ),
    );
    expect(lanSegs(again)).toHaveLength(0);
    expect(loggerMsgs(again)).toHaveLength(0);
    const conn = (loggerMsgs(first)[0] as { conn: number }).conn;
    const out = lanSegs(copy(e.onLoggerMessage({ kind: 'SynStored', conn }, 301)));
    expect(out).toHaveLength(1);
    expect(out[0]?.ts?.tsVal).toBe(7300);
  });

  it('R2.5 drops SYNs beyond maxConnections; new SYNs wait for the logger at start-up', () => {
    const e = new SswEngine(config({ limits: { maxConnections: 1 } }));
    // No Welcome yet: no lease, no new connection (the client retries).
    expect(
      tunSegs(copy(e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN }), 0))),
    ).toHaveLength(0);
    expect(e.stats.dropNotReady).toBe(1);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }, 1);
    expect(
      tunSegs(copy(e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN }), 2))),
    ).toHaveLength(1);
    expect(
      tunSegs(copy(e.onLanFrame(clientFrame({ seq: 9, flags: TCP_SYN }, CPORT + 1), 3))),
    ).toHaveLength(0);
    expect(e.stats.dropConnLimit).toBe(1);
  });
});

describe('SSW engine: R1 log before ack', () => {
  it('logs client bytes, clamps the kernel ack to stableSeq, keeps the kernel right edge, pure-ACKs on DataStored', () => {
    const { e, conn } = established();
    const data = copy(
      e.onLanFrame(
        clientFrame({
          seq: C_ISN + 1,
          ack: S_ISN + 1,
          flags: TCP_ACK | TCP_PSH,
          payload: 'hello',
          options: ts(110, 7000),
          window: 512,
        }),
        4,
      ),
    );
    // R1.1: logged and forwarded.
    expect(storeMsgs(data)).toEqual([
      {
        kind: 'LogData',
        conn,
        seq: C_ISN + 1,
        payload: new TextEncoder().encode('hello'),
        fin: false,
      },
    ]);
    const fwd = tunSegs(data);
    expect(fwd).toHaveLength(1);
    expect(fwd[0]).toMatchObject({ text: 'hello', tcp: { ack: S_ISN + 1 } });

    // The kernel acks all 5 bytes; the logger has not stored them: R1.2 clamps the ack.
    const kAck = copy(
      e.onTunPacket(
        kernelPacket({
          seq: S_ISN + 1,
          ack: C_ISN + 6,
          flags: TCP_ACK,
          window: 500,
          options: ts(7010, 110),
        }),
        5,
      ),
    );
    const out = lanSegs(kAck);
    expect(out).toHaveLength(1);
    expect(out[0]?.tcp.ack).toBe(C_ISN + 1);
    // R1.3: the clamped ack carries the kernel's right edge (C_ISN+6 + 500<<7), rounded down
    // to the scale, never past it.
    const kernelEdge = C_ISN + 6 + 500 * 128;
    const edge = seqAdd(C_ISN + 1, (out[0]?.tcp.window ?? 0) * 128);
    expect(seqSub(kernelEdge, edge)).toBeGreaterThanOrEqual(0);
    expect(seqSub(kernelEdge, edge)).toBeLessThan(128);
    expect(e.connection(CLIENT, CPORT, SPORT)).toMatchObject({
      kernelAck: C_ISN + 6,
      sentAck: C_ISN + 1,
    });

    // R1.4: the store completes; nothing from the kernel is pending: the SSW sends a pure ACK.
    const stored = copy(
      e.onLoggerMessage({ kind: 'DataStored', conn, stableSeq: C_ISN + 6, finLogged: false }, 6),
    );
    const pure = lanSegs(stored);
    expect(pure).toHaveLength(1);
    expect(pure[0]?.tcp).toMatchObject({ seq: S_ISN + 1, ack: C_ISN + 6, flags: TCP_ACK });
    expect(pure[0]?.ts).toEqual({ tsVal: 7010, tsEcr: 110 });
    // Not clamped now: the kernel's own field.
    expect(pure[0]?.tcp.window).toBe(500);

    // Later kernel segments carry the full ack.
    const reply = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({
            seq: S_ISN + 1,
            ack: C_ISN + 6,
            flags: TCP_ACK | TCP_PSH,
            payload: 'world',
            window: 500,
            options: ts(7020, 110),
          }),
          7,
        ),
      ),
    );
    expect(reply[0]).toMatchObject({ text: 'world', tcp: { seq: S_ISN + 1, ack: C_ISN + 6 } });
  });

  it('I1 does not trust the logger: a DataStored beyond what was logged is capped', () => {
    const { e, conn } = established();
    e.onLanFrame(clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'hi' }), 4);
    e.onTunPacket(kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 3, flags: TCP_ACK }), 5);
    const fx = copy(
      e.onLoggerMessage({ kind: 'DataStored', conn, stableSeq: C_ISN + 1000, finLogged: false }, 6),
    );
    expect(e.connection(CLIENT, CPORT, SPORT)?.stableSeq).toBe(C_ISN + 3);
    for (const s of lanSegs(fx)) expect(seqGe(C_ISN + 3, s.tcp.ack ?? 0)).toBe(true);
  });

  it('R1.1 holds out-of-order bytes and logs them in order once the hole fills', () => {
    const { e, conn } = established();
    const late = copy(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 6, ack: S_ISN + 1, flags: TCP_ACK, payload: 'world' }),
        4,
      ),
    );
    expect(storeMsgs(late)).toHaveLength(0);
    expect(tunSegs(late)).toHaveLength(1);
    const fill = copy(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'hello' }),
        5,
      ),
    );
    const logged = loggerMsgs(fill).map((m) =>
      m.kind === 'LogData' ? [m.conn, m.seq, new TextDecoder().decode(m.payload)] : m.kind,
    );
    expect(logged).toEqual([
      [conn, C_ISN + 1, 'hello'],
      [conn, C_ISN + 6, 'world'],
    ]);
    // A retransmission of logged bytes is forwarded, not logged again.
    const dup = copy(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'hello' }),
        6,
      ),
    );
    expect(loggerMsgs(dup)).toHaveLength(0);
    expect(tunSegs(dup)).toHaveLength(1);
  });

  it('R1.6 backpressure: beyond maxQueuedLogBytes the segment is dropped, not acked, not forwarded', () => {
    const { e } = established({ limits: { maxQueuedLogBytes: 4 } });
    const fx = copy(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'hello' }),
        4,
      ),
    );
    expect(storeMsgs(fx)).toHaveLength(0);
    expect(tunSegs(fx)).toHaveLength(0);
    expect(e.stats.dropBackpressure).toBe(1);
  });

  it('R1.5 a SACK block wholly above stableSeq is removed, not sent empty', () => {
    // A block of bytes the SSW does not hold (none arrived there): R1.9 does not apply.
    const { e } = established();
    const sack: TcpOption[] = [
      { kind: 'nop' },
      { kind: 'nop' },
      { kind: 'sack', blocks: [{ left: C_ISN + 6, right: C_ISN + 11 }] },
    ];
    const out = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 1, flags: TCP_ACK, options: sack }),
          5,
        ),
      ),
    );
    expect(out).toHaveLength(1);
    // The option's 10 bytes become NOPs: same header length, no block with left >= right.
    expect(out[0]?.tcp.options.find((o) => o.kind === 'sack')).toBeUndefined();
    expect(out[0]?.tcp.options.filter((o) => o.kind === 'nop')).toHaveLength(12);
  });

  it('R1.9 a block of bytes held past the hole reaches the client whole while the ack is not clamped', () => {
    const { e, conn } = established();
    // 'hello' is lost on the LAN; 'world' arrives past the hole: held (R1.1), forwarded.
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 6, ack: S_ISN + 1, flags: TCP_ACK, payload: 'world' }),
      4,
    );
    const dupAck = (ack: number, blocks: { left: number; right: number }[], at: number) =>
      lanSegs(
        copy(
          e.onTunPacket(
            kernelPacket({
              seq: S_ISN + 1,
              ack,
              flags: TCP_ACK,
              options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks }],
            }),
            at,
          ),
        ),
      )[0]?.tcp.options.find((o) => o.kind === 'sack');
    // Not clamped (the kernel's ack C_ISN + 1 is stored): the held block goes whole; one the
    // SSW does not hold wholly (past 'world') is cut at stableSeq as R1.5 says: removed.
    expect(
      dupAck(
        C_ISN + 1,
        [
          { left: C_ISN + 6, right: C_ISN + 11 },
          { left: C_ISN + 6, right: C_ISN + 12 },
        ],
        5,
      ),
    ).toEqual({ kind: 'sack', blocks: [{ left: C_ISN + 6, right: C_ISN + 11 }] });
    // The hole fills; the kernel acks all, the logger has stored only 'hello': the ack is
    // clamped at C_ISN + 6, and a block above a clamped ack is cut (the client would resend
    // what the logger has not stored yet): here, removed.
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'hello' }),
      6,
    );
    e.onLoggerMessage({ kind: 'DataStored', conn, stableSeq: C_ISN + 6, finLogged: false }, 7);
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 16, ack: S_ISN + 1, flags: TCP_ACK, payload: 'later' }),
      8,
    );
    expect(dupAck(C_ISN + 11, [{ left: C_ISN + 16, right: C_ISN + 21 }], 9)).toBeUndefined();
  });

  it('R1.5 SACK: a block past stableSeq is cut, empty and stale blocks removed, a D-SACK kept', () => {
    const { e, conn } = established();
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'hello' }),
      4,
    );
    e.onLoggerMessage({ kind: 'DataStored', conn, stableSeq: C_ISN + 6, finLogged: false }, 5);
    // The kernel acks 2 bytes (it lost the rest) and SACKs around stableSeq = C_ISN + 6.
    const sack: TcpOption[] = [
      { kind: 'nop' },
      { kind: 'nop' },
      {
        kind: 'sack',
        blocks: [
          { left: C_ISN + 1, right: C_ISN + 3 }, // D-SACK: first, below the ack: kept
          { left: C_ISN + 21, right: C_ISN + 26 }, // wholly unstored: would be empty, removed
          { left: C_ISN + 4, right: C_ISN + 9 }, // reaches past stableSeq: cut at C_ISN + 6
          { left: C_ISN + 1, right: C_ISN + 2 }, // below the ack, not first: removed
        ],
      },
    ];
    const out = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 3, flags: TCP_ACK, options: sack }),
          6,
        ),
      ),
    );
    expect(out).toHaveLength(1);
    expect(out[0]?.tcp.ack).toBe(C_ISN + 3);
    expect(out[0]?.tcp.options.find((o) => o.kind === 'sack')).toEqual({
      kind: 'sack',
      blocks: [
        { left: C_ISN + 1, right: C_ISN + 3 },
        { left: C_ISN + 4, right: C_ISN + 6 },
      ],
    });
    expect(out[0]?.tcp.options.filter((o) => o.kind === 'nop')).toHaveLength(2 + 16);
  });

  it('R1.7 ClientAcked reports the client ack lazily, only when it moved', () => {
    const { e, conn } = established();
    const acked = (fx: SswEffect[]) => loggerMsgs(fx).filter((m) => m.kind === 'ClientAcked');
    expect(acked(copy(e.onTick(10)))).toEqual([
      { kind: 'ClientAcked', conn, clientAck: S_ISN + 1 },
    ]);
    e.onTunPacket(
      kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 1, flags: TCP_ACK, payload: 'world' }),
      20,
    );
    e.onLanFrame(clientFrame({ seq: C_ISN + 1, ack: S_ISN + 6, flags: TCP_ACK }), 30);
    expect(acked(copy(e.onTick(50)))).toHaveLength(0);
    expect(acked(copy(e.onTick(150)))).toEqual([
      { kind: 'ClientAcked', conn, clientAck: S_ISN + 6 },
    ]);
    expect(acked(copy(e.onTick(300)))).toHaveLength(0);
  });

  it('messages.md resend: after a reconnect the unacked LogData goes again, in order', () => {
    const { e, conn } = established();
    e.onLanFrame(clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'ab' }), 4);
    e.onLanFrame(clientFrame({ seq: C_ISN + 3, ack: S_ISN + 1, flags: TCP_ACK, payload: 'cd' }), 5);
    e.onLoggerMessage({ kind: 'DataStored', conn, stableSeq: C_ISN + 3, finLogged: false }, 6);
    const again = loggerMsgs(
      copy(e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }, 7)),
    );
    expect(again.map((m) => (m.kind === 'LogData' ? m.seq : -1))).toEqual([C_ISN + 3]);
  });
});

describe('SSW engine: R5 a crash is silent', () => {
  it('R5.1/R5.2 holds the kernel FIN until CloseLogged, then sends it', () => {
    const { e } = established();
    const fin = copy(
      e.onTunPacket(
        kernelPacket({
          seq: S_ISN + 1,
          ack: C_ISN + 1,
          flags: TCP_ACK | TCP_FIN,
          options: ts(7010, 100),
        }),
        4,
      ),
    );
    const out = lanSegs(fin);
    expect(out).toHaveLength(1);
    expect((out[0]?.tcp.flags ?? TCP_FIN) & TCP_FIN).toBe(0);
    expect(logEvents(fin).map((x) => x.rule)).toContain('R5.1');
    const closed = lanSegs(
      copy(
        e.onLoggerMessage(
          { kind: 'CloseLogged', clientAddr: CLIENT, clientPort: CPORT, how: 'end', offset: 0 },
          5,
        ),
      ),
    );
    expect(closed).toHaveLength(1);
    expect(closed[0]?.tcp).toMatchObject({ seq: S_ISN + 1, flags: TCP_FIN | TCP_ACK });
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('closing');
  });

  it('a connection whose FINs are both through and acked is forgotten (ConnClosed)', () => {
    const { e, conn } = established();
    e.onTunPacket(kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 1, flags: TCP_ACK | TCP_FIN }), 4);
    e.onLoggerMessage(
      { kind: 'CloseLogged', clientAddr: CLIENT, clientPort: CPORT, how: 'end', offset: 0 },
      5,
    );
    // The client acks the FIN and closes too; the kernel acks the client's FIN.
    e.onLanFrame(clientFrame({ seq: C_ISN + 1, ack: S_ISN + 2, flags: TCP_ACK | TCP_FIN }), 6);
    e.onTunPacket(kernelPacket({ seq: S_ISN + 2, ack: C_ISN + 2, flags: TCP_ACK }), 7);
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('closing');
    // R5.7: kept until the client has been told of its FIN (the logger stored it).
    expect(loggerMsgs(copy(e.onTick(8)))).not.toContainEqual({ kind: 'ConnClosed', conn });
    e.onLoggerMessage({ kind: 'DataStored', conn, stableSeq: C_ISN + 2, finLogged: true }, 9);
    const done = copy(e.onTick(10));
    expect(loggerMsgs(done)).toContainEqual({ kind: 'ConnClosed', conn });
    expect(e.connection(CLIENT, CPORT, SPORT)).toBeUndefined();
    expect(e.connectionCount()).toBe(0);
  });

  it('R5.7 the client half-closed, its last bytes not yet stored when both FINs pass: the SSW answers its retransmissions (a closed kernel would reset) and forgets the connection only once it acked the FIN', () => {
    // The lab's half-closed case: the kernel has the client's last bytes and FIN, the
    // application echoes and closes, the kernel's FIN passes at the close with an ack R1.2
    // clamps at stableSeq, and the client's ack of it closes the kernel socket (LAST_ACK ->
    // CLOSED). The client, never told of its FIN, retransmits it: the kernel would answer RST.
    const { e, conn } = established();
    const tail = copy(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK | TCP_FIN, payload: 'tail' }),
        4,
      ),
    );
    expect(loggerMsgs(tail)).toContainEqual(
      expect.objectContaining({ kind: 'LogData', conn, seq: C_ISN + 1, fin: true }),
    );
    expect(tunSegs(tail)).toHaveLength(1);
    e.onLoggerMessage(
      { kind: 'CloseLogged', clientAddr: CLIENT, clientPort: CPORT, how: 'end', offset: 4 },
      5,
    );
    const fin = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({
            seq: S_ISN + 1,
            ack: C_ISN + 6,
            flags: TCP_ACK | TCP_FIN,
            payload: 'tail',
            options: ts(7010, 100),
          }),
          6,
        ),
      ),
    );
    // R1.2: the FIN passes at the close, its ack held at what the logger stored.
    expect(fin[0]?.tcp).toMatchObject({ seq: S_ISN + 1, ack: C_ISN + 1 });
    expect((fin[0]?.tcp.flags ?? 0) & TCP_FIN).toBe(TCP_FIN);
    // The client acks the server's FIN; the kernel gets it and closes its socket.
    const finAck = copy(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 6, ack: S_ISN + 6, flags: TCP_ACK, options: ts(101, 7010) }),
        7,
      ),
    );
    expect(tunSegs(finAck)).toHaveLength(1);
    // Not forgotten: the client has not been told of its FIN.
    expect(loggerMsgs(copy(e.onTick(8)))).not.toContainEqual({ kind: 'ConnClosed', conn });
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('closing');
    // Its retransmission must not reach the closed kernel; the SSW answers (still clamped: I1).
    const again = copy(
      e.onLanFrame(
        clientFrame({
          seq: C_ISN + 1,
          ack: S_ISN + 6,
          flags: TCP_ACK | TCP_FIN,
          payload: 'tail',
          options: ts(120, 7010),
        }),
        220,
      ),
    );
    expect(tunSegs(again)).toHaveLength(0);
    expect(lanSegs(again).map((x) => x.tcp)).toEqual([
      expect.objectContaining({ seq: S_ISN + 6, ack: C_ISN + 1, flags: TCP_ACK }),
    ]);
    // A pure ACK needs no answer and must not reach the kernel either.
    const pure = copy(
      e.onLanFrame(clientFrame({ seq: C_ISN + 6, ack: S_ISN + 6, flags: TCP_ACK }), 221),
    );
    expect(tunSegs(pure)).toHaveLength(0);
    expect(lanSegs(pure)).toHaveLength(0);
    expect(e.stats.answeredAfterClose).toBe(2);
    // R1.4: the logger stores the tail and the FIN: the SSW acks the FIN itself.
    const stored = lanSegs(
      copy(
        e.onLoggerMessage({ kind: 'DataStored', conn, stableSeq: C_ISN + 6, finLogged: true }, 230),
      ),
    );
    expect(stored.map((x) => x.tcp)).toEqual([
      expect.objectContaining({ seq: S_ISN + 6, ack: C_ISN + 6, flags: TCP_ACK }),
    ]);
    const done = copy(e.onTick(240));
    expect(loggerMsgs(done)).toContainEqual({ kind: 'ConnClosed', conn });
    expect(e.connection(CLIENT, CPORT, SPORT)).toBeUndefined();
  });

  it('R5.7 after re-creating a connection the client half-closed before the crash (the lab case, translated)', () => {
    const { e, conn, logSyn } = established();
    // The client sends its last bytes and FIN; the kernel takes them; nothing is stored yet.
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK | TCP_FIN, payload: 'tail' }),
      4,
    );
    e.onTunPacket(kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 6, flags: TCP_ACK }), 5);
    e.onAppExit(6);
    // The log has the record only, but 'tail' and the FIN are on their way to the logger
    // (pending): R6.5 injects them with the replay; the client's retransmission is a duplicate.
    e.startRecovery([{ ...logSyn, kind: 'ReplaySyn', clientAck: S_ISN + 1 } as LoggerMessage], 100);
    const K2 = 0xffff_fff0;
    const cap = copy(
      e.onTunPacket(
        kernelPacket({
          seq: K2,
          ack: C_ISN + 1,
          flags: TCP_SYN | TCP_ACK,
          options: synAckOpts(50, 9),
        }),
        101,
      ),
    );
    expect(tunSegs(cap).map((x) => [x.text, x.tcp.flags & TCP_FIN])).toEqual([
      ['', 0],
      ['tail', 0],
      ['', TCP_FIN],
    ]);
    const retx = copy(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK | TCP_FIN, payload: 'tail' }),
        300,
      ),
    );
    expect(loggerMsgs(retx)).toEqual([]);
    expect(tunSegs(retx)).toEqual([]);
    e.onTunPacket(
      kernelPacket({ seq: seqAdd(K2, 1), ack: C_ISN + 6, flags: TCP_ACK, options: ts(60, 120) }),
      301,
    );
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('translated');
    // The replayed application echoes and closes at offset 4; the kernel's FIN passes, its ack
    // held at stableSeq (R1.2).
    e.onLoggerMessage(
      { kind: 'CloseLogged', clientAddr: CLIENT, clientPort: CPORT, how: 'end', offset: 4 },
      302,
    );
    const fin = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({
            seq: seqAdd(K2, 1),
            ack: C_ISN + 6,
            flags: TCP_ACK | TCP_FIN,
            payload: 'tail',
            options: ts(61, 120),
          }),
          303,
        ),
      ),
    );
    expect(fin[0]?.tcp).toMatchObject({ seq: S_ISN + 1, ack: C_ISN + 1 });
    expect((fin[0]?.tcp.flags ?? 0) & TCP_FIN).toBe(TCP_FIN);
    // The client acks it (the kernel, in LAST_ACK, closes), then retransmits its FIN.
    const finAck = copy(
      e.onLanFrame(clientFrame({ seq: C_ISN + 6, ack: S_ISN + 6, flags: TCP_ACK }), 304),
    );
    expect(tunSegs(finAck)[0]?.tcp.ack).toBe(seqAdd(K2, 6));
    e.onTick(305);
    const again = copy(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 1, ack: S_ISN + 6, flags: TCP_ACK | TCP_FIN, payload: 'tail' }),
        510,
      ),
    );
    expect(tunSegs(again)).toHaveLength(0);
    expect(lanSegs(again).map((x) => x.tcp)).toEqual([
      expect.objectContaining({ seq: S_ISN + 6, ack: C_ISN + 1, flags: TCP_ACK }),
    ]);
    const stored = lanSegs(
      copy(
        e.onLoggerMessage({ kind: 'DataStored', conn, stableSeq: C_ISN + 6, finLogged: true }, 520),
      ),
    );
    expect(stored.map((x) => x.tcp)).toEqual([
      expect.objectContaining({ seq: S_ISN + 6, ack: C_ISN + 6, flags: TCP_ACK }),
    ]);
    expect(loggerMsgs(copy(e.onTick(530)))).toContainEqual({ kind: 'ConnClosed', conn });
  });

  it('R5.4 after the app dies: its FIN/RST never reach the client and its socket is aborted', () => {
    const { e } = established();
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'hello' }),
      4,
    );
    e.onTunPacket(kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 6, flags: TCP_ACK }), 5);
    const exit = copy(e.onAppExit(6));
    const rst = tunSegs(exit);
    expect(rst).toHaveLength(1);
    // RFC 5961: exactly rcv.nxt, or the kernel answers with a challenge ACK instead.
    expect(rst[0]?.tcp).toMatchObject({
      seq: C_ISN + 6,
      flags: TCP_RST,
      srcPort: CPORT,
      dstPort: SPORT,
    });
    expect(lanSegs(exit)).toHaveLength(0);
    const fin = copy(
      e.onTunPacket(kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 6, flags: TCP_ACK | TCP_FIN }), 7),
    );
    const reset = copy(
      e.onTunPacket(kernelPacket({ seq: S_ISN + 2, ack: C_ISN + 6, flags: TCP_ACK | TCP_RST }), 8),
    );
    expect(lanSegs(fin)).toHaveLength(0);
    expect(lanSegs(reset)).toHaveLength(0);
    expect(e.stats.suppressedCrash).toBe(2);
    // Client data meanwhile is logged but not forwarded into the dead kernel.
    const more = copy(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 6, ack: S_ISN + 1, flags: TCP_ACK, payload: 'more' }),
        9,
      ),
    );
    expect(loggerMsgs(more)).toHaveLength(1);
    expect(tunSegs(more)).toHaveLength(0);
  });
});

describe('SSW engine: R5.2 the FIN must sit at the logged close position', () => {
  const hasFin = (fx: readonly SswEffect[]): boolean =>
    lanSegs(copy(fx)).some((x) => ((x.tcp.flags ?? 0) & TCP_FIN) !== 0);
  const closeLogged = (offset: number, how: 'end' | 'destroy' = 'end'): LoggerMessage => ({
    kind: 'CloseLogged',
    clientAddr: CLIENT,
    clientPort: CPORT,
    how,
    offset,
  });

  it('a crash FIN before the close position is not passed; re-creation and replay put the FIN where the close is (tla MCBugFinAtAnyPosition)', () => {
    const { e, conn, logSyn } = established();
    e.onLanFrame(
      clientFrame({
        seq: C_ISN + 1,
        ack: S_ISN + 1,
        flags: TCP_ACK,
        payload: 'hello',
        options: ts(110, 7000),
      }),
      4,
    );
    e.onLoggerMessage({ kind: 'DataStored', conn, stableSeq: C_ISN + 6, finLogged: false }, 5);
    // The application wrote 'ab', then 'cd', then closed. 'ab' reached the kernel and the
    // client; the close determinant is stored (at offset 4), but the process dies before the
    // NSW hands 'cd' and the FIN to the kernel.
    e.onTunPacket(
      kernelPacket({
        seq: S_ISN + 1,
        ack: C_ISN + 6,
        flags: TCP_ACK | TCP_PSH,
        payload: 'ab',
        options: ts(7010, 110),
      }),
      6,
    );
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 6, ack: S_ISN + 3, flags: TCP_ACK, options: ts(120, 7010) }),
      7,
    );
    e.onLoggerMessage(closeLogged(4), 8);
    expect(e.connection(CLIENT, CPORT, SPORT)?.closeSeq).toBe(S_ISN + 5);
    // The dying kernel's FIN arrives before the SSW hears of the death: it sits at S_ISN + 3,
    // not at the close (S_ISN + 5), so it is a crash FIN: held, not passed.
    const crashFin = e.onTunPacket(
      kernelPacket({
        seq: S_ISN + 3,
        ack: C_ISN + 6,
        flags: TCP_ACK | TCP_FIN,
        options: ts(7011, 120),
      }),
      9,
    );
    expect(hasFin(crashFin)).toBe(false);
    expect(e.connection(CLIENT, CPORT, SPORT)).toMatchObject({ mode: 'protected', heldFin: true });
    // A CloseLogged repeated (after a reconnect) does not release a FIN at the wrong position.
    expect(hasFin(e.onLoggerMessage(closeLogged(4), 10))).toBe(false);
    // The death: orphaned (the close is logged, but its FIN never passed), the FIN dropped.
    const exit = e.onAppExit(11);
    expect(hasFin(exit)).toBe(false);
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('orphaned');

    // Local recovery; the logger repeats the close after the FetchLog stream.
    e.startRecovery(
      [
        { ...logSyn, kind: 'ReplaySyn', clientAck: S_ISN + 3 } as LoggerMessage,
        {
          kind: 'ReplayData',
          conn,
          seq: C_ISN + 1,
          payload: new TextEncoder().encode('hello'),
          fin: false,
        },
      ],
      1000,
    );
    e.onLoggerMessage(closeLogged(4), 1000);
    const K2 = 0xffff_fffd; // the new incarnation's ISN: the close position wraps in kernel space
    e.onTunPacket(
      kernelPacket({
        seq: K2,
        ack: C_ISN + 1,
        flags: TCP_SYN | TCP_ACK,
        options: synAckOpts(50, 9),
      }),
      1001,
    );
    e.onTunPacket(
      kernelPacket({ seq: seqAdd(K2, 1), ack: C_ISN + 6, flags: TCP_ACK, options: ts(60, 110) }),
      1002,
    );
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('translated');
    // The replayed application writes 'abcd' and closes: the FIN is at the close (translated).
    const regen = copy(
      e.onTunPacket(
        kernelPacket({
          seq: seqAdd(K2, 1),
          ack: C_ISN + 6,
          flags: TCP_ACK | TCP_PSH | TCP_FIN,
          payload: 'abcd',
          options: ts(61, 120),
        }),
        1003,
      ),
    );
    const out = lanSegs(regen);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ text: 'abcd', tcp: { seq: S_ISN + 1 } });
    expect((out[0]?.tcp.flags ?? 0) & TCP_FIN).toBe(TCP_FIN);
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('closing');
  });

  it('a FIN at the close position passes; one held elsewhere is not released by CloseLogged', () => {
    const at = established();
    at.e.onTunPacket(
      kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 1, flags: TCP_ACK, payload: 'ab' }),
      4,
    );
    at.e.onLoggerMessage(closeLogged(2), 5);
    const fin = at.e.onTunPacket(
      kernelPacket({ seq: S_ISN + 3, ack: C_ISN + 1, flags: TCP_ACK | TCP_FIN }),
      6,
    );
    expect(hasFin(fin)).toBe(true);
    expect(at.e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('closing');

    // A FIN that came first is held (R5.1); the close then logged is at another position.
    const early = established();
    early.e.onTunPacket(
      kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 1, flags: TCP_ACK | TCP_FIN }),
      4,
    );
    expect(hasFin(early.e.onLoggerMessage(closeLogged(7), 5))).toBe(false);
    expect(early.e.connection(CLIENT, CPORT, SPORT)).toMatchObject({
      mode: 'protected',
      heldFin: true,
      closeLogged: true,
    });
    // Held at the right position, it is released as a FIN+ACK the SSW builds (R5.2).
    const right = established();
    right.e.onTunPacket(
      kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 1, flags: TCP_ACK | TCP_FIN }),
      4,
    );
    expect(hasFin(right.e.onLoggerMessage(closeLogged(0), 5))).toBe(true);
  });

  it('RST: after a logged destroy it passes at or below the close position; after an end only at or after it', () => {
    const rstAt = (how: 'end' | 'destroy', offset: number, seq: number): boolean => {
      const { e } = established();
      e.onLoggerMessage(closeLogged(offset, how), 4);
      const fx = copy(
        e.onTunPacket(kernelPacket({ seq, ack: C_ISN + 1, flags: TCP_ACK | TCP_RST }), 5),
      );
      const passed = lanSegs(fx).some((x) => ((x.tcp.flags ?? 0) & TCP_RST) !== 0);
      // Not passed means held (R5.3), never lost while the application runs.
      if (!passed) expect(e.connection(CLIENT, CPORT, SPORT)?.heldRst).toBe(true);
      return passed;
    };
    expect(rstAt('destroy', 4, S_ISN + 1)).toBe(true); // unsent output discarded by the reset
    expect(rstAt('destroy', 4, S_ISN + 5)).toBe(true);
    expect(rstAt('destroy', 4, S_ISN + 6)).toBe(false); // beyond anything the app wrote
    expect(rstAt('end', 4, S_ISN + 3)).toBe(false); // a crash's: output still missing
    expect(rstAt('end', 4, S_ISN + 5)).toBe(true);
  });
});

describe('SSW engine: R6 re-creation and R7 translation', () => {
  it('fake SYN, captured SYN-ACK, fake ACK, injection, go-live prompt, local ack of regenerated bytes, translation', () => {
    const { e, conn, logSyn } = established();
    // Before the crash: 'hello' stored, the server answered 'world', the client acked it.
    e.onLanFrame(
      clientFrame({
        seq: C_ISN + 1,
        ack: S_ISN + 1,
        flags: TCP_ACK,
        payload: 'hello',
        options: ts(110, 7000),
      }),
      4,
    );
    e.onLoggerMessage({ kind: 'DataStored', conn, stableSeq: C_ISN + 6, finLogged: false }, 5);
    e.onTunPacket(
      kernelPacket({
        seq: S_ISN + 1,
        ack: C_ISN + 6,
        flags: TCP_ACK,
        payload: 'world',
        window: 500,
        options: ts(7010, 110),
      }),
      6,
    );
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 6, ack: S_ISN + 6, flags: TCP_ACK, options: ts(120, 7010) }),
      7,
    );
    e.onAppExit(10);

    const records: LoggerMessage[] = [
      { ...logSyn, kind: 'ReplaySyn', clientAck: S_ISN + 6 } as LoggerMessage,
      {
        kind: 'ReplayData',
        conn,
        seq: C_ISN + 1,
        payload: new TextEncoder().encode('hello'),
        fin: false,
      },
    ];
    const start = copy(e.startRecovery(records, 1000));
    const fakeSyn = tunSegs(start);
    expect(fakeSyn).toHaveLength(1);
    expect(fakeSyn[0]?.tcp).toMatchObject({
      seq: C_ISN,
      flags: TCP_SYN,
      srcPort: CPORT,
      dstPort: SPORT,
    });
    expect(fakeSyn[0]?.tcp.options).toEqual(
      expect.arrayContaining([
        { kind: 'mss', mss: 1460 },
        { kind: 'sackPermitted' },
        { kind: 'wscale', shift: 7 },
      ]),
    );
    expect(e.hostState().app).toBe('recovering');

    // The new kernel answers with another ISN (across the wrap), another TS clock and scale.
    const K2 = 0xffff_fff0;
    const cap = copy(
      e.onTunPacket(
        kernelPacket({
          seq: K2,
          ack: C_ISN + 1,
          flags: TCP_SYN | TCP_ACK,
          options: synAckOpts(50, 9),
        }),
        1001,
      ),
    );
    expect(lanSegs(cap)).toHaveLength(0);
    const toKernel = tunSegs(cap);
    expect(toKernel[0]?.tcp).toMatchObject({ seq: C_ISN + 1, ack: seqAdd(K2, 1), flags: TCP_ACK });
    expect(toKernel[1]).toMatchObject({
      text: 'hello',
      tcp: { seq: C_ISN + 1, ack: seqAdd(K2, 1) },
    });
    const view = e.connection(CLIENT, CPORT, SPORT);
    expect(view?.deltaSeq).toBe(seqAdd(S_ISN, -K2));
    expect(view?.mode).toBe('injecting');

    // The kernel acks the injected stream: go live, prompt the client with 3 duplicate ACKs.
    const live = copy(
      e.onTunPacket(
        kernelPacket({
          seq: seqAdd(K2, 1),
          ack: C_ISN + 6,
          flags: TCP_ACK,
          window: 100,
          options: ts(60, 110),
        }),
        1002,
      ),
    );
    const prompt = lanSegs(live);
    expect(prompt).toHaveLength(3);
    for (const p of prompt) {
      expect(p.tcp).toMatchObject({ seq: S_ISN + 6, ack: C_ISN + 6, flags: TCP_ACK });
      // R6.3: PAWS: every TSval the client sees now is above the old incarnation's.
      expect(seqSub(p.ts?.tsVal ?? 0, 7010)).toBeGreaterThan(0);
    }
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('translated');
    expect(e.hostState().app).toBe('appRunning');

    // R6.6: the replayed app regenerates 'world', which the client already holds: acked locally.
    const regen = copy(
      e.onTunPacket(
        kernelPacket({
          seq: seqAdd(K2, 1),
          ack: C_ISN + 6,
          flags: TCP_ACK | TCP_PSH,
          payload: 'world',
          window: 100,
          options: ts(61, 110),
        }),
        1003,
      ),
    );
    expect(lanSegs(regen)).toHaveLength(0);
    const local = tunSegs(regen);
    expect(local).toHaveLength(1);
    expect(local[0]?.tcp).toMatchObject({ ack: seqAdd(K2, 6), flags: TCP_ACK, srcPort: CPORT });

    // New output goes out translated (R7.1, R7.2); the window is re-encoded for ws 7 (R7.3).
    const fresh = copy(
      e.onTunPacket(
        kernelPacket({
          seq: seqAdd(K2, 6),
          ack: C_ISN + 6,
          flags: TCP_ACK | TCP_PSH,
          payload: '!!',
          window: 100,
          options: ts(62, 110),
        }),
        1004,
      ),
    );
    const out = lanSegs(fresh);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ text: '!!', tcp: { seq: S_ISN + 6, ack: C_ISN + 6 } });
    const tsDelta = e.connection(CLIENT, CPORT, SPORT)?.tsDelta ?? 0;
    expect(out[0]?.ts?.tsVal).toBe(seqAdd(62, tsDelta));
    // The kernel offers 100 << 9 bytes; at the client's scale 7 that is at least 400 units.
    expect(out[0]?.tcp.window).toBeGreaterThanOrEqual(400);

    // R7.4 inbound: ack and TSecr back into kernel space.
    const inb = tunSegs(
      copy(
        e.onLanFrame(
          clientFrame({
            seq: C_ISN + 6,
            ack: S_ISN + 8,
            flags: TCP_ACK | TCP_PSH,
            payload: 'more',
            options: ts(130, seqAdd(62, tsDelta)),
          }),
          1005,
        ),
      ),
    );
    expect(inb).toHaveLength(1);
    expect(inb[0]?.tcp.ack).toBe(seqAdd(K2, 8));
    expect(inb[0]?.ts).toEqual({ tsVal: 130, tsEcr: 62 });
  });

  it('R6.5 injected bytes the kernel dropped are injected again from its ack', () => {
    const { e, conn, logSyn } = established({ reinjectMs: 500 });
    e.onAppExit(10);
    e.startRecovery(
      [
        { ...logSyn, kind: 'ReplaySyn', clientAck: null } as LoggerMessage,
        {
          kind: 'ReplayData',
          conn,
          seq: C_ISN + 1,
          payload: new TextEncoder().encode('hello'),
          fin: true,
        },
      ],
      20,
    );
    const first = tunSegs(
      copy(
        e.onTunPacket(
          kernelPacket({
            seq: 50,
            ack: C_ISN + 1,
            flags: TCP_SYN | TCP_ACK,
            options: synAckOpts(3, 7),
          }),
          21,
        ),
      ),
    );
    expect(first.map((x) => x.text)).toEqual(['', 'hello', '']);
    expect((first[2]?.tcp.flags ?? 0) & TCP_FIN).toBe(TCP_FIN);
    // Nothing acked: within reinjectMs nothing happens, after it the stream goes again.
    expect(tunSegs(copy(e.onTick(300)))).toHaveLength(0);
    const again = tunSegs(copy(e.onTick(600)));
    expect(again.map((x) => [x.tcp.seq, x.text])).toEqual([
      [C_ISN + 1, 'hello'],
      [C_ISN + 6, ''],
    ]);
    // The kernel acks data and FIN: go live.
    const live = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({ seq: 51, ack: C_ISN + 7, flags: TCP_ACK, options: ts(4, 100) }),
          601,
        ),
      ),
    );
    expect(live).toHaveLength(3);
  });

  it('R6.3 a kernel RST to the fake SYN (nobody listening yet) is dropped and the SYN retried on a tick', () => {
    const { e, conn, logSyn } = established({ recreateRetryMs: 100 });
    e.onAppExit(10);
    e.startRecovery([{ ...logSyn, kind: 'ReplaySyn', clientAck: null } as LoggerMessage], 20);
    const rst = copy(
      e.onTunPacket(kernelPacket({ seq: 0, ack: C_ISN + 1, flags: TCP_RST | TCP_ACK }), 21),
    );
    expect(lanSegs(rst)).toHaveLength(0);
    expect(tunSegs(copy(e.onTick(50)))).toHaveLength(0);
    const retry = tunSegs(copy(e.onTick(200)));
    expect(retry).toHaveLength(1);
    expect(retry[0]?.tcp).toMatchObject({ seq: C_ISN, flags: TCP_SYN });
    expect(conn).toBeGreaterThan(0);
  });

  it('R6.1 a standby keeps recovery records until its takeover; no fake SYN before', () => {
    const e = new SswEngine(config({ role: 'standby' }));
    const rec = {
      kind: 'ReplaySyn' as const,
      conn: 4,
      clientAddr: CLIENT,
      clientPort: CPORT,
      serverAddr: SERVICE,
      serverPort: SPORT,
      clientIsn: C_ISN,
      serverIsn: S_ISN,
      clientOpts: { mss: 1460, wscale: null, sackOk: false, tsVal: null, tsEcr: null },
      serverOpts: { mss: 1460, wscale: null, sackOk: false, tsVal: null, tsEcr: null },
      synTimeMs: 0,
      clientAck: null,
    };
    expect(tunSegs(copy(e.startRecovery([rec], 1)))).toHaveLength(0);
    const tk = tunSegs(copy(e.takeover(2)));
    expect(tk).toHaveLength(1);
    expect(tk[0]?.tcp).toMatchObject({ seq: C_ISN, flags: TCP_SYN });
    expect(e.hostState()).toMatchObject({ role: 'active', app: 'recovering' });
  });

  it('R6.3 across hosts: synTimeMs is wall-clock time, so the backup estimates the TS clock right', () => {
    // Each process passes its own monotonic clock plus the offset to wall-clock time.
    const { logSyn } = established({ wallClockOffsetMs: 1_000_000 });
    expect(logSyn.synTimeMs).toBe(1_000_002);
    const b = new SswEngine(config({ role: 'standby', wallClockOffsetMs: 5_000_000 }));
    b.takeover(0);
    b.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 60_000 }, 1);
    b.onLanFrame(buildArpFrame(arpRequest(CLIENT_MAC, CLIENT, SERVICE)), 2);
    b.startRecovery([{ ...logSyn, kind: 'ReplaySyn', clientAck: null } as LoggerMessage], 100);
    const live = lanSegs(
      copy(
        b.onTunPacket(
          kernelPacket({
            seq: 9,
            ack: C_ISN + 1,
            flags: TCP_SYN | TCP_ACK,
            options: synAckOpts(3, 7),
          }),
          100,
        ),
      ),
    );
    // 7000 at the primary's SYN-ACK, 3_999_998 ms of wall time since, 60 s margin.
    expect(live[0]?.ts?.tsVal).toBe(7000 + (5_000_100 - 1_000_002) + 60_000);
  });

  it('failover: a standby takes over and re-creates from the log alone', () => {
    const e = new SswEngine(config({ role: 'standby', firstConnId: 1 }));
    // A.1: silent before takeover.
    const arp = copy(e.onLanFrame(buildArpFrame(arpRequest(CLIENT_MAC, CLIENT, SERVICE)), 0));
    expect(arp).toHaveLength(0);
    const tk = copy(e.takeover(1));
    // A.2: gratuitous ARPs.
    const garps = tk.flatMap((x) =>
      x.to === 'lan' ? [parseArpBytes(x.frame.subarray(ETHERNET_HEADER_LEN))] : [],
    );
    expect(garps).toHaveLength(3);
    for (const g of garps)
      expect(g.ok && g.value.senderIp === SERVICE && g.value.targetIp === SERVICE).toBe(true);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 60_000 }, 2);
    // R5.6: before the replay the connection is unknown here; its segments must not reach a
    // kernel that would answer with a RST. (A pure ACK: one with data would be kept, R6.10.)
    const early = copy(
      e.onLanFrame(clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK }), 2),
    );
    expect(early).toHaveLength(0);
    expect(e.hostState().app).toBe('appDead');
    const syn = {
      kind: 'ReplaySyn' as const,
      conn: 7,
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
    };
    // Replay through the logger link: collected until ReplayEnd.
    expect(copy(e.onLoggerMessage(syn, 3))).toHaveLength(0);
    const fx = copy(e.onLoggerMessage({ kind: 'ReplayEnd', conns: 1, bytes: 0, dets: 0 }, 4));
    expect(tunSegs(fx)[0]?.tcp).toMatchObject({ seq: C_ISN, flags: TCP_SYN });
    // Now active: answers ARP; the client MAC is learned from the ARP request.
    const reply = copy(e.onLanFrame(buildArpFrame(arpRequest(CLIENT_MAC, CLIENT, SERVICE)), 5));
    expect(reply).toHaveLength(1);
    // Nothing to inject (no client bytes logged): live as soon as the SYN-ACK is captured.
    const live = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({
            seq: 77,
            ack: C_ISN + 1,
            flags: TCP_SYN | TCP_ACK,
            options: synAckOpts(10, 7),
          }),
          6,
        ),
      ),
    );
    expect(live).toHaveLength(3);
    expect(live[0]?.tcp).toMatchObject({ seq: S_ISN + 1, ack: C_ISN + 1 });
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('translated');
    // New connections get ids above the replayed ones.
    const synFx = copy(
      e.onLanFrame(clientFrame({ seq: 1, flags: TCP_SYN, options: CLIENT_OPTS }, CPORT + 1), 8),
    );
    expect(tunSegs(synFx)).toHaveLength(1);
    const ls = loggerMsgs(
      copy(
        e.onTunPacket(
          kernelPacket(
            { seq: 9, ack: 2, flags: TCP_SYN | TCP_ACK, options: synAckOpts(12, 7) },
            CPORT + 1,
          ),
          9,
        ),
      ),
    );
    expect(ls[0]).toMatchObject({ kind: 'LogSyn', conn: 8 });
  });
});

describe('SSW engine: R6.10 segments a standby saw before re-creation', () => {
  const replaySyn = {
    kind: 'ReplaySyn' as const,
    conn: 7,
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
  };
  const replay = (e: SswEngine, at: number): SswEffect[] => {
    e.onLoggerMessage(replaySyn, at);
    e.onLoggerMessage(
      { kind: 'ReplayData', conn: 7, seq: C_ISN + 1, payload: enc('hello'), fin: false },
      at,
    );
    return copy(e.onLoggerMessage({ kind: 'ReplayEnd', conns: 1, bytes: 5, dets: 0 }, at));
  };
  const enc = (t: string): Uint8Array => new TextEncoder().encode(t);

  it('a retransmission seen while standby is logged and injected once the replay re-created its connection', () => {
    const e = new SswEngine(config({ role: 'standby' }));
    // The client's RTO retransmission of bytes the primary never got stored, flooded to the
    // standby before its takeover: dropped (A.1), but kept.
    const seen = copy(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 6, ack: S_ISN + 1, flags: TCP_ACK | TCP_PSH, payload: 'world' }),
        100,
      ),
    );
    expect(seen).toHaveLength(0);
    // A later pure ACK of the same connection does not displace it.
    e.onLanFrame(clientFrame({ seq: C_ISN + 11, ack: S_ISN + 1, flags: TCP_ACK }), 150);
    e.takeover(200);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 60_000 }, 201);
    const end = replay(e, 300);
    // The fake SYN first (R6.2), then the kept segment as a late arrival: logged (R1.1) after
    // the replayed stream, and appended to the injection stream (R6.5).
    expect(tunSegs(end).map((s) => s.tcp.flags & TCP_SYN)).toEqual([TCP_SYN]);
    expect(storeMsgs(end)).toEqual([
      { kind: 'LogData', conn: 7, seq: C_ISN + 6, payload: enc('world'), fin: false },
    ]);
    expect(logEvents(end).find((ev) => ev.rule === 'R6.10')?.detail).toEqual({
      kept: 1,
      handed: 1,
    });
    expect(e.stats.keptHandedOver).toBe(1);
    // The kernel answers the fake SYN: the stream, kept bytes included, goes in.
    const inj = tunSegs(
      copy(
        e.onTunPacket(
          kernelPacket({
            seq: 77,
            ack: C_ISN + 1,
            flags: TCP_SYN | TCP_ACK,
            options: synAckOpts(10, 7),
          }),
          301,
        ),
      ),
    );
    expect(inj.map((s) => s.text).join('')).toBe('helloworld');
    expect(inj.filter((s) => s.text !== '')[0]?.tcp.seq).toBe(C_ISN + 1);
    // The log now runs past the kept bytes.
    expect(e.connection(CLIENT, CPORT, SPORT)?.loggedSeq).toBe(C_ISN + 11);
  });

  it('bounds: a segment older than standbyKeptMaxAgeMs, or of a connection the log does not hold, is not handed over', () => {
    const e = new SswEngine(
      config({ role: 'standby', limits: { standbyKeptMaxAgeMs: 100, maxStandbyKept: 4 } }),
    );
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 6, ack: S_ISN + 1, flags: TCP_ACK, payload: 'stale' }),
      0,
    );
    // Another client port: not in the log; a kernel would answer it with an RST (R5.6).
    e.onLanFrame(
      clientFrame({ seq: 1, ack: 1, flags: TCP_ACK, payload: 'unknown' }, CPORT + 1),
      250,
    );
    e.takeover(260);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 60_000 }, 261);
    const end = replay(e, 300);
    expect(loggerMsgs(end)).toEqual([]);
    expect(tunSegs(end)).toHaveLength(1); // the fake SYN only
    expect(logEvents(end).find((ev) => ev.rule === 'R6.10')?.detail).toEqual({
      kept: 2,
      handed: 0,
    });
  });

  it('an active primary keeps nothing (local recovery has the client retransmit to it)', () => {
    const { e } = established();
    e.onAppExit(10);
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'x' }, CPORT + 3),
      11,
    );
    const end = copy(e.startRecovery([], 12));
    expect(logEvents(end).some((ev) => ev.rule === 'R6.10')).toBe(false);
  });
});

describe('SSW engine: A.3 neighbours', () => {
  it('after a takeover, segments to a client whose MAC is unknown wait for its ARP reply', () => {
    const e = new SswEngine(config({ role: 'standby' }));
    e.takeover(1);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 60_000 }, 2);
    const rec = {
      kind: 'ReplaySyn' as const,
      conn: 3,
      clientAddr: CLIENT,
      clientPort: CPORT,
      serverAddr: SERVICE,
      serverPort: SPORT,
      clientIsn: C_ISN,
      serverIsn: S_ISN,
      clientOpts: { mss: 1460, wscale: 7, sackOk: true, tsVal: 100, tsEcr: 0 },
      serverOpts: { mss: 1460, wscale: 7, sackOk: true, tsVal: 7000, tsEcr: 100 },
      synTimeMs: 0,
      clientAck: null,
    };
    e.startRecovery([rec], 3);
    const cap = copy(
      e.onTunPacket(
        kernelPacket({
          seq: 5,
          ack: C_ISN + 1,
          flags: TCP_SYN | TCP_ACK,
          options: synAckOpts(10, 7),
        }),
        4,
      ),
    );
    // The go-live prompts are held; one ARP request asks for the client.
    expect(lanSegs(cap)).toHaveLength(0);
    const asks = cap.flatMap((x) =>
      x.to === 'lan' ? [parseArpBytes(x.frame.subarray(ETHERNET_HEADER_LEN))] : [],
    );
    expect(asks).toHaveLength(1);
    expect(asks[0]?.ok && asks[0].value.targetIp === CLIENT).toBe(true);
    // The client's ARP reply releases them, addressed to its MAC.
    const reply = buildArpFrame(arpReply(CLIENT_MAC, CLIENT, SERVICE_MAC, SERVICE));
    const out = copy(e.onLanFrame(reply, 5));
    // The log has no clientAck and no bytes: the logged SYN-ACK first (R6.9), then the prompts.
    const segs = lanSegs(out);
    expect(segs).toHaveLength(4);
    expect(segs[0]?.tcp).toMatchObject({ seq: S_ISN, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK });
    expect(segs.slice(1).every((x) => x.tcp.flags === TCP_ACK)).toBe(true);
    for (const f of out)
      expect(
        f.to === 'lan' && Buffer.from(f.frame.subarray(0, 6)).equals(Buffer.from(CLIENT_MAC)),
      ).toBe(true);
  });
});

describe('SSW engine: R6.9 a re-created connection the client may not have seen open', () => {
  const record = (clientAck: number | null): LoggerMessage => ({
    kind: 'ReplaySyn',
    conn: 3,
    clientAddr: CLIENT,
    clientPort: CPORT,
    serverAddr: SERVICE,
    serverPort: SPORT,
    clientIsn: C_ISN,
    serverIsn: S_ISN,
    clientOpts: { mss: 1460, wscale: 7, sackOk: true, tsVal: 100, tsEcr: 0 },
    serverOpts: { mss: 1460, wscale: 7, sackOk: true, tsVal: 7000, tsEcr: 100 },
    synTimeMs: 0,
    clientAck,
  });
  const takenOver = (clientAck: number | null) => {
    const e = new SswEngine(config({ role: 'standby' }));
    e.takeover(1);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 60_000 }, 2);
    // The client's MAC is known (it ARPed for the service address).
    e.onLanFrame(buildArpFrame(arpRequest(CLIENT_MAC, CLIENT, SERVICE)), 2);
    e.startRecovery([record(clientAck)], 3);
    return e;
  };
  const synRetry = (seq = C_ISN) =>
    clientFrame({ seq, flags: TCP_SYN, options: [...CLIENT_OPTS.slice(0, 2), ...ts(150, 0)] });

  it('a SYN retry with the logged ISN gets the logged SYN-ACK, in original space, at any stage', () => {
    const e = takenOver(null);
    // Before the new kernel answered the fake SYN (awaitSynAck).
    const early = lanSegs(copy(e.onLanFrame(synRetry(), 4)));
    expect(early).toHaveLength(1);
    expect(early[0]?.tcp).toMatchObject({
      seq: S_ISN,
      ack: C_ISN + 1,
      flags: TCP_SYN | TCP_ACK,
      window: 0xffff,
    });
    expect(early[0]?.tcp.options).toEqual(
      expect.arrayContaining([
        { kind: 'mss', mss: 1460 },
        { kind: 'sackPermitted' },
        { kind: 'wscale', shift: 7 },
      ]),
    );
    expect(early[0]?.ts).toEqual({ tsVal: 7000, tsEcr: 150 });
    // Another ISN on the same 4-tuple is not this connection's SYN: dropped.
    expect(lanSegs(copy(e.onLanFrame(synRetry(C_ISN + 77), 5)))).toHaveLength(0);
    // The new kernel answers; at go-live the SYN-ACK goes out once more, then the prompts.
    const live = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({
            seq: 90,
            ack: C_ISN + 1,
            flags: TCP_SYN | TCP_ACK,
            options: synAckOpts(10, 7),
          }),
          6,
        ),
      ),
    );
    expect(live.map((x) => x.tcp.flags)).toEqual([TCP_SYN | TCP_ACK, TCP_ACK, TCP_ACK, TCP_ACK]);
    // PAWS: the translated clock never goes below what the client saw.
    expect(seqSub(live[0]?.ts?.tsVal ?? 0, 7000)).toBeGreaterThanOrEqual(0);
    // The client completes its handshake: its ACK reaches the kernel in kernel space.
    const ack = tunSegs(
      copy(e.onLanFrame(clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK }), 7)),
    );
    expect(ack).toHaveLength(1);
    expect(ack[0]?.tcp).toMatchObject({ seq: C_ISN + 1, ack: 91 });
    // From now on a SYN-ACK is not resent on its own; a late SYN duplicate still gets one.
    expect(lanSegs(copy(e.onLanFrame(synRetry(), 8))).map((x) => x.tcp.flags)).toEqual([
      TCP_SYN | TCP_ACK,
    ]);
  });

  it('a connection the log shows acked gets only the go-live prompts', () => {
    const e = takenOver(S_ISN + 1);
    const live = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({
            seq: 90,
            ack: C_ISN + 1,
            flags: TCP_SYN | TCP_ACK,
            options: synAckOpts(10, 7),
          }),
          6,
        ),
      ),
    );
    expect(live.map((x) => x.tcp.flags)).toEqual([TCP_ACK, TCP_ACK, TCP_ACK]);
  });
});

describe('SSW engine: logger loss, fencing, forward mode', () => {
  it('L.2 when the lease expires, held SYN-ACKs are released and clamps lifted', () => {
    const e = new SswEngine(config());
    e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 1000 }, 0);
    e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN, options: CLIENT_OPTS }), 1);
    const held = copy(
      e.onTunPacket(
        kernelPacket({
          seq: S_ISN,
          ack: C_ISN + 1,
          flags: TCP_SYN | TCP_ACK,
          options: synAckOpts(7000, 7),
        }),
        2,
      ),
    );
    expect(lanSegs(held)).toHaveLength(0);
    expect(lanSegs(copy(e.onTick(500)))).toHaveLength(0);
    const expired = copy(e.onTick(2000));
    expect(lanSegs(expired)[0]?.tcp.flags).toBe(TCP_SYN | TCP_ACK);
    expect(e.hostState().logger).toBe('unprotected');
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('unprotected');
    // L.3: a new connection is accepted unprotected: its SYN-ACK is not held.
    e.onLanFrame(clientFrame({ seq: 1, flags: TCP_SYN, options: CLIENT_OPTS }, CPORT + 1), 2001);
    const sa = copy(
      e.onTunPacket(
        kernelPacket(
          { seq: 9, ack: 2, flags: TCP_SYN | TCP_ACK, options: synAckOpts(12, 7) },
          CPORT + 1,
        ),
        2002,
      ),
    );
    expect(lanSegs(sa)).toHaveLength(1);
    expect(loggerMsgs(sa)).toHaveLength(0);
  });

  it('L.2 a primary whose lease ran out stalls through the grace before serving unprotected', () => {
    // The unsafe order (spec/recovery.md G.3): unprotected at lease expiry, a partitioned
    // primary acks bytes the log lacks while a live backup is about to take over.
    const { e } = established();
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'abcdef' }),
      4,
    );
    const grace = DEFAULT_RECOVERY_PARAMS.unprotectAfterMs;
    e.onTick(60_500);
    expect(e.hostState().logger).toBe('protected');
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('protected');
    e.onTick(60_000 + grace + 100);
    expect(e.hostState().logger).toBe('unprotected');
  });

  it('L.2 lifting the clamps acks at once what the kernel acked (the client would wait for its RTO back-off)', () => {
    // Found by the stall watchdog (W.1): the kernel had acked 'abcdef', R1.2 held the ack at
    // stableSeq, the lease ran out and the grace passed; nothing told the client, and no kernel
    // segment was due to carry the ack.
    const { e } = established();
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'abcdef' }),
      4,
    );
    const clamped = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 7, flags: TCP_ACK, options: ts(7001, 100) }),
          5,
        ),
      ),
    );
    expect(clamped[0]?.tcp.ack).toBe(C_ISN + 1);
    const lifted = lanSegs(copy(e.onTick(60_000 + DEFAULT_RECOVERY_PARAMS.unprotectAfterMs + 100)));
    expect(e.hostState().logger).toBe('unprotected');
    expect(lifted).toHaveLength(1);
    expect(lifted[0]?.tcp).toMatchObject({ flags: TCP_ACK, ack: C_ISN + 7, seq: S_ISN + 1 });
    expect(e.connection(CLIENT, CPORT, SPORT)?.sentAck).toBe(C_ISN + 7);
  });

  it('L.6 a standby that took over beside the logger stays protected with no lease to renew', () => {
    const e = new SswEngine(config({ role: 'standby' }));
    const events: string[] = [];
    const note = (fx: readonly SswEffect[]) => {
      for (const ev of logEvents(copy(fx))) events.push(`${ev.rule} ${ev.what}`);
    };
    // A standby has no logger before its takeover: the start-up grace does not apply to it.
    note(e.onTick(10_000));
    expect(e.hostState().logger).toBe('awaitingLogger');
    note(e.takeover(10_001));
    expect(e.hostState()).toMatchObject({ role: 'active', logger: 'colocated' });
    note(e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 200 }, 10_002));
    note(e.startRecovery([], 10_003));
    expect(e.hostState().app).toBe('appRunning');
    note(e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN, options: CLIENT_OPTS }), 10_004));
    const sa = loggerMsgs(
      copy(
        e.onTunPacket(
          kernelPacket({
            seq: S_ISN,
            ack: C_ISN + 1,
            flags: TCP_SYN | TCP_ACK,
            options: synAckOpts(7000, 7),
          }),
          10_005,
        ),
      ),
    );
    const conn = (sa[0] as { conn: number }).conn;
    note(e.onLoggerMessage({ kind: 'SynStored', conn }, 10_006));
    note(
      e.onLanFrame(
        clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'abc' }),
        10_007,
      ),
    );
    // Far past any lease and the L.2 grace: still protected, the ack still clamped (R1.2).
    note(e.onTick(10_000 + 60_000));
    expect(e.hostState().logger).toBe('colocated');
    expect(e.connection(CLIENT, CPORT, SPORT)).toMatchObject({
      mode: 'protected',
      protected: true,
    });
    const out = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 4, flags: TCP_ACK, options: ts(7001, 100) }),
          70_001,
        ),
      ),
    );
    expect(out[0]?.tcp.ack).toBe(C_ISN + 1);
    expect(events.some((x) => x.includes('unprotected'))).toBe(false);
    expect(events).toContain('L.6 takeover: the logger is on this host: protected, no lease');
    // Only this host's coordinator can fence a co-located logger (a local recovery): its
    // staleEpoch is no L.5 fencing, the SSW waits to rejoin at the new epoch.
    note(e.onLoggerMessage({ kind: 'Error', code: 'staleEpoch', message: 'epoch 2 < 3' }, 70_002));
    expect(e.hostState()).toMatchObject({ role: 'active', logger: 'colocated' });
    expect(events.some((x) => x.startsWith('L.5'))).toBe(false);
  });

  it('L.2 + R1.6: log bytes queued by a degraded connection no longer block new protected ones', () => {
    const { e } = established({ limits: { maxQueuedLogBytes: 8 } });
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'abcdef' }),
      4,
    );
    // The lease (60 s) runs out; the logger comes back later with a new epoch.
    e.onTick(70_000);
    expect(e.hostState().logger).toBe('unprotected');
    e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 60_000 }, 70_001);
    // L.10: re-protected once a new incarnation of the application replays into that logger.
    expect(e.hostState().logger).toBe('unprotected');
    e.onAppExit(70_001);
    e.onLoggerMessage({ kind: 'ReplayEnd', conns: 0, bytes: 0, dets: 0 }, 70_001);
    expect(e.hostState().logger).toBe('protected');
    e.onLanFrame(clientFrame({ seq: 1, flags: TCP_SYN, options: CLIENT_OPTS }, CPORT + 1), 70_002);
    const sa = loggerMsgs(
      copy(
        e.onTunPacket(
          kernelPacket(
            { seq: 9, ack: 2, flags: TCP_SYN | TCP_ACK, options: synAckOpts(12, 7) },
            CPORT + 1,
          ),
          70_003,
        ),
      ),
    );
    const conn2 = (sa[0] as { conn: number }).conn;
    e.onLoggerMessage({ kind: 'SynStored', conn: conn2 }, 70_004);
    const fx = copy(
      e.onLanFrame(
        clientFrame({ seq: 2, ack: 10, flags: TCP_ACK, payload: 'xyz' }, CPORT + 1),
        70_005,
      ),
    );
    expect(storeMsgs(fx).map((m) => m.kind)).toEqual(['LogData']);
    expect(e.stats.dropBackpressure).toBe(0);
  });

  it('L.5 a staleEpoch error fences the SSW: nothing passes, no ARP answers', () => {
    const { e } = established();
    e.onLoggerMessage({ kind: 'Error', code: 'staleEpoch', message: 'fenced' }, 10);
    expect(e.hostState().role).toBe('fenced');
    expect(
      copy(
        e.onLanFrame(
          clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'x' }),
          11,
        ),
      ),
    ).toHaveLength(0);
    expect(
      copy(e.onLanFrame(buildArpFrame(arpRequest(CLIENT_MAC, CLIENT, SERVICE)), 12)),
    ).toHaveLength(0);
    expect(
      copy(e.onTunPacket(kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 1, flags: TCP_ACK }), 13)),
    ).toHaveLength(0);
  });

  it("'forward' mode passes packets untouched both ways (the benchmark baseline)", () => {
    const e = new SswEngine(config({ mode: 'forward' }));
    const frame = clientFrame({ seq: C_ISN, flags: TCP_SYN, options: CLIENT_OPTS });
    const toKernel = copy(e.onLanFrame(frame, 0));
    expect(toKernel).toHaveLength(1);
    expect(
      toKernel[0]?.to === 'tun' &&
        Buffer.from(toKernel[0].packet).equals(Buffer.from(frame.subarray(14))),
    ).toBe(true);
    const pkt = kernelPacket({
      seq: S_ISN,
      ack: C_ISN + 1,
      flags: TCP_SYN | TCP_ACK,
      options: synAckOpts(7000, 7),
    });
    const toLan = copy(e.onTunPacket(pkt, 1));
    expect(toLan).toHaveLength(1);
    expect(
      toLan[0]?.to === 'lan' && Buffer.from(toLan[0].frame.subarray(14)).equals(Buffer.from(pkt)),
    ).toBe(true);
  });

  it('a partial (offloaded) client checksum is completed, a wrong one dropped', () => {
    const e = new SswEngine(config());
    e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }, 0);
    const frame = clientFrame({ seq: C_ISN, flags: TCP_SYN, options: CLIENT_OPTS });
    const tcp = frame.subarray(ETHERNET_HEADER_LEN + 20);
    // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum (not complemented).
    const pseudo = pseudoHeaderSum(CLIENT, SERVICE, 6, tcp.length);
    tcp[16] = pseudo >>> 8;
    tcp[17] = pseudo & 0xff;
    const out = tunSegs(copy(e.onLanFrame(frame, 1)));
    expect(out).toHaveLength(1);
    expect(e.stats.lanPartialChecksums).toBe(1);
  });

  it('malformed input is counted and dropped, never thrown', () => {
    const e = new SswEngine(config());
    e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }, 0);
    for (const junk of [
      new Uint8Array(3),
      new Uint8Array(20),
      clientFrame({ seq: 1, flags: TCP_SYN }).subarray(0, 30),
    ]) {
      expect(() => e.onLanFrame(junk, 1)).not.toThrow();
      expect(() => e.onTunPacket(junk, 1)).not.toThrow();
    }
    const bad = clientFrame({ seq: 1, flags: TCP_SYN });
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0xff;
    e.onLanFrame(bad, 2);
    expect(e.stats.dropBadChecksum + e.stats.dropMalformed).toBeGreaterThan(0);
  });
});

describe('SSW engine: L.1 lease timing', () => {
  const lease = DEFAULT_RECOVERY_PARAMS.leaseMs;
  /** Welcomed with a lease that ends at 100 - margin, so later renewals are what count. */
  const welcomed = (over: Partial<SswConfig> = {}) => {
    const e = new SswEngine(config(over));
    e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 100 }, 0);
    return e;
  };
  const GRACE = DEFAULT_RECOVERY_PARAMS.unprotectAfterMs;
  const loggerState = (e: SswEngine, nowMs: number): string => {
    copy(e.onTick(nowMs));
    return e.hostState().logger;
  };

  it("the default margin is the detector's drift margin, below the lease it grants", () => {
    expect(DEFAULT_LEASE_MARGIN_MS).toBe(DEFAULT_RECOVERY_PARAMS.driftMarginMs);
    expect(DEFAULT_LEASE_MARGIN_MS).toBeLessThan(lease);
    // A lease granted by the detector's defaults is usable on arrival.
    const e = welcomed();
    e.noteHeartbeatSent(1, 50);
    e.onLoggerMessage({ kind: 'HeartbeatAck', seq: 1, leaseMs: lease }, 60);
    expect(loggerState(e, 61)).toBe('protected');
    expect(e.stats.leaseGrantsRefused).toBe(0);
  });

  it('a HeartbeatAck renews the lease from the send of its heartbeat, not from its arrival', () => {
    const e = welcomed();
    e.noteHeartbeatSent(7, 100);
    // The ack arrives 150 ms after the send: the lease still ends at send + lease - margin.
    e.onLoggerMessage({ kind: 'HeartbeatAck', seq: 7, leaseMs: lease }, 250);
    const end = 100 + lease - DEFAULT_LEASE_MARGIN_MS;
    expect(loggerState(e, end)).toBe('protected');
    // L.2: past the lease the primary stalls for the grace, then serves unprotected.
    expect(loggerState(e, end + GRACE)).toBe('protected');
    const fx = copy(e.onTick(end + GRACE + 1));
    expect(e.hostState().logger).toBe('unprotected');
    expect(logEvents(fx).map((x) => x.rule)).toContain('L.2');
  });

  it('an ack of an unknown or already superseded heartbeat grants nothing', () => {
    const e = welcomed();
    e.noteHeartbeatSent(1, 10);
    e.noteHeartbeatSent(2, 60);
    e.noteHeartbeatSent(3, 110);
    e.onLoggerMessage({ kind: 'HeartbeatAck', seq: 2, leaseMs: lease }, 70);
    // seq 1 was sent before 2: forgotten with it; seq 99 was never sent.
    const late = copy(e.onLoggerMessage({ kind: 'HeartbeatAck', seq: 1, leaseMs: 10_000 }, 75));
    e.onLoggerMessage({ kind: 'HeartbeatAck', seq: 99, leaseMs: 10_000 }, 76);
    expect(e.stats.leaseGrantsRefused).toBe(2);
    expect(logEvents(late).map((x) => x.rule)).toEqual(['L.1']);
    const end = 60 + lease - DEFAULT_LEASE_MARGIN_MS;
    expect(loggerState(e, end + GRACE)).toBe('protected');
    expect(loggerState(e, end + GRACE + 1)).toBe('unprotected');
  });

  it('L.8: with the logger link down, heartbeat acks renew nothing: the lease runs out and L.2 follows; a Welcome renews again', () => {
    // Issue: the logger process died with its host up. The detector kept acking the
    // primary's heartbeats, so the lease never ran out, the SSW stalled (protected, acks
    // frozen) for good and the clients froze.
    const e = welcomed();
    e.noteHeartbeatSent(1, 10);
    e.onLoggerMessage({ kind: 'HeartbeatAck', seq: 1, leaseMs: lease }, 20);
    const down = copy(e.onLoggerLinkDown(30));
    expect(logEvents(down).map((x) => x.rule)).toEqual(['L.8']);
    // A second report of the same loss says nothing more.
    expect(logEvents(copy(e.onLoggerLinkDown(31)))).toEqual([]);
    let t = 40;
    for (let seq = 2; seq < 200; seq++, t += 50) {
      e.noteHeartbeatSent(seq, t);
      e.onLoggerMessage({ kind: 'HeartbeatAck', seq, leaseMs: lease }, t + 5);
      e.onHeartbeatAcked(t, lease, t + 5);
      if (t > 10 + lease - DEFAULT_LEASE_MARGIN_MS + GRACE + 20) break;
    }
    const end = 10 + lease - DEFAULT_LEASE_MARGIN_MS;
    expect(loggerState(e, end + GRACE)).toBe('protected');
    expect(loggerState(e, Math.max(t, end + GRACE + 1))).toBe('unprotected');
    // L.10: a (restarted, empty) logger welcomes us again, but the application's NSW gave up
    // logging with the host (R13.9a): still unprotected, said once.
    const now = t + 100;
    const again = copy(e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: lease }, now));
    expect(e.hostState().logger).toBe('unprotected');
    expect(logEvents(again).map((x) => x.rule)).toContain('L.10');
  });

  it('L.8: a link that comes back within the lease loses nothing (a reconnect to the same logger)', () => {
    const e = welcomed();
    e.noteHeartbeatSent(1, 10);
    e.onLoggerMessage({ kind: 'HeartbeatAck', seq: 1, leaseMs: lease }, 20);
    e.onLoggerLinkDown(30);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: lease }, 40);
    e.noteHeartbeatSent(2, 60);
    e.onLoggerMessage({ kind: 'HeartbeatAck', seq: 2, leaseMs: lease }, 70);
    const end = 60 + lease - DEFAULT_LEASE_MARGIN_MS;
    expect(loggerState(e, end + GRACE)).toBe('protected');
  });

  it('only the newest sends are remembered (bounded)', () => {
    const e = welcomed();
    for (let seq = 1; seq <= MAX_OUTSTANDING_HEARTBEATS + 1; seq++) e.noteHeartbeatSent(seq, seq);
    e.onLoggerMessage({ kind: 'HeartbeatAck', seq: 1, leaseMs: lease }, 100);
    expect(e.stats.leaseGrantsRefused).toBe(1);
    e.onLoggerMessage({ kind: 'HeartbeatAck', seq: 2, leaseMs: lease }, 100);
    expect(e.stats.leaseGrantsRefused).toBe(1);
  });

  it('onHeartbeatAcked: a runtime that matched the ack itself gives the send time; one in the future is refused', () => {
    const e = welcomed();
    e.onHeartbeatAcked(40, lease, 90);
    const end = 40 + lease - DEFAULT_LEASE_MARGIN_MS;
    expect(loggerState(e, end)).toBe('protected');
    const bad = copy(e.onHeartbeatAcked(10_000, lease, end));
    expect(logEvents(bad).map((x) => x.rule)).toEqual(['L.1']);
    expect(e.stats.leaseGrantsRefused).toBe(1);
    expect(loggerState(e, end + GRACE + 1)).toBe('unprotected');
  });

  it('a lease not longer than the margin is refused with an event, never counted', () => {
    const e = welcomed({ leaseMarginMs: 50 });
    e.noteHeartbeatSent(1, 10);
    const fx = copy(e.onLoggerMessage({ kind: 'HeartbeatAck', seq: 1, leaseMs: 50 }, 20));
    expect(logEvents(fx)[0]).toMatchObject({
      rule: 'L.1',
      detail: { leaseMs: 50, leaseMarginMs: 50 },
    });
    expect(e.stats.leaseGrantsRefused).toBe(1);
  });

  it('a runtime that reports no heartbeat sends gets the lease from the ack (said once)', () => {
    const e = welcomed();
    const first = copy(e.onLoggerMessage({ kind: 'HeartbeatAck', seq: 0, leaseMs: lease }, 100));
    const again = copy(e.onLoggerMessage({ kind: 'HeartbeatAck', seq: 0, leaseMs: lease }, 110));
    expect(logEvents(first).map((x) => x.rule)).toEqual(['L.1']);
    expect(logEvents(again)).toHaveLength(0);
    expect(loggerState(e, 110 + lease - DEFAULT_LEASE_MARGIN_MS)).toBe('protected');
  });

  it('config: the margin must be a duration below the expected lease (typed error)', () => {
    const bad = (over: Partial<SswConfig>) => {
      try {
        new SswEngine(config(over));
      } catch (err) {
        if (err instanceof SswConfigInvalid) return err.error;
        throw err;
      }
      return undefined;
    };
    expect(bad({ leaseMarginMs: 250, expectedLeaseMs: 200 })).toEqual({
      kind: 'marginNotBelowLease',
      leaseMarginMs: 250,
      expectedLeaseMs: 200,
    });
    expect(bad({ expectedLeaseMs: DEFAULT_LEASE_MARGIN_MS })).toMatchObject({
      kind: 'marginNotBelowLease',
    });
    expect(bad({ leaseMarginMs: -1 })).toEqual({ kind: 'badLeaseMargin', leaseMarginMs: -1 });
    expect(bad({ leaseMarginMs: Number.NaN })).toMatchObject({ kind: 'badLeaseMargin' });
    expect(bad({ expectedLeaseMs: 0 })).toEqual({ kind: 'badExpectedLease', expectedLeaseMs: 0 });
    expect(bad({ expectedLeaseMs: lease })).toBeUndefined();
    expect(checkSswConfig(config({ leaseMarginMs: 40, expectedLeaseMs: 200 }))).toBeUndefined();
  });
});

describe('SSW engine: R6.11 re-creation at a checkpoint (ReplayResume)', () => {
  const NO_TS: SynOpts = { mss: 1460, wscale: 7, sackOk: true, tsVal: null, tsEcr: null };
  const KERNEL_SYNACK: TcpOption[] = [
    { kind: 'mss', mss: 1460 },
    { kind: 'nop' },
    { kind: 'wscale', shift: 7 },
  ];
  const replaySyn = (clientAck: number) =>
    ({
      kind: 'ReplaySyn',
      conn: 7,
      clientAddr: CLIENT,
      clientPort: CPORT,
      serverAddr: SERVICE,
      serverPort: SPORT,
      clientIsn: C_ISN,
      serverIsn: S_ISN,
      clientOpts: NO_TS,
      serverOpts: NO_TS,
      synTimeMs: 0,
      clientAck,
    }) as LoggerMessage;
  const standby = (): SswEngine => {
    const e = new SswEngine(config({ role: 'standby', firstConnId: 1 }));
    e.takeover(1);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 60_000 }, 2);
    // The client's MAC (segments to an unknown MAC wait for its ARP reply).
    e.onLanFrame(buildArpFrame(arpRequest(CLIENT_MAC, CLIENT, SERVICE)), 2);
    return e;
  };

  it('fake SYN at clientIsn + readOffset, injection from readOffset, output at serverIsn + 1 + outputFrom', () => {
    const e = standby();
    e.onLoggerMessage(replaySyn(S_ISN + 1 + 250), 3);
    e.onLoggerMessage(
      { kind: 'ReplayResume', conn: 7, readOffset: 300, outputFrom: 200, end: 500 },
      3,
    );
    // The logger serves the held stream from its held start (readOffset here).
    e.onLoggerMessage(
      {
        kind: 'ReplayData',
        conn: 7,
        seq: C_ISN + 1 + 300,
        fin: false,
        payload: new Uint8Array(200).fill(7),
      },
      3,
    );
    const fx = copy(e.onLoggerMessage({ kind: 'ReplayEnd', conns: 1, bytes: 200, dets: 0 }, 4));
    expect(tunSegs(fx)[0]?.tcp).toMatchObject({ seq: C_ISN + 300, flags: TCP_SYN });
    const K = 77;
    const afterSynAck = tunSegs(
      copy(
        e.onTunPacket(
          kernelPacket({
            seq: K,
            ack: C_ISN + 301,
            flags: TCP_SYN | TCP_ACK,
            options: KERNEL_SYNACK,
          }),
          5,
        ),
      ),
    );
    // The fake ACK, then the 200 held bytes from readOffset.
    expect(afterSynAck[0]?.tcp).toMatchObject({ seq: C_ISN + 301, ack: K + 1, flags: TCP_ACK });
    const injected = afterSynAck.slice(1);
    expect(injected.reduce((n, s) => n + s.tcp.payload.length, 0)).toBe(200);
    expect(injected[0]?.tcp.seq).toBe(C_ISN + 301);
    // The kernel acks the stream: live; the client is prompted in original space.
    const live = lanSegs(
      copy(e.onTunPacket(kernelPacket({ seq: K + 1, ack: C_ISN + 501, flags: TCP_ACK }), 6)),
    );
    expect(live.length).toBeGreaterThan(0);
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('translated');
    // The kernel's first byte is the output tail's first: serverIsn + 1 + outputFrom. The client
    // holds up to 250: bytes 200..250 are acked locally (R6.6), the rest goes out.
    const tail = new Uint8Array(80).fill(9);
    const fx2 = copy(
      e.onTunPacket(
        kernelPacket({
          seq: K + 1,
          ack: C_ISN + 501,
          flags: TCP_ACK,
          payload: tail.subarray(0, 50),
        }),
        7,
      ),
    );
    expect(lanSegs(fx2).filter((s) => s.tcp.payload.length > 0)).toEqual([]);
    const fx3 = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({
            seq: K + 51,
            ack: C_ISN + 501,
            flags: TCP_ACK,
            payload: tail.subarray(50),
          }),
          8,
        ),
      ),
    );
    expect(fx3.find((s) => s.tcp.payload.length > 0)?.tcp.seq).toBe(S_ISN + 1 + 250);
  });

  it('R6.12 a record the checkpoint does not cover (readOffset 0, outputFrom 0) is re-created as before', () => {
    const e = standby();
    e.onLoggerMessage(replaySyn(S_ISN + 1), 3);
    e.onLoggerMessage({ kind: 'ReplayResume', conn: 7, readOffset: 0, outputFrom: 0, end: 0 }, 3);
    const fx = copy(e.onLoggerMessage({ kind: 'ReplayEnd', conns: 1, bytes: 0, dets: 0 }, 4));
    expect(tunSegs(fx)[0]?.tcp).toMatchObject({ seq: C_ISN, flags: TCP_SYN });
    const live = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({
            seq: 77,
            ack: C_ISN + 1,
            flags: TCP_SYN | TCP_ACK,
            options: KERNEL_SYNACK,
          }),
          5,
        ),
      ),
    );
    expect(live[0]?.tcp).toMatchObject({ seq: S_ISN + 1, ack: C_ISN + 1 });
  });

  it('stored end below readOffset: logging resumes at the stored end, the client retransmits the gap', () => {
    const e = standby();
    e.onLoggerMessage(replaySyn(S_ISN + 1), 3);
    e.onLoggerMessage(
      { kind: 'ReplayResume', conn: 7, readOffset: 300, outputFrom: 0, end: 100 },
      3,
    );
    const fx = copy(e.onLoggerMessage({ kind: 'ReplayEnd', conns: 1, bytes: 0, dets: 0 }, 4));
    expect(tunSegs(fx)[0]?.tcp).toMatchObject({ seq: C_ISN + 300, flags: TCP_SYN });
    e.onTunPacket(
      kernelPacket({ seq: 77, ack: C_ISN + 301, flags: TCP_SYN | TCP_ACK, options: KERNEL_SYNACK }),
      5,
    );
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('translated');
    // The client retransmits [100, 300): logged from the stored end, so the logger sees no gap.
    const re = copy(
      e.onLanFrame(
        clientFrame({
          seq: C_ISN + 101,
          ack: S_ISN + 1,
          flags: TCP_ACK,
          payload: new Uint8Array(200),
        }),
        6,
      ),
    );
    expect(storeMsgs(re)[0]).toMatchObject({ kind: 'LogData', conn: 7, seq: C_ISN + 101 });
  });
});
