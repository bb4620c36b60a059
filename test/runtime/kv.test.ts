// The RESP KV example driven by clients no one here wrote: Debian's redis-cli and
// redis-benchmark, on 127.0.0.1, in plain and in record mode. Every reply redis-benchmark gets
// is checked by an independent tap (a proxy that parses the server's RESP stream), not by the
// server's own accounting.

import { execFile } from 'node:child_process';
import net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Log } from '../../src/runtime/common/log.ts';
import { kvServer } from '../../src/runtime/examples/kvserver.ts';
import { RespParser } from '../../src/runtime/examples/resp.ts';
import { LoggerServer } from '../../src/runtime/logger/server.ts';
import { Nsw, type NswDivergenceError } from '../../src/runtime/nsw/index.ts';
import { checkPrereqs } from '../../src/runtime/prereq.ts';
import type { SynOpts } from '../../src/wire/logmsg.ts';
import { RawPeer, waitFor } from './helpers.ts';

// Without redis-tools every test below would fail on an exec error that does not say why. The
// unit project installs nothing: `npm test` (root project's set-up) or the command named here does.
beforeAll(() => {
  const r = checkPrereqs(
    { what: 'test/runtime/kv.test.ts', tools: ['redis-cli', 'redis-benchmark'], lab: false },
    { install: false },
  );
  if (!r.ok) throw new Error(r.lines.join('\n'));
});

const quiet = (c: string) => new Log({ component: c, level: 'error' });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function run(
  cmd: string,
  args: string[],
  input?: string,
  timeoutMs = 60_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) p.stdin?.end(input);
  });
}

type Reply = string | number | null | Reply[] | { err: string };

/** Minimal RESP2 reply reader for the tap; returns undefined when more bytes are needed. */
function readReply(b: Buffer, pos: number): { value: Reply; next: number } | undefined {
  const nl = b.indexOf('\r\n', pos);
  if (nl < 0) return undefined;
  const line = b.subarray(pos + 1, nl).toString('latin1');
  switch (String.fromCharCode(b[pos]!)) {
    case '+':
      return { value: line, next: nl + 2 };
    case '-':
      return { value: { err: line }, next: nl + 2 };
    case ':':
      return { value: Number(line), next: nl + 2 };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, next: nl + 2 };
      if (b.length < nl + 2 + n + 2) return undefined;
      return { value: b.subarray(nl + 2, nl + 2 + n).toString('latin1'), next: nl + 2 + n + 2 };
    }
    case '*': {
      const n = Number(line);
      const items: Reply[] = [];
      let p = nl + 2;
      for (let i = 0; i < n; i++) {
        const r = readReply(b, p);
        if (r === undefined) return undefined;
        items.push(r.value);
        p = r.next;
      }
      return { value: items, next: p };
    }
    default:
      throw new Error(
        `tap: not a RESP reply: ${JSON.stringify(b.subarray(pos, pos + 20).toString('latin1'))}`,
      );
  }
}

/** A proxy that forwards both ways and parses every reply the server sends. */
async function replyTap(
  target: number,
): Promise<{ port: number; replies: Reply[]; requests: Buffer[][] }> {
  const replies: Reply[] = [];
  const requests: Buffer[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect({ host: '127.0.0.1', port: target });
    sockets.add(down).add(up);
    const reqParser = new RespParser();
    let buf = Buffer.alloc(0);
    down.on('data', (d) => {
      requests.push(...reqParser.push(d));
      up.write(d);
    });
    up.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      let pos = 0;
      for (;;) {
        const r = readReply(buf, pos);
        if (r === undefined) break;
        replies.push(r.value);
        pos = r.next;
      }
      buf = buf.subarray(pos);
      down.write(d);
    });
    down.on('end', () => up.end());
    up.on('end', () => down.end());
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, replies, requests };
}

async function startKv(
  mode: 'plain' | 'record',
): Promise<{ port: number; nsw: Nsw; logger?: LoggerServer }> {
  let logger: LoggerServer | undefined;
  let nsw: Nsw;
  if (mode === 'record') {
    const l = new LoggerServer({
      listen: { host: '127.0.0.1', port: 0 },
      epoch: 1,
      leaseMs: 200,
      log: quiet('logger'),
    });
    const lport = (await l.start()).port;
    cleanups.push(() => l.close());
    logger = l;
    nsw = await Nsw.open({
      mode: 'record',
      logger: { host: '127.0.0.1', port: lport },
      log: quiet('nsw'),
    });
  } else {
    nsw = await Nsw.open({ mode: 'plain' });
  }
  const errors: Error[] = [];
  nsw.on('error', (e) => errors.push(e));
  cleanups.push(() => {
    expect(errors.map((e) => e.message)).toEqual([]);
  });
  cleanups.push(() => nsw.close());
  const { server } = kvServer(nsw);
  const port = await new Promise<number>((r) =>
    server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)),
  );
  return logger === undefined ? { port, nsw } : { port, nsw, logger };
}

