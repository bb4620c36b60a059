// Logger-link frames built on the SSW's data-path thread, so that what crosses to the main
// thread is one transferred byte buffer per poll round instead of a structured clone of every
// message (each LogData carries a client segment), and the main thread only writes it to the
// logger socket. A local adapter over the wire codecs: the body is `encodeBody`
// (src/wire/logmsg.ts); the header layout is src/wire/frame.ts's, and the CRC is the same
// IEEE CRC-32 (header with its crc field zero, then the body), the wire's (native zlib).
// test/runtime/ssw-frames.test.ts checks every frame against the wire's FrameDecoder.
import { crc32 } from '../../wire/crc32.ts';
import { FRAME_HEADER_LEN, FRAME_VERSION, MAX_FRAME_BODY } from '../../wire/frame.ts';
import { encodeBody, type LoggerMessage, MESSAGE_TYPE } from '../../wire/logmsg.ts';

/** Start size of the batch buffer; it doubles as needed up to the frame limit plus this. */
const INITIAL_BYTES = 256 * 1024;

export class FrameBatch {
  private buf = new Uint8Array(INITIAL_BYTES);
  private view = new DataView(this.buf.buffer);
  private len = 0;
  private n = 0;

  /** Bytes held (the caller flushes early above its own bound). */
  get bytes(): number {
    return this.len;
  }

  /** Frames held. */
  get count(): number {
    return this.n;
  }

  append(msg: LoggerMessage, epoch: number): void {
    const body = encodeBody(msg);
    // The same refusal as encodeFrame: an over-limit frame would poison the link.
    if (body.length > MAX_FRAME_BODY) throw new RangeError(`frame body ${body.length} too long`);
    const need = this.len + FRAME_HEADER_LEN + body.length;
    if (need > this.buf.length) this.grow(need);
    const off = this.len;
    const v = this.view;
    this.buf[off] = FRAME_VERSION;
    this.buf[off + 1] = MESSAGE_TYPE[msg.kind];
    v.setUint16(off + 2, 0);
    v.setUint32(off + 4, epoch >>> 0);
    v.setUint32(off + 8, body.length);
    v.setUint32(off + 12, 0);
    this.buf.set(body, off + FRAME_HEADER_LEN);
    v.setUint32(off + 12, crc32(this.buf.subarray(off, need)));
    this.len = need;
    this.n++;
  }

  /** The frames appended since the last take, in a buffer of their own (transferable). */
  take(): Uint8Array | undefined {
    if (this.len === 0) return undefined;
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    this.n = 0;
    return out;
  }

  private grow(need: number): void {
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
    this.view = new DataView(b.buffer);
  }
}
