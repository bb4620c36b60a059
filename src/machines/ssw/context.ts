// The engine context (spec/ssw.md "Engine contract"): what a rule module may use of the engine,
// and the effects it produces. Rule modules are free functions that take this context as a
// parameter and never import the engine, so the engine can import them all without a circle
// (test/arch checks it): the context is the bottom of the SSW's files, the engine the top.

import type { ChecksumMode } from '../../wire/checksum.ts';
import type { LoggerMessage } from '../../wire/logmsg.ts';
import type { VnetHdr } from '../../wire/vnet.ts';
import type { SswConfig, SswLimits, SswTimings } from './config.ts';
import type { Conn, ConnTable, NewConn, ServedPorts } from './conn.ts';
import type { ConnClosedLedger } from './connClosed.ts';
import type { SswConnectionEvent } from './connection.machine.ts';
import type { SswHostContext, SswHostEvent } from './host.machine.ts';
import type { RecentlyClosed } from './recentlyClosed.ts';
import type { CloseRecorder } from './recorder.ts';

/** A protocol event for timelines and traces (not a packet). */
export interface SswLogEvent {
  readonly atMs: number;
  /** The rule (spec/ssw.md numbering) or area that acted. */
  readonly rule: string;
  readonly what: string;
  readonly conn?: number;
  readonly client?: string;
  readonly detail?: Readonly<Record<string, number | string | boolean>>;
}

export type SswEffect =
  /** `vnet` absent: nothing offloaded (a complete checksum, one segment). */
  | { readonly to: 'lan'; readonly frame: Uint8Array; readonly vnet?: VnetHdr }
  | { readonly to: 'tun'; readonly packet: Uint8Array; readonly vnet?: VnetHdr }
  | { readonly to: 'logger'; readonly msg: LoggerMessage }
  /** R5.8 (`appRecorded: false` only): a message for the recorder link (a logger link of role
   * `nsw`): `FetchLog 'nsw'` once, then `LogDeterminant` (accept, close). */
  | { readonly to: 'recorder'; readonly msg: LoggerMessage }
  | { readonly to: 'log'; readonly event: SswLogEvent };

export type SswSink = (effect: SswEffect) => void;

/** Counters for drops and rule actions; plain numbers, read them any time. */
export interface SswStats {
  lanFrames: number;
  tunPackets: number;
  dropNotActive: number;
  dropMalformed: number;
  dropBadChecksum: number;
  lanPartialChecksums: number;
  /** packets that came with a partial checksum or as a GSO burst (vnet header), each way */
  lanOffloaded: number;
  tunOffloaded: number;
  dropFragment: number;
  dropNotForService: number;
  dropNoNeighbor: number;
  dropConnLimit: number;
  dropNotReady: number;
  dropBackpressure: number;
  dropHoldLimit: number;
  dropByRule: number;
  /** R2.7: client segments of a re-logged record, dropped until its SynStored */
  dropUntilSynStored: number;
  /** L.7: messages to a logger that gave the application up (only heartbeats go on) */
  dropGivenUpLog: number;
  arpReplies: number;
  loggedBytes: number;
  heldSynAcks: number;
  heldFins: number;
  heldRsts: number;
  suppressedCrash: number;
  pureAcks: number;
  fakeSyns: number;
  /** R6.3: sockets of an earlier incarnation found on a 4-tuple being re-created, aborted */
  staleSocketsAborted: number;
  injectedBytes: number;
  localAcks: number;
  recreated: number;
  /** R5.7: client segments answered by the SSW because the kernel is done with them */
  answeredAfterClose: number;
  /** R5.11: segments of a 4-tuple in its quiet time after both FINs, either way, dropped */
  dropRecentlyClosed: number;
  /** R5.11: quiet 4-tuples forgotten early because `maxConnections` of them were kept */
  recentlyClosedEvicted: number;
  /** L.1: lease grants not used (unknown heartbeat, send time in the future, lease <= margin) */
  leaseGrantsRefused: number;
  /** R6.10: segments seen before re-creation and handled once their connection existed */
  keptHandedOver: number;
  /** R5.8: closes of an unrecorded application recorded by the SSW / refused (bound, failed) */
  closesRecorded: number;
  closesNotRecorded: number;
  /** R2.8: kernel refusals of a SYN withheld (the application may have died) */
  withheldRefusals: number;
}

