// NSW recording and replay over loopback with a real logger daemon. No SSW here: the test
// plays the SSW's part where replay needs it (a client that reconnects from the same port and
// re-sends its bytes stands in for the SSW's injection; a raw 'ssw' peer logs the bytes of a
// connection that closed before the failure).

import net from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_NSW_LIMITS } from '../../src/machines/nsw/index.ts';
import { Log } from '../../src/runtime/common/log.ts';
import { kvServer } from '../../src/runtime/examples/kvserver.ts';
import { LoggerServer } from '../../src/runtime/logger/server.ts';
import { nswControlLine, parseNswControlLine } from '../../src/runtime/nsw/control.ts';
import { MAX_OUTPUT_BACKLOG_BYTES } from '../../src/runtime/nsw/ftBinding.ts';
import { APP_HEARTBEAT_LINE } from '../../src/runtime/nsw/heartbeat.ts';
import { Nsw, NswDivergenceError, type NswSocket } from '../../src/runtime/nsw/index.ts';
import type { SynOpts } from '../../src/wire/logmsg.ts';
import { delayingProxy, RawPeer, waitFor } from './helpers.ts';

const quiet = (c: string) => new Log({ component: c, level: 'error' });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startLogger(): Promise<LoggerServer> {
  const s = new LoggerServer({
    listen: { host: '127.0.0.1', port: 0 },
    epoch: 1,
    leaseMs: 200,
    log: quiet('logger'),
  });
  await s.start();
  cleanups.push(() => s.close());
  return s;
}

const loggerPort = (s: LoggerServer) =>
  (s as unknown as { link: { server: net.Server } }).link.server.address() as net.AddressInfo;

/** NSW errors seen by tests that do not expect any (an unhandled one would exit the worker). */
let nswErrors: Error[] = [];
afterEach(() => {
  const e = nswErrors;
  nswErrors = [];
  expect(e.map((x) => x.message)).toEqual([]);
});

async function openNsw(
  mode: 'record' | 'replay',
  port: number,
  epoch = 1,
  expectErrors = false,
): Promise<Nsw> {
  const nsw = await Nsw.open({
    mode,
    logger: { host: '127.0.0.1', port },
    epoch,
    log: quiet('nsw'),
  });
  if (!expectErrors) nsw.on('error', (e) => nswErrors.push(e));
  cleanups.push(() => nsw.close());
  return nsw;
}

function listen(server: {
  listen(p: number, h: string, cb: () => void): unknown;
  address(): unknown;
}): Promise<number> {
  return new Promise((r) =>
    server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)),
  );
}

