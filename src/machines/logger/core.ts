// LoggerCore: the whole logger as an I/O-free object, for the logger daemon to bind to sockets
// (src/runtime/logger). It owns the store (./store.ts), each NSW link's checkpoint in progress
// (./checkpoint.ts) and an actor of `loggerMachine`, whose named actions it provides; it turns
// every input into a list of effects for the runtime. This file is the top of the core's files:
// the entry points, the routing of a frame (the data path skips the actor), and the context
// (coreContext.ts) handed to the rule modules, each named after its section of spec/logger.md:
//   intake.ts            storing what links send, hints, Capabilities, ConnDone ("Storage")
//   recoveryService.ts   Welcome, FetchLog, CloseLogged ("Recovery service", R14.9)
//   receiveCheckpoint.ts a checkpoint's frames to the stored checkpoint (R14.1, R14.2)
//   atLimit.ts           parking and the R15 decisions carried out (R15.1-R15.6)
//   fencing.ts           old links closed, Fenced (R8.2)
//
// API (all effects are returned in the order they must be performed):
//   const core = new LoggerCore({ epoch, leaseMs, limits, checkpointWaitMs });
//   const link = core.openLink();                  // a TCP connection was accepted
//   core.frames(link, [{ epoch, msg }, ...])       // messages decoded from one read, in order
//   core.badFrame(link, detail)                    // the frame/body codec refused a frame
//   core.linkClosed(link)                          // the socket is gone (peer or us)
//   core.setLimits(limits)                         // operator changed the limits
//   core.tick(nowMs)                               // every second or so (R15.6)
//   core.checkpointTimeout(ask)                    // the timer of armCheckpointTimer fired
//   core.epoch                                     // use as the frame epoch of every send
// Effects:
//   { kind: 'send', link, msg }       encode with `core.epoch` and write
//   { kind: 'stream', link, messages} write each message of the iterable, honouring drain
//   { kind: 'close', link, reason }   destroy the socket, then call linkClosed(link)
//   { kind: 'pause' | 'resume', link} stop / restart reading the socket
//   { kind: 'armCheckpointTimer', ask, ms }  call checkpointTimeout(ask) after ms (R15.2)
//   { kind: 'notice', notice }        something an operator must see: log it, and put the
//                                     R15 ones on the timeline (unprotected, stalled, ...)
// The runtime must not feed frames of a link after it got `close` for it.

import { type Actor, createActor } from 'xstate';
import type { LimitName, LoggerMessage } from '../../wire/logmsg.ts';
import {
  abandonConn,
  askForCheckpoint,
  discardMessage,
  giveUp,
  park,
  pauseIntake,
  resumeIntake,
  settle,
  sswWithCaps,
  stallWithoutEnd,
  tellConn,
} from './atLimit.ts';
import { frameVerdict } from './classifyFrame.ts';
import {
  type CoreCtx,
  coalesceAcks,
  type Link,
  type LoggerEffect,
  type LoggerMode,
  refuse,
  type StoreFull,
} from './coreContext.ts';
import type { LoggerEvent } from './events.ts';
import { closeLinksBelow, maybeFenced, replyFenced } from './fencing.ts';
import { applyHint, storeMessage } from './intake.ts';
import {
  DEFAULT_CHECKPOINT_WAIT_MS,
  DEFAULT_MAX_PARKED_BYTES,
  type LoggerLimits,
} from './limits.ts';
import { loggerMachine } from './logger.machine.ts';
import { takeCheckpointFrame } from './receiveCheckpoint.ts';
import { streamLog, welcome } from './recoveryService.ts';
import { LoggerStore } from './store.ts';

export interface LoggerCoreOptions {
  readonly epoch: number;
  /** granted to every welcomed peer (spec/recovery.md) */
  readonly leaseMs: number;
  readonly limits?: Partial<LoggerLimits>;
  /** R15.2: how long to wait for a checkpoint at a limit (default 10 s) */
  readonly checkpointWaitMs?: number;
  /** R15.2: messages read but not stored, per link, before that link is paused (default 8 MiB) */
  readonly maxParkedBytes?: number;
}

