// Binds the link plumbing (./link.ts) to the project's wire codecs: frames from
// src/wire/frame.ts, message bodies from src/wire/logmsg.ts. A frame that passes the CRC but
// whose body does not decode is as fatal as a bad CRC: both mean the peer disagrees with us
// about the format, and every later byte is suspect.

import { FrameDecoder } from '../../wire/frame.ts';
import {
  decodeMessage,
  encodeMessage,
  formatMessageError,
  type LoggerMessage,
} from '../../wire/logmsg.ts';
import type { Decoded, DecodeStep, LinkCodec, LinkDecoder } from './link.ts';

class LoggerLinkDecoder implements LinkDecoder<LoggerMessage> {
  private readonly frames = new FrameDecoder();

  push(chunk: Uint8Array): DecodeStep<LoggerMessage> {
    const r = this.frames.push(chunk);
    const frames = r.ok ? r.value : r.error.delivered;
    const out: Decoded<LoggerMessage>[] = [];
    for (const f of frames) {
      const m = decodeMessage(f);
      if (!m.ok) {
        return {
          ok: false,
          delivered: out,
          kind: m.error.kind,
          detail: formatMessageError(m.error),
        };
      }
      out.push({ msg: m.value, epoch: f.epoch });
    }
    if (!r.ok)
      return { ok: false, delivered: out, kind: r.error.kind, detail: r.error.detail ?? '' };
    return { ok: true, value: out };
  }
}

export const loggerLinkCodec: LinkCodec<LoggerMessage> = {
  encode: (msg, epoch) => encodeMessage(msg, epoch),
  newDecoder: () => new LoggerLinkDecoder(),
};
