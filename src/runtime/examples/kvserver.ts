// The KV protocol bound to an NSW server (the body of examples/kv.ts), separate from the
// entry point so that tests can run it in-process. It supports checkpoints (spec/nsw.md
// R13.8): its state is the store and each connection's incomplete command.

import type { Nsw, NswCheckpointApp, NswRestored, NswServer, NswSocket } from '../nsw/index.ts';
import { KvStore } from './kvstore.ts';
import { error, RespParser, RespProtocolError } from './resp.ts';

export interface KvServer extends NswCheckpointApp {
  readonly server: NswServer;
  readonly store: KvStore;
}

/** Attach the KV protocol to an NSW: one store shared by every connection. */
export function kvServer(nsw: Nsw): KvServer {
  const store = new KvStore({ now: () => nsw.now() });
  const parsers = new Map<number, RespParser>();
  const attach = (sock: NswSocket, parser = new RespParser()): void => {
    parsers.set(sock.conn, parser);
    sock.on('close', () => parsers.delete(sock.conn));
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
  };
  const server = nsw.createServer((sock) => attach(sock));
  return {
    server,
    store,
    // R13.8: [store length u32][store][connections u32]([conn u32][pending length u32][pending])*
    snapshot: () => {
      const st = store.snapshot();
      const parts: Buffer[] = [u32(st.length), Buffer.from(st), u32(parsers.size)];
      for (const [conn, p] of parsers)
        parts.push(u32(conn), u32(p.pending.length), Buffer.from(p.pending));
      return Buffer.concat(parts);
    },
    restore: (bytes: Uint8Array, restored: NswRestored) => {
      const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const stLen = b.readUInt32BE(0);
      store.restore(b.subarray(4, 4 + stLen));
      let o = 4 + stLen;
      const pending = new Map<number, Buffer>();
      const n = b.readUInt32BE(o);
      o += 4;
      for (let i = 0; i < n; i++) {
        const conn = b.readUInt32BE(o);
        const len = b.readUInt32BE(o + 4);
        pending.set(conn, b.subarray(o + 8, o + 8 + len));
        o += 8 + len;
      }
      for (const [conn, sock] of restored.conns) {
        const p = new RespParser();
        const rest = pending.get(conn);
        if (rest !== undefined && rest.length > 0) p.restorePending(rest);
        attach(sock, p);
      }
    },
  };
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