describe.each(['plain', 'record'] as const)('KV server (%s mode)', (mode) => {
  it('answers redis-cli: PING, ECHO, SET, GET, DEL, INCR, EXISTS, expiry, inline and errors', async () => {
    const { port } = await startKv(mode);
    const cli = (...args: string[]) =>
      run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
    expect((await cli('PING')).stdout).toBe('PONG\n');
    expect((await cli('ECHO', 'hello world')).stdout).toBe('hello world\n');
    expect((await cli('SET', 'k', 'v1')).stdout).toBe('OK\n');
    expect((await cli('GET', 'k')).stdout).toBe('v1\n');
    expect((await cli('EXISTS', 'k', 'nope', 'k')).stdout).toBe('2\n');
    expect((await cli('INCR', 'n')).stdout).toBe('1\n');
    expect((await cli('INCR', 'n')).stdout).toBe('2\n');
    expect((await cli('INCR', 'k')).stdout).toMatch(
      /^ERR value is not an integer or out of range\n/,
    );
    expect((await cli('DEL', 'k', 'n', 'nope')).stdout).toBe('2\n');
    expect((await cli('GET', 'k')).stdout).toBe('\n');
    expect((await cli('SET', 'tmp', 'x', 'PX', '1')).stdout).toBe('OK\n');
    await new Promise((r) => setTimeout(r, 20));
    expect((await cli('GET', 'tmp')).stdout).toBe('\n');
    expect((await cli('NOSUCH')).stdout).toMatch(/^ERR unknown command 'NOSUCH'/);
    // Piped commands: redis-cli sends them as multibulk, pipelined on one connection.
    const many = await run(
      'redis-cli',
      ['-h', '127.0.0.1', '-p', String(port)],
      'SET a 1\nINCR a\nGET a\nPING\n',
    );
    expect(many.stdout).toBe('OK\n2\n2\nPONG\n');
    // Raw inline commands and a pipelined burst over a plain socket.
    const expected = '+PONG\r\n$3\r\na b\r\n:1\r\n+PONG\r\n:1\r\n';
    const raw = await new Promise<string>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port });
      let out = '';
      const t = setTimeout(
        () => reject(new Error(`raw client got only ${JSON.stringify(out)}`)),
        5000,
      );
      s.on('data', (d) => {
        out += d.toString('latin1');
        if (out.length >= expected.length) {
          clearTimeout(t);
          s.end();
          resolve(out);
        }
      });
      s.on('error', reject);
      s.write(
        'PING\r\nECHO "a b"\r\n*2\r\n$4\r\nINCR\r\n$1\r\nz\r\n*1\r\n$4\r\nPING\r\nEXISTS z\r\n',
      );
    });
    expect(raw).toBe(expected);
  });

  it('serves redis-benchmark -n 2000 -t set,get,incr,ping with every reply checked by a tap', async () => {
    const { port, nsw, logger } = await startKv(mode);
    const tap = await replyTap(port);
    const r = await run(
      'redis-benchmark',
      ['-h', '127.0.0.1', '-p', String(tap.port), '-q', '-n', '2000', '-t', 'set,get,incr,ping'],
      undefined,
      110_000,
    );
    expect(r.code, r.stderr).toBe(0);
    for (const t of ['PING_INLINE', 'PING_MBULK', 'SET', 'GET', 'INCR'])
      expect(r.stdout).toMatch(new RegExp(`${t}: [\\d.]+ requests per second`));
    const errs = tap.replies.filter(
      (x) => typeof x === 'object' && x !== null && !Array.isArray(x),
    );
    expect(errs).toEqual([]);
    const count = (p: (x: Reply) => boolean) => tap.replies.filter(p).length;
    expect(count((x) => x === 'PONG')).toBe(4000);
    expect(count((x) => x === 'OK')).toBe(2000);
    // GET key:__rand_int__ after the SETs: every GET sees the 3-byte value redis-benchmark set.
    expect(count((x) => x === 'VXK')).toBe(2000);
    // INCR of one counter from 50 connections: exactly the values 1..2000, each once.
    const incr = tap.replies
      .filter((x): x is number => typeof x === 'number')
      .sort((a, b) => a - b);
    expect(incr).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
    const benchCmds = count(() => true) - count((x) => Array.isArray(x));
    expect(benchCmds).toBe(10_000);
    if (logger !== undefined) {
      // Recorded: at least one read determinant per request and every one stored. The last
      // ones (hashes of the final replies, the clients' ends and closes) may still be in flight.
      await waitFor(
        'all determinants stored',
        () => nsw.stats.stableDet === nsw.stats.detSeq,
        10_000,
      );
      expect(logger.stats.dets).toBe(nsw.stats.detSeq);
      expect(logger.stats.dets).toBeGreaterThan(10_000);
    }
  }, 120_000);
});

