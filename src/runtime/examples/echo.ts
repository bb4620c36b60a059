// Echo server on the NSW: every byte a client sends comes back on the same connection; when
// the client ends its side, the server ends its own. The smallest application that exercises
// accept/read/eof determinants and output commit. It supports checkpoints (spec/nsw.md
// R13.8): it keeps nothing between deliveries, so its snapshot is empty and its restore only
// attaches its handler to each restored connection.
//
// Usage:
//   npx tsx src/runtime/examples/echo.ts --listen 198.18.0.10:7 --mode record --logger 198.19.0.2:7400
//
// Flags:
//   --listen host:port   address to serve on (required)
//   --logger host:port   logger address (record/replay; env FTTCP_LOGGER)
//   --mode m             record | replay | plain (env FTTCP_MODE; default plain)
//   --epoch n            logger epoch to join (env FTTCP_EPOCH; default 1)
//   --host-id s          name in logs (env FTTCP_HOST_ID)
// Stdout: NDJSON timeline ('listening', and in replay 'replay-start', 'replay', 'live').
// Exit codes: 2 bad arguments, 3 replay divergence, 4 fenced, 1 other fatal error.

import { runMain } from '../common/args.ts';
import type { Log } from '../common/log.ts';
import type { NswCheckpointApp, NswSocket } from '../nsw/index.ts';
import { openApp } from './appcli.ts';

/** The echo's whole behaviour on one connection. */
export const echoOn =
  (log: Log) =>
  (sock: NswSocket): void => {
    sock.on('data', (chunk) => sock.write(chunk));
    sock.on('error', (e) => log.warn('socket error', { conn: sock.conn, error: e.message }));
  };

runMain('fttcp-echo', async () => {
  let attach: ((sock: NswSocket) => void) | undefined;
  const checkpoints: NswCheckpointApp = {
    snapshot: () => new Uint8Array(0),
    restore: (_snapshot, { conns }) => {
      for (const sock of conns.values()) attach?.(sock);
    },
  };
  const { listen, nsw, log, timeline } = await openApp(
    'fttcp-echo',
    'FT-TCP example: echo server on the NSW',
    process.argv,
    checkpoints,
  );
  attach = echoOn(log);
  const server = nsw.createServer(attach);
  server.listen(listen.port, listen.host, () => {
    const a = server.address();
    timeline.event('listening', {
      addr: typeof a === 'object' && a !== null ? `${a.address}:${a.port}` : String(a),
      mode: nsw.mode,
    });
  });
  process.on('SIGTERM', () => void nsw.close().then(() => process.exit(0)));
});
