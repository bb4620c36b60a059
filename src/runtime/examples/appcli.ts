// Shared command line of the example servers: every example takes the same flags so that the
// lab starts any of them the same way, in any mode. Flags override the FTTCP_* environment
// (the recovery daemon passes FTTCP_MODE / FTTCP_LOGGER / FTTCP_EPOCH when it starts an
// application in replay). The lab's test hooks (FTTCP_TEST_*, ./testhooks.ts) are installed
// here too.

import { Command } from 'commander';
import {
  CHECKPOINT_EVERY_BYTES_RANGE,
  CHECKPOINT_EVERY_MS_RANGE,
} from '../../machines/nsw/index.ts';
import { cliBounded, cliHostPort, type HostPort } from '../common/args.ts';
import { Log, Timeline } from '../common/log.ts';
import {
  configFromEnv,
  NSW_DEFAULTS,
  Nsw,
  type NswCheckpointApp,
  type NswConfig,
  parseModeFlag,
} from '../nsw/index.ts';
import { installTestHooks } from './testhooks.ts';

export interface AppArgs {
  readonly listen: HostPort;
  readonly nsw: Nsw;
  readonly log: Log;
  /** the application's timeline (stdout NDJSON), shared with its NSW so `t` is one clock */
  readonly timeline: Timeline;
}

/**
 * `checkpoints`: the application's snapshot() and restore() (spec/nsw.md R13.8), declared to
 * the logger as the NSW opens and called only later (restore() when the server listens).
 */
export async function openApp(
  name: string,
  description: string,
  argv = process.argv,
  checkpoints?: NswCheckpointApp,
): Promise<AppArgs> {
  const program = new Command(name)
    .description(description)
    .requiredOption('--listen <host:port>', 'address the server listens on', cliHostPort)
    .option('--logger <host:port>', 'logger address (record/replay; env FTTCP_LOGGER)', cliHostPort)
    .option('--mode <mode>', 'record | replay | plain (env FTTCP_MODE; default plain)')
    .option(
      '--epoch <n>',
      'logger epoch to join (env FTTCP_EPOCH; default 1)',
      cliBounded(1, 0xffffffff),
    )
    .option('--host-id <s>', 'name in logs (env FTTCP_HOST_ID)')
    .option(
      '--checkpoint-every-bytes <n>',
      'R13.3: checkpoint after this many client + determinant bytes (default 64 MiB; env FTTCP_CHECKPOINT_EVERY_BYTES)',
      cliBounded(...CHECKPOINT_EVERY_BYTES_RANGE),
    )
    .option(
      '--checkpoint-every-ms <n>',
      'R13.3: and after this long if anything was logged (default 60000; env FTTCP_CHECKPOINT_EVERY_MS)',
      cliBounded(...CHECKPOINT_EVERY_MS_RANGE),
    )
    .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2))
    .parse(argv);
  const o = program.opts<{
    listen: HostPort;
    logger?: HostPort;
    mode?: string;
    epoch?: number;
    hostId?: string;
    checkpointEveryBytes?: number;
    checkpointEveryMs?: number;
  }>();
  let env: Partial<NswConfig>;
  try {
    env = configFromEnv();
  } catch (e) {
    // A bad FTTCP_* variable is a usage error like a bad flag.
    process.stderr.write(`${name}: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const flag = o.mode ?? env.mode ?? 'plain';
  const mode = parseModeFlag(flag);
  if (mode === undefined) {
    process.stderr.write(`${name}: --mode must be record, replay or plain, got '${flag}'\n`);
    process.exit(2);
  }
  const logger = o.logger ?? env.logger;
  if (mode !== 'plain' && logger === undefined) {
    process.stderr.write(`${name}: --mode ${mode} needs --logger host:port (or FTTCP_LOGGER)\n`);
    process.exit(2);
  }
  const hostId = o.hostId ?? env.hostId ?? name;
  const log = new Log({ component: name, hostId });
  const hooks = installTestHooks();
  if (hooks.length > 0) log.warn('test hooks armed', { hooks });
  const timeline = new Timeline(name);
  const cfg: NswConfig = {
    mode,
    epoch: o.epoch ?? env.epoch ?? NSW_DEFAULTS.epoch,
    hostId,
    log: log.child('nsw'),
    timeline,
    ...(logger !== undefined ? { logger } : {}),
    // FTTCP_CHECKPOINTS=off runs the application as one without snapshots (R13.8): its log
    // only grows (the benchmark's baseline for recovery against history).
    ...(checkpoints !== undefined && process.env.FTTCP_CHECKPOINTS !== 'off'
      ? { checkpoints }
      : {}),
  };
  const everyBytes = o.checkpointEveryBytes ?? env.checkpointEveryBytes;
  const everyMs = o.checkpointEveryMs ?? env.checkpointEveryMs;
  const withSchedule: NswConfig = {
    ...cfg,
    ...(everyBytes !== undefined ? { checkpointEveryBytes: everyBytes } : {}),
    ...(everyMs !== undefined ? { checkpointEveryMs: everyMs } : {}),
  };
  const nsw = await Nsw.open(withSchedule);
  return { listen: o.listen, nsw, log, timeline };
}
