// The logger daemon's engine: binds the log store to framed TCP connections from SSWs, NSWs
// and the recovery coordinator (MESSAGES.md). It decides nothing about the protocol: the
// store says what is stored, acknowledged, fenced or served; this class routes messages,
// checks roles, streams FetchLog answers with flow control, and applies backpressure.
//
// Connection discipline:
// - the first message must be Hello (role, hostId, epoch); the epoch must be the current one;
// - every later frame must carry the current epoch: an older one is answered with
//   Error{staleEpoch} and the connection closed (R8: a fenced incarnation cannot write);
// - a Fence closes every ssw/nsw connection of the older epoch with Error{fenced}, so the old
//   primary learns at once instead of at its next write;
// - a bad frame drops that connection only (typed LinkFrameError, logged with the peer); the
//   store is untouched by it, so nothing already stored is lost.

import type { LoggerMessage, Role } from '../../wire/logmsg.ts';
import { describeMessage } from '../../wire/logmsg.ts';
import type { HostPort } from '../common/args.ts';
import { loggerLinkCodec } from '../common/codec.ts';
import { type LinkConnection, type LinkLimits, LinkServer } from '../common/link.ts';
import { Log, type Timeline } from '../common/log.ts';
import { DEFAULT_STORE_LIMITS, LogStore, type StoreLimits } from './store.interim.ts';

export interface LoggerServerOptions {
  readonly listen: HostPort;
  readonly epoch: number;
  /** lease granted in Welcome (the SSW counts it from its Hello) */
  readonly leaseMs: number;
  readonly storeLimits?: StoreLimits;
  readonly linkLimits?: LinkLimits;
  readonly log?: Log;
  readonly timeline?: Timeline;
}

interface Peer {
  readonly conn: LinkConnection<LoggerMessage>;
  role: Role | undefined;
  hostId: string;
  epoch: number;
  /** paused because the store is full (resumed when it is not) */
  pausedForStore: boolean;
}

export interface LoggerStats {
  readonly epoch: number;
  readonly conns: number;
  readonly bytes: number;
  readonly dets: number;
  readonly peers: number;
  readonly badFrames: number;
  readonly closeLoggedSent: number;
}

export class LoggerServer {
  readonly store: LogStore;
  private readonly link: LinkServer<LoggerMessage>;
  private readonly peers = new Set<Peer>();
  private readonly log: Log;
  private badFrames = 0;
  private closeLoggedSent = 0;
  private bound: HostPort | undefined;

  constructor(private readonly opts: LoggerServerOptions) {
    this.log = opts.log ?? new Log({ component: 'logger' });
    this.store = new LogStore(opts.epoch, opts.storeLimits ?? DEFAULT_STORE_LIMITS);
    const linkOpts = { codec: loggerLinkCodec, log: this.log, ...(opts.linkLimits ? { limits: opts.linkLimits } : {}) };
    this.link = new LinkServer(linkOpts, (c) => this.accept(c));
  }

  async start(): Promise<HostPort> {
    this.bound = await this.link.listen(this.opts.listen);
    this.log.info('listening', { addr: `${this.bound.host}:${this.bound.port}`, epoch: this.store.epoch });
    return this.bound;
  }

  close(): Promise<void> {
    return this.link.close();
  }

  get stats(): LoggerStats {
    return {
      epoch: this.store.epoch,
      conns: this.store.connCount,
      bytes: this.store.storedBytes,
      dets: this.store.stableDet,
      peers: this.peers.size,
      badFrames: this.badFrames,
      closeLoggedSent: this.closeLoggedSent,
    };
  }

  private accept(conn: LinkConnection<LoggerMessage>): void {
    const peer: Peer = { conn, role: undefined, hostId: '?', epoch: -1, pausedForStore: false };
    this.peers.add(peer);
    conn.on('message', (m, e) => this.onMessage(peer, m, e));
    conn.on('error', (e) => {
      this.badFrames++;
      this.log.warn('link connection dropped', { peer: conn.peer, role: peer.role, host: peer.hostId, error: e.message });
    });
    conn.on('close', () => {
      this.peers.delete(peer);
      this.log.debug('peer gone', { peer: conn.peer, role: peer.role, host: peer.hostId });
    });
  }

