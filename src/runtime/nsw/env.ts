// How an NSW is configured: the mode flag, the logger, the epoch, and the defaults, from the
// environment (FTTCP_MODE, FTTCP_LOGGER, FTTCP_EPOCH, FTTCP_HOST_ID) or from flags, which win.

import {
  CHECKPOINT_EVERY_BYTES_RANGE,
  CHECKPOINT_EVERY_MS_RANGE,
} from '../../machines/nsw/index.ts';
import { type HostPort, parseBoundedInt, parseHostPort } from '../common/args.ts';
import type { Log, Timeline } from '../common/log.ts';
import type { NswCheckpointApp } from './binding.ts';
import { NswConfigError } from './errors.ts';

/** What the NSW is asked to do: `plain` node:net, `record` a first run, `replay` a recovery. */
export type NswModeFlag = 'plain' | 'record' | 'replay';

export const NSW_MODE_FLAGS: readonly NswModeFlag[] = ['plain', 'record', 'replay'];

export interface NswConfig {
  readonly mode: NswModeFlag;
  /** logger address; required for record and replay */
  readonly logger?: HostPort;
  /** the logger epoch this incarnation joins (default NSW_DEFAULTS.epoch) */
  readonly epoch?: number;
  readonly hostId?: string;
  readonly log?: Log;
  readonly timeline?: Timeline;
  /** output bytes held for output commit before client input is paused (core default 8 MiB) */
  readonly maxHeldBytes?: number;
  /** how long to wait for the logger at start (default NSW_DEFAULTS.connectTimeoutMs) */
  readonly connectTimeoutMs?: number;
  /** R10.1: write a heartbeat line to stdout this often for a watching supervisor
   * (./heartbeat.ts); default: FTTCP_APP_HEARTBEAT_MS, which such a supervisor sets */
  readonly heartbeatMs?: number;
  /** R13.8: the application's snapshot() and restore(); without it, no checkpoints (R13.5) */
  readonly checkpoints?: NswCheckpointApp;
  /** R13.3: a checkpoint after this many client bytes delivered + determinant bytes logged */
  readonly checkpointEveryBytes?: number;
  /** R13.3: and after this long if anything was logged since the last one */
  readonly checkpointEveryMs?: number;
  /** R13.9: where the supervisor's control lines come from (./control.ts); default: stdin when
   * FTTCP_NSW_CONTROL=stdin, else none */
  readonly controlInput?: import('node:stream').Readable;
}

export const NSW_DEFAULTS = {
  /** the first incarnation's epoch */
  epoch: 1,
  /** Nsw.open gives up on an unreachable logger after this long */
  connectTimeoutMs: 10_000,
} as const;

/** The mode flag, or undefined if `s` is not one. */
export const parseModeFlag = (s: string): NswModeFlag | undefined =>
  (NSW_MODE_FLAGS as readonly string[]).includes(s) ? (s as NswModeFlag) : undefined;

/**
 * Configuration from the environment: FTTCP_MODE (plain|record|replay), FTTCP_LOGGER
 * (host:port), FTTCP_EPOCH, FTTCP_HOST_ID. Flags given explicitly override these.
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<NswConfig> {
  const out: { -readonly [K in keyof NswConfig]?: NswConfig[K] } = {};
  const m = env.FTTCP_MODE;
  if (m !== undefined && m !== '') {
    const mode = parseModeFlag(m);
    if (mode === undefined)
      throw new NswConfigError(`FTTCP_MODE '${m}' is not plain|record|replay`);
    out.mode = mode;
  }
  if (env.FTTCP_LOGGER) out.logger = parseHostPort(env.FTTCP_LOGGER);
  if (env.FTTCP_EPOCH) out.epoch = parseBoundedInt(env.FTTCP_EPOCH, 1, 0xffffffff);
  if (env.FTTCP_HOST_ID) out.hostId = env.FTTCP_HOST_ID;
  // R13.3: the checkpoint schedule; the recovery daemon passes the primary's on.
  const [bMin, bMax] = CHECKPOINT_EVERY_BYTES_RANGE;
  const [mMin, mMax] = CHECKPOINT_EVERY_MS_RANGE;
  if (env.FTTCP_CHECKPOINT_EVERY_BYTES)
    out.checkpointEveryBytes = parseBoundedInt(env.FTTCP_CHECKPOINT_EVERY_BYTES, bMin, bMax);
  if (env.FTTCP_CHECKPOINT_EVERY_MS)
    out.checkpointEveryMs = parseBoundedInt(env.FTTCP_CHECKPOINT_EVERY_MS, mMin, mMax);
  return out;
}
