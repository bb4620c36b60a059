// Protection for a connection's whole life (issue: one echo connection froze at 268 MB, the
// logger's 256 MiB store full). The case as it was found: 300 MB through one echo
// connection, logger and NSW at their defaults (the NSW checkpoints every 64 MiB, R13.3, and
// the logger truncates behind each checkpoint, R14.5). And the same scaled the other way: a
// store limit set small (--max-bytes 16 MiB) so that what keeps the stream flowing is the
// logger asking for checkpoints at its high-water mark (spec/logger.md R15.1, R15.2), never the
// NSW's own schedule.
import { afterEach, describe, expect, it } from 'vitest';
import { ADDR, APP_PORT, Lab } from '../../src/runtime/lab/lab.ts';
import { clientCapture, expectCaptureClean, expectStreamIntact, waitFor } from './helpers.ts';

const ECHO = `${ADDR.service}:${APP_PORT.echo}`;
/** The logger's store limit for this test: 16 MiB (high water at half). */
const STORE = 16 << 20;

describe('R15.1 R14.5 one connection through several store limits, echo', () => {
  let lab: Lab | undefined;
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });

  it('the issue case: 300 MB through one echo connection with default limits, never frozen', async () => {
    lab = await Lab.create('ckpt-300mb');
    const logger = await lab.startLogger(['--lease-ms', '60000']);
    await lab.startFtTcpPrimary({ app: 'echo' });
    const bytes = 300_000_000;
    const t0 = Date.now();
    const s = lab.startStream('long300', [
      '--connect',
      ECHO,
      '--bytes',
      String(bytes),
      '--chunk',
      '65536',
      '--timeout-ms',
      '600000',
    ]);
    const r = await s.result;
    const ms = Date.now() - t0;
    expectStreamIntact(r, bytes);
    const ev = (name: string) => logger.events.filter((e) => e.event === name);
    // 300 MB past the 256 MiB store: only truncation (R14.5) made room.
    const stored = ev('checkpoint-stored');
    expect(stored.length).toBeGreaterThanOrEqual(3);
    const freed = stored.reduce((n, e) => n + (e.freedBytes as number), 0);
    expect(freed).toBeGreaterThan(bytes - (256 << 20));
    expect(ev('unprotected')).toEqual([]);
    expect(ev('stalled')).toEqual([]);
    process.stdout.write(
      `checkpoint-300mb: ${bytes} bytes echoed in ${ms} ms (${((bytes / ms) * 1e3) / 1e6} MB/s), ${stored.length} checkpoints, ${freed} bytes truncated\n`,
    );
  });

  it('a stream of 5x the logger store limit flows without a freeze: the log is truncated, never unprotected', async () => {
    lab = await Lab.create('ckpt-long');
    const logger = await lab.startLogger(['--lease-ms', '60000', '--max-bytes', String(STORE)]);
    await lab.startFtTcpPrimary({ app: 'echo' });
    const cap = await clientCapture(lab, 'long');
    const bytes = 5 * STORE;
    const t0 = Date.now();
    const s = lab.startStream('long', [
      '--connect',
      ECHO,
      '--bytes',
      String(bytes),
      '--chunk',
      '65536',
      '--timeout-ms',
      '240000',
    ]);
    await waitFor(s.proc, 'connected');
    const r = await s.result;
    const ms = Date.now() - t0;
    expectStreamIntact(r, bytes);
    await expectCaptureClean(cap);
    const ev = (name: string) => logger.events.filter((e) => e.event === name);
    // R15.1: the logger asked; R14.2: checkpoints were stored and truncated the log.
    expect(ev('checkpoint-wanted').length).toBeGreaterThanOrEqual(1);
    const stored = ev('checkpoint-stored');
    expect(stored.length).toBeGreaterThanOrEqual(3);
    const freed = stored.reduce((n, e) => n + (e.freedBytes as number), 0);
    expect(freed).toBeGreaterThan(bytes - STORE);
    // R15.4, R15.5: never unprotected, never the stall of old.
    expect(ev('unprotected')).toEqual([]);
    expect(ev('stalled')).toEqual([]);
    process.stdout.write(
      `checkpoint-long: ${bytes} bytes echoed in ${ms} ms (${((bytes / ms) * 1e3) / 1e6} MB/s), ${stored.length} checkpoints, ${freed} bytes truncated\n`,
    );
  });
});
