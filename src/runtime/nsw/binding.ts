// What the Nsw facade (./nsw.ts) and its servers ask of a binding: the sockets, the clock,
// randomness and timers, either straight from node:net and Node (./plainBinding.ts, no
// FT-TCP) or through the NSW core and its logger link (./ftBinding.ts, record and replay).

import type { NswMode } from '../../machines/nsw/index.ts';
import { ipv4FromString } from '../../wire/addr.ts';
import type { NswDivergenceError } from './errors.ts';
import type { ServerHooks } from './server.ts';
import type { NswSocket } from './socket.ts';

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
  readonly checkpoints?: NswCheckpointStats;
  /**
   * R13.10 (record and replay only): entries of each per-connection table, the binding's and
   * the core's; a finished connection leaves them all
   */
  readonly tables?: Readonly<Record<string, number>>;
}

export interface NswTimer {
  readonly timerId: number;
}

/**
 * R13.8: what an application that supports checkpoints gives the NSW (config `checkpoints`).
 * Without it the application runs as before, and the logger never truncates its log.
 */
export interface NswCheckpointApp {
  /**
   * The state the application's future behaviour depends on (everything A2 lets it keep:
   * in-memory data, per-connection parsing state, what its timers mean). Called at a quiescent
   * point (no delivery in progress); it must not change the application's state.
   */
  snapshot(): Uint8Array;
  /**
   * Rebuild that state in a fresh process, before any delivery. `restored.conns` are the
   * connections the application had at the checkpoint (its handlers must be attached again),
   * `restored.timers` the timers it had armed (their callbacks attached with `attachTimer`).
   */
  restore(snapshot: Uint8Array, restored: NswRestored): void;
}

/** R13.6: what a restore hands the application besides its snapshot. */
export interface NswRestored {
  readonly conns: ReadonlyMap<number, NswSocket>;
  readonly timers: readonly NswTimer[];
  attachTimer(t: NswTimer, fn: () => void): void;
}

/** R13.4: one checkpoint as the NSW took it (counters for tests and benchmarks). */
export interface NswCheckpointStats {
  readonly taken: number;
  readonly stored: number;
  readonly refused: number;
  /** the application paused for each checkpoint taken (snapshot + encode), ms, latest last */
  readonly pausesMs: readonly number[];
  readonly lastBytes: number;
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
  /** R13.9: protection given up for the rest of this incarnation (nothing to give up in plain) */
  unprotect(reason: string): void;
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
