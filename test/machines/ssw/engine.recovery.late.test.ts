// Local recovery with client bytes the replay does not hold yet (R6.5): the SSW handed them to
// the logger (before the crash without their DataStored, or while the application was dead,
// R5.4 logOnly) after the logger's FetchLog snapshot. They are injected with the replay, never
// logged twice, the logger sees no gap (a reconnect resends exactly the unstored tail), and the
// client's ack never passes what the logger has stored (I1). Seeded; FC_SEED=<n> replays.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type SswEffect, SswEngine } from '../../../src/machines/ssw/index.ts';
import type { LoggerMessage } from '../../../src/wire/logmsg.ts';
import { seqAdd, seqGe, seqGt, seqLe } from '../../../src/wire/seq.ts';
import { TCP_ACK, TCP_RST, TCP_SYN, type TcpOption } from '../../../src/wire/tcp.ts';
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
  tunSegs,
} from './packets.ts';

const seed = Number(process.env.FC_SEED ?? 20261127);
const CHUNK = 700;

const synOpts = (tsVal: number, tsEcr: number): TcpOption[] => [
  { kind: 'mss', mss: 1460 },
  { kind: 'sackPermitted' },
  { kind: 'timestamps', tsVal, tsEcr },
  { kind: 'nop' },
  { kind: 'wscale', shift: 7 },
];

interface Scenario {
  readonly cIsn: number;
  readonly sIsn: number;
  readonly kIsn: number;
  /** Client bytes in all; the first `logged` before the crash, the rest while the app is dead. */
  readonly total: number;
  readonly logged: number;
  /** Stored (DataStored) before the crash, and held by the FetchLog snapshot (the replay). */
  readonly stored: number;
  readonly replayed: number;
  /** The logger link drops and welcomes again after the re-creation started. */
  readonly reconnect: boolean;
}

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    cIsn: fc.nat({ max: 0xffff_ffff }),
    sIsn: fc.nat({ max: 0xffff_ffff }),
    kIsn: fc.nat({ max: 0xffff_ffff }),
    total: fc.integer({ min: 1, max: 6000 }),
    a: fc.double({ min: 0, max: 1, noNaN: true }),
    b: fc.double({ min: 0, max: 1, noNaN: true }),
    c: fc.double({ min: 0, max: 1, noNaN: true }),
    reconnect: fc.boolean(),
  })
  .map(({ total, a, b, c, ...r }) => {
    const logged = Math.floor(total * a);
    const stored = Math.floor(logged * b);
    const replayed = stored + Math.floor((total - stored) * c);
    return { ...r, total, logged, stored, replayed };
  });

const run = (fx: readonly SswEffect[]): SswEffect[] => [...fx];

