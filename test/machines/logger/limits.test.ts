// The limits themselves (limits.ts, spec/logger.md "Bounded memory"), then LoggerCore with
// checkpoints and limits (spec/logger.md R14, R15): one example per rule, then the property
// that a limit never stalls the service without end: whatever the peers do, once the current
// checkpoint wait has timed out the logger reads every link again.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoggerCore } from '../../../src/machines/logger/core.ts';
import type { LoggerEffect } from '../../../src/machines/logger/coreContext.ts';
import {
  CONN_RECORD_COST,
  checkLimits,
  DEFAULT_LOGGER_LIMITS,
  LIMIT_FLAG,
  withHighWater,
} from '../../../src/machines/logger/limits.ts';
import {
  type CheckpointConnEntry,
  type Determinant,
  encodeMessage,
  type LoggerMessage,
  type SynRecord,
} from '../../../src/wire/logmsg.ts';

const SEED = Number(process.env.FC_SEED ?? 0x1e7e1);
const RUNS = Number(process.env.FC_RUNS ?? 100);

const ADDR = 0xc6120002;
const o = { mss: 1460, wscale: null, sackOk: false, tsVal: null, tsEcr: null };
const syn = (conn: number, clientPort = 5000 + conn): SynRecord => ({
  conn,
  clientAddr: ADDR,
  clientPort,
  serverAddr: 0xc612000a,
  serverPort: 7,
  clientIsn: 100,
  serverIsn: 200,
  clientOpts: o,
  serverOpts: o,
  synTimeMs: 1,
});
const sends = (fx: LoggerEffect[], link?: number): LoggerMessage[] =>
  fx.flatMap((e) => (e.kind === 'send' && (link === undefined || e.link === link) ? [e.msg] : []));
const kinds = (fx: LoggerEffect[], link?: number) => sends(fx, link).map((m) => m.kind);
const notices = (fx: LoggerEffect[]) => fx.flatMap((e) => (e.kind === 'notice' ? [e.notice] : []));
const timers = (fx: LoggerEffect[]) =>
  fx.flatMap((e) => (e.kind === 'armCheckpointTimer' ? [e] : []));
const paused = (fx: LoggerEffect[]) => fx.flatMap((e) => (e.kind === 'pause' ? [e.link] : []));
const resumed = (fx: LoggerEffect[]) => fx.flatMap((e) => (e.kind === 'resume' ? [e.link] : []));

type Role = 'ssw' | 'nsw' | 'coordinator';
const join = (
  core: LoggerCore,
  role: Role,
  caps: { checkpoints?: boolean; unrecorded?: boolean } | null = {},
  epoch = 1,
) => {
  const link = core.openLink();
  const fx = core.frame(link, epoch, { kind: 'Hello', role, hostId: role, epoch });
  if (caps !== null) {
    fx.push(
      ...core.frame(link, epoch, {
        kind: 'Capabilities',
        checkpoints: caps.checkpoints ?? false,
        unrecorded: caps.unrecorded ?? false,
      }),
    );
  }
  return { link, fx };
};
const data = (conn: number, seq: number, n: number, fill = 1): LoggerMessage => ({
  kind: 'LogData',
  conn,
  seq,
  payload: new Uint8Array(n).fill(fill),
  fin: false,
});
const det = (detSeq: number, d: Determinant): LoggerMessage => ({
  kind: 'LogDeterminant',
  detSeq,
  det: d,
});
const accept = (conn: number, port: number): Determinant => ({
  kind: 'accept',
  conn,
  clientAddr: ADDR,
  clientPort: port,
});
const entry = (nswConn: number, port: number, readOffset: number): CheckpointConnEntry => ({
  nswConn,
  clientAddr: ADDR,
  clientPort: port,
  readOffset,
  eof: false,
  writeOffset: 0,
  outputFrom: 0,
  close: null,
  done: false,
});
/** The frames of one checkpoint at D with the given table and a blob of `blob` bytes. */
const checkpoint = (
  ckptId: number,
  D: number,
  conns: CheckpointConnEntry[],
  blob = 4,
): LoggerMessage[] => [
  { kind: 'CheckpointBegin', ckptId, detSeq: D, conns: conns.length, blobBytes: blob },
  ...conns.map((e): LoggerMessage => ({ kind: 'CheckpointConn', ckptId, ...e })),
  ...(blob > 0
    ? [{ kind: 'CheckpointData', ckptId, offset: 0, data: new Uint8Array(blob) } as LoggerMessage]
    : []),
  { kind: 'CheckpointEnd', ckptId },
];
const batch = (msgs: LoggerMessage[], epoch = 1) => msgs.map((msg) => ({ epoch, msg }));

