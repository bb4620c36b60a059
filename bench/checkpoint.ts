// Checkpoint figures for `npm run bench:lab -- --history` (issue: protection for a
// connection's whole life; spec/nsw.md R13, spec/logger.md R14, R15):
//   stall against history: one echo connection carries H bytes, then (still streaming) the
//     application (local) or the primary host (failover) is killed; the client's longest
//     silence is the stall. Each H runs twice in the same run: the echo with checkpoints
//     (R13) and without (FTTCP_CHECKPOINTS=off: recovery replays the whole history).
//   long stream: N bytes through one echo connection with the logger's default limits (the
//     issue's 300 MB case, which froze at 268 MB before checkpoints): time, checkpoints, the
//     bytes truncated, and the application's pause per checkpoint (p50/p99).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { APP_PORT, Lab } from '../src/runtime/lab/lab.ts';
import { type LabProc, waitEvent } from '../src/runtime/lab/procs.ts';
import { ADDR, LabError } from '../src/runtime/lab/topology.ts';

export interface HistoryStall {
  path: 'local' | 'failover';
  historyBytes: number;
  checkpoints: boolean;
  stallMs: number;
  /** determinants the recovering NSW replayed, and from which D (0: no checkpoint) */
  replayedDets: number | null;
  fromDet: number | null;
  error?: string;
}

export interface LongStream {
  bytes: number;
  ok: boolean;
  error?: string;
  ms: number;
  mbPerS: number;
  checkpointsStored: number;
  truncatedBytes: number;
  unprotected: number;
  stalled: number;
  pauseP50Ms: number;
  pauseP99Ms: number;
  pauseMaxMs: number;
  pauses: number;
}

const ECHO = `${ADDR.service}:${APP_PORT.echo}`;
/** R13.3 in the history runs: frequent enough that a checkpoint is always recent. */
const HISTORY_CKPT_EVERY = 8 << 20;
/** The stream goes on this much past the kill, so that the stall is measured in a flow (at
 * about 30 MB/s it outlasts the time from the client's mark to the kill by far). */
const AFTER_KILL_BYTES = 64 << 20;

const quantile = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

/** The recovering NSW's replay-start: the local SSW relays it; the backup's spare writes it to
 * app-backup.out in the run directory. */
const replayStart = (
  path: 'local' | 'failover',
  ssw: LabProc | undefined,
  runDir: string,
): Record<string, unknown> | undefined => {
  const all =
    path === 'local'
      ? (ssw?.events ?? [])
      : !existsSync(join(runDir, 'app-backup.out'))
        ? []
        : readFileSync(join(runDir, 'app-backup.out'), 'utf8')
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as Record<string, unknown>);
  return all.filter((e) => e.event === 'replay-start').at(-1);
};

/** One kill on a fresh lab after `historyBytes` came back on one echo connection. */
export async function historyStall(
  path: 'local' | 'failover',
  historyBytes: number,
  checkpoints: boolean,
): Promise<HistoryStall> {
  const lab = await Lab.create(`history-${path}-${historyBytes}-${checkpoints ? 'ckpt' : 'none'}`);
  const appEnv = checkpoints
    ? { FTTCP_CHECKPOINT_EVERY_BYTES: String(HISTORY_CKPT_EVERY) }
    : { FTTCP_CHECKPOINTS: 'off' };
  try {
    let ssw: LabProc | undefined;
    let kill: () => void;
    if (path === 'local') {
      await lab.startLogger(['--lease-ms', '60000']);
      const primary = await lab.startFtTcpPrimary({ app: 'echo', env: appEnv });
      ssw = primary;
      kill = () => {
        const pid = primary.events.filter((e) => e.event === 'app-start').at(-1)?.pid;
        if (typeof pid !== 'number') throw new LabError('no application');
        lab.fault('application killed (SIGKILL)', { until: 'live' });
        process.kill(pid, 'SIGKILL');
      };
    } else {
      await lab.startFtTcpPair('echo', { appEnv });
      kill = () => lab.crashHost('primary');
    }
    const s = lab.startStream('stream', [
      '--connect',
      ECHO,
      '--bytes',
      String(historyBytes + AFTER_KILL_BYTES),
      '--chunk',
      '65536',
      '--mark-at',
      String(historyBytes),
      '--timeout-ms',
      '600000',
    ]);
    await waitEvent(s.proc, (e) => e.event === 'mark', 600_000, 'history streamed');
    kill();
    const r = await s.result;
    // The recovering NSW's replay-start (a kill that came after the stream ended would measure
    // no recovery at all: such a run is an error, not a figure).
    let start = replayStart(path, ssw, lab.runDir);
    for (let i = 0; i < 100 && start === undefined; i++) {
      await new Promise((res) => setTimeout(res, 100));
      start = replayStart(path, ssw, lab.runDir);
    }
    const base = {
      path,
      historyBytes,
      checkpoints,
      stallMs: r.maxStallMs,
      replayedDets: typeof start?.dets === 'number' ? start.dets : null,
      fromDet: typeof start?.fromDet === 'number' ? start.fromDet : 0,
    };
    if (!r.ok || r.receivedSha256 !== r.sentSha256)
      return { ...base, error: `client failed: ${r.error ?? 'hash differs'} (${lab.runDir})` };
    if (start === undefined) return { ...base, error: `no recovery seen (${lab.runDir})` };
    return base;
  } catch (e) {
    return {
      path,
      historyBytes,
      checkpoints,
      stallMs: Number.NaN,
      replayedDets: null,
      fromDet: null,
      error: `${String(e)} (${lab.runDir})`,
    };
  } finally {
    await lab.close();
  }
}

