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
import { Lab } from '../src/runtime/lab/lab.ts';
import { stopProc, tsxArgv, waitExit } from '../src/runtime/lab/procs.ts';
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
  .option('--json', 'print JSON only', false)
  .parse();
const o = p.opts<{ seconds: number; rrCount: number; paths: string; json: boolean }>();

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
  const uploadMbps = iperf(addr, false);
  const downloadMbps = iperf(addr, true);
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
  return { path, uploadMbps, downloadMbps, rr };
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
        figures.push({
          ...(await measurePath(lab, 'fttcp', NS.primary, ADDR.service)),
          note: 'server apps not NSW-wrapped (iperf3, plain echo): SSW + logger costs only',
        });
        await stop();
      } else {
        throw new LabError(`unknown path '${path}' (plain, passthrough, forward, fttcp)`);
      }
    }
  } finally {
    await lab.close();
  }
  const out = { date: new Date().toISOString(), seconds: o.seconds, rrCount: o.rrCount, figures };
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
  process.stdout.write(`(json: ${join(lab.runDir, 'bench.json')})\n`);
};

await main();
