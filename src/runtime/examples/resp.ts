// RESP2 (Redis serialization protocol) for the example key-value server: an incremental
// request parser that accepts both multibulk (`*N\r\n$len\r\n...`) and inline commands
// (`PING\r\n`, what `redis-cli` sends when piped plain text and what telnet users type),
// and reply encoders. Pipelining falls out of the parser: it returns every complete command
// in the buffer, in order, and keeps the incomplete tail.
//
// Limits are explicit (a hostile client must not make the server buffer without bound) and a
// violation is a typed protocol error: the server replies `-ERR Protocol error: ...` and closes
// the connection, which is what Redis does.

export const MAX_INLINE_BYTES = 64 * 1024;
export const MAX_MULTIBULK_ARGS = 1024 * 1024;
export const MAX_BULK_BYTES = 16 * 1024 * 1024;

export class RespProtocolError extends Error {
  override readonly name = 'RespProtocolError';
}

const CR = 0x0d;
const LF = 0x0a;

/** Incremental parser for one connection. */
export class RespParser {
  private buf: Buffer = Buffer.alloc(0);

  /** Append bytes; return every complete command (each an array of arguments). Throws RespProtocolError. */
  push(chunk: Uint8Array): Buffer[][] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const out: Buffer[][] = [];
    let pos = 0;
    for (;;) {
      if (pos >= this.buf.length) break;
      const r = this.buf[pos] === 0x2a /* '*' */ ? this.parseMultibulk(pos) : this.parseInline(pos);
      if (r === undefined) break;
      pos = r.next;
      if (r.args.length > 0) out.push(r.args);
    }
    this.buf = pos === 0 ? this.buf : this.buf.subarray(pos);
    return out;
  }

  get buffered(): number {
    return this.buf.length;
  }

  /** spec/nsw.md R13.8: the bytes of an incomplete command (a checkpoint carries them). */
  get pending(): Uint8Array {
    return this.buf;
  }

  /** R13.8: continue from a checkpoint's incomplete command. */
  restorePending(bytes: Uint8Array): void {
    this.buf = Buffer.from(bytes);
  }

  private parseInline(pos: number): { args: Buffer[]; next: number } | undefined {
    const nl = this.buf.indexOf(LF, pos);
    if (nl < 0) {
      if (this.buf.length - pos > MAX_INLINE_BYTES)
        throw new RespProtocolError('too big inline request');
      return undefined;
    }
    const end = nl > pos && this.buf[nl - 1] === CR ? nl - 1 : nl;
    const line = this.buf.subarray(pos, end).toString('latin1');
    return { args: splitInline(line).map((s) => Buffer.from(s, 'latin1')), next: nl + 1 };
  }

  private parseMultibulk(pos: number): { args: Buffer[]; next: number } | undefined {
    const head = this.readLine(pos, '*');
    if (head === undefined) return undefined;
    const n = head.value;
    if (n > MAX_MULTIBULK_ARGS) throw new RespProtocolError('invalid multibulk length');
    let p = head.next;
    const args: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      if (p >= this.buf.length) return undefined;
      if (this.buf[p] !== 0x24 /* '$' */) {
        throw new RespProtocolError(`expected '$', got '${String.fromCharCode(this.buf[p]!)}'`);
      }
      const len = this.readLine(p, '$');
      if (len === undefined) return undefined;
      if (len.value > MAX_BULK_BYTES) throw new RespProtocolError('invalid bulk length');
      const start = len.next;
      const end = start + len.value;
      if (end + 2 > this.buf.length) return undefined;
      if (this.buf[end] !== CR || this.buf[end + 1] !== LF)
        throw new RespProtocolError('bulk not terminated by CRLF');
      // Copy: the parser's buffer is reused, and the store keeps values.
      args.push(Buffer.from(this.buf.subarray(start, end)));
      p = end + 2;
    }
    return { args, next: p };
  }

  /** `<prefix><int>\r\n` at pos; undefined if incomplete. */
  private readLine(pos: number, prefix: string): { value: number; next: number } | undefined {
    const nl = this.buf.indexOf(LF, pos);
    if (nl < 0) {
      if (this.buf.length - pos > 32) throw new RespProtocolError(`invalid ${prefix} header`);
      return undefined;
    }
    if (nl - 1 <= pos || this.buf[nl - 1] !== CR)
      throw new RespProtocolError(`invalid ${prefix} header`);
    const text = this.buf.subarray(pos + 1, nl - 1).toString('latin1');
    if (!/^-?\d{1,19}$/.test(text))
      throw new RespProtocolError(`invalid ${prefix} length '${text}'`);
    const value = Number(text);
    // `*-1` / `*0` are legal and mean "no command"; negative bulk lengths are not.
    if (value < 0 && prefix === '$') throw new RespProtocolError('invalid bulk length');
    return { value: Math.max(0, value), next: nl + 1 };
  }
}

/** Split an inline command like Redis does: whitespace-separated, double/single quotes group. */
export function splitInline(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i++;
    if (i >= line.length) break;
    const q = line[i];
    if (q === '"' || q === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= line.length) throw new RespProtocolError('unbalanced quotes in request');
        const c = line[i]!;
        if (c === q) {
          i++;
          break;
        }
        if (c === '\\' && q === '"' && i + 1 < line.length) {
          const n = line[i + 1]!;
          s += n === 'n' ? '\n' : n === 'r' ? '\r' : n === 't' ? '\t' : n;
          i += 2;
          continue;
        }
        s += c;
        i++;
      }
      out.push(s);
    } else {
      let s = '';
      while (i < line.length && !/\s/.test(line[i]!)) s += line[i++];
      out.push(s);
    }
  }
  return out;
}

// Reply encoders. Buffers, because values are binary-safe.
export const simple = (s: string): Buffer => Buffer.from(`+${s}\r\n`, 'latin1');
export const error = (s: string): Buffer => Buffer.from(`-${s}\r\n`, 'latin1');
export const integer = (n: number): Buffer => Buffer.from(`:${n}\r\n`, 'latin1');
export const NIL = Buffer.from('$-1\r\n', 'latin1');
export const OK = simple('OK');
export const bulk = (b: Buffer | string): Buffer => {
  const v = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  return Buffer.concat([
    Buffer.from(`$${v.length}\r\n`, 'latin1'),
    v,
    Buffer.from('\r\n', 'latin1'),
  ]);
};
export const array = (items: Buffer[]): Buffer =>
  Buffer.concat([Buffer.from(`*${items.length}\r\n`, 'latin1'), ...items]);
