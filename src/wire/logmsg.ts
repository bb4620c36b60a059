// Logger-link message bodies (spec/messages.md). A frame (src/wire/frame.ts) carries the type,
// flags, epoch and a CRC; this module maps frame type <-> message kind and body bytes <-> fields.
//
// Layout habits, for every body:
// - big-endian, like the frame header and every other field on the wire in this project;
// - no implicit lengths: every variable part (string, bytes) has its own length prefix, and the
//   decoder insists that the fields consume the body exactly, so a body that is too long is as
//   much an error as one that is too short (a sender that disagrees with us about a layout is
//   caught at the first message, not after it has corrupted a log);
// - one canonical encoding per value: booleans are 0/1, absent optionals are all-zero, reserved
//   bits are zero; the decoder refuses anything else, so `encode(decode(b))` reproduces `b`;
// - decoding never throws: hostile or corrupt bytes are a typed `MessageError`, and the link
//   handler drops the connection (spec/messages.md "Bad messages").
// Encoding takes values built by our own code, so an out-of-range field is a programming error
// and throws a RangeError at the cause rather than putting a corrupt frame on the link.

import { encodeFrame, MAX_FRAME_BODY } from './frame.ts';
import { err, ok, type Result } from './result.ts';

/** A message body is a frame body: at most MAX_FRAME_BODY (1 MiB, spec/messages.md). */
export const MAX_MESSAGE_BODY = MAX_FRAME_BODY;
/** hostId, error code and error message: UTF-8 bytes, u16-prefixed, at most this many. */
export const MAX_STRING_BYTES = 4096;
/** A `random` determinant holds at most this many bytes (the NSW splits larger draws). */
export const MAX_RANDOM_BYTES = 65536;
/** LogData/ReplayData: conn u32, seq u32, fin u8, payload length u32. */
export const DATA_HEADER_BYTES = 13;
/** The largest client payload one LogData/ReplayData can carry. */
export const MAX_DATA_PAYLOAD = MAX_MESSAGE_BODY - DATA_HEADER_BYTES;
/** CheckpointData: ckptId u53, offset u53, data length u32. */
export const CHECKPOINT_DATA_HEADER_BYTES = 20;
/** The largest piece of a checkpoint's blob one CheckpointData can carry. */
export const MAX_CHECKPOINT_CHUNK = MAX_MESSAGE_BODY - CHECKPOINT_DATA_HEADER_BYTES;

// ---------------------------------------------------------------------------------------------
// Values

export type Role = 'ssw' | 'nsw' | 'coordinator';
export type CloseHow = 'end' | 'destroy';
export type FetchWhat = 'ssw' | 'nsw';
/** What `Unprotected` gives up: one connection, or the whole application's log (R15.4). */
export type UnprotectedScope = 'conn' | 'app';
export type UnprotectedReason =
  | 'storeFull' // a limit was reached and no checkpoint could be asked for
  | 'noCheckpoint' // asked, none came within checkpointWaitMs (or it freed nothing)
  | 'checkpointRefused' // the NSW answered CheckpointRefused
  | 'checkpointTooLarge' // the checkpoint exceeded maxCheckpointBytes
  | 'embryonicExpired'; // the handshake never completed within embryonicTtlMs (R15.6)
export type CheckpointWantedReason = 'highWater' | 'atLimit';
/** The logger limit a CheckpointWanted is about. */
export type LimitName = 'bytes' | 'conns' | 'dets';
export type CheckpointRefusedReason = 'replaying' | 'failed' | 'busy';
export type CheckpointRejectedReason = 'tooLarge';

/**
 * One connection of a checkpoint's table (spec/nsw.md R13.1): where a recovery from the
 * checkpoint starts it. Offsets are byte counts from the stream's first data byte (64-bit).
 */
export interface CheckpointConnEntry {
  /** the NSW's connection number (accept order), not the SSW's connId */
  readonly nswConn: number;
  readonly clientAddr: number;
  readonly clientPort: number;
  /** client bytes the application had consumed */
  readonly readOffset: number;
  /** end-of-stream delivered to the application */
  readonly eof: boolean;
  /** server bytes the application had written */
  readonly writeOffset: number;
  /** first byte of the output tail the checkpoint holds (<= writeOffset) */
  readonly outputFrom: number;
  /** the application's close of the connection, if it had closed it */
  readonly close: CloseHow | null;
  /** the logger had said ConnDone: nothing of it is owed to the client any more */
  readonly done: boolean;
}

/** TCP options negotiated on a SYN or SYN-ACK; `null` = option absent. */
export interface SynOpts {
  readonly mss: number;
  readonly wscale: number | null;
  readonly sackOk: boolean;
  readonly tsVal: number | null;
  readonly tsEcr: number | null;
}

/** The connection record the SSW logs before the SYN-ACK may reach the client (R2). */
export interface SynRecord {
  readonly conn: number;
  readonly clientAddr: number;
  readonly clientPort: number;
  readonly serverAddr: number;
  readonly serverPort: number;
  readonly clientIsn: number;
  readonly serverIsn: number;
  readonly clientOpts: SynOpts;
  readonly serverOpts: SynOpts;
  readonly synTimeMs: number;
}

/**
 * A nondeterministic result the application saw (R3). `conn` is the NSW's connection number
 * (accept order from 0), not the SSW's connId.
 */
export type Determinant =
  | {
      readonly kind: 'accept';
      readonly conn: number;
      readonly clientAddr: number;
      readonly clientPort: number;
    }
  | { readonly kind: 'read'; readonly conn: number; readonly len: number }
  | { readonly kind: 'eof'; readonly conn: number }
  | { readonly kind: 'timer'; readonly timerId: number }
  | { readonly kind: 'clock'; readonly value: number }
  | { readonly kind: 'random'; readonly bytes: Uint8Array }
  | {
      readonly kind: 'close';
      readonly conn: number;
      readonly how: CloseHow;
      /**
       * Where the close sits in the connection's output: the number of bytes the application
       * wrote to `conn` before closing. The FIN of an `end` is at server sequence number
       * `serverIsn + 1 + offset` (original space); spec/ssw.md R5.2 passes no other FIN.
       */
      readonly offset: number;
    }
  | {
      readonly kind: 'outputHash';
      readonly conn: number;
      readonly offset: number;
      readonly hash: bigint;
    };

