// Lab benchmark (`npm run bench:lab`): the same lab, one run, paths side by side.
//   plain    client <-> ftl-plain (a server namespace on the LAN, no wrapper)
//   passthrough  client <-> SSW with a bare L2/L3 relay core (the runtime's I/O floor) <-> kernel
//   forward  client <-> SSW (the engine in forward mode: parse, no logging) <-> ftl-primary kernel
//   fttcp    client <-> SSW (FT-TCP engine, logging to the logger) <-> ftl-primary kernel
// Bulk throughput each way (iperf3, the same unmodified server app on every path) and
// request/response latency (64-byte echo round trips, p50/p99). JSON in the run directory and
// on stdout with --json; a table otherwise.
// Stall figures (--kills n per recovery path; --stalls-only skips the paths above): a client
// streams through the echo server, the application (local) or the primary host (failover) is
// killed, and the client's longest silence is the stall; each kill's daemon timelines give a
// per-phase breakdown (median and max of each step, see PHASES).
// Scale figures (--scale N,...; 0 skips; --scale-only skips everything else): N connections from
// one client process (src/runtime/lab/manyclient.ts), 100 bytes every 200 ms each, against the
// echo application: plain (the same application, `--mode plain`, on ftl-plain) and through
// FT-TCP (primary + backup pair), with no failure and, with --scale-crash, through one primary
// host crash; each connection's longest silence (p50/p99/max), connect time, and the CPU the
// daemons spent. --baseline-root DIR runs the FT-TCP rows (paths forward and fttcp, the stall
// figures, the scale figures) a second time with the daemons of another checkout (e.g. `git
// archive main`), in the same run and interleaved with this tree's, for before/after tables.
//
// Checkpoint figures (--history MB,MB,...; --long-mb N; --history-only skips the rest): the
// stall against the connection's history with and without checkpoints, and one long stream
// with the logger's default limits (bench/checkpoint.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';

import {
  APP_PORT,
  FAST_TIMING,
  Lab,
  labRecoveryParams,
  recoveryAppEvents,
} from '../src/runtime/lab/lab.ts';
import type { ManyResult } from '../src/runtime/lab/manyclient.ts';
import {
  type Capture,
  HANDSHAKE_FILTER,
  handshakesOf,
  readTcp,
  startCapture,
  stopCapture,
} from '../src/runtime/lab/pcap.ts';
import { type LabProc, stopProc, tsxArgv, waitEvent, waitExit } from '../src/runtime/lab/procs.ts';
import type { RrResult } from '../src/runtime/lab/rrclient.ts';
import { ADDR, IF, LAB_TOOLS, LabError, NS, type NsName } from '../src/runtime/lab/topology.ts';
import { NO_INSTALL_HELP, requirePrereqs } from '../src/runtime/prereq.ts';
import {
  type HistoryStall,
  historyStall,
  historyTable,
  type LongStream,
  longStream,
} from './checkpoint.ts';

interface PathFigures {
  path: string;
  uploadMbps: number;
  downloadMbps: number;
  rr: RrResult;
  note?: string;
}

const p = new Command('bench-lab')
  .option('--seconds <n>', 'iperf3 duration per direction', (s) => Number(s), 5)
  .option('--rr-count <n>', 'request/response round trips', (s) => Number(s), 3000)
  .option(
    '--paths <list>',
    'comma-separated: plain,passthrough,forward,fttcp',
    'plain,passthrough,forward,fttcp',
  )
  .option(
    '--kills <n>',
    'crashes per recovery path for the stall figures (0: skip)',
    (s) => Number(s),
    5,
  )
  .option(
    '--path-rounds <n>',
    'repeat the path rows this many times, trees interleaved (the table shows medians)',
    (s) => Number(s),
    1,
  )
  .option('--stalls-only', 'skip the throughput and latency paths; only the stall figures', false)
  .option(
    '--scale <list>',
    'comma-separated connection counts for the scale figures (0: skip)',
    '1000',
  )
  .option(
    '--scale-seconds <n>',
    'seconds each scale run lasts once connected',
    (s) => Number(s),
    10,
  )
  .option('--scale-crash', 'scale figures also through one primary host crash', false)
  .option(
    '--scale-concurrency <n>',
    'scale client: handshakes in flight at a time (1: one after the other)',
    (s) => Number(s),
    1,
  )
  .option('--scale-only', 'only the scale figures', false)
  .option(
    '--scale-capture',
    "scale runs: capture the client's SYN/SYN-ACK/FIN/RST (bounded) and time every handshake",
    false,
  )
  .option(
    '--scale-rounds <n>',
    'scale: repeat every row this many times, interleaved (the table shows medians)',
    (s) => Number(s),
    1,
  )
  .option(
    '--baseline-root <dir>',
    'another checkout whose daemons run the FT-TCP rows (paths, stalls, scale) again (before/after)',
  )
  .option(
    '--history <mb-list>',
    'stall against history: MB through one echo connection before each kill (e.g. 1,100)',
    '',
  )
  .option(
    '--long-mb <n>',
    'one long echo stream with default limits, MB (0: skip)',
    (s) => Number(s),
    0,
  )
  .option('--history-only', 'only the checkpoint figures (--history, --long-mb)', false)
  .option('--json', 'print JSON only', false)
  .option('--no-install', NO_INSTALL_HELP)
  .parse();
