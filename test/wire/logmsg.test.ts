import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/wire/bytes.ts';
import { decodeFrame, FrameDecoder } from '../../src/wire/frame.ts';
import {
  type Determinant,
  decodeBody,
  decodeDeterminant,
  decodeMessage,
  describeMessage,
  encodeBody,
  encodeDeterminant,
  encodeMessage,
  formatMessageError,
  type LoggerMessage,
  MAX_CHECKPOINT_CHUNK,
  MAX_RANDOM_BYTES,
  MAX_STRING_BYTES,
  MESSAGE_TYPE,
  type MessageKind,
  type SynOpts,
  type SynRecord,
} from '../../src/wire/logmsg.ts';

// Seeded so that a failure is reproducible; fast-check prints the seed and path on failure.
const SEED = Number(process.env.FC_SEED ?? 0x10c5eed);
const RUNS = Number(process.env.FC_RUNS ?? 300);
const params = { seed: SEED, numRuns: RUNS };

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const uint53 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const f64 = fc.double({ noNaN: true, noDefaultInfinity: true });
const str = fc.string({ unit: 'grapheme', maxLength: 40 });
const bytes = (max: number) => fc.uint8Array({ maxLength: max });

const optsArb: fc.Arbitrary<SynOpts> = fc.record({
  mss: u16,
  wscale: fc.option(fc.integer({ min: 0, max: 14 }), { nil: null }),
  sackOk: fc.boolean(),
  tsVal: fc.option(u32, { nil: null }),
  tsEcr: fc.option(u32, { nil: null }),
});

const synArb: fc.Arbitrary<SynRecord> = fc.record({
  conn: u32,
  clientAddr: u32,
  clientPort: u16,
  serverAddr: u32,
  serverPort: u16,
  clientIsn: u32,
  serverIsn: u32,
  clientOpts: optsArb,
  serverOpts: optsArb,
  synTimeMs: f64,
});

const determinantArb: fc.Arbitrary<Determinant> = fc.oneof(
  fc.record({ kind: fc.constant('accept' as const), conn: u32, clientAddr: u32, clientPort: u16 }),
  fc.record({
    kind: fc.constant('read' as const),
    conn: u32,
    len: fc.integer({ min: 1, max: 0xffff_ffff }),
  }),
  fc.record({ kind: fc.constant('eof' as const), conn: u32 }),
  fc.record({ kind: fc.constant('timer' as const), timerId: u32 }),
  fc.record({ kind: fc.constant('clock' as const), value: f64 }),
  fc.record({ kind: fc.constant('random' as const), bytes: bytes(64) }),
  fc.record({
    kind: fc.constant('close' as const),
    conn: u32,
    how: fc.constantFrom('end' as const, 'destroy' as const),
    offset: uint53,
  }),
  fc.record({
    kind: fc.constant('outputHash' as const),
    conn: u32,
    offset: uint53,
    hash: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  }),
);

const k = <K extends MessageKind>(kind: K) => fc.constant(kind);