/** An SSW and an NSW with capabilities, one connection accepted by the application. */
const setup = (limits: Record<string, number>, nswCaps = { checkpoints: true }) => {
  const core = new LoggerCore({ epoch: 1, leaseMs: 500, limits, checkpointWaitMs: 1000 });
  const ssw = join(core, 'ssw').link;
  const nsw = join(core, 'nsw', nswCaps).link;
  core.frame(ssw, 1, { kind: 'LogSyn', ...syn(1) });
  core.frame(nsw, 1, det(0, accept(0, 5001)));
  return { core, ssw, nsw };
};

describe('limits.ts: explicit limits, the high-water mark, the flags', () => {
  it('every limit is a positive safe integer; high water is at most maxStoredBytes', () => {
    expect(checkLimits(DEFAULT_LOGGER_LIMITS)).toBe(DEFAULT_LOGGER_LIMITS);
    expect(() => checkLimits({ ...DEFAULT_LOGGER_LIMITS, maxConns: 0 })).toThrow(/maxConns/);
    expect(() => checkLimits({ ...DEFAULT_LOGGER_LIMITS, maxDets: 1.5 })).toThrow(/maxDets/);
    expect(() =>
      checkLimits({ ...DEFAULT_LOGGER_LIMITS, maxStoredBytes: 10, highWaterBytes: 11 }),
    ).toThrow(/highWaterBytes/);
  });

  it('R15.1: high water follows a new maxStoredBytes (half of it) unless it is given too', () => {
    expect(withHighWater(DEFAULT_LOGGER_LIMITS, { maxStoredBytes: 1001 }).highWaterBytes).toBe(500);
    expect(
      withHighWater(DEFAULT_LOGGER_LIMITS, { maxStoredBytes: 1000, highWaterBytes: 900 })
        .highWaterBytes,
    ).toBe(900);
    expect(withHighWater(DEFAULT_LOGGER_LIMITS, { maxConns: 5 }).highWaterBytes).toBe(
      DEFAULT_LOGGER_LIMITS.highWaterBytes,
    );
  });

  it('each limit names the flag that raises it (R15.4)', () => {
    expect(LIMIT_FLAG).toEqual({ bytes: '--max-bytes', conns: '--max-conns', dets: '--max-dets' });
  });
});

describe('R15.1 high water: ask for a checkpoint, at most once per wait', () => {
  it('CheckpointWanted to the checkpointing NSW with a timer; not again until the timer runs out', () => {
    const { core, ssw, nsw } = setup({ maxStoredBytes: 10_000, highWaterBytes: 300 });
    expect(core.mode).toBe('accepting');
    const fx = core.frame(ssw, 1, data(1, 101, 200));
    expect(kinds(fx, nsw)).toEqual(['CheckpointWanted']);
    expect(sends(fx, nsw)[0]).toEqual({
      kind: 'CheckpointWanted',
      reason: 'highWater',
      limit: 'bytes',
      used: CONN_RECORD_COST + 200 + 11,
      max: 10_000,
    });
    expect(timers(fx)).toEqual([{ kind: 'armCheckpointTimer', ask: 1, ms: 1000 }]);
    expect(core.mode).toBe('checkpointAsked');
    // Still storing; no second request while the first is pending.
    const more = core.frame(ssw, 1, data(1, 301, 10));
    expect(kinds(more)).toEqual(['DataStored']);
    expect(core.checkpointTimeout(0)).toEqual([]); // a stale timer: nothing
    expect(core.mode).toBe('checkpointAsked');
    // The wait is over and usage is still above the mark: asked again, with a new timer.
    const again = core.checkpointTimeout(1);
    expect(kinds(again, nsw)).toEqual(['CheckpointWanted']);
    expect(timers(again)).toEqual([{ kind: 'armCheckpointTimer', ask: 2, ms: 1000 }]);
    expect(core.mode).toBe('checkpointAsked');
  });

  it('a stored checkpoint that brings usage under the mark ends the request', () => {
    const { core, ssw, nsw } = setup({ maxStoredBytes: 10_000, highWaterBytes: 300 });
    core.frame(ssw, 1, data(1, 101, 200));
    core.frame(nsw, 1, det(1, { kind: 'read', conn: 0, len: 200 }));
    const fx = core.frames(nsw, batch(checkpoint(1, 2, [entry(0, 5001, 200)])));
    expect(kinds(fx, nsw)).toEqual(['CheckpointStored']);
    expect(sends(fx, nsw)[0]).toEqual({ kind: 'CheckpointStored', ckptId: 1, detSeq: 2 });
    expect(notices(fx)).toMatchObject([
      { kind: 'checkpointStored', report: { clientBytes: 200, dets: 2, records: 0 } },
    ]);
    expect(core.store.usage().storedBytes).toBe(CONN_RECORD_COST);
    expect(core.mode).toBe('accepting');
  });

  it('an NSW without the checkpoints capability is never asked', () => {
    const { core, ssw } = setup(
      { maxStoredBytes: 10_000, highWaterBytes: 300 },
      { checkpoints: false },
    );
    const fx = core.frame(ssw, 1, data(1, 101, 400));
    expect(kinds(fx)).toEqual(['DataStored']);
    expect(core.mode).toBe('accepting');
  });
});

