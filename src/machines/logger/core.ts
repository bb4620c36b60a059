// LoggerCore: the whole logger as an I/O-free object, for the logger daemon to bind to sockets
// (src/runtime/logger). It owns the store (./store.ts), each NSW link's checkpoint in progress
// (./checkpoint.ts) and an actor of `loggerMachine`, whose named actions it provides; it turns
// every input into a list of effects for the runtime.
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

import { createActor } from 'xstate';
import type {
  LimitName,
  LoggerErrorCode,
  LoggerMessage,
  Role,
  UnprotectedReason,
} from '../../wire/logmsg.ts';
import {
  type CheckpointAssembler as Assembler,
  CheckpointAssembler,
  isCheckpointFrame,
  type StoredCheckpoint,
} from './checkpoint.ts';
import { frameVerdict, type LinkCaps, type LoggerEvent, loggerMachine } from './logger.machine.ts';
import { type LoggerLimits, LoggerStore, type TruncationReport } from './store.ts';

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

export const DEFAULT_CHECKPOINT_WAIT_MS = 10_000;
export const DEFAULT_MAX_PARKED_BYTES = 8 * 1024 * 1024;

interface Link {
  role: Role | null;
  epoch: number;
  paused: boolean;
  caps: LinkCaps | null;
  /** R15.4: told `Unprotected {app}` since its Welcome */
  told: boolean;
  /** R14.1: this link's checkpoint in progress (NSW links with the capability) */
  assembler: Assembler | null;
  parkedBytes: number;
}

export type LoggerMode =
  | 'accepting'
  | 'checkpointAsked'
  | 'awaitingCheckpoint'
  | 'backpressured'
  | 'unprotected'
  | 'fencing';

/** The flag that raises each limit, for the operator (R15.4). */
const LIMIT_FLAG: Record<LimitName, string> = {
  bytes: '--max-bytes',
  conns: '--max-conns',
  dets: '--max-dets',
};

/** A parked message's charge against maxParkedBytes: its payload and a fixed overhead. */
const parkedSize = (m: LoggerMessage): number => 64 + (m.kind === 'LogData' ? m.payload.length : 0);

export class LoggerCore {
  /** R8.4: one store for every epoch: a new epoch recovers from it and continues its logs. */
  readonly store: LoggerStore;
  private readonly leaseMs: number;
  private readonly checkpointWaitMs: number;
  private readonly maxParkedBytes: number;
  private readonly links = new Map<number, Link>();
  /** Messages the store could not take yet, per link, in arrival order. */
  private readonly parked = new Map<number, LoggerMessage[]>();
  /** Old-epoch links told to close during a fence, not yet reported closed. */
  private readonly closing = new Set<number>();
  private readonly actor;
  private out: LoggerEffect[] = [];
  /** The append that did not fit, until the machine has decided what to do (R15). */
  private storeFull: { link: number; limit: LimitName; conn: number | null } | null = null;
  /** The storeFull the machine was told about (STORE_FULL goes once per episode). */
  private sentFullFor: { link: number; limit: LimitName; conn: number | null } | null = null;
  /** The limit the latest CheckpointWanted is about. */
  private lastLimit: LimitName = 'bytes';
  /** Events the actions raised, sent once the current one is done. */
  private after: LoggerEvent[] = [];
  private nextLink = 1;

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
          welcome: (_, p) => this.welcome(p.link, p.role),
          refuse: (_, p) => this.refuse(p.link, p.code, p.detail),
          storeMessage: (_, p) => this.storeMessage(p.link, p.msg),
          parkMessage: (_, p) => this.park(p.link, p.msg),
          applyHint: (_, p) => this.applyHint(p.link, p.msg),
          takeCheckpointFrame: (_, p) => this.takeCheckpointFrame(p.link, p.msg),
          streamLog: (_, p) => this.streamLog(p.link, p.what),
          closeLinksBelow: (_, p) => this.closeLinksBelow(p.epoch),
          replyFenced: (_, p) => {
            if (p.link !== null && this.links.has(p.link)) {
              this.out.push({
                kind: 'send',
                link: p.link,
                msg: { kind: 'Fenced', epoch: p.epoch },
              });
            }
          },
          pauseIntake: (_, p) => this.pauseIntake(p.nsw),
          resumeIntake: () => this.resumeIntake(),
          askForCheckpoint: (_, p) => this.askForCheckpoint(p.ask, p.reason),
          abandonConn: (_, p) => this.abandonConn(p.conn, p.limit),
          giveUp: (_, p) => this.giveUp(p.reason, p.limit),
          discardMessage: (_, p) => this.discardMessage(p.link, p.msg),
          stallWithoutEnd: (_, p) => this.stallWithoutEnd(p.limit),
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

