// The recovery daemon end to end on loopback, without root: a fake primary SSW sends
// heartbeats and then falls silent; a fake backup SSW answers the control channel; the real
// logger daemon is fenced; the real echo example is started in replay by --app-cmd and replays
// a session recorded in this test, fed by a client that reconnects from the same port (the
// SSW's injection stands in). The timeline on "stdout" is what is checked.

import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkRecoveryParams, DEFAULT_RECOVERY_PARAMS } from '../../src/machines/recovery/index.ts';
import { readLines } from '../../src/runtime/common/lines.ts';
import { Log, Timeline } from '../../src/runtime/common/log.ts';
import { LoggerServer } from '../../src/runtime/logger/server.ts';
import { APP_HEARTBEAT_LINE } from '../../src/runtime/nsw/heartbeat.ts';
import { Nsw } from '../../src/runtime/nsw/index.ts';
import { RecoveryDaemon } from '../../src/runtime/recovery/daemon.ts';
import { groupAlive, RawPeer, waitFor } from './helpers.ts';

const root = resolve(import.meta.dirname, '../..');
const quiet = (c: string) => new Log({ component: c, level: 'error' });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A fake backup SSW control server: records commands, answers ok, reports live after app-started. */
async function fakeSswControl(path: string): Promise<{ cmds: Record<string, unknown>[] }> {
  const cmds: Record<string, unknown>[] = [];
  const server = net.createServer((s) => {
    readLines(s, (line) => {
      const m = JSON.parse(line) as { id: number; cmd: string };
      cmds.push(m);
      s.write(`${JSON.stringify({ id: m.id, ok: true })}\n`);
      if (m.cmd === 'app-started')
        s.write(`${JSON.stringify({ event: 'live', conns: 1, bytes: 6 })}\n`);
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { cmds };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('recovery daemon', () => {
  it('detects a silent primary, fences, takes over, replays the application and goes live', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fttcp-rec-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const logger = new LoggerServer({
      listen: { host: '127.0.0.1', port: 0 },
      epoch: 1,
      leaseMs: 200,
      log: quiet('logger'),
    });
    const lport = (await logger.start()).port;
    cleanups.push(() => logger.close());

    // The primary's application: echo, recorded.
    const rec = await Nsw.open({
      mode: 'record',
      logger: { host: '127.0.0.1', port: lport },
      log: quiet('nsw'),
    });
    const recErrors: Error[] = [];
    rec.on('error', (e) => recErrors.push(e));
    cleanups.push(() => rec.close());
    const s1 = rec.createServer((s) => s.on('data', (d) => s.write(d)));
    const port1 = await new Promise<number>((r) =>
      s1.listen(0, '127.0.0.1', () => r((s1.address() as net.AddressInfo).port)),
    );
    // A client port outside the ephemeral range (32768-60999): the replay reuses the 4-tuple,
    // and a freed ephemeral port could be taken by the replayed app's own logger link.
    let a: net.Socket | undefined;
    for (let i = 0; a === undefined && i < 200; i++) {
      const localPort = 20000 + ((process.pid * 7919 + i * 104729 + Date.now()) % 12000);
      a = await new Promise<net.Socket | undefined>((res) => {
        const c = net.connect({
          host: '127.0.0.1',
          port: port1,
          localAddress: '127.0.0.1',
          localPort,
        });
        c.once('connect', () => res(c));
        c.once('error', () => res(undefined));
      });
    }
    if (a === undefined) throw new Error('no free client port below the ephemeral range');
    const clientPort = a.localPort!;
    let echoed = '';
    a.on('data', (d) => {
      echoed += d.toString();
    });
    a.on('error', () => {});
    a.write('abc');
    await waitFor('echo abc', () => echoed === 'abc');
    a.write('def');
    await waitFor('echo def', () => echoed === 'abcdef');

    // The recovery daemon with a fake SSW control channel and the real echo example.
    const sock = join(dir, 'ssw.sock');
    const control = await fakeSswControl(sock);
    const appPort = await freePort();
    const lines: Record<string, unknown>[] = [];
    const timeline = new Timeline('recovery', {
      write: (l) => void lines.push(JSON.parse(l) as Record<string, unknown>),
    });
    // Suspicion after 1 s of silence (not the lab's 300 ms) so that a loaded test machine
    // stalling the heartbeat timer cannot look like a dead primary.
    const params = { ...DEFAULT_RECOVERY_PARAMS, suspectAfterMs: 1000, unprotectAfterMs: 3000 };
    expect(checkRecoveryParams(params).ok).toBe(true);
    const daemon = new RecoveryDaemon({
      heartbeatListen: { host: '127.0.0.1', port: 0 },
      logger: { host: '127.0.0.1', port: lport },
      epoch: 1,
      hostId: 'backup',
      params,
      sswControl: sock,
      appCmd: `exec npx tsx ${join(root, 'src/runtime/examples/echo.ts')} --listen 127.0.0.1:${appPort}`,
      log: quiet('recovery'),
      timeline,
    });
    const hb = await daemon.start();
    cleanups.push(() => daemon.stop());
    const events = () => lines.map((l) => l.event);

    // The primary SSW: Hello, then heartbeats every 50 ms, each acknowledged with a lease.
    const primary = await RawPeer.hello(hb.port, 'ssw');
    cleanups.push(() => primary.close());
    let seq = 1;
    let lastBeat = 0;
    const beat = setInterval(() => {
      lastBeat = performance.now();
      primary.send({ kind: 'Heartbeat', seq: seq++, sentMs: Date.now() });
    }, 50);
    cleanups.push(() => clearInterval(beat));
    await waitFor('leases granted', () => primary.of('HeartbeatAck').length >= 3);
    expect(primary.of('HeartbeatAck')[0]!.leaseMs).toBe(200);
    await new Promise((r) => setTimeout(r, 400));
    expect(events()).not.toContain('detected'); // heartbeats keep it trusting

    // The primary host dies: heartbeats stop, and its kernel connection goes with it.
    clearInterval(beat);
    a.resetAndDestroy(); // RST: no TIME_WAIT holds the client port the replay reuses
    await rec.close();
    await waitFor('detected', () => events().includes('detected'), 5000);
    // suspectAfterMs (1000) after the last heartbeat, not before (timer slack allowed).
    expect(performance.now() - lastBeat).toBeGreaterThanOrEqual(990);
    await waitFor('fenced', () => events().includes('fenced'), 3000);
    expect(logger.stats.epoch).toBe(2);
    await waitFor(
      'app started',
      () => events().includes('app-started') && control.cmds.length >= 2,
      5000,
    );
    expect(control.cmds.map((c) => c.cmd)).toEqual(['takeover', 'app-started']);
    expect(control.cmds[0]).toMatchObject({ epoch: 2 });
    expect(control.cmds[1]).toMatchObject({ epoch: 2 });

    // The SSW would now re-create the connection and inject the logged bytes; the test's
    // client does it from the same port. The app (started by the daemon) must echo the same.
    let b: net.Socket | undefined;
    await waitFor(
      'replayed app listening',
      () => {
        if (b === undefined) {
          const c = net.connect({
            host: '127.0.0.1',
            port: appPort,
            localAddress: '127.0.0.1',
            localPort: clientPort,
          });
          c.on('error', () => {
            if (b === c) b = undefined;
          });
          b = c;
        }
        return b.readyState === 'open';
      },
      30_000,
    );
    cleanups.push(() => void b?.destroy());
    let replayed = '';
    b!.on('data', (d) => {
      replayed += d.toString();
    });
    b!.write('abcdef');
    await waitFor('replayed echo', () => replayed === 'abcdef', 10_000);
    await waitFor('live', () => events().includes('live'), 10_000);
    const order = events().filter((e) =>
      [
        'heartbeat-up',
        'crash',
        'detected',
        'fenced',
        'takeover',
        'app-started',
        'replay',
        'live',
      ].includes(String(e)),
    );
    expect(order).toEqual([
      'heartbeat-up',
      'crash',
      'detected',
      'fenced',
      'takeover',
      'app-started',
      'replay',
      'live',
    ]);
    expect(lines.find((l) => l.event === 'replay')).toMatchObject({ bytes: 6, determinants: 5 });
    // Live: the replayed app records new input at epoch 2.
    b!.write('g');
    await waitFor('live echo', () => replayed === 'abcdefg', 5000);
    expect(logger.stats.dets).toBeGreaterThan(5);

    // The old primary comes back: it gets no lease (R8).
    const zombie = await RawPeer.connect(hb.port, 1);
    cleanups.push(() => zombie.close());
    zombie.send({ kind: 'Hello', role: 'ssw', hostId: 'old-primary', epoch: 1 });
    expect((await zombie.next('Error')).code).toBe('staleEpoch');

    // S.2: stopping the daemon stops the application it started, npx's node child included
    // (this test used to leave an examples/echo.ts listening behind).
    const appPid = lines.find((l) => l.event === 'app-started')?.pid;
    expect(typeof appPid).toBe('number');
    await daemon.stop();
    await waitFor('no process of the application left', () => !groupAlive(appPid as number), 5000);
  }, 90_000);

  it("counts an SSW 'live' that arrives in the same read as the takeover's reply (T.2: the reply comes at the ARP, re-creation follows at once)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fttcp-rec-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const logger = new LoggerServer({
      listen: { host: '127.0.0.1', port: 0 },
      epoch: 1,
      leaseMs: 200,
      log: quiet('logger'),
    });
    const lport = (await logger.start()).port;
    cleanups.push(() => logger.close());
    // A backup SSW with nothing to re-create: its 'live' follows the takeover reply at once,
    // here in the same write, so the daemon reads both lines in one chunk.
    const sock = join(dir, 'ssw.sock');
    const cmds: string[] = [];
    const server = net.createServer((c) => {
      c.on('error', () => {});
      readLines(c, (line) => {
        const m = JSON.parse(line) as { id: number; cmd: string };
        cmds.push(m.cmd);
        const reply = `${JSON.stringify({ id: m.id, ok: true })}\n`;
        c.write(
          m.cmd === 'takeover'
            ? `${reply}${JSON.stringify({ event: 'live', conns: 0, bytes: 0 })}\n`
            : reply,
        );
      });
    });
    await new Promise<void>((r) => server.listen(sock, () => r()));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const lines: Record<string, unknown>[] = [];
    const daemon = new RecoveryDaemon({
      heartbeatListen: { host: '127.0.0.1', port: 0 },
      logger: { host: '127.0.0.1', port: lport },
      epoch: 1,
      hostId: 'backup',
      params: { ...DEFAULT_RECOVERY_PARAMS, suspectAfterMs: 1000, unprotectAfterMs: 3000 },
      sswControl: sock,
      log: quiet('recovery'),
      timeline: new Timeline('recovery', {
        write: (l) => void lines.push(JSON.parse(l) as Record<string, unknown>),
      }),
    });
    const hb = await daemon.start();
    cleanups.push(() => daemon.stop());
    const primary = await RawPeer.hello(hb.port, 'ssw');
    cleanups.push(() => primary.close());
    primary.send({ kind: 'Heartbeat', seq: 1, sentMs: Date.now() });
    await waitFor('lease granted', () => primary.of('HeartbeatAck').length === 1);
    // The primary falls silent: detection, fence, (no STONITH command), takeover, and with no
    // application to replay, live as soon as the SSW's live is counted.
    await waitFor('live', () => lines.some((l) => l.event === 'live'), 10_000);
    expect(cmds[0]).toBe('takeover');
    expect(lines.find((l) => l.event === 'replay')).toMatchObject({ bytes: 0, determinants: 0 });
    expect(daemon.state.coordinator).toBe('live');
  }, 60_000);

  it('restarts recovery with a fresh epoch when the application dies during replay, then gives up (R10)', async () => {
    const logger = new LoggerServer({
      listen: { host: '127.0.0.1', port: 0 },
      epoch: 1,
      leaseMs: 200,
      log: quiet('logger'),
    });
    const lport = (await logger.start()).port;
    cleanups.push(() => logger.close());
    const lines: Record<string, unknown>[] = [];
    const daemon = new RecoveryDaemon({
      heartbeatListen: { host: '127.0.0.1', port: 0 },
      logger: { host: '127.0.0.1', port: lport },
      epoch: 1,
      hostId: 'backup',
      appCmd: 'exit 7', // an application that dies on every start
      log: quiet('recovery'),
      timeline: new Timeline('recovery', {
        write: (l) => void lines.push(JSON.parse(l) as Record<string, unknown>),
      }),
    });
    const hb = await daemon.start();
    cleanups.push(() => daemon.stop());
    const primary = await RawPeer.hello(hb.port, 'ssw');
    cleanups.push(() => primary.close());
    primary.send({ kind: 'Heartbeat', seq: 1, sentMs: Date.now() });
    await primary.next('HeartbeatAck');
    await waitFor('failed', () => lines.some((l) => l.event === 'failed'), 10_000);
    const fenced = lines.filter((l) => l.event === 'fenced').map((l) => l.epoch);
    // One Fence per attempt, each to a new epoch (default maxAttempts 3).
    expect(fenced).toEqual([2, 3, 4]);
    expect(lines.filter((l) => l.event === 'restart').map((l) => l.attempt)).toEqual([2, 3]);
    expect(logger.stats.epoch).toBe(4);
    expect(lines.some((l) => l.event === 'live')).toBe(false);
  }, 30_000);

  it('R10.6 (R10.2 after a failover): the application the daemon runs is killed when its heartbeats stop, and recovery restarts', async () => {
    const logger = new LoggerServer({
      listen: { host: '127.0.0.1', port: 0 },
      epoch: 1,
      leaseMs: 200,
      log: quiet('logger'),
    });
    const lport = (await logger.start()).port;
    cleanups.push(() => logger.close());
    const lines: Record<string, unknown>[] = [];
    // An application that beats three times at the period it was asked for, then hangs (its
    // process alive, its loop silent): the daemon's watch must find it, whatever it says.
    const hangs = `i=0; while [ $i -lt 3 ]; do echo '${APP_HEARTBEAT_LINE}'; i=$((i+1)); sleep 0.05; done; echo "period $FTTCP_APP_HEARTBEAT_MS" >&2; exec sleep 300`;
    const daemon = new RecoveryDaemon({
      heartbeatListen: { host: '127.0.0.1', port: 0 },
      logger: { host: '127.0.0.1', port: lport },
      epoch: 1,
      hostId: 'backup',
      appCmd: hangs,
      appLiveness: { hangMs: 300, startGraceMs: 5000 },
      log: quiet('recovery'),
      timeline: new Timeline('recovery', {
        write: (l) => void lines.push(JSON.parse(l) as Record<string, unknown>),
      }),
    });
    const hb = await daemon.start();
    cleanups.push(() => daemon.stop());
    const primary = await RawPeer.hello(hb.port, 'ssw');
    cleanups.push(() => primary.close());
    primary.send({ kind: 'Heartbeat', seq: 1, sentMs: Date.now() });
    await primary.next('HeartbeatAck');
    await waitFor('hung found', () => lines.some((l) => l.event === 'app-hung'), 10_000);
    const hung = lines.find((l) => l.event === 'app-hung');
    expect(hung).toMatchObject({ rule: 'R10.2', phase: 'running', limitMs: 300 });
    expect(hung?.silentMs as number).toBeGreaterThan(300);
    // Killed into the crash path: the coordinator restarts the recovery (R10).
    await waitFor('restart', () => lines.some((l) => l.event === 'restart'), 10_000);
    await waitFor(
      'the next incarnation',
      () => lines.filter((l) => l.event === 'app-started').length >= 2,
      10_000,
    );
    const started = lines.filter((l) => l.event === 'app-started');
    // The hung incarnation's whole group is gone (S.2).
    await waitFor('hung incarnation gone', () => !groupAlive(started[0]?.pid as number), 5000);
  }, 60_000);
});