export type DeterminantKind = Determinant['kind'];

export type LoggerMessage =
  | { readonly kind: 'Hello'; readonly role: Role; readonly hostId: string; readonly epoch: number }
  | { readonly kind: 'Welcome'; readonly epoch: number; readonly leaseMs: number }
  | ({ readonly kind: 'LogSyn' } & SynRecord)
  | { readonly kind: 'SynStored'; readonly conn: number }
  | {
      readonly kind: 'LogData';
      readonly conn: number;
      readonly seq: number;
      readonly payload: Uint8Array;
      readonly fin: boolean;
    }
  | {
      readonly kind: 'DataStored';
      readonly conn: number;
      readonly stableSeq: number;
      readonly finLogged: boolean;
    }
  | { readonly kind: 'LogDeterminant'; readonly detSeq: number; readonly det: Determinant }
  | { readonly kind: 'DetStored'; readonly stableDet: number }
  | {
      readonly kind: 'CloseLogged';
      readonly clientAddr: number;
      readonly clientPort: number;
      readonly how: CloseHow;
      /** the close determinant's `offset`: the close position in the server's output (R5.2) */
      readonly offset: number;
    }
  | { readonly kind: 'ClientAcked'; readonly conn: number; readonly clientAck: number }
  | { readonly kind: 'ConnClosed'; readonly conn: number }
  | { readonly kind: 'Heartbeat'; readonly seq: number; readonly sentMs: number }
  | { readonly kind: 'HeartbeatAck'; readonly seq: number; readonly leaseMs: number }
  | { readonly kind: 'Fence'; readonly newEpoch: number }
  | { readonly kind: 'Fenced'; readonly epoch: number }
  | { readonly kind: 'FetchLog'; readonly what: FetchWhat }
  | ({ readonly kind: 'ReplaySyn'; readonly clientAck: number | null } & SynRecord)
  | {
      readonly kind: 'ReplayData';
      readonly conn: number;
      readonly seq: number;
      readonly payload: Uint8Array;
      readonly fin: boolean;
    }
  | { readonly kind: 'ReplayDeterminant'; readonly detSeq: number; readonly det: Determinant }
  | {
      readonly kind: 'ReplayEnd';
      readonly conns: number;
      readonly bytes: number;
      readonly dets: number;
    }
  | {
      readonly kind: 'Capabilities';
      /** an NSW whose application can snapshot and restore (spec/nsw.md R13.5) */
      readonly checkpoints: boolean;
      /** an SSW whose application the NSW does not wrap (spec/ssw.md R5.8) */
      readonly unrecorded: boolean;
    }
  | { readonly kind: 'ConnEstablished'; readonly conn: number }
  | {
      readonly kind: 'ReplayResume';
      readonly conn: number;
      readonly readOffset: number;
      readonly outputFrom: number;
      /** offset of the stored end of the client stream */
      readonly end: number;
    }
  | {
      readonly kind: 'CheckpointBegin';
      readonly ckptId: number;
      /** `D`: the checkpoint covers every determinant below it */
      readonly detSeq: number;
      readonly conns: number;
      readonly blobBytes: number;
    }
  | ({ readonly kind: 'CheckpointConn'; readonly ckptId: number } & CheckpointConnEntry)
  | {
      readonly kind: 'CheckpointData';
      readonly ckptId: number;
      readonly offset: number;
      readonly data: Uint8Array;
    }
  | { readonly kind: 'CheckpointEnd'; readonly ckptId: number }
  | { readonly kind: 'CheckpointStored'; readonly ckptId: number; readonly detSeq: number }
  | {
      readonly kind: 'CheckpointRejected';
      readonly ckptId: number;
      readonly reason: CheckpointRejectedReason;
      readonly detail: string;
    }
  | {
      readonly kind: 'CheckpointWanted';
      readonly reason: CheckpointWantedReason;
      readonly limit: LimitName;
      readonly used: number;
      readonly max: number;
    }
  | {
      readonly kind: 'CheckpointRefused';
      readonly reason: CheckpointRefusedReason;
      readonly detail: string;
    }
  | { readonly kind: 'ConnDone'; readonly conn: number }
  | {
      readonly kind: 'Unprotected';
      readonly scope: UnprotectedScope;
      /** the SSW's connId for `conn` scope; 0 for `app` */
      readonly conn: number;
      readonly reason: UnprotectedReason;
      readonly detail: string;
    }
  | { readonly kind: 'Error'; readonly code: string; readonly message: string };

export type MessageKind = LoggerMessage['kind'];
export type MessageOf<K extends MessageKind> = Extract<LoggerMessage, { readonly kind: K }>;

/** Frame type byte of each kind (the agreed catalogue, /work/notes/MESSAGES.md). */
export const MESSAGE_TYPE = {
  Hello: 0x01,
  Welcome: 0x02,
  Capabilities: 0x03,
  LogSyn: 0x10,
  SynStored: 0x11,
  LogData: 0x12,
  DataStored: 0x13,
  LogDeterminant: 0x14,
  DetStored: 0x15,
  CloseLogged: 0x16,
  ClientAcked: 0x17,
  ConnClosed: 0x18,
  ConnEstablished: 0x19,
  Heartbeat: 0x20,
  HeartbeatAck: 0x21,
  Fence: 0x30,
  Fenced: 0x31,
  FetchLog: 0x32,
  ReplaySyn: 0x33,
  ReplayData: 0x34,
  ReplayDeterminant: 0x35,
  ReplayEnd: 0x36,
  ReplayResume: 0x37,
  CheckpointBegin: 0x40,
  CheckpointConn: 0x41,
  CheckpointData: 0x42,
  CheckpointEnd: 0x43,
  CheckpointStored: 0x44,
  CheckpointRejected: 0x45,
  CheckpointWanted: 0x46,
  CheckpointRefused: 0x47,
  ConnDone: 0x48,
  Unprotected: 0x50,
  Error: 0x7f,
} as const satisfies Record<MessageKind, number>;