export const newSswStats = (): SswStats => ({
  lanFrames: 0,
  tunPackets: 0,
  dropNotActive: 0,
  dropMalformed: 0,
  dropBadChecksum: 0,
  lanPartialChecksums: 0,
  lanOffloaded: 0,
  tunOffloaded: 0,
  dropFragment: 0,
  dropNotForService: 0,
  dropNoNeighbor: 0,
  dropConnLimit: 0,
  dropNotReady: 0,
  dropBackpressure: 0,
  dropHoldLimit: 0,
  dropByRule: 0,
  dropUntilSynStored: 0,
  dropGivenUpLog: 0,
  arpReplies: 0,
  loggedBytes: 0,
  heldSynAcks: 0,
  heldFins: 0,
  heldRsts: 0,
  suppressedCrash: 0,
  pureAcks: 0,
  fakeSyns: 0,
  staleSocketsAborted: 0,
  injectedBytes: 0,
  localAcks: 0,
  answeredAfterClose: 0,
  dropRecentlyClosed: 0,
  recentlyClosedEvicted: 0,
  leaseGrantsRefused: 0,
  recreated: 0,
  keptHandedOver: 0,
  closesRecorded: 0,
  closesNotRecorded: 0,
  withheldRefusals: 0,
});

/** The host statechart's three regions (host.machine.ts), as read per packet. */
export interface SswHostValue {
  readonly role: string;
  readonly logger: string;
  readonly app: string;
}

export type EventDetail = Record<string, number | string | boolean>;

/** What the rule modules may use of the engine. */
export interface SswCtx {
  readonly config: SswConfig;
  readonly limits: SswLimits;
  readonly timing: SswTimings;
  readonly stats: SswStats;
  /** How rewritten checksums are kept when no offload says otherwise (`config.checksum`). */
  readonly csum: ChecksumMode;
  readonly conns: ConnTable;
  /** R2.8: the server ports seen served, and the refusals withheld on them. */
  readonly served: ServedPorts;
  /** R5.11: 4-tuples of connections forgotten after both FINs, in their quiet time. */
  readonly recentlyClosed: RecentlyClosed;
  /** R5.8: only for an unrecorded application. */
  readonly recorder: CloseRecorder | undefined;
  /** R5.10: ConnClosed withheld during a recovery or sent since the last fetch. */
  readonly connClosed: ConnClosedLedger;
  /** The local monotonic time of the call being handled (ms). */
  readonly now: number;
  /** R1.6: client bytes handed to the logger and not yet stored, host-wide. */
  queuedLogBytes: number;
  /** Wall-clock ms now (`SswConfig.wallClockOffsetMs`). */
  wallMs(): number;
  emit(e: SswEffect): void;
  /** A timeline event, tagged with the connection when one is given. */
  event(rule: string, what: string, c?: Conn, detail?: EventDetail): void;
  toLogger(msg: LoggerMessage): void;
  toTun(packet: Uint8Array, vnet?: VnetHdr): void;
  /** A.3: an IPv4 frame (Ethernet header space at the front) to a client's MAC, or queued
   * while it is asked for. `aliased`: the frame shares a caller's buffer (copied if queued). */
  toNeighbor(frame: Uint8Array, dstAddr: number, aliased: boolean, vnet?: VnetHdr): void;
  /** The IPv4 ident of the next packet the SSW builds. */
  nextIpIdent(): number;
  host(): SswHostValue;
  hostContext(): SswHostContext;
  sendHost(ev: SswHostEvent): void;
  /** A control event to a connection's machine; refreshes the cached mode, forgets it when done. */
  sendConn(c: Conn, ev: SswConnectionEvent): void;
  /** A new connection record with its statechart, in the table. */
  createConn(n: Omit<NewConn, 'wallMs'>): Conn;
  /** Drops a connection: table, queued log bytes, statechart. */
  forget(c: Conn): void;
}
