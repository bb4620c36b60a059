// Local recovery (R10), echo server on the NSW: the application process is killed (-9) while
// clients are connected; the SSW keeps the connections, restarts the application in replay,
// re-creates the connections in the same kernel and goes live. Judged from the client's side
// only: byte streams by hash, and the client capture (no RST, no unasked FIN).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADDR, APP_PORT, Lab } from '../../src/runtime/lab/lab.ts';
import type { LabProc } from '../../src/runtime/lab/procs.ts';
import {
  appPid,
  clientCapture,
  expectCaptureClean,
  expectStreamIntact,
  killAppAndWaitLive,
  resumeStream,
  sleep,
  waitFor,
} from './helpers.ts';

const ECHO = `${ADDR.service}:${APP_PORT.echo}`;

describe('local recovery, echo', () => {
  // A fresh lab per test: each crash is judged on its own. No failure detector here: the
  // logger's lease (60 s) outlasts each test.
  let lab: Lab | undefined;
  let ssw: LabProc | undefined;
  beforeEach(async (ctx) => {
    lab = await Lab.create(`local-${ctx.task.name.replace(/[^a-z]+/gi, '-').slice(0, 30)}`);
    await lab.startLogger(['--lease-ms', '60000']);
    ssw = await lab.startFtTcpPrimary({ app: 'echo' });
  });
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });
  const up = (): { lab: Lab; ssw: LabProc } => {
    if (!lab || !ssw) throw new Error('lab not up');
    return { lab, ssw };
  };

  it('app killed mid-stream: the stream arrives whole', async () => {
    const { lab, ssw } = up();
    const cap = await clientCapture(lab, 'midstream');
    const bytes = 300_000;
    const s = lab.startStream('midstream', [
      '--connect',
      ECHO,
      '--bytes',
      String(bytes),
      '--chunk',
      '1000',
      '--interval-ms',
      '4',
      '--timeout-ms',
      '60000',
    ]);
    await waitFor(s.proc, 'connected');
    await sleep(400);
    await killAppAndWaitLive(lab, ssw);
    const r = await s.result;
    expectStreamIntact(r, bytes);
    await expectCaptureClean(cap);
  });

  it('app killed while the connection is idle', async () => {
    const { lab, ssw } = up();
    const cap = await clientCapture(lab, 'idle');
    const bytes = 40_000;
    const s = lab.startStream('idle', [
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
    // Idle for sure: every byte sent came back before the kill, and the client stays silent
    // until the new incarnation is live.
    await waitFor(s.proc, 'drained');
    await killAppAndWaitLive(lab, ssw);
    resumeStream(s.proc);
    const r = await s.result;
    expectStreamIntact(r, bytes);
    await expectCaptureClean(cap);
  });

  it('app killed mid bulk transfer (large echo: both directions busy)', async () => {
    const { lab, ssw } = up();
    const cap = await clientCapture(lab, 'bulk');
    const bytes = 16_000_000;
    const s = lab.startStream('bulk', [
      '--connect',
      ECHO,
      '--bytes',
      String(bytes),
      '--chunk',
      '65536',
      '--timeout-ms',
      '90000',
    ]);
    await waitFor(s.proc, 'connected');
    await sleep(300);
    await killAppAndWaitLive(lab, ssw);
    const r = await s.result;
    expectStreamIntact(r, bytes);
    await expectCaptureClean(cap);
  });

  it('several connections at once', async () => {
    const { lab, ssw } = up();
    const cap = await clientCapture(lab, 'several');
    const bytes = 200_000;
    const streams = [0, 1, 2, 3].map((i) =>
      lab.startStream(`several${i}`, [
        '--connect',
        ECHO,
        '--bytes',
        String(bytes),
        '--chunk',
        '1000',
        '--interval-ms',
        '5',
        '--seed',
        String(i + 10),
        ...(i % 2 === 1 ? ['--bind', ADDR.client2] : []),
        '--timeout-ms',
        '60000',
      ]),
    );
    for (const s of streams) await waitFor(s.proc, 'connected');
    await sleep(300);
    await killAppAndWaitLive(lab, ssw);
    for (const s of streams) expectStreamIntact(await s.result, bytes);
    await expectCaptureClean(cap);
  });

  it('a connection the client half-closed before the crash', async () => {
    const { lab, ssw } = up();
    const cap = await clientCapture(lab, 'halfclosed');
    const bytes = 3_000_000;
    const s = lab.startStream('halfclosed', [
      '--connect',
      ECHO,
      '--mode',
      'upload',
      '--bytes',
      String(bytes),
      '--chunk',
      '65536',
      '--timeout-ms',
      '60000',
    ]);
    await waitFor(s.proc, 'half-closed');
    const before = appPid(ssw);
    await killAppAndWaitLive(lab, ssw);
    const r = await s.result;
    expectStreamIntact(r, bytes);
    expect(r.serverFin).toBe(true);
    expect(appPid(ssw)).not.toBe(before);
    await expectCaptureClean(cap);
  });
});
