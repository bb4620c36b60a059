// A failover, then an application crash on the new primary (R10 both paths, one after the
// other, spec/ssw.md L.6): the backup SSW keeps its co-located logger without a lease, so its
// acks stay clamped and the second failure is recovered locally from a complete log. The
// recovery daemon supervises the application on the backup host: it tells the SSW of the crash
// (`app-crashed`), fences the logger at a new epoch and starts the next incarnation, whose
// `app-started` moves the SSW's logger link to that epoch. Judged from the client's side only.
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADDR, APP_PORT, Lab, ROBUST_TIMING } from '../../src/runtime/lab/lab.ts';
import type { LabProc } from '../../src/runtime/lab/procs.ts';
import { waitEvent } from '../../src/runtime/lab/procs.ts';
import {
  clientCapture,
  expectCaptureClean,
  expectStreamIntact,
  sleep,
  waitFor,
} from './helpers.ts';

const ECHO = `${ADDR.service}:${APP_PORT.echo}`;

/** The application the recovery daemon started last: its shell's child if the shell forked. */
const backupAppPid = (recovery: LabProc): number => {
  const pid = recovery.events.filter((e) => e.event === 'app-started').at(-1)?.pid;
  if (typeof pid !== 'number') throw new Error('the recovery daemon started no application');
  const children = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
  return children[0] ?? pid;
};

describe('failover, then a local recovery on the new primary', () => {
  let lab: Lab | undefined;
  beforeEach(async (ctx) => {
    lab = await Lab.create(`fo-local-${ctx.task.name.replace(/[^a-z]+/gi, '-').slice(0, 24)}`);
  });
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });

  it('echo mid-stream: host crash, then kill -9 of the app on the backup host', async () => {
    if (!lab) throw new Error('lab not up');
    // No warm spare: the daemon starts each incarnation with a cold start, twice.
    const { recovery, backup } = await lab.startFtTcpPair('echo', {
      warmSpare: false,
      timing: ROBUST_TIMING,
    });
    const cap = await clientCapture(lab, 'client');
    const bytes = 2_000_000; // 8 s at 250 KB/s: still running at the second crash
    const s = lab.startStream('s', [
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
    lab.crashHost('primary');
    await waitFor(recovery, 'live', 30_000);
    // Past a lease and the L.2 grace counted from the takeover (800 + 1000 ms): the new primary
    // must still be protected (before L.6 it went unprotected here and lost its clamps).
    await sleep(2000);
    lab.fault('application killed on the new primary (SIGKILL)', { until: 'live' });
    process.kill(backupAppPid(recovery), 'SIGKILL');
    await waitEvent(
      recovery,
      () => recovery.events.filter((e) => e.event === 'live').length >= 2,
      30_000,
      'live after the local recovery',
    );
    expectStreamIntact(await s.result, bytes);
    await expectCaptureClean(cap);
    // L.6: no lease ran out on the backup, and its SSW was never fenced by its own coordinator.
    expect(backup.events.filter((e) => String(e.what ?? '').includes('unprotected'))).toEqual([]);
    expect(backup.events.filter((e) => e.rule === 'L.5')).toEqual([]);
  });

  it('echo mid-stream: host crash, then the application on the backup host hangs (SIGSTOP): the recovery daemon kills it (R10.6) and recovers', async () => {
    if (!lab) throw new Error('lab not up');
    const { recovery } = await lab.startFtTcpPair('echo', {
      warmSpare: false,
      timing: ROBUST_TIMING,
    });
    const cap = await clientCapture(lab, 'client');
    const bytes = 2_000_000;
    const s = lab.startStream('s', [
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
    lab.crashHost('primary');
    await waitFor(recovery, 'live', 30_000);
    await sleep(500);
    lab.fault('application stopped on the new primary (SIGSTOP)', { until: 'live' });
    const pid = backupAppPid(recovery);
    process.kill(pid, 'SIGSTOP');
    const hung = await waitFor(recovery, 'app-hung', 20_000);
    expect(hung).toMatchObject({ pid, rule: 'R10.2', phase: 'running' });
    await waitEvent(
      recovery,
      () => recovery.events.filter((e) => e.event === 'live').length >= 2,
      30_000,
      'live after the hung application was recovered',
    );
    expectStreamIntact(await s.result, bytes);
    await expectCaptureClean(cap);
  });

  it('echo mid-stream: host crash, then the released warm spare on the backup host hangs (SIGSTOP): the recovery daemon kills it (R10.6) and the next incarnation recovers', async () => {
    if (!lab) throw new Error('lab not up');
    // The warm spare (the lab's default, V.1) is the first incarnation after the failover.
    // Before, the lab held the spare itself and the daemon supervised a relay of its stdout:
    // the hang's kill ended the relay only, the stopped spare kept the service port, every
    // next incarnation failed to listen (EADDRINUSE) and the client waited for good.
    const { recovery } = await lab.startFtTcpPair('echo', { timing: ROBUST_TIMING });
    const spare = await waitFor(recovery, 'app-spare');
    const cap = await clientCapture(lab, 'client');
    const bytes = 2_000_000;
    const s = lab.startStream('s', [
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
    lab.crashHost('primary');
    await waitFor(recovery, 'live', 30_000);
    await sleep(500);
    lab.fault('released warm spare stopped on the new primary (SIGSTOP)', { until: 'live' });
    const sparePid = backupAppPid(recovery);
    expect(sparePid).toBe(spare.pid);
    process.kill(sparePid, 'SIGSTOP');
    const hung = await waitFor(recovery, 'app-hung', 20_000);
    expect(hung).toMatchObject({ pid: sparePid, rule: 'R10.2', phase: 'running' });
    await waitEvent(
      recovery,
      () => recovery.events.filter((e) => e.event === 'live').length >= 2,
      30_000,
      'live after the hung warm spare was recovered',
    );
    expectStreamIntact(await s.result, bytes);
    await expectCaptureClean(cap);
  });
});
