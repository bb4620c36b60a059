// fttcp recovery daemon (backup host): failure detector + recovery coordinator. See README.md
// in this directory for the heartbeat port, the control channel to the backup SSW, fencing
// and the timeline format.
//
// Usage:
//   npx tsx src/runtime/recovery/main.ts --heartbeat-listen 198.19.0.2:7401 \
//     --logger 198.19.0.2:7400 [--ssw-control /run/ftl/backup-ssw.sock] \
//     [--app-cmd '<shell command>'] [--fence-cmd '<shell command>'] [flags]
//
// Flags:
//   --heartbeat-listen host:port  where the primary SSW sends Heartbeats (required)
//   --logger host:port            logger to Fence (required)
//   --ssw-control path            unix socket of the backup SSW's control channel
//   --app-cmd cmd                 starts the application in replay (/bin/sh -c; env
//                                 FTTCP_MODE=replay FTTCP_LOGGER FTTCP_EPOCH)
//   --app-warm-spare              keeps a held replay incarnation of --app-cmd ready (V.1): the
//                                 first incarnation is that spare, released with its epoch
//   --app-preload module          absolute path of a module the warm spare imports before it
//                                 holds (repeatable)
//   --fence-cmd cmd               power-fences the old primary; exit 0 = fenced (env FTTCP_EPOCH)
//   --app-hang-ms n, --app-start-grace-ms n
//                                 R10.2/R10.3 watch of the application run after a failover
//                                 (defaults as the SSW daemon's; 0 hang: no watch)
//   --logger-cmd cmd              runs the logger of this host: started now, restarted after it
//                                 dies (spec/recovery.md S.1, spec/ssw.md L.9); its timeline
//                                 lines go on this daemon's stdout
//   --epoch n                     current logger epoch (default 1)
//   --host-id s                   name in logs (default 'backup')
//   --lease-ms n, --suspect-after-ms n, --drift-margin-ms n, --heartbeat-interval-ms n,
//   --stonith-deadline-ms n, --max-link-delay-ms n, --unprotect-after-ms n
//                                 timing (defaults: src/machines/recovery/params.ts; checked
//                                 with checkRecoveryParams, a bad combination exits 2)
//   --control-timeout-ms n        bound on one control request (default
//                                 CONTROL_CHANNEL.requestTimeoutMs, 5000)
// Stdout: NDJSON timeline (ready, heartbeat-up, suspect, crash, detected, fenced, takeover,
// app-started, replay, live, restart, failed, error; logger-start, logger-exit). Every child
// (application, logger, fence command) runs in its own process group with a parent-death
// signal and is stopped as a group with the daemon (spec/recovery.md S.2). Diagnostics on stderr.
// Exit codes: 0 on SIGTERM/SIGINT, 1 fatal error, 2 bad arguments.

import { Command, InvalidArgumentError } from 'commander';
import {
  checkAppLivenessParams,
  DEFAULT_APP_HANG_MS,
  DEFAULT_APP_START_GRACE_MS,
  formatAppLivenessError,
  MAX_TIMING_MS,
  type RecoveryParams,
} from '../../machines/recovery/index.ts';
import { cliBounded, cliHostPort, type HostPort, runMain } from '../common/args.ts';
import { CONTROL_CHANNEL } from '../common/controlChannel.ts';
import { Log, Timeline } from '../common/log.ts';
import { checkPreloadPath } from '../ssw/supervisor.ts';
import { RecoveryDaemon } from './daemon.ts';
import { addRecoveryParamOptions, recoveryParamsFromOpts } from './params-cli.ts';

