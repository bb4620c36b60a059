// A client the lab drives step by step, inside the client namespace: ordinary node:net sockets
// on the client's unmodified kernel TCP, against an echo server. The failure paths and the
// chaos runner tell it what to do (open a connection, stream, stop reading, half-close) on its
// stdin, and it judges every byte it receives the way Jepsen's checkers do, from the client's
// side only: each byte must be the echo of the byte sent at that offset, nothing may come
// after the server's FIN, no RST, no FIN the client did not ask for.
//
// Commands: one JSON object per line on stdin, `{ "id": n, "cmd": ..., ... }`:
//   open         { conn, seed }             connect (answers at once; `connected` follows)
//   stream       { conn, chunk, intervalMs } write `chunk` bytes every `intervalMs`
//   stop-stream  { conn }
//   send         { conn, bytes }            write `bytes` bytes once
//   pause-read   { conn } / resume-read { conn }
//   half-close   { conn }                   FIN (after what was written)
//   status       {}                         every connection's `ConnStatus`
//   quit         {}                         destroy every socket and exit 0
// Answers: `{ "event": "reply", "id": n, "ok": true, ... }` or `ok: false, error`. Events
// without id: connected, conn-error, server-fin, mismatch, and the W.6 stall / stall-over
// (--stall-ms) when the handshake, an echo or the server's FIN is outstanding too long while
// the client reads (spec/ssw.md; the lab's stall check judges them against the failures the
// run injected). A malformed line is answered with
// an error (id -1 when it has none), never ignored.
import { createHash, type Hash } from 'node:crypto';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { Command } from 'commander';
import { cliBounded, cliHostPort, type HostPort, runMain } from '../common/args.ts';
import { StallWatch } from './stallwatch.ts';
import { patternBytes } from './streamclient.ts';

/** Bounds on what one command may ask (explicit limits, TigerBeetle-style). */
export const DRIVER_LIMITS = {
  conns: 64,
  chunk: 1 << 20,
  sendBytes: 64 << 20,
  minIntervalMs: 1,
  maxIntervalMs: 10_000,
} as const;

/** What the client saw on one connection. */
export interface ConnStatus {
  readonly conn: string;
  readonly state: 'connecting' | 'open' | 'closed';
  readonly sent: number;
  readonly received: number;
  readonly sentSha256: string;
  readonly receivedSha256: string;
  readonly streaming: boolean;
  readonly reading: boolean;
  readonly halfClosed: boolean;
  readonly serverFin: boolean;
  /** a socket error (ECONNRESET: the server's RST) or a close the client did not make */
  readonly error?: string;
  /** the first offset whose byte is not the echo of the byte sent there */
  readonly mismatchAt?: number;
  /** the server's FIN came before the client's own, or before the whole echo */
  readonly badFin?: string;
  /** ms since the last byte arrived, if bytes are outstanding (else 0) */
  readonly silentMs: number;
  /** longest silence with bytes outstanding so far (ms) */
  readonly maxStallMs: number;
}

interface Conn {
  readonly name: string;
  readonly seed: number;
  readonly sock: net.Socket;
  state: ConnStatus['state'];
  sent: number;
  received: number;
  readonly sentHash: Hash;
  readonly recvHash: Hash;
  timer: NodeJS.Timeout | undefined;
  reading: boolean;
  halfClosed: boolean;
  serverFin: boolean;
  error: string | undefined;
  mismatchAt: number | undefined;
  badFin: string | undefined;
  lastProgress: number;
  maxStallMs: number;
  /** W.6: reports `stall` when an answer is outstanding longer than the budget */
  readonly watch: StallWatch;
}

type Req = Record<string, unknown> & { id?: unknown; cmd?: unknown };
type Answer = { ok: true; [k: string]: unknown } | { ok: false; error: string };

const out = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

export class ClientDriver {
  private readonly conns = new Map<string, Conn>();

  /** `stallMs`: the W.6 budget (spec/ssw.md); 0 turns the stall watch off. */
  constructor(
    private readonly target: HostPort,
    private readonly stallMs = 0,
  ) {}

  /**
   * W.6: what the client waits for the server to answer: the handshake, the echo of what it
   * sent, the server's FIN after its own. Not while it does not read: then the silence is the
   * client's own doing.
   */
  private waitingFor(c: Conn): 'connect' | 'echo' | 'fin' | undefined {
    if (!c.reading || c.state === 'closed') return undefined;
    if (c.state === 'connecting') return 'connect';
    if (c.received < c.sent) return 'echo';
    return c.halfClosed && !c.serverFin ? 'fin' : undefined;
  }