describe('R15.2, R15.3 at a limit: wait for a checkpoint, bounded', () => {
  const full = () => {
    const s = setup({
      maxStoredBytes: CONN_RECORD_COST + 100,
      highWaterBytes: CONN_RECORD_COST + 100,
    });
    // 11 bytes of the accept determinant are held; 89 more bytes fit.
    const fx = s.core.frame(s.ssw, 1, data(1, 101, 120));
    return { ...s, fx };
  };

  it('parks the rest, pauses the SSW links only, asks the NSW; a checkpoint covering parked determinants frees the log', () => {
    const { core, ssw, nsw, fx } = full();
    expect(sends(fx, ssw)).toEqual([
      { kind: 'DataStored', conn: 1, stableSeq: 101 + 89, finLogged: false },
    ]);
    expect(core.mode).toBe('awaitingCheckpoint');
    expect(paused(fx)).toEqual([ssw]);
    expect(sends(fx, nsw)).toMatchObject([{ kind: 'CheckpointWanted', reason: 'atLimit' }]);
    expect(timers(fx)).toHaveLength(1);
    // The NSW's determinants do not fit: they park (its link is still read) ...
    const d = core.frames(nsw, batch([det(1, { kind: 'read', conn: 0, len: 89 })]));
    expect(kinds(d)).toEqual([]);
    // ... and the checkpoint behind them covers them: stored past the limit, dropped at once.
    const c = core.frames(nsw, batch(checkpoint(1, 2, [entry(0, 5001, 89)])));
    expect(kinds(c, nsw)).toEqual(['DetStored', 'CheckpointStored']);
    expect(sends(c, nsw)[0]).toEqual({ kind: 'DetStored', stableDet: 2 });
    expect(core.mode).toBe('accepting');
    expect(resumed(c)).toEqual([ssw]);
    // The parked rest of the SSW's message is stored now, in order.
    expect(sends(c, ssw)).toEqual([
      { kind: 'DataStored', conn: 1, stableSeq: 101 + 120, finLogged: false },
    ]);
    expect(core.store.clientBytes(1)).toHaveLength(31);
    expect(core.store.stableDet).toBe(2);
    expect(core.store.detBase).toBe(2);
  });

  it('a checkpoint that frees some but not enough: ask again with a new bounded wait', () => {
    const { core, nsw } = full();
    core.frame(nsw, 1, det(1, { kind: 'read', conn: 0, len: 10 }));
    const c = core.frames(nsw, batch(checkpoint(1, 2, [entry(0, 5001, 10)])));
    expect(core.mode).toBe('awaitingCheckpoint');
    expect(kinds(c, nsw)).toEqual(['DetStored', 'CheckpointStored', 'CheckpointWanted']);
    expect(timers(c)).toEqual([{ kind: 'armCheckpointTimer', ask: 2, ms: 1000 }]);
    expect(core.checkpointTimeout(1)).toEqual([]); // the first wait's timer is stale
    expect(core.mode).toBe('awaitingCheckpoint');
  });

  it('an operator raising the limit ends the wait', () => {
    const { core, ssw } = full();
    const fx = core.setLimits({ maxStoredBytes: 10_000 });
    expect(core.mode).toBe('accepting');
    expect(kinds(fx, ssw)).toEqual(['DataStored']);
  });
});