/** A loopback client that records everything it receives, with timestamps. */
class Client {
  readonly received: Buffer[] = [];
  readonly times: number[] = [];
  closed = false;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d) => {
      this.received.push(d);
      this.times.push(performance.now());
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
    });
  }
  static async connect(port: number, localPort?: number): Promise<Client> {
    // Reusing a client port can briefly fail while the old socket is torn down: retry (bounded).
    for (let attempt = 0; ; attempt++) {
      try {
        return await new Promise<Client>((resolve, reject) => {
          const s = net.connect({
            host: '127.0.0.1',
            port,
            ...(localPort ? { localAddress: '127.0.0.1', localPort } : {}),
          });
          s.once('connect', () => resolve(new Client(s)));
          s.once('error', reject);
        });
      } catch (e) {
        if (attempt >= 50 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
  /**
   * Connect from a client port outside the kernel's ephemeral range (32768-60999 here), for a
   * connection whose 4-tuple a replay will reuse: an ephemeral port freed by the "crash" could
   * otherwise be taken at once by the next outgoing connection (the new NSW's logger link).
   */
  static async connectFromFixedPort(port: number): Promise<Client> {
    for (let i = 0; i < 200; i++) {
      const local = 20000 + ((process.pid * 7919 + i * 104729 + Date.now()) % 12000);
      try {
        return await Client.connect(port, local);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
      }
    }
    throw new Error('no free client port below the ephemeral range');
  }

  get text(): string {
    return Buffer.concat(this.received).toString('latin1');
  }
  get bytes(): number {
    return this.received.reduce((n, b) => n + b.length, 0);
  }
  async waitBytes(n: number, timeoutMs = 5000): Promise<void> {
    await waitFor(
      `${n} bytes from the server (have ${this.bytes})`,
      () => this.bytes >= n,
      timeoutMs,
    );
  }
}

/** Echo with the nondeterminism an application may take from the NSW. */
function nondetEcho(nsw: Nsw): void {
  nsw.createServer((sock: NswSocket) => {
    nsw.setTimeout(() => sock.write('tick;'), 30);
    sock.on('data', (d) => {
      const r = Buffer.from(nsw.random(4)).toString('hex');
      const t = nsw.now() > 0 ? 'T' : 'F';
      sock.write(`echo:${d.toString('latin1')}:${r}:${t};`);
    });
  });
}

describe('NSW recording', () => {
  it('holds output until the logger has stored what it depends on (output commit, R4)', async () => {
    const logger = await startLogger();
    // Generous delays so that a loaded machine cannot blur held from released.
    let delay = 800;
    const proxy = await delayingProxy(loggerPort(logger).port, () => delay);
    cleanups.push(() => proxy.close());
    const nsw = await openNsw('record', proxy.port);
    const server = nsw.createServer((s) => s.on('data', (d) => s.write(d)));
    const port = await listen(server);
    const c = await Client.connect(port);
    cleanups.push(() => void c.sock.destroy());
    const t0 = performance.now();
    c.sock.write('hello');
    // The logger stores at once, but its DetStored answers take 800 ms to come back.
    await waitFor('accept+read+outputHash stored at the logger', () => logger.stats.dets >= 3);
    await new Promise((r) => setTimeout(r, 200));
    expect(c.bytes).toBe(0);
    expect(nsw.stats.heldBytes).toBe(5);
    await c.waitBytes(5);
    expect(c.text).toBe('hello');
    expect(c.times[0]! - t0).toBeGreaterThanOrEqual(790);
    expect(nsw.stats.stableDet).toBeGreaterThanOrEqual(2);
    // Same path with a prompt logger: the reply is no longer held for long.
    delay = 0;
    await waitFor(
      'earlier answers flushed through the proxy',
      () => nsw.stats.stableDet === nsw.stats.detSeq,
      3000,
    );
    const t1 = performance.now();
    c.sock.write('again');
    await c.waitBytes(10);
    expect(c.times.at(-1)! - t1).toBeLessThan(700);
  });

  it('re-sends unacknowledged determinants after the logger link drops; held output then flows', async () => {
    const logger = await startLogger();
    let delay = 300;
    const proxy = await delayingProxy(loggerPort(logger).port, () => delay);
    cleanups.push(() => proxy.close());
    const nsw = await openNsw('record', proxy.port);
    const server = nsw.createServer((s) => s.on('data', (d) => s.write(d)));
    const port = await listen(server);
    const c = await Client.connect(port);
    cleanups.push(() => void c.sock.destroy());
    c.sock.write('held');
    await waitFor('stored at the logger', () => logger.stats.dets >= 3);
    // The link fails before any DetStored got back: the answers are lost with it.
    proxy.cut();
    delay = 0;
    await c.waitBytes(4);
    expect(c.text).toBe('held');
    await waitFor('all acknowledged', () => nsw.stats.stableDet === nsw.stats.detSeq);
    // Re-sent determinants were duplicates: the logger holds each once.
    expect(logger.stats.dets).toBe(nsw.stats.detSeq);
  });

  it('R13.9: told unprotected on its control channel, it releases what it held and serves unlogged from then on', async () => {
    // The logger is gone for good (its answers never come back): without R13.9 the reply
    // is held for ever (the backup host crash of issue 12).
    const logger = await startLogger();
    let delay = 0;
    const proxy = await delayingProxy(loggerPort(logger).port, () => delay);
    cleanups.push(() => proxy.close());
    const control = new PassThrough();
    const events: Record<string, unknown>[] = [];
    const nsw = await Nsw.open({
      mode: 'record',
      logger: { host: '127.0.0.1', port: proxy.port },
      log: quiet('nsw'),
      controlInput: control,
      timeline: {
        event: (event: string, f: Record<string, unknown>) => events.push({ event, ...f }),
      } as never,
    });
    nsw.on('error', (e) => nswErrors.push(e));
    cleanups.push(() => nsw.close());
    delay = 600_000;
    const server = nsw.createServer((s) => s.on('data', (d) => s.write(d)));
    const port = await listen(server);
    const c = await Client.connect(port);
    cleanups.push(() => void c.sock.destroy());
    c.sock.write('held');
    await waitFor('held', () => nsw.stats.heldBytes === 4);
    await new Promise((r) => setTimeout(r, 100));
    expect(c.bytes).toBe(0);
    // A line that is not a request is skipped, not thrown.
    control.write('not json\n');
    control.write(nswControlLine({ cmd: 'unprotected', reason: 'ssw unprotected (L.2)' }));
    await c.waitBytes(4);
    expect(c.text).toBe('held');
    expect(events).toContainEqual(
      expect.objectContaining({
        event: 'unprotected',
        reason: 'ssw unprotected (L.2)',
        releasedBytes: 4,
      }),
    );
    const dets = nsw.stats.detSeq;
    c.sock.write('free');
    await c.waitBytes(8);
    expect(c.text).toBe('heldfree');
    expect(nsw.stats.heldBytes).toBe(0);
    // Numbering goes on, nothing is sent: the logger saw none of the unprotected reads.
    expect(nsw.stats.detSeq).toBeGreaterThan(dets);
    expect(logger.stats.dets).toBeLessThanOrEqual(dets);
  });

  it('R13.9: control lines are parsed without throwing', () => {
    expect(parseNswControlLine('{"cmd":"unprotected","reason":"x"}')).toEqual({
      ok: true,
      req: { cmd: 'unprotected', reason: 'x' },
    });
    expect(parseNswControlLine('{"cmd":"other"}')).toMatchObject({ ok: false });
    expect(parseNswControlLine('[1]')).toMatchObject({ ok: false });
    expect(parseNswControlLine('{')).toMatchObject({ ok: false });
    expect(parseNswControlLine('{"cmd":"unprotected"}')).toMatchObject({ ok: true });
  });

  it('R13.10: connections opened and closed leave no entry in any table of the binding or the core', async () => {
    const logger = await startLogger();
    const nsw = await openNsw('record', loggerPort(logger).port);
    const server = nsw.createServer((s) => s.on('data', (d) => s.write(d)));
    const port = await listen(server);
    const N = 300;
    for (let batch = 0; batch < N; batch += 50) {
      const clients = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const c = await Client.connect(port);
          c.sock.write('ping');
          await c.waitBytes(4);
          c.sock.end();
          return c;
        }),
      );
      await waitFor('clients see the server close', () => clients.every((c) => c.closed));
    }
    const open = (): string[] =>
      Object.entries(nsw.stats.tables ?? { missing: 1 })
        .filter(([k, v]) => k !== 'core.forgotten' && v !== 0)
        .map(([k, v]) => `${k}=${v}`);
    await waitFor('every table empty', () => open().length === 0);
    expect(nsw.stats.tables?.['core.forgotten']).toBe(N);
  });

  it("R4.8: released output a slow reader leaves queued bounds that connection's input (the checkpoint tail stays small)", async () => {
    const logger = await startLogger();
    const nsw = await openNsw('record', loggerPort(logger).port);
    let delivered = 0;
    let queuedMax = 0;
    const server = nsw.createServer((s) =>
      s.on('data', (d) => {
        delivered += d.length;
        // An echo that ignores write()'s answer, as the lab's does.
        s.write(d);
        queuedMax = Math.max(queuedMax, s.kernel?.writableLength ?? 0);
      }),
    );
    const port = await listen(server);
    const c = await Client.connect(port);
    cleanups.push(() => void c.sock.destroy());
    // The client sends 64 MiB and reads nothing until the server stops taking its input.
    c.sock.pause();
    const total = 64 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 7);
    for (let i = 0; i < total / chunk.length; i++) c.sock.write(chunk);
    // Settled: no input delivered for half a second (bounded: 40 looks).
    let last = -1;
    for (let i = 0; i < 40 && !(delivered === last && delivered > 0); i++) {
      last = delivered;
      await new Promise((r) => setTimeout(r, 500));
    }
    // Without R4.8 every byte sent was read and echoed into the user-space queue (64 MiB);
    // with it, input stops once 8 MiB are queued, plus what the kernels buffer each way.
    expect(delivered).toBeLessThan(total / 2);
    // One release may add up to R4.6's held output at once (what waited for a DetStored).
    expect(queuedMax).toBeLessThanOrEqual(
      MAX_OUTPUT_BACKLOG_BYTES + DEFAULT_NSW_LIMITS.maxHeldBytes,
    );
    // Reading again drains the queue and the rest flows: the echo comes back whole.
    c.sock.resume();
    await c.waitBytes(total, 60_000);
    expect(delivered).toBe(total);
  });

  it('logs the determinants in the order the application saw them', async () => {
    const logger = await startLogger();
    const nsw = await openNsw('record', loggerPort(logger).port);
    const server = nsw.createServer((s) => s.on('data', (d) => s.write(d)));
    const port = await listen(server);
    const c = await Client.connect(port);
    const clientPort = c.sock.localPort;
    c.sock.write('abc');
    await c.waitBytes(3);
    c.sock.end();
    await waitFor('client sees the server close', () => c.closed);
    await waitFor(
      'everything stored',
      () => nsw.stats.stableDet === nsw.stats.detSeq && logger.stats.dets === nsw.stats.detSeq,
    );
    const fetch = await RawPeer.hello(loggerPort(logger).port, 'nsw');
    cleanups.push(() => fetch.close());
    fetch.send({ kind: 'FetchLog', what: 'nsw' });
    await fetch.next('ReplayEnd');
    const kinds = fetch.of('ReplayDeterminant').map((d) => d.det.kind);
    expect(kinds).toEqual(['accept', 'read', 'outputHash', 'eof', 'close']);
    const accept = fetch.of('ReplayDeterminant')[0]!.det;
    expect(accept).toEqual({ kind: 'accept', conn: 0, clientAddr: 0x7f000001, clientPort });
  });
});

