// The bug "a SACK sender waits out its RTO after go-live" (spec/ssw.md R6.13), pinned at the
// engine. A crash while the client has a burst in flight leaves the burst's tail held out of
// order (R1.1 `ooo`) behind a hole. The go-live prompts (R6.8) were three duplicate ACKs
// without SACK blocks; a client that negotiated SACK (Linux: `sacked_out` only grows with SACK
// blocks, so `tcp_time_to_recover` never fires on them) then waited out its RTO, backed off by
// the outage (2 s after a 2.2 s one): a stall the failure model's W.7 check flagged. Now the
// held bytes go into the new kernel at go-live and the prompts SACK exactly those, and only
// when the connection negotiated SACK.
import { describe, expect, it } from 'vitest';
import { type SswEffect, SswEngine } from '../../../src/machines/ssw/index.ts';
import type { LoggerMessage } from '../../../src/wire/logmsg.ts';
import { seqAdd } from '../../../src/wire/seq.ts';
import { type SackBlock, TCP_ACK, TCP_SYN, type TcpOption } from '../../../src/wire/tcp.ts';
import {
  CLIENT,
  CPORT,
  clientFrame,
  kernelPacket,
  lanSegs,
  loggerMsgs,
  type ParsedSeg,
  SERVICE,
  SERVICE_MAC,
  SPORT,
  tunSegs,
} from './packets.ts';

const C_ISN = 0xffff_f000; // the client's stream wraps past 2^32 on the way
const S_ISN = 5000;
const K_ISN = 900_000;
const MSS = 1000;

const synOpts = (o: { sack: boolean; ts: boolean }, tsVal: number, tsEcr: number): TcpOption[] => [
  { kind: 'mss', mss: MSS },
  ...(o.sack ? [{ kind: 'sackPermitted' } as const] : []),
  ...(o.ts ? [{ kind: 'timestamps', tsVal, tsEcr } as const] : []),
  { kind: 'nop' },
  { kind: 'wscale', shift: 0 },
];

const sackOf = (s: ParsedSeg): readonly SackBlock[] | undefined => {
  const o = s.tcp.options.find((x) => x.kind === 'sack');
  return o?.kind === 'sack' ? o.blocks : undefined;
};

/** Client stream offset -> client sequence number. */
const at = (off: number): number => seqAdd(C_ISN, 1 + off);
const bytesAt = (off: number, n: number): Uint8Array =>
  new Uint8Array(n).map((_, i) => ((off + i) * 13 + 5) & 0xff);

interface Case {
  readonly sack: boolean; // the client's SYN offers SACK (the kernel always does)
  readonly ts: boolean;
  /** Stream offsets of the pieces the client sends past the hole at [1000, 2000). */
  readonly tail: readonly (readonly [number, number])[];
  /** The new kernel's window in the ack that makes the connection go live. */
  readonly goLiveWindow: number;
}

/**
 * A protected connection; the client's bytes [0, 1000) are stored and acked, [1000, 2000) are
 * lost on the LAN, the tail pieces arrive (half before the crash, half while the application is
 * dead); the application crashes and the connection is re-created from a replay of [0, 1000).
 * Returns what the go-live produced and the engine.
 */
