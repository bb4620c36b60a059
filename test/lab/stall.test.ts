// The stall watchdog on the real lab (spec/ssw.md W.1-W.7), provoked on purpose. A logger
// that stops answering (SIGSTOP) without dying is a failure nothing in the system detects: its
// link stays up (the kernel keeps the TCP connection), and the primary's lease comes from the
// logger's Welcome (60 s here), so the SSW stays `protected` and clamps every ack at a stableSeq
// that no longer moves (R1.2); the NSW holds the echo (R4). The client waits with no failure
// the SSW knows of: exactly the stall the watchdog exists to report. Both the SSW and the
// client must report it, the SSW with its view of the connection, and the lab's check must fail
// the run on it until the test declares the failure it injected.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADDR, APP_PORT, Lab } from '../../src/runtime/lab/lab.ts';
import type { LabProc } from '../../src/runtime/lab/procs.ts';
import {
  assertNoStalls,
  checkStalls,
  formatStallViolations,
} from '../../src/runtime/lab/stalls.ts';
import { seqGt } from '../../src/wire/seq.ts';
import { expectStreamIntact, sleep, waitFor } from './helpers.ts';

const ECHO = `${ADDR.service}:${APP_PORT.echo}`;

describe('stall watchdog (W.1-W.7)', () => {
  let lab: Lab | undefined;
  beforeEach(async (ctx) => {
    lab = await Lab.create(`stall-${ctx.task.name.replace(/[^a-z]+/gi, '-').slice(0, 30)}`);
  });
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });
  const up = (): Lab => {
    if (!lab) throw new Error('lab not up');
    return lab;
  };

  it('W.1 a frozen logger (SIGSTOP) under a protected primary: SSW and client report the stall; the check fails until the failure is declared', async () => {
    const lab = up();
    const logger = await lab.startLogger(['--lease-ms', '60000']);
    const ssw = await lab.startFtTcpPrimary({ app: 'echo' });
    const budget = lab.stallBudgetMs;
    const bytes = 200_000;
    const s = lab.startStream('stream', [
      '--connect',
      ECHO,
      '--bytes',
      String(bytes),
      '--chunk',
      '1000',
      '--interval-ms',
      '5',
      '--timeout-ms',
      '60000',
    ]);
    await waitFor(s.proc, 'connected');
    await sleep(300);
    const stoppedAt = Date.now();
    logger.child.kill('SIGSTOP');
    let resumedAt: number;
    let sswStall: Record<string, unknown>;
    let clientStall: Record<string, unknown>;
    try {
      sswStall = await waitFor(ssw, 'stall', budget + 10_000);
      clientStall = await waitFor(s.proc, 'stall', budget + 10_000);
    } finally {
      resumedAt = Date.now();
      logger.child.kill('SIGCONT');
    }
    expectStreamIntact(await s.result, bytes);

    // The SSW's report: FT-TCP holds it (the kernel acked, R1.2 clamps at stableSeq), with no
    // failure it knows of (protected, lease running, link up).
    expect(sswStall).toMatchObject({
      rule: 'W.1',
      client: expect.stringMatching(/^198\.18\.0\.10:\d+$/),
      server: ECHO,
      pending: 'data',
      holder: 'ssw',
      why: 'ackClamped',
      host: { condition: 'healthy', logger: 'protected', app: 'appRunning', loggerLink: 'up' },
    });
    expect(sswStall.waitedMs).toBeGreaterThan(budget);
    expect(sswStall.sinceWallMs).toBeGreaterThanOrEqual(stoppedAt - budget);
    const v = sswStall.engine as Record<string, number>;
    expect(v.mode).toBe('protected');
    expect(seqGt(v.kernelAck as number, v.sentAck as number)).toBe(true);
    expect(v.sentAck).toBe(v.stableSeq);
    expect(seqGt(v.loggedSeq as number, v.stableSeq as number)).toBe(true);
    expect(v.unstoredBytes).toBeGreaterThan(0);
    expect(v.kernelAheadBytes).toBeGreaterThan(0);
    // The client's: it waits for the echo of what it sent.
    expect(clientStall).toMatchObject({ rule: 'W.6', waitingFor: 'echo' });
    expect(clientStall.outstanding).toBeGreaterThan(0);
    // Both ended once the logger resumed.
    expect(ssw.events.some((e) => e.event === 'stall-over' && e.endedBy === 'progress')).toBe(true);
    expect(s.proc.events.some((e) => e.event === 'stall-over')).toBe(true);

    // W.7: with nothing declared the check fails on both, and says why.
    const bare = checkStalls(lab.procs, [], budget);
    const names = bare.violations.map((f) => f.proc);
    expect(names).toContain(ssw.name);
    expect(names).toContain(s.proc.name);
    expect(formatStallViolations(bare)).toMatch(/no failure was injected/);
    // The verdict the guard (test/lab/stall-guard.ts) applies at close fails on it.
    expect(() => assertNoStalls([lab])).toThrow(/stall\(s\) with no failure to explain them/);
    // A window elsewhere in time does not excuse it either.
    const elsewhere = checkStalls(
      lab.procs,
      [{ what: 'earlier', fromWallMs: stoppedAt - 60_000, toWallMs: stoppedAt - 30_000 }],
      budget,
    );
    expect(elsewhere.violations.length).toBe(bare.violations.length);
    // Declared, the injected failure explains every stall; the guard then passes this test.
    lab.faults.push({
      what: 'logger stopped (SIGSTOP)',
      fromWallMs: stoppedAt,
      toWallMs: resumedAt,
    });
    const judged = lab.stallCheck();
    expect(judged.violations).toEqual([]);
    expect(judged.excused.length).toBe(bare.violations.length);
    expect(() => assertNoStalls([lab])).not.toThrow();
  });

  it('W.2 an application killed mid-stream (local recovery): the SSW sits the recovery out, nothing is reported past it', async () => {
    const lab = up();
    await lab.startLogger(['--lease-ms', '60000']);
    const ssw: LabProc = await lab.startFtTcpPrimary({ app: 'echo' });
    const bytes = 300_000;
    const s = lab.startStream('stream', [
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
    const pid = ssw.events.filter((e) => e.event === 'app-start').at(-1)?.pid;
    if (typeof pid !== 'number') throw new Error('no application pid');
    lab.fault('application killed (SIGKILL)', { until: 'live' });
    process.kill(pid, 'SIGKILL');
    await waitFor(ssw, 'live', 30_000);
    expectStreamIntact(await s.result, bytes);
    expect(ssw.events.filter((e) => e.event === 'stall')).toEqual([]);
    expect(lab.stallCheck().violations).toEqual([]);
  });
});