  private refuse(peer: Peer, code: string, message: string): void {
    this.log.warn('refusing peer', { peer: peer.conn.peer, role: peer.role, host: peer.hostId, code, message });
    peer.conn.send({ kind: 'Error', code, message }, this.store.epoch);
    peer.conn.end();
  }

  private reply(peer: Peer, msg: LoggerMessage): void {
    peer.conn.send(msg, this.store.epoch);
  }

  private onMessage(peer: Peer, msg: LoggerMessage, frameEpoch: number): void {
    if (peer.conn.closed) return;
    if (peer.role === undefined) {
      if (msg.kind !== 'Hello') {
        this.refuse(peer, 'helloFirst', `first message must be Hello, got ${msg.kind}`);
        return;
      }
      const check = this.store.epochCheck(msg.epoch);
      if (check !== 'current' || frameEpoch !== msg.epoch) {
        this.refuse(
          peer,
          check === 'stale' ? 'staleEpoch' : 'badEpoch',
          `Hello epoch ${msg.epoch} (frame ${frameEpoch}), logger epoch ${this.store.epoch}`,
        );
        return;
      }
      peer.role = msg.role;
      peer.hostId = msg.hostId;
      peer.epoch = msg.epoch;
      this.log.info('peer joined', { peer: peer.conn.peer, role: msg.role, host: msg.hostId, epoch: msg.epoch });
      this.reply(peer, { kind: 'Welcome', epoch: this.store.epoch, leaseMs: this.opts.leaseMs });
      return;
    }
    // R8: an incarnation keeps the epoch it joined with; the logger moving on fences it.
    if (frameEpoch !== this.store.epoch || peer.epoch !== this.store.epoch) {
      this.refuse(peer, 'staleEpoch', `frame epoch ${frameEpoch}, logger epoch ${this.store.epoch}`);
      return;
    }
    const role = peer.role;
    const roleIs = (...roles: Role[]): boolean => {
      if (roles.includes(role)) return true;
      this.refuse(peer, 'badRole', `${msg.kind} is not accepted from role ${role}`);
      return false;
    };
    switch (msg.kind) {
      case 'LogSyn': {
        if (!roleIs('ssw')) return;
        const { kind: _k, ...rec } = msg;
        const r = this.store.logSyn(rec);
        if (!r.ok) return this.storeError(peer, msg, r.error);
        this.reply(peer, { kind: 'SynStored', conn: r.value.conn });
        break;
      }
      case 'LogData': {
        if (!roleIs('ssw')) return;
        const r = this.store.logData(msg.conn, msg.seq, msg.payload, msg.fin);
        if (!r.ok) return this.storeError(peer, msg, r.error);
        this.reply(peer, { kind: 'DataStored', conn: msg.conn, ...r.value });
        break;
      }
      case 'LogDeterminant': {
        if (!roleIs('nsw')) return;
        const r = this.store.logDeterminant(msg.detSeq, msg.det);
        if (!r.ok) return this.storeError(peer, msg, r.error);
        // CloseLogged before DetStored is irrelevant to safety (both say "stored"); send it
        // first so the SSW can release the FIN no later than the NSW releases what precedes it.
        if (r.value.close !== undefined) this.closeLogged(r.value.close);
        this.reply(peer, { kind: 'DetStored', stableDet: r.value.stableDet });
        break;
      }
      case 'ClientAcked': {
        if (!roleIs('ssw')) return;
        const r = this.store.clientAcked(msg.conn, msg.clientAck);
        if (!r.ok) this.log.warn('ClientAcked ignored', { host: peer.hostId, error: r.error.message });
        break;
      }
      case 'ConnClosed': {
        if (!roleIs('ssw')) return;
        const r = this.store.connClosed(msg.conn);
        if (!r.ok) this.log.warn('ConnClosed ignored', { host: peer.hostId, error: r.error.message });
        break;
      }
      case 'Fence': {
        if (!roleIs('coordinator')) return;
        const r = this.store.fence(msg.newEpoch);
        if (!r.ok) return this.storeError(peer, msg, r.error);
        this.log.info('fenced', { epoch: r.value, by: peer.hostId });
        this.opts.timeline?.event('fenced', { epoch: r.value });
        // The coordinator itself moves to the new epoch with its answer.
        peer.epoch = r.value;
        this.reply(peer, { kind: 'Fenced', epoch: r.value });
        for (const p of this.peers) {
          if (p !== peer && p.epoch < r.value && p.role !== undefined) {
            this.refuse(p, 'fenced', `logger fenced to epoch ${r.value}`);
          }
        }
        break;
      }
      case 'FetchLog': {
        if (!roleIs('ssw', 'nsw')) return;
        const records: Iterable<LoggerMessage> =
          msg.what === 'ssw'
            ? (function* (store) {
                yield* store.fetchSsw();
                for (const c of store.closeNoticesForOpenConns()) yield { kind: 'CloseLogged', ...c } as LoggerMessage;
              })(this.store)
            : this.store.fetchNsw();
        void this.stream(peer, records, msg.what);
        break;
      }
      default:
        this.refuse(peer, 'unexpected', `${msg.kind} is not a request the logger serves`);
        return;
    }
    this.applyBackpressure();
  }