const o = p.opts<{
  seconds: number;
  rrCount: number;
  paths: string;
  kills: number;
  pathRounds: number;
  stallsOnly: boolean;
  scale: string;
  scaleSeconds: number;
  scaleCrash: boolean;
  scaleConcurrency: number;
  scaleOnly: boolean;
  scaleCapture: boolean;
  scaleRounds: number;
  baselineRoot?: string;
  history: string;
  longMb: number;
  historyOnly: boolean;
  json: boolean;
  install: boolean;
}>();
const scaleNs = o.scale
  .split(',')
  .map((x) => Number(x.trim()))
  .filter((n) => n !== 0);
if (scaleNs.some((n) => !Number.isInteger(n) || n < 1 || n > 20_000)) {
  process.stderr.write(
    `bench-lab: --scale must list integers in 1..20000 (or 0), got ${o.scale}\n`,
  );
  process.exit(2);
}
if (!Number.isInteger(o.scaleSeconds) || o.scaleSeconds < 1 || o.scaleSeconds > 600) {
  process.stderr.write(`bench-lab: --scale-seconds must be an integer in 1..600\n`);
  process.exit(2);
}
if (!Number.isInteger(o.scaleRounds) || o.scaleRounds < 1 || o.scaleRounds > 20) {
  process.stderr.write(`bench-lab: --scale-rounds must be an integer in 1..20\n`);
  process.exit(2);
}
if (!Number.isInteger(o.pathRounds) || o.pathRounds < 1 || o.pathRounds > 20) {
  process.stderr.write(`bench-lab: --path-rounds must be an integer in 1..20\n`);
  process.exit(2);
}
if (!Number.isInteger(o.scaleConcurrency) || o.scaleConcurrency < 1) {
  process.stderr.write(`bench-lab: --scale-concurrency must be a positive integer\n`);
  process.exit(2);
}
const baselineRoot = o.baselineRoot === undefined ? undefined : resolve(o.baselineRoot);
if (baselineRoot !== undefined && !existsSync(join(baselineRoot, 'src/runtime/ssw/main.ts'))) {
  process.stderr.write(`bench-lab: --baseline-root ${baselineRoot} is not a checkout of fttcp\n`);
  process.exit(2);
}
if (!Number.isInteger(o.kills) || o.kills < 0 || o.kills > 1000) {
  process.stderr.write(`bench-lab: --kills must be an integer in 0..1000, got ${o.kills}\n`);
  process.exit(2);
}
const historyMb = o.history === '' ? [] : o.history.split(',').map((x) => Number(x.trim()));
if (historyMb.some((x) => !Number.isFinite(x) || x <= 0 || x > 100_000)) {
  process.stderr.write(`bench-lab: --history must be MB values in (0, 100000], got ${o.history}\n`);
  process.exit(2);
}
if (!Number.isInteger(o.longMb) || o.longMb < 0 || o.longMb > 100_000) {
  process.stderr.write(`bench-lab: --long-mb must be an integer in 0..100000, got ${o.longMb}\n`);
  process.exit(2);
}
// iperf3 is the unmodified server and client of the throughput rows; the rest is the lab's own.
requirePrereqs({ what: 'bench:lab', tools: [...LAB_TOOLS, 'iperf3'], lab: true }, o);

