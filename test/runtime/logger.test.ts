import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Log, Timeline } from '../../src/runtime/common/log.ts';
import { LoggerServer } from '../../src/runtime/logger/server.ts';
import type { SynOpts } from '../../src/wire/logmsg.ts';
import { encodeMessage } from '../../src/wire/logmsg.ts';
import { RawPeer, waitFor } from './helpers.ts';

const quiet = new Log({ component: 'logger-test', level: 'error' });
const opts: SynOpts = { mss: 1460, wscale: 7, sackOk: true, tsVal: 100, tsEcr: null };
const syn = (conn: number, clientPort = 40000 + conn) => ({
  kind: 'LogSyn' as const,
  conn,
  clientAddr: 0xc6120002,
  clientPort,
  serverAddr: 0xc612000a,
  serverPort: 7,
  clientIsn: 0xfffffff0, // wraps inside the first 16 bytes: seq arithmetic must hold
  serverIsn: 1000,
  clientOpts: opts,
  serverOpts: { ...opts, tsEcr: 100 },
  synTimeMs: 5,
});
const bytes = (s: string) => new TextEncoder().encode(s);

describe('logger daemon over loopback', () => {
  let server: LoggerServer;
  let port: number;
  const peers: RawPeer[] = [];
  const peer = async (role: 'ssw' | 'nsw' | 'coordinator', epoch = 1) => {
    const p = await RawPeer.hello(port, role, epoch);
    peers.push(p);
    return p;
  };

  beforeEach(async () => {
    server = new LoggerServer({
      listen: { host: '127.0.0.1', port: 0 },
      epoch: 1,
      leaseMs: 200,
      log: quiet,
    });
    port = (await server.start()).port;
  });
  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    await server.close();
  });

  it('stores client bytes and acknowledges stableSeq across the seq wrap, duplicates included', async () => {
    const ssw = await peer('ssw');
    ssw.send(syn(1));
    expect(await ssw.next('SynStored')).toEqual({ kind: 'SynStored', conn: 1 });
    ssw.send({ kind: 'LogData', conn: 1, seq: 0xfffffff1, payload: bytes('hello '), fin: false });
    expect(await ssw.next('DataStored')).toEqual({
      kind: 'DataStored',
      conn: 1,
      stableSeq: 0xfffffff7,
      finLogged: false,
    });
    // Overlapping re-send (reconnect): only the new tail is stored.
    ssw.send({ kind: 'LogData', conn: 1, seq: 0xfffffff4, payload: bytes('lo world'), fin: true });
    // 0xfffffff1 + 11 bytes + 1 for the FIN.
    expect(await ssw.next('DataStored')).toEqual({
      kind: 'DataStored',
      conn: 1,
      stableSeq: 0xfffffffd,
      finLogged: true,
    });
    expect(server.core.store.clientBytes(1)?.length).toBe(11);
    // The same connection replayed to a recovering SSW: record, then the bytes, then the end.
    const rec = await peer('ssw');
    rec.send({ kind: 'FetchLog', what: 'ssw' });
    const end = await rec.next('ReplayEnd');
    expect(end).toEqual({ kind: 'ReplayEnd', conns: 1, bytes: 11, dets: 0 });
    const data = rec.of('ReplayData');
    const joined = Buffer.concat(data.map((d) => Buffer.from(d.payload))).toString();
    expect(joined).toBe('hello world');
    expect(data.at(-1)?.fin).toBe(true);
    expect(rec.of('ReplaySyn')[0]?.clientIsn).toBe(0xfffffff0);
  });

  it('refuses a gap instead of acknowledging over a hole', async () => {
    const ssw = await peer('ssw');
    ssw.send(syn(2));
    await ssw.next('SynStored');
    ssw.send({ kind: 'LogData', conn: 2, seq: 0xfffffff1 + 5, payload: bytes('x'), fin: false });
    const e = await ssw.next('Error');
    expect(e.code).toBe('gap');
    await waitFor('connection closed', () => ssw.closed);
    expect(ssw.of('DataStored')).toEqual([]);
  });

  it('acknowledges determinants in order and sends CloseLogged to the SSW when a close is stored', async () => {
    const ssw = await peer('ssw');
    const nsw = await peer('nsw');
    // The SSW's record of the same client: the logger matches the NSW's accept to it.
    ssw.send(syn(1));
    await ssw.next('SynStored');
    nsw.send({
      kind: 'LogDeterminant',
      detSeq: 0,
      det: { kind: 'accept', conn: 0, clientAddr: 0xc6120002, clientPort: 40001 },
    });
    nsw.send({ kind: 'LogDeterminant', detSeq: 1, det: { kind: 'read', conn: 0, len: 5 } });
    nsw.send({ kind: 'LogDeterminant', detSeq: 1, det: { kind: 'read', conn: 0, len: 5 } }); // re-send
    nsw.send({
      kind: 'LogDeterminant',
      detSeq: 2,
      det: { kind: 'close', conn: 0, how: 'end', offset: 7 },
    });
    // Acks may be coalesced per read; they must end at 3 and never move backwards.
    await waitFor('DetStored up to 3', () => nsw.of('DetStored').at(-1)?.stableDet === 3);
    const acks = nsw.of('DetStored').map((d) => d.stableDet);
    expect(acks).toEqual([...acks].sort((a, b) => a - b));
    expect(await ssw.next('CloseLogged')).toMatchObject({
      kind: 'CloseLogged',
      clientAddr: 0xc6120002,
      clientPort: 40001,
      how: 'end',
      offset: 7,
    });
    // Determinants are not accepted from an SSW, nor client bytes from an NSW (roles).
    nsw.send({ kind: 'LogData', conn: 1, seq: 0, payload: bytes('x'), fin: false });
    expect((await nsw.next('Error')).code).toBe('wrongRole');
  });

  it('fences: Fenced to the coordinator, the old epoch dropped, stale Hellos refused', async () => {
    const ssw = await peer('ssw');
    const coord = await peer('coordinator');
    coord.send({ kind: 'Fence', newEpoch: 2 });
    expect(await coord.next('Fenced')).toEqual({ kind: 'Fenced', epoch: 2 });
    await waitFor('old ssw dropped', () => ssw.closed);
    expect(
      ssw
        .of('Error')
        .map((e) => e.code)
        .filter((c) => c !== 'staleEpoch'),
    ).toEqual([]);
    const stale = await RawPeer.connect(port, 1);
    peers.push(stale);
    stale.send({ kind: 'Hello', role: 'ssw', hostId: 'old-primary', epoch: 1 });
    expect((await stale.next('Error')).code).toBe('staleEpoch');
    // The new incarnation joins at epoch 2 and can write.
    const fresh = await peer('nsw', 2);
    fresh.send({ kind: 'LogDeterminant', detSeq: 0, det: { kind: 'clock', value: 12.5 } });
    expect(await fresh.next('DetStored')).toEqual({ kind: 'DetStored', stableDet: 1 });
    // The same Fence again is answered again; a Fence backwards is refused.
    coord.epoch = 2;
    coord.send({ kind: 'Fence', newEpoch: 2 });
    expect(await coord.next('Fenced')).toEqual({ kind: 'Fenced', epoch: 2 });
    coord.send({ kind: 'Fence', newEpoch: 1 });
    expect((await coord.next('Error')).code).toBe('staleEpoch');
  });

  it('serves the NSW closed connections (bytes) then every determinant, in order', async () => {
    const ssw = await peer('ssw');
    const nsw = await peer('nsw');
    ssw.send(syn(7));
    ssw.send({
      kind: 'LogData',
      conn: 7,
      seq: 0xfffffff1,
      payload: bytes('SET a 1\r\n'),
      fin: true,
    });
    ssw.send(syn(8, 41000));
    await waitFor(
      'stored',
      () => ssw.of('DataStored').length === 1 && ssw.of('SynStored').length === 2,
    );
    ssw.send({ kind: 'ConnClosed', conn: 7 });
    for (let i = 0; i < 50; i++)
      nsw.send({ kind: 'LogDeterminant', detSeq: i, det: { kind: 'timer', timerId: i } });
    await waitFor('50 dets', () => nsw.of('DetStored').at(-1)?.stableDet === 50);
    const rec = await peer('nsw');
    rec.send({ kind: 'FetchLog', what: 'nsw' });
    expect(await rec.next('ReplayEnd')).toEqual({
      kind: 'ReplayEnd',
      conns: 1,
      bytes: 9,
      dets: 50,
    });
    expect(rec.of('ReplaySyn').map((s) => s.conn)).toEqual([7]);
    expect(rec.of('ReplayDeterminant').map((d) => d.detSeq)).toEqual([...Array(50).keys()]);
    // ...and the SSW gets only the connection it can still re-create.
    const rs = await peer('ssw');
    rs.send({ kind: 'FetchLog', what: 'ssw' });
    expect(await rs.next('ReplayEnd')).toEqual({ kind: 'ReplayEnd', conns: 1, bytes: 0, dets: 0 });
    expect(rs.of('ReplaySyn').map((s) => s.conn)).toEqual([8]);
  });

  it('streams a long FetchLog answer in slices; what it says to that link meanwhile follows the answer', async () => {
    // More records than one slice (STREAM_SLICE) so the answer yields the event loop, and a
    // determinant logged on the same link in the same read as the FetchLog: its DetStored
    // must not land inside the answer (the NSW reads the answer as one log).
    const N = 5000;
    const nsw = await peer('nsw');
    for (let i = 0; i < N; i++)
      nsw.send({ kind: 'LogDeterminant', detSeq: i, det: { kind: 'clock', value: i } });
    await waitFor(`${N} dets`, () => nsw.of('DetStored').at(-1)?.stableDet === N);
    const rec = await peer('nsw');
    rec.writeRaw(
      Buffer.concat([
        encodeMessage({ kind: 'FetchLog', what: 'nsw' }, 1),
        encodeMessage({ kind: 'LogDeterminant', detSeq: N, det: { kind: 'timer', timerId: 0 } }, 1),
      ]),
    );
    await rec.next('ReplayEnd');
    await rec.next('DetStored');
    const kinds = rec.got.map((m) => m.kind).filter((k) => k !== 'Welcome');
    expect(kinds.length).toBe(N + 2);
    expect(kinds.slice(0, N).every((k) => k === 'ReplayDeterminant')).toBe(true);
    expect(kinds.slice(N)).toEqual(['ReplayEnd', 'DetStored']);
    const dets = rec.of('ReplayDeterminant');
    expect(
      dets.every((d, i) => d.detSeq === i && d.det.kind === 'clock' && d.det.value === i),
    ).toBe(true);
    expect(rec.of('DetStored')).toEqual([{ kind: 'DetStored', stableDet: N + 1 }]);
  });

  it('a bad frame drops only that connection, with a typed error, and loses nothing stored', async () => {
    const ssw = await peer('ssw');
    ssw.send(syn(3));
    ssw.send({ kind: 'LogData', conn: 3, seq: 0xfffffff1, payload: bytes('abc'), fin: false });
    await ssw.next('DataStored');
    const other = await peer('nsw');
    // A good frame and a corrupted one in the same write: the good one is stored and answered.
    const good = encodeMessage(
      { kind: 'LogData', conn: 3, seq: 0xfffffff4, payload: bytes('def'), fin: false },
      1,
    );
    const bad = encodeMessage(
      { kind: 'LogData', conn: 3, seq: 0xfffffff7, payload: bytes('ghi'), fin: false },
      1,
    );
    bad[bad.length - 1]! ^= 0xff; // body byte flipped: CRC mismatch
    ssw.writeRaw(Buffer.concat([good, bad]));
    await waitFor('bad connection dropped', () => ssw.closed);
    expect(server.stats.badFrames).toBe(1);
    expect(ssw.of('DataStored').at(-1)?.stableSeq).toBe(0xfffffff7);
    expect(server.core.store.clientBytes(3)?.length).toBe(6);
    // Garbage that is not even a frame header (wrong version).
    const junk = await RawPeer.connect(port);
    peers.push(junk);
    junk.writeRaw(new Uint8Array(32).fill(0x42));
    await waitFor('junk dropped', () => junk.closed);
    expect(server.stats.badFrames).toBe(2);
    // The other peer is unaffected and the log still serves the stored bytes.
    other.send({ kind: 'LogDeterminant', detSeq: 0, det: { kind: 'eof', conn: 0 } });
    expect(await other.next('DetStored')).toEqual({ kind: 'DetStored', stableDet: 1 });
    const rec = await peer('ssw');
    rec.send({ kind: 'FetchLog', what: 'ssw' });
    await rec.next('ReplayEnd');
    expect(Buffer.concat(rec.of('ReplayData').map((d) => Buffer.from(d.payload))).toString()).toBe(
      'abcdef',
    );
  });

  it('requires Hello first', async () => {
    const p = await RawPeer.connect(port);
    peers.push(p);
    p.send({ kind: 'FetchLog', what: 'ssw' });
    expect((await p.next('Error')).code).toBe('notWelcomed');
  });
});