/**
 * A stand-in for the SSW's logging (no kernel interposition here): a proxy that logs every
 * client byte of every connection to the logger (LogSyn, LogData, ConnClosed) under the
 * address the server sees (the proxy's own client side), and forwards it.
 */
async function loggingProxy(
  target: number,
  ssw: RawPeer,
): Promise<{ port: number; logged: () => number }> {
  const opts: SynOpts = { mss: 65495, wscale: 7, sackOk: true, tsVal: 1, tsEcr: null };
  let nextConn = 1;
  let logged = 0;
  const server = net.createServer((down) => {
    down.pause();
    const up = net.connect({ host: '127.0.0.1', port: target });
    up.once('connect', () => {
      const conn = nextConn++;
      let seq = 1001;
      ssw.send({
        kind: 'LogSyn',
        conn,
        clientAddr: 0x7f000001,
        clientPort: up.localPort!,
        serverAddr: 0x7f000001,
        serverPort: target,
        clientIsn: 1000,
        serverIsn: 5000,
        clientOpts: opts,
        serverOpts: opts,
        synTimeMs: 0,
      });
      down.on('data', (d) => {
        ssw.send({ kind: 'LogData', conn, seq, payload: d, fin: false });
        logged++;
        seq += d.length;
        up.write(d);
      });
      down.on('end', () => {
        ssw.send({ kind: 'LogData', conn, seq, payload: new Uint8Array(0), fin: true });
        logged++;
        up.end();
      });
      let closed = 0;
      const onClose = () => {
        if (++closed === 2) ssw.send({ kind: 'ConnClosed', conn });
      };
      up.on('close', onClose);
      down.on('close', onClose);
      down.resume();
    });
    up.on('data', (d) => down.write(d));
    up.on('end', () => down.end());
    up.on('error', () => down.destroy());
    down.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as net.AddressInfo).port, logged: () => logged };
}

describe('KV server replay', () => {
  it('rebuilds its state from a redis-benchmark run whose 50+ connections all closed, then serves live', async () => {
    const logger = new LoggerServer({
      listen: { host: '127.0.0.1', port: 0 },
      epoch: 1,
      leaseMs: 200,
      log: quiet('logger'),
    });
    const lport = (await logger.start()).port;
    cleanups.push(() => logger.close());
    const rec = await Nsw.open({
      mode: 'record',
      logger: { host: '127.0.0.1', port: lport },
      log: quiet('nsw'),
    });
    cleanups.push(() => rec.close());
    const { server } = kvServer(rec);
    const port = await new Promise<number>((r) =>
      server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)),
    );
    const ssw = await RawPeer.hello(lport, 'ssw');
    cleanups.push(() => ssw.close());
    const proxy = await loggingProxy(port, ssw);
    const r = await run(
      'redis-benchmark',
      ['-h', '127.0.0.1', '-p', String(proxy.port), '-q', '-n', '2000', '-t', 'set,incr'],
      undefined,
      110_000,
    );
    expect(r.code, r.stderr).toBe(0);
    await waitFor(
      'every client byte stored',
      () => ssw.of('DataStored').length >= proxy.logged(),
      20_000,
    );
    await waitFor(
      'every determinant stored',
      () => rec.stats.stableDet === rec.stats.detSeq,
      20_000,
    );
    await waitFor(
      'every connection closed',
      () => logger.stats.conns > 50 && logger.stats.openConns === 0,
      20_000,
    );
    const recorded = rec.stats.detSeq;
    await rec.close();
    // Failover: fence, then the application replays every closed connection from the log.
    const coord = await RawPeer.hello(lport, 'coordinator');
    cleanups.push(() => coord.close());
    coord.send({ kind: 'Fence', newEpoch: 2 });
    await coord.next('Fenced');
    const rep = await Nsw.open({
      mode: 'replay',
      logger: { host: '127.0.0.1', port: lport },
      epoch: 2,
      log: quiet('nsw2'),
    });
    cleanups.push(() => rep.close());
    const divergences: NswDivergenceError[] = [];
    rep.on('divergence', (e) => divergences.push(e));
    const { server: s2, store } = kvServer(rep);
    const port2 = await new Promise<number>((res) =>
      s2.listen(0, '127.0.0.1', () => res((s2.address() as net.AddressInfo).port)),
    );
    await waitFor('replayed and live', () => rep.mode === 'live', 60_000);
    expect(divergences.map((d) => d.message)).toEqual([]);
    expect(rep.stats.detSeq).toBe(recorded);
    expect(store.size).toBe(2);
    const get = await run('redis-cli', [
      '-h',
      '127.0.0.1',
      '-p',
      String(port2),
      'MGET',
      'counter:__rand_int__',
      'key:__rand_int__',
    ]);
    expect(get.stdout).toBe('2000\nVXK\n');
  }, 120_000);
});