runMain('fttcp-recovery', async () => {
  const ms = cliBounded(0, MAX_TIMING_MS);
  const program = new Command('fttcp-recovery')
    .description('FT-TCP recovery daemon: failure detector and recovery coordinator (backup host)')
    .requiredOption(
      '--heartbeat-listen <host:port>',
      'where the primary SSW sends heartbeats',
      cliHostPort,
    )
    .requiredOption('--logger <host:port>', 'logger address', cliHostPort)
    .option('--ssw-control <path>', 'unix socket of the backup SSW control channel')
    .option('--app-cmd <cmd>', 'shell command starting the application in replay')
    .option(
      '--app-warm-spare',
      'keep a held replay incarnation of --app-cmd ready: the first incarnation is that spare (spec/recovery.md V.1)',
    )
    .option(
      '--app-preload <module>',
      "absolute path of a module the warm spare imports before it holds (the application's library code; repeatable)",
      (v: string, prev: string[]) => {
        const why = checkPreloadPath(v);
        if (why !== undefined) throw new InvalidArgumentError(why);
        return [...prev, v];
      },
      [] as string[],
    )
    .option('--fence-cmd <cmd>', 'shell command power-fencing the old primary')
    .option(
      '--logger-cmd <cmd>',
      'shell command running the logger on this host: supervised, restarted after it dies (spec/recovery.md S.1)',
    )
    .option('--epoch <n>', 'current logger epoch', cliBounded(1, 0xffffffff), 1)
    .option('--host-id <s>', 'name in logs', 'backup')
    .option(
      '--app-hang-ms <ms>',
      'R10.2: kill and recover the application this daemon runs after a failover when its heartbeats stop this long (0: no watch)',
      ms,
      DEFAULT_APP_HANG_MS,
    )
    .option(
      '--app-start-grace-ms <ms>',
      "R10.3: time for a starting incarnation's first heartbeat",
      ms,
      DEFAULT_APP_START_GRACE_MS,
    )
    .option(
      '--control-timeout-ms <n>',
      'bound on one control request',
      ms,
      CONTROL_CHANNEL.requestTimeoutMs,
    );
  addRecoveryParamOptions(program)
    .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2))
    .parse();
  const o = program.opts<
    RecoveryParams & {
      heartbeatListen: HostPort;
      logger: HostPort;
      sswControl?: string;
      appCmd?: string;
      appWarmSpare?: boolean;
      appPreload: string[];
      fenceCmd?: string;
      loggerCmd?: string;
      appHangMs: number;
      appStartGraceMs: number;
      epoch: number;
      hostId: string;
      controlTimeoutMs: number;
    }
  >();
  if (o.appWarmSpare === true && o.appCmd === undefined) {
    process.stderr.write('fttcp-recovery: --app-warm-spare needs --app-cmd\n');
    process.exit(2);
  }
  if (o.appPreload.length > 0 && o.appWarmSpare !== true) {
    process.stderr.write(
      'fttcp-recovery: --app-preload is for the warm spare: add --app-warm-spare\n',
    );
    process.exit(2);
  }
  const checked = recoveryParamsFromOpts(o);
  if (!checked.ok) {
    process.stderr.write(`fttcp-recovery: ${checked.message}\n`);
    process.exit(2);
  }
  const params = checked.value;
  const liveness = checkAppLivenessParams({ hangMs: o.appHangMs, startGraceMs: o.appStartGraceMs });
  if (!liveness.ok) {
    process.stderr.write(
      `fttcp-recovery: --app-hang-ms/--app-start-grace-ms: ${formatAppLivenessError(liveness.error)}\n`,
    );
    process.exit(2);
  }
  const daemon = new RecoveryDaemon({
    heartbeatListen: o.heartbeatListen,
    logger: o.logger,
    epoch: o.epoch,
    hostId: o.hostId,
    params,
    controlTimeoutMs: o.controlTimeoutMs,
    log: new Log({ component: 'recovery', hostId: o.hostId }),
    timeline: new Timeline('recovery'),
    ...(o.sswControl !== undefined ? { sswControl: o.sswControl } : {}),
    ...(o.appCmd !== undefined ? { appCmd: o.appCmd } : {}),
    ...(o.appWarmSpare === true ? { appSpare: { preload: o.appPreload } } : {}),
    ...(o.fenceCmd !== undefined ? { fenceCmd: o.fenceCmd } : {}),
    ...(o.loggerCmd !== undefined ? { loggerCmd: o.loggerCmd } : {}),
    appLiveness: liveness.value,
  });
  // S.2: whatever way this process ends (a fatal error included), its children end with it;
  // a SIGKILL of this daemon leaves that to their parent-death signal.
  process.on('exit', () => daemon.killChildrenNow());
  // Before start(): it starts the logger first, and a SIGTERM that lands before a handler
  // exists takes the default action, which stops no child's group (a process the logger
  // forked would outlive this daemon, S.2).
  const stop = (): void => void daemon.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await daemon.start();
});