describe('R15.4 unprotected, explicitly, when no checkpoint makes room', () => {
  const full = (nswCaps = { checkpoints: true }) => {
    const s = setup(
      { maxStoredBytes: CONN_RECORD_COST + 100, highWaterBytes: CONN_RECORD_COST + 100 },
      nswCaps,
    );
    const fx = s.core.frame(s.ssw, 1, data(1, 101, 120));
    return { ...s, fx };
  };
  const gaveUp = (fx: LoggerEffect[], ssw: number, nsw: number, reason: string) => {
    for (const link of [ssw, nsw])
      expect(sends(fx, link).filter((m) => m.kind === 'Unprotected')).toEqual([
        {
          kind: 'Unprotected',
          scope: 'app',
          conn: 0,
          reason,
          detail: expect.stringMatching(/logger limit bytes reached .*nothing can be recovered/),
        },
      ]);
    expect(notices(fx).filter((n) => n.kind === 'unprotected')).toMatchObject([
      { scope: 'app', reason, detail: expect.stringMatching(/raise --/) },
    ]);
  };

  it('the wait times out: the log is dropped, both peers are told, every link is read again', () => {
    const { core, ssw, nsw } = full();
    const fx = core.checkpointTimeout(1);
    expect(core.mode).toBe('unprotected');
    gaveUp(fx, ssw, nsw, 'noCheckpoint');
    expect(resumed(fx)).toEqual([ssw]);
    expect(core.store.usage()).toMatchObject({ storedBytes: 0, conns: 0 });
    // Keeps serving what it can: later store messages are read and dropped, without an answer.
    expect(core.frame(ssw, 1, data(1, 190, 5))).toEqual([]);
    expect(core.frame(ssw, 1, { kind: 'ClientAcked', conn: 1, clientAck: 201 })).toEqual([]);
    // Nothing can be recovered.
    expect(kinds(core.frame(nsw, 1, { kind: 'FetchLog', what: 'nsw' }))).toEqual(['Error']);
    // A link that joins later is told once, at its first message.
    const late = join(core, 'ssw');
    expect(kinds(late.fx)).toEqual(['Welcome', 'Unprotected']);
    expect(core.frame(late.link, 1, data(1, 190, 5))).toEqual([]);
  });

  it('the NSW refuses, or its checkpoint is too large: unprotected with that reason', () => {
    const a = full();
    const fx = a.core.frame(a.nsw, 1, {
      kind: 'CheckpointRefused',
      reason: 'failed',
      detail: 'snapshot threw',
    });
    expect(a.core.mode).toBe('unprotected');
    gaveUp(fx, a.ssw, a.nsw, 'checkpointRefused');
    const b = full();
    const big = b.core.frame(b.nsw, 1, {
      kind: 'CheckpointBegin',
      ckptId: 1,
      detSeq: 1,
      conns: 0,
      blobBytes: 1 << 30,
    });
    expect(kinds(big, b.nsw)).toEqual(['CheckpointRejected', 'Unprotected']);
    expect(b.core.mode).toBe('unprotected');
  });

  it('a checkpoint that frees nothing: unprotected', () => {
    const { core, ssw, nsw } = full();
    const fx = core.frames(nsw, batch(checkpoint(1, 0, [], 0)));
    expect(kinds(fx, nsw)).toEqual(['CheckpointStored', 'Unprotected']);
    gaveUp(fx, ssw, nsw, 'noCheckpoint');
  });

  it('no NSW can checkpoint: unprotected at once', () => {
    const { core, ssw, nsw, fx } = full({ checkpoints: false });
    expect(core.mode).toBe('unprotected');
    gaveUp(fx, ssw, nsw, 'storeFull');
  });

  it('a Fence keeps the log given up in the new epoch', () => {
    const { core } = full({ checkpoints: false });
    const c = join(core, 'coordinator', null, 0).link;
    for (const e of core.frame(c, 0, { kind: 'Fence', newEpoch: 2 }))
      if (e.kind === 'close') core.linkClosed(e.link);
    expect(core.mode).toBe('unprotected');
    const nsw = join(core, 'nsw', {}, 2).link;
    expect(sends(core.frame(nsw, 2, { kind: 'FetchLog', what: 'nsw' }))).toMatchObject([
      { kind: 'Error', code: 'unprotected' },
    ]);
  });

  it('conn scope in an unrecorded log: only the connection that did not fit is given up', () => {
    const core = new LoggerCore({ epoch: 1, leaseMs: 500, limits: { maxConns: 2 } });
    const ssw = join(core, 'ssw', { unrecorded: true }).link;
    core.frame(ssw, 1, { kind: 'LogSyn', ...syn(1) });
    core.frame(ssw, 1, { kind: 'LogSyn', ...syn(2) });
    const fx = core.frame(ssw, 1, { kind: 'LogSyn', ...syn(3) });
    expect(sends(fx)).toEqual([
      {
        kind: 'Unprotected',
        scope: 'conn',
        conn: 3,
        reason: 'storeFull',
        detail: expect.stringMatching(/conns reached \(2\/2; raise --max-conns\)/),
      },
    ]);
    expect(core.mode).toBe('accepting');
    // The others stay protected; the given-up one is answered again, never unknownConn.
    expect(kinds(core.frame(ssw, 1, data(1, 101, 3)))).toEqual(['DataStored']);
    expect(sends(core.frame(ssw, 1, data(3, 101, 3)))).toMatchObject([
      { kind: 'Unprotected', scope: 'conn', conn: 3 },
    ]);
    // Many at once (one read): each is given up in turn, the core's decisions settle.
    const many = core.frames(
      ssw,
      batch(
        Array.from({ length: 200 }, (_, i): LoggerMessage => ({ kind: 'LogSyn', ...syn(10 + i) })),
      ),
    );
    expect(sends(many).filter((m) => m.kind === 'Unprotected')).toHaveLength(200);
    expect(core.mode).toBe('accepting');
    // R14.5 e: a closed record goes at once in an unrecorded log, making room.
    core.frame(ssw, 1, { kind: 'ConnClosed', conn: 2 });
    expect(kinds(core.frame(ssw, 1, { kind: 'LogSyn', ...syn(4) }))).toEqual(['SynStored']);
  });
});

