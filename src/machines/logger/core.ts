// LoggerCore: the whole logger as an I/O-free object, for the logger daemon to bind to sockets
// (src/runtime/logger). It owns the store (./store.ts) and an actor of `loggerMachine`, whose
// named actions it provides; it turns every input into a list of effects for the runtime.
//
// API (all effects are returned in the order they must be performed):
//   const core = new LoggerCore({ epoch, leaseMs, limits });
//   const link = core.openLink();                  // a TCP connection was accepted
//   core.frames(link, [{ epoch, msg }, ...])       // messages decoded from one read, in order
//   core.badFrame(link, detail)                    // the frame/body codec refused a frame
//   core.linkClosed(link)                          // the socket is gone (peer or us)
//   core.setLimits(limits)                         // operator raised the limits
//   core.epoch                                     // use as the frame epoch of every send
// Effects:
//   { kind: 'send', link, msg }       encode with `core.epoch` and write
//   { kind: 'stream', link, messages} write each message of the iterable, honouring drain
//   { kind: 'close', link, reason }   destroy the socket, then call linkClosed(link)
//   { kind: 'pause' | 'resume', link} stop / restart reading the socket (backpressure)
// The runtime must not feed frames of a link after it got `close` for it.

import { createActor } from 'xstate';
import type { LoggerErrorCode, LoggerMessage, Role } from '../../wire/logmsg.ts';
import { classifyFrame, loggerMachine } from './logger.machine.ts';
import { type LoggerLimits, LoggerStore } from './store.ts';

export type LoggerEffect =
  | { readonly kind: 'send'; readonly link: number; readonly msg: LoggerMessage }
  | { readonly kind: 'stream'; readonly link: number; readonly messages: Iterable<LoggerMessage> }
  | { readonly kind: 'close'; readonly link: number; readonly reason: string }
  | { readonly kind: 'pause'; readonly link: number }
  | { readonly kind: 'resume'; readonly link: number };

export interface LoggerCoreOptions {
  readonly epoch: number;
  /** granted to every welcomed peer (spec/recovery.md) */
  readonly leaseMs: number;
  readonly limits?: Partial<LoggerLimits>;
}

interface Link {
  role: Role | null;
  epoch: number;
  paused: boolean;
}

export type LoggerMode = 'accepting' | 'backpressured' | 'fencing';

export class LoggerCore {
  readonly store: LoggerStore;
  private readonly leaseMs: number;
  private readonly links = new Map<number, Link>();
  /** Messages the store could not take yet, per link, in arrival order. */
  private readonly parked = new Map<number, LoggerMessage[]>();
  /** Old-epoch links told to close during a fence, not yet reported closed. */
  private readonly closing = new Set<number>();
  private readonly actor;
  private out: LoggerEffect[] = [];
  private storeFull = false;
  private nextLink = 1;

