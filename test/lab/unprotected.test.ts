// The logger's own failures (spec/ssw.md L.2, L.8, L.9; spec/nsw.md R13.9): the primary goes
// unprotected explicitly and the service goes on. Judged from the client's side (the stream
// arrives whole, no RST, no unasked FIN, no stall beyond the loss's own) and from the
// timelines (the SSW and the NSW both say `unprotected`).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADDR, APP_PORT, Lab, ROBUST_TIMING } from '../../src/runtime/lab/lab.ts';
import type { LabProc } from '../../src/runtime/lab/procs.ts';
import { findScenario } from '../../src/runtime/lab/scenarios.ts';
import {
  clientCapture,
  expectCaptureClean,
  expectStreamIntact,
  sleep,
  waitFor,
} from './helpers.ts';

const ECHO = `${ADDR.service}:${APP_PORT.echo}`;

/** The primary SSW's timeline: its own `unprotected` (scope host) and its NSW's (released). */
const unprotectedEvents = (ssw: LabProc) => ({
  ssw: ssw.events.filter((e) => e.event === 'unprotected' && e.scope === 'host'),
  nsw: ssw.events.filter((e) => e.event === 'unprotected' && typeof e.releasedBytes === 'number'),
});

describe('unprotected (the logger lost)', () => {
  let lab: Lab | undefined;
  beforeEach(async (ctx) => {
    lab = await Lab.create(`unprot-${ctx.task.name.replace(/[^a-z]+/gi, '-').slice(0, 30)}`);
  });
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });
  const up = (): Lab => {
    if (!lab) throw new Error('lab not up');
    return lab;
  };

  it('backup host crash mid-stream: the primary goes unprotected (SSW and NSW) and the echo goes on whole', async () => {
    const lab = up();
    const { primary } = await lab.startFtTcpPair('echo', { timing: ROBUST_TIMING });
    const cap = await clientCapture(lab, 'client');
    const bytes = 600_000;
    const streams = [0, 1].map((i) =>
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
        '--timeout-ms',
        '60000',
      ]),
    );
    for (const s of streams) await waitFor(s.proc, 'connected');
    await sleep(400);
    // The backup host dies: its logger, detector and standby with it. No `live` follows (there
    // is nothing to recover): the fault stays open, and the lease plus the L.2 grace is the
    // stall it may cause.
    lab.crashHost('backup');
    await waitFor(primary, 'unprotected', 20_000);
    for (const s of streams) expectStreamIntact(await s.result, bytes);
    await expectCaptureClean(cap);
    const u = unprotectedEvents(primary);
    expect(u.ssw.length, 'the SSW says unprotected once').toBe(1);
    expect(u.nsw.length, 'the NSW says unprotected once (spec/nsw.md R13.9a)').toBe(1);
    // New connections are served too (L.3), unprotected.
    const late = lab.startStream('late', [
      '--connect',
      ECHO,
      '--bytes',
      '50000',
      '--chunk',
      '1000',
      '--interval-ms',
      '1',
      '--timeout-ms',
      '30000',
    ]);
    expectStreamIntact(await late.result, 50_000);
  });
});

describe('logger-crash scenario (fttcp lab run logger-crash)', () => {
  it('the logger process dies with the backup host up: unprotected without a freeze or a loop, the logger restarted, protected again from the next incarnation', async () => {
    const r = await findScenario('logger-crash').run({});
    expect(r.failures).toEqual([]);
    expect(r.ok).toBe(true);
    const events = r.timeline.map((e) => e.event);
    for (const want of [
      'logger died (recovery daemon saw it)',
      'unprotected',
      'logger started (recovery daemon)',
      'protected again',
    ])
      expect(events, want).toContain(want);
    // Unprotected before the empty logger could welcome the primary (L.9), in that order.
    const at = (ev: string, nth = 0): number => {
      const e = r.timeline.filter((x) => x.event === ev)[nth];
      if (e === undefined) throw new Error(`no '${ev}' #${nth} on the scenario's timeline`);
      return e.t;
    };
    expect(at('unprotected')).toBeLessThan(at('logger started (recovery daemon)', 1));
    // The stall is the lease and the L.2 grace, not a freeze (the client's timeout is 90 s).
    expect(r.stallMs).toBeLessThan(5000);
  }, 180_000);
});
