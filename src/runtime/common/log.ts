// Structured logging for the runtime daemons.
//
// Two streams, kept apart on purpose: diagnostics go to stderr (human-readable by default,
// NDJSON with FTTCP_LOG_JSON=1) and *timeline events* go to stdout as NDJSON, one object per
// line, so that the lab can parse a daemon's stdout without filtering noise out of it. Every
// record carries the component and host so that merged logs of a run stay attributable.

export type Level = 'debug' | 'info' | 'warn' | 'error';

const LEVEL_RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogSink {
  write(line: string): void;
}

const stderrSink: LogSink = { write: (line) => process.stderr.write(line) };
const stdoutSink: LogSink = { write: (line) => process.stdout.write(line) };

function parseLevel(s: string | undefined): Level {
  return s === 'debug' || s === 'info' || s === 'warn' || s === 'error' ? s : 'info';
}

export interface LoggerOptions {
  readonly component: string;
  readonly hostId?: string;
  readonly level?: Level;
  readonly json?: boolean;
  readonly sink?: LogSink;
}

/** A diagnostic logger. Context fields are flattened into the record, never interpolated. */
export class Log {
  readonly component: string;
  readonly hostId: string | undefined;
  private readonly minRank: number;
  private readonly json: boolean;
  private readonly sink: LogSink;

  constructor(opts: LoggerOptions) {
    this.component = opts.component;
    this.hostId = opts.hostId;
    this.minRank = LEVEL_RANK[opts.level ?? parseLevel(process.env.FTTCP_LOG_LEVEL)];
    this.json = opts.json ?? process.env.FTTCP_LOG_JSON === '1';
    this.sink = opts.sink ?? stderrSink;
  }

  child(component: string): Log {
    const opts: LoggerOptions = {
      component: `${this.component}/${component}`,
      json: this.json,
      sink: this.sink,
      level:
        (Object.keys(LEVEL_RANK) as Level[]).find((l) => LEVEL_RANK[l] === this.minRank) ?? 'info',
    };
    return new Log(this.hostId === undefined ? opts : { ...opts, hostId: this.hostId });
  }

  debug(msg: string, ctx?: Record<string, unknown>): void {
    this.emit('debug', msg, ctx);
  }
  info(msg: string, ctx?: Record<string, unknown>): void {
    this.emit('info', msg, ctx);
  }
  warn(msg: string, ctx?: Record<string, unknown>): void {
    this.emit('warn', msg, ctx);
  }
  error(msg: string, ctx?: Record<string, unknown>): void {
    this.emit('error', msg, ctx);
  }

  private emit(level: Level, msg: string, ctx?: Record<string, unknown>): void {
    if (LEVEL_RANK[level] < this.minRank) return;
    if (this.json) {
      const rec = {
        ts: new Date().toISOString(),
        level,
        component: this.component,
        host: this.hostId,
        msg,
        ...ctx,
      };
      this.sink.write(`${JSON.stringify(rec, jsonSafe)}\n`);
      return;
    }
    const who = this.hostId === undefined ? this.component : `${this.component}@${this.hostId}`;
    const fields =
      ctx === undefined
        ? ''
        : ` ${Object.entries(ctx)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v, jsonSafe)}`)
            .join(' ')}`;
    this.sink.write(`${new Date().toISOString()} ${level.padEnd(5)} ${who}: ${msg}${fields}\n`);
  }
}

/** JSON replacer: bigint and byte arrays appear in contexts (hashes, payload heads). */
export function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/**
 * Timeline events (crash, detected, fenced, takeover, replay, live ...): NDJSON on stdout.
 * `t` is milliseconds since the emitter was created, from a monotonic clock, so that a
 * timeline's intervals are right even if the wall clock steps; `wall` is for merging logs.
 */
export class Timeline {
  private readonly t0 = performance.now();
  constructor(
    private readonly component: string,
    private readonly sink: LogSink = stdoutSink,
  ) {}

  event(event: string, fields?: Record<string, unknown>): void {
    const rec = {
      t: Math.round((performance.now() - this.t0) * 1000) / 1000,
      wall: new Date().toISOString(),
      component: this.component,
      event,
      ...fields,
    };
    this.sink.write(`${JSON.stringify(rec, jsonSafe)}\n`);
  }
}
