// SSW engine throughput: packets per second through `SswEngine` (src/machines/ssw) on one
// established connection, steady state, 1500-byte segments (1448 bytes of payload, NOP NOP TS),
// no I/O. bench/wire.ts measures the codecs alone; this measures what the engine adds on top
// (lookup, classification, logging, clamps, translation, effects).
//
//   npm run bench:engine              table, then one JSON line
//   npm run bench:engine -- --json    the JSON line only
//   options: --rounds N (default 7)  --ms M (target duration of one round, default 300)
//            --case NAME (one case only)
//
// Cases (each on its own engine, driven through the public API only):
//   client-data      LAN frame with new bytes: R1.1 logged (LogData) and forwarded to the TUN;
//                    a DataStored every 64 segments keeps the log queue bounded (R1.6)
//   kernel-data      TUN packet with server bytes: R1.2-R1.5 clamps, R1.3 window, out on the LAN
//   kernel-ack       TUN pure ACK: the same rewrite on a 52-byte segment
//   translated-data  as kernel-data on a re-created connection (R7: deltaSeq and tsDelta != 0)
//   tick-1000        the engine's tick with 1000 idle connections (per-tick work that grows
//                    with the table shows here; calls/s, not packets)
//   watchdog-1000    the stall watchdog's check (128 visits) over 1000 connections (calls/s)
//
// Client checksums are not verified (`verifyLanChecksums: false`, as when the device vouches
// for them) and TUN packets come with Ethernet headroom (`tunHeadroom`), as in the runtime, so
// the figures are the engine's own work. Each iteration moves the segment's sequence number
// in place (incremental checksum) so that every client segment carries new bytes. Method as
// bench/wire.ts: untimed warm-up, then `rounds` timed rounds; the median is reported.
import { cpus } from 'node:os';
import { type SswEffect, SswEngine } from '../src/machines/ssw/index.ts';
import { StallWatchdog } from '../src/machines/ssw/watchdog.ts';
import {
  ETHERNET_HEADER_LEN,
  ETHERTYPE_IPV4,
  emitEthernet,
  emitIpv4,
  emitTcp,
  IP_PROTO_TCP,
  ipv4FromString,
  macFromString,
  rewriteSeq,
  seqAdd,
  TCP_ACK,
  TCP_SYN,
  type TcpOption,
  TcpPacket,
  type TcpRepr,
  tcpBufferLen,
} from '../src/wire/index.ts';
import type { LoggerMessage } from '../src/wire/logmsg.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number`);
  return v;
};
const jsonOnly = args.includes('--json');
const only = args.includes('--case') ? args[args.indexOf('--case') + 1] : undefined;
const ROUNDS = flag('--rounds', 7);
const ROUND_MS = flag('--ms', 300);

const SERVICE = ipv4FromString('198.18.0.1');
const SERVICE_MAC = macFromString('02:00:00:00:00:01');
const CLIENT = ipv4FromString('198.18.0.10');
const CLIENT_MAC = macFromString('02:00:00:00:00:0a');
const CPORT = 40000;
const SPORT = 7000;
const C_ISN = 1000;
const S_ISN = 5000;
const PAYLOAD = 1448;
const STORED_EVERY = 64;

const SYN_OPTS = (tsVal: number, tsEcr: number): TcpOption[] => [
  { kind: 'mss', mss: 1460 },
  { kind: 'sackPermitted' },
  { kind: 'timestamps', tsVal, tsEcr },
  { kind: 'nop' },
  { kind: 'wscale', shift: 7 },
];
const TS = (tsVal: number, tsEcr: number): TcpOption[] => [
  { kind: 'nop' },
  { kind: 'nop' },
  { kind: 'timestamps', tsVal, tsEcr },
];

interface Seg {
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  options: TcpOption[];
  payload?: number;
}