describe('R15.6 embryonic records expire (an SSW with Capabilities is told)', () => {
  it('expires between the TTL and one tick later; an established record idles for ever', () => {
    const core = new LoggerCore({ epoch: 1, leaseMs: 500, limits: { embryonicTtlMs: 1000 } });
    const ssw = join(core, 'ssw').link;
    core.frame(ssw, 1, { kind: 'LogSyn', ...syn(1) });
    core.frame(ssw, 1, { kind: 'LogSyn', ...syn(2) });
    core.frame(ssw, 1, { kind: 'ConnEstablished', conn: 2 });
    expect(core.tick(0)).toEqual([]);
    expect(core.tick(999)).toEqual([]);
    const fx = core.tick(1000);
    expect(sends(fx)).toEqual([
      {
        kind: 'Unprotected',
        scope: 'conn',
        conn: 1,
        reason: 'embryonicExpired',
        detail: expect.stringMatching(/--embryonic-ttl-ms/),
      },
    ]);
    expect(core.store.hasConn(1)).toBe(false);
    expect(core.tick(1e9)).toEqual([]);
    expect(core.store.hasConn(2)).toBe(true);
    // R2.7: a late handshake logs its record again.
    expect(kinds(core.frame(ssw, 1, { kind: 'LogSyn', ...syn(1) }))).toEqual(['SynStored']);
  });

  it('an SSW that declared no Capabilities cannot be told: nothing expires', () => {
    const core = new LoggerCore({ epoch: 1, leaseMs: 500, limits: { embryonicTtlMs: 1000 } });
    const ssw = join(core, 'ssw', null).link;
    core.frame(ssw, 1, { kind: 'LogSyn', ...syn(1) });
    core.tick(0);
    expect(core.tick(5000)).toEqual([]);
    expect(core.store.hasConn(1)).toBe(true);
  });
});

