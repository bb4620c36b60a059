// Logger-link framing (notes/MESSAGES.md, spec/messages.md). Every message is one frame:
//
//   0       1       2               4               8               12              16
//   | ver   | type  | flags (u16)   | epoch (u32)   | length (u32)  | crc32 (u32)   | body...
//
// all big-endian; crc32 is IEEE CRC-32 over the 16-byte header with the crc field zeroed,
// then the body. The message body codec (logmsg.ts) sits on top and maps `type` to a kind.
// The link is a TCP byte stream, so the decoder must cope with frames split across reads
// and several frames in one read.

import { get16, get32, set16, set32 } from './bytes.ts';
import { crc32 } from './crc32.ts';
import { assertWire, type Result, type WireError } from './result.ts';

export const FRAME_VERSION = 1;
export const FRAME_HEADER_LEN = 16;
/** Explicit bound on a body: a corrupt or hostile length must not make us buffer gigabytes. */
export const MAX_FRAME_BODY = 1024 * 1024;

const ZERO4 = new Uint8Array(4);

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly epoch: number;
  /** A subarray of the pushed chunk when the frame arrived whole, else a fresh copy. */
  readonly body: Uint8Array;
}

export type FrameErrorKind =
  | 'badVersion'
  | 'oversize'
  | 'badChecksum'
  | 'truncated'
  | 'badLength'
  | 'poisoned';

export interface FrameError extends WireError {
  readonly kind: FrameErrorKind;
  readonly detail?: string;
  /** Frames decoded from the same push before the error: they were intact and may be used. */
  readonly delivered: readonly Frame[];
}

export interface FrameInput {
  readonly type: number;
  readonly flags?: number;
  readonly epoch: number;
  readonly body: Uint8Array;
}

/** Header and body in one new buffer, ready for `socket.write`. */
export function encodeFrame(f: FrameInput, maxBody = MAX_FRAME_BODY): Uint8Array {
  // Encoding an over-limit frame is a bug in the caller (logmsg must split large payloads):
  // the receiver would refuse it and poison the link, so stop here instead.
  assertWire(f.body.length <= maxBody, `frame body ${f.body.length} > ${maxBody}`);
  assertWire(Number.isInteger(f.type) && f.type >= 0 && f.type <= 0xff, `frame type ${f.type}`);
  const out = new Uint8Array(FRAME_HEADER_LEN + f.body.length);
  out[0] = FRAME_VERSION;
  out[1] = f.type;
  set16(out, 2, f.flags ?? 0);
  set32(out, 4, f.epoch);
  set32(out, 8, f.body.length);
  out.set(f.body, FRAME_HEADER_LEN);
  set32(out, 12, frameCrc(out.subarray(0, FRAME_HEADER_LEN), f.body));
  return out;
}

/** CRC over the header (crc field taken as zero, whatever it holds) and the body. */
const frameCrc = (header: Uint8Array, body: Uint8Array): number =>
  crc32(body, crc32(ZERO4, crc32(header.subarray(0, 12))));

interface Header {
  readonly type: number;
  readonly flags: number;
  readonly epoch: number;
  readonly length: number;
  readonly crc: number;
}

export interface FrameDecoderOptions {
  /** Largest acceptable body; default MAX_FRAME_BODY. */
  readonly maxBody?: number;
}

/**
 * Streaming decoder: feed it every chunk read from the socket, in order.
 *
 * After any error the decoder is poisoned: every later `push` fails with `poisoned`. Framing
 * errors leave the stream position unknown (a corrupt length means we no longer know where the
 * next header starts), and scanning for something header-shaped could decode attacker- or
 * corruption-chosen bytes as a message. The only safe recovery is to close the connection and
 * reconnect, which the logger protocol tolerates (unacknowledged messages are resent).
 */
export class FrameDecoder {
  readonly maxBody: number;
  private readonly hdr = new Uint8Array(FRAME_HEADER_LEN);
  private hdrFill = 0;
  private cur: Header | undefined;
  private body: Uint8Array | undefined;
  private bodyFill = 0;
  private failure: FrameError | undefined;

  constructor(opts: FrameDecoderOptions = {}) {
    this.maxBody = opts.maxBody ?? MAX_FRAME_BODY;
  }

  /** The error that poisoned this decoder, if any. */
  get error(): FrameError | undefined {
    return this.failure;
  }

  /** Bytes of an incomplete frame held between pushes. */
  get buffered(): number {
    return this.hdrFill + this.bodyFill;
  }

