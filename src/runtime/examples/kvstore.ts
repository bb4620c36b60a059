// The key-value store behind examples/kv.ts: executes one RESP command against an in-memory
// map. It is deterministic given its inputs (A2): the only nondeterminism, the clock for key
// expiry, comes in through `now`, which the server wires to `nsw.now()`, so a replayed run
// expires exactly the keys the recorded run expired. The clock is read only when a command
// touches a key with an expiry, so the common path logs no clock determinant at all.

import { array, bulk, error, integer, NIL, OK, simple } from './resp.ts';

export interface KvEnv {
  /** ms since the epoch; the NSW's clock */
  now(): number;
}

export interface KvReply {
  readonly reply: Buffer;
  /** QUIT: send the reply, then close */
  readonly close?: boolean;
}

interface Entry {
  value: Buffer;
  /** absolute expiry in ms since epoch, or undefined */
  expiresAt: number | undefined;
}

/** Explicit limits: a benchmark or a bad client cannot grow the store without bound. */
export const MAX_KEYS = 1_000_000;

/** Argument `i` as text. Module-level: a closure made per command costs a __name call under tsx. */
const arg = (args: readonly Buffer[], i: number): string => args[i]!.toString('latin1');

const wrongArgs = (cmd: string): KvReply => ({
  reply: error(`ERR wrong number of arguments for '${cmd}' command`),
});
const INT_RE = /^-?(0|[1-9]\d{0,18})$/;

export class KvStore {
  private readonly map = new Map<string, Entry>();

  constructor(private readonly env: KvEnv) {}

  get size(): number {
    return this.map.size;
  }

  /**
   * spec/nsw.md R13.8: the whole store as bytes (key, value, expiry per entry, in insertion
   * order so that a restored store iterates as the original did). Reads no clock.
   */
  snapshot(): Uint8Array {
    const parts: Buffer[] = [];
    const head = Buffer.alloc(4);
    head.writeUInt32BE(this.map.size);
    parts.push(head);
    for (const [key, e] of this.map) {
      const k = Buffer.from(key, 'latin1');
      const h = Buffer.alloc(16);
      h.writeUInt32BE(k.length, 0);
      h.writeUInt32BE(e.value.length, 4);
      h.writeDoubleBE(e.expiresAt ?? Number.NaN, 8);
      parts.push(h, k, e.value);
    }
    return Buffer.concat(parts);
  }

  /** R13.8: the store a snapshot describes (replacing this one's); throws on bytes that are not one. */
  restore(bytes: Uint8Array): void {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const bad = (): never => {
      throw new Error('kv snapshot: truncated or corrupt');
    };
    if (b.length < 4) bad();
    const n = b.readUInt32BE(0);
    let o = 4;
    const map = new Map<string, Entry>();
    for (let i = 0; i < n; i++) {
      if (o + 16 > b.length) bad();
      const kl = b.readUInt32BE(o);
      const vl = b.readUInt32BE(o + 4);
      const exp = b.readDoubleBE(o + 8);
      o += 16;
      if (o + kl + vl > b.length) bad();
      const key = b.toString('latin1', o, o + kl);
      const value = Buffer.from(b.subarray(o + kl, o + kl + vl));
      o += kl + vl;
      map.set(key, { value, expiresAt: Number.isNaN(exp) ? undefined : exp });
    }
    if (o !== b.length) bad();
    this.map.clear();
    for (const [k, e] of map) this.map.set(k, e);
  }

