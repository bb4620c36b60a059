// The logger daemon's engine: binds the LoggerCore (src/machines/logger: store, epochs,
// fencing, recovery service, backpressure decisions) to framed TCP connections from SSWs,
// NSWs and the recovery coordinator (MESSAGES.md). It decides nothing about the protocol: the
// core returns effects (send, stream, close, pause, resume) and this class performs them.
//
// I/O policy that is the runtime's own:
// - each read's decoded messages go to the core as one batch, so its acks are coalesced;
// - a bad frame drops that connection only (typed LinkFrameError, logged with the peer and
//   offset); the store is untouched by it, so nothing already stored is lost;
// - a FetchLog answer is streamed with flow control (waits for 'drain' under backpressure);
// - a 'close' effect flushes what was queued (the Error that explains it) before closing.

import {
  LoggerCore,
  type LoggerEffect,
  type LoggerLimits,
  type LoggerNotice,
} from '../../machines/logger/index.ts';
import type { LoggerMessage } from '../../wire/logmsg.ts';
import { describeMessage } from '../../wire/logmsg.ts';
import type { HostPort } from '../common/args.ts';
import { loggerLinkCodec } from '../common/codec.ts';
import { type LinkConnection, type LinkLimits, LinkServer } from '../common/link.ts';
import { Log, type Timeline } from '../common/log.ts';

/** FetchLog records encoded per event-loop turn (see LoggerServer.stream). */
const STREAM_SLICE = 1024;

/** Output for one link, in the order the core produced it (see LoggerServer.output). */
type OutItem =
  | { readonly kind: 'send'; readonly msg: LoggerMessage; readonly epoch: number }
  | { readonly kind: 'stream'; readonly records: Iterable<LoggerMessage>; readonly epoch: number }
  | { readonly kind: 'close'; readonly link: number; readonly reason: string };

export interface LoggerServerOptions {
  readonly listen: HostPort;
  readonly epoch: number;
  /** lease granted in Welcome */
  readonly leaseMs: number;
  readonly storeLimits?: Partial<LoggerLimits>;
  /** R15.2: the bounded wait for a checkpoint at a limit */
  readonly checkpointWaitMs?: number;
  /** R15.6: how often time is handed to the core (default 1000 ms) */
  readonly tickMs?: number;
  readonly linkLimits?: LinkLimits;
  readonly log?: Log;
  readonly timeline?: Timeline;
}

export interface LoggerStats {
  readonly epoch: number;
  readonly mode: string;
  readonly conns: number;
  readonly openConns: number;
  readonly storedBytes: number;
  /** determinants held (from the stored checkpoint's D) */
  readonly dets: number;
  /** one past the last stored determinant */
  readonly stableDet: number;
  readonly checkpointBytes: number;
  readonly checkpoints: number;
  /** R14.7: what truncations dropped, in total */
  readonly truncatedBytes: number;
  readonly truncatedDets: number;
  readonly truncatedRecords: number;
  readonly embryonic: number;
  readonly abandoned: number;
  readonly peers: number;
  readonly badFrames: number;
  readonly closeLoggedSent: number;
}

/** How long a closing link may take to flush its last message before it is destroyed. */
const CLOSE_FLUSH_MS = 1000;

export class LoggerServer {
  readonly core: LoggerCore;
  private readonly link: LinkServer<LoggerMessage>;
  private readonly links = new Map<number, LinkConnection<LoggerMessage>>();
  /** per link: output waiting behind a FetchLog answer that is still streaming */
  private readonly outq = new Map<LinkConnection<LoggerMessage>, OutItem[]>();
  private readonly log: Log;
  private badFrames = 0;
  private closeLoggedSent = 0;
  private checkpoints = 0;
  private truncated = { bytes: 0, dets: 0, records: 0 };
  private readonly timers = new Set<NodeJS.Timeout>();
  private ticker: NodeJS.Timeout | null = null;
  private lastEpoch: number;

  constructor(private readonly opts: LoggerServerOptions) {
    this.log = opts.log ?? new Log({ component: 'logger' });
    this.core = new LoggerCore({
      epoch: opts.epoch,
      leaseMs: opts.leaseMs,
      ...(opts.storeLimits ? { limits: opts.storeLimits } : {}),
      ...(opts.checkpointWaitMs !== undefined ? { checkpointWaitMs: opts.checkpointWaitMs } : {}),
    });
    this.lastEpoch = opts.epoch;
    const linkOpts = {
      codec: loggerLinkCodec,
      log: this.log,
      ...(opts.linkLimits ? { limits: opts.linkLimits } : {}),
    };
    this.link = new LinkServer(linkOpts, (c) => this.accept(c));
  }

