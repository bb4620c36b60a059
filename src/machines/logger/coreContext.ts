// The core's context (spec/logger.md; the daemon's side of it is src/runtime/logger): the
// links and what each declared, the messages parked per link, the effects handed to the
// runtime, and what the R15 decisions remember between events. The core's rule modules
// (intake.ts, recoveryService.ts, receiveCheckpoint.ts, atLimit.ts, fencing.ts) are free
// functions over a `CoreCtx` and never import core.ts, which implements it: the context is the
// bottom of the core's files, core.ts the top.

import type {
  LimitName,
  LoggerErrorCode,
  LoggerMessage,
  Role,
  UnprotectedReason,
} from '../../wire/logmsg.ts';
import type { CheckpointAssembler } from './checkpoint.ts';
import type { LinkCaps, LoggerEvent } from './events.ts';
import type { LoggerStore } from './store.ts';
import type { TruncationReport } from './truncation.ts';

/** Something an operator must see (the runtime logs it; R15 ones also go on the timeline). */
export type LoggerNotice =
  | {
      readonly kind: 'checkpointStored';
      readonly link: number;
      readonly report: TruncationReport;
    }
  | { readonly kind: 'checkpointRejected'; readonly ckptId: number; readonly detail: string }
  | { readonly kind: 'checkpointRefused'; readonly link: number; readonly detail: string }
  | {
      readonly kind: 'checkpointWanted';
      readonly reason: 'highWater' | 'atLimit';
      readonly limit: LimitName;
      readonly used: number;
      readonly max: number;
    }
  | {
      readonly kind: 'unprotected';
      readonly scope: 'app' | 'conn';
      readonly conn: number;
      readonly reason: UnprotectedReason;
      readonly detail: string;
    }
  | { readonly kind: 'stalled'; readonly limit: LimitName; readonly detail: string };

export type LoggerEffect =
  | { readonly kind: 'send'; readonly link: number; readonly msg: LoggerMessage }
  | { readonly kind: 'stream'; readonly link: number; readonly messages: Iterable<LoggerMessage> }
  | { readonly kind: 'close'; readonly link: number; readonly reason: string }
  | { readonly kind: 'pause'; readonly link: number }
  | { readonly kind: 'resume'; readonly link: number }
  | { readonly kind: 'armCheckpointTimer'; readonly ask: number; readonly ms: number }
  | { readonly kind: 'notice'; readonly notice: LoggerNotice };

export type LoggerMode =
  | 'accepting'
  | 'checkpointAsked'
  | 'awaitingCheckpoint'
  | 'backpressured'
  | 'unprotected'
  | 'fencing';

export interface Link {
  role: Role | null;
  epoch: number;
  paused: boolean;
  caps: LinkCaps | null;
  /** R15.4: told `Unprotected {app}` since its Welcome */
  told: boolean;
  /** R14.1: this link's checkpoint in progress (NSW links with the capability) */
  assembler: CheckpointAssembler | null;
  parkedBytes: number;
}

/** An append that did not fit (R15): on which link, which limit, whose connection. */
export interface StoreFull {
  readonly link: number;
  readonly limit: LimitName;
  readonly conn: number | null;
}

/** What the core's rule modules may use of the core. */
export interface CoreCtx {
  /** R8.4: one store for every epoch. */
  readonly store: LoggerStore;
  /** granted to every welcomed peer (spec/recovery.md) */
  readonly leaseMs: number;
  readonly checkpointWaitMs: number;
  readonly maxParkedBytes: number;
  readonly links: Map<number, Link>;
  /** Messages the store could not take yet, per link, in arrival order. */
  readonly parked: Map<number, LoggerMessage[]>;
  /** Old-epoch links told to close during a fence, not yet reported closed. */
  readonly closing: Set<number>;
  /** The effects of the call being handled, in order. */
  out: LoggerEffect[];
  /** Events the actions raised, sent once the current one is done. */
  after: LoggerEvent[];
  /** The append that did not fit, until the machine has decided what to do (R15). */
  storeFull: StoreFull | null;
  /** The storeFull the machine was told about (STORE_FULL goes once per episode). */
  sentFullFor: StoreFull | null;
  /** The limit the latest CheckpointWanted is about. */
  lastLimit: LimitName;
  /** The machine's epoch: the frame epoch of every send. */
  readonly epoch: number;
  readonly mode: LoggerMode;
  /** An event to the machine, then what its actions raised, then what R15 calls for next. */
  send(e: LoggerEvent): void;
  /** An event to the machine alone (the R15 loop itself, atLimit.ts `settle`). */
  sendOnly(e: LoggerEvent): void;
  /** Stores one message (intake.ts), for the retry of parked messages. */
  storeMessage(link: number, msg: LoggerMessage): void;
}

/** The welcomed links of `role` at the current epoch. */
export function currentLinks(ctx: CoreCtx, role: Role): [number, Link][] {
  const e = ctx.epoch;
  return [...ctx.links].filter(([, l]) => l.role === role && l.epoch === e);
}

/** `Error` and close: the link is gone, and so are its parked messages. */
export function refuse(ctx: CoreCtx, link: number, code: LoggerErrorCode, detail: string): void {
  if (!ctx.links.has(link)) return;
  ctx.out.push({ kind: 'send', link, msg: { kind: 'Error', code, message: detail } });
  ctx.out.push({ kind: 'close', link, reason: `${code}: ${detail}` });
  ctx.links.delete(link);
  ctx.parked.delete(link);
}

/**
 * Acks are cumulative, so within one batch only the last DataStored per (link, conn) and the
 * last DetStored per link need to go out; each survivor keeps the position of the last one.
 */
export function coalesceAcks(effects: readonly LoggerEffect[]): LoggerEffect[] {
  const last = new Map<string, number>();
  effects.forEach((e, i) => {
    if (e.kind !== 'send') return;
    if (e.msg.kind === 'DataStored') last.set(`${e.link}/d/${e.msg.conn}`, i);
    else if (e.msg.kind === 'DetStored') last.set(`${e.link}/t`, i);
  });
  return effects.filter((e, i) => {
    if (e.kind !== 'send') return true;
    if (e.msg.kind === 'DataStored') return last.get(`${e.link}/d/${e.msg.conn}`) === i;
    if (e.msg.kind === 'DetStored') return last.get(`${e.link}/t`) === i;
    return true;
  });
}