const KIND_OF_TYPE: ReadonlyMap<number, MessageKind> = new Map(
  (Object.entries(MESSAGE_TYPE) as [MessageKind, number][]).map(([k, t]) => [t, k]),
);

/** The message kind a frame type byte names, or undefined for an unknown type. */
export const kindOfType = (type: number): MessageKind | undefined => KIND_OF_TYPE.get(type);

// Enumerations on the wire. 0 is never valid, so an all-zero body is never a plausible message.
const ROLE_CODE = { ssw: 1, nsw: 2, coordinator: 3 } as const satisfies Record<Role, number>;
const HOW_CODE = { end: 1, destroy: 2 } as const satisfies Record<CloseHow, number>;
const WHAT_CODE = { ssw: 1, nsw: 2 } as const satisfies Record<FetchWhat, number>;
const DET_CODE = {
  accept: 1,
  read: 2,
  eof: 3,
  timer: 4,
  clock: 5,
  random: 6,
  close: 7,
  outputHash: 8,
} as const satisfies Record<DeterminantKind, number>;

const SCOPE_CODE = { conn: 1, app: 2 } as const satisfies Record<UnprotectedScope, number>;
const UREASON_CODE = {
  storeFull: 1,
  noCheckpoint: 2,
  checkpointRefused: 3,
  checkpointTooLarge: 4,
  embryonicExpired: 5,
} as const satisfies Record<UnprotectedReason, number>;
const WREASON_CODE = { highWater: 1, atLimit: 2 } as const satisfies Record<
  CheckpointWantedReason,
  number
>;
const LIMIT_CODE = { bytes: 1, conns: 2, dets: 3 } as const satisfies Record<LimitName, number>;
const RREASON_CODE = { replaying: 1, failed: 2, busy: 3 } as const satisfies Record<
  CheckpointRefusedReason,
  number
>;
const JREASON_CODE = { tooLarge: 1 } as const satisfies Record<CheckpointRejectedReason, number>;

// Capabilities flag bits. Reserved bits must be zero.
const CAP_CHECKPOINTS = 0x1;
const CAP_UNRECORDED = 0x2;
const CAP_KNOWN = CAP_CHECKPOINTS | CAP_UNRECORDED;

const invert = <K extends string>(m: Record<K, number>): ReadonlyMap<number, K> =>
  new Map((Object.entries(m) as [K, number][]).map(([k, v]) => [v, k]));
const ROLE_OF = invert(ROLE_CODE);
const HOW_OF = invert(HOW_CODE);
const WHAT_OF = invert(WHAT_CODE);
const DET_OF = invert(DET_CODE);
const SCOPE_OF = invert(SCOPE_CODE);
const UREASON_OF = invert(UREASON_CODE);
const WREASON_OF = invert(WREASON_CODE);
const LIMIT_OF = invert(LIMIT_CODE);
const RREASON_OF = invert(RREASON_CODE);
const JREASON_OF = invert(JREASON_CODE);

// Bits of the SynOpts flag byte. Reserved bits must be zero.
const OPT_WSCALE = 0x01;
const OPT_SACK = 0x02;
const OPT_TSVAL = 0x04;
const OPT_TSECR = 0x08;
const OPT_KNOWN = OPT_WSCALE | OPT_SACK | OPT_TSVAL | OPT_TSECR;
/** flags u8, mss u16, wscale u8, tsVal u32, tsEcr u32. */
export const SYN_OPTS_BYTES = 12;
/** RFC 7323: a shift count above 14 is not a valid window scale. */
export const MAX_WSCALE = 14;

/**
 * `Error.code` values the logger sends (spec/messages.md "Bad messages"). Codes are strings on
 * the wire so that a newer peer can add one without breaking an older decoder.
 */
export const LOGGER_ERROR_CODES = [
  'staleEpoch', // the frame's epoch is older than the logger's: the sender has been fenced (R8)
  'futureEpoch', // newer than the logger's: the sender skipped the Fence that creates it
  'notWelcomed', // a message before Hello
  'wrongRole', // a message kind the sender's role may not send
  'unknownConn', // LogData / ClientAcked for a conn without LogSyn
  'gap', // LogData or LogDeterminant beyond the stored end
  'conflict', // a resent record or byte that differs from the stored one
  'badMessage', // the frame or body did not decode
  'fencing', // between Fence and Fenced; reconnect and retry
  'badCheckpoint', // checkpoint frames out of order or miscounted (spec/logger.md R14.1)
  'unprotected', // FetchLog of a log given up by R15.4: nothing can be recovered
] as const;
export type LoggerErrorCode = (typeof LOGGER_ERROR_CODES)[number];

// ---------------------------------------------------------------------------------------------
// Errors

export type MessageErrorKind =
  | 'unknownType' // frame type names no message
  | 'reservedFlags' // frame flags are not zero (no flag is defined yet)
  | 'truncated' // the body ends inside a field
  | 'trailingBytes' // the fields end before the body does
  | 'badEnum' // role, how, what, reason, scope or determinant tag outside its enumeration
  | 'badBool' // a boolean byte other than 0 or 1
  | 'badValue' // a field outside its range (port > 65535 cannot happen; wscale > 14, read len 0, NaN time...)
  | 'badString' // invalid UTF-8 or longer than MAX_STRING_BYTES
  | 'oversize'; // body longer than MAX_MESSAGE_BODY

export interface MessageError {
  readonly kind: MessageErrorKind;
  /** frame type byte of the offending message */
  readonly type: number;
  /** byte offset in the body where decoding stopped */
  readonly offset: number;
  readonly detail: string;
}