  async start(): Promise<HostPort> {
    const bound = await this.link.listen(this.opts.listen);
    this.log.info('listening', { addr: `${bound.host}:${bound.port}`, epoch: this.core.epoch });
    // R15.6: time enters the core as ticks (embryonic records expire between the TTL and the
    // TTL plus one tick after they were stored).
    this.ticker = setInterval(
      () => this.perform(this.core.tick(performance.now())),
      this.opts.tickMs ?? 1000,
    );
    this.ticker.unref();
    return bound;
  }

  close(): Promise<void> {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    return this.link.close();
  }

  /** Operator action: change the store limits; parked writers resume if they now fit. */
  setLimits(limits: Partial<LoggerLimits>): void {
    this.perform(this.core.setLimits(limits));
  }

  get stats(): LoggerStats {
    const u = this.core.store.usage();
    return {
      epoch: this.core.epoch,
      mode: this.core.mode,
      conns: u.conns,
      openConns: u.conns === 0 ? 0 : u.openConns,
      storedBytes: u.storedBytes,
      dets: u.dets,
      stableDet: this.core.store.stableDet,
      checkpointBytes: u.checkpointBytes,
      checkpoints: this.checkpoints,
      truncatedBytes: this.truncated.bytes,
      truncatedDets: this.truncated.dets,
      truncatedRecords: this.truncated.records,
      embryonic: u.embryonic,
      abandoned: u.abandoned,
      peers: this.links.size,
      badFrames: this.badFrames,
      closeLoggedSent: this.closeLoggedSent,
    };
  }

  private accept(conn: LinkConnection<LoggerMessage>): void {
    const id = this.core.openLink();
    this.links.set(id, conn);
    this.log.debug('link open', { link: id, peer: conn.peer });
    conn.on('batch', (batch) => {
      if (this.log !== undefined && process.env.FTTCP_LOG_LEVEL === 'debug') {
        for (const d of batch)
          this.log.debug('recv', { link: id, epoch: d.epoch, msg: describeMessage(d.msg) });
      }
      this.perform(this.core.frames(id, batch));
    });
    conn.on('error', (e) => {
      this.badFrames++;
      this.log.warn('link connection dropped', { link: id, peer: conn.peer, error: e.message });
      this.perform(this.core.badFrame(id, e.message));
    });
    conn.on('close', () => {
      this.links.delete(id);
      this.perform(this.core.linkClosed(id));
    });
  }

  private perform(effects: LoggerEffect[]): void {
    for (const e of effects) {
      if (e.kind === 'armCheckpointTimer') {
        const t = setTimeout(() => {
          this.timers.delete(t);
          this.perform(this.core.checkpointTimeout(e.ask));
        }, e.ms);
        this.timers.add(t);
        continue;
      }
      if (e.kind === 'notice') {
        this.notice(e.notice);
        continue;
      }
      const conn = this.links.get(e.link);
      if (conn === undefined) continue;
      switch (e.kind) {
        case 'send':
          if (e.msg.kind === 'CloseLogged') this.closeLoggedSent++;
          if (e.msg.kind === 'Error')
            this.log.warn('refusing peer', {
              link: e.link,
              peer: conn.peer,
              code: e.msg.code,
              message: e.msg.message,
            });
          this.output(conn, { kind: 'send', msg: e.msg, epoch: this.core.epoch });
          break;
        case 'stream':
          this.output(conn, { kind: 'stream', records: e.messages, epoch: this.core.epoch });
          break;
        case 'close': {
          this.output(conn, { kind: 'close', link: e.link, reason: e.reason });
          break;
        }
        case 'pause':
          this.log.warn('pausing writer', {
            link: e.link,
            peer: conn.peer,
            mode: this.core.mode,
          });
          conn.pauseInput();
          break;
        case 'resume':
          conn.resumeInput();
          break;
      }
    }
    if (this.core.epoch !== this.lastEpoch) {
      this.lastEpoch = this.core.epoch;
      this.log.info('fenced', { epoch: this.core.epoch });
      this.opts.timeline?.event('fenced', { epoch: this.core.epoch });
    }
  }

