// Failover while a second connection is in its handshake, with its connection record STORED:
// the logger is paused (SIGSTOP), so the primary SSW holds the second connection's SYN-ACK (R2)
// while its LogSyn waits in the logger's socket buffer; the primary host dies; the logger
// resumes and stores the record before the coordinator's Fence. The backup then re-creates a
// connection whose SYN-ACK never reached the client (client in SYN-SENT): spec/ssw.md R6.9,
// the backup's SSW sends the logged SYN-ACK at go-live and answers the client's SYN retries.
// Before R6.9 the client's connect() timed out here (runs of 2026-11-27 04:34 and 04:41).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, APP_PORT, Lab, ROBUST_TIMING } from '../../src/runtime/lab/lab.ts';
import {
  clientCapture,
  expectCaptureClean,
  expectStreamIntact,
  sleep,
  synAckReleased,
  waitFor,
  waitHeldSynAck,
} from './helpers.ts';

const ECHO = `${ADDR.service}:${APP_PORT.echo}`;

describe('failover during a handshake, connection record stored', () => {
  let lab: Lab | undefined;
  beforeAll(async () => {
    lab = await Lab.create('failover-handshake');
  });
  afterAll(async () => {
    await lab?.close();
  });

  it('a connection whose SYN-ACK is held (record stored) when the primary host dies is served after failover', async () => {
    if (!lab) throw new Error('lab not up');
    const { primary, recovery, logger } = await lab.startFtTcpPair('echo', {
      timing: ROBUST_TIMING,
    });
    const cap = await clientCapture(lab, 'client');
    const bytes = 100_000;
    const first = lab.startStream('first', [
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
    await waitFor(first.proc, 'connected');
    await sleep(200);
    // The lease comes from the detector's heartbeat acks, not from the logger: the paused
    // logger does not make the primary go unprotected (recovery.md G.1-G.3).
    const frozen = lab.fault('logger stopped (SIGSTOP)');
    logger.child.kill('SIGSTOP');
    try {
      const second = lab.startStream('second', [
        '--connect',
        ECHO,
        '--bytes',
        '20000',
        '--chunk',
        '1000',
        '--interval-ms',
        '2',
        '--seed',
        '9',
        '--timeout-ms',
        '30000',
      ]);
      const conn = await waitHeldSynAck(primary);
      lab.crashHost('primary');
      expect(synAckReleased(primary, conn)).toBe(false);
      expect(second.proc.events.some((e) => e.event === 'connected')).toBe(false);
      await sleep(200);
      logger.child.kill('SIGCONT');
      frozen.end();
      await waitFor(recovery, 'live', 30_000);
      expectStreamIntact(await first.result, bytes);
      expectStreamIntact(await second.result, 20_000);
    } finally {
      logger.child.kill('SIGCONT');
      frozen.end();
    }
    await expectCaptureClean(cap);
  });
});
