// RESP key-value server on the NSW, for real unmodified clients (Debian's redis-cli and
// redis-benchmark). Commands: PING, ECHO, SET (EX/PX/NX/XX), GET, DEL, EXISTS, INCR, DECR,
// INCRBY, DECRBY, MGET, DBSIZE, FLUSHDB/FLUSHALL, SELECT 0, QUIT, INFO, plus the CONFIG GET,
// COMMAND and CLIENT answers redis-cli and redis-benchmark ask for. Inline commands and
// pipelining are supported (see resp.ts). Key expiry reads the clock through nsw.now(), so a
// replayed run expires exactly what the recorded one did.
//
// Usage:
//   npx tsx src/runtime/examples/kv.ts --listen 198.18.0.10:6379 --mode record --logger 198.19.0.2:7400
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
import { openApp } from './appcli.ts';
import { type KvServer, kvServer } from './kvserver.ts';

runMain('fttcp-kv', async () => {
  // spec/nsw.md R13.8: declared as the NSW opens, called once the server exists.
  let kv: KvServer | undefined;
  const { listen, nsw, timeline } = await openApp(
    'fttcp-kv',
    'FT-TCP example: RESP key-value server on the NSW',
    process.argv,
    {
      snapshot: () => kv!.snapshot(),
      restore: (bytes, restored) => kv!.restore(bytes, restored),
    },
  );
  kv = kvServer(nsw);
  const { server } = kv;
  server.listen(listen.port, listen.host, () => {
    const a = server.address();
    timeline.event('listening', {
      addr: typeof a === 'object' && a !== null ? `${a.address}:${a.port}` : String(a),
      mode: nsw.mode,
    });
  });
  process.on('SIGTERM', () => void nsw.close().then(() => process.exit(0)));
});