/** One arbitrary per kind, so that a property "for every kind" really covers every kind. */
const messageArbs: { [K in MessageKind]: fc.Arbitrary<Extract<LoggerMessage, { kind: K }>> } = {
  Hello: fc.record({
    kind: k('Hello'),
    role: fc.constantFrom('ssw' as const, 'nsw' as const, 'coordinator' as const),
    hostId: str,
    epoch: u32,
  }),
  Welcome: fc.record({ kind: k('Welcome'), epoch: u32, leaseMs: u32 }),
  LogSyn: synArb.map((s) => ({ kind: 'LogSyn' as const, ...s })),
  SynStored: fc.record({ kind: k('SynStored'), conn: u32 }),
  LogData: fc.record({
    kind: k('LogData'),
    conn: u32,
    seq: u32,
    payload: bytes(300),
    fin: fc.boolean(),
  }),
  DataStored: fc.record({
    kind: k('DataStored'),
    conn: u32,
    stableSeq: u32,
    finLogged: fc.boolean(),
  }),
  LogDeterminant: fc.record({ kind: k('LogDeterminant'), detSeq: uint53, det: determinantArb }),
  DetStored: fc.record({ kind: k('DetStored'), stableDet: uint53 }),
  CloseLogged: fc.record({
    kind: k('CloseLogged'),
    clientAddr: u32,
    clientPort: u16,
    how: fc.constantFrom('end' as const, 'destroy' as const),
    offset: uint53,
  }),
  ClientAcked: fc.record({ kind: k('ClientAcked'), conn: u32, clientAck: u32 }),
  ConnClosed: fc.record({ kind: k('ConnClosed'), conn: u32 }),
  Heartbeat: fc.record({ kind: k('Heartbeat'), seq: u32, sentMs: f64 }),
  HeartbeatAck: fc.record({ kind: k('HeartbeatAck'), seq: u32, leaseMs: u32 }),
  Fence: fc.record({ kind: k('Fence'), newEpoch: u32 }),
  Fenced: fc.record({ kind: k('Fenced'), epoch: u32 }),
  FetchLog: fc.record({
    kind: k('FetchLog'),
    what: fc.constantFrom('ssw' as const, 'nsw' as const),
  }),
  ReplaySyn: fc
    .tuple(synArb, fc.option(u32, { nil: null }))
    .map(([s, clientAck]) => ({ kind: 'ReplaySyn' as const, ...s, clientAck })),
  ReplayData: fc.record({
    kind: k('ReplayData'),
    conn: u32,
    seq: u32,
    payload: bytes(300),
    fin: fc.boolean(),
  }),
  ReplayDeterminant: fc.record({
    kind: k('ReplayDeterminant'),
    detSeq: uint53,
    det: determinantArb,
  }),
  ReplayEnd: fc.record({ kind: k('ReplayEnd'), conns: u32, bytes: uint53, dets: uint53 }),
  Error: fc.record({ kind: k('Error'), code: str, message: str }),
  Capabilities: fc.record({
    kind: k('Capabilities'),
    checkpoints: fc.boolean(),
    unrecorded: fc.boolean(),
  }),
  ConnEstablished: fc.record({ kind: k('ConnEstablished'), conn: u32 }),
  ReplayResume: fc.record({
    kind: k('ReplayResume'),
    conn: u32,
    readOffset: uint53,
    outputFrom: uint53,
    end: uint53,
  }),
  CheckpointBegin: fc.record({
    kind: k('CheckpointBegin'),
    ckptId: uint53,
    detSeq: uint53,
    conns: u32,
    blobBytes: uint53,
  }),
  CheckpointConn: fc
    .record({
      ckptId: uint53,
      nswConn: u32,
      clientAddr: u32,
      clientPort: u16,
      readOffset: uint53,
      eof: fc.boolean(),
      writeOffset: uint53,
      tail: uint53,
      close: fc.constantFrom(null, 'end' as const, 'destroy' as const),
      done: fc.boolean(),
    })
    .map(({ tail, ...e }) => ({
      kind: 'CheckpointConn' as const,
      ...e,
      outputFrom: e.writeOffset - Math.min(tail, e.writeOffset),
    })),
  CheckpointData: fc.record({
    kind: k('CheckpointData'),
    ckptId: uint53,
    offset: uint53,
    data: bytes(300),
  }),
  CheckpointEnd: fc.record({ kind: k('CheckpointEnd'), ckptId: uint53 }),
  CheckpointStored: fc.record({ kind: k('CheckpointStored'), ckptId: uint53, detSeq: uint53 }),
  CheckpointRejected: fc.record({
    kind: k('CheckpointRejected'),
    ckptId: uint53,
    reason: fc.constant('tooLarge' as const),
    detail: str,
  }),
  CheckpointWanted: fc.record({
    kind: k('CheckpointWanted'),
    reason: fc.constantFrom('highWater' as const, 'atLimit' as const),
    limit: fc.constantFrom('bytes' as const, 'conns' as const, 'dets' as const),
    used: uint53,
    max: uint53,
  }),
  CheckpointRefused: fc.record({
    kind: k('CheckpointRefused'),
    reason: fc.constantFrom('replaying' as const, 'failed' as const, 'busy' as const),
    detail: str,
  }),
  ConnDone: fc.record({ kind: k('ConnDone'), conn: u32 }),
  Unprotected: fc.oneof(
    fc.record({
      kind: k('Unprotected'),
      scope: fc.constant('conn' as const),
      conn: u32,
      reason: fc.constantFrom(
        'storeFull' as const,
        'noCheckpoint' as const,
        'checkpointRefused' as const,
        'checkpointTooLarge' as const,
        'embryonicExpired' as const,
      ),
      detail: str,
    }),
    fc.record({
      kind: k('Unprotected'),
      scope: fc.constant('app' as const),
      conn: fc.constant(0),
      reason: fc.constantFrom('storeFull' as const, 'noCheckpoint' as const),
      detail: str,
    }),
  ),
};

