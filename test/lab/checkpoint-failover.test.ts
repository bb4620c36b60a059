// Failover from a checkpoint (spec/nsw.md R13.6, spec/logger.md R14.9, spec/ssw.md R6.11): the
// primary host dies after the echo server has checkpointed and the logger has truncated its
// log; the backup's application restores the latest checkpoint, the backup SSW re-creates the
// connection at the checkpoint's positions, and only the suffix is replayed. Judged from the
// client's side: its byte stream by hash, its capture clean.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ADDR,
  APP_PORT,
  Lab,
  ROBUST_TIMING,
  recoveryAppEvents,
} from '../../src/runtime/lab/lab.ts';
import type { LabProc } from '../../src/runtime/lab/procs.ts';
import {
  clientCapture,
  expectCaptureClean,
  expectStreamIntact,
  sleep,
  waitFor,
} from './helpers.ts';

const ECHO = `${ADDR.service}:${APP_PORT.echo}`;
const EVERY_BYTES = 1_000_000;

const events = (p: LabProc, name: string) => p.events.filter((e) => e.event === name);

const until = async (pred: () => boolean, ms: number, what: string): Promise<void> => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
};

describe('R13 failover from a checkpoint, echo', () => {
  let lab: Lab | undefined;
  beforeEach(async (ctx) => {
    lab = await Lab.create(`ckpt-failover-${ctx.task.name.replace(/[^a-z]+/gi, '-').slice(0, 24)}`);
  });
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });

  it('R13.6 R6.11 primary host crash after checkpoints: restored on the backup, stream whole', async () => {
    if (!lab) throw new Error('lab not up');
    const { logger } = await lab.startFtTcpPair('echo', {
      timing: ROBUST_TIMING,
      appEnv: { FTTCP_CHECKPOINT_EVERY_BYTES: String(EVERY_BYTES) },
    });
    const cap = await clientCapture(lab, 'ckpt-failover');
    const bytes = 8_000_000;
    const s = lab.startStream('ckpt-failover', [
      '--connect',
      ECHO,
      '--bytes',
      String(bytes),
      '--chunk',
      '16384',
      '--interval-ms',
      '2',
      '--timeout-ms',
      '120000',
    ]);
    await waitFor(s.proc, 'connected');
    await until(() => events(logger, 'checkpoint-stored').length >= 2, 60_000, 'two checkpoints');
    lab.crashHost('primary');
    const r = await s.result;
    expectStreamIntact(r, bytes);
    await expectCaptureClean(cap);
    // R13.6: the backup's application started from a checkpoint, not from determinant 0.
    // The backup's application (the warm spare) is the recovery daemon's child: its timeline
    // is in the daemon's log.
    const start = recoveryAppEvents(lab.runDir)
      .filter((e) => e.event === 'replay-start')
      .at(-1);
    expect(start?.checkpoint, JSON.stringify(start)).toBeGreaterThanOrEqual(2);
  });
});
