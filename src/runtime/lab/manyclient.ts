// Many light connections from one client process (the lab's `scale` benchmark case): N
// ordinary node:net sockets on the client's unmodified kernel TCP against an echo server, each
// writing `--bytes` bytes every `--interval-ms` and checking that every byte comes back as
// sent, in order. What it reports is what a user of so many connections feels, judged from the
// client's side only:
//   - connect: how long opening all N took (with `--connect-concurrency` handshakes in flight at
//     a time; 1: one after the other, as a simple blocking client does), and each handshake's
//     own time (p50/p99/max);
//   - silence: per connection, the longest gap between two arrivals of echoed bytes (from its
//     first write on, and up to the end when it is silent then); with a write every 200 ms a
//     healthy path shows ~200 ms;
//   - wait: per connection, the longest time bytes were outstanding with none arriving (the
//     round trip as the client sees it; the stall of a failover).
// Events on stdout: `stall` / `stall-over` (W.6) when a handshake goes unanswered for longer
// than `--stall-ms`, `connected-all` (with connectMs) once every connection is open, then one
// JSON result line (`ManyResult`); exit code 0 iff every connection stayed intact.
//
// The connect phase has its own bound (`--max-connect-ms`), and a run that hits it says which
// handshakes were in flight and for how long (`inFlight`). One after the other under a heavy
// machine load, 1000 handshakes can take longer than any bound chosen for one handshake; a
// bound that mixed the two (connect timeout + run time) once read as a 60 s handshake hang
// when the SSW's timeline showed SYNs arriving every ~110 ms throughout (spec/ssw.md W.6, W.8).
import net from 'node:net';
import { Command } from 'commander';
import { DEFAULT_RECOVERY_PARAMS } from '../../machines/recovery/params.ts';
import { stallBudgetMs } from '../../machines/ssw/watchdog.ts';
import { cliBounded, cliHostPort, type HostPort } from '../common/args.ts';
import { StallWatch } from './stallwatch.ts';
import { patternBytes } from './streamclient.ts';

/** Explicit limits (TigerBeetle-style): what one client process is asked to hold. */
export const MANY_LIMITS = {
  conns: 20_000,
  bytes: 65_536,
  minIntervalMs: 1,
  maxIntervalMs: 60_000,
  maxSeconds: 3_600,
  maxConnectMs: 3_600_000,
  /** in-flight handshakes named in a result (the rest are counted) */
  maxInFlightListed: 16,
} as const;

/** A handshake still in flight when the run ended: which connection, since how long (ms). */
export interface InFlight {
  readonly conn: number;
  readonly ageMs: number;
}

export interface Quantiles {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface ManyResult {
  ok: boolean;
  error?: string;
  conns: number;
  /** connections that failed (reset, closed by the server, wrong bytes, timeout) */
  failed: number;
  /** the first few failures, for the report */
  failures: string[];
  /** opening all connections (ms; NaN when the connect phase did not end) */
  connectMs: number;
  /** connections open */
  opened: number;
  /** one completed handshake (ms); those still in flight are in `inFlight`, not here */
  handshakeMs: Quantiles;
  /** handshakes neither open nor failed when the run ended, oldest first (at most
   * `MANY_LIMITS.maxInFlightListed`); `inFlightCount` counts them all */
  inFlight: InFlight[];
  inFlightCount: number;
  /** per connection: its longest gap between two arrivals (ms) */
  silenceMs: Quantiles;
  /** per connection: its longest time with bytes outstanding and none arriving (ms) */
  waitMs: Quantiles;
  /** every connection's longest silence, in connection order (ms, rounded) */
  silences: number[];
  /** when each of those silences ended, ms since the client started (shows whether they
   * were one stall of everything or each connection's own) */
  silenceEnds: number[];
  sentBytes: number;
  receivedBytes: number;
  durationMs: number;
}

/** p50 / p99 / max of the finite values of `xs` (nearest rank; NaN when none), rounded to
 * 0.1. A NaN (a handshake that never completed) is left out: in a sort it would scramble the
 * order and with it every quantile. */
export const quantiles = (xs: readonly number[]): Quantiles => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const at = (q: number): number => {
    if (s.length === 0) return Number.NaN;
    const v = s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
    return Math.round(v * 10) / 10;
  };
  return { p50: at(0.5), p99: at(0.99), max: at(1) };
};