describe('logger limits', () => {
  it('holds writers at the byte limit (no ack, nothing dropped) and resumes when there is room', async () => {
    const server = new LoggerServer({
      listen: { host: '127.0.0.1', port: 0 },
      epoch: 1,
      leaseMs: 200,
      log: quiet,
      storeLimits: { maxStoredBytes: 4096 },
    });
    const port = (await server.start()).port;
    const ssw = await RawPeer.hello(port, 'ssw');
    try {
      ssw.send(syn(1));
      await ssw.next('SynStored');
      const chunk = new Uint8Array(3000).fill(0x61);
      ssw.send({ kind: 'LogData', conn: 1, seq: 0xfffffff1, payload: chunk, fin: false });
      expect((await ssw.next('DataStored')).stableSeq).toBe((0xfffffff1 + 3000) >>> 0);
      // The next 3000 bytes do not all fit: what fits may be acknowledged, the rest is held
      // (never acknowledged, never dropped) and the writer is not disconnected.
      ssw.send({
        kind: 'LogData',
        conn: 1,
        seq: (0xfffffff1 + 3000) >>> 0,
        payload: chunk,
        fin: false,
      });
      await new Promise((r) => setTimeout(r, 200));
      const acked = (ssw.of('DataStored').at(-1)?.stableSeq ?? 0) - 0xfffffff1;
      expect((acked + 2 ** 32) % 2 ** 32).toBeLessThan(6000);
      expect(server.core.store.clientBytes(1)?.length).toBeLessThan(6000);
      expect(ssw.closed).toBe(false);
      // Room again: the held rest is stored and acknowledged.
      server.setLimits({ maxStoredBytes: 1 << 20 });
      await waitFor(
        'all acknowledged',
        () => ssw.of('DataStored').at(-1)?.stableSeq === (0xfffffff1 + 6000) >>> 0,
      );
      expect(
        Buffer.from(server.core.store.clientBytes(1) ?? []).equals(Buffer.alloc(6000, 0x61)),
      ).toBe(true);
    } finally {
      ssw.close();
      await server.close();
    }
  });
});