const messageArb: fc.Arbitrary<LoggerMessage> = fc.oneof(
  ...(Object.values(messageArbs) as fc.Arbitrary<LoggerMessage>[]),
);

const body = (m: LoggerMessage) => toHex(encodeBody(m));
const decodeOk = (type: number, hex: string): LoggerMessage => {
  const r = decodeBody(type, fromHex(hex));
  if (!r.ok) throw new Error(formatMessageError(r.error));
  return r.value;
};
const decodeErr = (type: number, hex: string) => {
  const r = decodeBody(type, fromHex(hex));
  if (r.ok) throw new Error(`expected an error, got ${describeMessage(r.value)}`);
  return r.error;
};

describe('logmsg static vectors', () => {
  it('Hello: role u8, hostId u16-prefixed UTF-8, epoch u32', () => {
    const m: LoggerMessage = { kind: 'Hello', role: 'nsw', hostId: 'pé', epoch: 3 };
    expect(body(m)).toBe('02' + '0003' + '70c3a9' + '00000003');
    expect(decodeOk(0x01, '02000370c3a900000003')).toEqual(m);
  });

  it('LogData: conn, seq, fin, u32 length, payload', () => {
    const m: LoggerMessage = {
      kind: 'LogData',
      conn: 7,
      seq: 0x01020304,
      payload: new Uint8Array([0x68, 0x69]),
      fin: true,
    };
    expect(body(m)).toBe('00000007' + '01020304' + '01' + '00000002' + '6869');
    const back = decodeOk(0x12, body(m));
    expect(back).toEqual(m);
  });

  it('LogSyn: fixed 56-byte record with option flags and zeroed absent options', () => {
    const m: LoggerMessage = {
      kind: 'LogSyn',
      conn: 1,
      clientAddr: 0xc6120002, // 198.18.0.2
      clientPort: 40000,
      serverAddr: 0xc6120001,
      serverPort: 6379,
      clientIsn: 0xdeadbeef,
      serverIsn: 0x11223344,
      clientOpts: { mss: 1460, wscale: 7, sackOk: true, tsVal: 99, tsEcr: null },
      serverOpts: { mss: 1400, wscale: null, sackOk: false, tsVal: null, tsEcr: null },
      synTimeMs: 1.5,
    };
    const hex = body(m);
    expect(hex).toBe(
      '00000001' +
        'c6120002' +
        '9c40' +
        'c6120001' +
        '18eb' +
        'deadbeef' +
        '11223344' +
        '07' +
        '05b4' +
        '07' +
        '00000063' +
        '00000000' +
        '00' +
        '0578' +
        '00' +
        '00000000' +
        '00000000' +
        '3ff8000000000000',
    );
    expect(hex.length / 2).toBe(56);
    expect(decodeOk(0x10, hex)).toEqual(m);
  });

  it('LogDeterminant: detSeq u64, then the determinant tag and fields', () => {
    const m: LoggerMessage = {
      kind: 'LogDeterminant',
      detSeq: 2 ** 40 + 5,
      det: { kind: 'outputHash', conn: 2, offset: 1000, hash: 0xcbf29ce484222325n },
    };
    expect(body(m)).toBe(
      '0000010000000005' + '08' + '00000002' + '00000000000003e8' + 'cbf29ce484222325',
    );
    expect(decodeOk(0x14, body(m))).toEqual(m);
    expect(toHex(encodeDeterminant({ kind: 'read', conn: 1, len: 512 }))).toBe(
      '02' + '00000001' + '00000200',
    );
    expect(toHex(encodeDeterminant({ kind: 'close', conn: 4, how: 'destroy', offset: 0 }))).toBe(
      '07' + '00000004' + '02' + '0000000000000000',
    );
    const close = { kind: 'close', conn: 3, how: 'end', offset: 0x1_0000_0001 } as const;
    expect(toHex(encodeDeterminant(close))).toBe('07' + '00000003' + '01' + '0000000100000001');
    expect(decodeDeterminant(fromHex('07' + '00000003' + '01' + '0000000100000001'))).toEqual({
      ok: true,
      value: close,
    });
    // The layout before the close position was recorded (no offset) is refused, not misread.
    expect(decodeDeterminant(fromHex('07' + '00000003' + '01'))).toMatchObject({
      ok: false,
      error: { kind: 'truncated' },
    });
  });

  it('ReplaySyn: clientAck presence byte, absent means zero', () => {
    const syn = decodeOk(
      0x10,
      body({
        kind: 'LogSyn',
        conn: 1,
        clientAddr: 1,
        clientPort: 2,
        serverAddr: 3,
        serverPort: 4,
        clientIsn: 5,
        serverIsn: 6,
        clientOpts: { mss: 536, wscale: null, sackOk: false, tsVal: null, tsEcr: null },
        serverOpts: { mss: 536, wscale: null, sackOk: false, tsVal: null, tsEcr: null },
        synTimeMs: 0,
      }),
    );
    if (syn.kind !== 'LogSyn') throw new Error('not LogSyn');
    const { kind: _k, ...rec } = syn;
    const unknown = body({ kind: 'ReplaySyn', ...rec, clientAck: null });
    expect(unknown.endsWith('00' + '00000000')).toBe(true);
    const known = body({ kind: 'ReplaySyn', ...rec, clientAck: 0x10 });
    expect(known.endsWith('01' + '00000010')).toBe(true);
    expect(decodeErr(0x33, `${unknown.slice(0, -8)}00000001`).kind).toBe('badValue');
  });

  it('small messages', () => {
    expect(body({ kind: 'DetStored', stableDet: 5 })).toBe('0000000000000005');
    expect(
      body({ kind: 'CloseLogged', clientAddr: 0x0a000001, clientPort: 80, how: 'end', offset: 11 }),
    ).toBe('0a000001' + '0050' + '01' + '000000000000000b');
    expect(decodeErr(0x16, '0a000001' + '0050' + '01').kind).toBe('truncated');
    expect(body({ kind: 'FetchLog', what: 'nsw' })).toBe('02');
    expect(body({ kind: 'Fence', newEpoch: 9 })).toBe('00000009');
    expect(body({ kind: 'ReplayEnd', conns: 2, bytes: 300, dets: 7 })).toBe(
      '00000002' + '000000000000012c' + '0000000000000007',
    );
    expect(body({ kind: 'Error', code: 'fenced', message: '' })).toBe(
      '0006' + '66656e636564' + '0000',
    );
  });
});

