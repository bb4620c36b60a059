// The one reader of newline-delimited text (src/runtime/common/lines.ts): whole lines whatever
// the chunking, multi-byte characters split across chunks, a bound on the unterminated tail,
// a handler that stops it, the last line at the end of the stream; the NDJSON parser never
// throws.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LineReader,
  parseNdjsonLine,
  parseNdjsonObject,
  STOP,
} from '../../src/runtime/common/lines.ts';

const SEED = Number(process.env.FC_SEED ?? 0x11e5);

describe('LineReader', () => {
  it('gives the same lines however the bytes are cut (multi-byte characters included)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ unit: 'binary' }).map((s) => s.replaceAll('\n', '')),
          {
            maxLength: 8,
          },
        ),
        fc.array(fc.nat(), { maxLength: 10 }),
        (lines, cuts) => {
          const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8');
          const got: string[] = [];
          const r = new LineReader((l) => {
            got.push(l);
          });
          let at = 0;
          for (const c of cuts) {
            const to = Math.min(bytes.length, at + (c % 7));
            expect(r.push(bytes.subarray(at, to))).toBe('ok');
            at = to;
          }
          r.push(bytes.subarray(at));
          r.end();
          expect(got).toEqual(lines);
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('an unterminated last line is given at the end of the stream', () => {
    const got: string[] = [];
    const r = new LineReader((l) => {
      got.push(l);
    });
    r.push('a\nb');
    expect(got).toEqual(['a']);
    r.end();
    expect(got).toEqual(['a', 'b']);
  });

  it('refuses a tail longer than its bound, and holds nothing then', () => {
    const got: string[] = [];
    const r = new LineReader((l) => {
      got.push(l);
    }, 8);
    expect(r.push('12345678')).toBe('ok');
    expect(r.push('9')).toBe('overlong');
    expect(r.push('x\n')).toBe('ok');
    expect(got).toEqual(['x']);
    // A complete line is not the tail: what is bounded is what the reader must hold.
    expect(r.push('a long complete line\n')).toBe('ok');
  });

  it('stops at STOP: the rest of the chunk and later chunks are not read until reset', () => {
    const got: string[] = [];
    const r = new LineReader((l) => {
      got.push(l);
      return l === 'bad' ? STOP : undefined;
    });
    expect(r.push('a\nbad\nc\n')).toBe('stopped');
    expect(r.push('d\n')).toBe('stopped');
    expect(got).toEqual(['a', 'bad']);
    r.reset();
    expect(r.push('e\n')).toBe('ok');
    expect(got).toEqual(['a', 'bad', 'e']);
  });
});

describe('parseNdjsonLine', () => {
  it('never throws; objects only for parseNdjsonObject', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const r = parseNdjsonLine(s);
        expect(typeof r.ok).toBe('boolean');
        parseNdjsonObject(s);
      }),
      { seed: SEED, numRuns: 300 },
    );
    expect(parseNdjsonLine('{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseNdjsonLine('{').ok).toBe(false);
    expect(parseNdjsonObject('[1]')).toBeUndefined();
    expect(parseNdjsonObject('3')).toBeUndefined();
    expect(parseNdjsonObject('{"event":"live"}')).toEqual({ event: 'live' });
  });
});