/** An IPv4 TCP packet at offset `headroom` of its buffer. */
function ipPacket(src: number, dst: number, sp: number, dp: number, s: Seg, headroom = 0) {
  const payload = new Uint8Array(s.payload ?? 0);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
  const repr: TcpRepr = {
    srcPort: sp,
    dstPort: dp,
    seq: s.seq >>> 0,
    ack: s.ack === undefined ? undefined : s.ack >>> 0,
    flags: s.ack === undefined ? s.flags & ~TCP_ACK : s.flags | TCP_ACK,
    window: s.window ?? 65535,
    urgent: 0,
    options: s.options,
    payload,
  };
  const tcpLen = tcpBufferLen(repr);
  const buf = new Uint8Array(headroom + 20 + tcpLen);
  const ip = emitIpv4(
    {
      src,
      dst,
      protocol: IP_PROTO_TCP,
      ttl: 64,
      ident: 1,
      dscp: 0,
      ecn: 0,
      dontFragment: true,
      options: new Uint8Array(0),
      payloadLength: tcpLen,
    },
    buf.subarray(headroom),
  );
  emitTcp(repr, ip.payload, src, dst);
  return buf.subarray(headroom);
}

const clientFrame = (s: Seg): Uint8Array => {
  const ip = ipPacket(CLIENT, SERVICE, CPORT, SPORT, s);
  const frame = new Uint8Array(ETHERNET_HEADER_LEN + ip.length);
  emitEthernet({ dst: SERVICE_MAC, src: CLIENT_MAC, ethertype: ETHERTYPE_IPV4 }, frame);
  frame.set(ip, ETHERNET_HEADER_LEN);
  return frame;
};
const kernelPacket = (s: Seg): Uint8Array =>
  ipPacket(SERVICE, CLIENT, SPORT, CPORT, s, ETHERNET_HEADER_LEN);

/** The TCP view of a client frame / kernel packet, to move its seq in place. */
const tcpOfFrame = (f: Uint8Array): TcpPacket =>
  new TcpPacket(f.subarray(ETHERNET_HEADER_LEN + 20));
const tcpOfPacket = (p: Uint8Array): TcpPacket => new TcpPacket(p.subarray(20));

let sink = 0;
const fold = (fx: readonly SswEffect[]): number => fx.length;

/** A protected connection: handshake, SynStored, Welcome with a long lease. */
function established(): { e: SswEngine; conn: number; logSyn: LoggerMessage } {
  const e = new SswEngine({
    serviceAddr: SERVICE,
    serviceMac: SERVICE_MAC,
    mode: 'ftTcp',
    role: 'active',
    verifyLanChecksums: false,
    tunHeadroom: true,
  });
  e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 3_600_000 }, 0);
  e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN, options: SYN_OPTS(100, 0) }), 1);
  const fx = e.onTunPacket(
    kernelPacket({
      seq: S_ISN,
      ack: C_ISN + 1,
      flags: TCP_SYN | TCP_ACK,
      options: SYN_OPTS(7000, 100),
    }),
    2,
  );
  const logSyn = fx.find((x) => x.to === 'logger')?.msg;
  if (logSyn?.kind !== 'LogSyn') throw new Error('bench: no LogSyn');
  e.onLoggerMessage({ kind: 'SynStored', conn: logSyn.conn }, 3);
  return { e, conn: logSyn.conn, logSyn };
}

/** Client bytes, each segment new: R1.1 log + forward; stored every STORED_EVERY segments. */
function clientDataCase(): (i: number) => number {
  const { e, conn } = established();
  const frame = clientFrame({
    seq: C_ISN + 1,
    ack: S_ISN + 1,
    flags: TCP_ACK,
    options: TS(110, 7000),
    payload: PAYLOAD,
  });
  const tcp = tcpOfFrame(frame);
  let seq = C_ISN + 1;
  return (i) => {
    const fx = e.onLanFrame(frame, 10);
    let n = fold(fx);
    seq = seqAdd(seq, PAYLOAD);
    rewriteSeq(tcp, seq);
    if (i % STORED_EVERY === STORED_EVERY - 1)
      n += fold(
        e.onLoggerMessage({ kind: 'DataStored', conn, stableSeq: seq, finLogged: false }, 10),
      );
    return n;
  };
}