  private status(c: Conn): ConnStatus {
    const now = performance.now();
    const outstanding = c.received < c.sent;
    const silentMs = outstanding ? Math.round(now - c.lastProgress) : 0;
    return {
      conn: c.name,
      state: c.state,
      sent: c.sent,
      received: c.received,
      sentSha256: c.sentHash.copy().digest('hex'),
      receivedSha256: c.recvHash.copy().digest('hex'),
      streaming: c.timer !== undefined,
      reading: c.reading,
      halfClosed: c.halfClosed,
      serverFin: c.serverFin,
      ...(c.error !== undefined ? { error: c.error } : {}),
      ...(c.mismatchAt !== undefined ? { mismatchAt: c.mismatchAt } : {}),
      ...(c.badFin !== undefined ? { badFin: c.badFin } : {}),
      silentMs,
      maxStallMs: Math.round(Math.max(c.maxStallMs, silentMs)),
    };
  }

  private write(c: Conn, n: number): void {
    if (c.state === 'closed' || c.halfClosed) return;
    const b = patternBytes(c.seed, c.sent, n);
    c.sentHash.update(b);
    if (c.received === c.sent) c.lastProgress = performance.now(); // nothing outstanding before
    c.sent += n;
    if (this.waitingFor(c) !== undefined) c.watch.waiting();
    c.sock.write(b);
  }

  private open(name: string, seed: number): Answer {
    if (this.conns.has(name)) return { ok: false, error: `connection ${name} exists` };
    if (this.conns.size >= DRIVER_LIMITS.conns)
      return { ok: false, error: `at most ${DRIVER_LIMITS.conns} connections` };
    const sock = net.connect({ host: this.target.host, port: this.target.port });
    sock.setNoDelay(true);
    const watch = new StallWatch({
      budgetMs: this.stallMs,
      write: (e) => out({ ...e, client: name }),
      endpoint: () =>
        sock.localPort === undefined
          ? undefined
          : `${sock.localAddress}:${sock.localPort}>${this.target.host}:${this.target.port}`,
      describe: () => ({
        waitingFor: this.waitingFor(c) ?? 'nothing',
        detail: { sent: c.sent, received: c.received, outstanding: c.sent - c.received },
      }),
    });
    const c: Conn = {
      name,
      seed,
      sock,
      state: 'connecting',
      sent: 0,
      received: 0,
      sentHash: createHash('sha256'),
      recvHash: createHash('sha256'),
      timer: undefined,
      reading: true,
      halfClosed: false,
      serverFin: false,
      error: undefined,
      mismatchAt: undefined,
      badFin: undefined,
      lastProgress: performance.now(),
      maxStallMs: 0,
      watch,
    };
    watch.waiting();
    this.conns.set(name, c);
    sock.on('connect', () => {
      c.state = 'open';
      c.lastProgress = performance.now();
      watch.progress(this.waitingFor(c) !== undefined);
      out({ event: 'connected', conn: name });
    });
    sock.on('data', (d: Buffer) => {
      const now = performance.now();
      if (c.received < c.sent) c.maxStallMs = Math.max(c.maxStallMs, now - c.lastProgress);
      c.lastProgress = now;
      if (c.mismatchAt === undefined) {
        const want = patternBytes(c.seed, c.received, d.length);
        if (c.received + d.length > c.sent || !Buffer.from(want).equals(d)) {
          c.mismatchAt = c.received + (d.findIndex((v, i) => v !== want[i]) >>> 0);
          out({ event: 'mismatch', conn: name, at: c.mismatchAt });
        }
      }
      c.recvHash.update(d);
      c.received += d.length;
      watch.progress(this.waitingFor(c) !== undefined);
    });
    sock.on('end', () => {
      c.serverFin = true;
      if (!c.halfClosed)
        c.badFin = `server FIN before the client's (at ${c.received} of ${c.sent})`;
      else if (c.received < c.sent)
        c.badFin = `server FIN before the whole echo (${c.received} of ${c.sent})`;
      watch.progress(this.waitingFor(c) !== undefined);
      out({ event: 'server-fin', conn: name, ...(c.badFin ? { badFin: c.badFin } : {}) });
    });
    sock.on('error', (e) => {
      c.error = `socket error: ${e.message}`;
      out({ event: 'conn-error', conn: name, error: c.error });
    });
    sock.on('close', () => {
      watch.stop();
      if (c.timer) clearInterval(c.timer);
      c.timer = undefined;
      c.state = 'closed';
      if (!c.serverFin && c.error === undefined) c.error = 'closed without FIN or error';
    });
    return { ok: true };
  }

