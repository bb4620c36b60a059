// Test hooks: named points inside the protocol where a lab test can freeze a process on
// purpose, to crash it exactly there (a segment logged but its ack not yet out, a
// determinant stored but its output not yet released, a SYN-ACK held, mid-replay, the
// takeover's ARP, right after going live) instead of by timing luck. OFF unless the
// environment names a hook directory; without it `testHook` does nothing and costs a call.
//
//   FTTCP_TEST_HOOKS=<dir>            the hook directory (absolute); unset: every hook is off
//   FTTCP_TEST_HOOK_MAX_HOLD_MS=<ms>  longest freeze (default 4000, at most 60000)
//
// Protocol, through files in <dir> (so one directory serves every process of a lab, whatever
// its thread or namespace):
//   1. the test arms point P by creating <dir>/P;
//   2. the first process that reaches P renames <dir>/P to <dir>/P.held.<pid> (rename is
//      atomic: exactly one process fires an armed point), announces it (a timeline event
//      `test-hook` with the point and its details), and freezes: the thread blocks in
//      Atomics.wait, doing nothing else at all;
//   3. the test either kills the process (the point of the hook) or releases it by deleting
//      <dir>/P.held.<pid>; after FTTCP_TEST_HOOK_MAX_HOLD_MS the process releases itself
//      (announced as `test-hook-timeout`), so a forgotten hook costs a stall, never a hang.
import { existsSync, renameSync, unlinkSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

/** The points; each is documented where it is reached (grep the name). */
export const TEST_HOOK_POINTS = [
  /** SSW data path: DataStored arrived, before the engine acts on it (the client's ack waits) */
  'ssw.logged-unacked',
  /** SSW data path: the engine holds a new connection's SYN-ACK (R2.1); its record is flushed
   * towards the logger first */
  'ssw.synack-held',
  /** SSW data path (takeover): the gratuitous ARP is out, the takeover not yet acknowledged */
  'ssw.takeover-arp',
  /** SSW daemon (main thread): the supervised application exited; the data path is not yet
   * told (its listener is gone while the engine still counts it running, spec/ssw.md R2.8) */
  'ssw.app-exit-untold',
  /** SSW data path: the client's first ack of the server's FIN is about to go to the kernel
   * (R5.7); held, the kernel's retransmission of its FIN comes first (R5.11) */
  'ssw.server-fin-acked',
  /** NSW: DetStored arrived and would release output; nothing released yet */
  'nsw.stored-unreleased',
  /** NSW replay: one logged event delivered, the rest of the log still to replay */
  'nsw.mid-replay',
  /** NSW: the replay ended and the application went live; nothing new processed yet */
  'nsw.live',
  /** NSW: a checkpoint half sent (its Begin and part of its frames are out, R13.4); the rest,
   * and CheckpointEnd, not yet */
  'nsw.mid-checkpoint',
] as const;
export type TestHookPoint = (typeof TEST_HOOK_POINTS)[number];

export const DEFAULT_MAX_HOLD_MS = 4000;
export const MAX_MAX_HOLD_MS = 60_000;

export interface TestHookConfig {
  readonly dir: string;
  readonly maxHoldMs: number;
}

/** The hook configuration in `env`; undefined when hooks are off. Throws on a bad value (a
 * test that asked for hooks must not silently run without them). */
export const testHookConfig = (env: NodeJS.ProcessEnv): TestHookConfig | undefined => {
  const dir = env.FTTCP_TEST_HOOKS;
  if (dir === undefined || dir === '') return undefined;
  if (!isAbsolute(dir)) throw new Error(`FTTCP_TEST_HOOKS '${dir}' is not an absolute path`);
  const raw = env.FTTCP_TEST_HOOK_MAX_HOLD_MS;
  let maxHoldMs = DEFAULT_MAX_HOLD_MS;
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > MAX_MAX_HOLD_MS)
      throw new Error(
        `FTTCP_TEST_HOOK_MAX_HOLD_MS '${raw}' is not an integer in 1..${MAX_MAX_HOLD_MS}`,
      );
    maxHoldMs = n;
  }
  return { dir, maxHoldMs };
};

const config = testHookConfig(process.env);
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Whether hooks are on in this process (FTTCP_TEST_HOOKS set). */
export const testHooksEnabled = (): boolean => config !== undefined;

/** Path of the file that arms `point` in `dir`. */
export const armPath = (dir: string, point: TestHookPoint): string => join(dir, point);
/** Path of the file that holds a process frozen at `point`; deleting it releases the process. */
export const heldPath = (dir: string, point: TestHookPoint, pid: number): string =>
  join(dir, `${point}.held.${pid}`);

/**
 * Reaches `point`: if armed, fires (once across every process), announces, and freezes this
 * thread until released, killed, or the hold bound. `announce` must not need this thread's
 * event loop afterwards (a worker posts a message; a process writes synchronously).
 */
export const testHook = (
  point: TestHookPoint,
  announce: (event: 'test-hook' | 'test-hook-timeout', fields: Record<string, unknown>) => void,
  details: Record<string, unknown> = {},
): void => {
  if (config === undefined) return;
  holdAt(config, point, announce, details);
};

/** `testHook` with an explicit configuration (tests). Returns how the hold ended. */
export const holdAt = (
  cfg: TestHookConfig,
  point: TestHookPoint,
  announce: (event: 'test-hook' | 'test-hook-timeout', fields: Record<string, unknown>) => void,
  details: Record<string, unknown> = {},
): 'off' | 'released' | 'timeout' => {
  const held = heldPath(cfg.dir, point, process.pid);
  try {
    renameSync(armPath(cfg.dir, point), held);
  } catch {
    return 'off'; // not armed, or another process fired it
  }
  announce('test-hook', { point, pid: process.pid, ...details });
  const deadline = Date.now() + cfg.maxHoldMs;
  while (existsSync(held)) {
    if (Date.now() >= deadline) {
      try {
        unlinkSync(held);
      } catch {
        // released at the same moment
      }
      announce('test-hook-timeout', { point, pid: process.pid, heldMs: cfg.maxHoldMs });
      return 'timeout';
    }
    Atomics.wait(sleeper, 0, 0, 5);
  }
  return 'released';
};