/** One line for logs: which message, where, why. */
export const formatMessageError = (e: MessageError): string =>
  `logmsg ${kindOfType(e.type) ?? `type 0x${e.type.toString(16)}`}: ${e.kind} at body offset ${e.offset}: ${e.detail}`;

// ---------------------------------------------------------------------------------------------
// Writer: a growable big-endian buffer. Sized up front from the payload so that a LogData
// is written with a single allocation.

const TWO32 = 0x1_0000_0000;

class Writer {
  private buf: Uint8Array;
  private view: DataView;
  len = 0;

  constructor(hint: number) {
    this.buf = new Uint8Array(Math.max(16, hint));
    this.view = new DataView(this.buf.buffer);
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number, what: string): void {
    assertField(Number.isInteger(v) && v >= 0 && v <= 0xff, what, v);
    this.room(1);
    this.view.setUint8(this.len, v);
    this.len += 1;
  }

  u16(v: number, what: string): void {
    assertField(Number.isInteger(v) && v >= 0 && v <= 0xffff, what, v);
    this.room(2);
    this.view.setUint16(this.len, v);
    this.len += 2;
  }

  u32(v: number, what: string): void {
    assertField(Number.isInteger(v) && v >= 0 && v < TWO32, what, v);
    this.room(4);
    this.view.setUint32(this.len, v);
    this.len += 4;
  }

  /** A counter that may outgrow 32 bits but stays a JS safe integer: u64 on the wire. */
  uint53(v: number, what: string): void {
    assertField(Number.isSafeInteger(v) && v >= 0, what, v);
    this.room(8);
    this.view.setUint32(this.len, Math.floor(v / TWO32));
    this.view.setUint32(this.len + 4, v >>> 0);
    this.len += 8;
  }

  u64(v: bigint, what: string): void {
    assertField(v >= 0n && v < 1n << 64n, what, v);
    this.room(8);
    this.view.setBigUint64(this.len, v);
    this.len += 8;
  }

  f64(v: number, what: string): void {
    assertField(Number.isFinite(v), what, v);
    this.room(8);
    this.view.setFloat64(this.len, v);
    this.len += 8;
  }

  bool(v: boolean): void {
    this.room(1);
    this.view.setUint8(this.len, v ? 1 : 0);
    this.len += 1;
  }