describe('logmsg checkpoint and limit frames (spec/messages.md "Capabilities, checkpoints and limits")', () => {
  it('the examples of the spec, byte for byte', () => {
    expect(body({ kind: 'Capabilities', checkpoints: true, unrecorded: false })).toBe('00000001');
    expect(body({ kind: 'Capabilities', checkpoints: false, unrecorded: true })).toBe('00000002');
    const begin: LoggerMessage = {
      kind: 'CheckpointBegin',
      ckptId: 1,
      detSeq: 2 ** 32,
      conns: 2,
      blobBytes: 300,
    };
    expect(body(begin)).toBe(
      '0000000000000001' + '0000000100000000' + '00000002' + '000000000000012c',
    );
    expect(decodeOk(0x40, body(begin))).toEqual(begin);
    const un: LoggerMessage = {
      kind: 'Unprotected',
      scope: 'app',
      conn: 0,
      reason: 'noCheckpoint',
      detail: 'x',
    };
    expect(body(un)).toBe('02' + '00000000' + '02' + '0001' + '78');
    expect(decodeOk(0x50, body(un))).toEqual(un);
    const resume: LoggerMessage = {
      kind: 'ReplayResume',
      conn: 7,
      readOffset: 2 ** 32 + 5,
      outputFrom: 9,
      end: 2 ** 32 + 10,
    };
    expect(body(resume)).toBe(
      '00000007' + '0000000100000005' + '0000000000000009' + '000000010000000a',
    );
    expect(decodeOk(0x37, body(resume))).toEqual(resume);
  });

  it('CheckpointConn: 45 bytes, the close as an optional how (0 = open)', () => {
    const c: LoggerMessage = {
      kind: 'CheckpointConn',
      ckptId: 3,
      nswConn: 4,
      clientAddr: 0xc6120002,
      clientPort: 40000,
      readOffset: 2 ** 33,
      eof: true,
      writeOffset: 100,
      outputFrom: 90,
      close: 'end',
      done: false,
    };
    const hex = body(c);
    expect(hex).toBe(
      '0000000000000003' +
        '00000004' +
        'c6120002' +
        '9c40' +
        '0000000200000000' +
        '01' +
        '0000000000000064' +
        '000000000000005a' +
        '01' +
        '00',
    );
    expect(hex.length / 2).toBe(45);
    expect(decodeOk(0x41, hex)).toEqual(c);
    expect(decodeOk(0x41, `${hex.slice(0, -4)}0000`)).toMatchObject({ close: null });
    expect(decodeErr(0x41, `${hex.slice(0, -4)}0300`)).toMatchObject({
      kind: 'badEnum',
      offset: 43,
    });
    // outputFrom beyond writeOffset: the tail would have a negative length.
    const bad = `${hex.slice(0, 2 * 35)}0000000000000065${hex.slice(2 * 43)}`;
    expect(decodeErr(0x41, bad)).toMatchObject({ kind: 'badValue', offset: 35 });
    expect(() => encodeBody({ ...c, outputFrom: 101 })).toThrow(/outputFrom/);
  });

  it('small frames and their refusals', () => {
    expect(body({ kind: 'ConnEstablished', conn: 5 })).toBe('00000005');
    expect(body({ kind: 'ConnDone', conn: 6 })).toBe('00000006');
    expect(body({ kind: 'CheckpointEnd', ckptId: 9 })).toBe('0000000000000009');
    expect(body({ kind: 'CheckpointStored', ckptId: 9, detSeq: 12 })).toBe(
      '0000000000000009' + '000000000000000c',
    );
    expect(
      body({ kind: 'CheckpointWanted', reason: 'atLimit', limit: 'dets', used: 8, max: 8 }),
    ).toBe('02' + '03' + '0000000000000008' + '0000000000000008');
    expect(body({ kind: 'CheckpointRefused', reason: 'replaying', detail: '' })).toBe(
      '01' + '0000',
    );
    expect(body({ kind: 'CheckpointRejected', ckptId: 2, reason: 'tooLarge', detail: '' })).toBe(
      '0000000000000002' + '01' + '0000',
    );
    expect(
      body({ kind: 'CheckpointData', ckptId: 1, offset: 4, data: new Uint8Array([0xab]) }),
    ).toBe('0000000000000001' + '0000000000000004' + '00000001' + 'ab');
    // Reserved capability bits, an app-scope Unprotected naming a connection, unknown reasons.
    expect(decodeErr(0x03, '00000004')).toMatchObject({ kind: 'badValue', offset: 0 });
    expect(decodeErr(0x50, '02' + '00000001' + '01' + '0000')).toMatchObject({
      kind: 'badValue',
      offset: 1,
    });
    expect(decodeErr(0x50, '01' + '00000001' + '06' + '0000')).toMatchObject({
      kind: 'badEnum',
      offset: 5,
    });
    expect(decodeErr(0x46, `0301${'00'.repeat(16)}`)).toMatchObject({ kind: 'badEnum' });
    expect(decodeErr(0x46, `0104${'00'.repeat(16)}`)).toMatchObject({
      kind: 'badEnum',
      offset: 1,
    });
    expect(() =>
      encodeBody({ kind: 'Unprotected', scope: 'app', conn: 3, reason: 'storeFull', detail: '' }),
    ).toThrow(/conn/);
    expect(() =>
      encodeBody({
        kind: 'CheckpointData',
        ckptId: 1,
        offset: 0,
        data: new Uint8Array(MAX_CHECKPOINT_CHUNK + 1),
      }),
    ).toThrow(/data/);
    // A full-size chunk fits a frame exactly.
    const full = encodeMessage(
      { kind: 'CheckpointData', ckptId: 1, offset: 0, data: new Uint8Array(MAX_CHECKPOINT_CHUNK) },
      1,
    );
    expect(decodeFrame(full).ok).toBe(true);
  });
});

