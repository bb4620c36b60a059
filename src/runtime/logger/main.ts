// fttcp logger daemon (backup host). Stores client bytes (from SSWs) and determinants (from
// NSWs) for the current epoch, acknowledges them, tells the SSW when an application close is
// stored (CloseLogged), obeys Fence from the recovery coordinator and serves FetchLog.
//
// Usage:
//   npx tsx src/runtime/logger/main.ts --listen 198.19.0.2:7400 [flags]
//
// Flags:
//   --listen host:port     address to accept SSW/NSW/coordinator links on (required;
//                          port 0 = ephemeral, the chosen port is printed in the 'listening' event)
//   --epoch n              starting epoch (default 1); every peer's Hello must carry it
//   --lease-ms n           lease granted in Welcome (default DEFAULT_RECOVERY_PARAMS.leaseMs,
//                          200: the lease the lab's detector grants too)
//   --max-bytes n          stored bytes (client bytes + determinants + 128 per connection
//                          record) before backpressure (default 268435456)
//   --max-dets n           stored determinants before backpressure (default 8388608)
//   --max-conns n          connection records (default 65536)
//   --max-checkpoint-bytes n  the largest checkpoint (blob + 64 per connection entry;
//                          default 67108864); stored and in-progress ones have their own budget
//   --checkpoint-high-water n  stored bytes above which the NSW is asked for a checkpoint
//                          (default: half of --max-bytes; at most --max-bytes)
//   --checkpoint-wait-ms n how long to wait for a checkpoint at a limit before giving the
//                          log up explicitly (default 10000; 100..600000)
//   --embryonic-ttl-ms n   a connection record whose handshake has not completed this long
//                          after it was stored expires (default 30000; 1000..3600000)
//   --host-id s            name used in logs (default 'logger')
//
// Output: NDJSON timeline events on stdout ('listening' with the bound address, 'fenced',
// 'checkpoint-wanted', 'checkpoint-stored', 'unprotected', 'stalled');
// diagnostics on stderr (FTTCP_LOG_JSON=1 for NDJSON, FTTCP_LOG_LEVEL=debug for more).
// Exit codes: 0 on SIGTERM/SIGINT, 1 on a fatal error (cannot bind), 2 on bad arguments.

import { Command } from 'commander';
import { DEFAULT_RECOVERY_PARAMS, MAX_TIMING_MS } from '../../machines/recovery/params.ts';
import { cliBounded, cliHostPort, formatHostPort, type HostPort, runMain } from '../common/args.ts';
import { Log, Timeline } from '../common/log.ts';
import { LoggerServer } from './server.ts';

interface Opts {
  listen: HostPort;
  epoch: number;
  leaseMs: number;
  maxBytes: number;
  maxDets: number;
  maxConns: number;
  maxCheckpointBytes: number;
  checkpointHighWater?: number;
  checkpointWaitMs: number;
  embryonicTtlMs: number;
  hostId: string;
}

async function main(): Promise<void> {
  const program = new Command('fttcp-logger')
    .description('FT-TCP logger daemon: stores client bytes and determinants, serves recovery')
    .requiredOption('--listen <host:port>', 'address to listen on', cliHostPort)
    .option('--epoch <n>', 'starting epoch', cliBounded(1, 0xffffffff), 1)
    .option(
      '--lease-ms <n>',
      'lease granted in Welcome (ms)',
      cliBounded(1, MAX_TIMING_MS),
      DEFAULT_RECOVERY_PARAMS.leaseMs,
    )
    .option(
      '--max-bytes <n>',
      'stored client bytes before backpressure',
      cliBounded(1, 2 ** 40),
      256 * 1024 * 1024,
    )
    .option(
      '--max-dets <n>',
      'stored determinants before backpressure',
      cliBounded(1, 2 ** 32),
      4_000_000,
    )
    .option('--max-conns <n>', 'connection records', cliBounded(1, 2 ** 24), 65_536)
    .option(
      '--max-checkpoint-bytes <n>',
      'the largest checkpoint (blob + 64 per connection)',
      cliBounded(1, 2 ** 40),
      64 * 1024 * 1024,
    )
    .option(
      '--checkpoint-high-water <n>',
      'stored bytes above which a checkpoint is asked for (default: half of --max-bytes)',
      cliBounded(1, 2 ** 40),
    )
    .option(
      '--checkpoint-wait-ms <n>',
      'wait for a checkpoint at a limit before giving the log up',
      cliBounded(100, 600_000),
      10_000,
    )
    .option(
      '--embryonic-ttl-ms <n>',
      'expire a connection record whose handshake did not complete',
      cliBounded(1000, 3_600_000),
      30_000,
    )
    .option('--host-id <s>', 'name used in logs', 'logger')
    .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2))
    .parse();
  const o = program.opts<Opts>();
  const highWater = o.checkpointHighWater ?? Math.floor(o.maxBytes / 2);
  if (highWater > o.maxBytes) {
    process.stderr.write(
      `fttcp-logger: --checkpoint-high-water ${highWater} is above --max-bytes ${o.maxBytes}\n`,
    );
    process.exit(2);
  }
  const log = new Log({ component: 'logger', hostId: o.hostId });
  const timeline = new Timeline('logger');
  const server = new LoggerServer({
    listen: o.listen,
    epoch: o.epoch,
    leaseMs: o.leaseMs,
    storeLimits: {
      maxStoredBytes: o.maxBytes,
      maxDets: o.maxDets,
      maxConns: o.maxConns,
      maxCheckpointBytes: o.maxCheckpointBytes,
      highWaterBytes: highWater,
      embryonicTtlMs: o.embryonicTtlMs,
    },
    checkpointWaitMs: o.checkpointWaitMs,
    log,
    timeline,
  });
  const bound = await server.start();
  const stop = (sig: string): void => {
    log.info('stopping', { signal: sig, ...server.stats });
    void server.close().then(() => process.exit(0));
  };
  // Before 'listening': whoever reads that line may signal us at once, and a SIGTERM that
  // lands before a handler exists takes the default action (killed, no clean exit).
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  timeline.event('listening', { addr: formatHostPort(bound), epoch: o.epoch });
}

runMain('fttcp-logger', main);
