// Lab benchmark (`npm run bench:lab`): the same lab, one run, paths side by side.
//   plain    client <-> ftl-plain (a server namespace on the LAN, no wrapper)
//   passthrough  client <-> SSW with a bare L2/L3 relay core (the runtime's I/O floor) <-> kernel
//   forward  client <-> SSW (the engine in forward mode: parse, no logging) <-> ftl-primary kernel
//   fttcp    client <-> SSW (FT-TCP engine, logging to the logger) <-> ftl-primary kernel
// Bulk throughput each way (iperf3, the same unmodified server app on every path) and
// request/response latency (64-byte echo round trips, p50/p99). JSON in the run directory and
// on stdout with --json; a table otherwise.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { DEFAULT_RECOVERY_PARAMS } from '../src/machines/recovery/params.ts';
import { APP_PORT, Lab } from '../src/runtime/lab/lab.ts';
import { type LabProc, stopProc, tsxArgv, waitEvent, waitExit } from '../src/runtime/lab/procs.ts';
import type { RrResult } from '../src/runtime/lab/rrclient.ts';
import { ADDR, LabError, NS, type NsName } from '../src/runtime/lab/topology.ts';

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
  .option('--json', 'print JSON only', false)
  .parse();
const o = p.opts<{
  seconds: number;
  rrCount: number;
  paths: string;
  kills: number;
  json: boolean;
}>();

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

interface StallFigures {
  path: 'local' | 'failover';
  kills: number;
  stallsMs: number[];
  /** kills after which the client did not get its whole stream back (with the run's logs) */
  failed: string[];
  minMs: number;
  medianMs: number;
  maxMs: number;
  detectionTimeoutMs?: number;
}

/** One crash on a fresh lab: a client streams (2 ms between 1000-byte writes) through the
 * echo server; the longest silence it sees is the client-visible stall. */
const oneStall = async (path: 'local' | 'failover'): Promise<number | string> => {
  const lab = await Lab.create(`stall-${path}`);
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
    return r.maxStallMs;
  } finally {
    await lab.close();
  }
};

const stallFigures = async (path: 'local' | 'failover'): Promise<StallFigures> => {
  const stallsMs: number[] = [];
  const failed: string[] = [];
  for (let i = 0; i < o.kills; i++) {
    const r = await oneStall(path).catch((e: unknown) => `lab error: ${String(e)}`);
    if (typeof r === 'number') stallsMs.push(r);
    else failed.push(r);
    if (!o.json) {
      process.stderr.write(
        `  ${path} kill ${i + 1}/${o.kills}: ${typeof r === 'number' ? `stall ${r} ms` : r}\n`,
      );
    }
  }
  const sorted = [...stallsMs].sort((a, b) => a - b);
  return {
    path,
    kills: o.kills,
    stallsMs,
    failed,
    minMs: sorted[0] ?? Number.NaN,
    medianMs: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
    maxMs: sorted.at(-1) ?? Number.NaN,
    ...(path === 'failover' ? { detectionTimeoutMs: DEFAULT_RECOVERY_PARAMS.suspectAfterMs } : {}),
  };
};

const main = async (): Promise<void> => {
  const paths = o.paths.split(',').map((s) => s.trim());
  const lab = await Lab.create('bench');
  const figures: PathFigures[] = [];
  try {
    for (const path of paths) {
      if (path === 'plain') {
        figures.push(await measurePath(lab, 'plain', NS.plain, ADDR.plain));
      } else if (path === 'forward' || path === 'passthrough') {
        const ssw = await lab.startSsw('primary', { mode: path });
        figures.push(await measurePath(lab, path, NS.primary, ADDR.service));
        await stopProc(ssw);
      } else if (path === 'fttcp') {
        const stop = await lab.startFtTcpHosts();
        const f = await measurePath(lab, 'fttcp', NS.primary, ADDR.service);
        const why = 'server apps not NSW-wrapped (iperf3, plain echo): SSW + logger costs only';
        figures.push({ ...f, note: f.note === undefined ? why : `${why}; ${f.note}` });
        await stop();
      } else {
        throw new LabError(`unknown path '${path}' (plain, passthrough, forward, fttcp)`);
      }
    }
  } finally {
    await lab.close();
  }
  const stalls: StallFigures[] = [];
  if (o.kills > 0) {
    stalls.push(await stallFigures('local'));
    stalls.push(await stallFigures('failover'));
  }
  const out = {
    date: new Date().toISOString(),
    seconds: o.seconds,
    rrCount: o.rrCount,
    figures,
    stalls,
  };
  writeFileSync(join(lab.runDir, 'bench.json'), `${JSON.stringify(out, null, 2)}\n`);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  const rows = [
    ['path', 'upload Mbit/s', 'download Mbit/s', 'rr p50 us', 'rr p99 us'],
    ...figures.map((f) => [
      f.path,
      String(f.uploadMbps),
      String(f.downloadMbps),
      String(f.rr.p50Us),
      String(f.rr.p99Us),
    ]),
  ];
  const w = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  for (const r of rows)
    process.stdout.write(`${r.map((c, i) => c.padStart(w[i] ?? 0)).join('  ')}\n`);
  for (const f of figures)
    if (f.note?.includes('failed') === true) process.stdout.write(`${f.path}: ${f.note}\n`);
  for (const st of stalls) {
    process.stdout.write(
      `stall ${st.path.padEnd(8)} over ${st.kills} kills (${st.failed.length} failed): min ${st.minMs} ms, median ${st.medianMs} ms, max ${st.maxMs} ms${st.detectionTimeoutMs !== undefined ? ` (detection timeout ${st.detectionTimeoutMs} ms)` : ''}\n`,
    );
  }
  process.stdout.write(`(json: ${join(lab.runDir, 'bench.json')})\n`);
};

await main();
