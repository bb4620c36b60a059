// The SSW data-path thread frames logger messages itself (src/runtime/ssw/frames.ts, native
// CRC): its bytes must be exactly the wire's encodeMessage bytes, and decode back through the
// wire's FrameDecoder, whatever the batch size and however the buffer had to grow.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameBatch } from '../../src/runtime/ssw/frames.ts';
import { FrameDecoder } from '../../src/wire/frame.ts';
import { decodeMessage, encodeMessage, type LoggerMessage } from '../../src/wire/logmsg.ts';

const opts = { mss: 1460, wscale: 7, sackOk: true, tsVal: 100, tsEcr: null };
const fixed: LoggerMessage[] = [
  {
    kind: 'LogSyn',
    conn: 7,
    clientAddr: 0xc612000a,
    clientPort: 40001,
    serverAddr: 0xc6120064,
    serverPort: 7,
    clientIsn: 0xfffffff0,
    serverIsn: 1000,
    clientOpts: opts,
    serverOpts: { ...opts, tsEcr: 100 },
    synTimeMs: 12,
  },
  { kind: 'LogData', conn: 7, seq: 0xfffffff1, payload: new Uint8Array([1, 2, 3]), fin: false },
  { kind: 'LogData', conn: 7, seq: 2, payload: new Uint8Array(0), fin: true },
  { kind: 'ClientAcked', conn: 7, clientAck: 1001 },
  { kind: 'ConnClosed', conn: 7 },
  { kind: 'FetchLog', what: 'ssw' },
];

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};

const decodeAll = (bytes: Uint8Array): LoggerMessage[] => {
  const r = new FrameDecoder().push(bytes);
  if (!r.ok) throw new Error(`frame error ${r.error.kind}`);
  return r.value.map((f) => {
    const m = decodeMessage(f);
    if (!m.ok) throw new Error(`message error ${m.error.kind}`);
    return m.value;
  });
};

describe('FrameBatch (SSW data-path framing)', () => {
  it('gives the wire encoding byte for byte, with the epoch given', () => {
    const b = new FrameBatch();
    for (const m of fixed) b.append(m, 3);
    expect(b.count).toBe(fixed.length);
    const bytes = b.take();
    expect(bytes).toEqual(concat(fixed.map((m) => encodeMessage(m, 3))));
    expect(decodeAll(bytes ?? new Uint8Array(0))).toEqual(fixed);
    expect(b.take()).toBeUndefined();
    expect(b.count).toBe(0);
  });

  it('matches the wire for arbitrary LogData batches', () => {
    const seed = 0x5eed2;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            conn: fc.nat({ max: 0xffffffff }),
            seq: fc.nat({ max: 0xffffffff }),
            len: fc.integer({ min: 0, max: 3000 }),
            fin: fc.boolean(),
            fill: fc.nat({ max: 255 }),
          }),
          { maxLength: 8 },
        ),
        fc.nat({ max: 0xffffffff }),
        (segs, epoch) => {
          const msgs: LoggerMessage[] = segs.map((s) => ({
            kind: 'LogData',
            conn: s.conn,
            seq: s.seq,
            payload: new Uint8Array(s.len).map((_, i) => (s.fill + i) & 0xff),
            fin: s.fin,
          }));
          const b = new FrameBatch();
          for (const m of msgs) b.append(m, epoch);
          const bytes = b.take() ?? new Uint8Array(0);
          expect(bytes).toEqual(concat(msgs.map((m) => encodeMessage(m, epoch))));
          expect(decodeAll(bytes)).toEqual(msgs);
        },
      ),
      { seed, numRuns: 40 },
    );
  });

  it('grows past its first buffer (many segments, then one larger than twice the buffer)', () => {
    const msgs: LoggerMessage[] = Array.from({ length: 200 }, (_, i) => ({
      kind: 'LogData',
      conn: 1,
      seq: i * 1448,
      payload: new Uint8Array(1448).fill(i & 0xff),
      fin: false,
    }));
    msgs.push({ kind: 'LogData', conn: 1, seq: 0, payload: new Uint8Array(600_000), fin: false });
    const b = new FrameBatch();
    for (const m of msgs) b.append(m, 1);
    const bytes = b.take() ?? new Uint8Array(0);
    expect(bytes.length).toBe(msgs.reduce((n, m) => n + encodeMessage(m, 1).length, 0));
    expect(Buffer.compare(bytes, concat(msgs.map((m) => encodeMessage(m, 1))))).toBe(0);
    expect(decodeAll(bytes).length).toBe(msgs.length);
  });
});