  bytes32(b: Uint8Array, max: number, what: string): void {
    assertField(b.length <= max, `${what} length`, b.length);
    this.u32(b.length, what);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  str(s: string, what: string): void {
    const b = utf8.encode(s);
    assertField(b.length <= MAX_STRING_BYTES, `${what} length`, b.length);
    this.u16(b.length, what);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

function assertField(cond: boolean, what: string, v: unknown): asserts cond {
  if (!cond) throw new RangeError(`logmsg: ${what} out of range: ${String(v)}`);
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------------
// Reader: every getter checks the remaining length first and records the first failure; after
// a failure the getters return zeros, and `done()` reports the error. This keeps the per-kind
// decoders straight-line code without a check after every field.

class Reader {
  off = 0;
  error: MessageError | undefined;
  private readonly view: DataView;

  constructor(
    private readonly body: Uint8Array,
    private readonly type: number,
  ) {
    this.view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  }

  fail(kind: MessageErrorKind, detail: string): void {
    if (this.error === undefined) this.error = { kind, type: this.type, offset: this.off, detail };
  }

  private take(n: number, what: string): number {
    if (this.error !== undefined) return -1;
    if (this.off + n > this.body.length) {
      this.fail('truncated', `${what}: need ${n} bytes, ${this.body.length - this.off} left`);
      return -1;
    }
    const at = this.off;
    this.off += n;
    return at;
  }

  u8(what: string): number {
    const at = this.take(1, what);
    return at < 0 ? 0 : this.view.getUint8(at);
  }

  u16(what: string): number {
    const at = this.take(2, what);
    return at < 0 ? 0 : this.view.getUint16(at);
  }

  u32(what: string): number {
    const at = this.take(4, what);
    return at < 0 ? 0 : this.view.getUint32(at);
  }

  uint53(what: string): number {
    const at = this.take(8, what);
    if (at < 0) return 0;
    const hi = this.view.getUint32(at);
    const lo = this.view.getUint32(at + 4);
    if (hi >= 1 << 21) {
      this.off = at;
      this.fail('badValue', `${what}: ${hi}*2^32+${lo} is beyond 2^53-1`);
      return 0;
    }
    return hi * TWO32 + lo;
  }

  u64(what: string): bigint {
    const at = this.take(8, what);
    return at < 0 ? 0n : this.view.getBigUint64(at);
  }

  f64(what: string): number {
    const at = this.take(8, what);
    if (at < 0) return 0;
    const v = this.view.getFloat64(at);
    if (!Number.isFinite(v)) {
      this.off = at;
      this.fail('badValue', `${what}: not a finite number`);
      return 0;
    }
    return v;
  }

  bool(what: string): boolean {
    const at = this.take(1, what);
    if (at < 0) return false;
    const v = this.view.getUint8(at);
    if (v > 1) {
      this.off = at;
      this.fail('badBool', `${what}: ${v}`);
    }
    return v === 1;
  }

  enumOf<K>(map: ReadonlyMap<number, K>, fallback: K, what: string): K {
    const at = this.off;
    const code = this.u8(what);
    if (this.error !== undefined) return fallback;
    const v = map.get(code);
    if (v === undefined) {
      this.off = at;
      this.fail('badEnum', `${what}: ${code}`);
      return fallback;
    }
    return v;
  }

  /** Payload bytes are a view into the frame, not a copy: the caller owns the frame buffer. */
  bytes32(max: number, what: string): Uint8Array {
    const lenAt = this.off;
    const n = this.u32(what);
    if (this.error !== undefined) return new Uint8Array(0);
    if (n > max) {
      this.off = lenAt;
      this.fail('badValue', `${what}: length ${n} > ${max}`);
      return new Uint8Array(0);
    }
    const at = this.take(n, what);
    return at < 0 ? new Uint8Array(0) : this.body.subarray(at, at + n);
  }

  str(what: string): string {
    const n = this.u16(what);
    if (this.error !== undefined) return '';
    if (n > MAX_STRING_BYTES) {
      this.off -= 2;
      this.fail('badString', `${what}: ${n} bytes > ${MAX_STRING_BYTES}`);
      return '';
    }
    const at = this.take(n, what);
    if (at < 0) return '';
    try {
      return utf8Strict.decode(this.body.subarray(at, at + n));
    } catch {
      this.off = at;
      this.fail('badString', `${what}: invalid UTF-8`);
      return '';
    }
  }

  done<T>(value: T): Result<T, MessageError> {
    if (this.error === undefined && this.off !== this.body.length) {
      this.fail('trailingBytes', `${this.body.length - this.off} bytes after the last field`);
    }
    return this.error === undefined ? ok(value) : err(this.error);
  }
}

// ---------------------------------------------------------------------------------------------
// SynOpts and SynRecord

function writeOpts(w: Writer, o: SynOpts, what: string): void {
  const flags =
    (o.wscale !== null ? OPT_WSCALE : 0) |
    (o.sackOk ? OPT_SACK : 0) |
    (o.tsVal !== null ? OPT_TSVAL : 0) |
    (o.tsEcr !== null ? OPT_TSECR : 0);
  w.u8(flags, `${what}.flags`);
  w.u16(o.mss, `${what}.mss`);
  if (o.wscale !== null) assertField(o.wscale <= MAX_WSCALE, `${what}.wscale`, o.wscale);
  w.u8(o.wscale ?? 0, `${what}.wscale`);
  w.u32(o.tsVal ?? 0, `${what}.tsVal`);
  w.u32(o.tsEcr ?? 0, `${what}.tsEcr`);
}

function readOpts(r: Reader, what: string): SynOpts {
  const flagsAt = r.off;
  const flags = r.u8(`${what}.flags`);
  if ((flags & ~OPT_KNOWN) !== 0) {
    r.off = flagsAt;
    r.fail('badValue', `${what}.flags: reserved bits 0x${(flags & ~OPT_KNOWN).toString(16)}`);
  }
  const mss = r.u16(`${what}.mss`);
  const wsAt = r.off;
  const ws = r.u8(`${what}.wscale`);
  const tsVal = r.u32(`${what}.tsVal`);
  const tsEcr = r.u32(`${what}.tsEcr`);
  // Absent optionals must be zero, or two encodings would mean the same record.
  if ((flags & OPT_WSCALE) !== 0 ? ws > MAX_WSCALE : ws !== 0) {
    r.off = wsAt;
    r.fail('badValue', `${what}.wscale: ${ws} (present=${(flags & OPT_WSCALE) !== 0})`);
  }
  if ((flags & OPT_TSVAL) === 0 && tsVal !== 0) r.fail('badValue', `${what}.tsVal set but absent`);
  if ((flags & OPT_TSECR) === 0 && tsEcr !== 0) r.fail('badValue', `${what}.tsEcr set but absent`);
  return {
    mss,
    wscale: (flags & OPT_WSCALE) !== 0 ? ws : null,
    sackOk: (flags & OPT_SACK) !== 0,
    tsVal: (flags & OPT_TSVAL) !== 0 ? tsVal : null,
    tsEcr: (flags & OPT_TSECR) !== 0 ? tsEcr : null,
  };
}

function writeSyn(w: Writer, s: SynRecord): void {
  w.u32(s.conn, 'conn');
  w.u32(s.clientAddr, 'clientAddr');
  w.u16(s.clientPort, 'clientPort');
  w.u32(s.serverAddr, 'serverAddr');
  w.u16(s.serverPort, 'serverPort');
  w.u32(s.clientIsn, 'clientIsn');
  w.u32(s.serverIsn, 'serverIsn');
  writeOpts(w, s.clientOpts, 'clientOpts');
  writeOpts(w, s.serverOpts, 'serverOpts');
  w.f64(s.synTimeMs, 'synTimeMs');
}

function readSyn(r: Reader): SynRecord {
  return {
    conn: r.u32('conn'),
    clientAddr: r.u32('clientAddr'),
    clientPort: r.u16('clientPort'),
    serverAddr: r.u32('serverAddr'),
    serverPort: r.u16('serverPort'),
    clientIsn: r.u32('clientIsn'),
    serverIsn: r.u32('serverIsn'),
    clientOpts: readOpts(r, 'clientOpts'),
    serverOpts: readOpts(r, 'serverOpts'),
    synTimeMs: r.f64('synTimeMs'),
  };
}

// ---------------------------------------------------------------------------------------------
// Determinants

function writeDet(w: Writer, d: Determinant): void {
  w.u8(DET_CODE[d.kind], 'det.kind');
  switch (d.kind) {
    case 'accept':
      w.u32(d.conn, 'det.conn');
      w.u32(d.clientAddr, 'det.clientAddr');
      w.u16(d.clientPort, 'det.clientPort');
      return;
    case 'read':
      w.u32(d.conn, 'det.conn');
      assertField(d.len > 0, 'det.len', d.len);
      w.u32(d.len, 'det.len');
      return;
    case 'eof':
      w.u32(d.conn, 'det.conn');
      return;
    case 'timer':
      w.u32(d.timerId, 'det.timerId');
      return;
    case 'clock':
      w.f64(d.value, 'det.value');
      return;
    case 'random':
      w.bytes32(d.bytes, MAX_RANDOM_BYTES, 'det.bytes');
      return;
    case 'close':
      w.u32(d.conn, 'det.conn');
      w.u8(HOW_CODE[d.how], 'det.how');
      w.uint53(d.offset, 'det.offset');
      return;
    case 'outputHash':
      w.u32(d.conn, 'det.conn');
      w.uint53(d.offset, 'det.offset');
      w.u64(d.hash, 'det.hash');
      return;
  }
}

function readDet(r: Reader): Determinant {
  const kind = r.enumOf(DET_OF, 'eof', 'det.kind');
  switch (kind) {
    case 'accept':
      return {
        kind,
        conn: r.u32('det.conn'),
        clientAddr: r.u32('det.clientAddr'),
        clientPort: r.u16('det.clientPort'),
      };
    case 'read': {
      const conn = r.u32('det.conn');
      const len = r.u32('det.len');
      // An empty read is end-of-stream, which has its own determinant.
      if (r.error === undefined && len === 0)
        r.fail('badValue', 'det.len: a read determinant has len > 0');
      return { kind, conn, len };
    }
    case 'eof':
      return { kind, conn: r.u32('det.conn') };
    case 'timer':
      return { kind, timerId: r.u32('det.timerId') };
    case 'clock':
      return { kind, value: r.f64('det.value') };
    case 'random':
      // Copied: a determinant outlives the frame it arrived in (the NSW keeps its replay log).
      return { kind, bytes: r.bytes32(MAX_RANDOM_BYTES, 'det.bytes').slice() };
    case 'close':
      return {
        kind,
        conn: r.u32('det.conn'),
        how: r.enumOf(HOW_OF, 'end', 'det.how'),
        offset: r.uint53('det.offset'),
      };
    case 'outputHash':
      return {
        kind,
        conn: r.u32('det.conn'),
        offset: r.uint53('det.offset'),
        hash: r.u64('det.hash'),
      };
  }
}

/** A determinant on its own (the logger stores them in this form). */
export function encodeDeterminant(det: Determinant): Uint8Array {
  const w = new Writer(det.kind === 'random' ? det.bytes.length + 8 : 24);
  writeDet(w, det);
  return w.finish();
}

/** Decodes exactly one determinant filling `bytes`; never throws. */
export function decodeDeterminant(bytes: Uint8Array): Result<Determinant, MessageError> {
  const r = new Reader(bytes, MESSAGE_TYPE.LogDeterminant);
  const det = readDet(r);
  return r.done(det);
}

// ---------------------------------------------------------------------------------------------
// Bodies

/** The body bytes of a message (without the frame header). */
export function encodeBody(msg: LoggerMessage): Uint8Array {
  const hint =
    msg.kind === 'LogData' || msg.kind === 'ReplayData'
      ? DATA_HEADER_BYTES + msg.payload.length
      : msg.kind === 'CheckpointData'
        ? CHECKPOINT_DATA_HEADER_BYTES + msg.data.length
        : msg.kind === 'LogDeterminant' || msg.kind === 'ReplayDeterminant'
          ? 64 + (msg.det.kind === 'random' ? msg.det.bytes.length : 0)
          : 64;
  const w = new Writer(hint);
  switch (msg.kind) {
    case 'Hello':
      w.u8(ROLE_CODE[msg.role], 'role');
      w.str(msg.hostId, 'hostId');
      w.u32(msg.epoch, 'epoch');
      break;
    case 'Welcome':
      w.u32(msg.epoch, 'epoch');
      w.u32(msg.leaseMs, 'leaseMs');
      break;
    case 'LogSyn':
      writeSyn(w, msg);
      break;
    case 'SynStored':
    case 'ConnClosed':
      w.u32(msg.conn, 'conn');
      break;
    case 'LogData':
    case 'ReplayData':
      w.u32(msg.conn, 'conn');
      w.u32(msg.seq, 'seq');
      w.bool(msg.fin);
      w.bytes32(msg.payload, MAX_DATA_PAYLOAD, 'payload');
      break;
    case 'DataStored':
      w.u32(msg.conn, 'conn');
      w.u32(msg.stableSeq, 'stableSeq');
      w.bool(msg.finLogged);
      break;
    case 'LogDeterminant':
    case 'ReplayDeterminant':
      w.uint53(msg.detSeq, 'detSeq');
      writeDet(w, msg.det);
      break;
    case 'DetStored':
      w.uint53(msg.stableDet, 'stableDet');
      break;
    case 'CloseLogged':
      w.u32(msg.clientAddr, 'clientAddr');
      w.u16(msg.clientPort, 'clientPort');
      w.u8(HOW_CODE[msg.how], 'how');
      w.uint53(msg.offset, 'offset');
      break;
    case 'ClientAcked':
      w.u32(msg.conn, 'conn');
      w.u32(msg.clientAck, 'clientAck');
      break;
    case 'Heartbeat':
      w.u32(msg.seq, 'seq');
      w.f64(msg.sentMs, 'sentMs');
      break;
    case 'HeartbeatAck':
      w.u32(msg.seq, 'seq');
      w.u32(msg.leaseMs, 'leaseMs');
      break;
    case 'Fence':
      w.u32(msg.newEpoch, 'newEpoch');
      break;
    case 'Fenced':
      w.u32(msg.epoch, 'epoch');
      break;
    case 'FetchLog':
      w.u8(WHAT_CODE[msg.what], 'what');
      break;
    case 'ReplaySyn':
      writeSyn(w, msg);
      w.bool(msg.clientAck !== null);
      w.u32(msg.clientAck ?? 0, 'clientAck');
      break;
    case 'ReplayEnd':
      w.u32(msg.conns, 'conns');
      w.uint53(msg.bytes, 'bytes');
      w.uint53(msg.dets, 'dets');
      break;
    case 'Capabilities':
      w.u32(
        (msg.checkpoints ? CAP_CHECKPOINTS : 0) | (msg.unrecorded ? CAP_UNRECORDED : 0),
        'flags',
      );
      break;
    case 'ConnEstablished':
    case 'ConnDone':
      w.u32(msg.conn, 'conn');
      break;
    case 'ReplayResume':
      w.u32(msg.conn, 'conn');
      w.uint53(msg.readOffset, 'readOffset');
      w.uint53(msg.outputFrom, 'outputFrom');
      w.uint53(msg.end, 'end');
      break;
    case 'CheckpointBegin':
      w.uint53(msg.ckptId, 'ckptId');
      w.uint53(msg.detSeq, 'detSeq');
      w.u32(msg.conns, 'conns');
      w.uint53(msg.blobBytes, 'blobBytes');
      break;
    case 'CheckpointConn':
      w.uint53(msg.ckptId, 'ckptId');
      w.u32(msg.nswConn, 'nswConn');
      w.u32(msg.clientAddr, 'clientAddr');
      w.u16(msg.clientPort, 'clientPort');
      w.uint53(msg.readOffset, 'readOffset');
      w.bool(msg.eof);
      w.uint53(msg.writeOffset, 'writeOffset');
      assertField(msg.outputFrom <= msg.writeOffset, 'outputFrom (> writeOffset)', msg.outputFrom);
      w.uint53(msg.outputFrom, 'outputFrom');
      w.u8(msg.close === null ? 0 : HOW_CODE[msg.close], 'close');
      w.bool(msg.done);
      break;
    case 'CheckpointData':
      w.uint53(msg.ckptId, 'ckptId');
      w.uint53(msg.offset, 'offset');
      w.bytes32(msg.data, MAX_CHECKPOINT_CHUNK, 'data');
      break;
    case 'CheckpointEnd':
      w.uint53(msg.ckptId, 'ckptId');
      break;
    case 'CheckpointStored':
      w.uint53(msg.ckptId, 'ckptId');
      w.uint53(msg.detSeq, 'detSeq');
      break;
    case 'CheckpointRejected':
      w.uint53(msg.ckptId, 'ckptId');
      w.u8(JREASON_CODE[msg.reason], 'reason');
      w.str(msg.detail, 'detail');
      break;
    case 'CheckpointWanted':
      w.u8(WREASON_CODE[msg.reason], 'reason');
      w.u8(LIMIT_CODE[msg.limit], 'limit');
      w.uint53(msg.used, 'used');
      w.uint53(msg.max, 'max');
      break;
    case 'CheckpointRefused':
      w.u8(RREASON_CODE[msg.reason], 'reason');
      w.str(msg.detail, 'detail');
      break;
    case 'Unprotected':
      w.u8(SCOPE_CODE[msg.scope], 'scope');
      assertField(msg.scope === 'conn' || msg.conn === 0, 'conn (app scope)', msg.conn);
      w.u32(msg.conn, 'conn');
      w.u8(UREASON_CODE[msg.reason], 'reason');
      w.str(msg.detail, 'detail');
      break;
    case 'Error':
      w.str(msg.code, 'code');
      w.str(msg.message, 'message');
      break;
  }
  const body = w.finish();
  assertField(body.length <= MAX_MESSAGE_BODY, `${msg.kind} body length`, body.length);
  return body;
}

/** Decodes the body of a frame of the given type; never throws. */
export function decodeBody(type: number, body: Uint8Array): Result<LoggerMessage, MessageError> {
  const kind = kindOfType(type);
  if (kind === undefined) {
    return err({
      kind: 'unknownType',
      type,
      offset: 0,
      detail: `frame type 0x${type.toString(16)}`,
    });
  }
  if (body.length > MAX_MESSAGE_BODY) {
    return err({
      kind: 'oversize',
      type,
      offset: 0,
      detail: `${body.length} > ${MAX_MESSAGE_BODY}`,
    });
  }
  const r = new Reader(body, type);
  switch (kind) {
    case 'Hello':
      return r.done({
        kind,
        role: r.enumOf(ROLE_OF, 'ssw', 'role'),
        hostId: r.str('hostId'),
        epoch: r.u32('epoch'),
      });
    case 'Welcome':
      return r.done({ kind, epoch: r.u32('epoch'), leaseMs: r.u32('leaseMs') });
    case 'LogSyn':
      return r.done({ kind, ...readSyn(r) });
    case 'SynStored':
    case 'ConnClosed':
      return r.done({ kind, conn: r.u32('conn') });
    case 'LogData':
    case 'ReplayData': {
      const conn = r.u32('conn');
      const seq = r.u32('seq');
      const fin = r.bool('fin');
      return r.done({ kind, conn, seq, payload: r.bytes32(MAX_DATA_PAYLOAD, 'payload'), fin });
    }
    case 'DataStored':
      return r.done({
        kind,
        conn: r.u32('conn'),
        stableSeq: r.u32('stableSeq'),
        finLogged: r.bool('finLogged'),
      });
    case 'LogDeterminant':
    case 'ReplayDeterminant':
      return r.done({ kind, detSeq: r.uint53('detSeq'), det: readDet(r) });
    case 'DetStored':
      return r.done({ kind, stableDet: r.uint53('stableDet') });
    case 'CloseLogged':
      return r.done({
        kind,
        clientAddr: r.u32('clientAddr'),
        clientPort: r.u16('clientPort'),
        how: r.enumOf(HOW_OF, 'end', 'how'),
        offset: r.uint53('offset'),
      });
    case 'ClientAcked':
      return r.done({ kind, conn: r.u32('conn'), clientAck: r.u32('clientAck') });
    case 'Heartbeat':
      return r.done({ kind, seq: r.u32('seq'), sentMs: r.f64('sentMs') });
    case 'HeartbeatAck':
      return r.done({ kind, seq: r.u32('seq'), leaseMs: r.u32('leaseMs') });
    case 'Fence':
      return r.done({ kind, newEpoch: r.u32('newEpoch') });
    case 'Fenced':
      return r.done({ kind, epoch: r.u32('epoch') });
    case 'FetchLog':
      return r.done({ kind, what: r.enumOf(WHAT_OF, 'ssw', 'what') });
    case 'ReplaySyn': {
      const syn = readSyn(r);
      const known = r.bool('clientAck.present');
      const ackAt = r.off;
      const ack = r.u32('clientAck');
      if (!known && ack !== 0) {
        r.off = ackAt;
        r.fail('badValue', 'clientAck set but absent');
      }
      return r.done({ kind, ...syn, clientAck: known ? ack : null });
    }
    case 'ReplayEnd':
      return r.done({
        kind,
        conns: r.u32('conns'),
        bytes: r.uint53('bytes'),
        dets: r.uint53('dets'),
      });
    case 'Capabilities': {
      const flags = r.u32('flags');
      if (r.error === undefined && (flags & ~CAP_KNOWN) !== 0) {
        r.off -= 4;
        r.fail('badValue', `flags: reserved bits 0x${(flags & ~CAP_KNOWN).toString(16)}`);
      }
      return r.done({
        kind,
        checkpoints: (flags & CAP_CHECKPOINTS) !== 0,
        unrecorded: (flags & CAP_UNRECORDED) !== 0,
      });
    }
    case 'ConnEstablished':
    case 'ConnDone':
      return r.done({ kind, conn: r.u32('conn') });
    case 'ReplayResume':
      return r.done({
        kind,
        conn: r.u32('conn'),
        readOffset: r.uint53('readOffset'),
        outputFrom: r.uint53('outputFrom'),
        end: r.uint53('end'),
      });
    case 'CheckpointBegin':
      return r.done({
        kind,
        ckptId: r.uint53('ckptId'),
        detSeq: r.uint53('detSeq'),
        conns: r.u32('conns'),
        blobBytes: r.uint53('blobBytes'),
      });
    case 'CheckpointConn': {
      const ckptId = r.uint53('ckptId');
      const nswConn = r.u32('nswConn');
      const clientAddr = r.u32('clientAddr');
      const clientPort = r.u16('clientPort');
      const readOffset = r.uint53('readOffset');
      const eof = r.bool('eof');
      const writeOffset = r.uint53('writeOffset');
      const fromAt = r.off;
      const outputFrom = r.uint53('outputFrom');
      if (r.error === undefined && outputFrom > writeOffset) {
        r.off = fromAt;
        r.fail('badValue', `outputFrom ${outputFrom} > writeOffset ${writeOffset}`);
      }
      const closeAt = r.off;
      const closeCode = r.u8('close');
      let close: CloseHow | null = null;
      if (r.error === undefined && closeCode !== 0) {
        const how = HOW_OF.get(closeCode);
        if (how === undefined) {
          r.off = closeAt;
          r.fail('badEnum', `close: ${closeCode}`);
        } else close = how;
      }
      const done = r.bool('done');
      return r.done({
        kind,
        ckptId,
        nswConn,
        clientAddr,
        clientPort,
        readOffset,
        eof,
        writeOffset,
        outputFrom,
        close,
        done,
      });
    }
    case 'CheckpointData': {
      const ckptId = r.uint53('ckptId');
      const offset = r.uint53('offset');
      return r.done({ kind, ckptId, offset, data: r.bytes32(MAX_CHECKPOINT_CHUNK, 'data') });
    }
    case 'CheckpointEnd':
      return r.done({ kind, ckptId: r.uint53('ckptId') });
    case 'CheckpointStored':
      return r.done({ kind, ckptId: r.uint53('ckptId'), detSeq: r.uint53('detSeq') });
    case 'CheckpointRejected':
      return r.done({
        kind,
        ckptId: r.uint53('ckptId'),
        reason: r.enumOf(JREASON_OF, 'tooLarge', 'reason'),
        detail: r.str('detail'),
      });
    case 'CheckpointWanted':
      return r.done({
        kind,
        reason: r.enumOf(WREASON_OF, 'highWater', 'reason'),
        limit: r.enumOf(LIMIT_OF, 'bytes', 'limit'),
        used: r.uint53('used'),
        max: r.uint53('max'),
      });
    case 'CheckpointRefused':
      return r.done({
        kind,
        reason: r.enumOf(RREASON_OF, 'failed', 'reason'),
        detail: r.str('detail'),
      });
    case 'Unprotected': {
      const scope = r.enumOf(SCOPE_OF, 'app', 'scope');
      const connAt = r.off;
      const conn = r.u32('conn');
      if (r.error === undefined && scope === 'app' && conn !== 0) {
        r.off = connAt;
        r.fail('badValue', `conn ${conn} with scope app (must be 0)`);
      }
      return r.done({
        kind,
        scope,
        conn,
        reason: r.enumOf(UREASON_OF, 'storeFull', 'reason'),
        detail: r.str('detail'),
      });
    }
    case 'Error':
      return r.done({ kind, code: r.str('code'), message: r.str('message') });
  }
}

/** The frame fields the body codec needs; src/wire/frame.ts's decoded frame has them. */
export interface MessageFrame {
  readonly type: number;
  readonly flags: number;
  readonly body: Uint8Array;
}

/** A whole frame (header + body) carrying `msg` in `epoch`. */
export function encodeMessage(msg: LoggerMessage, epoch: number): Uint8Array {
  return encodeFrame({ type: MESSAGE_TYPE[msg.kind], flags: 0, epoch, body: encodeBody(msg) });
}

/**
 * The message a decoded frame carries. Never throws. The frame's epoch is not part of the
 * message: the receiver compares it with its own epoch (R8) before it looks at the body.
 */
export function decodeMessage(frame: MessageFrame): Result<LoggerMessage, MessageError> {
  if (frame.flags !== 0) {
    return err({
      kind: 'reservedFlags',
      type: frame.type,
      offset: 0,
      detail: `frame flags 0x${frame.flags.toString(16)}; none is defined`,
    });
  }
  return decodeBody(frame.type, frame.body);
}

/** A short human-readable rendering (payloads and random bytes by length only). */
export function describeMessage(msg: LoggerMessage): string {
  const fields = Object.entries(msg)
    .filter(([k]) => k !== 'kind')
    .map(([k, v]) => `${k}=${describeValue(v)}`)
    .join(' ');
  return fields === '' ? msg.kind : `${msg.kind} ${fields}`;
}

const describeValue = (v: unknown): string => {
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.entries(v)
      .map(([k, x]) => `${k}:${describeValue(x)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
};