  push(chunk: Uint8Array): Result<Frame[], FrameError> {
    if (this.failure !== undefined) return this.poisoned();
    const frames: Frame[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.cur === undefined) {
        // Fast path: a whole header (and maybe the whole frame) in this chunk, nothing pending.
        if (this.hdrFill === 0 && chunk.length - i >= FRAME_HEADER_LEN) {
          const header = chunk.subarray(i, i + FRAME_HEADER_LEN);
          const h = this.readHeader(header, frames);
          if (!h.ok) return h;
          i += FRAME_HEADER_LEN;
          if (chunk.length - i >= h.value.length) {
            const body = chunk.subarray(i, i + h.value.length);
            const f = this.finishFrame(header, h.value, body, frames);
            if (!f.ok) return f;
            frames.push(f.value);
            i += h.value.length;
            continue;
          }
          this.hdr.set(header);
          this.hdrFill = FRAME_HEADER_LEN;
          this.begin(h.value);
          continue;
        }
        const take = Math.min(FRAME_HEADER_LEN - this.hdrFill, chunk.length - i);
        this.hdr.set(chunk.subarray(i, i + take), this.hdrFill);
        this.hdrFill += take;
        i += take;
        if (this.hdrFill < FRAME_HEADER_LEN) break;
        const h = this.readHeader(this.hdr, frames);
        if (!h.ok) return h;
        this.begin(h.value);
      }
      const cur = this.cur;
      const body = this.body;
      if (cur === undefined || body === undefined) continue;
      const take = Math.min(cur.length - this.bodyFill, chunk.length - i);
      body.set(chunk.subarray(i, i + take), this.bodyFill);
      this.bodyFill += take;
      i += take;
      if (this.bodyFill === cur.length) {
        const f = this.finishFrame(this.hdr, cur, body, frames);
        if (!f.ok) return f;
        frames.push(f.value);
        this.reset();
      }
    }
    return { ok: true, value: frames };
  }

  /**
   * Call at end of stream: a partial frame left over means the peer stopped mid-frame.
   * The decoder is poisoned afterwards either way (the stream is over).
   */
  finish(): Result<void, FrameError> {
    if (this.failure !== undefined) return this.poisoned();
    const pending = this.buffered;
    this.failure = {
      kind: 'poisoned',
      detail: 'frame stream finished',
      delivered: [],
    };
    if (pending > 0) {
      return {
        ok: false,
        error: {
          kind: 'truncated',
          detail: `stream ended inside a frame (${pending} bytes)`,
          delivered: [],
        },
      };
    }
    return { ok: true, value: undefined };
  }

  private begin(h: Header): void {
    this.cur = h;
    this.body = new Uint8Array(h.length);
    this.bodyFill = 0;
  }

  private reset(): void {
    this.cur = undefined;
    this.body = undefined;
    this.bodyFill = 0;
    this.hdrFill = 0;
  }

  private readHeader(b: Uint8Array, delivered: Frame[]): Result<Header, FrameError> {
    // Checked as soon as the header is complete, before any body is buffered, so an oversize
    // length is refused without allocating for it.
    if (b[0] !== FRAME_VERSION) return this.fail('badVersion', `frame version ${b[0]}`, delivered);
    const length = get32(b, 8);
    if (length > this.maxBody)
      return this.fail('oversize', `frame body ${length} > ${this.maxBody}`, delivered);
    return {
      ok: true,
      value: { type: b[1]!, flags: get16(b, 2), epoch: get32(b, 4), length, crc: get32(b, 12) },
    };
  }

  private finishFrame(
    header: Uint8Array,
    h: Header,
    body: Uint8Array,
    delivered: Frame[],
  ): Result<Frame, FrameError> {
    const crc = frameCrc(header, body);
    if (crc !== h.crc) {
      return this.fail(
        'badChecksum',
        `frame crc 0x${h.crc.toString(16)} != 0x${crc.toString(16)}`,
        delivered,
      );
    }
    return { ok: true, value: { type: h.type, flags: h.flags, epoch: h.epoch, body } };
  }

  private fail(
    kind: FrameErrorKind,
    detail: string,
    delivered: Frame[],
  ): { ok: false; error: FrameError } {
    const error: FrameError = { kind, detail, delivered: delivered.slice() };
    this.failure = error;
    return { ok: false, error };
  }

  private poisoned(): { ok: false; error: FrameError } {
    const why = this.failure;
    return {
      ok: false,
      error: {
        kind: 'poisoned',
        detail: `decoder failed earlier: ${why?.kind}${why?.detail ? ` (${why.detail})` : ''}`,
        delivered: [],
      },
    };
  }
}

/** Decode exactly one frame occupying all of `buf` (for tests and datagram-like uses). */
export function decodeFrame(buf: Uint8Array, maxBody = MAX_FRAME_BODY): Result<Frame, FrameError> {
  const d = new FrameDecoder({ maxBody });
  const r = d.push(buf);
  if (!r.ok) return r;
  if (r.value.length !== 1 || d.buffered !== 0) {
    const detail =
      r.value.length === 0
        ? `incomplete frame (${buf.length} bytes)`
        : `${r.value.length} frames, ${d.buffered} bytes left`;
    return {
      ok: false,
      error: { kind: r.value.length === 0 ? 'truncated' : 'badLength', detail, delivered: r.value },
    };
  }
  return { ok: true, value: r.value[0]! };
}
