// Failover (R8-R10): the primary host dies (every process -9, its LAN link down); the backup's
// detector suspects it, the coordinator fences the logger and the old primary, the backup SSW
// takes the service address over (gratuitous ARP), re-creates the connections, and the
// application replays from the logger and goes live. Judged from the client's side only.
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KvResult } from '../../src/runtime/lab/kvclient.ts';
import {
  ADDR,
  APP_PORT,
  KV_CLIENT_OPS,
  Lab,
  REDIS_BENCHMARK_TESTS,
  ROBUST_TIMING,
} from '../../src/runtime/lab/lab.ts';
import { waitExit } from '../../src/runtime/lab/procs.ts';
import {
  clientCapture,
  expectCaptureClean,
  expectStreamIntact,
  resumeStream,
  sleep,
  waitFor,
} from './helpers.ts';

const ECHO = `${ADDR.service}:${APP_PORT.echo}`;

describe('failover', () => {
  let lab: Lab | undefined;
  beforeEach(async (ctx) => {
    lab = await Lab.create(`failover-${ctx.task.name.replace(/[^a-z]+/gi, '-').slice(0, 30)}`);
  });
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });
  const up = (): Lab => {
    if (!lab) throw new Error('lab not up');
    return lab;
  };

  it('echo: several connections mid-stream survive the primary host crash', async () => {
    const lab = up();
    await lab.startFtTcpPair('echo', { timing: ROBUST_TIMING });
    const cap = await clientCapture(lab, 'client');
    const bytes = 300_000;
    const streams = [0, 1, 2].map((i) =>
      lab.startStream(`s${i}`, [
        '--connect',
        ECHO,
        '--bytes',
        String(bytes),
        '--chunk',
        '1000',
        '--interval-ms',
        '4',
        '--seed',
        String(i + 1),
        ...(i === 2 ? ['--bind', ADDR.client2] : []),
        '--timeout-ms',
        '60000',
      ]),
    );
    for (const s of streams) await waitFor(s.proc, 'connected');
    await sleep(400);
    lab.crashHost('primary');
    for (const s of streams) expectStreamIntact(await s.result, bytes);
    await expectCaptureClean(cap);
  });

  it('echo: an idle connection, and a connection opened while the failover runs', async () => {
    const lab = up();
    const { recovery } = await lab.startFtTcpPair('echo', { timing: ROBUST_TIMING });
    const cap = await clientCapture(lab, 'client');
    const bytes = 40_000;
    const idle = lab.startStream('idle', [
      '--connect',
      ECHO,
      '--bytes',
      String(bytes),
      '--chunk',
      '2000',
      '--interval-ms',
      '2',
      '--pause-at',
      '20000',
      '--pause-until-signal',
      '--timeout-ms',
      '60000',
    ]);
    // Idle for sure: every byte sent came back before the crash, and the client stays silent
    // until the backup is live.
    await waitFor(idle.proc, 'drained');
    lab.crashHost('primary');
    // The new client's SYN arrives while no incarnation serves: it must be served after.
    const late = lab.startStream('late', [
      '--connect',
      ECHO,
      '--bytes',
      '20000',
      '--chunk',
      '1000',
      '--interval-ms',
      '2',
      '--seed',
      '7',
      '--timeout-ms',
      '60000',
    ]);
    await waitFor(recovery, 'live', 30_000);
    resumeStream(idle.proc);
    expectStreamIntact(await idle.result, bytes);
    expectStreamIntact(await late.result, 20_000);
    await expectCaptureClean(cap);
  });

  it('KV: redis-benchmark and a reply-checking client finish across the host crash', async () => {
    const lab = up();
    await lab.startFtTcpPair('kv', { timing: ROBUST_TIMING });
    const cap = await clientCapture(lab, 'client');
    const { kv, rb } = lab.startKvLoad({ benchRequests: 10_000, clientTimeoutMs: 90_000 });
    await waitFor(kv, 'connected');
    await sleep(1500);
    lab.crashHost('primary');
    expect(await waitExit(rb, 150_000)).toBe(0);
    expect(await waitExit(kv, 150_000)).toBe(0);
    const r = kv.events.at(-1) as unknown as KvResult;
    expect(r.error, JSON.stringify(r)).toBeUndefined();
    expect(r.replies).toBe(3 * KV_CLIENT_OPS + 1);
    const csv = readFileSync(rb.outPath, 'utf8');
    for (const t of REDIS_BENCHMARK_TESTS) expect(csv).toContain(`"${t}"`);
    await expectCaptureClean(cap);
  });
});
