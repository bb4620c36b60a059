// spec/ssw.md L.7 on the real lab: an application that takes no checkpoints (FTTCP_CHECKPOINTS=
// off, spec/nsw.md R13.8) streams past the logger's store limit. The logger cannot truncate, so
// it gives the application's log up (spec/logger.md R15.4, `Unprotected {scope: app}`); the SSW
// must then turn the host unprotected and let the kernel's acks through. Before L.7 the SSW
// ignored the frame and kept clamping its acks to a log that grew no more: the client froze at
// the limit, a service frozen silently by a limit.
import { afterEach, describe, expect, it } from 'vitest';
import { ADDR, APP_PORT, Lab } from '../../src/runtime/lab/lab.ts';
import { clientCapture, expectCaptureClean, expectStreamIntact, waitFor } from './helpers.ts';

const ECHO = `${ADDR.service}:${APP_PORT.echo}`;
/** The logger's store limit for this test: 4 MiB. */
const STORE = 4 << 20;

describe('L.7 the logger gives an application without checkpoints up at its limit', () => {
  let lab: Lab | undefined;
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });

  it('L.7 the stream flows on past the store limit, the host says unprotected, no RST', async () => {
    lab = await Lab.create('logger-limit');
    const logger = await lab.startLogger(['--lease-ms', '60000', '--max-bytes', String(STORE)]);
    const ssw = await lab.startFtTcpPrimary({
      app: 'echo',
      env: { FTTCP_CHECKPOINTS: 'off' },
    });
    const cap = await clientCapture(lab, 'limit');
    const bytes = 4 * STORE;
    const s = lab.startStream('limit', [
      '--connect',
      ECHO,
      '--bytes',
      String(bytes),
      '--chunk',
      '65536',
      '--timeout-ms',
      '120000',
    ]);
    await waitFor(s.proc, 'connected');
    const r = await s.result;
    expectStreamIntact(r, bytes);
    await expectCaptureClean(cap);
    // The logger gave the log up (R15.4) ...
    expect(logger.events.filter((e) => e.event === 'unprotected').length).toBeGreaterThanOrEqual(1);
    // ... and the SSW says so, with the scope and the logger's reason (L.7).
    const un = ssw.events.filter((e) => e.event === 'unprotected');
    expect(un.map((e) => e.scope)).toContain('app');
    expect(un.find((e) => e.scope === 'app')?.reason).toBe('storeFull');
    // A connection after the limit is served too (L.3: accepted unprotected).
    const after = lab.startStream('after', [
      '--connect',
      ECHO,
      '--bytes',
      '200000',
      '--chunk',
      '10000',
      '--timeout-ms',
      '30000',
    ]);
    expectStreamIntact(await after.result, 200_000);
  });
});
