// R10.1 (spec/recovery.md): the NSW proves to its supervisor that the application's event
// loop turns. A supervisor that watches for hangs (the SSW daemon, src/runtime/ssw/
// supervisor.ts) sets FTTCP_APP_HEARTBEAT_MS; the NSW then writes one fixed line to stdout,
// the pipe the supervisor already reads the application's timeline from, every that many ms.
//
// The line comes from a timer of the application's own event loop: a loop that spins (a busy
// handler) or a process that is stopped (SIGSTOP) writes nothing, which is what the
// supervisor's watch detects. The timer is unref'd: it never keeps a finished application
// alive. Without the variable nothing is written (an application run by hand, or by a
// supervisor that does not watch).
import { MAX_TIMING_MS } from '../../machines/recovery/params.ts';
import { parseBoundedInt } from '../common/args.ts';

/** The variable a watching supervisor sets: the heartbeat period in ms. */
export const APP_HEARTBEAT_ENV = 'FTTCP_APP_HEARTBEAT_MS';
/** The line, exactly (without its newline); the supervisor compares whole lines with it and
 * keeps them out of the timeline it passes on. NDJSON, so a reader that sees one by accident
 * still parses it. */
export const APP_HEARTBEAT_LINE = '{"event":"nsw-alive"}';
/** Bounds of the period: the supervisor derives it from its hang limit (appHeartbeatPeriodMs). */
export const MIN_APP_HEARTBEAT_MS = 10;

/** The period from the environment, undefined when no supervisor asked for heartbeats.
 * Throws `ArgError` on a value that is not an integer in [MIN_APP_HEARTBEAT_MS, MAX_TIMING_MS]. */
export const appHeartbeatMsFromEnv = (env: NodeJS.ProcessEnv): number | undefined => {
  const v = env[APP_HEARTBEAT_ENV];
  return v === undefined || v === ''
    ? undefined
    : parseBoundedInt(v, MIN_APP_HEARTBEAT_MS, MAX_TIMING_MS);
};

/** A running heartbeat; `stop` is idempotent. */
export interface AppHeartbeat {
  stop(): void;
}

const NONE: AppHeartbeat = { stop: () => {} };

/**
 * Starts the heartbeat (one line at once, then every `periodMs`), or nothing when `periodMs`
 * is undefined. The first line goes out at once so that the supervisor's start-up grace
 * (R10.3) ends as soon as the NSW is up, not one period later.
 */
export const startAppHeartbeat = (
  periodMs: number | undefined,
  write: (line: string) => void = (line) => {
    process.stdout.write(line);
  },
): AppHeartbeat => {
  if (periodMs === undefined) return NONE;
  const line = `${APP_HEARTBEAT_LINE}\n`;
  write(line);
  const timer = setInterval(() => write(line), periodMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
};