describe('logmsg bad bodies are typed errors', () => {
  it('unknown type, reserved flags', () => {
    expect(decodeBody(0x55, new Uint8Array(0))).toMatchObject({
      ok: false,
      error: { kind: 'unknownType', type: 0x55 },
    });
    expect(
      decodeMessage({ type: 0x15, flags: 1, body: fromHex('0000000000000005') }),
    ).toMatchObject({
      ok: false,
      error: { kind: 'reservedFlags' },
    });
  });

  it('truncated and trailing bytes', () => {
    expect(decodeErr(0x15, '00000000000005')).toMatchObject({ kind: 'truncated', offset: 0 });
    expect(decodeErr(0x15, '000000000000000500')).toMatchObject({
      kind: 'trailingBytes',
      offset: 8,
    });
    // payload length says 3, only 2 bytes follow
    expect(decodeErr(0x12, '00000007' + '01020304' + '00' + '00000003' + '6869')).toMatchObject({
      kind: 'truncated',
      offset: 13,
    });
  });

  it('bad enumerations and booleans', () => {
    expect(decodeErr(0x01, '04' + '0000' + '00000001')).toMatchObject({
      kind: 'badEnum',
      offset: 0,
    });
    expect(decodeErr(0x32, '00')).toMatchObject({ kind: 'badEnum' });
    expect(decodeErr(0x16, '0a000001' + '0050' + '03')).toMatchObject({
      kind: 'badEnum',
      offset: 6,
    });
    expect(decodeErr(0x13, '00000001' + '00000002' + '02')).toMatchObject({
      kind: 'badBool',
      offset: 8,
    });
    expect(decodeErr(0x14, '0000000000000001' + '09')).toMatchObject({
      kind: 'badEnum',
      offset: 8,
    });
  });

  it('values outside their range', () => {
    // read of length 0
    expect(decodeErr(0x14, '0000000000000001' + '02' + '00000001' + '00000000').kind).toBe(
      'badValue',
    );
    // detSeq beyond 2^53 - 1
    expect(decodeErr(0x15, '0020000000000000')).toMatchObject({ kind: 'badValue', offset: 0 });
    expect(decodeOk(0x15, '001fffffffffffff')).toEqual({
      kind: 'DetStored',
      stableDet: Number.MAX_SAFE_INTEGER,
    });
    // NaN and infinite times
    expect(decodeErr(0x20, '00000001' + '7ff8000000000000')).toMatchObject({
      kind: 'badValue',
      offset: 4,
    });
    expect(decodeErr(0x14, '0000000000000001' + '05' + '7ff0000000000000').kind).toBe('badValue');
    // random determinant longer than MAX_RANDOM_BYTES
    expect(
      decodeErr(0x14, `000000000000000106${(MAX_RANDOM_BYTES + 1).toString(16).padStart(8, '0')}`)
        .kind,
    ).toBe('badValue');
  });

  it('SYN options: reserved bits, wscale > 14, non-zero absent fields', () => {
    const good = body({
      kind: 'LogSyn',
      conn: 1,
      clientAddr: 1,
      clientPort: 2,
      serverAddr: 3,
      serverPort: 4,
      clientIsn: 5,
      serverIsn: 6,
      clientOpts: { mss: 536, wscale: 14, sackOk: false, tsVal: null, tsEcr: null },
      serverOpts: { mss: 536, wscale: null, sackOk: false, tsVal: null, tsEcr: null },
      synTimeMs: 0,
    });
    const optsAt = 2 * 24; // hex offset of clientOpts
    const patch = (at: number, hex: string) =>
      good.slice(0, at) + hex + good.slice(at + hex.length);
    expect(decodeOk(0x10, good).kind).toBe('LogSyn');
    expect(decodeErr(0x10, patch(optsAt, '11')).kind).toBe('badValue'); // reserved bit 0x10
    expect(decodeErr(0x10, patch(optsAt + 6, '0f')).kind).toBe('badValue'); // wscale 15
    expect(decodeErr(0x10, patch(optsAt + 24 + 6, '01')).kind).toBe('badValue'); // absent wscale = 1
    expect(decodeErr(0x10, patch(optsAt + 8, '00000001')).kind).toBe('badValue'); // absent tsVal set
  });

  it('strings: invalid UTF-8 and over-long', () => {
    expect(decodeErr(0x7f, '0001' + 'ff' + '0000')).toMatchObject({ kind: 'badString', offset: 2 });
    expect(decodeErr(0x7f, '0002' + 'c0af' + '0000').kind).toBe('badString'); // overlong '/'
    expect(decodeErr(0x7f, (MAX_STRING_BYTES + 1).toString(16).padStart(4, '0')).kind).toBe(
      'badString',
    );
    expect(() =>
      encodeBody({ kind: 'Error', code: 'x'.repeat(MAX_STRING_BYTES + 1), message: '' }),
    ).toThrow(RangeError);
  });

  it('encoding an out-of-range field is a programming error that throws at the cause', () => {
    expect(() => encodeBody({ kind: 'Welcome', epoch: -1, leaseMs: 0 })).toThrow(/epoch/);
    expect(() =>
      encodeBody({ kind: 'CloseLogged', clientAddr: 1, clientPort: 70000, how: 'end', offset: 0 }),
    ).toThrow(/clientPort/);
    expect(() =>
      encodeDeterminant({
        kind: 'close',
        conn: 1,
        how: 'end',
        offset: Number.MAX_SAFE_INTEGER + 1,
      }),
    ).toThrow(/offset/);
    expect(() => encodeDeterminant({ kind: 'read', conn: 1, len: 0 })).toThrow(/len/);
    expect(() => encodeDeterminant({ kind: 'clock', value: Number.NaN })).toThrow(/value/);
  });

  it('error text names the message, the place and the reason', () => {
    const e = decodeErr(0x13, '00000001' + '00000002' + '02');
    expect(formatMessageError(e)).toBe('logmsg DataStored: badBool at body offset 8: finLogged: 2');
  });
});

