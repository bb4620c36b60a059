// R5 a crash is silent (spec/ssw.md "R5 A crash is silent"): where the application's logged
// close puts its FIN or RST (R5.2, R5.3), and when the kernel is done with a closing
// connection (R5.7).

import type { CloseHow } from '../../wire/logmsg.ts';
import { type SeqNumber, seqAdd, seqGt, seqLe, seqLt } from '../../wire/seq.ts';
import type { LoggedClose } from './conn.ts';

/** R5.2: the close position from the close determinant's `offset` (bytes written before it). */
export const loggedCloseOf = (
  serverIsn: SeqNumber,
  how: CloseHow,
  offset: number,
): LoggedClose => ({
  how,
  // offset is a u53: reduced mod 2^32 first, since serverIsn + 1 + offset could pass 2^53,
  // where a double no longer holds every integer.
  seq: seqAdd(serverIsn, 1 + (offset % 0x1_0000_0000)),
});

/**
 * R5.2 / R5.3: is a kernel FIN (at `seq`, original space: the FIN's own sequence number) or RST
 * (at `seq`, its sequence number) the application's logged close rather than a crash's?
 * - `end`: the FIN must sit exactly at the close position. A FIN before it is the kernel
 *   closing a dead process's socket before the close's last output reached it; a FIN after it
 *   cannot be this close. An RST passes only at or after the position (every byte the
 *   application wrote has left the kernel; the kernel answers a segment after the close).
 * - `destroy`: a FIN or RST at or before the position. A destroy discards output the kernel has
 *   not sent, in a failure-free run too, so the client seeing a prefix of the output and then
 *   the end is a behaviour the application chose; a crash's end in that range cannot be told
 *   apart and need not be.
 * No logged close: never (the engine holds or drops it).
 */
export const atLoggedClose = (
  close: LoggedClose | undefined,
  kind: 'fin' | 'rst',
  seq: SeqNumber,
): boolean => {
  if (close === undefined) return false;
  if (close.how === 'destroy') return seqLe(seq, close.seq);
  return kind === 'fin' ? seq === close.seq : !seqLt(seq, close.seq);
};

/**
 * R5.7: the kernel is done with a closing connection: it has acknowledged the client's FIN
 * (`kernelAck` past `clientFinSeq`) and has been handed the client's ack of its own FIN. Its
 * socket may then be gone (LAST_ACK -> CLOSED), and a client segment forwarded to it would be
 * answered with an RST. The client still retransmits while R1.2 holds back the ack of its last
 * bytes or FIN (the logger has not stored them yet), so the SSW answers those itself.
 */
export const kernelDoneWith = (
  clientFinSeq: SeqNumber | undefined,
  kernelAck: SeqNumber | undefined,
  serverFinAckForwarded: boolean,
): boolean =>
  serverFinAckForwarded &&
  clientFinSeq !== undefined &&
  kernelAck !== undefined &&
  seqGt(kernelAck, clientFinSeq);
