// A stream client the lab runs inside the client namespace: an ordinary node:net socket on the
// client's unmodified kernel TCP. It judges the server from the client's side only (Jepsen's
// habit): every byte it receives is checked against what the server must send, and it
// reports the longest silence (the client-visible stall), not anything the system logged.
//
// Modes (both need an echo server):
//   echo      send a deterministic pseudo-random stream (seeded), expect it back byte for byte;
//             with a large --chunk and --interval-ms 0 this is a bulk download as much as an
//             upload (the server's bytes are the echo)
//   upload    the same, then half-close; expect the echo of all of it, then the server's FIN
//
// Events on stdout while it runs: connected, paused / resumed (--pause-at), drained (paused, and
// every byte sent so far came back: the server holds none of the client's bytes, so a test can
// stop or crash it at a known point rather than at however full its buffers happen to be),
// half-closed, mark (--mark-at: this many bytes came back, so a test can crash the server
// mid-transfer by progress rather than by a guessed delay), and stall / stall-over (--stall-ms:
// nothing came back for that long while it waited for its connect, echo or the server's FIN;
// W.6). With --pause-until-signal the pause ends at SIGUSR2 (Node keeps SIGUSR1 for its
// inspector), so a test orders its own steps before the client's next bytes.
// Output: one JSON line on stdout (`StreamResult`); exit code 0 iff ok.
import { createHash } from 'node:crypto';
import net from 'node:net';
import { Command, Option } from 'commander';
import { DEFAULT_RECOVERY_PARAMS, MAX_TIMING_MS } from '../../machines/recovery/params.ts';
import { stallBudgetMs } from '../../machines/ssw/watchdog.ts';
import { cliBounded, cliHostPort } from '../common/args.ts';
import { StallWatch } from './stallwatch.ts';

export interface StreamResult {
  ok: boolean;
  error?: string;
  sent: number;
  received: number;
  sentSha256: string;
  receivedSha256: string;
  /** longest time with bytes outstanding and none arriving (ms) */
  maxStallMs: number;
  /** when that stall ended, ms since connect */
  maxStallEndMs: number;
  durationMs: number;
  /** the server's FIN arrived (only expected after our half-close) */
  serverFin: boolean;
}

/** xorshift32 byte stream: reproducible from the seed, cheap, not all-zero. */
export const patternBytes = (seed: number, offset: number, len: number): Uint8Array => {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    let x = (seed ^ Math.imul(offset + i + 1, 0x9e3779b1)) >>> 0;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
};

interface Opts {
  connect: { host: string; port: number };
  bind?: string;
  mode: 'echo' | 'upload';
  bytes: number;
  chunk: number;
  intervalMs: number;
  seed: number;
  timeoutMs: number;
  halfClose: boolean;
  /** after this many bytes sent, stop writing for `pauseMs` (an idle connection) */
  pauseAt: number;
  pauseMs: number;
  /** with pauseAt: stay paused until this signal arrives instead of for pauseMs */
  resumeOn?: NodeJS.Signals;
  /** once this many bytes came back, emit the event `mark` (0: never) */
  markAt?: number;
  /** W.6: report `stall` after this long without an answer while waiting (0: never) */
  stallMs?: number;
  onConnect?: () => void;
  onEvent?: (event: string) => void;
  /** timeline lines of the stall watch (`stall`, `stall-over`) */
  onStallEvent?: (event: Record<string, unknown>) => void;
}

