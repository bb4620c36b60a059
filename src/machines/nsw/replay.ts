// R11 replay, one step at a time (spec/nsw.md). Given the next logged determinant and what the
// kernel has handed the NSW so far, say what to do: deliver it, wait for input, wait for the
// application's own call, or declare divergence. Pure: the caller owns the buffers.

import type { Determinant } from '../../wire/logmsg.ts';

/** What the NSW holds from the kernel (and from the logger, for connections already closed). */
export interface KernelView {
  /** the NSW connection number the next `accept` must carry (accept order from 0) */
  readonly nextConn: number;
  /** the oldest kernel connection from this client not yet matched to an accept */
  pendingAccept(clientAddr: number, clientPort: number): number | undefined;
  /** the kernel socket an accepted NSW connection is bound to */
  sockOf(conn: number): number | undefined;
  /** bytes received on the socket and not yet delivered */
  buffered(sock: number): number;
  /** the socket's end-of-stream has arrived */
  eof(sock: number): boolean;
  /** the application has this timer armed */
  timerArmed(timerId: number): boolean;
}

export type ReplayStep =
  | { readonly kind: 'accept'; readonly conn: number; readonly sock: number }
  | { readonly kind: 'read'; readonly conn: number; readonly sock: number; readonly len: number }
  | { readonly kind: 'eof'; readonly conn: number; readonly sock: number }
  | { readonly kind: 'timer'; readonly timerId: number }
  /** a pushed determinant whose input has not arrived yet */
  | { readonly kind: 'wait'; readonly reason: string }
  /** a pulled determinant (or a timer not armed yet): the application must act first */
  | { readonly kind: 'awaitApp'; readonly det: Determinant }
  | { readonly kind: 'diverged'; readonly conn: number | null; readonly reason: string }
  | { readonly kind: 'exhausted' };

export function nextReplayStep(det: Determinant | undefined, v: KernelView): ReplayStep {
  if (det === undefined) return { kind: 'exhausted' };
  switch (det.kind) {
    case 'accept': {
      // Connections are numbered in accept order, so the log itself says which number comes
      // next; anything else is a corrupt or foreign log, and nothing after it can be trusted.
      if (det.conn !== v.nextConn) {
        return {
          kind: 'diverged',
          conn: null,
          reason: `log accepts conn ${det.conn}, the next is ${v.nextConn}`,
        };
      }
      // Matched by client address and port, not by arrival order: re-created connections come
      // back in whatever order the SSW and the kernel manage (spec/nsw.md R11.2).
      const sock = v.pendingAccept(det.clientAddr, det.clientPort);
      return sock === undefined
        ? { kind: 'wait', reason: `accept of conn ${det.conn} from port ${det.clientPort}` }
        : { kind: 'accept', conn: det.conn, sock };
    }
    case 'read': {
      const sock = v.sockOf(det.conn);
      if (sock === undefined)
        return { kind: 'diverged', conn: null, reason: `read on conn ${det.conn}, never accepted` };
      const have = v.buffered(sock);
      if (have >= det.len) return { kind: 'read', conn: det.conn, sock, len: det.len };
      // The stream ended before the logged chunk: the bytes are not the ones the first run read.
      if (v.eof(sock)) {
        return {
          kind: 'diverged',
          conn: det.conn,
          reason: `stream ended ${det.len - have} bytes short of a logged read of ${det.len}`,
        };
      }
      return { kind: 'wait', reason: `${det.len - have} more bytes on conn ${det.conn}` };
    }
    case 'eof': {
      const sock = v.sockOf(det.conn);
      if (sock === undefined)
        return { kind: 'diverged', conn: null, reason: `eof on conn ${det.conn}, never accepted` };
      // Bytes still buffered at a logged eof were never read in the first run (the client reset
      // the connection); they are dropped with the stream, as the first run's kernel did.
      return v.eof(sock)
        ? { kind: 'eof', conn: det.conn, sock }
        : { kind: 'wait', reason: `end of stream on conn ${det.conn}` };
    }
    case 'timer':
      return v.timerArmed(det.timerId)
        ? { kind: 'timer', timerId: det.timerId }
        : { kind: 'awaitApp', det };
    case 'clock':
    case 'random':
    case 'close':
    case 'outputHash':
      return { kind: 'awaitApp', det };
  }
}
