// The KV protocol bound to an NSW server (the body of examples/kv.ts), separate from the
// entry point so that tests can run it in-process.

import type { Nsw, NswServer } from '../nsw/index.ts';
import { KvStore } from './kvstore.ts';
import { error, RespParser, RespProtocolError } from './resp.ts';

/** Attach the KV protocol to an NSW: one store shared by every connection. */
export function kvServer(nsw: Nsw): { server: NswServer; store: KvStore } {
  const store = new KvStore({ now: () => nsw.now() });
  const server = nsw.createServer((sock) => {
    const parser = new RespParser();
    sock.on('data', (chunk) => {
      let cmds: Buffer[][];
      try {
        cmds = parser.push(chunk);
      } catch (e) {
        if (!(e instanceof RespProtocolError)) throw e;
        sock.end(error(`ERR Protocol error: ${e.message}`));
        return;
      }
      // One write per chunk: pipelined replies leave together (fewer segments, one hash).
      const replies: Buffer[] = [];
      let close = false;
      for (const args of cmds) {
        const r = store.execute(args);
        replies.push(r.reply);
        if (r.close) {
          close = true;
          break;
        }
      }
      if (replies.length > 0)
        sock.write(replies.length === 1 ? replies[0]! : Buffer.concat(replies));
      if (close) sock.end();
    });
    sock.on('error', () => {});
  });
  return { server, store };
}
