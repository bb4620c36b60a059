// What the Nsw facade (./nsw.ts) and its servers ask of a binding: the sockets, the clock,
// randomness and timers, either straight from node:net and Node (./plainBinding.ts, no
// FT-TCP) or through the NSW core and its logger link (./ftBinding.ts, record and replay).

import type { NswMode } from '../../machines/nsw/index.ts';
import { ipv4FromString } from '../../wire/addr.ts';
import type { NswDivergenceError } from './errors.ts';
import type { ServerHooks } from './server.ts';

/**
 * The mode an Nsw runs in, as the application sees it (`nsw.mode`): `plain`, or the mode of
 * the NSW's control statechart (spec/nsw.md "Modes and control").
 */
export type NswRunMode = 'plain' | NswMode;

export interface NswStats {
  readonly detSeq: number;
  readonly stableDet: number;
  readonly heldBytes: number;
  readonly mode: NswRunMode;
}

export interface NswTimer {
  readonly timerId: number;
}

/** What a binding tells the application through the Nsw facade's events. */
export interface NswOwner {
  /** R11.6: the replay is over ('live') */
  live(): void;
  /** R12, one connection or the whole application ('divergence') */
  divergence(e: NswDivergenceError): void;
  /** a whole-application failure: 'error', or exit if nobody listens */
  fail(e: Error): void;
}

export interface NswBinding extends ServerHooks {
  readonly mode: NswRunMode;
  readonly stats: NswStats;
  /** resolves when the application may start (the logger link up, the log fetched) */
  start(): Promise<void>;
  /** the clock value the application gets for the live reading `liveMs` */
  now(liveMs: number): number;
  /** the random bytes the application gets for `live` (at most MAX_RANDOM_BYTES) */
  random(live: Uint8Array): Uint8Array;
  setTimeout(fn: () => void, ms: number): NswTimer;
  clearTimeout(t: NswTimer): void;
  /** timers, sockets and the logger link; the facade closes the servers after */
  close(): void;
}

/** The client's IPv4 address of a kernel socket as a u32 (0 when it has none or not IPv4). */
export function clientAddrOf(remoteAddress: string | undefined): number {
  if (remoteAddress === undefined) return 0;
  const v4 = remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : remoteAddress;
  try {
    return ipv4FromString(v4);
  } catch {
    return 0;
  }
}
