// The project's one reader of newline-delimited text: NDJSON timelines on the daemons' stdout,
// the control channel between the recovery daemon and the SSW, a child's stderr. Chunks in
// (split anywhere, multi-byte characters included), whole lines out, the unterminated tail
// kept for the next chunk and bounded, so a peer that never sends '\n' cannot grow it without
// limit. Plus the one NDJSON line parser, which never throws.

import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/** What `onLine` returns to stop the reader (the rest of the chunk is dropped, e.g. on a malformed line). */
export const STOP = 'stop';

export type LineHandler = (line: string) => void | typeof STOP;

export class LineReader {
  private buf = '';
  private readonly decoder = new StringDecoder('utf8');
  private stopped = false;

  /** `maxPending`: the longest unterminated tail held (characters); beyond it `push` says 'overlong'. */
  constructor(
    private readonly onLine: LineHandler,
    private readonly maxPending = Number.POSITIVE_INFINITY,
  ) {}

  /**
   * Feeds a chunk; calls `onLine` for each complete line, in order, without its '\n'.
   * 'overlong' when the tail passes `maxPending` (nothing is held
   * then); 'stopped' once `onLine` returned STOP (nothing more is read).
   */
  push(chunk: string | Buffer): 'ok' | 'overlong' | 'stopped' {
    if (this.stopped) return 'stopped';
    this.buf += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    if (this.buf.length > this.maxPending && !this.buf.includes('\n')) {
      this.buf = '';
      return 'overlong';
    }
    let start = 0;
    let nl = this.buf.indexOf('\n');
    while (nl >= 0) {
      if (this.onLine(this.buf.slice(start, nl)) === STOP) {
        this.stopped = true;
        this.buf = '';
        return 'stopped';
      }
      start = nl + 1;
      nl = this.buf.indexOf('\n', start);
    }
    this.buf = this.buf.slice(start);
    return 'ok';
  }

  /** The end of the stream: an unterminated last line is a line too. */
  end(): void {
    if (this.stopped) return;
    this.buf += this.decoder.end();
    const last = this.buf;
    this.buf = '';
    if (last !== '') this.onLine(last);
  }

  /** Forgets a partial line (a reconnected stream starts afresh). */
  reset(): void {
    this.buf = '';
    this.stopped = false;
  }
}

/** Calls `onLine` for every line of `stream`, the unterminated last one included. */
export function readLines(stream: Readable, onLine: (line: string) => void): void {
  const r = new LineReader(onLine);
  stream.on('data', (d: Buffer | string) => r.push(d));
  stream.on('end', () => r.end());
}

export type NdjsonLine =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: string };

/** One NDJSON line: its JSON value, or why it is not one. */
export function parseNdjsonLine(line: string): NdjsonLine {
  try {
    return { ok: true, value: JSON.parse(line) as unknown };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** One NDJSON line that must hold an object (a timeline event, a control message). */
export function parseNdjsonObject(line: string): Record<string, unknown> | undefined {
  const r = parseNdjsonLine(line);
  return r.ok && typeof r.value === 'object' && r.value !== null && !Array.isArray(r.value)
    ? (r.value as Record<string, unknown>)
    : undefined;
}