  handle(req: Req): Answer {
    const name = typeof req.conn === 'string' ? req.conn : undefined;
    const int = (k: string, lo: number, hi: number): number | undefined => {
      const v = req[k];
      return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi ? v : undefined;
    };
    if (req.cmd === 'open') {
      const seed = int('seed', 0, 0xffff_ffff);
      if (name === undefined || seed === undefined)
        return { ok: false, error: 'open needs conn (string) and seed (u32)' };
      return this.open(name, seed);
    }
    if (req.cmd === 'status')
      return { ok: true, conns: [...this.conns.values()].map((x) => this.status(x)) };
    if (req.cmd === 'quit') {
      for (const x of this.conns.values()) {
        if (x.timer) clearInterval(x.timer);
        x.watch.stop();
        x.sock.destroy();
      }
      setImmediate(() => process.exit(0));
      return { ok: true };
    }
    const c = name === undefined ? undefined : this.conns.get(name);
    if (c === undefined) return { ok: false, error: `no connection ${JSON.stringify(req.conn)}` };
    switch (req.cmd) {
      case 'stream': {
        const chunk = int('chunk', 1, DRIVER_LIMITS.chunk);
        const every = int('intervalMs', DRIVER_LIMITS.minIntervalMs, DRIVER_LIMITS.maxIntervalMs);
        if (chunk === undefined || every === undefined)
          return { ok: false, error: 'stream needs chunk and intervalMs within the limits' };
        if (c.timer) clearInterval(c.timer);
        c.timer = setInterval(() => this.write(c, chunk), every);
        return { ok: true };
      }
      case 'stop-stream':
        if (c.timer) clearInterval(c.timer);
        c.timer = undefined;
        return { ok: true };
      case 'send': {
        const bytes = int('bytes', 1, DRIVER_LIMITS.sendBytes);
        if (bytes === undefined) return { ok: false, error: 'send needs bytes within the limit' };
        for (let left = bytes; left > 0; left -= DRIVER_LIMITS.chunk)
          this.write(c, Math.min(left, DRIVER_LIMITS.chunk));
        return { ok: true };
      }
      case 'pause-read':
      case 'resume-read':
        c.reading = req.cmd === 'resume-read';
        if (c.reading) c.sock.resume();
        else c.sock.pause();
        // Not reading, the client waits for nothing; reading again, its wait starts now.
        c.watch.progress(false);
        if (this.waitingFor(c) !== undefined) c.watch.waiting();
        return { ok: true };
      case 'half-close':
        if (c.timer) clearInterval(c.timer);
        c.timer = undefined;
        c.halfClosed = true;
        c.sock.end();
        if (this.waitingFor(c) !== undefined) c.watch.waiting();
        return { ok: true };
      default:
        return { ok: false, error: `unknown cmd ${JSON.stringify(req.cmd)}` };
    }
  }
}

const main = async (): Promise<void> => {
  const o = new Command('clientdriver')
    .description('lab client driven over stdin (see the header of this file)')
    .requiredOption('--connect <host:port>', 'echo server', cliHostPort)
    .option(
      '--stall-ms <ms>',
      'report stall when an answer is outstanding this long (spec/ssw.md W.6; 0: never)',
      cliBounded(0, 3_600_000),
      0,
    )
    .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2))
    .parse()
    .opts<{ connect: HostPort; stallMs: number }>();
  const driver = new ClientDriver(o.connect, o.stallMs);
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let req: Req;
    try {
      const v: unknown = JSON.parse(line);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
      req = v as Req;
    } catch (e) {
      out({
        event: 'reply',
        id: -1,
        ok: false,
        error: `bad command line: ${(e as Error).message}`,
      });
      return;
    }
    out({ event: 'reply', id: typeof req.id === 'number' ? req.id : -1, ...driver.handle(req) });
  });
  rl.on('close', () => process.exit(0));
  out({ event: 'driver-up' });
};

if (import.meta.url === `file://${process.argv[1]}`) runMain('clientdriver', main);
