// The bug "a new SYN gets the kernel's RST between the application's death and the SSW
// noticing" (spec/ssw.md R2.8) on the real lab. The application's listening socket closes the
// moment it is killed; the SSW daemon is held at `ssw.app-exit-untold` (its main thread saw the
// exit and has not told the data path), so a client SYN sent then reaches a kernel with no
// listener while the engine still counts the application running: exactly the window the bug
// needs, reached on purpose, not by timing. The kernel refuses the SYN with an RST; the SSW
// must not forward it. Once released, recovery runs and the client's SYN retry meets the
// restarted listener: the connection opens and echoes. Judged from the client's side (the
// driver's view of its sockets, the capture: no RST at all) and the SSW's timeline (R2.8).
import { readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnStatus } from '../../src/runtime/lab/clientdriver.ts';
import { ADDR, APP_PORT, Lab } from '../../src/runtime/lab/lab.ts';
import { tsxArgv, waitEvent } from '../../src/runtime/lab/procs.ts';
import { NS } from '../../src/runtime/lab/topology.ts';
import { appPid, clientCapture, expectCaptureClean, sleep } from './helpers.ts';

const ECHO = `${ADDR.service}:${APP_PORT.echo}`;
const HOOK = 'ssw.app-exit-untold';

describe("a new SYN gets the kernel's RST between the application's death and the SSW noticing (R2.8)", () => {
  let lab: Lab | undefined;
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });

  it('the SYN sent while the SSW is not yet told of the death connects after recovery', async () => {
    lab = await Lab.create('local-refused-syn', { testHooks: true });
    const l = lab;
    const hookDir = l.hookDir;
    if (hookDir === undefined) throw new Error('test hooks off');
    await l.startLogger(['--lease-ms', '60000']);
    const ssw = await l.startFtTcpPrimary({ app: 'echo' });
    const cap = await clientCapture(l, 'refused-syn');
    const driver = l.spawn(
      NS.client,
      'clientdriver',
      tsxArgv('src/runtime/lab/clientdriver.ts', '--connect', ECHO),
      {},
      { stdin: true },
    );
    await waitEvent(driver, (e) => e.event === 'driver-up', 20_000, 'driver-up');
    let id = 0;
    const cmd = async (c: Record<string, unknown>): Promise<Record<string, unknown>> => {
      const n = ++id;
      driver.child.stdin?.write(`${JSON.stringify({ id: n, ...c })}\n`);
      const r = await waitEvent(
        driver,
        (e) => e.event === 'reply' && e.id === n,
        10_000,
        `reply ${n}`,
      );
      expect(r.ok, JSON.stringify(r)).toBe(true);
      return r;
    };
    const status = async (conn: string): Promise<ConnStatus> => {
      const r = await cmd({ cmd: 'status' });
      const s = (r.conns as ConnStatus[]).find((x) => x.conn === conn);
      if (s === undefined) throw new Error(`no ${conn} in ${JSON.stringify(r)}`);
      return s;
    };
    const connected = (conn: string, ms: number): Promise<unknown> =>
      waitEvent(driver, (e) => e.event === 'connected' && e.conn === conn, ms, `${conn} connected`);

    // The port is served: a connection opens (the SSW sees the kernel's SYN-ACK).
    await cmd({ cmd: 'open', conn: 'c1', seed: 1 });
    await connected('c1', 10_000);

    // Kill the application; the SSW daemon freezes before it tells the data path.
    writeFileSync(join(hookDir, HOOK), '');
    const live = ssw.events.filter((e) => e.event === 'live').length;
    l.fault('application killed (SIGKILL), the SSW held before it is told', { until: 'live' });
    process.kill(appPid(ssw), 'SIGKILL');
    const deadline = performance.now() + 10_000;
    let held: string | undefined;
    while (held === undefined) {
      held = readdirSync(hookDir).find((f) => f.startsWith(`${HOOK}.held.`));
      if (held === undefined && performance.now() > deadline)
        throw new Error(`${HOOK} not reached`);
      if (held === undefined) await sleep(10);
    }

    // The SYN reaches a kernel without a listener; its refusal must not reach the client.
    await cmd({ cmd: 'open', conn: 'c2', seed: 2 });
    await sleep(400); // the SYN and the kernel's RST take well under a millisecond; no retry yet
    const during = await status('c2');
    expect(during.error, 'the kernel refusal reached the client').toBeUndefined();
    expect(during.state).toBe('connecting');

    // Release: the SSW learns of the death, recovers; the client's SYN retry connects.
    unlinkSync(join(hookDir, held));
    await waitEvent(
      ssw,
      () => ssw.events.filter((e) => e.event === 'live').length > live,
      30_000,
      'live after recovery',
    );
    await connected('c2', 15_000);
    expect(ssw.events.some((e) => e.rule === 'R2.8')).toBe(true);

    // Both connections echo.
    for (const c of ['c1', 'c2']) await cmd({ cmd: 'send', conn: c, bytes: 20_000 });
    const until = performance.now() + 15_000;
    for (;;) {
      const s = await Promise.all(['c1', 'c2'].map(status));
      for (const x of s) {
        expect(x.error, `${x.conn}: ${x.error}`).toBeUndefined();
        expect(x.mismatchAt).toBeUndefined();
      }
      if (s.every((x) => x.received === x.sent && x.sent > 0)) break;
      if (performance.now() > until) throw new Error(`echo incomplete: ${JSON.stringify(s)}`);
      await sleep(100);
    }
    await cmd({ cmd: 'quit' }).catch(() => undefined);
    await expectCaptureClean(cap);
  });
});
