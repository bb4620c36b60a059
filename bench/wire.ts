// Wire-layer throughput: packets per second for the SSW's per-packet work on 1500-byte
// IPv4/TCP segments (1448 bytes of payload, NOP NOP TS options, as Linux sends them).
//
//   npm run bench:wire              table, then one JSON line
//   npm run bench:wire -- --json    the JSON line only
//   options: --rounds N (default 7)  --ms M (target duration of one round, default 300)
//
// Method: each case first runs untimed for warm-up (JIT tiers settle), then `rounds` timed
// rounds of a fixed iteration count sized from the warm-up to last about `ms` each; the median
// round is reported, with min and max so the spread is visible. Every case folds a value from
// each packet into a sink that is printed, so the work cannot be optimised away. The machine
// may be shared: compare cases within one run, not across runs.
import { cpus } from 'node:os';
import {
  emitIpv4,
  emitTcp,
  IP_PROTO_TCP,
  Ipv4Packet,
  ipv4FromString,
  parseIpv4,
  parseTcp,
  rewriteAck,
  rewriteTimestamps,
  rewriteWindow,
  TCP_ACK,
  TcpPacket,
  type TcpRepr,
  tcpBufferLen,
} from '../src/wire/index.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number`);
  return v;
};
const jsonOnly = args.includes('--json');
const ROUNDS = flag('--rounds', 7);
const ROUND_MS = flag('--ms', 300);

const SRC = ipv4FromString('198.18.0.1');
const DST = ipv4FromString('198.18.0.2');

function buildPacket(): Uint8Array {
  const payload = new Uint8Array(1448);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
  const tcp: TcpRepr = {
    srcPort: 40000,
    dstPort: 6379,
    seq: 0x1000_0000,
    ack: 0x2000_0000,
    flags: TCP_ACK,
    window: 502,
    urgent: 0,
    options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamps', tsVal: 1, tsEcr: 2 }],
    payload,
  };
  const tcpLen = tcpBufferLen(tcp);
  const buf = new Uint8Array(20 + tcpLen);
  const ip = emitIpv4(
    {
      src: SRC,
      dst: DST,
      protocol: IP_PROTO_TCP,
      ttl: 64,
      ident: 1,
      dscp: 0,
      ecn: 0,
      dontFragment: true,
      options: new Uint8Array(0),
      payloadLength: tcpLen,
    },
    buf,
  );
  emitTcp(tcp, ip.payload, SRC, DST);
  if (buf.length !== 1500) throw new Error(`bench packet is ${buf.length} bytes, want 1500`);
  return buf;
}

const pkt = buildPacket();
let sink = 0;