describe('capabilities, checkpoint frames and ConnDone on the link', () => {
  it('each flag belongs to one role; checkpoint frames need the capability; misordered ones close the link', () => {
    const core = new LoggerCore({ epoch: 1, leaseMs: 500 });
    const ssw = join(core, 'ssw', null).link;
    expect(
      sends(core.frame(ssw, 1, { kind: 'Capabilities', checkpoints: true, unrecorded: false })),
    ).toMatchObject([{ kind: 'Error', code: 'wrongRole' }]);
    const plain = join(core, 'nsw', {}).link;
    expect(sends(core.frames(plain, batch(checkpoint(1, 0, []))))).toMatchObject([
      { kind: 'Error', code: 'wrongRole' },
    ]);
    const nsw = join(core, 'nsw', { checkpoints: true }).link;
    expect(sends(core.frame(nsw, 1, { kind: 'CheckpointEnd', ckptId: 4 }))).toMatchObject([
      { kind: 'Error', code: 'badCheckpoint' },
    ]);
    // A checkpoint naming determinants never sent is a gap.
    const n2 = join(core, 'nsw', { checkpoints: true }).link;
    expect(sends(core.frames(n2, batch(checkpoint(1, 5, []))))).toMatchObject([
      { kind: 'Error', code: 'gap' },
    ]);
  });

  it('ConnClosed of a record the application accepted: ConnDone with the NSW connection number', () => {
    const { core, ssw, nsw } = setup({});
    const fx = core.frame(ssw, 1, { kind: 'ConnClosed', conn: 1 });
    expect(sends(fx)).toEqual([{ kind: 'ConnDone', conn: 0 }]);
    expect(fx[0]).toMatchObject({ link: nsw });
  });

  it('ConnDone owed from before an NSW (re)joined: sent at its Capabilities for every closed record still held', () => {
    const { core, ssw, nsw } = setup({});
    core.frame(ssw, 1, { kind: 'LogSyn', ...syn(2) });
    core.frame(nsw, 1, det(1, accept(1, 5002)));
    core.frames(nsw, batch(checkpoint(1, 2, [entry(0, 5001, 0), entry(1, 5002, 0)])));
    // The NSW's link is down when the SSW reports both records closed: nobody to tell.
    core.linkClosed(nsw);
    expect(kinds(core.frame(ssw, 1, { kind: 'ConnClosed', conn: 1 }))).toEqual([]);
    expect(kinds(core.frame(ssw, 1, { kind: 'ConnClosed', conn: 2 }))).toEqual([]);
    // The NSW joins again: right behind its Welcome and Capabilities, both ConnDone.
    const back = join(core, 'nsw', { checkpoints: true });
    expect(sends(back.fx, back.link)).toEqual([
      { kind: 'Welcome', epoch: 1, leaseMs: 500 },
      { kind: 'ConnDone', conn: 0 },
      { kind: 'ConnDone', conn: 1 },
    ]);
    // A checkpoint without connection 0 drops its record: it is owed no more.
    core.frames(back.link, batch(checkpoint(2, 2, [entry(1, 5002, 0)])));
    const again = join(core, 'nsw', { checkpoints: true });
    expect(sends(again.fx, again.link).filter((m) => m.kind === 'ConnDone')).toEqual([
      { kind: 'ConnDone', conn: 1 },
    ]);
    // An SSW is owed no ConnDone.
    expect(kinds(join(core, 'ssw').fx)).not.toContain('ConnDone');
  });

  it('FetchLog from a peer with Capabilities: the checkpoint first, ReplayResume after each ReplaySyn', () => {
    const { core, ssw, nsw } = setup({});
    core.frame(ssw, 1, data(1, 101, 10));
    core.frame(nsw, 1, det(1, { kind: 'read', conn: 0, len: 4 }));
    core.frames(nsw, batch(checkpoint(1, 2, [entry(0, 5001, 4)])));
    const streamed = (fx: LoggerEffect[]) =>
      fx.flatMap((e) => (e.kind === 'stream' ? [...e.messages].map((m) => m.kind) : []));
    expect(streamed(core.frame(ssw, 1, { kind: 'FetchLog', what: 'ssw' }))).toEqual([
      'ReplaySyn',
      'ReplayResume',
      'ReplayData',
      'ReplayEnd',
    ]);
    expect(streamed(core.frame(nsw, 1, { kind: 'FetchLog', what: 'nsw' }))).toEqual([
      'CheckpointBegin',
      'CheckpointConn',
      'CheckpointData',
      'CheckpointEnd',
      'ReplayEnd',
    ]);
  });
});