/** The core's state and the context the rule modules are handed. */
class CoreContext implements CoreCtx {
  readonly store: LoggerStore;
  readonly leaseMs: number;
  readonly checkpointWaitMs: number;
  readonly maxParkedBytes: number;
  readonly links = new Map<number, Link>();
  readonly parked = new Map<number, LoggerMessage[]>();
  readonly closing = new Set<number>();
  out: LoggerEffect[] = [];
  after: LoggerEvent[] = [];
  storeFull: StoreFull | null = null;
  sentFullFor: StoreFull | null = null;
  lastLimit: LimitName = 'bytes';
  readonly actor: Actor<typeof loggerMachine>;

  constructor(opts: LoggerCoreOptions) {
    this.store = new LoggerStore(opts.limits);
    this.leaseMs = opts.leaseMs;
    this.checkpointWaitMs = opts.checkpointWaitMs ?? DEFAULT_CHECKPOINT_WAIT_MS;
    this.maxParkedBytes = opts.maxParkedBytes ?? DEFAULT_MAX_PARKED_BYTES;
    if (!Number.isSafeInteger(this.checkpointWaitMs) || this.checkpointWaitMs <= 0)
      throw new RangeError(
        `checkpointWaitMs must be a positive integer, got ${this.checkpointWaitMs}`,
      );
    if (!Number.isSafeInteger(this.maxParkedBytes) || this.maxParkedBytes <= 0)
      throw new RangeError(`maxParkedBytes must be a positive integer, got ${this.maxParkedBytes}`);
    this.actor = createActor(
      loggerMachine.provide({
        actions: {
          welcome: (_, p) => welcome(this, p.link, p.role),
          refuse: (_, p) => refuse(this, p.link, p.code, p.detail),
          storeMessage: (_, p) => storeMessage(this, p.link, p.msg),
          parkMessage: (_, p) => park(this, p.link, p.msg),
          applyHint: (_, p) => applyHint(this, p.link, p.msg),
          takeCheckpointFrame: (_, p) => takeCheckpointFrame(this, p.link, p.msg),
          streamLog: (_, p) => streamLog(this, p.link, p.what),
          closeLinksBelow: (_, p) => closeLinksBelow(this, p.epoch),
          replyFenced: (_, p) => replyFenced(this, p.link, p.epoch),
          pauseIntake: (_, p) => pauseIntake(this, p.nsw),
          resumeIntake: () => resumeIntake(this),
          askForCheckpoint: (_, p) => askForCheckpoint(this, p.ask, p.reason),
          abandonConn: (_, p) => abandonConn(this, p.conn, p.limit),
          giveUp: (_, p) => giveUp(this, p.reason, p.limit),
          discardMessage: (_, p) => discardMessage(this, p.link, p.msg),
          stallWithoutEnd: (_, p) => stallWithoutEnd(this, p.limit),
        },
      }),
      { input: { epoch: opts.epoch } },
    );
    this.actor.start();
  }

  get epoch(): number {
    return this.actor.getSnapshot().context.epoch;
  }

  get mode(): LoggerMode {
    const v = this.actor.getSnapshot().value;
    if (typeof v === 'string') return 'fencing';
    return (v as { serving: Exclude<LoggerMode, 'fencing'> }).serving;
  }

  /** Sends an event, then what its actions raised, then whatever R15 calls for next. */
  send(e: LoggerEvent): void {
    this.actor.send(e);
    settle(this);
  }

  sendOnly(e: LoggerEvent): void {
    this.actor.send(e);
  }

  storeMessage(link: number, msg: LoggerMessage): void {
    storeMessage(this, link, msg);
  }

  /** The effects so far, acks coalesced; the next call starts empty. */
  take(): LoggerEffect[] {
    const out = coalesceAcks(this.out);
    this.out = [];
    return out;
  }
}

export class LoggerCore {
  /** R8.4: one store for every epoch: a new epoch recovers from it and continues its logs. */
  readonly store: LoggerStore;
  private readonly ctx: CoreContext;
  private nextLink = 1;

  constructor(opts: LoggerCoreOptions) {
    this.ctx = new CoreContext(opts);
    this.store = this.ctx.store;
  }

  get epoch(): number {
    return this.ctx.epoch;
  }

  get mode(): LoggerMode {
    return this.ctx.mode;
  }