describe('NSW replay', () => {
  it('replays a recorded session from a re-sent byte stream: same outputs, then goes live', async () => {
    const logger = await startLogger();
    const lport = loggerPort(logger).port;
    // Recorded run.
    const rec = await openNsw('record', lport);
    nondetEcho(rec);
    const port1 = await listen(rec.servers[0]!);
    const a = await Client.connectFromFixedPort(port1);
    const clientPort = a.sock.localPort!;
    await a.waitBytes('tick;'.length); // the timer fired first
    a.sock.write('one');
    await waitFor('reply one', () => a.text.includes('echo:one'));
    a.sock.write('two');
    await waitFor('reply two', () => a.text.includes('echo:two'));
    const recorded = a.text;
    await waitFor('all stored', () => rec.stats.stableDet === rec.stats.detSeq);
    const dets = rec.stats.detSeq;
    // The application "crashes"; a coordinator fences the old epoch.
    a.sock.resetAndDestroy(); // RST: no TIME_WAIT holds the client port we reuse below
    await rec.close();
    const coord = await RawPeer.hello(lport, 'coordinator');
    cleanups.push(() => coord.close());
    coord.send({ kind: 'Fence', newEpoch: 2 });
    await coord.next('Fenced');
    // Replay: the client's bytes arrive again all at once from the same 4-tuple's client
    // side (as the SSW's injection would); the log decides how they are chunked.
    const rep = await openNsw('replay', lport, 2);
    expect(rep.mode).toBe('replaying');
    nondetEcho(rep);
    const port2 = await listen(rep.servers[0]!);
    const b = await Client.connect(port2, clientPort);
    cleanups.push(() => void b.sock.destroy());
    b.sock.write('onetwo');
    await b.waitBytes(recorded.length);
    expect(b.text).toBe(recorded);
    await waitFor('live', () => rep.mode === 'live');
    // Live again: new input is recorded after the replayed determinants.
    b.sock.write('three');
    await waitFor('reply three', () => b.text.includes('echo:three'));
    await waitFor('new determinants stored', () => logger.stats.dets > dets);
    expect(rep.stats.detSeq).toBeGreaterThan(dets);
  });

  it('replays hundreds of deliveries whose handlers answer in promise continuations (batched replay, R3.3)', async () => {
    // The replay delivers up to a batch of events per event-loop turn, one per macrotask. An
    // application whose write (and clock read) happens a few microtasks after its 'data'
    // handler catches any delivery that would run before the previous one's microtasks: the
    // log would wait for the outputHash of that write (awaitApp) and the replay would stop.
    const N = 300;
    const app = (nsw: Nsw): void => {
      nsw.createServer((sock) => {
        let n = 0;
        sock.on('data', (d) => {
          void (async () => {
            await Promise.resolve();
            await null;
            const t = nsw.now() > 0 ? 'T' : 'F';
            sock.write(`${n++}:${d.toString('latin1')}:${t};`);
          })();
        });
      });
    };
    const logger = await startLogger();
    const lport = loggerPort(logger).port;
    const rec = await openNsw('record', lport);
    app(rec);
    const port1 = await listen(rec.servers[0]!);
    const a = await Client.connectFromFixedPort(port1);
    const clientPort = a.sock.localPort!;
    let sent = '';
    for (let i = 0; i < N; i++) {
      const req = `r${i}`;
      sent += req;
      a.sock.write(req);
      await waitFor(`reply ${i}`, () => a.text.includes(`${i}:${req}:`));
    }
    const recorded = a.text;
    await waitFor('all stored', () => rec.stats.stableDet === rec.stats.detSeq);
    const dets = rec.stats.detSeq;
    expect(dets).toBe(1 + 3 * N); // accept, then read + clock + outputHash per request
    a.sock.resetAndDestroy();
    await rec.close();
    const rep = await openNsw('replay', lport);
    app(rep);
    const port2 = await listen(rep.servers[0]!);
    const b = await Client.connect(port2, clientPort);
    cleanups.push(() => void b.sock.destroy());
    b.sock.write(sent);
    await waitFor('live', () => rep.mode === 'live');
    await b.waitBytes(recorded.length);
    expect(b.text).toBe(recorded);
    expect(rep.stats.detSeq).toBe(dets);
    // Live again, through the unbatched path.
    b.sock.write('after');
    await waitFor('live reply', () => b.text.endsWith(`${N}:after:T;`));
  });

  it('R10.1 a long replay keeps beating: the heartbeat timer runs between replay batches', async () => {
    // A log of 3 * N + 1 determinants that needs no client input beyond the accept: N timers
    // armed at the accept, each writing a line with the clock in it. Replayed, they are
    // delivered 256 per event-loop turn (scheduleReplayBatch); a watching supervisor must keep
    // hearing the NSW throughout, or it would kill a healthy replay (R10.2).
    const N = 5_000;
    const app = (nsw: Nsw): void => {
      nsw.createServer((sock) => {
        for (let i = 0; i < N; i++)
          nsw.setTimeout(() => sock.write(`${i}:${Math.round(nsw.now())};`), 0);
      });
    };
    const logger = await startLogger();
    const lport = loggerPort(logger).port;
    const rec = await openNsw('record', lport);
    app(rec);
    const port1 = await listen(rec.servers[0]!);
    const a = await Client.connectFromFixedPort(port1);
    const clientPort = a.sock.localPort!;
    // `${i}:${13-digit ms};` per timer
    let total = 0;
    for (let i = 0; i < N; i++) total += String(i).length + 15;
    await a.waitBytes(total, 60_000);
    await waitFor('all stored', () => rec.stats.stableDet === rec.stats.detSeq, 30_000);
    expect(rec.stats.detSeq).toBe(1 + 3 * N);
    const recorded = a.text;
    a.sock.resetAndDestroy();
    await rec.close();
    // Replay with a 10 ms heartbeat; its lines are caught on their way to stdout.
    const beats: number[] = [];
    const write = process.stdout.write.bind(process.stdout);
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk, ...rest) => {
      if (String(chunk) === `${APP_HEARTBEAT_LINE}\n`) {
        beats.push(performance.now());
        return true;
      }
      return write(chunk as string, ...(rest as []));
    });
    cleanups.push(() => spy.mockRestore());
    const t0 = performance.now();
    const rep = await Nsw.open({
      mode: 'replay',
      logger: { host: '127.0.0.1', port: lport },
      log: quiet('nsw'),
      heartbeatMs: 10,
    });
    rep.on('error', (e) => nswErrors.push(e));
    cleanups.push(() => rep.close());
    app(rep);
    const port2 = await listen(rep.servers[0]!);
    const b = await Client.connect(port2, clientPort);
    cleanups.push(() => void b.sock.destroy());
    await waitFor('live', () => rep.mode === 'live', 60_000);
    const t1 = performance.now();
    await b.waitBytes(recorded.length, 30_000);
    expect(b.text).toBe(recorded);
    // The replay lasted many periods (else this test would show nothing), and no gap between
    // two beats came near its length: beats ran between the batches, not only after them.
    const during = [t0, ...beats.filter((t) => t > t0 && t < t1), t1];
    const gaps = during.slice(1).map((t, i) => t - (during[i] ?? t));
    const longest = Math.max(...gaps);
    expect(t1 - t0).toBeGreaterThan(10 * 10);
    expect(during.length - 2).toBeGreaterThan(3);
    expect(longest).toBeLessThan((t1 - t0) / 2);
  }, 120_000);

  it('a replayed end() leaves after the bytes written before it in the same replay batch', async () => {
    // Replayed writes are gathered per socket and written once per batch; the FIN of a
    // replayed end() must still follow them on the wire.
    const app = (nsw: Nsw): void => {
      nsw.createServer(
        (sock) => {
          sock.on('data', (d) => {
            const t = d.toString('latin1');
            if (t === 'bye') sock.end('ok');
            else sock.write(t);
          });
        },
        { allowHalfOpen: true },
      );
    };
    const logger = await startLogger();
    const lport = loggerPort(logger).port;
    const rec = await openNsw('record', lport);
    app(rec);
    const port1 = await listen(rec.servers[0]!);
    const a = await Client.connectFromFixedPort(port1);
    const clientPort = a.sock.localPort!;
    a.sock.write('a');
    await a.waitBytes(1);
    a.sock.write('bye');
    await waitFor('server end', () => a.closed);
    expect(a.text).toBe('aok');
    await waitFor('all stored', () => rec.stats.stableDet === rec.stats.detSeq);
    await rec.close();
    const rep = await openNsw('replay', lport);
    app(rep);
    const port2 = await listen(rep.servers[0]!);
    const b = await Client.connect(port2, clientPort);
    cleanups.push(() => void b.sock.destroy());
    b.sock.write('abye');
    await waitFor('replayed end', () => b.closed);
    expect(b.text).toBe('aok');
  });

  it('stops with a typed divergence error when the application does not repeat itself (R12)', async () => {
    const logger = await startLogger();
    const lport = loggerPort(logger).port;
    const rec = await openNsw('record', lport);
    const s1 = rec.createServer((s) => s.on('data', (d) => s.write(d)));
    const port1 = await listen(s1);
    const a = await Client.connectFromFixedPort(port1);
    const clientPort = a.sock.localPort;
    a.sock.write('x');
    await a.waitBytes(1);
    await waitFor('stored', () => rec.stats.stableDet === rec.stats.detSeq);
    a.sock.resetAndDestroy(); // RST: no TIME_WAIT holds the client port we reuse below
    await rec.close();
    const rep = await openNsw('replay', lport, 1, true);
    const divergences: NswDivergenceError[] = [];
    rep.on('divergence', (e) => divergences.push(e));
    // A different application: it answers in upper case.
    const s2 = rep.createServer((s) => s.on('data', (d) => s.write(d.toString().toUpperCase())));
    const port2 = await listen(s2);
    const b = await Client.connect(port2, clientPort);
    cleanups.push(() => void b.sock.destroy());
    b.sock.write('x');
    await waitFor('divergence reported', () => divergences.length > 0);
    expect(divergences[0]).toBeInstanceOf(NswDivergenceError);
    // The inputs still matched the log (same position), so only that connection is stopped,
    // at the outputHash of its first write, and its diverged bytes never reach the client.
    expect(divergences[0]!.conn).toBe(0);
    // detSeq is the core's log position after the mismatching outputHash (index 2) was consumed.
    expect(divergences[0]!.detSeq).toBe(3);
    await new Promise((r) => setTimeout(r, 100));
    expect(b.bytes).toBe(0);
  });

  it('rebuilds state from a connection closed before the failure (bytes served by the logger)', async () => {
    const logger = await startLogger();
    const lport = loggerPort(logger).port;
    const rec = await openNsw('record', lport);
    const { server } = kvServer(rec);
    const port1 = await listen(server);
    const ssw = await RawPeer.hello(lport, 'ssw');
    cleanups.push(() => ssw.close());
    // Connection 0: SET, then closed by the client. The test logs its bytes as the SSW would.
    const c0 = await Client.connect(port1);
    const set = '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n';
    c0.sock.write(set);
    await c0.waitBytes(5);
    const opts: SynOpts = { mss: 1460, wscale: 7, sackOk: true, tsVal: 1, tsEcr: null };
    ssw.send({
      kind: 'LogSyn',
      conn: 1,
      clientAddr: 0x7f000001,
      clientPort: c0.sock.localPort!,
      serverAddr: 0x7f000001,
      serverPort: port1,
      clientIsn: 1000,
      serverIsn: 2000,
      clientOpts: opts,
      serverOpts: opts,
      synTimeMs: 0,
    });
    ssw.send({ kind: 'LogData', conn: 1, seq: 1001, payload: Buffer.from(set), fin: true });
    c0.sock.end();
    await waitFor('closed', () => c0.closed);
    ssw.send({ kind: 'ConnClosed', conn: 1 });
    // Connection 1 stays open: INCR n twice.
    const c1 = await Client.connectFromFixedPort(port1);
    const c1Port = c1.sock.localPort;
    c1.sock.write('INCR n\r\n');
    await c1.waitBytes(4);
    c1.sock.write('INCR n\r\n');
    await c1.waitBytes(8);
    expect(c1.text).toBe(':1\r\n:2\r\n');
    await waitFor('stored', () => rec.stats.stableDet === rec.stats.detSeq);
    c1.sock.resetAndDestroy();
    await rec.close();
    // Replay: conn 0 comes from the logger, conn 1 from the re-sent stream.
    const rep = await openNsw('replay', lport);
    const { server: s2 } = kvServer(rep);
    const port2 = await listen(s2);
    const c1b = await Client.connect(port2, c1Port);
    cleanups.push(() => void c1b.sock.destroy());
    c1b.sock.write('INCR n\r\nINCR n\r\n');
    await c1b.waitBytes(8);
    expect(c1b.text).toBe(':1\r\n:2\r\n');
    await waitFor('live', () => rep.mode === 'live');
    c1b.sock.write('GET k\r\nINCR n\r\n');
    await waitFor('live replies', () => c1b.text.length >= 8 + 11 + 4);
    expect(c1b.text.slice(8)).toBe('$5\r\nvalue\r\n:3\r\n');
  });
});
