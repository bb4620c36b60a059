// The SSW daemon's two links on the replication network, held by the main thread (node:net)
// while the data-path thread runs the engine:
//   - the logger link (198.19.0.2:7400): Hello{role 'ssw'}, then whatever the engine sends,
//     already framed by the data-path thread (one transferred buffer per poll round, written
//     as is); every message the logger sends goes to the engine, one postMessage per burst.
//   - the heartbeat link to the failure detector (198.19.0.2:7401, recovery/README.md §1):
//     Hello, then Heartbeat every `heartbeatMs`; each HeartbeatAck goes to the engine with the
//     local send time of the heartbeat it answers (A4: only local clocks are compared).

import type { LoggerMessage } from '../../wire/logmsg.ts';
import type { HostPort } from '../common/args.ts';
import { loggerLinkCodec } from '../common/codec.ts';
import { DEFAULT_LINK_LIMITS, LinkClient } from '../common/link.ts';
import type { Log } from '../common/log.ts';

export interface LinkSink {
  loggerMessages(msgs: LoggerMessage[]): void;
  loggerConnected(): void;
  loggerDisconnected(reason: string): void;
  heartbeatAck(sentMs: number, leaseMs: number): void;
  heartbeatError(code: string, message: string): void;
  /** spec/ssw.md R5.8: what the recorder link received, and its loss */
  recorderMessages?(msgs: LoggerMessage[]): void;
  recorderDisconnected?(reason: string): void;
}

/** How many heartbeats may be unanswered before their send times are forgotten. */
const MAX_OUTSTANDING_HEARTBEATS = 1024;

export class SswLinks {
  private logger: LinkClient<LoggerMessage> | undefined;
  /** spec/ssw.md R5.8: a second logger link, role 'nsw', for an unrecorded application. */
  private recorder: LinkClient<LoggerMessage> | undefined;
  private recorderInbox: LoggerMessage[] = [];
  private recorderFlushQueued = false;
  private hb: LinkClient<LoggerMessage> | undefined;
  private hbTimer: NodeJS.Timeout | undefined;
  private hbSeq = 0;
  private readonly hbSent = new Map<number, number>();
  private inbox: LoggerMessage[] = [];
  private acked = false;
  private ackWaiters: Array<() => void> = [];
  private flushQueued = false;
  epoch: number;

  constructor(
    private readonly o: {
      hostId: string;
      epoch: number;
      logger?: HostPort;
      heartbeat?: HostPort;
      /** R5.8: keep a recorder link to the logger (the served application is unrecorded) */
      recorder?: boolean;
      heartbeatMs: number;
      log: Log;
      sink: LinkSink;
    },
  ) {
    this.epoch = o.epoch;
  }

  startLogger(): void {
    if (this.o.logger === undefined || this.logger !== undefined) return;
    this.logger = new LinkClient<LoggerMessage>({
      target: this.o.logger,
      codec: loggerLinkCodec,
      log: this.o.log,
      onConnect: (conn) => {
        conn.send(
          { kind: 'Hello', role: 'ssw', hostId: this.o.hostId, epoch: this.epoch },
          this.epoch,
        );
        // spec/ssw.md "Capabilities": right behind Hello, before FetchLog and any LogSyn, so
        // that the logger serves this SSW ReplayResume (R6.11) and can tell it of its limits
        // (spec/logger.md R15.5: a peer without Capabilities is an older one).
        conn.send(
          { kind: 'Capabilities', checkpoints: false, unrecorded: this.o.recorder === true },
          this.epoch,
        );
        this.o.sink.loggerConnected();
      },
      onMessage: (msg) => {
        this.inbox.push(msg);
        if (!this.flushQueued) {
          this.flushQueued = true;
          // Everything that arrived in this turn of the event loop goes over in one batch.
          setImmediate(() => {
            this.flushQueued = false;
            const batch = this.inbox;
            this.inbox = [];
            this.o.sink.loggerMessages(batch);
          });
        }
      },
      onDisconnect: (reason) => this.o.sink.loggerDisconnected(reason),
    });
    this.logger.start();
    this.startRecorder();
  }