  /** Key lookup honouring expiry; reads the clock only for keys that can expire. */
  private live(key: string): Entry | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt !== undefined && this.env.now() >= e.expiresAt) {
      this.map.delete(key);
      return undefined;
    }
    return e;
  }

  private put(key: string, value: Buffer, expiresAt: number | undefined): KvReply | undefined {
    if (!this.map.has(key) && this.map.size >= MAX_KEYS)
      return { reply: error('OOM too many keys') };
    this.map.set(key, { value, expiresAt });
    return undefined;
  }

  execute(args: Buffer[]): KvReply {
    const name = args[0]?.toString('latin1').toLowerCase() ?? '';
    switch (name) {
      case 'ping':
        if (args.length === 1) return { reply: simple('PONG') };
        if (args.length === 2) return { reply: bulk(args[1]!) };
        return wrongArgs(name);
      case 'echo':
        return args.length === 2 ? { reply: bulk(args[1]!) } : wrongArgs(name);
      case 'set':
        return this.set(args);
      case 'get': {
        if (args.length !== 2) return wrongArgs(name);
        const e = this.live(arg(args, 1));
        return { reply: e === undefined ? NIL : bulk(e.value) };
      }
      case 'del':
      case 'unlink': {
        if (args.length < 2) return wrongArgs(name);
        let n = 0;
        for (let i = 1; i < args.length; i++) {
          if (this.live(arg(args, i)) !== undefined) {
            this.map.delete(arg(args, i));
            n++;
          }
        }
        return { reply: integer(n) };
      }
      case 'exists': {
        if (args.length < 2) return wrongArgs(name);
        let n = 0;
        for (let i = 1; i < args.length; i++) if (this.live(arg(args, i)) !== undefined) n++;
        return { reply: integer(n) };
      }
      case 'incr':
        return args.length === 2 ? this.incrBy(arg(args, 1), 1) : wrongArgs(name);
      case 'decr':
        return args.length === 2 ? this.incrBy(arg(args, 1), -1) : wrongArgs(name);
      case 'incrby':
      case 'decrby': {
        if (args.length !== 3) return wrongArgs(name);
        if (!INT_RE.test(arg(args, 2)))
          return { reply: error('ERR value is not an integer or out of range') };
        const by = Number(arg(args, 2));
        return this.incrBy(arg(args, 1), name === 'incrby' ? by : -by);
      }
      case 'mget': {
        if (args.length < 2) return wrongArgs(name);
        const out: Buffer[] = [];
        for (let i = 1; i < args.length; i++) {
          const e = this.live(arg(args, i));
          out.push(e === undefined ? NIL : bulk(e.value));
        }
        return { reply: array(out) };
      }
      case 'dbsize':
        return { reply: integer(this.map.size) };
      case 'flushdb':
      case 'flushall':
        this.map.clear();
        return { reply: OK };
      case 'select':
        // One database; redis-cli -n 0 and benchmark's --dbnum 0 still work.
        return args.length === 2 && arg(args, 1) === '0'
          ? { reply: OK }
          : { reply: error('ERR DB index is out of range') };
      case 'quit':
        return { reply: OK, close: true };
      case 'config':
        return this.config(args);
      case 'command':
        // redis-cli asks `COMMAND DOCS` on start for hints; an empty array means "no docs",
        // which it accepts. `COMMAND COUNT` is answered too.
        if (args.length >= 2 && arg(args, 1).toLowerCase() === 'count')
          return { reply: integer(0) };
        return { reply: array([]) };
      case 'client':
        // CLIENT SETNAME / SETINFO / ID...: accept and ignore; ID must be an integer.
        if (args.length >= 2 && arg(args, 1).toLowerCase() === 'id') return { reply: integer(1) };
        return { reply: OK };
      case 'info':
        return {
          reply: bulk(
            '# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\nfttcp_example:kv\r\n',
          ),
        };
      default:
        return {
          reply: error(
            `ERR unknown command '${args[0]?.toString('latin1') ?? ''}', with args beginning with: `,
          ),
        };
    }
  }

  private set(args: Buffer[]): KvReply {
    if (args.length < 3) return wrongArgs('set');
    const key = args[1]!.toString('latin1');
    let expiresAt: number | undefined;
    let nx = false;
    let xx = false;
    for (let i = 3; i < args.length; i++) {
      const opt = args[i]!.toString('latin1').toLowerCase();
      if (opt === 'nx') nx = true;
      else if (opt === 'xx') xx = true;
      else if (opt === 'ex' || opt === 'px') {
        const v = args[i + 1]?.toString('latin1');
        if (v === undefined || !INT_RE.test(v) || Number(v) <= 0) {
          return { reply: error("ERR invalid expire time in 'set' command") };
        }
        expiresAt = this.env.now() + Number(v) * (opt === 'ex' ? 1000 : 1);
        i++;
      } else return { reply: error('ERR syntax error') };
    }
    if (nx && xx) return { reply: error('ERR syntax error') };
    const exists = this.live(key) !== undefined;
    if ((nx && exists) || (xx && !exists)) return { reply: NIL };
    return this.put(key, args[2]!, expiresAt) ?? { reply: OK };
  }

  private incrBy(key: string, by: number): KvReply {
    const e = this.live(key);
    const cur = e === undefined ? '0' : e.value.toString('latin1');
    if (!INT_RE.test(cur)) return { reply: error('ERR value is not an integer or out of range') };
    const next = BigInt(cur) + BigInt(by);
    if (next > 9223372036854775807n || next < -9223372036854775808n) {
      return { reply: error('ERR increment or decrement would overflow') };
    }
    const text = Buffer.from(next.toString(), 'latin1');
    if (e !== undefined) e.value = text;
    else {
      const full = this.put(key, text, undefined);
      if (full !== undefined) return full;
    }
    // Text, not Number(next): counters beyond 2^53 must stay exact.
    return { reply: Buffer.from(`:${next.toString()}\r\n`, 'latin1') };
  }

  private config(args: Buffer[]): KvReply {
    const sub = args[1]?.toString('latin1').toLowerCase();
    if (sub === 'get' && args.length === 3) {
      // redis-benchmark asks for `save` and `appendonly` to print them; any valid pair works.
      const p = args[2]!.toString('latin1').toLowerCase();
      const known: Record<string, string> = { save: '', appendonly: 'no', databases: '1' };
      const v = known[p];
      return { reply: array(v === undefined ? [] : [bulk(p), bulk(v)]) };
    }
    if (sub === 'set' || sub === 'resetstat') return { reply: OK };
    return { reply: error('ERR unknown CONFIG subcommand') };
  }
}