  /** What an operator must see: logged, and the R15 ones put on the timeline. */
  private notice(n: LoggerNotice): void {
    const tl = this.opts.timeline;
    switch (n.kind) {
      case 'checkpointStored':
        this.checkpoints++;
        this.truncated.bytes += n.report.clientBytes;
        this.truncated.dets += n.report.dets;
        this.truncated.records += n.report.records;
        this.log.info('checkpoint stored', { link: n.link, ...n.report });
        tl?.event('checkpoint-stored', {
          ckptId: n.report.ckptId,
          detSeq: n.report.detSeq,
          freedBytes: n.report.freedBytes,
        });
        return;
      case 'checkpointRejected':
        this.log.warn('checkpoint rejected', { ckptId: n.ckptId, detail: n.detail });
        return;
      case 'checkpointRefused':
        this.log.warn('checkpoint refused by the NSW', { link: n.link, detail: n.detail });
        return;
      case 'checkpointWanted':
        this.log.info('asking for a checkpoint', { ...n });
        tl?.event('checkpoint-wanted', {
          reason: n.reason,
          limit: n.limit,
          used: n.used,
          max: n.max,
        });
        return;
      case 'unprotected':
        // R15.4: one line that names the limit and the flag that raises it.
        this.log.warn('unprotected', {
          scope: n.scope,
          conn: n.conn,
          reason: n.reason,
          detail: n.detail,
        });
        tl?.event('unprotected', {
          scope: n.scope,
          conn: n.conn,
          reason: n.reason,
          detail: n.detail,
        });
        return;
      case 'stalled':
        this.log.warn('stalled', { limit: n.limit, detail: n.detail });
        tl?.event('stalled', { limit: n.limit, detail: n.detail });
        return;
    }
  }

  /**
   * Output to a link in effect order. A FetchLog answer is streamed asynchronously (it yields
   * the event loop every STREAM_SLICE records, and waits for 'drain' under backpressure), so
   * whatever the core says to that link meanwhile (acks, errors, a close, another answer)
   * queues behind it: the link sees the order it saw when an answer went out in one
   * synchronous loop. Each item keeps the epoch of the moment the core produced it. A close
   * is the exception (see below).
   */
  private output(conn: LinkConnection<LoggerMessage>, item: OutItem): void {
    const q = this.outq.get(conn);
    if (q !== undefined && item.kind === 'close') {
      // A link being closed (refused, fenced, bad frame) does not wait for the rest of an
      // answer, as it did not when the answer waited for 'drain': what the core said after
      // the answer goes now, then the close; the stream stops at conn.closed.
      for (const x of q.splice(0)) if (x.kind === 'send') conn.send(x.msg, x.epoch);
      this.closeLink(conn, item.link, item.reason);
      return;
    }
    if (q !== undefined) {
      q.push(item);
      return;
    }
    if (item.kind === 'send') {
      conn.send(item.msg, item.epoch);
      return;
    }
    if (item.kind === 'close') {
      this.closeLink(conn, item.link, item.reason);
      return;
    }
    this.outq.set(conn, [item]);
    void this.pump(conn);
  }

  private async pump(conn: LinkConnection<LoggerMessage>): Promise<void> {
    const q = this.outq.get(conn);
    try {
      for (let item = q?.shift(); item !== undefined; item = q?.shift()) {
        if (item.kind === 'send') conn.send(item.msg, item.epoch);
        else if (item.kind === 'close') this.closeLink(conn, item.link, item.reason);
        else await this.stream(conn, item.records, item.epoch);
      }
    } finally {
      this.outq.delete(conn);
    }
  }

  private closeLink(conn: LinkConnection<LoggerMessage>, link: number, reason: string): void {
    this.log.info('closing link', { link, peer: conn.peer, reason });
    conn.end();
    const t = setTimeout(() => conn.destroy(), CLOSE_FLUSH_MS);
    conn.on('close', () => clearTimeout(t));
  }

  /**
   * Stream a FetchLog answer, waiting for the socket to drain when it backs up, and yielding
   * the event loop every STREAM_SLICE records so that the answer is pipelined. The records
   * are a snapshot taken when the FetchLog arrived (LoggerStore.replay), so nothing appended
   * meanwhile slips in.
   */
  private async stream(
    conn: LinkConnection<LoggerMessage>,
    records: Iterable<LoggerMessage>,
    epoch: number,
  ): Promise<void> {
    let n = 0;
    for (const m of records) {
      if (conn.closed) return;
      const r = conn.send(m, epoch);
      n++;
      if (m.kind === 'ReplayEnd') {
        this.log.info('log served', {
          to: conn.peer,
          conns: m.conns,
          bytes: m.bytes,
          dets: m.dets,
          records: n,
        });
      }
      if (r === 'not-connected') return;
      if (r === 'sent' && n % STREAM_SLICE === 0) {
        // The link corks until setImmediate, so a log well under the high-water mark used to
        // be encoded whole before its first byte left, and the peer decoded it only after:
        // fetch = encode + decode. Yielding a turn per slice lets the link's flush (queued
        // first) send the slice, and the peer decodes it while the next one is encoded.
        await new Promise<void>((resolve) => setImmediate(resolve));
      } else if (r === 'backpressure') {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            conn.off('drain', done);
            conn.off('close', done);
            resolve();
          };
          conn.on('drain', done);
          conn.on('close', done);
        });
      }
    }
  }
}
