// R5.8: the SSW as the recorder of an unrecorded application's closes (spec/ssw.md). An
// application that runs without the NSW (iperf3, a plain echo) logs no determinants, so no
// CloseLogged would ever come for it and R5.1/R5.3 would hold its FINs and RSTs forever. The
// SSW records for it the two determinants it can see, in the NSW's own form (spec/nsw.md R3,
// spec/messages.md): `accept` (which record the close belongs to) and `close` (how, and the
// position of the kernel's FIN or RST), on a logger link of role `nsw` (the *recorder link*),
// and the logger answers as for any stored close: `CloseLogged` on the SSW link, which R5.2
// releases. So the close is in the log before the client sees it, with the existing logger.
//
// This module is the recorder link's sequencing, pure (no I/O, no clock): determinant
// numbers (`detSeq`) continue the log's, learnt from a `FetchLog 'nsw'` the first time the link
// is welcomed; what is sent and not yet covered by `DetStored` is sent again after every later
// Welcome (spec/messages.md "Resending after a reconnect"). Bounded: at most `maxPending`
// determinants waiting (queued before the log's length is known, or unacknowledged).

import type { Determinant, LoggerMessage, MessageOf } from '../../wire/logmsg.ts';

/**
 * `failed`: the logger refused a determinant as not continuing its log (`conflict`, `gap`,
 * `unknownConn`, `wrongRole`, `badMessage`): another writer (an NSW after all) or a bug. The
 * recorder then records nothing more (the closes are held as R5.1/R5.3 say) rather than
 * resending the same refused message after every reconnect.
 */
export type RecorderState = 'unknownBase' | 'fetching' | 'ready' | 'failed';

const FATAL_ERRORS: ReadonlySet<string> = new Set([
  'conflict',
  'gap',
  'unknownConn',
  'wrongRole',
  'badMessage',
]);

export class CloseRecorder {
  private state: RecorderState = 'unknownBase';
  /** The next detSeq to assign (valid when ready). */
  private nextDetSeq = 0;
  private stableDet = 0;
  /** Sent (or to be sent once ready), in detSeq order, not yet covered by DetStored. */
  private unacked: MessageOf<'LogDeterminant'>[] = [];
  /** Recorded before the log's length was known: numbered and sent at ReplayEnd. */
  private queued: Determinant[] = [];
  /** Whether the recorder link is welcomed now (a send then reaches the logger). */
  private linkUp = false;

  constructor(private readonly maxPending: number) {}

  get status(): RecorderState {
    return this.state;
  }

  /** Determinants waiting: queued or unacknowledged. */
  get pending(): number {
    return this.queued.length + this.unacked.length;
  }

  /**
   * Records `dets` in order (all or none). Returns the messages to send now, or 'refused' if
   * the bound would be passed or the recorder failed (nothing recorded).
   */
  record(dets: readonly Determinant[]): LoggerMessage[] | 'refused' {
    if (this.state === 'failed' || this.pending + dets.length > this.maxPending) return 'refused';
    if (this.state !== 'ready') {
      this.queued.push(...dets);
      return [];
    }
    const out = dets.map((det) => this.number(det));
    return this.linkUp ? out : [];
  }

  /**
   * A message that arrived on the recorder link. Returns what to send on it in answer.
   * Welcome: learn the log's length first (FetchLog 'nsw'), or resend what is unacknowledged.
   * ReplayEnd of that fetch: number and send what was queued. DetStored: forget what it covers.
   * The replay's records and determinants are not this SSW's business.
   */
  onMessage(msg: LoggerMessage): LoggerMessage[] {
    switch (msg.kind) {
      case 'Welcome':
        this.linkUp = true;
        if (this.state === 'failed') return [];
        if (this.state !== 'ready') {
          // A fetch cut off with its link is asked again on the new one.
          this.state = 'fetching';
          return [{ kind: 'FetchLog', what: 'nsw' }];
        }
        return [...this.unacked];
      case 'ReplayEnd': {
        if (this.state !== 'fetching') return [];
        this.state = 'ready';
        this.nextDetSeq = msg.dets;
        this.stableDet = msg.dets;
        const queued = this.queued;
        this.queued = [];
        return queued.map((det) => this.number(det));
      }
      case 'DetStored': {
        if (msg.stableDet <= this.stableDet) return [];
        this.stableDet = msg.stableDet;
        let i = 0;
        while (i < this.unacked.length && (this.unacked[i]?.detSeq ?? 0) < msg.stableDet) i++;
        this.unacked.splice(0, i);
        return [];
      }
      case 'Error':
        if (FATAL_ERRORS.has(msg.code)) {
          this.state = 'failed';
          this.unacked = [];
          this.queued = [];
        }
        return [];
      default:
        return [];
    }
  }

  /** The recorder link went down: sends wait for the next Welcome. */
  linkDown(): void {
    this.linkUp = false;
  }

  private number(det: Determinant): MessageOf<'LogDeterminant'> {
    const m: MessageOf<'LogDeterminant'> = { kind: 'LogDeterminant', detSeq: this.nextDetSeq, det };
    this.nextDetSeq++;
    this.unacked.push(m);
    return m;
  }
}