const iperf = (addr: string, reverse: boolean): number => {
  const r = spawnSync(
    'ip',
    [
      'netns',
      'exec',
      NS.client,
      'iperf3',
      '-c',
      addr,
      '-t',
      String(o.seconds),
      '-J',
      ...(reverse ? ['-R'] : []),
    ],
    { encoding: 'utf8', timeout: (o.seconds + 20) * 1000 },
  );
  if (r.status !== 0)
    throw new LabError(`iperf3 to ${addr} failed: ${r.stdout.slice(0, 400)} ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
  return Math.round(j.end.sum_received.bits_per_second / 1e6);
};

const measurePath = async (
  lab: Lab,
  path: string,
  ns: NsName,
  addr: string,
): Promise<PathFigures> => {
  const srv = lab.spawn(ns, `iperf3-${path}`, ['iperf3', '-s', '-B', addr]);
  await new Promise((r) => setTimeout(r, 500));
  // A failed direction is reported (NaN and a note), not fatal: the other figures still count.
  const notes: string[] = [];
  const tryIperf = (reverse: boolean): number => {
    try {
      return iperf(addr, reverse);
    } catch (e) {
      notes.push(`${reverse ? 'download' : 'upload'} failed: ${String(e).slice(0, 200)}`);
      return Number.NaN;
    }
  };
  const uploadMbps = tryIperf(false);
  // iperf3 -s runs one test at a time and refuses ("server is busy") a control connection
  // that arrives while it is still finishing the last one.
  await new Promise((r) => setTimeout(r, 500));
  const downloadMbps = tryIperf(true);
  await stopProc(srv);
  const echo = await lab.startPlainEcho(ns, addr, 7000);
  const rrProc = lab.spawn(
    NS.client,
    `rr-${path}`,
    tsxArgv(
      'src/runtime/lab/rrclient.ts',
      '--connect',
      `${addr}:7000`,
      '--count',
      String(o.rrCount),
    ),
  );
  await waitExit(rrProc, 120_000);
  await stopProc(echo);
  const rr = rrProc.events.at(-1) as unknown as RrResult | undefined;
  if (rr === undefined || !rr.ok)
    throw new LabError(`rr client on ${path} failed: ${JSON.stringify(rr)}`);
  return {
    path,
    uploadMbps,
    downloadMbps,
    rr,
    ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
  };
};

/**
 * Where a recovery's time goes. Each mark is a timeline event of one daemon (stamped with its
 * wall clock, ms resolution, all processes on one host clock), found in the run directory;
 * `kill` is the bench's own clock just before the kill, `reply` is the kill plus the client's
 * longest silence (its last reply before the kill came at most one 2 ms write interval
 * earlier, so `reply` may be that much early).
 */
interface Mark {
  name: string;
  file: string;
  match: (e: Record<string, unknown>) => boolean;
}
const MARKS: Record<'local' | 'failover', Mark[]> = {
  local: [
    { name: 'app-exit', file: 'ssw-primary', match: (e) => e.event === 'app-exit' },
    {
      name: 'app-start',
      file: 'ssw-primary',
      match: (e) => e.event === 'app-start' && e.mode === 'replay',
    },
    { name: 'nsw-replay-start', file: 'ssw-primary', match: (e) => e.event === 'replay-start' },
    { name: 'ssw-recreated', file: 'ssw-primary', match: (e) => e.event === 'recreated' },
    {
      name: 'ssw-live',
      file: 'ssw-primary',
      match: (e) => e.event === 'live' && e.component === 'ssw@primary',
    },
    {
      name: 'nsw-live',
      file: 'ssw-primary',
      match: (e) => e.event === 'live' && e.component !== 'ssw@primary',
    },
  ],
  failover: [
    { name: 'detected', file: 'recovery', match: (e) => e.event === 'detected' },
    { name: 'fenced', file: 'recovery', match: (e) => e.event === 'fenced' },
    { name: 'power-fenced', file: 'recovery', match: (e) => e.event === 'power-fenced' },
    { name: 'takeover', file: 'recovery', match: (e) => e.event === 'takeover' },
    { name: 'app-started', file: 'recovery', match: (e) => e.event === 'app-started' },
    { name: 'nsw-replay-start', file: 'recovery-app', match: (e) => e.event === 'replay-start' },
    { name: 'ssw-recreated', file: 'ssw-backup', match: (e) => e.event === 'recreated' },
    { name: 'nsw-live', file: 'recovery-app', match: (e) => e.event === 'live' },
    { name: 'live', file: 'recovery', match: (e) => e.event === 'live' },
  ],
};

/** The steps reported: the chain to the client's first reply, with the SSW's re-creation and
 * the coordinator's report (not on the client's path: the NSW and SSW go live by themselves)
 * as side branches. */
const PHASES: Record<'local' | 'failover', [string, string][]> = {
  local: [
    ['kill', 'app-exit'],
    ['app-exit', 'app-start'],
    ['app-start', 'nsw-replay-start'],
    ['nsw-replay-start', 'nsw-live'],
    ['nsw-live', 'reply'],
    ['app-start', 'ssw-recreated'],
    ['ssw-recreated', 'ssw-live'],
  ],
  failover: [
    ['kill', 'detected'],
    ['detected', 'fenced'],
    ['fenced', 'power-fenced'],
    ['power-fenced', 'takeover'],
    ['takeover', 'app-started'],
    ['app-started', 'nsw-replay-start'],
    ['nsw-replay-start', 'nsw-live'],
    ['nsw-live', 'reply'],
    ['takeover', 'ssw-recreated'],
    ['nsw-live', 'live'],
  ],
};

const readEvents = (runDir: string, file: string): Record<string, unknown>[] => {
  // The backup's applications are the recovery daemon's children (their lines in its log).
  if (file === 'recovery-app') return recoveryAppEvents(runDir);
  let text: string;
  try {
    text = readFileSync(join(runDir, `${file}.out`), 'utf8');
  } catch {
    return [];
  }
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a relayed line cut short: not a timeline event
    }
  }
  return out;
};

/** ms after the kill of each mark (absent marks are left out), then `reply`. */
const phaseMarks = (
  path: 'local' | 'failover',
  runDir: string,
  killWallMs: number,
  stallMs: number,
): Record<string, number> => {
  const files = new Map<string, Record<string, unknown>[]>();
  const marks: Record<string, number> = { kill: 0 };
  for (const m of MARKS[path]) {
    let evs = files.get(m.file);
    if (evs === undefined) {
      evs = readEvents(runDir, m.file);
      files.set(m.file, evs);
    }
    const e = evs.find((x) => typeof x.wall === 'string' && m.match(x));
    if (e === undefined) continue;
    const at = Date.parse(e.wall as string) - killWallMs;
    if (Number.isFinite(at)) marks[m.name] = at;
  }
  marks.reply = Math.round(stallMs);
  return marks;
};

interface OneStall {
  stallMs: number;
  marks: Record<string, number>;
}

/** Median and max of each step of PHASES over the kills that have both of its marks. */
const phaseSummary = (
  path: 'local' | 'failover',
  runs: readonly OneStall[],
): { phase: string; n: number; medianMs: number; maxMs: number }[] => {
  const steps = new Map<string, number[]>();
  for (const [a, b] of PHASES[path]) {
    const ds: number[] = [];
    for (const r of runs) {
      const from = r.marks[a];
      const to = r.marks[b];
      if (from !== undefined && to !== undefined) ds.push(to - from);
    }
    steps.set(`${a} -> ${b}`, ds);
  }
  return [...steps].map(([phase, ds]) => {
    const sorted = [...ds].sort((x, y) => x - y);
    return {
      phase,
      n: ds.length,
      medianMs: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
      maxMs: sorted.at(-1) ?? Number.NaN,
    };
  });
};

interface StallFigures {
  path: 'local' | 'failover';
  /** absent: this tree; `baseline`: the --baseline-root checkout's daemons */
  tree?: 'baseline';
  kills: number;
  stallsMs: number[];
  /** per kill: ms after the kill of each timeline mark (see MARKS) */
  marks: Record<string, number>[];
  phases: { phase: string; n: number; medianMs: number; maxMs: number }[];
  /** kills after which the client did not get its whole stream back (with the run's logs) */
  failed: string[];
  minMs: number;
  medianMs: number;
  maxMs: number;
  detectionTimeoutMs?: number;
}

/** One crash on a fresh lab: a client streams (2 ms between 1000-byte writes) through the
 * echo server; the longest silence it sees is the client-visible stall. */
const oneStall = async (
  path: 'local' | 'failover',
  codeRoot?: string,
): Promise<OneStall | string> => {
  const lab = await Lab.create(`stall-${path}`, codeRoot !== undefined ? { codeRoot } : {});
  try {
    let ssw: LabProc;
    if (path === 'local') {
      await lab.startLogger(['--lease-ms', '60000']);
      ssw = await lab.startFtTcpPrimary({ app: 'echo' });
    } else {
      ssw = (await lab.startFtTcpPair('echo')).primary;
    }
    const s = lab.startStream('stream', [
      '--connect',
      `${ADDR.service}:${APP_PORT.echo}`,
      '--bytes',
      '200000',
      '--chunk',
      '1000',
      '--interval-ms',
      '2',
      '--timeout-ms',
      '60000',
    ]);
    await waitEvent(s.proc, (e) => e.event === 'connected', 20_000, 'connected');
    await new Promise((r) => setTimeout(r, 300));
    const killWallMs = Date.now();
    if (path === 'local') {
      const pid = ssw.events.filter((e) => e.event === 'app-start').at(-1)?.pid;
      if (typeof pid !== 'number') throw new LabError('no application');
      process.kill(pid, 'SIGKILL');
    } else {
      lab.crashHost('primary');
    }
    const r = await s.result;
    if (!r.ok || r.receivedSha256 !== r.sentSha256)
      throw new LabError(`${path} crash: client failed: ${r.error}`);
    return { stallMs: r.maxStallMs, marks: phaseMarks(path, lab.runDir, killWallMs, r.maxStallMs) };
  } finally {
    await lab.close();
  }
};

/** This tree's daemons and, with --baseline-root, the baseline's (label, code root). */
const TREES: readonly (readonly [string, string | undefined])[] =
  baselineRoot === undefined
    ? [['', undefined]]
    : [
        ['@baseline', baselineRoot],
        ['', undefined],
      ];

/** `o.kills` crashes per tree, the trees interleaved kill by kill (a shared machine's load
 * then moves both alike). */
const stallFigures = async (path: 'local' | 'failover'): Promise<StallFigures[]> => {
  const acc = TREES.map(() => ({ runs: [] as OneStall[], failed: [] as string[] }));
  for (let i = 0; i < o.kills; i++) {
    for (const [t, [label, root]] of TREES.entries()) {
      const r = await oneStall(path, root).catch((e: unknown) => `lab error: ${String(e)}`);
      const a = acc[t];
      if (a === undefined) continue;
      if (typeof r === 'string') a.failed.push(r);
      else a.runs.push(r);
      if (!o.json) {
        const what =
          typeof r === 'string'
            ? r
            : `stall ${r.stallMs} ms (${Object.entries(r.marks)
                .map(([k, v]) => `${k} ${v}`)
                .join(', ')})`;
        process.stderr.write(`  ${path}${label} kill ${i + 1}/${o.kills}: ${what}\n`);
      }
    }
  }
  return TREES.map(([label], t) => {
    const { runs, failed } = acc[t] ?? { runs: [], failed: [] };
    const stallsMs = runs.map((r) => r.stallMs);
    const sorted = [...stallsMs].sort((a, b) => a - b);
    return {
      path,
      ...(label !== '' ? { tree: 'baseline' as const } : {}),
      kills: o.kills,
      stallsMs,
      marks: runs.map((r) => r.marks),
      phases: phaseSummary(path, runs),
      failed,
      minMs: sorted[0] ?? Number.NaN,
      medianMs: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
      maxMs: sorted.at(-1) ?? Number.NaN,
      ...(path === 'failover'
        ? { detectionTimeoutMs: labRecoveryParams(FAST_TIMING).suspectAfterMs }
        : {}),
    };
  });
};

// ---------------------------------------------------------------------------------------
// Scale: many light connections

/** CPU time (ms, user + system, every thread) a process has used so far; NaN if gone. */
const cpuMsOf = (pid: number | undefined): number => {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
};

interface ScaleFigures {
  /** `plain`, `fttcp`, or `fttcp@baseline` */
  path: string;
  conns: number;
  crash: boolean;
  ok: boolean;
  error?: string;
  failed: number;
  failures: string[];
  connectMs: number;
  handshakeMs: ManyResult['handshakeMs'];
  silenceMs: ManyResult['silenceMs'];
  waitMs: ManyResult['waitMs'];
  /** CPU ms per second of the run, per daemon (ssw, app, logger; plain: app) */
  cpuMsPerS: Record<string, number>;
  /** crash only: ms after the crash of each recovery mark (see MARKS.failover) */
  marks?: Record<string, number>;
  /** --scale-capture: the handshakes as the client's capture shows them */
  handshakes?: HandshakeSummary;
  runDir: string;
}

/** What a client-side handshake capture says (ms): handshakes with no SYN-ACK at the client,
 * with SYN retransmissions, the slowest ones and the longest gap between two first SYNs. */
interface HandshakeSummary {
  seen: number;
  noSynAck: number[];
  retransmittedSyn: number;
  slowest: { port: number; ms: number; syns: number }[];
  maxSynGapMs: number;
  capturePackets: number;
}

/** Packets per connection a handshake capture keeps at most (SYN and retries, SYN-ACK, FINs,
 * RSTs), and its floor: the capture's bound. */
const CAPTURE_PACKETS_PER_CONN = 12;

const summarizeHandshakes = (path: string): HandshakeSummary => {
  const rows = readTcp(path);
  const hs = handshakesOf(rows, ADDR.client);
  const firsts = hs.map((h) => h.firstSyn).sort((a, b) => a - b);
  let maxGap = 0;
  for (let k = 1; k < firsts.length; k++)
    maxGap = Math.max(maxGap, (firsts[k] ?? 0) - (firsts[k - 1] ?? 0));
  const timed = hs
    .filter((h) => h.firstSynAck !== undefined)
    .map((h) => ({
      port: h.port,
      ms: Math.round(((h.firstSynAck ?? 0) - h.firstSyn) * 1000),
      syns: h.syns,
    }))
    .sort((a, b) => b.ms - a.ms);
  return {
    seen: hs.length,
    noSynAck: hs.filter((h) => h.firstSynAck === undefined).map((h) => h.port),
    retransmittedSyn: hs.filter((h) => h.syns > 1).length,
    slowest: timed.slice(0, 5),
    maxSynGapMs: Math.round(maxGap * 1000),
    capturePackets: rows.length,
  };
};

/** The scale client's bound on its whole connect phase (ms): one handshake after the other at
 * a load average of 16 took ~110 ms each, 1000 of them longer than a minute. */
const SCALE_CONNECT_PHASE_MS = 150_000;

/** One scale run on a fresh lab: `path` plain or FT-TCP (with this tree's daemons or those of
 * `codeRoot`), N connections, optionally one primary host crash three seconds in. */
const scaleRun = async (
  path: string,
  conns: number,
  crash: boolean,
  codeRoot?: string,
): Promise<ScaleFigures> => {
  const lab = await Lab.create(`scale-${path.replace('@', '-')}-${conns}`, {
    ...(codeRoot !== undefined ? { codeRoot } : {}),
  });
  let capture: Capture | undefined;
  try {
    const pids: Record<string, number | undefined> = {};
    let target: string;
    if (path === 'plain') {
      const app = lab.spawn(
        NS.plain,
        'echo-plain',
        tsxArgv(
          'src/runtime/examples/echo.ts',
          '--listen',
          `${ADDR.plain}:${APP_PORT.echo}`,
          '--mode',
          'plain',
        ),
      );
      await waitEvent(app, (e) => e.event === 'listening', 20_000, 'plain echo listening');
      pids.app = app.child.pid;
      target = `${ADDR.plain}:${APP_PORT.echo}`;
    } else {
      const pair = await lab.startFtTcpPair('echo');
      pids.ssw = pair.primary.child.pid;
      pids.logger = pair.logger.child.pid;
      const start = pair.primary.events.filter((e) => e.event === 'app-start').at(-1);
      pids.app = typeof start?.pid === 'number' ? start.pid : undefined;
      target = `${ADDR.service}:${APP_PORT.echo}`;
    }
    const seconds = o.scaleSeconds + (crash ? 10 : 0);
    if (o.scaleCapture)
      capture = await startCapture(
        NS.client,
        IF.client,
        lab.runDir,
        'client-handshakes',
        lab.runDir,
        96,
        {
          filter: HANDSHAKE_FILTER,
          maxPackets: CAPTURE_PACKETS_PER_CONN * conns,
        },
      );
    const handshakes = async (): Promise<HandshakeSummary | undefined> => {
      if (capture === undefined) return undefined;
      await stopCapture(capture);
      const h = summarizeHandshakes(capture.path);
      writeFileSync(join(lab.runDir, 'handshakes.json'), `${JSON.stringify(h)}\n`);
      return h;
    };
    const client = lab.spawn(
      NS.client,
      'manyclient',
      tsxArgv(
        'src/runtime/lab/manyclient.ts',
        '--connect',
        target,
        '--conns',
        String(conns),
        '--seconds',
        String(seconds),
        '--connect-concurrency',
        String(o.scaleConcurrency),
        '--max-connect-ms',
        String(SCALE_CONNECT_PHASE_MS),
      ),
    );
    const figures = (
      r: ManyResult,
      cpuMsPerS: Record<string, number>,
      hs: HandshakeSummary | undefined,
      killWallMs?: number,
    ): ScaleFigures => ({
      path,
      conns,
      crash,
      ok: r.ok,
      ...(r.error !== undefined ? { error: r.error } : {}),
      failed: r.failed,
      failures: r.failures,
      connectMs: r.connectMs,
      handshakeMs: r.handshakeMs,
      silenceMs: r.silenceMs,
      waitMs: r.waitMs,
      cpuMsPerS,
      ...(killWallMs !== undefined
        ? { marks: phaseMarks('failover', lab.runDir, killWallMs, r.silenceMs.max) }
        : {}),
      ...(hs !== undefined ? { handshakes: hs } : {}),
      runDir: lab.runDir,
    });
    // The client gives up its connect phase first and then ends with its result, which says
    // what was in flight: that result is the row, not a lab error.
    const opened = await waitEvent(
      client,
      (e) => e.event === 'connected-all' || typeof e.ok === 'boolean',
      SCALE_CONNECT_PHASE_MS + 10_000,
      'every connection open',
    );
    if (opened.event !== 'connected-all') {
      await waitExit(client, 10_000);
      return figures(opened as unknown as ManyResult, {}, await handshakes());
    }
    const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMsOf(pid)]));
    const t0 = performance.now();
    let killWallMs: number | undefined;
    if (crash) {
      await new Promise((r) => setTimeout(r, 3000));
      killWallMs = Date.now();
      lab.crashHost('primary');
    }
    // CPU is read before the run ends (the client's end closes every connection).
    await new Promise((r) =>
      setTimeout(r, Math.max(0, seconds * 1000 - 500 - (performance.now() - t0))),
    );
    const cpuMsPerS: Record<string, number> = {};
    const elapsedS = (performance.now() - t0) / 1000;
    for (const [k, pid] of Object.entries(pids)) {
      const used = cpuMsOf(pid) - (cpu0[k] ?? Number.NaN);
      if (Number.isFinite(used)) cpuMsPerS[k] = Math.round(used / elapsedS);
    }
    await waitExit(client, seconds * 1000 + 130_000);
    const r = client.events.at(-1) as unknown as ManyResult | undefined;
    if (r === undefined || typeof r.ok !== 'boolean')
      throw new LabError(`scale client on ${path} gave no result (exit ${client.exitCode})`);
    return figures(r, cpuMsPerS, await handshakes(), killWallMs);
  } finally {
    // tcpdump stops at its packet bound or here, whatever ended the run.
    if (capture !== undefined && !capture.proc.exited) await stopCapture(capture);
    await lab.close();
  }
};

/** One row per (N, path, failure): the median of each figure over the rounds. */
const scaleMedians = (all: readonly ScaleFigures[]): ScaleFigures[] => {
  const groups = new Map<string, ScaleFigures[]>();
  for (const f of all) {
    const k = `${f.conns}/${f.path}/${f.crash}`;
    const g = groups.get(k);
    if (g === undefined) groups.set(k, [f]);
    else g.push(f);
  }
  const med = (xs: number[]): number => {
    const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)] ?? Number.NaN;
  };
  const q = (fs: ScaleFigures[], pick: (f: ScaleFigures) => ManyResult['silenceMs']) => ({
    p50: med(fs.map((f) => pick(f).p50)),
    p99: med(fs.map((f) => pick(f).p99)),
    max: med(fs.map((f) => pick(f).max)),
  });
  return [...groups.values()].map((fs) => {
    const first = fs[0] as ScaleFigures;
    const cpu: Record<string, number> = {};
    for (const k of ['ssw', 'app', 'logger'])
      if (fs.some((f) => f.cpuMsPerS[k] !== undefined))
        cpu[k] = med(fs.map((f) => f.cpuMsPerS[k] ?? Number.NaN));
    return {
      ...first,
      ok: fs.every((f) => f.ok),
      failed: Math.max(...fs.map((f) => f.failed)),
      connectMs: med(fs.map((f) => f.connectMs)),
      handshakeMs: q(fs, (f) => f.handshakeMs),
      silenceMs: q(fs, (f) => f.silenceMs),
      waitMs: q(fs, (f) => f.waitMs),
      cpuMsPerS: cpu,
    };
  });
};

const scaleFigures = async (): Promise<ScaleFigures[]> => {
  const out: ScaleFigures[] = [];
  const runs: [string, boolean, string | undefined][] = [];
  for (const crash of o.scaleCrash ? [false, true] : [false]) {
    if (!crash) runs.push(['plain', false, undefined]);
    if (baselineRoot !== undefined) runs.push(['fttcp@baseline', crash, baselineRoot]);
    runs.push(['fttcp', crash, undefined]);
  }
  // Rounds interleave the rows (plain, baseline, this tree, plain, ...): on a shared machine
  // the load drifts, and the same row run back to back would carry the drift as a difference.
  for (let round = 0; round < o.scaleRounds; round++)
    for (const n of scaleNs)
      for (const [path, crash, root] of runs) {
        const f = await scaleRun(path, n, crash, root).catch(
          (e: unknown): ScaleFigures => ({
            path,
            conns: n,
            crash,
            ok: false,
            error: `lab error: ${String(e).slice(0, 300)}`,
            failed: n,
            failures: [],
            connectMs: Number.NaN,
            handshakeMs: { p50: Number.NaN, p99: Number.NaN, max: Number.NaN },
            silenceMs: { p50: Number.NaN, p99: Number.NaN, max: Number.NaN },
            waitMs: { p50: Number.NaN, p99: Number.NaN, max: Number.NaN },
            cpuMsPerS: {},
            runDir: '',
          }),
        );
        out.push(f);
        if (!o.json)
          process.stderr.write(
            `  scale ${path} N=${n}${crash ? ' crash' : ''} round ${round + 1}: silence p50 ${f.silenceMs.p50} p99 ${f.silenceMs.p99} max ${f.silenceMs.max} ms, connect ${f.connectMs} ms${f.ok ? '' : ` FAILED ${f.error ?? ''} ${f.failures.join('; ')}`}\n`,
          );
      }
  return out;
};

/** One row per path: the median of each figure over the rounds (the JSON keeps every round). */
const pathMedians = (all: readonly PathFigures[]): PathFigures[] => {
  const med = (xs: number[]): number => {
    const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)] ?? Number.NaN;
  };
  const groups = new Map<string, PathFigures[]>();
  for (const f of all) groups.set(f.path, [...(groups.get(f.path) ?? []), f]);
  return [...groups.values()].map((fs) => {
    const first = fs[0] as PathFigures;
    return {
      ...first,
      uploadMbps: med(fs.map((f) => f.uploadMbps)),
      downloadMbps: med(fs.map((f) => f.downloadMbps)),
      rr: {
        ...first.rr,
        p50Us: med(fs.map((f) => f.rr.p50Us)),
        p99Us: med(fs.map((f) => f.rr.p99Us)),
      },
    };
  });
};

const main = async (): Promise<void> => {
  const paths =
    o.stallsOnly || o.scaleOnly || o.historyOnly ? [] : o.paths.split(',').map((s) => s.trim());
  const figures: PathFigures[] = [];
  // The run directory of this tree's lab holds bench.json.
  let lab: Lab | undefined;
  // Rounds interleave the trees (baseline, this, baseline, ...), as the scale rows do.
  const rounds = paths.length === 0 ? [0] : Array.from({ length: o.pathRounds }, (_, i) => i);
  for (const [round, label, root] of rounds.flatMap((r) =>
    TREES.map(([l, t]) => [r, l, t] as const),
  )) {
    // The baseline's daemons run only the rows that have daemons (forward, fttcp).
    const treePaths = label === '' ? paths : paths.filter((x) => x === 'forward' || x === 'fttcp');
    if (treePaths.length === 0 && (label !== '' || round > 0)) continue;
    const l = await Lab.create(
      `bench${label.replace('@', '-')}`,
      root !== undefined ? { codeRoot: root } : {},
    );
    if (label === '') lab = l;
    try {
      for (const path of treePaths) {
        const name = `${path}${label}`;
        if (path === 'plain') {
          figures.push(await measurePath(l, 'plain', NS.plain, ADDR.plain));
        } else if (path === 'forward' || path === 'passthrough') {
          const ssw = await l.startSsw('primary', { mode: path });
          figures.push(await measurePath(l, name, NS.primary, ADDR.service));
          await stopProc(ssw);
        } else if (path === 'fttcp') {
          const stop = await l.startFtTcpHosts();
          const f = await measurePath(l, name, NS.primary, ADDR.service);
          const why = 'server apps not NSW-wrapped (iperf3, plain echo): SSW + logger costs only';
          figures.push({ ...f, note: f.note === undefined ? why : `${why}; ${f.note}` });
          await stop();
        } else {
          throw new LabError(`unknown path '${path}' (plain, passthrough, forward, fttcp)`);
        }
      }
    } finally {
      await l.close();
    }
  }
  if (lab === undefined) throw new LabError('no lab ran');
  const history: HistoryStall[] = [];
  for (const path of ['local', 'failover'] as const) {
    for (const mb of historyMb) {
      for (const ckpt of [true, false]) {
        const r = await historyStall(path, Math.round(mb * 1e6), ckpt);
        if (!o.json)
          process.stderr.write(
            `  history ${path} ${mb} MB ${ckpt ? 'checkpoints' : 'no checkpoints'}: ${r.error ?? `stall ${r.stallMs} ms, replayed ${r.replayedDets} dets from ${r.fromDet}`}\n`,
          );
        history.push(r);
      }
    }
  }
  let long: LongStream | undefined;
  if (o.longMb > 0) long = await longStream(o.longMb * 1e6);
  const stalls: StallFigures[] = [];
  if (o.kills > 0 && !o.scaleOnly && !o.historyOnly) {
    stalls.push(...(await stallFigures('local')));
    stalls.push(...(await stallFigures('failover')));
  }
  const scale = o.stallsOnly || o.historyOnly ? [] : await scaleFigures();
  const out = {
    date: new Date().toISOString(),
    seconds: o.seconds,
    rrCount: o.rrCount,
    figures,
    stalls,
    scale,
    ...(baselineRoot !== undefined ? { baselineRoot } : {}),
    history,
    ...(long !== undefined ? { long } : {}),
  };
  writeFileSync(join(lab.runDir, 'bench.json'), `${JSON.stringify(out, null, 2)}\n`);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  const table = (rows: string[][]): void => {
    const w = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
    for (const r of rows)
      process.stdout.write(`${r.map((c, i) => c.padStart(w[i] ?? 0)).join('  ')}\n`);
  };
  const rows = [
    ['path', 'upload Mbit/s', 'download Mbit/s', 'rr p50 us', 'rr p99 us'],
    ...pathMedians(figures).map((f) => [
      f.path,
      String(f.uploadMbps),
      String(f.downloadMbps),
      String(f.rr.p50Us),
      String(f.rr.p99Us),
    ]),
  ];
  if (figures.length > 0) {
    if (o.pathRounds > 1)
      process.stdout.write(`(path rows: the median over ${o.pathRounds} interleaved rounds)\n`);
    table(rows);
  }
  for (const f of figures)
    if (f.note?.includes('failed') === true) process.stdout.write(`${f.path}: ${f.note}\n`);
  for (const st of stalls) {
    process.stdout.write(
      `stall ${`${st.path}${st.tree === 'baseline' ? '@baseline' : ''}`.padEnd(17)} over ${st.kills} kills (${st.failed.length} failed): min ${st.minMs} ms, median ${st.medianMs} ms, max ${st.maxMs} ms${st.detectionTimeoutMs !== undefined ? ` (detection timeout ${st.detectionTimeoutMs} ms)` : ''}\n`,
    );
    for (const ph of st.phases)
      process.stdout.write(
        `  ${ph.phase.padEnd(36)} median ${String(ph.medianMs).padStart(4)} ms  max ${String(ph.maxMs).padStart(4)} ms  (n ${ph.n})\n`,
      );
  }
  if (scale.length > 0) {
    process.stdout.write(
      `scale: N connections, 100 B every 200 ms each, ${o.scaleSeconds} s${o.scaleCrash ? ' (crash runs: +10 s, primary host crash 3 s in)' : ''}; silence = a connection's longest gap between two echoes\n`,
    );
    const plainP50 = new Map(
      scaleMedians(scale)
        .filter((f) => f.path === 'plain')
        .map((f) => [f.conns, f.silenceMs.p50]),
    );
    if (o.scaleRounds > 1)
      process.stdout.write(
        `(each row: the median over ${o.scaleRounds} interleaved rounds of every figure; ok: every round ok)\n`,
      );
    table([
      [
        'N',
        'path',
        'failure',
        'silence p50/p99/max ms',
        'x plain p50',
        'wait p99 ms',
        'connect ms',
        'handshake p50/p99 ms',
        'cpu ms/s ssw,app,logger',
        'ok',
      ],
      ...scaleMedians(scale).map((f) => [
        String(f.conns),
        f.path,
        f.crash ? 'host crash' : 'none',
        `${f.silenceMs.p50}/${f.silenceMs.p99}/${f.silenceMs.max}`,
        (f.silenceMs.p50 / (plainP50.get(f.conns) ?? Number.NaN)).toFixed(2),
        String(f.waitMs.p99),
        String(f.connectMs),
        `${f.handshakeMs.p50}/${f.handshakeMs.p99}`,
        ['ssw', 'app', 'logger'].map((k) => String(f.cpuMsPerS[k] ?? '-')).join(','),
        f.ok ? 'yes' : `NO (${f.failed} failed)`,
      ]),
    ]);
    for (const f of scale.filter((x) => x.marks !== undefined))
      process.stdout.write(
        `  ${f.path} N=${f.conns} crash marks (ms after the kill): ${Object.entries(f.marks ?? {})
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}\n`,
      );
  }
  if (history.length > 0) for (const l of historyTable(history)) process.stdout.write(`${l}\n`);
  if (long !== undefined)
    process.stdout.write(
      `long stream ${long.bytes / 1e6} MB, default limits: ${long.ok ? 'whole' : `FAILED ${long.error}`} in ${long.ms} ms (${long.mbPerS} MB/s); ${long.checkpointsStored} checkpoints stored, ${long.truncatedBytes} bytes truncated, unprotected ${long.unprotected}, stalled ${long.stalled}; pause per checkpoint p50 ${long.pauseP50Ms} ms p99 ${long.pauseP99Ms} ms max ${long.pauseMaxMs} ms (n ${long.pauses})\n`,
    );
  process.stdout.write(`(json: ${join(lab.runDir, 'bench.json')})\n`);
};

await main();