  /** R5.8: the recorder link; started and restarted with the logger link. */
  private startRecorder(): void {
    if (this.o.recorder !== true || this.o.logger === undefined || this.recorder !== undefined)
      return;
    this.recorder = new LinkClient<LoggerMessage>({
      target: this.o.logger,
      codec: loggerLinkCodec,
      log: this.o.log,
      onConnect: (conn) => {
        conn.send(
          { kind: 'Hello', role: 'nsw', hostId: `${this.o.hostId}-recorder`, epoch: this.epoch },
          this.epoch,
        );
      },
      onMessage: (msg) => {
        this.recorderInbox.push(msg);
        if (!this.recorderFlushQueued) {
          this.recorderFlushQueued = true;
          setImmediate(() => {
            this.recorderFlushQueued = false;
            const batch = this.recorderInbox;
            this.recorderInbox = [];
            this.o.sink.recorderMessages?.(batch);
          });
        }
      },
      onDisconnect: (reason) => this.o.sink.recorderDisconnected?.(reason),
    });
    this.recorder.start();
  }

  /** R5.8: frames for the recorder link (as writeFrames). */
  writeRecorderFrames(bytes: Uint8Array): boolean {
    const conn = this.recorder?.connection;
    if (conn === undefined || conn.closed || conn.socket.destroyed) return false;
    conn.socket.write(bytes);
    if (conn.bufferedBytes > DEFAULT_LINK_LIMITS.maxOutboundBytes) {
      conn.destroy();
      return false;
    }
    return true;
  }

  /**
   * Frames the data-path thread encoded (./frames.ts) go to the logger socket as they are.
   * False when there is no connection: the engine resends what stays unacknowledged after
   * the next Welcome. The outbound bound is the link's own (LinkConnection.send's).
   */
  writeFrames(bytes: Uint8Array): boolean {
    const conn = this.logger?.connection;
    if (conn === undefined || conn.closed || conn.socket.destroyed) return false;
    conn.socket.write(bytes);
    if (conn.bufferedBytes > DEFAULT_LINK_LIMITS.maxOutboundBytes) {
      this.o.log.warn('logger link: outbound buffer over its limit, reconnecting', {
        buffered: conn.bufferedBytes,
      });
      conn.destroy();
      return false;
    }
    return true;
  }

  startHeartbeat(): void {
    if (this.o.heartbeat === undefined || this.hb !== undefined) return;
    this.hb = new LinkClient<LoggerMessage>({
      target: this.o.heartbeat,
      codec: loggerLinkCodec,
      log: this.o.log,
      onConnect: (conn) => {
        conn.send(
          { kind: 'Hello', role: 'ssw', hostId: this.o.hostId, epoch: this.epoch },
          this.epoch,
        );
      },
      onMessage: (msg) => {
        if (msg.kind === 'HeartbeatAck') {
          const sent = this.hbSent.get(msg.seq);
          if (!this.acked) {
            this.acked = true;
            for (const w of this.ackWaiters.splice(0)) w();
          }
          if (sent !== undefined) {
            for (const k of this.hbSent.keys()) {
              if (k > msg.seq) break;
              this.hbSent.delete(k);
            }
            this.o.sink.heartbeatAck(sent, msg.leaseMs);
          }
        } else if (msg.kind === 'Error') {
          this.o.sink.heartbeatError(msg.code, msg.message);
        }
      },
    });
    this.hb.start();
    this.hbTimer = setInterval(() => {
      const seq = ++this.hbSeq;
      const sentMs = performance.now();
      if (this.hb?.send({ kind: 'Heartbeat', seq, sentMs }, this.epoch) === 'sent') {
        this.hbSent.set(seq, sentMs);
        if (this.hbSent.size > MAX_OUTSTANDING_HEARTBEATS) {
          const oldest = this.hbSent.keys().next().value;
          if (oldest !== undefined) this.hbSent.delete(oldest);
        }
      }
    }, this.o.heartbeatMs);
  }

  /** Resolves at the first HeartbeatAck, or after `timeoutMs` (never rejects). */
  firstHeartbeatAck(timeoutMs: number): Promise<void> {
    if (this.acked) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.ackWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  stopHeartbeat(): void {
    if (this.hbTimer) clearInterval(this.hbTimer);
    this.hbTimer = undefined;
    this.hb?.stop();
    this.hb = undefined;
  }

  /** A new epoch (takeover): reconnect to the logger so the Hello carries it. */
  restartLogger(epoch: number): void {
    this.epoch = epoch;
    this.logger?.stop();
    this.logger = undefined;
    this.recorder?.stop();
    this.recorder = undefined;
    this.startLogger();
  }

  stop(): void {
    this.stopHeartbeat();
    this.logger?.stop();
    this.recorder?.stop();
  }
}
