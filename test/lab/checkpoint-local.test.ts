// Local recovery from a checkpoint (spec/nsw.md R13, spec/logger.md R14, spec/ssw.md R6.11):
// the echo server checkpoints every 1 MB (R13.3), the logger truncates its log behind each
// checkpoint (R14.5) and the application killed (-9) mid-stream comes back from the latest
// checkpoint: restored, its connections re-created at their positions, only the suffix
// replayed. Judged from the client's side: its byte stream by hash, its capture clean.
import { existsSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { armPath, heldPath } from '../../src/runtime/common/testhook.ts';
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
/** R13.3: small, so that a test of a few MB crosses several checkpoints. */
const EVERY_BYTES = 1_000_000;
/** R13.3: and every half second when anything was logged since. */
const EVERY_MS = 500;

const events = (p: LabProc, name: string) => p.events.filter((e) => e.event === name);

/** Polls `pred` every 50 ms; bounded. */
const until = async (pred: () => boolean, ms: number, what: string): Promise<void> => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
};

describe('R13 local recovery from a checkpoint, echo', () => {
  let lab: Lab | undefined;
  let ssw: LabProc | undefined;
  let logger: LabProc | undefined;
  beforeEach(async (ctx) => {
    lab = await Lab.create(`ckpt-local-${ctx.task.name.replace(/[^a-z]+/gi, '-').slice(0, 24)}`, {
      testHooks: true,
    });
    logger = await lab.startLogger(['--lease-ms', '60000']);
    ssw = await lab.startFtTcpPrimary({
      app: 'echo',
      env: {
        FTTCP_CHECKPOINT_EVERY_BYTES: String(EVERY_BYTES),
        FTTCP_CHECKPOINT_EVERY_MS: String(EVERY_MS),
      },
    });
  });
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });
  const up = (): { lab: Lab; ssw: LabProc; logger: LabProc } => {
    if (!lab || !ssw || !logger) throw new Error('lab not up');
    return { lab, ssw, logger };
  };

  it('R13.6 app killed mid-stream after checkpoints: restored, suffix replayed, stream whole', async () => {
    const { lab, ssw, logger } = up();
    const cap = await clientCapture(lab, 'ckpt-mid');
    const bytes = 8_000_000;
    const s = lab.startStream('ckpt-mid', [
      '--connect',
      ECHO,
      '--bytes',
      String(bytes),
      '--chunk',
      '16384',
      '--interval-ms',
      '2',
      '--timeout-ms',
      '90000',
    ]);
    await waitFor(s.proc, 'connected');
    // Two checkpoints stored at the logger (R14.2), so the log was truncated (R14.5).
    await waitFor(logger, 'checkpoint-stored', 60_000);
    await until(() => events(logger, 'checkpoint-stored').length >= 2, 60_000, 'two checkpoints');
    const stored = events(logger, 'checkpoint-stored');
    expect(stored.length).toBeGreaterThanOrEqual(1);
    const before = appPid(ssw);
    await killAppAndWaitLive(lab, ssw);
    expect(appPid(ssw)).not.toBe(before);
    const start = events(ssw, 'replay-start').at(-1);
    // R13.6: the new incarnation started from a checkpoint, not from determinant 0.
    expect(start?.checkpoint, JSON.stringify(start)).toBeGreaterThanOrEqual(1);
    expect(start?.fromDet as number).toBeGreaterThan(0);
    const r = await s.result;
    expectStreamIntact(r, bytes);
    await expectCaptureClean(cap);
  });

  it('R13.3 R13.6 app killed while the client is idle, after a checkpoint taken on time', async () => {
    const { lab, ssw, logger } = up();
    const cap = await clientCapture(lab, 'ckpt-idle');
    const bytes = 3_000_000;
    const s = lab.startStream('ckpt-idle', [
      '--connect',
      ECHO,
      '--bytes',
      String(bytes),
      '--chunk',
      '65536',
      '--pause-at',
      '2500000',
      '--pause-until-signal',
      '--timeout-ms',
      '90000',
    ]);
    // Idle for sure: every byte sent came back. Then the checkpoint that covers everything:
    // R13.3 takes one within EVERY_MS of anything logged since the last, so once no new
    // checkpoint has come for a few periods, the last one stored covers every determinant
    // (the time schedule may well have taken it before the client's 'drained' reached us).
    await waitFor(s.proc, 'drained');
    let seen = events(logger, 'checkpoint-stored').length;
    let quietSince = Date.now();
    await until(
      () => {
        const now = events(logger, 'checkpoint-stored').length;
        if (now !== seen) {
          seen = now;
          quietSince = Date.now();
        }
        return seen > 0 && Date.now() - quietSince >= 4 * EVERY_MS;
      },
      10_000,
      'the checkpoint covering the idle connection',
    );
    const last = events(logger, 'checkpoint-stored').at(-1)?.ckptId;
    await killAppAndWaitLive(lab, ssw);
    const start = events(ssw, 'replay-start').at(-1);
    expect(start?.checkpoint, JSON.stringify(start)).toBe(last);
    // Nothing after the checkpoint: the replay has nothing to do but the restore.
    expect(start?.dets).toBe(0);
    resumeStream(s.proc);
    const r = await s.result;
    expectStreamIntact(r, bytes);
    await expectCaptureClean(cap);
  });

  it('R14.2 app killed in the middle of sending a checkpoint: recovery uses the previous one', async () => {
    const { lab, ssw, logger } = up();
    const cap = await clientCapture(lab, 'ckpt-kill-mid');
    const bytes = 6_000_000;
    const s = lab.startStream('ckpt-kill-mid', [
      '--connect',
      ECHO,
      '--bytes',
      String(bytes),
      '--chunk',
      '16384',
      '--interval-ms',
      '2',
      '--timeout-ms',
      '90000',
    ]);
    await waitFor(s.proc, 'connected');
    await waitFor(logger, 'checkpoint-stored', 60_000);
    const dir = lab.hookDir!;
    const pid = appPid(ssw);
    // The next checkpoint freezes half sent (hook nsw.mid-checkpoint); it dies there.
    writeFileSync(armPath(dir, 'nsw.mid-checkpoint'), '');
    await until(() => existsSync(heldPath(dir, 'nsw.mid-checkpoint', pid)), 30_000, 'the hook');
    const storedBefore = events(logger, 'checkpoint-stored').at(-1)?.ckptId as number;
    await killAppAndWaitLive(lab, ssw);
    const start = events(ssw, 'replay-start').at(-1);
    // The half-sent checkpoint was never stored (R14.2): recovery starts from the one before.
    expect(start?.checkpoint, JSON.stringify(start)).toBe(storedBefore);
    const r = await s.result;
    expectStreamIntact(r, bytes);
    await expectCaptureClean(cap);
  });
});
