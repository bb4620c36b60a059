// The NSW's control channel from the local supervisor (spec/nsw.md R13.9): NDJSON lines on the
// application's stdin, read only when the supervisor says it writes them (FTTCP_NSW_CONTROL=
// stdin; the SSW daemon sets it). One request today: `{"cmd":"unprotected","reason":"..."}`,
// sent by the SSW at the moment its host goes unprotected (spec/ssw.md L.2, L.8), so that the
// NSW and the SSW give up protection together: the SSW decides (it alone holds the lease), the
// NSW follows. The reader is unref'd (it never keeps a finished application alive); a line
// that is not a request is logged and skipped, never thrown.
import type { Readable } from 'node:stream';
import { LineReader, parseNdjsonObject } from '../common/lines.ts';
import type { Log } from '../common/log.ts';

/** The variable a supervisor that writes control lines on the application's stdin sets. */
export const NSW_CONTROL_ENV = 'FTTCP_NSW_CONTROL';
/** A control line's longest accepted length (a request is tens of bytes). */
export const MAX_NSW_CONTROL_LINE = 4096;

export type NswControlRequest = { readonly cmd: 'unprotected'; readonly reason: string };

/** One line as a request, or why it is not one. */
export const parseNswControlLine = (
  line: string,
): { ok: true; req: NswControlRequest } | { ok: false; why: string } => {
  const o = parseNdjsonObject(line);
  if (o === undefined) return { ok: false, why: 'not a JSON object' };
  if (o.cmd !== 'unprotected') return { ok: false, why: `unknown cmd ${JSON.stringify(o.cmd)}` };
  const reason = typeof o.reason === 'string' ? o.reason.slice(0, 200) : 'unprotected';
  return { ok: true, req: { cmd: 'unprotected', reason } };
};

/** The line a supervisor writes (with its newline). */
export const nswControlLine = (req: NswControlRequest): string => `${JSON.stringify(req)}\n`;

/**
 * Reads control requests from `input` (the process's stdin) when `env` asks for it; returns a
 * stop function (idempotent). Nothing is read otherwise: an application run by hand keeps its
 * stdin to itself.
 */
export const startNswControl = (
  env: NodeJS.ProcessEnv,
  input: Readable & { unref?: () => void },
  log: Log,
  onRequest: (req: NswControlRequest) => void,
): (() => void) => {
  if (env[NSW_CONTROL_ENV] !== 'stdin') return () => {};
  const lines = new LineReader((line) => {
    if (line.trim() === '') return;
    const r = parseNswControlLine(line);
    if (r.ok) onRequest(r.req);
    else log.warn('control line ignored', { why: r.why, line: line.slice(0, 100) });
  }, MAX_NSW_CONTROL_LINE);
  const onData = (d: Buffer | string): void => {
    if (lines.push(d) === 'overlong') log.warn('control line over its limit: dropped');
  };
  input.on('data', onData);
  input.on('error', () => {});
  input.resume();
  input.unref?.();
  return () => {
    input.off('data', onData);
    input.pause();
  };
};