export const runStream = (o: Opts): Promise<StreamResult> =>
  new Promise((resolve) => {
    const t0 = performance.now();
    const sentHash = createHash('sha256');
    const recvHash = createHash('sha256');
    let sent = 0;
    let received = 0;
    let lastProgress = t0;
    let maxStallMs = 0;
    let maxStallEndMs = 0;
    let serverFin = false;
    let connected = false;
    let halfClosed = false;
    let done = false;
    let mismatch: string | undefined;
    // W.6: waiting = connecting, or an echo outstanding, or (after our FIN) the server's FIN.
    const stillWaiting = (): boolean => !connected || received < sent || (halfClosed && !serverFin);
    const watch = new StallWatch({
      budgetMs: o.stallMs ?? 0,
      write: (e) => o.onStallEvent?.(e),
      endpoint: () =>
        sock.localPort === undefined
          ? undefined
          : `${sock.localAddress}:${sock.localPort}>${o.connect.host}:${o.connect.port}`,
      describe: () => ({
        waitingFor: !connected ? 'connect' : received < sent ? 'echo' : 'fin',
        detail: { sent, received, outstanding: sent - received, halfClosed, serverFin },
      }),
    });
    watch.waiting();
    const sock = net.connect({
      host: o.connect.host,
      port: o.connect.port,
      ...(o.bind !== undefined ? { localAddress: o.bind } : {}),
    });
    sock.setNoDelay(true);
    const finish = (error?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (interval) clearInterval(interval);
      watch.stop();
      sock.destroy();
      // A silence still going on at the end (bytes outstanding, nothing arriving) counts too.
      const tail = performance.now() - lastProgress;
      if (received < sent && tail > maxStallMs) {
        maxStallMs = tail;
        maxStallEndMs = performance.now() - t0;
      }
      const err = error ?? mismatch;
      const r: StreamResult = {
        ok: err === undefined,
        sent,
        received,
        sentSha256: sentHash.digest('hex'),
        receivedSha256: recvHash.digest('hex'),
        maxStallMs: Math.round(maxStallMs * 10) / 10,
        maxStallEndMs: Math.round(maxStallEndMs),
        durationMs: Math.round(performance.now() - t0),
        serverFin,
      };
      if (err !== undefined) r.error = err;
      resolve(r);
    };
    const timer = setTimeout(
      () => finish(`timeout after ${o.timeoutMs} ms (sent ${sent}, received ${received})`),
      o.timeoutMs,
    );
    let interval: NodeJS.Timeout | undefined;
    const pump = (): void => {
      while (sent < o.bytes && sendChunk()) {}
    };
    let paused = false;
    let pausedUntil = 0;
    let drained = false;
    let resumeAsked = false;
    let resume: (() => void) | undefined;
    if (o.resumeOn !== undefined) {
      // Installed at once: a signal that comes before the pause cancels it instead of killing us.
      process.on(o.resumeOn, () => {
        resumeAsked = true;
        resume?.();
      });
    }
    const noteDrained = (): void => {
      if (paused && !drained && received === sent) {
        drained = true;
        o.onEvent?.('drained');
      }
    };
    const sendChunk = (): boolean => {
      if (sent >= o.bytes || performance.now() < pausedUntil) return false;
      const n = Math.min(o.chunk, o.bytes - sent);
      const b = patternBytes(o.seed, sent, n);
      sentHash.update(b);
      if (received === sent) lastProgress = performance.now(); // nothing outstanding before
      sent += n;
      watch.waiting();
      const more = sock.write(b);
      if (sent >= o.bytes) {
        if (interval) clearInterval(interval);
        if (o.halfClose) {
          sock.end();
          halfClosed = true;
          watch.waiting();
          o.onEvent?.('half-closed');
        }
      }
      if (!paused && o.pauseAt > 0 && sent >= o.pauseAt && sent < o.bytes) {
        paused = true;
        o.onEvent?.('paused');
        noteDrained();
        const end = (): void => {
          resume = undefined;
          pausedUntil = 0;
          o.onEvent?.('resumed');
          if (o.intervalMs === 0) pump();
        };
        if (o.resumeOn === undefined) {
          pausedUntil = performance.now() + o.pauseMs;
          setTimeout(end, o.pauseMs);
        } else if (resumeAsked) {
          setImmediate(end);
          pausedUntil = Number.POSITIVE_INFINITY;
        } else {
          pausedUntil = Number.POSITIVE_INFINITY;
          resume = end;
        }
        return false;
      }
      return more;
    };
    sock.on('connect', () => {
      connected = true;
      watch.progress(stillWaiting());
      o.onConnect?.();
      lastProgress = performance.now();
      if (o.intervalMs > 0) {
        interval = setInterval(sendChunk, o.intervalMs);
      } else {
        sock.on('drain', pump);
        pump();
      }
    });
    sock.on('data', (d: Buffer) => {
      const now = performance.now();
      const gap = now - lastProgress;
      if (gap > maxStallMs) {
        maxStallMs = gap;
        maxStallEndMs = now - t0;
      }
      lastProgress = now;
      if (mismatch === undefined) {
        const want = patternBytes(o.seed, received, d.length);
        if (received + d.length > sent || !Buffer.from(want).equals(d)) {
          const at = received + (d.findIndex((v, i) => v !== want[i]) >>> 0);
          mismatch = `byte stream differs from what was sent at offset ${at}`;
        }
      }
      recvHash.update(d);
      const before = received;
      received += d.length;
      watch.progress(stillWaiting());
      noteDrained();
      const markAt = o.markAt ?? 0;
      if (markAt > 0 && before < markAt && received >= markAt) o.onEvent?.('mark');
      if (received >= o.bytes && !o.halfClose) finish();
    });
    sock.on('end', () => {
      serverFin = true;
      watch.progress(stillWaiting());
      if (!o.halfClose || received < o.bytes) {
        finish(`server closed the connection after ${received} of ${o.bytes} bytes`);
      } else finish();
    });
    sock.on('error', (e) => finish(`socket error: ${e.message}`));
  });

