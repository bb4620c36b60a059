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
//   --lease-ms n           lease granted in Welcome (default 200)
//   --max-bytes n          stored bytes (client bytes + determinants + 128 per connection
//                          record) before backpressure (default 268435456)
//   --max-dets n           stored determinants before backpressure (default 8388608)
//   --max-conns n          connection records (default 65536)
//   --host-id s            name used in logs (default 'logger')
//
// Output: NDJSON timeline events on stdout ('listening' with the bound address, 'fenced');
// diagnostics on stderr (FTTCP_LOG_JSON=1 for NDJSON, FTTCP_LOG_LEVEL=debug for more).
// Exit codes: 0 on SIGTERM/SIGINT, 1 on a fatal error (cannot bind), 2 on bad arguments.

import { Command } from 'commander';
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
  hostId: string;
}

async function main(): Promise<void> {
  const program = new Command('fttcp-logger')
    .description('FT-TCP logger daemon: stores client bytes and determinants, serves recovery')
    .requiredOption('--listen <host:port>', 'address to listen on', cliHostPort)
    .option('--epoch <n>', 'starting epoch', cliBounded(1, 0xffffffff), 1)
    .option('--lease-ms <n>', 'lease granted in Welcome (ms)', cliBounded(1, 60_000), 200)
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
    .option('--host-id <s>', 'name used in logs', 'logger')
    .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2))
    .parse();
  const o = program.opts<Opts>();
  const log = new Log({ component: 'logger', hostId: o.hostId });
  const timeline = new Timeline('logger');
  const server = new LoggerServer({
    listen: o.listen,
    epoch: o.epoch,
    leaseMs: o.leaseMs,
    storeLimits: { maxStoredBytes: o.maxBytes, maxDets: o.maxDets, maxConns: o.maxConns },
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
