// The NSW's link to the logger (spec/messages.md): Hello with this incarnation's epoch, in
// replay FetchLog 'nsw' (started over if the link drops in the middle of the log), the
// determinants out and DetStored back. A reconnect is reported to the binding, whose core
// decides what to send again (R3.5); a refusal of the epoch is reported as NswFencedError
// (R4.7), any other refusal as a plain Error.

import type { DetRecord } from '../../machines/nsw/index.ts';
import type { LoggerMessage } from '../../wire/logmsg.ts';
import type { HostPort } from '../common/args.ts';
import { loggerLinkCodec } from '../common/codec.ts';
import { LinkClient } from '../common/link.ts';
import type { Log } from '../common/log.ts';
import { NswFencedError } from './errors.ts';

type ReplayEnd = Extract<LoggerMessage, { kind: 'ReplayEnd' }>;

export interface LoggerLinkHooks {
  /** the link is up and Hello (and FetchLog) sent: the core's LINK_UP */
  up(): void;
  down(): void;
  detStored(stableDet: number): void;
  /** replay: the whole log is in (ReplaySyn, ReplayData, ReplayDeterminant; then ReplayEnd) */
  fetched(records: readonly LoggerMessage[], end: ReplayEnd): void;
  /** R4.7: the logger refused our epoch (told before the failure is reported) */
  fenced(): void;
  /** R13.4: the logger's answers about checkpoints; R13.3 its request; R13.1 ConnDone */
  checkpointStored(ckptId: number): void;
  checkpointRejected(ckptId: number, detail: string): void;
  checkpointWanted(m: Extract<LoggerMessage, { kind: 'CheckpointWanted' }>): void;
  connDone(conn: number): void;
  /** the logger refused us after the start (NswFencedError or another refusal) */
  failed(e: Error): void;
  /** R13.9: the logger gave up the application's log (`Unprotected {scope: app}`, L.7) */
  unprotected(reason: string): void;
}

export interface LoggerLinkOptions {
  readonly target: HostPort;
  readonly hostId: string;
  readonly epoch: number;
  /** replay: fetch the log before the start completes */
  readonly fetch: boolean;
  readonly connectTimeoutMs: number;
  /** R13.5: the application gave snapshot() and restore() */
  readonly checkpoints: boolean;
  readonly log: Log;
  readonly hooks: LoggerLinkHooks;
}

export class NswLoggerLink {
  private link: LinkClient<LoggerMessage> | undefined;

  constructor(private readonly o: LoggerLinkOptions) {}

  /**
   * Connects; resolves at the first Welcome (record) or once the log is fetched (replay),
   * rejects when the logger refuses us first or does not answer within connectTimeoutMs.
   */
  open(): Promise<void> {
    const { target, epoch, hooks } = this.o;
    const timeout = this.o.connectTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      let fetched: LoggerMessage[] | undefined = this.o.fetch ? [] : undefined;
      let welcomed = false;
      const timer = setTimeout(() => {
        this.stop();
        reject(
          new Error(
            `NSW: no answer from logger ${target.host}:${target.port} within ${timeout} ms`,
          ),
        );
      }, timeout);
      this.link = new LinkClient<LoggerMessage>({
        target,
        codec: loggerLinkCodec,
        log: this.o.log,
        onConnect: (conn) => {
          conn.send({ kind: 'Hello', role: 'nsw', hostId: this.o.hostId, epoch }, epoch);
          // R13.5: right behind Hello, so the logger has it before FetchLog (R14.9 serves the
          // checkpoint only to a peer that declared Capabilities) and before any determinant.
          conn.send(
            { kind: 'Capabilities', checkpoints: this.o.checkpoints, unrecorded: false },
            epoch,
          );
          if (fetched !== undefined) {
            // A link lost in the middle of the log: start the fetch over, not append to it.
            fetched = [];
            conn.send({ kind: 'FetchLog', what: 'nsw' }, epoch);
          }
          hooks.up();
        },
        onMessage: (m) => {
          switch (m.kind) {
            case 'Welcome':
              welcomed = true;
              if (fetched === undefined) {
                clearTimeout(timer);
                resolve();
              }
              return;
            case 'DetStored':
              hooks.detStored(m.stableDet);
              return;
            case 'ReplaySyn':
            case 'ReplayResume':
            case 'ReplayData':
            case 'ReplayDeterminant':
            case 'CheckpointBegin':
            case 'CheckpointConn':
            case 'CheckpointData':
            case 'CheckpointEnd':
              // Copied: a frame's payload may be a view into a buffer the link reuses.
              fetched?.push(m.kind === 'CheckpointData' ? { ...m, data: m.data.slice() } : m);
              return;
            case 'CheckpointStored':
              hooks.checkpointStored(m.ckptId);
              return;
            case 'CheckpointRejected':
              hooks.checkpointRejected(m.ckptId, m.detail);
              return;
            case 'CheckpointWanted':
              hooks.checkpointWanted(m);
              return;
            case 'ConnDone':
              hooks.connDone(m.conn);
              return;
            case 'ReplayEnd':
              if (fetched !== undefined) {
                const all = fetched;
                fetched = undefined;
                clearTimeout(timer);
                hooks.fetched(all, m);
                resolve();
              }
              return;
            case 'Unprotected':
              // R13.9: only the whole application's log concerns the NSW (a connection's is
              // the SSW's, L.7).
              if (m.scope === 'app') hooks.unprotected(`logger: ${m.reason}: ${m.detail}`);
              return;
            case 'Error': {
              const fenced = m.code === 'staleEpoch' || m.code === 'futureEpoch';
              const e = fenced
                ? new NswFencedError(`logger: ${m.code}: ${m.message}`)
                : new Error(`logger refused the NSW: ${m.code}: ${m.message}`);
              if (fenced) hooks.fenced();
              if (welcomed) hooks.failed(e);
              else {
                clearTimeout(timer);
                reject(e);
              }
              return;
            }
            default:
              this.o.log.warn('unexpected message from logger', { kind: m.kind });
          }
        },
        onDisconnect: () => hooks.down(),
      });
      this.link.start();
    });
  }

  send(r: DetRecord): void {
    this.link?.send({ kind: 'LogDeterminant', detSeq: r.detSeq, det: r.det }, this.o.epoch);
  }

  /** R13.4: a checkpoint's frames (or CheckpointRefused), in order behind the determinants. */
  sendMessages(msgs: readonly LoggerMessage[]): void {
    for (const m of msgs) this.link?.send(m, this.o.epoch);
  }

  stop(): void {
    this.link?.stop();
  }
}