const main = async (): Promise<void> => {
  const p = new Command('streamclient')
    .description('lab stream client: sends a seeded stream and checks the echo')
    .requiredOption('--connect <host:port>', 'server address', cliHostPort)
    .option('--bind <ipv4>', 'local address to connect from')
    .addOption(
      new Option('--mode <mode>', 'echo or upload (half-close after sending)')
        .choices(['echo', 'upload'])
        .default('echo'),
    )
    .option('--bytes <n>', 'bytes to send', cliBounded(1, 2 ** 40), 1_000_000)
    .option('--chunk <n>', 'bytes per write', cliBounded(1, 1 << 20), 16384)
    .option(
      '--interval-ms <ms>',
      'pause between writes (0: as fast as the socket takes them)',
      cliBounded(0, 60_000),
      0,
    )
    .option('--seed <n>', 'pattern seed', cliBounded(0, 2 ** 32 - 1), 1)
    .option('--timeout-ms <ms>', 'give up after', cliBounded(1, 3_600_000), 60_000)
    .option(
      '--pause-at <n>',
      'stop writing after this many bytes for --pause-ms (0: never)',
      cliBounded(0, 2 ** 40),
      0,
    )
    .option('--pause-ms <ms>', 'length of that pause', cliBounded(0, 3_600_000), 0)
    .option(
      '--pause-until-signal',
      'with --pause-at: stay paused until SIGUSR2 instead of --pause-ms',
      false,
    )
    .option(
      '--mark-at <n>',
      'report the event mark once this many bytes came back (0: never)',
      cliBounded(0, 2 ** 40),
      0,
    )
    .option(
      '--stall-ms <ms>',
      'report stall when nothing comes back this long while waiting (0: never; default: the recovery budget of the default timing)',
      cliBounded(0, MAX_TIMING_MS),
      stallBudgetMs(DEFAULT_RECOVERY_PARAMS),
    )
    .parse();
  const { pauseUntilSignal, ...o } = p.opts<
    Omit<Opts, 'halfClose' | 'onConnect' | 'onEvent' | 'onStallEvent' | 'resumeOn'> & {
      pauseUntilSignal: boolean;
    }
  >();
  if (pauseUntilSignal && o.pauseAt === 0) {
    process.stderr.write('streamclient: --pause-until-signal needs --pause-at\n');
    process.exit(2);
  }
  const line = (e: Record<string, unknown>): void => {
    process.stdout.write(`${JSON.stringify(e)}\n`);
  };
  const r = await runStream({
    ...o,
    ...(pauseUntilSignal ? { resumeOn: 'SIGUSR2' as const } : {}),
    halfClose: o.mode === 'upload',
    onConnect: () => line({ event: 'connected' }),
    onEvent: (event) => line({ event }),
    onStallEvent: line,
  });
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exitCode = r.ok ? 0 : 1;
};

if (import.meta.url === `file://${process.argv[1]}`) void main();