interface Conn {
  readonly i: number;
  sock: net.Socket | undefined;
  sent: number;
  received: number;
  handshakeMs: number;
  /** time of the last arrival (or of the first write, before any) */
  lastArrival: number;
  maxSilence: number;
  maxSilenceEnd: number;
  /** start of the current wait with bytes outstanding (NaN: none outstanding) */
  waitSince: number;
  maxWait: number;
  failed: string | undefined;
  timer: NodeJS.Timeout | undefined;
  /** when its connect began (performance.now) */
  begin: number;
  /** the client-side stall watch of its handshake (W.6), while it is in flight */
  watch: StallWatch | undefined;
  /** its connect timeout, while it is in flight */
  guard: NodeJS.Timeout | undefined;
}

/** The handshakes in flight at `now`, oldest first, at most `max` of them. */
export const inFlightOf = (
  conns: readonly {
    readonly i: number;
    readonly begin: number;
    readonly handshakeMs: number;
    readonly failed: string | undefined;
  }[],
  now: number,
  max: number,
): { list: InFlight[]; count: number } => {
  const all = conns
    .filter((c) => Number.isNaN(c.handshakeMs) && c.failed === undefined)
    .map((c) => ({ conn: c.i, ageMs: Math.round(now - c.begin) }))
    .sort((a, b) => b.ageMs - a.ageMs);
  return { list: all.slice(0, max), count: all.length };
};

/** The error of a connect phase that hit its bound: what was open and what was in flight. */
export const connectPhaseError = (
  maxConnectMs: number,
  conns: number,
  opened: number,
  failed: number,
  inFlight: { list: readonly InFlight[]; count: number },
): string => {
  const named = inFlight.list.map((f) => `conn ${f.conn} for ${f.ageMs} ms`).join(', ');
  const more =
    inFlight.count > inFlight.list.length
      ? ` and ${inFlight.count - inFlight.list.length} more`
      : '';
  const flying = inFlight.count === 0 ? 'none in flight' : `in flight: ${named}${more}`;
  return `connect phase not over after ${maxConnectMs} ms (${opened} of ${conns} open, ${failed} failed; ${flying})`;
};

/** How a connection is opened (node:net by default; tests pass a socket that never connects). */
export type Connector = (hp: HostPort) => net.Socket;

interface Opts {
  connect: HostPort;
  conns: number;
  bytes: number;
  intervalMs: number;
  seconds: number;
  connectConcurrency: number;
  connectTimeoutMs: number;
  /** the whole connect phase's bound (ms) */
  maxConnectMs: number;
  /** a handshake unanswered this long is a client-side stall (W.6; 0: not watched) */
  stallMs: number;
}

