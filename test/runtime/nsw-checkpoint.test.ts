// The NSW library with checkpoints (spec/nsw.md R13) against the real logger daemon, in one
// process: the KV server (examples/kvserver.ts, R13.8) records through a stand-in for the SSW's
// logging, checkpoints on its schedule (R13.3), the logger stores each checkpoint and truncates
// behind it (spec/logger.md R14.5); a new incarnation restores the latest checkpoint and
// replays only what follows (R13.6), then serves the state the first one built.
import { execFile } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Log } from '../../src/runtime/common/log.ts';
import { type KvServer, kvServer } from '../../src/runtime/examples/kvserver.ts';
import { LoggerServer } from '../../src/runtime/logger/server.ts';
import { Nsw, type NswDivergenceError } from '../../src/runtime/nsw/index.ts';
import type { SynOpts } from '../../src/wire/logmsg.ts';
import { RawPeer, waitFor } from './helpers.ts';

const quiet = (c: string) => new Log({ component: c, level: 'error' });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const run = (cmd: string, args: string[]): Promise<{ code: number; stdout: string }> =>
  new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout) =>
      resolve({ code: err === null ? 0 : 1, stdout }),
    );
  });

/** The SSW's logging, stood in for: every client byte logged (LogSyn, LogData, ConnClosed). */
async function loggingProxy(target: number, ssw: RawPeer): Promise<number> {
  const opts: SynOpts = { mss: 65495, wscale: 7, sackOk: true, tsVal: 1, tsEcr: null };
  let nextConn = 1;
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
        seq += d.length;
        up.write(d);
      });
      down.on('end', () => {
        ssw.send({ kind: 'LogData', conn, seq, payload: new Uint8Array(0), fin: true });
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
  return (server.address() as net.AddressInfo).port;
}

/** An NSW with the KV server and its snapshot()/restore() (R13.8). */
async function kvNsw(
  lport: number,
  o: { mode: 'record' | 'replay'; epoch: number },
): Promise<{ nsw: Nsw; kv: KvServer; port: number }> {
  let kv: KvServer | undefined;
  const nsw = await Nsw.open({
    mode: o.mode,
    epoch: o.epoch,
    logger: { host: '127.0.0.1', port: lport },
    log: quiet(`nsw${o.epoch}`),
    checkpoints: {
      snapshot: () => kv!.snapshot(),
      restore: (bytes, restored) => kv!.restore(bytes, restored),
    },
    checkpointEveryBytes: 4096,
    checkpointEveryMs: 200,
  });
  cleanups.push(() => nsw.close());
  kv = kvServer(nsw);
  const server = kv.server;
  const port = await new Promise<number>((r) =>
    server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)),
  );
  return { nsw, kv, port };
}

describe('NSW checkpoints with the logger daemon (R13)', () => {
  it('R13.3, R13.4, R13.5, R13.6: the KV store declares checkpoints (Capabilities), checkpoints, the log is truncated, a new incarnation restores and serves it', async () => {
    const logger = new LoggerServer({
      listen: { host: '127.0.0.1', port: 0 },
      epoch: 1,
      leaseMs: 200,
      log: quiet('logger'),
    });
    const lport = (await logger.start()).port;
    cleanups.push(() => logger.close());
    const rec = await kvNsw(lport, { mode: 'record', epoch: 1 });
    const ssw = await RawPeer.hello(lport, 'ssw');
    cleanups.push(() => ssw.close());
    const proxy = await loggingProxy(rec.port, ssw);
    const r = await run('redis-benchmark', [
      '-h',
      '127.0.0.1',
      '-p',
      String(proxy),
      '-q',
      '-n',
      '2000',
      '-t',
      'set,incr',
    ]);
    expect(r.code).toBe(0);
    await waitFor(
      'every determinant stored',
      () => rec.nsw.stats.stableDet === rec.nsw.stats.detSeq,
      20_000,
    );
    // R13.3 by bytes during the run, by time once it is idle; R13.4 stored; R14.5 truncated.
    await waitFor(
      'a checkpoint covering the whole run',
      () =>
        logger.stats.openConns === 0 &&
        logger.stats.truncatedDets === rec.nsw.stats.detSeq &&
        logger.stats.dets === 0 &&
        logger.stats.conns === 0 &&
        rec.nsw.stats.checkpoints?.stored === rec.nsw.stats.checkpoints?.taken,
      20_000,
    );
    const ck = rec.nsw.stats.checkpoints!;
    expect(ck.taken).toBeGreaterThanOrEqual(2);
    expect(ck.stored).toBe(ck.taken);
    expect(ck.pausesMs.length).toBe(ck.taken);
    // R14.5 c: every connection closed and done before the checkpoint is gone from the log.
    expect(logger.stats.conns).toBe(0);
    const recorded = rec.nsw.stats.detSeq;
    await rec.nsw.close();

    const coord = await RawPeer.hello(lport, 'coordinator');
    cleanups.push(() => coord.close());
    coord.send({ kind: 'Fence', newEpoch: 2 });
    await coord.next('Fenced');
    const rep = await kvNsw(lport, { mode: 'replay', epoch: 2 });
    const divergences: NswDivergenceError[] = [];
    rep.nsw.on('divergence', (e) => divergences.push(e));
    await waitFor('restored and live', () => rep.nsw.mode === 'live', 20_000);
    expect(divergences.map((d) => d.message)).toEqual([]);
    // R13.6: numbering goes on from the checkpoint's D; the store is the first run's.
    expect(rep.nsw.stats.detSeq).toBe(recorded);
    expect(rep.kv.store.size).toBe(2);
    const get = await run('redis-cli', [
      '-h',
      '127.0.0.1',
      '-p',
      String(rep.port),
      'MGET',
      'counter:__rand_int__',
      'key:__rand_int__',
    ]);
    expect(get.stdout).toBe('2000\nVXK\n');
  }, 120_000);
});
