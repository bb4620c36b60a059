// The RESP request parser of the KV example: pipelining, chunking, inline commands, limits,
// and hostile bytes (a typed RespProtocolError, never anything else).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_BULK_BYTES,
  RespParser,
  RespProtocolError,
  splitInline,
} from '../../src/runtime/examples/resp.ts';

const mb = (...args: string[]) =>
  `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
const strs = (cmds: Buffer[][]) => cmds.map((c) => c.map((b) => b.toString('latin1')));

describe('RespParser', () => {
  it('returns every pipelined command in order, however the bytes are chunked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.string({ maxLength: 20 }), { minLength: 1, maxLength: 4 }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 50 }),
        (cmds, cuts) => {
          const wire = Buffer.from(cmds.map((c) => mb(...c)).join(''), 'utf8');
          const p = new RespParser();
          const got: Buffer[][] = [];
          let pos = 0;
          let i = 0;
          while (pos < wire.length) {
            const n = cuts[i++ % cuts.length]!;
            got.push(...p.push(wire.subarray(pos, pos + n)));
            pos += n;
          }
          expect(got.map((c) => c.map((b) => b.toString('utf8')))).toEqual(cmds);
          expect(p.buffered).toBe(0);
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });

  it('parses inline commands with quotes, mixed with multibulk', () => {
    const p = new RespParser();
    expect(
      strs(p.push(Buffer.from(`PING\r\nSET k "a b"\n${mb('GET', 'k')}ECHO 'x y'\r\n\r\n`))),
    ).toEqual([['PING'], ['SET', 'k', 'a b'], ['GET', 'k'], ['ECHO', 'x y']]);
    expect(splitInline('"a\\nb" c')).toEqual(['a\nb', 'c']);
    expect(() => splitInline('"open')).toThrow(RespProtocolError);
  });

  it('refuses oversize and malformed requests with a typed error', () => {
    expect(() => new RespParser().push(Buffer.from(`*1\r\n$${MAX_BULK_BYTES + 1}\r\n`))).toThrow(
      RespProtocolError,
    );
    expect(() => new RespParser().push(Buffer.from('*1\r\n+OK\r\n'))).toThrow(RespProtocolError);
    expect(() => new RespParser().push(Buffer.from('*x\r\n'))).toThrow(RespProtocolError);
    expect(() => new RespParser().push(Buffer.from('*1\r\n$3\r\nabcXY'))).toThrow(
      RespProtocolError,
    );
    expect(() => new RespParser().push(Buffer.alloc(70 * 1024, 0x41))).toThrow(RespProtocolError);
  });

  it('arbitrary bytes either parse or raise RespProtocolError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          new RespParser().push(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(RespProtocolError);
        }
      }),
      { seed: 7, numRuns: 500 },
    );
  });
});