type Op =
  | { op: 'data'; n: number }
  | { op: 'read'; n: number }
  | { op: 'ckpt'; blob: number }
  | { op: 'refuse' }
  | { op: 'timeout' }
  | { op: 'tick' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ op: fc.constant('data' as const), n: fc.integer({ min: 1, max: 60 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant('read' as const), n: fc.integer({ min: 1, max: 60 }) }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('ckpt' as const), blob: fc.nat(300) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'refuse' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'timeout' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'tick' as const }) },
);

describe('R15 property: never a stall without end', () => {
  it('acks never pass what is held or covered; after the current wait times out every link is read again', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), fc.nat(200), (ops, budget) => {
        const limit = CONN_RECORD_COST + 60 + budget;
        const core = new LoggerCore({
          epoch: 1,
          leaseMs: 500,
          limits: {
            maxStoredBytes: limit,
            highWaterBytes: CONN_RECORD_COST + Math.floor((60 + budget) / 2),
            maxCheckpointBytes: 300,
          },
          checkpointWaitMs: 50,
        });
        const ssw = join(core, 'ssw').link;
        const nsw = join(core, 'nsw', { checkpoints: true }).link;
        const pausedLinks = new Set<number>();
        let ask = 0;
        let sent = 0; // bytes the SSW sent
        let consumed = 0; // bytes the application read
        let dets = 0;
        let ckptId = 0;
        let now = 0;
        const apply = (fx: LoggerEffect[]) => {
          for (const e of fx) {
            if (e.kind === 'pause') pausedLinks.add(e.link);
            if (e.kind === 'resume') pausedLinks.delete(e.link);
            if (e.kind === 'armCheckpointTimer') ask = e.ask;
            if (e.kind === 'send') {
              encodeMessage(e.msg, core.epoch);
              // An ack covers only bytes the SSW sent (held, or dropped under a checkpoint).
              if (e.msg.kind === 'DataStored')
                expect((e.msg.stableSeq - 101) >>> 0 <= sent).toBe(true);
              if (e.msg.kind === 'DetStored') expect(e.msg.stableDet).toBeLessThanOrEqual(dets);
            }
          }
          expect(core.store.usage().storedBytes).toBeLessThanOrEqual(limit + 200);
        };
        apply(core.frame(ssw, 1, { kind: 'LogSyn', ...syn(1) }));
        dets++;
        apply(core.frame(nsw, 1, det(0, accept(0, 5001))));
        for (const op of ops) {
          switch (op.op) {
            case 'data':
              if (pausedLinks.has(ssw)) break;
              sent += op.n;
              apply(core.frame(ssw, 1, data(1, 101 + sent - op.n, op.n)));
              break;
            case 'read': {
              if (pausedLinks.has(nsw)) break;
              const n = Math.min(op.n, sent - consumed);
              if (n === 0) break;
              consumed += n;
              dets++;
              apply(core.frame(nsw, 1, det(dets - 1, { kind: 'read', conn: 0, len: n })));
              break;
            }
            case 'ckpt':
              if (pausedLinks.has(nsw)) break;
              apply(
                core.frames(
                  nsw,
                  batch(checkpoint(++ckptId, dets, [entry(0, 5001, consumed)], op.blob)),
                ),
              );
              break;
            case 'refuse':
              apply(core.frame(nsw, 1, { kind: 'CheckpointRefused', reason: 'busy', detail: '' }));
              break;
            case 'timeout':
              apply(core.checkpointTimeout(ask));
              // The bound of R15.2: once the current wait is over, nothing waits any more.
              expect(core.mode).not.toBe('awaitingCheckpoint');
              if (core.mode !== 'backpressured') expect(pausedLinks.size).toBe(0);
              break;
            case 'tick':
              now += 1000;
              apply(core.tick(now));
              break;
          }
          // A link is never paused outside a bounded wait.
          if (
            core.mode === 'accepting' ||
            core.mode === 'checkpointAsked' ||
            core.mode === 'unprotected'
          )
            expect(pausedLinks.size).toBe(0);
          expect(core.mode).not.toBe('backpressured'); // every peer declared Capabilities
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
