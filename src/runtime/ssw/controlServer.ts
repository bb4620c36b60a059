// The SSW daemon's control channel, server side (`--control PATH`; the client is
// ../recovery/control.ts, the limits ../common/controlChannel.ts): NDJSON on a unix stream
// socket, one JSON object a line, each request answered by a line that carries its `id`. A
// line that is not a JSON object, or an unterminated one longer than the channel's bound,
// closes that client: the peer does not speak the protocol, and nothing it sent is guessed at.

import type net from 'node:net';
import { MAX_CONTROL_LINE } from '../common/controlChannel.ts';
import { LineReader, parseNdjsonObject, STOP } from '../common/lines.ts';

export type ControlReply = (r: Record<string, unknown>) => void;

/** Reads `sock`'s requests and hands each to `onRequest` with the way to answer it. */
export function serveControlClient(
  sock: net.Socket,
  onRequest: (req: Record<string, unknown>, reply: ControlReply) => void,
): void {
  sock.setEncoding('utf8');
  const lines = new LineReader((line) => {
    const req = parseNdjsonObject(line);
    if (req === undefined) {
      sock.destroy();
      return STOP;
    }
    onRequest(req, (r) => {
      if (!sock.destroyed) sock.write(`${JSON.stringify({ id: req.id, ...r })}\n`);
    });
  }, MAX_CONTROL_LINE);
  sock.on('data', (chunk: string) => {
    if (lines.push(chunk) === 'overlong') sock.destroy();
  });
}
