// Argument helpers shared by the runtime's entry points. Every entry uses commander so that
// `--help`, unknown-flag errors and exit code 2 behave the same across daemons; these helpers
// turn bad values into commander's InvalidArgumentError so the user sees which flag was wrong.

import { isIPv4 } from 'node:net';
import { InvalidArgumentError } from 'commander';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Why a textual argument was refused (also used outside commander, e.g. env variables). */
export class ArgError extends Error {
  override readonly name = 'ArgError';
}

/** `host:port` with an IPv4 host (FT-TCP is IPv4-only) or `localhost`; port 0 allowed (ephemeral). */
export function parseHostPort(s: string): HostPort {
  const i = s.lastIndexOf(':');
  if (i <= 0) throw new ArgError(`expected host:port, got '${s}'`);
  const host = s.slice(0, i);
  const portText = s.slice(i + 1);
  if (!isIPv4(host) && host !== 'localhost') throw new ArgError(`'${host}' is not an IPv4 address`);
  const port = parsePort(portText);
  return { host, port };
}

export function parsePort(s: string): number {
  if (!/^\d{1,5}$/.test(s)) throw new ArgError(`'${s}' is not a port number`);
  const port = Number(s);
  if (port > 65535) throw new ArgError(`port ${port} is out of range`);
  return port;
}

/** Non-negative integer with an explicit upper bound, for limits and timeouts. */
export function parseBoundedInt(s: string, min: number, max: number): number {
  if (!/^\d+$/.test(s)) throw new ArgError(`'${s}' is not a non-negative integer`);
  const n = Number(s);
  if (n < min || n > max) throw new ArgError(`${n} is outside [${min}, ${max}]`);
  return n;
}

/** Wrap a parser for commander's `.argParser`, so errors name the flag. */
export function cli<T>(parse: (s: string) => T): (s: string) => T {
  return (s: string) => {
    try {
      return parse(s);
    } catch (e) {
      throw new InvalidArgumentError(e instanceof Error ? e.message : String(e));
    }
  };
}

export const cliHostPort = cli(parseHostPort);
export const cliBounded = (min: number, max: number): ((s: string) => number) =>
  cli((s) => parseBoundedInt(s, min, max));

export function formatHostPort(hp: HostPort): string {
  return `${hp.host}:${hp.port}`;
}

/**
 * Run an async main; an uncaught failure prints one line with its context and exits 1, so the
 * lab sees a clean exit code and a reason, never a bare stack trace on a bad argument.
 */
export function runMain(component: string, main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    process.stderr.write(`${component}: fatal: ${msg}\n`);
    if (process.env.FTTCP_DEBUG === '1' && e instanceof Error && e.stack)
      process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  });
}
