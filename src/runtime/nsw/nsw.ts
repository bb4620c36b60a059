// Nsw: the library an application uses instead of node:net (see ./index.ts for the contract).
// One facade for every mode; what a mode does is its binding's: ./plainBinding.ts (no FT-TCP)
// or ./ftBinding.ts (record and replay through the NSW core). The facade holds what every
// mode shares: the servers, the argument checks, the events the application listens to, and
// what happens to a failure nobody listens for.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { MAX_RANDOM_BYTES } from '../../wire/logmsg.ts';
import { Log } from '../common/log.ts';
import type { NswBinding, NswOwner, NswRunMode, NswStats, NswTimer } from './binding.ts';
import { NSW_CONTROL_ENV, startNswControl } from './control.ts';
import type { NswConfig } from './env.ts';
import { exitCodeOf, NswConfigError, type NswDivergenceError } from './errors.ts';
import { FtBinding } from './ftBinding.ts';
import { type AppHeartbeat, appHeartbeatMsFromEnv, startAppHeartbeat } from './heartbeat.ts';
import { PlainBinding } from './plainBinding.ts';
import { NswServer } from './server.ts';
import type { NswSocket } from './socket.ts';

/** Random bytes one `nsw.random(n)` may ask for: 16 determinants' worth. */
export const MAX_NSW_RANDOM = 16 * MAX_RANDOM_BYTES;

interface NswEvents {
  /** whole-application failure (divergence, fenced, logger refusal) */
  error: [Error];
  /** R12 per connection or for the whole application */
  divergence: [NswDivergenceError];
  live: [];
}

export class Nsw extends EventEmitter<NswEvents> {
  readonly servers: NswServer[] = [];
  private readonly log: Log;
  private readonly binding: NswBinding;
  private heartbeat: AppHeartbeat | undefined;
  private stopControl: () => void = () => {};

  private constructor(private readonly cfg: NswConfig) {
    super();
    this.log =
      cfg.log ?? new Log({ component: 'nsw', ...(cfg.hostId ? { hostId: cfg.hostId } : {}) });
    const owner: NswOwner = {
      live: () => this.emit('live'),
      divergence: (e) => this.emit('divergence', e),
      fail: (e) => this.fail(e),
    };
    const { logger } = cfg;
    if (cfg.mode === 'plain') this.binding = new PlainBinding();
    else if (logger === undefined)
      throw new NswConfigError(`mode '${cfg.mode}' needs a logger address`);
    else
      this.binding = new FtBinding({
        cfg: { ...cfg, logger },
        log: this.log,
        servers: this.servers,
        owner,
      });
  }

  /** Create an NSW; in record/replay mode resolves once the logger link is up (and, in replay, the log fetched). */
  static async open(cfg: NswConfig): Promise<Nsw> {
    const nsw = new Nsw(cfg);
    // R10.1, before the logger link and the replay: both turn the event loop, so the
    // supervisor sees the start-up end (R10.3) and a long replay keeps beating. From the
    // environment unless configured: an application that builds its own config still beats
    // for a supervisor that watches it.
    const heartbeat = startAppHeartbeat(cfg.heartbeatMs ?? appHeartbeatMsFromEnv(process.env));
    nsw.heartbeat = heartbeat;
    // R13.9: the supervisor's control lines (FTTCP_NSW_CONTROL=stdin), from the start: an
    // incarnation started while its host is unprotected is told at once.
    const control = cfg.controlInput;
    const env = control !== undefined ? { [NSW_CONTROL_ENV]: 'stdin' } : process.env;
    nsw.stopControl = startNswControl(env, control ?? process.stdin, nsw.log, (req) => {
      if (req.cmd === 'unprotected') nsw.binding.unprotect(req.reason);
    });
    try {
      await nsw.binding.start();
    } catch (e) {
      heartbeat.stop();
      nsw.stopControl();
      throw e;
    }
    return nsw;
  }

  get mode(): NswRunMode {
    return this.binding.mode;
  }

  /** Counters for tests and logs. */
  get stats(): NswStats {
    return this.binding.stats;
  }

  // --- nondeterminism the application takes from the NSW -----------------------------------

  /** Milliseconds since the epoch (float). Logged (`clock`) when recording, replayed from the log. */
  now(): number {
    return this.binding.now(performance.timeOrigin + performance.now());
  }

  /** `n` random bytes. Logged (`random`, split at MAX_RANDOM_BYTES) when recording, replayed from the log. */
  random(n: number): Uint8Array {
    if (!Number.isInteger(n) || n < 0 || n > MAX_NSW_RANDOM)
      throw new RangeError(`nsw.random(${n})`);
    const out = new Uint8Array(n);
    for (let o = 0; o < n; o += MAX_RANDOM_BYTES) {
      const live = new Uint8Array(randomBytes(Math.min(MAX_RANDOM_BYTES, n - o)));
      out.set(this.binding.random(live), o);
    }
    return out;
  }

  /** A timer whose firing is a determinant (`timer`): replayed at the same point of the run. */
  setTimeout(fn: () => void, ms: number): NswTimer {
    return this.binding.setTimeout(fn, Math.max(0, ms));
  }

  clearTimeout(t: NswTimer | undefined): void {
    if (t !== undefined) this.binding.clearTimeout(t);
  }

  // --- servers ------------------------------------------------------------------------------

  createServer(
    handler?: (sock: NswSocket) => void,
    opts: { allowHalfOpen?: boolean } = {},
  ): NswServer {
    const s = new NswServer(this.binding, opts.allowHalfOpen ?? false);
    if (handler !== undefined) s.on('connection', handler);
    this.servers.push(s);
    return s;
  }

  /** Close servers and the logger link (tests, shutdown). */
  async close(): Promise<void> {
    this.heartbeat?.stop();
    this.stopControl();
    this.binding.close();
    await Promise.all(this.servers.map((s) => s.closeAsync()));
  }

  private fail(e: Error): void {
    this.log.error('nsw failure', { error: e.message });
    this.cfg.timeline?.event('nsw-error', { error: e.message, name: e.name });
    if (this.listenerCount('error') > 0) this.emit('error', e);
    else {
      // The application did not opt to handle it: a diverged or fenced incarnation must not
      // keep serving. Exit codes: 3 divergence, 4 fenced, 1 other.
      process.exitCode = exitCodeOf(e);
      process.stderr.write(`nsw: ${e.name}: ${e.message}\n`);
      process.exit();
    }
  }
}