describe('logmsg properties', () => {
  for (const [kind, arb] of Object.entries(messageArbs) as [
    MessageKind,
    fc.Arbitrary<LoggerMessage>,
  ][]) {
    it(`decode(encode(m)) == m for ${kind}`, () => {
      fc.assert(
        fc.property(arb, (m) => {
          const r = decodeBody(MESSAGE_TYPE[m.kind], encodeBody(m));
          expect(r).toEqual({ ok: true, value: m });
        }),
        { ...params, numRuns: Math.max(20, RUNS >> 2) },
      );
    });
  }

  it('determinant codec round-trips', () => {
    fc.assert(
      fc.property(determinantArb, (d) => {
        expect(decodeDeterminant(encodeDeterminant(d))).toEqual({ ok: true, value: d });
      }),
      params,
    );
  });

  it('arbitrary bodies never throw; whatever decodes re-encodes to the same bytes (one encoding per value)', () => {
    const types = [...Object.values(MESSAGE_TYPE), 0x00, 0x04, 0x4f, 0xff];
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.uint8Array({ maxLength: 80 }), (type, b) => {
        const r = decodeBody(type, b);
        if (r.ok) expect(toHex(encodeBody(r.value))).toBe(toHex(b));
        else expect(typeof formatMessageError(r.error)).toBe('string');
      }),
      { ...params, numRuns: RUNS * 10 },
    );
  });

  it('bit flips and truncations of valid bodies never throw', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), fc.nat(), (m, cut, flip) => {
        const b = encodeBody(m);
        const t = b.slice(0, b.length === 0 ? 0 : cut % (b.length + 1));
        if (t.length > 0) t[flip % t.length]! ^= 1 << (flip % 8);
        const r = decodeBody(MESSAGE_TYPE[m.kind], t);
        if (r.ok) expect(toHex(encodeBody(r.value))).toBe(toHex(t));
      }),
      params,
    );
  });

  it('encodeMessage is a whole frame: the frame codec decodes it, decodeMessage gives m back', () => {
    fc.assert(
      fc.property(messageArb, u32, (m, epoch) => {
        const f = decodeFrame(encodeMessage(m, epoch));
        if (!f.ok) throw new Error(`frame: ${f.error.kind} ${f.error.detail}`);
        expect(f.value.type).toBe(MESSAGE_TYPE[m.kind]);
        expect(f.value.epoch).toBe(epoch);
        expect(decodeMessage(f.value)).toEqual({ ok: true, value: m });
      }),
      { ...params, numRuns: 100 },
    );
  });

  it('a stream of messages split at arbitrary points decodes to the same messages', () => {
    fc.assert(
      fc.property(
        fc.array(messageArb, { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (ms, cuts) => {
          const parts = ms.map((m) => encodeMessage(m, 1));
          const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
          let o = 0;
          for (const p of parts) {
            all.set(p, o);
            o += p.length;
          }
          const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b);
          const dec = new FrameDecoder();
          const got: LoggerMessage[] = [];
          let from = 0;
          for (const to of [...points, all.length]) {
            const r = dec.push(all.subarray(from, to));
            if (!r.ok) throw new Error(r.error.kind);
            for (const f of r.value) {
              const mr = decodeMessage(f);
              if (!mr.ok) throw new Error(formatMessageError(mr.error));
              got.push(mr.value);
            }
            from = to;
          }
          expect(got).toEqual(ms);
        },
      ),
      { ...params, numRuns: 100 },
    );
  });
});