  openLink(): number {
    const id = this.nextLink++;
    this.ctx.links.set(id, {
      role: null,
      epoch: 0,
      paused: false,
      caps: null,
      told: false,
      assembler: null,
      parkedBytes: 0,
    });
    return id;
  }

  /** Messages decoded from one read of `link`, in order. Acks are coalesced per batch. */
  frames(
    link: number,
    batch: readonly { readonly epoch: number; readonly msg: LoggerMessage }[],
  ): LoggerEffect[] {
    const ctx = this.ctx;
    for (const { epoch, msg } of batch) {
      const l = ctx.links.get(link);
      if (l === undefined) break; // refused and closed by an earlier frame of this batch
      const queue = ctx.parked.get(link);
      if (
        queue !== undefined &&
        queue.length > 0 &&
        (msg.kind === 'LogData' || msg.kind === 'LogSyn' || msg.kind === 'LogDeterminant')
      ) {
        // Behind a parked message of the same link: order within a link is the contract.
        park(ctx, link, msg);
        continue;
      }
      this.feed(link, l, epoch, msg);
    }
    return ctx.take();
  }

  frame(link: number, epoch: number, msg: LoggerMessage): LoggerEffect[] {
    return this.frames(link, [{ epoch, msg }]);
  }

  /** The codec refused a frame: the stream can no longer be trusted (spec/messages.md). */
  badFrame(link: number, detail: string): LoggerEffect[] {
    if (this.ctx.links.has(link)) refuse(this.ctx, link, 'badMessage', detail);
    return this.ctx.take();
  }

  linkClosed(link: number): LoggerEffect[] {
    // Parked messages of a closed link were never acknowledged: the sender resends them after
    // reconnecting, so dropping them loses nothing. A checkpoint in progress is discarded
    // (R14.2: never stored in part).
    this.ctx.links.delete(link);
    this.ctx.parked.delete(link);
    if (this.ctx.closing.delete(link)) maybeFenced(this.ctx);
    return this.ctx.take();
  }

  /** Raise (or lower) the limits; parked messages are retried if they may now fit. */
  setLimits(limits: Partial<LoggerLimits>): LoggerEffect[] {
    this.store.setLimits(limits);
    const m = this.mode;
    if (this.ctx.storeFull !== null && (m === 'awaitingCheckpoint' || m === 'backpressured')) {
      this.ctx.send({ type: 'SPACE_FREED' });
    }
    return this.ctx.take();
  }

  /** R15.6: time passes. Expires embryonic records once an SSW that can be told is here. */
  tick(nowMs: number): LoggerEffect[] {
    if (this.mode === 'unprotected' || !sswWithCaps(this.ctx)) return this.ctx.take();
    for (const conn of this.store.expireEmbryonic(nowMs)) {
      const detail = `conn ${conn}: handshake not completed within ${this.store.limits.embryonicTtlMs} ms (--embryonic-ttl-ms)`;
      tellConn(this.ctx, conn, 'embryonicExpired', detail);
    }
    return this.ctx.take();
  }

  /** R15.2: the timer armed for CheckpointWanted `ask` expired. */
  checkpointTimeout(ask: number): LoggerEffect[] {
    this.ctx.send({ type: 'CHECKPOINT_TIMEOUT', ask });
    return this.ctx.take();
  }

  private feed(link: number, l: Link, epoch: number, msg: LoggerMessage): void {
    const ctx = this.ctx;
    const snap = ctx.actor.getSnapshot();
    // One event object for the check below and the actor's guards: its verdict is computed
    // once (frameVerdict).
    const frame = { type: 'FRAME' as const, link, role: l.role, caps: l.caps, epoch, msg };
    if (
      (msg.kind === 'LogData' || msg.kind === 'LogDeterminant') &&
      (snap.matches({ serving: 'accepting' }) || snap.matches({ serving: 'checkpointAsked' })) &&
      frameVerdict(snap.context, false, frame).kind === 'store'
    ) {
      // The data path: in serving.accepting and serving.checkpointAsked the machine's
      // transition for a storable frame is a self-transition whose only effect is
      // `storeMessage` (same guard, same action, no context change), so the per-message work
      // skips the actor's send.
      storeMessage(ctx, link, msg);
      settle(ctx);
    } else {
      ctx.send(frame);
    }
    // A Fence with no old links left to close completes at once.
    maybeFenced(ctx);
  }
}
