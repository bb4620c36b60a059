// SIOCOUTQ for the NSW's checkpoints (spec/nsw.md R13.1): the bytes written to a kernel socket
// that its client has not acknowledged yet. Through the SSW the kernel sees the client's own
// acks (spec/ssw.md R7.4), so released output minus this is what the client holds for sure,
// and a checkpoint's output tail need not keep anything below it.

import type net from 'node:net';
import { sysIoctl } from '../sys/libc.ts';

/** SIOCOUTQ = TIOCOUTQ on Linux. */
const SIOCOUTQ = 0x5411;

const buf = new Uint8Array(4);
const view = new DataView(buf.buffer);

/**
 * Bytes handed to `k` that its client may not have: what node:net still queues plus the
 * kernel's send queue. Infinity when the kernel cannot say (no descriptor, the call failed):
 * the caller then keeps every byte it has.
 */
export function unackedBytes(k: net.Socket): number {
  const fd = (k as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return Number.POSITIVE_INFINITY;
  try {
    sysIoctl(fd, SIOCOUTQ, buf, 'SIOCOUTQ');
  } catch {
    return Number.POSITIVE_INFINITY;
  }
  return k.writableLength + view.getInt32(0, true);
}