export const runMany = (
  o: Opts,
  onEvent: (e: Record<string, unknown>) => void,
  connector: Connector = (hp) => net.connect({ host: hp.host, port: hp.port }),
): Promise<ManyResult> =>
  new Promise((resolve) => {
    const t0 = performance.now();
    const conns: Conn[] = [];
    let opened = 0;
    let settled = 0;
    let started = 0;
    let connectMs = Number.NaN;
    let done = false;
    let phaseLimit: NodeJS.Timeout | undefined;

    const fail = (c: Conn, why: string): void => {
      if (c.failed !== undefined) return;
      c.failed = why;
      if (c.timer !== undefined) clearInterval(c.timer);
      endWatch(c);
      c.sock?.destroy();
      // A failed connect still frees its slot.
      if (Number.isNaN(c.handshakeMs)) settle();
    };

    /** The handshake's wait is over (answered, failed or given up). */
    const endWatch = (c: Conn): void => {
      c.watch?.progress(false);
      c.watch?.stop();
      c.watch = undefined;
    };

    /** One more connect ended (open or failed): the next one starts; after the last, the run. */
    const settle = (): void => {
      settled++;
      if (settled === o.conns) {
        if (phaseLimit !== undefined) clearTimeout(phaseLimit);
        connectMs = performance.now() - t0;
        onEvent({ event: 'connected-all', connectMs: Math.round(connectMs), opened });
        setTimeout(() => finish(), o.seconds * 1000);
      }
      open();
    };

    const write = (c: Conn): void => {
      const s = c.sock;
      if (s === undefined || c.failed !== undefined) return;
      const now = performance.now();
      if (c.received === c.sent) c.waitSince = now;
      s.write(patternBytes(c.i + 1, c.sent, o.bytes));
      c.sent += o.bytes;
    };

    const finish = (error?: string): void => {
      if (done) return;
      done = true;
      const now = performance.now();
      if (phaseLimit !== undefined) clearTimeout(phaseLimit);
      const inFlight = inFlightOf(conns, now, MANY_LIMITS.maxInFlightListed);
      for (const c of conns) {
        if (c.timer !== undefined) clearInterval(c.timer);
        // A handshake still unanswered past the stall budget is reported before the result.
        c.watch?.stop();
        c.watch = undefined;
        clearTimeout(c.guard);
        // A silence still going on at the end counts too.
        if (c.sent > 0 && now - c.lastArrival > c.maxSilence) {
          c.maxSilence = now - c.lastArrival;
          c.maxSilenceEnd = now - t0;
        }
        if (!Number.isNaN(c.waitSince)) c.maxWait = Math.max(c.maxWait, now - c.waitSince);
        c.sock?.destroy();
      }
      const failures = conns.filter((c) => c.failed !== undefined);
      const silences = conns.map((c) => Math.round(c.maxSilence));
      const r: ManyResult = {
        ok: error === undefined && failures.length === 0 && opened === o.conns,
        conns: o.conns,
        failed: failures.length,
        failures: failures.slice(0, 5).map((c) => `conn ${c.i}: ${c.failed}`),
        connectMs: Math.round(connectMs),
        opened,
        handshakeMs: quantiles(conns.map((c) => c.handshakeMs)),
        inFlight: inFlight.list,
        inFlightCount: inFlight.count,
        silenceMs: quantiles(conns.map((c) => c.maxSilence)),
        waitMs: quantiles(conns.map((c) => c.maxWait)),
        silences,
        silenceEnds: conns.map((c) => Math.round(c.maxSilenceEnd)),
        sentBytes: conns.reduce((n, c) => n + c.sent, 0),
        receivedBytes: conns.reduce((n, c) => n + c.received, 0),
        durationMs: Math.round(now - t0),
      };
      if (error !== undefined) r.error = error;
      resolve(r);
    };

    const open = (): void => {
      if (started >= o.conns || done) return;
      const c: Conn = {
        i: started++,
        sock: undefined,
        sent: 0,
        received: 0,
        handshakeMs: Number.NaN,
        lastArrival: 0,
        maxSilence: 0,
        maxSilenceEnd: 0,
        waitSince: Number.NaN,
        maxWait: 0,
        failed: undefined,
        timer: undefined,
        begin: performance.now(),
        watch: undefined,
        guard: undefined,
      };
      conns.push(c);
      const sock = connector(o.connect);
      c.sock = sock;
      if (o.stallMs > 0) {
        c.watch = new StallWatch({
          budgetMs: o.stallMs,
          write: onEvent,
          describe: () => ({
            waitingFor: 'connect',
            detail: { client: c.i, opened, inFlight: started - settled },
          }),
          endpoint: () => `conn ${c.i}>${o.connect.host}:${o.connect.port}`,
        });
        c.watch.waiting();
      }
      c.guard = setTimeout(
        () => fail(c, `no connection after ${o.connectTimeoutMs} ms`),
        o.connectTimeoutMs,
      );
      sock.on('connect', () => {
        clearTimeout(c.guard);
        endWatch(c);
        const now = performance.now();
        c.handshakeMs = now - c.begin;
        c.lastArrival = now;
        opened++;
        write(c);
        c.timer = setInterval(() => write(c), o.intervalMs);
        settle();
      });
      sock.on('data', (d: Buffer) => {
        const now = performance.now();
        if (now - c.lastArrival > c.maxSilence) {
          c.maxSilence = now - c.lastArrival;
          c.maxSilenceEnd = now - t0;
        }
        c.lastArrival = now;
        if (c.failed !== undefined) return;
        const want = patternBytes(c.i + 1, c.received, d.length);
        if (c.received + d.length > c.sent || !Buffer.from(want).equals(d)) {
          fail(c, `bytes differ from what was sent (offset ${c.received})`);
          return;
        }
        c.received += d.length;
        if (!Number.isNaN(c.waitSince)) c.maxWait = Math.max(c.maxWait, now - c.waitSince);
        c.waitSince = c.received < c.sent ? now : Number.NaN;
      });
      sock.on('end', () => fail(c, 'the server closed the connection'));
      sock.on('error', (e) => {
        clearTimeout(c.guard);
        fail(c, `socket error: ${e.message}`);
      });
    };
    for (let k = 0; k < o.connectConcurrency; k++) open();
    // The connect phase is bounded on its own (each handshake is by connectTimeoutMs); the
    // run after it by `seconds` (settle's timer). A phase that hits its bound names what was
    // in flight, so a slow phase reads as one and a hung handshake as one.
    phaseLimit = setTimeout(() => {
      const failed = conns.filter((c) => c.failed !== undefined).length;
      const inFlight = inFlightOf(conns, performance.now(), MANY_LIMITS.maxInFlightListed);
      finish(connectPhaseError(o.maxConnectMs, o.conns, opened, failed, inFlight));
    }, o.maxConnectMs);
    phaseLimit.unref();
  });

