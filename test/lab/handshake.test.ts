// Local recovery while a second connection is in its handshake. The logger is paused
// (SIGSTOP) so that the new connection's record cannot be stored: its SYN-ACK stays held by
// the SSW (R2) and the client sits in SYN-SENT, deterministically. The application is then
// killed; the logger resumes. Both the established connection and the one that was in its
// handshake must complete, judged from the client's side.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, APP_PORT, Lab } from '../../src/runtime/lab/lab.ts';
import {
  appPid,
  clientCapture,
  expectCaptureClean,
  expectStreamIntact,
  sleep,
  synAckReleased,
  waitFor,
  waitHeldSynAck,
} from './helpers.ts';

const ECHO = `${ADDR.service}:${APP_PORT.echo}`;

describe('local recovery during a handshake', () => {
  let lab: Lab | undefined;
  beforeAll(async () => {
    lab = await Lab.create('handshake');
  });
  afterAll(async () => {
    await lab?.close();
  });

  it('a connection whose SYN-ACK is held when the application dies is served after recovery', async () => {
    if (!lab) throw new Error('lab not up');
    const logger = await lab.startLogger(['--lease-ms', '60000']);
    const ssw = await lab.startFtTcpPrimary({ app: 'echo' });
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
        '60000',
      ]);
      // The second client's SYN has reached the SSW, which holds its SYN-ACK (R2.1).
      const conn = await waitHeldSynAck(ssw);
      lab.fault('application killed (SIGKILL)', { until: 'live' });
      process.kill(appPid(ssw), 'SIGKILL');
      expect(synAckReleased(ssw, conn)).toBe(false);
      await sleep(200);
      logger.child.kill('SIGCONT');
      frozen.end();
      expectStreamIntact(await first.result, bytes);
      expectStreamIntact(await second.result, 20_000);
    } finally {
      logger.child.kill('SIGCONT');
      frozen.end();
    }
    await expectCaptureClean(cap);
  });
});