/** The case: `bytes` through one echo connection, logger and NSW at their defaults. */
export async function longStream(bytes: number): Promise<LongStream> {
  const lab = await Lab.create(`long-${bytes}`);
  try {
    const logger = await lab.startLogger(['--lease-ms', '60000']);
    const ssw = await lab.startFtTcpPrimary({ app: 'echo' });
    const t0 = Date.now();
    const s = lab.startStream('long', [
      '--connect',
      ECHO,
      '--bytes',
      String(bytes),
      '--chunk',
      '65536',
      '--timeout-ms',
      '3600000',
    ]);
    const r = await s.result;
    const ms = Date.now() - t0;
    const ev = (p: LabProc, name: string) => p.events.filter((e) => e.event === name);
    const stored = ev(logger, 'checkpoint-stored');
    const pauses = ev(ssw, 'checkpoint').map((e) => e.pauseMs as number);
    const ok = r.ok && r.receivedSha256 === r.sentSha256;
    return {
      bytes,
      ok,
      ...(ok ? {} : { error: `${r.error ?? 'hash differs'} (${lab.runDir})` }),
      ms,
      mbPerS: Math.round(bytes / ms) / 1e3,
      checkpointsStored: stored.length,
      truncatedBytes: stored.reduce((n, e) => n + (e.freedBytes as number), 0),
      unprotected: ev(logger, 'unprotected').length,
      stalled: ev(logger, 'stalled').length,
      pauseP50Ms: quantile(pauses, 0.5),
      pauseP99Ms: quantile(pauses, 0.99),
      pauseMaxMs: quantile(pauses, 1),
      pauses: pauses.length,
    };
  } finally {
    await lab.close();
  }
}

/** The table rows of the history figures: one row per path and H, with and without. */
export function historyTable(rows: readonly HistoryStall[]): string[] {
  const out = [
    'path      history MB  stall ms (ckpt)  stall ms (none)  replayed dets (ckpt / none)',
  ];
  const keys = [...new Set(rows.map((r) => `${r.path}|${r.historyBytes}`))];
  for (const k of keys) {
    const [path, h] = k.split('|');
    const w = rows.find((r) => `${r.path}|${r.historyBytes}` === k && r.checkpoints);
    const n = rows.find((r) => `${r.path}|${r.historyBytes}` === k && !r.checkpoints);
    const f = (x: HistoryStall | undefined) =>
      x === undefined ? '-' : x.error !== undefined ? 'failed' : String(x.stallMs);
    out.push(
      `${path!.padEnd(9)} ${String(Number(h) / 1e6).padStart(10)}  ${f(w).padStart(15)}  ${f(n).padStart(15)}  ${w?.replayedDets ?? '-'} / ${n?.replayedDets ?? '-'}`,
    );
  }
  for (const r of rows)
    if (r.error !== undefined)
      out.push(`  ${r.path} ${r.historyBytes} ${r.checkpoints ? 'ckpt' : 'none'}: ${r.error}`);
  return out;
}