// Each case handles one packet per call and returns a number folded into the sink.
const cases: { name: string; what: string; fn: (i: number) => number }[] = [
  {
    name: 'views',
    what: 'checked IPv4 + TCP views, read ports/seq/ack/flags (no repr, no checksum)',
    fn: () => {
      const ip = Ipv4Packet.checked(pkt);
      if (!ip.ok) return -1;
      const t = TcpPacket.checked(ip.value.payload);
      if (!t.ok) return -1;
      const p = t.value;
      return p.srcPort ^ p.dstPort ^ p.seqNumber ^ p.ackNumber ^ p.flags;
    },
  },
  {
    name: 'parse',
    what: 'parse-only baseline: views + parseIpv4 + parseTcp reprs, checksums not verified',
    fn: () => {
      const ip = Ipv4Packet.checked(pkt);
      if (!ip.ok) return -1;
      const ipr = parseIpv4(ip.value, { verifyChecksum: false });
      const t = TcpPacket.checked(ip.value.payload);
      if (!t.ok || !ipr.ok) return -1;
      const r = parseTcp(t.value, ipr.value.src, ipr.value.dst, { verifyChecksum: false });
      return r.ok ? r.value.seq ^ r.value.options.length : -1;
    },
  },
  {
    name: 'parse+verify',
    what: 'as parse, verifying IPv4 and TCP checksums (full sum over 1480 bytes)',
    fn: () => {
      const ip = Ipv4Packet.checked(pkt);
      if (!ip.ok) return -1;
      const ipr = parseIpv4(ip.value);
      const t = TcpPacket.checked(ip.value.payload);
      if (!t.ok || !ipr.ok) return -1;
      const r = parseTcp(t.value, ipr.value.src, ipr.value.dst);
      return r.ok ? r.value.seq : -1;
    },
  },
  {
    name: 'rewrite-incr',
    what: 'SSW path: views + rewrite ack and window, RFC 1624 incremental checksum',
    fn: (i) => {
      const ip = Ipv4Packet.checked(pkt);
      if (!ip.ok) return -1;
      const t = TcpPacket.checked(ip.value.payload);
      if (!t.ok) return -1;
      rewriteAck(t.value, (0x2000_0000 + (i & 0xffff)) >>> 0);
      rewriteWindow(t.value, 500 + (i & 7));
      return t.value.checksum;
    },
  },
  {
    name: 'parse+rewrite',
    what: 'parse (reprs) then rewrite ack and window with incremental checksum',
    fn: (i) => {
      const ip = Ipv4Packet.checked(pkt);
      if (!ip.ok) return -1;
      const ipr = parseIpv4(ip.value, { verifyChecksum: false });
      const t = TcpPacket.checked(ip.value.payload);
      if (!t.ok || !ipr.ok) return -1;
      const r = parseTcp(t.value, ipr.value.src, ipr.value.dst, { verifyChecksum: false });
      if (!r.ok) return -1;
      rewriteAck(t.value, (0x2000_0000 + (i & 0xffff)) >>> 0);
      rewriteWindow(t.value, 500 + (i & 7));
      return t.value.checksum ^ r.value.seq;
    },
  },
  {
    name: 'rewrite-incr+ts',
    what: 'as rewrite-incr, plus TSval/TSecr located and rewritten in place',
    fn: (i) => {
      const ip = Ipv4Packet.checked(pkt);
      if (!ip.ok) return -1;
      const t = TcpPacket.checked(ip.value.payload);
      if (!t.ok) return -1;
      rewriteAck(t.value, (0x2000_0000 + (i & 0xffff)) >>> 0);
      rewriteWindow(t.value, 500 + (i & 7));
      rewriteTimestamps(t.value, i >>> 0, 2);
      return t.value.checksum;
    },
  },
  {
    name: 'rewrite-full',
    what: 'full-checksum baseline: same rewrite, then the TCP checksum recomputed over 1480 bytes',
    fn: (i) => {
      const ip = Ipv4Packet.checked(pkt);
      if (!ip.ok) return -1;
      const t = TcpPacket.checked(ip.value.payload);
      if (!t.ok) return -1;
      t.value.ackNumber = (0x2000_0000 + (i & 0xffff)) >>> 0;
      t.value.window = 500 + (i & 7);
      t.value.fillChecksum(SRC, DST);
      return t.value.checksum;
    },
  },
];

function timeIters(fn: (i: number) => number, iters: number): number {
  let acc = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) acc = (acc + fn(i)) | 0;
  const ns = Number(process.hrtime.bigint() - t0);
  sink ^= acc;
  return ns;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
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
  // Warm-up: at least 200 ms and 100k calls, then size rounds from the observed speed.
  let warmIters = 100_000;
  let ns = timeIters(c.fn, warmIters);
  while (ns < 200e6) {
    warmIters *= 2;
    ns = timeIters(c.fn, warmIters);
  }
  const iters = Math.max(10_000, Math.round((warmIters * ROUND_MS * 1e6) / ns));
  const pps: number[] = [];
  for (let r = 0; r < ROUNDS; r++) pps.push(iters / (timeIters(c.fn, iters) / 1e9));
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
  bench: 'wire',
  packetBytes: pkt.length,
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
    `wire bench: ${pkt.length}-byte IPv4/TCP, ${ROUNDS} rounds x ~${ROUND_MS} ms, median (min..max)`,
  );
  console.log(
    `${'case'.padEnd(17)} ${'packets/s'.padStart(12)} ${'ns/pkt'.padStart(8)}  ${'min..max packets/s'.padEnd(26)} what`,
  );
  for (const r of rows) {
    const what = cases.find((c) => c.name === r.case)?.what ?? '';
    console.log(
      `${r.case.padEnd(17)} ${fmt(r.pps).padStart(12)} ${r.nsPerPacket.toFixed(1).padStart(8)}  ${`${fmt(r.minPps)}..${fmt(r.maxPps)}`.padEnd(26)} ${what}`,
    );
  }
  console.log(`(${report.cpu}, ${report.cpus} cpus, node ${report.node}; sink ${sink})`);
}
console.log(JSON.stringify(report));
