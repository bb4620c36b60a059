// `fttcp lab status`: who protects whom. Each server host's SSW answers `status` on its control
// socket (the latest run's `ssw-<host>.sock`) with its host statechart's regions: the role
// (standby, active, fenced), the logger (awaitingLogger, protected, unprotected: spec/ssw.md
// L.2, L.8, L.10; colocated: L.6) and the application. Bounded: a socket that does not answer
// within STATUS_TIMEOUT_MS is reported as such, never waited for.
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { CONTROL_CHANNEL } from '../common/controlChannel.ts';
import { LineReader, parseNdjsonObject, STOP } from '../common/lines.ts';
import { RUNS_DIR } from './procs.ts';

const STATUS_TIMEOUT_MS = 1000;

export interface HostProtection {
  readonly host: 'primary' | 'backup';
  /** the SSW's host regions, or why there are none */
  readonly ssw: { role: string; logger: string; app: string; conns?: number } | { error: string };
}

const ask = (path: string): Promise<Record<string, unknown> | { error: string }> =>
  new Promise((resolve) => {
    const sock = net.connect(path);
    const done = (r: Record<string, unknown> | { error: string }): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ error: 'no answer' }), STATUS_TIMEOUT_MS);
    sock.on('error', (e) => done({ error: e.message }));
    sock.on('connect', () => sock.write(`${JSON.stringify({ id: 1, cmd: 'status' })}\n`));
    sock.setEncoding('utf8');
    // The first line is the answer; the channel's own bound on a line applies.
    const lines = new LineReader((line) => {
      done(parseNdjsonObject(line) ?? { error: 'malformed answer' });
      return STOP;
    }, CONTROL_CHANNEL.maxLine);
    sock.on('data', (d: string) => {
      if (lines.push(d) === 'overlong') done({ error: 'answer longer than a control line' });
    });
  });

/** Each server host's protection, from the latest run's SSW control sockets. */
export const labProtection = async (
  runDir = join(RUNS_DIR, 'latest'),
): Promise<HostProtection[]> => {
  const out: HostProtection[] = [];
  for (const host of ['primary', 'backup'] as const) {
    const path = join(runDir, `ssw-${host}.sock`);
    if (!existsSync(path)) continue;
    const r: Record<string, unknown> = await ask(path);
    const h = r.host as { role?: unknown; logger?: unknown; app?: unknown } | undefined;
    out.push({
      host,
      ssw:
        typeof r.error === 'string'
          ? { error: r.error }
          : {
              role: String(h?.role ?? '?'),
              logger: String(h?.logger ?? '?'),
              app: String(h?.app ?? '?'),
              ...(typeof r.conns === 'number' ? { conns: r.conns } : {}),
            },
    });
  }
  return out;
};

export const formatProtection = (ps: readonly HostProtection[]): string =>
  ps
    .map((p) =>
      'error' in p.ssw
        ? `ssw ${p.host}: ${p.ssw.error}`
        : `ssw ${p.host}: ${p.ssw.role}, logger ${p.ssw.logger}, app ${p.ssw.app}${p.ssw.conns !== undefined ? `, ${p.ssw.conns} connections` : ''}`,
    )
    .join('\n');