/** Server bytes on a protected connection (deltas 0): the outbound rewrite. */
function kernelCase(payload: number, e = established().e, sIsn = S_ISN): (i: number) => number {
  const packet = kernelPacket({
    seq: sIsn + 1,
    ack: C_ISN + 1,
    flags: TCP_ACK,
    window: 500,
    options: TS(7010, 110),
    payload,
  });
  const tcp = tcpOfPacket(packet);
  let seq = sIsn + 1;
  return () => {
    const n = fold(e.onTunPacket(packet, 10));
    seq = seqAdd(seq, Math.max(payload, 1));
    rewriteSeq(tcp, seq);
    return n;
  };
}

/** A connection re-created by a local recovery: the new kernel has another ISN and TS clock. */
function translatedCase(): (i: number) => number {
  const { e, logSyn } = established();
  e.onAppExit(20);
  e.startRecovery([{ ...logSyn, kind: 'ReplaySyn', clientAck: S_ISN + 1 } as LoggerMessage], 30);
  const K2 = 0x8000_0000;
  e.onTunPacket(
    kernelPacket({ seq: K2, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK, options: SYN_OPTS(50, 100) }),
    31,
  );
  e.onTunPacket(
    kernelPacket({
      seq: K2 + 1,
      ack: C_ISN + 1,
      flags: TCP_ACK,
      window: 500,
      options: TS(60, 110),
    }),
    32,
  );
  const view = e.connection(CLIENT, CPORT, SPORT);
  if (view?.mode !== 'translated' || view.deltaSeq === 0 || view.tsDelta === 0)
    throw new Error(`bench: re-creation did not go live translated (${view?.mode})`);
  return kernelCase(PAYLOAD, e, K2);
}

/** MANY connections established on one engine (client ports from CPORT up). */
const MANY = 1000;
function manyEstablished(): SswEngine {
  const e = new SswEngine({
    serviceAddr: SERVICE,
    serviceMac: SERVICE_MAC,
    mode: 'ftTcp',
    role: 'active',
    verifyLanChecksums: false,
    tunHeadroom: true,
  });
  e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 3_600_000 }, 0);
  for (let k = 0; k < MANY; k++) {
    const cport = CPORT + k;
    const syn = ipPacket(CLIENT, SERVICE, cport, SPORT, {
      seq: C_ISN,
      flags: TCP_SYN,
      options: SYN_OPTS(100, 0),
    });
    const frame = new Uint8Array(ETHERNET_HEADER_LEN + syn.length);
    emitEthernet({ dst: SERVICE_MAC, src: CLIENT_MAC, ethertype: ETHERTYPE_IPV4 }, frame);
    frame.set(syn, ETHERNET_HEADER_LEN);
    e.onLanFrame(frame, 1);
    const fx = e.onTunPacket(
      ipPacket(
        SERVICE,
        CLIENT,
        SPORT,
        cport,
        { seq: S_ISN, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK, options: SYN_OPTS(7000, 100) },
        ETHERNET_HEADER_LEN,
      ),
      2,
    );
    const logSyn = fx.find((x) => x.to === 'logger')?.msg;
    if (logSyn?.kind !== 'LogSyn') throw new Error('bench: no LogSyn');
    e.onLoggerMessage({ kind: 'SynStored', conn: logSyn.conn }, 3);
  }
  if (e.connectionCount() !== MANY) throw new Error('bench: connections missing');
  return e;
}

/** The engine's tick (every 10 ms in the runtime) with MANY idle connections. */
function manyTickCase(): (i: number) => number {
  const e = manyEstablished();
  let now = 10;
  return () => {
    now += 10;
    return fold(e.onTick(now));
  };
}

/** The stall watchdog's check (every tick in the runtime) with MANY connections. */
function manyWatchdogCase(): (i: number) => number {
  const e = manyEstablished();
  const w = new StallWatchdog({ budgetMs: 1200 });
  const host = { ...e.watchdogHost(), loggerLinkUp: true };
  let now = 10;
  return () => {
    now += 10;
    return w.check(now, host, () => e.connectionViews()).length;
  };
}