function crashWithHeldTail(k: Case): { e: SswEngine; goLive: SswEffect[]; now: number } {
  const e = new SswEngine({
    serviceAddr: SERVICE,
    serviceMac: SERVICE_MAC,
    mode: 'ftTcp',
    role: 'active',
  });
  let now = 1000;
  e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 1e9 }, now);
  e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN, options: synOpts(k, 10, 0) }), now);
  const sa = [
    ...e.onTunPacket(
      kernelPacket({
        seq: S_ISN,
        ack: seqAdd(C_ISN, 1),
        flags: TCP_SYN | TCP_ACK,
        options: synOpts({ sack: k.sack, ts: k.ts }, 500, 10),
      }),
      now,
    ),
  ];
  const logSyn = loggerMsgs(sa)[0];
  if (logSyn?.kind !== 'LogSyn') throw new Error('no LogSyn');
  const conn = logSyn.conn;
  e.onLoggerMessage({ kind: 'SynStored', conn }, ++now);
  const ts = (v: number): TcpOption[] =>
    k.ts ? [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamps', tsVal: v, tsEcr: 500 }] : [];
  const send = (off: number, n: number): void => {
    e.onLanFrame(
      clientFrame({
        seq: at(off),
        ack: seqAdd(S_ISN, 1),
        flags: TCP_ACK,
        options: ts(20 + off),
        payload: bytesAt(off, n),
      }),
      ++now,
    );
  };
  send(0, MSS);
  e.onLoggerMessage({ kind: 'DataStored', conn, stableSeq: at(MSS), finLogged: false }, ++now);
  e.onTunPacket(kernelPacket({ seq: seqAdd(S_ISN, 1), ack: at(MSS), flags: TCP_ACK }), ++now);
  expect(e.connection(CLIENT, CPORT, SPORT)?.sentAck).toBe(at(MSS));
  // [1000, 2000) never arrives; half the tail before the crash, half while the app is dead.
  const half = Math.ceil(k.tail.length / 2);
  for (const [from, to] of k.tail.slice(0, half)) send(from, to - from);
  e.onAppExit(++now);
  for (const [from, to] of k.tail.slice(half)) send(from, to - from);

  const records: LoggerMessage[] = [
    { ...logSyn, kind: 'ReplaySyn', clientAck: seqAdd(S_ISN, 1) },
    { kind: 'ReplayData', conn, seq: at(0), payload: bytesAt(0, MSS), fin: false },
  ];
  e.startRecovery(records, ++now);
  e.onTunPacket(
    kernelPacket({
      seq: K_ISN,
      ack: seqAdd(C_ISN, 1),
      flags: TCP_SYN | TCP_ACK,
      window: Math.min(65535, MSS + k.goLiveWindow),
      options: synOpts({ sack: k.sack, ts: k.ts }, 9000, 20),
    }),
    ++now,
  );
  const goLive = [
    ...e.onTunPacket(
      kernelPacket({
        seq: seqAdd(K_ISN, 1),
        ack: at(MSS),
        flags: TCP_ACK,
        window: k.goLiveWindow,
        options: k.ts
          ? [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamps', tsVal: 9001, tsEcr: 20 }]
          : [],
      }),
      ++now,
    ),
  ];
  expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('translated');
  return { e, goLive, now };
}

/** The client bytes (stream offsets) the go-live handed to the new kernel. */
const handedToKernel = (fx: readonly SswEffect[]): [number, number][] =>
  tunSegs(fx)
    .filter((s) => s.tcp.payload.length > 0)
    .map((s) => {
      const off = (s.tcp.seq - at(0)) >>> 0;
      expect(
        Buffer.from(s.tcp.payload).equals(Buffer.from(bytesAt(off, s.tcp.payload.length))),
      ).toBe(true);
      return [off, off + s.tcp.payload.length];
    });

const offsetsOf = (b: readonly SackBlock[] | undefined): [number, number][] | undefined =>
  b?.map((x) => [(x.left - at(0)) >>> 0, (x.right - at(0)) >>> 0]);

describe('a SACK sender waits out its RTO after go-live (R6.13)', () => {
  it('the prompts SACK the tail held past the hole, which the new kernel now holds', () => {
    const { e, goLive, now } = crashWithHeldTail({
      sack: true,
      ts: true,
      tail: [
        [2000, 3000],
        [3000, 4000],
      ],
      goLiveWindow: 65535,
    });
    const prompts = lanSegs(goLive).filter((s) => s.tcp.payload.length === 0);
    expect(prompts).toHaveLength(3);
    for (const p of prompts) {
      expect(p.tcp.ack).toBe(at(MSS)); // the hole's start: nothing past it is stored (I1)
      expect(offsetsOf(sackOf(p))).toEqual([[2000, 4000]]);
    }
    expect(handedToKernel(goLive)).toEqual([
      [2000, 3000],
      [3000, 4000],
    ]);
    // The client resends the hole (fast retransmit on the SACKed prompts): logged with the
    // held tail, and the kernel, which has the tail, acks the whole; the client sees it once
    // the logger stored it (R1.2, R1.4).
    const fill = [
      ...e.onLanFrame(
        clientFrame({
          seq: at(MSS),
          ack: seqAdd(S_ISN, 1),
          flags: TCP_ACK,
          options: [
            { kind: 'nop' },
            { kind: 'nop' },
            { kind: 'timestamps', tsVal: 99, tsEcr: 500 },
          ],
          payload: bytesAt(MSS, MSS),
        }),
        now + 1,
      ),
    ];
    const logged = loggerMsgs(fill).flatMap((m) => (m.kind === 'LogData' ? [m] : []));
    expect(logged.map((m) => [(m.seq - at(0)) >>> 0, m.payload.length])).toEqual([
      [1000, 1000],
      [2000, 1000],
      [3000, 1000],
    ]);
    expect(e.connection(CLIENT, CPORT, SPORT)?.loggedSeq).toBe(at(4000));
  });

  it("then the kernel's duplicate ACKs keep their SACK blocks for held bytes (R1.9): a client in loss recovery that sends new data first (F-RTO) learns the hole from them", () => {
    const { e, now } = crashWithHeldTail({
      sack: true,
      ts: false,
      tail: [
        [2000, 3000],
        [3000, 4000],
      ],
      goLiveWindow: 65535,
    });
    // The client's answer to the prompts' new ack (Linux F-RTO, RFC 5682 step 2b) is new data,
    // past the hole like the tail: held and forwarded.
    const fx = [
      ...e.onLanFrame(
        clientFrame({
          seq: at(4000),
          ack: seqAdd(S_ISN, 1),
          flags: TCP_ACK,
          payload: bytesAt(4000, MSS),
        }),
        now + 1,
      ),
    ];
    expect(handedToKernel(fx)).toEqual([[4000, 5000]]);
    // The new kernel's duplicate ACK SACKs what it holds past the hole; the client gets it whole
    // (the ack is not clamped: everything up to the hole is stored).
    const dup = lanSegs([
      ...e.onTunPacket(
        kernelPacket({
          seq: seqAdd(K_ISN, 1),
          ack: at(MSS),
          flags: TCP_ACK,
          options: [
            { kind: 'nop' },
            { kind: 'nop' },
            { kind: 'sack', blocks: [{ left: at(2000), right: at(5000) }] },
          ],
        }),
        now + 2,
      ),
    ]);
    expect(dup).toHaveLength(1);
    expect(dup[0]?.tcp.ack).toBe(at(MSS));
    expect(offsetsOf(sackOf(dup[0] as ParsedSeg))).toEqual([[2000, 5000]]);
  });

  it('no SACK blocks when the connection did not negotiate SACK (the held bytes still go to the kernel)', () => {
    const { goLive } = crashWithHeldTail({
      sack: false,
      ts: true,
      tail: [[2000, 3000]],
      goLiveWindow: 65535,
    });
    const prompts = lanSegs(goLive).filter((s) => s.tcp.payload.length === 0);
    expect(prompts).toHaveLength(3);
    for (const p of prompts) {
      expect(p.tcp.ack).toBe(at(MSS));
      expect(p.tcp.options.some((o) => o.kind === 'sack')).toBe(false);
    }
    expect(handedToKernel(goLive)).toEqual([[2000, 3000]]);
  });

  it('never SACKs what the kernel was not given: bytes beyond its window stay unSACKed', () => {
    // The kernel's edge is at offset 2500: half of the first held piece fits.
    const { goLive } = crashWithHeldTail({
      sack: true,
      ts: false,
      tail: [
        [2000, 3000],
        [3500, 4000],
      ],
      goLiveWindow: 1500,
    });
    expect(handedToKernel(goLive)).toEqual([[2000, 2500]]);
    for (const p of lanSegs(goLive).filter((s) => s.tcp.payload.length === 0))
      expect(offsetsOf(sackOf(p))).toEqual([[2000, 2500]]);
  });

  it('separate held runs give separate blocks, the lowest first, as many as the options hold', () => {
    const tail: [number, number][] = [
      [2000, 2500],
      [3000, 3500],
      [4000, 4500],
      [5000, 5500],
      [6000, 6500],
    ];
    const withTs = crashWithHeldTail({ sack: true, ts: true, tail, goLiveWindow: 65535 });
    const noTs = crashWithHeldTail({ sack: true, ts: false, tail, goLiveWindow: 65535 });
    expect(handedToKernel(withTs.goLive)).toEqual(tail);
    const p1 = lanSegs(withTs.goLive).filter((s) => s.tcp.payload.length === 0)[0];
    const p2 = lanSegs(noTs.goLive).filter((s) => s.tcp.payload.length === 0)[0];
    // NOP NOP TS leaves room for 3 blocks; without timestamps 4 (RFC 2018 §3).
    expect(offsetsOf(sackOf(p1 as ParsedSeg))).toEqual(tail.slice(0, 3));
    expect(offsetsOf(sackOf(p2 as ParsedSeg))).toEqual(tail.slice(0, 4));
  });

  it('after a failover: the tail a standby saw past the hole is handed to the new kernel and SACKed', () => {
    // The primary died with [1000, 2000) of the client's burst lost with it; the bridge flooded
    // the burst's last segment to the standby, which kept it (R6.10).
    const e = new SswEngine({
      serviceAddr: SERVICE,
      serviceMac: SERVICE_MAC,
      mode: 'ftTcp',
      role: 'standby',
    });
    const tsOpt = (v: number, ecr: number): TcpOption[] => [
      { kind: 'nop' },
      { kind: 'nop' },
      { kind: 'timestamps', tsVal: v, tsEcr: ecr },
    ];
    e.onLanFrame(
      clientFrame({
        seq: at(2000),
        ack: seqAdd(S_ISN, 1),
        flags: TCP_ACK,
        options: tsOpt(300, 600),
        payload: bytesAt(2000, MSS),
      }),
      100,
    );
    e.takeover(200);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 60_000 }, 201);
    const opts = { mss: MSS, wscale: 0, sackOk: true, tsVal: 10, tsEcr: 0 };
    e.onLoggerMessage(
      {
        kind: 'ReplaySyn',
        conn: 7,
        clientAddr: CLIENT,
        clientPort: CPORT,
        serverAddr: SERVICE,
        serverPort: SPORT,
        clientIsn: C_ISN,
        serverIsn: S_ISN,
        clientOpts: opts,
        serverOpts: { ...opts, tsVal: 500, tsEcr: 10 },
        synTimeMs: 0,
        clientAck: seqAdd(S_ISN, 1),
      },
      300,
    );
    e.onLoggerMessage(
      { kind: 'ReplayData', conn: 7, seq: at(0), payload: bytesAt(0, MSS), fin: false },
      300,
    );
    e.onLoggerMessage({ kind: 'ReplayEnd', conns: 1, bytes: MSS, dets: 0 }, 300);
    expect(e.connection(CLIENT, CPORT, SPORT)?.oooBytes).toBe(MSS);
    e.onTunPacket(
      kernelPacket({
        seq: K_ISN,
        ack: seqAdd(C_ISN, 1),
        flags: TCP_SYN | TCP_ACK,
        options: synOpts({ sack: true, ts: true }, 9000, 300),
      }),
      301,
    );
    const goLive = [
      ...e.onTunPacket(
        kernelPacket({
          seq: seqAdd(K_ISN, 1),
          ack: at(MSS),
          flags: TCP_ACK,
          options: tsOpt(9001, 300),
        }),
        302,
      ),
    ];
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('translated');
    expect(handedToKernel(goLive)).toEqual([[2000, 3000]]);
    const prompts = lanSegs(goLive).filter((x) => x.tcp.payload.length === 0);
    expect(prompts).toHaveLength(3);
    for (const p of prompts) {
      expect(p.tcp.ack).toBe(at(MSS));
      expect(offsetsOf(sackOf(p))).toEqual([[2000, 3000]]);
    }
  });

  it('nothing held: the prompts are the plain R6.8 duplicate ACKs', () => {
    const { goLive } = crashWithHeldTail({ sack: true, ts: true, tail: [], goLiveWindow: 65535 });
    expect(tunSegs(goLive).filter((s) => s.tcp.payload.length > 0)).toHaveLength(0);
    const prompts = lanSegs(goLive).filter((s) => s.tcp.payload.length === 0);
    expect(prompts).toHaveLength(3);
    for (const p of prompts) expect(sackOf(p)).toBeUndefined();
  });
});