function localRecovery(p: Scenario): void {
  const e = new SswEngine({
    serviceAddr: SERVICE,
    serviceMac: SERVICE_MAC,
    mode: 'ftTcp',
    role: 'active',
  });
  let now = 1000;
  let stable = seqAdd(p.cIsn, 1);
  const clientAcks = (fx: SswEffect[]): void => {
    for (const s of lanSegs(fx))
      if (s.tcp.ack !== undefined && (s.tcp.flags & TCP_SYN) === 0)
        expect(seqLe(s.tcp.ack, stable), `ack ${s.tcp.ack} past stableSeq ${stable}`).toBe(true);
  };
  run(e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 1e9 }, now));
  run(e.onLanFrame(clientFrame({ seq: p.cIsn, flags: TCP_SYN, options: synOpts(10, 0) }), now));
  const sa = run(
    e.onTunPacket(
      kernelPacket({
        seq: p.sIsn,
        ack: seqAdd(p.cIsn, 1),
        flags: TCP_SYN | TCP_ACK,
        options: synOpts(500, 10),
      }),
      now,
    ),
  );
  const logSyn = loggerMsgs(sa)[0];
  if (logSyn?.kind !== 'LogSyn') throw new Error('no LogSyn');
  const conn = logSyn.conn;
  clientAcks(run(e.onLoggerMessage({ kind: 'SynStored', conn }, now)));

  const stream = new Uint8Array(p.total).map((_, i) => (i * 31 + 7) & 0xff);
  const logged: Uint8Array[] = [];
  const send = (from: number, to: number): void => {
    for (let off = from; off < to; off += CHUNK) {
      const chunk = stream.subarray(off, Math.min(to, off + CHUNK));
      const fx = run(
        e.onLanFrame(
          clientFrame({
            seq: seqAdd(p.cIsn, 1 + off),
            ack: seqAdd(p.sIsn, 1),
            flags: TCP_ACK,
            payload: chunk,
          }),
          ++now,
        ),
      );
      for (const m of loggerMsgs(fx)) if (m.kind === 'LogData') logged.push(m.payload);
    }
  };
  const stored = (n: number): void => {
    stable = seqAdd(p.cIsn, 1 + n);
    clientAcks(
      run(
        e.onLoggerMessage({ kind: 'DataStored', conn, stableSeq: stable, finLogged: false }, ++now),
      ),
    );
  };
  send(0, p.logged);
  if (p.stored > 0) stored(p.stored);
  run(e.onAppExit(++now));
  send(p.logged, p.total); // R5.4: logged, not forwarded
  expect(Buffer.concat(logged).equals(Buffer.from(stream))).toBe(true);

  const records: LoggerMessage[] = [
    { ...logSyn, kind: 'ReplaySyn', clientAck: seqAdd(p.sIsn, 1) },
    ...(p.replayed > 0
      ? [
          {
            kind: 'ReplayData' as const,
            conn,
            seq: seqAdd(p.cIsn, 1),
            payload: stream.subarray(0, p.replayed),
            fin: false,
          },
        ]
      : []),
  ];
  const after: SswEffect[] = [];
  const keep = (fx: readonly SswEffect[]): SswEffect[] => {
    const xs = run(fx);
    after.push(...xs);
    clientAcks(xs);
    return xs;
  };
  keep(e.startRecovery(records, ++now));
  // The logger's view of the replay: everything in it is stored.
  stable = seqAdd(p.cIsn, 1 + p.replayed);
  expect(e.connection(CLIENT, CPORT, SPORT)?.stableSeq).toBe(stable);
  expect(e.connection(CLIENT, CPORT, SPORT)?.loggedSeq).toBe(seqAdd(p.cIsn, 1 + p.total));
  const got: number[] = [];
  let rcvNxt = seqAdd(p.cIsn, 1);
  const take = (fx: SswEffect[]): void => {
    for (const s of tunSegs(fx)) {
      if (s.tcp.flags & TCP_RST) continue;
      if (s.tcp.payload.length > 0 && s.tcp.seq === rcvNxt) {
        got.push(...s.tcp.payload);
        rcvNxt = seqAdd(rcvNxt, s.tcp.payload.length);
      }
    }
  };
  take(
    keep(
      e.onTunPacket(
        kernelPacket({
          seq: p.kIsn,
          ack: seqAdd(p.cIsn, 1),
          flags: TCP_SYN | TCP_ACK,
          window: 65535,
          options: synOpts(900, 10),
        }),
        ++now,
      ),
    ),
  );
  if (p.reconnect) {
    // R1.7: the resend is exactly the unstored tail, contiguous from at most stableSeq.
    const welcome = run(e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 1e9 }, ++now));
    clientAcks(welcome);
    const resent = loggerMsgs(welcome);
    const data = resent.flatMap((m) => (m.kind === 'LogData' ? [m] : []));
    if (p.replayed < p.total) {
      expect(seqLe(data[0]?.seq ?? 0, stable)).toBe(true);
      let at = data[0]?.seq ?? 0;
      for (const m of data) {
        expect(m.seq).toBe(at);
        at = seqAdd(at, m.payload.length);
      }
      expect(at).toBe(seqAdd(p.cIsn, 1 + p.total));
    } else expect(data).toHaveLength(0);
  }
  const end = seqAdd(p.cIsn, 1 + p.total);
  for (let i = 0; i < 40 && seqGt(end, rcvNxt); i++) {
    take(
      keep(
        e.onTunPacket(
          kernelPacket({ seq: seqAdd(p.kIsn, 1), ack: rcvNxt, flags: TCP_ACK, window: 511 }),
          ++now,
        ),
      ),
    );
  }
  // I3 without any retransmission from the client: the whole stream, in order.
  expect(Buffer.from(got).equals(Buffer.from(stream))).toBe(true);
  keep(
    e.onTunPacket(
      kernelPacket({ seq: seqAdd(p.kIsn, 1), ack: end, flags: TCP_ACK, window: 511 }),
      ++now,
    ),
  );
  expect(e.hostState().app).toBe('appRunning');
  // Nothing was logged twice: the late bytes were logged once, before the recovery (a
  // reconnect's resend is the R1.7 duty, checked above).
  expect(loggerMsgs(after).filter((m) => m.kind === 'LogData')).toHaveLength(0);
  // The logger stores the late bytes; only now may the client see them acked (R1.2, R1.4).
  stable = end;
  const acked = lanSegs(
    keep(e.onLoggerMessage({ kind: 'DataStored', conn, stableSeq: end, finLogged: false }, ++now)),
  );
  if (p.replayed < p.total) expect(acked.map((s) => s.tcp.ack)).toContain(end);
  const view = e.connection(CLIENT, CPORT, SPORT);
  expect(view?.stableSeq).toBe(end);
  expect(seqGe(view?.sentAck ?? 0, end)).toBe(true);
  // Nothing left unacknowledged at the logger: a reconnect resends nothing.
  const again = loggerMsgs(
    run(e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 1e9 }, ++now)),
  );
  expect(again.filter((m) => m.kind === 'LogData')).toHaveLength(0);
}

describe('SSW engine: local recovery with bytes logged past the replay (R6.5)', () => {
  it('bytes logged while the app was dead and after the snapshot are injected, logged once', () => {
    localRecovery({
      cIsn: 1000,
      sIsn: 5000,
      kIsn: 0xffff_fff0,
      total: 3000,
      logged: 1400,
      stored: 700,
      replayed: 1400,
      reconnect: false,
    });
  });

  it('randomised: stored / logged / replayed splits, ISN wrap, logger reconnects', () => {
    fc.assert(
      fc.property(scenario, (p) => localRecovery(p)),
      { seed, numRuns: 150 },
    );
  });
});