const cases: { name: string; what: string; make: () => (i: number) => number }[] = [
  {
    name: 'client-data',
    what: 'LAN -> log (LogData) + TUN, R1.1; DataStored every 64',
    make: clientDataCase,
  },
  {
    name: 'kernel-data',
    what: 'TUN -> LAN, R1.2-R1.5 clamp, window, TS (protected)',
    make: () => kernelCase(PAYLOAD),
  },
  { name: 'kernel-ack', what: 'TUN pure ACK -> LAN, same rewrite', make: () => kernelCase(0) },
  {
    name: 'translated-data',
    what: 'as kernel-data on a re-created connection (R7 seq + TSval)',
    make: translatedCase,
  },
  {
    name: 'tick-1000',
    what: `engine tick (calls/s) with ${MANY} idle protected connections`,
    make: manyTickCase,
  },
  {
    name: 'watchdog-1000',
    what: `stall watchdog check (calls/s, W.4: 128 visits) with ${MANY} connections`,
    make: manyWatchdogCase,
  },
];

function timeIters(fn: (i: number) => number, from: number, iters: number): number {
  let acc = 0;
  const t0 = process.hrtime.bigint();
  for (let i = from; i < from + iters; i++) acc = (acc + fn(i)) | 0;
  const ns = Number(process.hrtime.bigint() - t0);
  sink ^= acc;
  return ns;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

interface Row {
  case: string;
  pps: number;
  nsPerPacket: number;
  minPps: number;
  maxPps: number;
  iterations: number;
  rounds: number;
}

const rows: Row[] = [];
for (const c of cases) {
  if (only !== undefined && c.name !== only) continue;
  const fn = c.make();
  let done = 0;
  // Warm-up: at least 200 ms and 50k calls, then size rounds from the observed speed.
  let warmIters = 50_000;
  let ns = timeIters(fn, done, warmIters);
  done += warmIters;
  while (ns < 200e6) {
    warmIters *= 2;
    ns = timeIters(fn, done, warmIters);
    done += warmIters;
  }
  const iters = Math.max(10_000, Math.round((warmIters * ROUND_MS * 1e6) / ns));
  const pps: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    pps.push(iters / (timeIters(fn, done, iters) / 1e9));
    done += iters;
  }
  const med = median(pps);
  rows.push({
    case: c.name,
    pps: Math.round(med),
    nsPerPacket: Math.round((1e9 / med) * 10) / 10,
    minPps: Math.round(Math.min(...pps)),
    maxPps: Math.round(Math.max(...pps)),
    iterations: iters,
    rounds: ROUNDS,
  });
  if (!jsonOnly) process.stderr.write(`  ${c.name} done\n`);
}

const report = {
  bench: 'engine',
  payloadBytes: PAYLOAD,
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cpus: cpus().length,
  rounds: ROUNDS,
  roundMs: ROUND_MS,
  results: rows,
  sink,
};

if (!jsonOnly) {
  const fmt = (n: number) => n.toLocaleString('en-US');
  console.log(
    `engine bench: ${PAYLOAD}-byte payloads, ${ROUNDS} rounds x ~${ROUND_MS} ms, median (min..max)`,
  );
  console.log(
    `${'case'.padEnd(16)} ${'packets/s'.padStart(11)} ${'ns/pkt'.padStart(8)}  ${'min..max packets/s'.padEnd(24)} what`,
  );
  for (const r of rows) {
    const what = cases.find((c) => c.name === r.case)?.what ?? '';
    console.log(
      `${r.case.padEnd(16)} ${fmt(r.pps).padStart(11)} ${r.nsPerPacket.toFixed(1).padStart(8)}  ${`${fmt(r.minPps)}..${fmt(r.maxPps)}`.padEnd(24)} ${what}`,
    );
  }
  console.log(`(${report.cpu}, ${report.cpus} cpus, node ${report.node}; sink ${sink})`);
}
console.log(JSON.stringify(report));