  private storeError(peer: Peer, msg: LoggerMessage, e: { code: string; message: string }): void {
    if (e.code === 'full') {
      // Not the sender's fault: hold its input until the store has room again. The message
      // is lost to us, but the sender re-sends everything unacknowledged when it reconnects,
      // so drop the connection to make that happen instead of silently skipping it.
      this.log.warn('store full: dropping sender so it re-sends later', { host: peer.hostId, error: e.message });
      peer.conn.destroy();
      return;
    }
    this.log.warn('store refused', { host: peer.hostId, role: peer.role, msg: describeMessage(msg), error: e.message });
    this.refuse(peer, e.code, e.message);
  }

  /**
   * Explicit memory bound: when the store reaches a limit, stop reading from every writer.
   * TCP flow control then stalls them (and the SSW's acks stall, R1.6): a slow logger turns
   * into a slow service, never into an unbounded buffer or an unlogged ack.
   */
  private applyBackpressure(): void {
    const full = this.store.full;
    for (const p of this.peers) {
      if (p.role !== 'ssw' && p.role !== 'nsw') continue;
      if (full && !p.pausedForStore) {
        p.pausedForStore = true;
        p.conn.pauseInput();
        this.log.warn('store full: pausing writer', { host: p.hostId, role: p.role, ...this.stats });
      } else if (!full && p.pausedForStore) {
        p.pausedForStore = false;
        p.conn.resumeInput();
      }
    }
  }

  private closeLogged(c: { clientAddr: number; clientPort: number; how: 'end' | 'destroy' }): void {
    for (const p of this.peers) {
      if (p.role === 'ssw' && p.epoch === this.store.epoch) {
        p.conn.send({ kind: 'CloseLogged', ...c }, this.store.epoch);
        this.closeLoggedSent++;
      }
    }
  }

  /** Stream a FetchLog answer, waiting for the socket to drain when it backs up. */
  private async stream(peer: Peer, records: Iterable<LoggerMessage>, what: string): Promise<void> {
    let n = 0;
    for (const m of records) {
      if (peer.conn.closed) return;
      const r = peer.conn.send(m, this.store.epoch);
      n++;
      if (r === 'not-connected') return;
      if (r === 'backpressure') {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            peer.conn.off('drain', done);
            peer.conn.off('close', done);
            resolve();
          };
          peer.conn.on('drain', done);
          peer.conn.on('close', done);
        });
      }
      if (m.kind === 'ReplayEnd') {
        this.log.info('log served', { what, to: peer.hostId, conns: m.conns, bytes: m.bytes, dets: m.dets, records: n });
      }
    }
  }
}