describe('logger daemon at a limit (spec/logger.md R15)', () => {
  it('asks the NSW for a checkpoint; none within --checkpoint-wait-ms: Unprotected to both peers, a timeline event, every link read again', async () => {
    const lines: string[] = [];
    const server = new LoggerServer({
      listen: { host: '127.0.0.1', port: 0 },
      epoch: 1,
      leaseMs: 200,
      log: quiet,
      timeline: new Timeline('logger', { write: (l) => lines.push(l) }),
      storeLimits: { maxStoredBytes: 4096, highWaterBytes: 4096 },
      checkpointWaitMs: 300,
    });
    const port = (await server.start()).port;
    const ssw = await RawPeer.hello(port, 'ssw');
    const nsw = await RawPeer.hello(port, 'nsw');
    try {
      ssw.send({ kind: 'Capabilities', checkpoints: false, unrecorded: false });
      nsw.send({ kind: 'Capabilities', checkpoints: true, unrecorded: false });
      ssw.send(syn(1));
      await ssw.next('SynStored');
      // More than fits: the logger asks the NSW for a checkpoint, bounded.
      ssw.send({
        kind: 'LogData',
        conn: 1,
        seq: 0xfffffff1,
        payload: new Uint8Array(5000).fill(0x62),
        fin: false,
      });
      const wanted = await nsw.next('CheckpointWanted');
      expect(wanted).toMatchObject({ reason: 'atLimit', limit: 'bytes', max: 4096 });
      expect(server.stats.mode).toBe('awaitingCheckpoint');
      // The NSW never answers: after the wait, protection is given up explicitly.
      const t0 = performance.now();
      const un = await ssw.next('Unprotected');
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(un).toMatchObject({ scope: 'app', conn: 0, reason: 'noCheckpoint' });
      expect(un.detail).toMatch(/--max-bytes or --checkpoint-wait-ms/);
      expect(await nsw.next('Unprotected')).toMatchObject({ scope: 'app' });
      expect(server.stats).toMatchObject({ mode: 'unprotected', storedBytes: 0, conns: 0 });
      const events = lines.map((l) => JSON.parse(l) as { event: string; reason?: string });
      expect(events.map((e) => e.event)).toEqual(
        expect.arrayContaining(['checkpoint-wanted', 'unprotected']),
      );
      expect(events.find((e) => e.event === 'unprotected')?.reason).toBe('noCheckpoint');
      // Every link is read again: a FetchLog is answered (refused: nothing can be recovered).
      nsw.send({ kind: 'FetchLog', what: 'nsw' });
      expect(await nsw.next('Error')).toMatchObject({ code: 'unprotected' });
    } finally {
      ssw.close();
      nsw.close();
      await server.close();
    }
  });
});