  constructor(opts: LoggerCoreOptions) {
    this.store = new LoggerStore(opts.limits);
    this.leaseMs = opts.leaseMs;
    this.actor = createActor(
      loggerMachine.provide({
        actions: {
          welcome: (_, p) => this.welcome(p.link, p.role),
          refuse: (_, p) => this.refuse(p.link, p.code, p.detail),
          storeMessage: (_, p) => this.storeMessage(p.link, p.msg),
          parkMessage: (_, p) => this.park(p.link, p.msg),
          applyHint: (_, p) => this.applyHint(p.link, p.msg),
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
          pauseIntake: () => this.setIntake(false),
          resumeIntake: () => this.setIntake(true),
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
    const s = this.actor.getSnapshot();
    if (s.matches('fencing')) return 'fencing';
    return s.matches({ serving: 'backpressured' }) ? 'backpressured' : 'accepting';
  }

  openLink(): number {
    const id = this.nextLink++;
    this.links.set(id, { role: null, epoch: 0, paused: false });
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
        queue.push(msg);
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
    // reconnecting, so dropping them loses nothing.
    this.links.delete(link);
    this.parked.delete(link);
    if (this.closing.delete(link)) this.maybeFenced();
    return this.take();
  }

  /** Raise (or lower) the limits; parked messages are retried if they may now fit. */
  setLimits(limits: Partial<LoggerLimits>): LoggerEffect[] {
    this.store.setLimits(limits);
    if (this.storeFull) {
      this.storeFull = false;
      this.actor.send({ type: 'SPACE_FREED' });
      this.retryParked();
    }
    return this.take();
  }

  private feed(link: number, l: Link, epoch: number, msg: LoggerMessage): void {
    const snap = this.actor.getSnapshot();
    if (
      (msg.kind === 'LogData' || msg.kind === 'LogDeterminant') &&
      snap.matches({ serving: 'accepting' }) &&
      classifyFrame(snap.context, false, { type: 'FRAME', link, role: l.role, epoch, msg }).kind ===
        'store'
    ) {
      // The data path: in serving.accepting the machine's transition for a storable frame is
      // a self-transition whose only effect is `storeMessage` (same guard, same action, no
      // context change), so the per-message work skips the actor's send.
      this.storeMessage(link, msg);
    } else {
      this.actor.send({ type: 'FRAME', link, role: l.role, epoch, msg });
    }
    // A Fence with no old links left to close completes at once.
    this.maybeFenced();
    if (
      this.storeFull &&
      !this.actor.getSnapshot().matches({ serving: 'backpressured' }) &&
      this.mode !== 'fencing'
    ) {
      this.actor.send({ type: 'STORE_FULL', link });
    }
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
    this.out.push({ kind: 'stream', link, messages: this.store.replay(what) });
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
  }

  private storeMessage(link: number, msg: LoggerMessage): void {
    switch (msg.kind) {
      case 'LogSyn': {
        const r = this.store.logSyn(msg);
        if (r.kind === 'stored')
          this.out.push({ kind: 'send', link, msg: { kind: 'SynStored', conn: r.conn } });
        else if (r.kind === 'full') this.full(link, msg);
        else this.refuse(link, r.code, r.detail);
        return;
      }
      case 'LogData': {
        const r = this.store.logData(msg.conn, msg.seq, msg.payload, msg.fin);
        if (r.kind === 'error') {
          this.refuse(link, r.code, r.detail);
          return;
        }
        // Ack what is stored, even if part of the message is left over: acks are cumulative
        // and the clamp at the SSW may advance by that much.
        this.out.push({
          kind: 'send',
          link,
          msg: { kind: 'DataStored', conn: r.conn, stableSeq: r.stableSeq, finLogged: r.finLogged },
        });
        if (r.kind === 'full') this.full(link, msg);
        return;
      }
      case 'LogDeterminant': {
        const r = this.store.logDeterminant(msg.detSeq, msg.det);
        if (r.kind === 'error') {
          this.refuse(link, r.code, r.detail);
          return;
        }
        if (r.kind === 'full') {
          this.full(link, msg);
          return;
        }
        this.out.push({ kind: 'send', link, msg: { kind: 'DetStored', stableDet: r.stableDet } });
        if (r.closeLogged !== null) {
          const c = r.closeLogged;
          for (const [id, l] of this.links) {
            if (l.role === 'ssw' && l.epoch === this.epoch) {
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
        }
        return;
      }
      default:
        this.refuse(link, 'wrongRole', `${msg.kind} is not stored`);
    }
  }

  private full(link: number, msg: LoggerMessage): void {
    this.park(link, msg);
    this.storeFull = true;
  }

  private applyHint(link: number, msg: LoggerMessage): void {
    if (msg.kind === 'ClientAcked') {
      const e = this.store.clientAcked(msg.conn, msg.clientAck);
      if (e !== null) this.refuse(link, e.code, e.detail);
    } else if (msg.kind === 'ConnClosed') {
      this.store.connClosed(msg.conn);
    }
  }

  private setIntake(on: boolean): void {
    for (const [id, l] of this.links) {
      if (l.role !== 'ssw' && l.role !== 'nsw') continue;
      if (l.paused === !on) continue;
      l.paused = !on;
      this.out.push({ kind: on ? 'resume' : 'pause', link: id });
    }
  }

  private retryParked(): void {
    for (const [link, queue] of [...this.parked]) {
      this.parked.delete(link);
      for (let i = 0; i < queue.length; i++) {
        const l = this.links.get(link);
        if (l === undefined) break;
        if (this.storeFull) {
          // Full again: the rest stays parked, in order.
          this.parked.set(link, [...(this.parked.get(link) ?? []), ...queue.slice(i)]);
          break;
        }
        this.feed(link, l, l.epoch, queue[i]!);
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
    if (this.parked.size === 0) this.storeFull = false;
  }

  private maybeFenced(): void {
    if (this.closing.size === 0 && this.mode === 'fencing') {
      this.actor.send({ type: 'LINKS_CLOSED', epoch: this.epoch });
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