  openLink(): number {
    const id = this.nextLink++;
    this.links.set(id, {
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
    for (const { epoch, msg } of batch) {
      const l = this.links.get(link);
      if (l === undefined) break; // refused and closed by an earlier frame of this batch
      const queue = this.parked.get(link);
      if (
        queue !== undefined &&
        queue.length > 0 &&
        (msg.kind === 'LogData' || msg.kind === 'LogSyn' || msg.kind === 'LogDeterminant')
      ) {
        // Behind a parked message of the same link: order within a link is the contract.
        this.park(link, msg);
        continue;
      }
      this.feed(link, l, epoch, msg);
    }
    return this.take();
  }

  frame(link: number, epoch: number, msg: LoggerMessage): LoggerEffect[] {
    return this.frames(link, [{ epoch, msg }]);
  }

  /** The codec refused a frame: the stream can no longer be trusted (spec/messages.md). */
  badFrame(link: number, detail: string): LoggerEffect[] {
    if (this.links.has(link)) this.refuse(link, 'badMessage', detail);
    return this.take();
  }

  linkClosed(link: number): LoggerEffect[] {
    // Parked messages of a closed link were never acknowledged: the sender resends them after
    // reconnecting, so dropping them loses nothing. A checkpoint in progress is discarded
    // (R14.2: never stored in part).
    this.links.delete(link);
    this.parked.delete(link);
    if (this.closing.delete(link)) this.maybeFenced();
    return this.take();
  }

  /** Raise (or lower) the limits; parked messages are retried if they may now fit. */
  setLimits(limits: Partial<LoggerLimits>): LoggerEffect[] {
    this.store.setLimits(limits);
    const m = this.mode;
    if (this.storeFull !== null && (m === 'awaitingCheckpoint' || m === 'backpressured')) {
      this.send({ type: 'SPACE_FREED' });
    }
    return this.take();
  }

  /** R15.6: time passes. Expires embryonic records once an SSW that can be told is here. */
  tick(nowMs: number): LoggerEffect[] {
    if (this.mode === 'unprotected' || !this.sswWithCaps()) return this.take();
    for (const conn of this.store.expireEmbryonic(nowMs)) {
      const detail = `conn ${conn}: handshake not completed within ${this.store.limits.embryonicTtlMs} ms (--embryonic-ttl-ms)`;
      this.tellConn(conn, 'embryonicExpired', detail);
    }
    return this.take();
  }

  /** R15.2: the timer armed for CheckpointWanted `ask` expired. */
  checkpointTimeout(ask: number): LoggerEffect[] {
    this.send({ type: 'CHECKPOINT_TIMEOUT', ask });
    return this.take();
  }

  private feed(link: number, l: Link, epoch: number, msg: LoggerMessage): void {
    const snap = this.actor.getSnapshot();
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
      this.storeMessage(link, msg);
      this.settle();
    } else {
      this.send(frame);
    }
    // A Fence with no old links left to close completes at once.
    this.maybeFenced();
  }

  /** Sends an event, then what its actions raised, then whatever R15 calls for next. */
  private send(e: LoggerEvent): void {
    this.actor.send(e);
    this.settle();
  }

  private settle(): void {
    // Each round either sends one event or retries the parked messages; a full store can
    // give up one connection per parked message (R15.4 conn scope), so the bound grows with
    // them. Passing it means the machine and the core disagree: stop at the cause.
    let parked = 0;
    for (const q of this.parked.values()) parked += q.length;
    const bound = 64 + 4 * parked;
    for (let guard = 0; guard < bound; guard++) {
      const next = this.after.shift();
      if (next !== undefined) {
        this.actor.send(next);
        continue;
      }
      const m = this.mode;
      if (this.storeFull !== null) {
        if (m === 'accepting' || m === 'checkpointAsked') {
          const f = this.storeFull;
          if (this.parked.size === 0) {
            this.storeFull = null;
            continue;
          }
          if (this.sentFullFor !== f) {
            this.sentFullFor = f;
            this.actor.send({ type: 'STORE_FULL', ...f, ...this.facts() });
            continue;
          }
          // The machine is back to storing (a checkpoint made room, a connection was given
          // up): retry what was parked, in order.
          this.storeFull = null;
          this.sentFullFor = null;
          this.retryParked();
          continue;
        }
        return;
      }
      if (m === 'accepting') {
        // Cheap first: this runs after every stored message.
        const limit = this.store.aboveHighWater();
        if (limit !== null && this.hasCheckpointer()) {
          this.lastLimit = limit;
          this.actor.send({ type: 'HIGH_WATER', limit, ...this.facts() });
          continue;
        }
      }
      return;
    }
    throw new Error('logger core: R15 decisions did not settle (a machine loop)');
  }

  private facts(): { checkpointer: boolean; tellable: boolean } {
    return { checkpointer: this.hasCheckpointer(), tellable: this.hasTellable() };
  }

  private currentLinks(role: Role): [number, Link][] {
    const e = this.epoch;
    return [...this.links].filter(([, l]) => l.role === role && l.epoch === e);
  }

  /** R15.2: an NSW of this epoch can checkpoint. */
  private hasCheckpointer(): boolean {
    return this.currentLinks('nsw').some(([, l]) => l.caps?.checkpoints === true);
  }

  /** R15.4: some SSW/NSW of this epoch understands Unprotected. */
  private hasTellable(): boolean {
    return (
      this.currentLinks('ssw').some(([, l]) => l.caps !== null) ||
      this.currentLinks('nsw').some(([, l]) => l.caps !== null)
    );
  }

  private sswWithCaps(): boolean {
    return this.currentLinks('ssw').some(([, l]) => l.caps !== null);
  }

  private take(): LoggerEffect[] {
    const out = coalesceAcks(this.out);
    this.out = [];
    return out;
  }

  private welcome(link: number, role: Role | null): void {
    const l = this.links.get(link);
    if (l === undefined || role === null) return;
    l.role = role;
    l.epoch = this.epoch;
    l.told = false;
    this.out.push({
      kind: 'send',
      link,
      msg: { kind: 'Welcome', epoch: this.epoch, leaseMs: this.leaseMs },
    });
    if (role === 'ssw') {
      // CloseLogged owed from before this SSW (re)connected (spec/messages.md "CloseLogged").
      for (const c of this.store.pendingCloses()) {
        this.out.push({
          kind: 'send',
          link,
          msg: {
            kind: 'CloseLogged',
            clientAddr: c.clientAddr,
            clientPort: c.clientPort,
            how: c.how,
            offset: c.offset,
          },
        });
      }
    }
  }

  private streamLog(link: number, what: 'ssw' | 'nsw'): void {
    const l = this.links.get(link);
    // R14.9: the checkpoint and ReplayResume go to peers that declared Capabilities.
    this.out.push({
      kind: 'stream',
      link,
      messages: this.store.replay(what, (l?.caps ?? null) !== null),
    });
    if (what === 'ssw') {
      // A recovering SSW learns its connections from this stream; the closes it must honour
      // for them (R5.2) follow it, so that it never sees a CloseLogged for a connection it
      // does not know yet.
      for (const c of this.store.pendingCloses()) {
        this.out.push({
          kind: 'send',
          link,
          msg: {
            kind: 'CloseLogged',
            clientAddr: c.clientAddr,
            clientPort: c.clientPort,
            how: c.how,
            offset: c.offset,
          },
        });
      }
    }
  }

  private refuse(link: number, code: LoggerErrorCode, detail: string): void {
    if (!this.links.has(link)) return;
    this.out.push({ kind: 'send', link, msg: { kind: 'Error', code, message: detail } });
    this.out.push({ kind: 'close', link, reason: `${code}: ${detail}` });
    this.links.delete(link);
    this.parked.delete(link);
  }

  private park(link: number, msg: LoggerMessage): void {
    const q = this.parked.get(link);
    if (q === undefined) this.parked.set(link, [msg]);
    else q.push(msg);
    const l = this.links.get(link);
    if (l === undefined) return;
    l.parkedBytes += parkedSize(msg);
    // R15.2: parked messages live outside the store's budget; a link whose backlog passes the
    // bound is not read any more (its sender's TCP window then stalls it).
    if (l.parkedBytes > this.maxParkedBytes && !l.paused) {
      l.paused = true;
      this.out.push({ kind: 'pause', link });
    }
  }

  private storeMessage(link: number, msg: LoggerMessage): void {
    switch (msg.kind) {
      case 'LogSyn': {
        const r = this.store.logSyn(msg);
        if (r.kind === 'stored')
          this.out.push({ kind: 'send', link, msg: { kind: 'SynStored', conn: r.conn } });
        else if (r.kind === 'full') this.full(link, msg, r.limit, msg.conn);
        else this.refuse(link, r.code, r.detail);
        return;
      }
      case 'LogData': {
        const r = this.store.logData(msg.conn, msg.seq, msg.payload, msg.fin);
        if (r.kind === 'error') {
          this.refuse(link, r.code, r.detail);
          return;
        }
        if (r.kind === 'abandoned') {
          this.tellConnOn(link, r.conn, r.reason);
          return;
        }
        // Ack what is stored, even if part of the message is left over: acks are cumulative
        // and the clamp at the SSW may advance by that much.
        this.out.push({
          kind: 'send',
          link,
          msg: { kind: 'DataStored', conn: r.conn, stableSeq: r.stableSeq, finLogged: r.finLogged },
        });
        if (r.kind === 'full') this.full(link, msg, r.limit ?? 'bytes', msg.conn);
        return;
      }
      case 'LogDeterminant': {
        const r = this.store.logDeterminant(msg.detSeq, msg.det);
        if (r.kind === 'error') {
          this.refuse(link, r.code, r.detail);
          return;
        }
        if (r.kind === 'full') {
          this.full(link, msg, r.limit ?? 'bytes', null);
          return;
        }
        this.out.push({ kind: 'send', link, msg: { kind: 'DetStored', stableDet: r.stableDet } });
        if (r.closeLogged !== null) this.announceClose(r.closeLogged);
        return;
      }
      default:
        this.refuse(link, 'wrongRole', `${msg.kind} is not stored`);
    }
  }

  private announceClose(c: {
    clientAddr: number;
    clientPort: number;
    how: 'end' | 'destroy';
    offset: number;
  }): void {
    for (const [id] of this.currentLinks('ssw')) {
      this.out.push({
        kind: 'send',
        link: id,
        msg: {
          kind: 'CloseLogged',
          clientAddr: c.clientAddr,
          clientPort: c.clientPort,
          how: c.how,
          offset: c.offset,
        },
      });
    }
  }

  private full(link: number, msg: LoggerMessage, limit: LimitName, conn: number | null): void {
    this.park(link, msg);
    // R15.4 conn scope needs an unrecorded log: no application state ties its connections.
    this.storeFull = { link, limit, conn: this.store.unrecorded ? conn : null };
    this.lastLimit = limit;
  }

  private applyHint(link: number, msg: LoggerMessage): void {
    const l = this.links.get(link);
    switch (msg.kind) {
      case 'Capabilities':
        if (l === undefined) return;
        l.caps = { checkpoints: msg.checkpoints, unrecorded: msg.unrecorded };
        if (l.role === 'ssw') this.store.setUnrecorded(msg.unrecorded);
        return;
      case 'ClientAcked':
      case 'ConnEstablished': {
        const r =
          msg.kind === 'ClientAcked'
            ? this.store.clientAcked(msg.conn, msg.clientAck)
            : this.store.connEstablished(msg.conn);
        if (r === null) return;
        if (r.kind === 'abandoned') this.tellConnOn(link, r.conn, r.reason);
        else this.refuse(link, r.code, r.detail);
        return;
      }
      case 'ConnClosed': {
        const r = this.store.connClosed(msg.conn);
        if ('kind' in r) {
          if (r.kind === 'abandoned') this.tellConnOn(link, r.conn, r.reason);
          else this.refuse(link, r.code, r.detail);
          return;
        }
        // R13.1: the NSW keeps the connection in its checkpoints until it hears this.
        if (r.nswConn !== null) {
          for (const [id, n] of this.currentLinks('nsw')) {
            if (n.caps !== null)
              this.out.push({ kind: 'send', link: id, msg: { kind: 'ConnDone', conn: r.nswConn } });
          }
        }
        return;
      }
      default:
        this.refuse(link, 'wrongRole', `${msg.kind} is not a hint`);
    }
  }

  // ---------------------------------------------------------------------------------------
  // R14: checkpoints

  private takeCheckpointFrame(link: number, msg: LoggerMessage): void {
    const l = this.links.get(link);
    if (l === undefined) return;
    if (msg.kind === 'CheckpointRefused') {
      this.out.push({
        kind: 'notice',
        notice: { kind: 'checkpointRefused', link, detail: `${msg.reason}: ${msg.detail}` },
      });
      this.after.push({ type: 'CHECKPOINT_REFUSED', reason: 'refused' });
      return;
    }
    if (!isCheckpointFrame(msg)) return;
    l.assembler ??= new CheckpointAssembler(
      () => this.store.limits.maxCheckpointBytes,
      () => this.store.checkpoint,
    );
    const step = l.assembler.take(msg);
    switch (step.kind) {
      case 'more':
      case 'ignored':
        return;
      case 'rejected':
        this.out.push({
          kind: 'send',
          link,
          msg: {
            kind: 'CheckpointRejected',
            ckptId: step.ckptId,
            reason: 'tooLarge',
            detail: step.detail,
          },
        });
        this.out.push({
          kind: 'notice',
          notice: { kind: 'checkpointRejected', ckptId: step.ckptId, detail: step.detail },
        });
        this.after.push({ type: 'CHECKPOINT_REFUSED', reason: 'tooLarge' });
        return;
      case 'error':
        this.refuse(link, 'badCheckpoint', step.detail);
        return;
      case 'complete':
        this.completeCheckpoint(link, step.checkpoint);
        return;
    }
  }

  /** R14.2: store a whole checkpoint once the determinants it covers are stored. */
  private completeCheckpoint(link: number, ck: StoredCheckpoint): void {
    // The determinants below D that did not fit are parked on this link, first in its queue
    // (the link is ordered): store them past the limit; R14.5 drops them again at once.
    const q = this.parked.get(link) ?? [];
    let forced = false;
    while (this.store.stableDet < ck.detSeq && q.length > 0) {
      const m = q[0]!;
      if (m.kind !== 'LogDeterminant' || m.detSeq >= ck.detSeq) break;
      const r = this.store.logDeterminant(m.detSeq, m.det, true);
      if (r.kind === 'error') {
        this.refuse(link, r.code, r.detail);
        return;
      }
      q.shift();
      const l = this.links.get(link);
      if (l !== undefined) l.parkedBytes -= parkedSize(m);
      forced = true;
      if (r.closeLogged !== null) this.announceClose(r.closeLogged);
    }
    if (q.length === 0) this.parked.delete(link);
    if (forced)
      this.out.push({
        kind: 'send',
        link,
        msg: { kind: 'DetStored', stableDet: this.store.stableDet },
      });
    if (this.store.stableDet < ck.detSeq) {
      this.refuse(
        link,
        'gap',
        `checkpoint ${ck.ckptId} covers determinants up to ${ck.detSeq} but ${this.store.stableDet} were sent`,
      );
      return;
    }
    const why = this.store.checkCheckpoint(ck);
    if (why !== null) {
      this.refuse(link, 'badCheckpoint', why);
      return;
    }
    const report = this.store.storeCheckpoint(ck);
    this.out.push({
      kind: 'send',
      link,
      msg: { kind: 'CheckpointStored', ckptId: ck.ckptId, detSeq: ck.detSeq },
    });
    this.out.push({ kind: 'notice', notice: { kind: 'checkpointStored', link, report } });
    this.after.push({
      type: 'CHECKPOINT_STORED',
      full: this.store.atLimit() !== null,
      freed: report.freedBytes + report.dets + report.records,
      aboveHighWater: this.store.aboveHighWater() !== null,
    });
  }

  // ---------------------------------------------------------------------------------------
  // R15: limits

  private askForCheckpoint(ask: number, reason: 'highWater' | 'atLimit'): void {
    const { used, max } = this.store.measure(this.lastLimit);
    const msg: LoggerMessage = {
      kind: 'CheckpointWanted',
      reason,
      limit: this.lastLimit,
      used,
      max,
    };
    for (const [id, l] of this.currentLinks('nsw')) {
      if (l.caps?.checkpoints === true) this.out.push({ kind: 'send', link: id, msg });
    }
    this.out.push({ kind: 'armCheckpointTimer', ask, ms: this.checkpointWaitMs });
    this.out.push({
      kind: 'notice',
      notice: { kind: 'checkpointWanted', reason, limit: this.lastLimit, used, max },
    });
  }

  private pauseIntake(nsw: boolean): void {
    for (const [id, l] of this.links) {
      if (l.role !== 'ssw' && !(nsw && l.role === 'nsw')) continue;
      if (l.paused) continue;
      l.paused = true;
      this.out.push({ kind: 'pause', link: id });
    }
  }

  private resumeIntake(): void {
    for (const [id, l] of this.links) {
      if (!l.paused) continue;
      l.paused = false;
      this.out.push({ kind: 'resume', link: id });
    }
  }

  /** R15.4 conn scope. */
  private abandonConn(conn: number, limit: LimitName): void {
    this.store.abandon(conn, 'storeFull');
    // Its parked messages will never be stored: drop them (their sender is told).
    for (const [id, q] of [...this.parked]) {
      const kept = q.filter(
        (m) => !((m.kind === 'LogSyn' || m.kind === 'LogData') && m.conn === conn),
      );
      if (kept.length === 0) this.parked.delete(id);
      else this.parked.set(id, kept);
      const l = this.links.get(id);
      if (l !== undefined) l.parkedBytes = kept.reduce((n, m) => n + parkedSize(m), 0);
    }
    const { used, max } = this.store.measure(limit);
    this.tellConn(
      conn,
      'storeFull',
      `conn ${conn}: logger limit ${limit} reached (${used}/${max}; raise ${LIMIT_FLAG[limit]})`,
    );
  }

  /** Unprotected {conn} to every SSW link of the epoch that can be told, and a notice. */
  private tellConn(conn: number, reason: UnprotectedReason, detail: string): void {
    for (const [id, l] of this.currentLinks('ssw')) {
      if (l.caps !== null)
        this.out.push({
          kind: 'send',
          link: id,
          msg: { kind: 'Unprotected', scope: 'conn', conn, reason, detail },
        });
    }
    this.out.push({
      kind: 'notice',
      notice: { kind: 'unprotected', scope: 'conn', conn, reason, detail },
    });
  }

  /** A message for a connection given up: told again (R15.4), never unknownConn. */
  private tellConnOn(link: number, conn: number, reason: UnprotectedReason): void {
    this.out.push({
      kind: 'send',
      link,
      msg: {
        kind: 'Unprotected',
        scope: 'conn',
        conn,
        reason,
        detail: `conn ${conn} is not protected any more`,
      },
    });
  }

  /** R15.4 app scope. */
  private giveUp(reason: UnprotectedReason, limit: LimitName | null): void {
    const l = limit ?? this.lastLimit;
    const { used, max } = this.store.measure(l);
    const how =
      reason === 'checkpointTooLarge'
        ? 'raise --max-checkpoint-bytes'
        : reason === 'noCheckpoint'
          ? `raise ${LIMIT_FLAG[l]} or --checkpoint-wait-ms`
          : `raise ${LIMIT_FLAG[l]}`;
    const detail = `logger limit ${l} reached (${used}/${max}); ${reason}: the application's log is given up and nothing can be recovered; ${how}`;
    this.store.unprotect();
    this.parked.clear();
    this.storeFull = null;
    this.sentFullFor = null;
    for (const [id, link] of this.links) {
      link.parkedBytes = 0;
      link.assembler?.discard();
      if (
        (link.role === 'ssw' || link.role === 'nsw') &&
        link.epoch === this.epoch &&
        link.caps !== null
      ) {
        link.told = true;
        this.out.push({
          kind: 'send',
          link: id,
          msg: { kind: 'Unprotected', scope: 'app', conn: 0, reason, detail },
        });
      }
    }
    this.resumeIntake();
    this.out.push({
      kind: 'notice',
      notice: { kind: 'unprotected', scope: 'app', conn: 0, reason, detail },
    });
  }

  private discardMessage(link: number, msg: LoggerMessage): void {
    const l = this.links.get(link);
    if (l === undefined) return;
    // A link that declares itself now can be told (R15.4: once per link).
    if (msg.kind === 'Capabilities')
      l.caps = { checkpoints: msg.checkpoints, unrecorded: msg.unrecorded };
    if (l.caps === null || l.told) return;
    l.told = true;
    this.out.push({
      kind: 'send',
      link,
      msg: {
        kind: 'Unprotected',
        scope: 'app',
        conn: 0,
        reason: 'storeFull',
        detail: 'the application log was given up earlier (R15.4)',
      },
    });
  }

  private stallWithoutEnd(limit: LimitName): void {
    const { used, max } = this.store.measure(limit);
    this.out.push({
      kind: 'notice',
      notice: {
        kind: 'stalled',
        limit,
        detail: `logger limit ${limit} reached (${used}/${max}) and no peer declared Capabilities: stalling every link until the limit is raised (${LIMIT_FLAG[limit]}); R15.5`,
      },
    });
  }

  private retryParked(): void {
    for (const [link, queue] of [...this.parked]) {
      this.parked.delete(link);
      const l = this.links.get(link);
      if (l !== undefined) l.parkedBytes = 0;
      for (let i = 0; i < queue.length; i++) {
        const cur = this.links.get(link);
        if (cur === undefined) break;
        if (this.storeFull !== null) {
          // Full again: the rest stays parked, in order.
          for (const m of queue.slice(i)) this.park(link, m);
          break;
        }
        if (this.mode === 'unprotected') break;
        this.storeMessage(link, queue[i]!);
      }
    }
  }

  private closeLinksBelow(epoch: number): void {
    for (const [id, l] of this.links) {
      if ((l.role === 'ssw' || l.role === 'nsw') && l.epoch < epoch) {
        this.out.push({ kind: 'close', link: id, reason: `fenced: epoch ${l.epoch} < ${epoch}` });
        this.links.delete(id);
        this.parked.delete(id);
        this.closing.add(id);
      }
    }
    // Parked messages are gone with their links; whatever was full may fit now.
    if (this.parked.size === 0) {
      this.storeFull = null;
      this.sentFullFor = null;
    }
  }

  private maybeFenced(): void {
    if (this.closing.size === 0 && this.mode === 'fencing') {
      this.send({ type: 'LINKS_CLOSED', epoch: this.epoch });
    }
  }
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