const main = async (): Promise<void> => {
  const p = new Command('manyclient')
    .description('lab client: many light echo connections; reports silences and connect time')
    .requiredOption('--connect <host:port>', 'echo server address', cliHostPort)
    .option('--conns <n>', 'connections', cliBounded(1, MANY_LIMITS.conns), 1000)
    .option('--bytes <n>', 'bytes per write', cliBounded(1, MANY_LIMITS.bytes), 100)
    .option(
      '--interval-ms <ms>',
      'time between two writes of a connection',
      cliBounded(MANY_LIMITS.minIntervalMs, MANY_LIMITS.maxIntervalMs),
      200,
    )
    .option(
      '--seconds <n>',
      'how long to run once every connection is open',
      cliBounded(1, MANY_LIMITS.maxSeconds),
      10,
    )
    .option(
      '--connect-concurrency <n>',
      'handshakes in flight at a time (1: one after the other)',
      cliBounded(1, MANY_LIMITS.conns),
      1,
    )
    .option(
      '--connect-timeout-ms <ms>',
      'give up on a connect after',
      cliBounded(1, 600_000),
      60_000,
    )
    .option(
      '--max-connect-ms <ms>',
      'give up the whole connect phase after (names the handshakes then in flight)',
      cliBounded(1, MANY_LIMITS.maxConnectMs),
      120_000,
    )
    .option(
      '--stall-ms <ms>',
      'report stall when a handshake is unanswered this long (W.6; 0: never)',
      cliBounded(0, MANY_LIMITS.maxConnectMs),
      stallBudgetMs(DEFAULT_RECOVERY_PARAMS),
    )
    .parse();
  const o = p.opts<Opts>();
  const line = (e: Record<string, unknown>): void => {
    process.stdout.write(`${JSON.stringify(e)}\n`);
  };
  const r = await runMany(o, line);
  line(r as unknown as Record<string, unknown>);
  process.exitCode = r.ok ? 0 : 1;
  // Sockets are destroyed; nothing else keeps the process.
  setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
};

if (import.meta.url === `file://${process.argv[1]}`) void main();
