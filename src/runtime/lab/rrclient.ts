// Request/response latency from the client's side: one connection, `count` round trips of a
// `size`-byte message to an echo server, each timed from write to the last echoed byte.
// Output: one JSON line { ok, count, p50Us, p90Us, p99Us, maxUs, error? }; before it, `stall` /
// `stall-over` lines when an echo keeps it waiting longer than --stall-ms (spec/ssw.md W.6).
import net from 'node:net';
import { Command } from 'commander';
import { DEFAULT_RECOVERY_PARAMS, MAX_TIMING_MS } from '../../machines/recovery/params.ts';
import { stallBudgetMs } from '../../machines/ssw/watchdog.ts';
import { cliBounded, cliHostPort } from '../common/args.ts';
import { StallWatch } from './stallwatch.ts';

export interface RrResult {
  ok: boolean;
  error?: string;
  count: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
}

export const percentile = (sorted: readonly number[], q: number): number =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN);

const p = new Command('rrclient')
  .requiredOption('--connect <host:port>', 'echo server', cliHostPort)
  .option('--count <n>', 'round trips', cliBounded(1, 10_000_000), 2000)
  .option('--warmup <n>', 'untimed round trips first', cliBounded(0, 1_000_000), 200)
  .option('--size <n>', 'message bytes', cliBounded(1, 65536), 64)
  .option('--timeout-ms <ms>', 'give up after', cliBounded(1, 3_600_000), 60_000)
  .option(
    '--stall-ms <ms>',
    'report stall when an echo is outstanding this long with nothing back (0: never)',
    cliBounded(0, MAX_TIMING_MS),
    stallBudgetMs(DEFAULT_RECOVERY_PARAMS),
  )
  .parse();
const o = p.opts<{
  connect: { host: string; port: number };
  count: number;
  warmup: number;
  size: number;
  timeoutMs: number;
  stallMs: number;
}>();

const msg = Buffer.alloc(o.size, 0x61);
const samples: number[] = [];
let got = 0;
let t = 0n;
let i = 0;
let connected = false;
const watch = new StallWatch({
  budgetMs: o.stallMs,
  write: (e) => process.stdout.write(`${JSON.stringify(e)}\n`),
  endpoint: () =>
    s.localPort === undefined
      ? undefined
      : `${s.localAddress}:${s.localPort}>${o.connect.host}:${o.connect.port}`,
  describe: () => ({
    waitingFor: connected ? 'echo' : 'connect',
    detail: { roundTrips: i, echoed: got, size: o.size },
  }),
});
watch.waiting();
const done = (error?: string): void => {
  watch.stop();
  s.destroy();
  clearTimeout(timer);
  const sorted = samples.sort((a, b) => a - b);
  const r: RrResult = {
    ok: error === undefined,
    count: samples.length,
    p50Us: Math.round(percentile(sorted, 0.5)),
    p90Us: Math.round(percentile(sorted, 0.9)),
    p99Us: Math.round(percentile(sorted, 0.99)),
    maxUs: Math.round(sorted.at(-1) ?? Number.NaN),
  };
  if (error !== undefined) r.error = error;
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exitCode = r.ok ? 0 : 1;
};
const timer = setTimeout(() => done(`timeout after ${i} round trips`), o.timeoutMs);
const s = net.connect(o.connect.port, o.connect.host);
s.setNoDelay(true);
const send = (): void => {
  got = 0;
  t = process.hrtime.bigint();
  watch.waiting();
  s.write(msg);
};
s.on('connect', () => {
  connected = true;
  watch.progress(false);
  send();
});
s.on('data', (d: Buffer) => {
  got += d.length;
  watch.progress(got < o.size);
  if (got < o.size) return;
  if (i >= o.warmup) samples.push(Number(process.hrtime.bigint() - t) / 1000);
  i++;
  if (i >= o.warmup + o.count) done();
  else send();
});
s.on('error', (e) => done(e.message));
s.on('end', () => done('server closed'));
