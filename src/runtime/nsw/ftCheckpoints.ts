// Checkpoints at the runtime (spec/nsw.md R13.1-R13.4; R13.3's schedule, R13.10's kernel
// sockets): when the application gave snapshot() and restore() (R13.8), the binding
// (./ftBinding.ts) asks this at every quiescent point whether one is due, and this takes it:
// the application's snapshot, the core's part (src/machines/nsw/checkpoint.ts), each
// connection's unacknowledged output from the kernel (SIOCOUTQ, ./outq.ts), the pause it cost.
// It also keeps the counts `Nsw.stats.checkpoints` reports and answers the logger's
// CheckpointStored and CheckpointRejected. The frames go out through the binding's effects.

import type net from 'node:net';
import type { CheckpointSchedule, NswCore, NswEffect } from '../../machines/nsw/index.ts';
import type { Log, Timeline } from '../common/log.ts';
import type { NswCheckpointApp, NswCheckpointStats } from './binding.ts';
import { unackedBytes } from './outq.ts';

/** What the checkpoints need of their binding. */
export interface FtCheckpointHost {
  readonly core: NswCore;
  readonly app: NswCheckpointApp;
  readonly log: Log;
  readonly timeline: Timeline | undefined;
  perform(effects: readonly NswEffect[]): void;
  /** reach a quiescent point soon (the delivery loop calls `maybeTake` there) */
  scheduleDeliver(): void;
}

/** Pauses kept for the stats (the oldest go first). */
const MAX_PAUSES_KEPT = 10_000;

/** The live clock the NSW's timers and checkpoint schedule count in (ms since the epoch). */
export const liveNow = (): number => performance.timeOrigin + performance.now();

export class FtCheckpoints {
  private readonly timer: NodeJS.Timeout;
  private readonly counts = { taken: 0, stored: 0, refused: 0, lastBytes: 0 };
  private readonly pausesMs: number[] = [];
  /**
   * R13.1: each connection's kernel socket, for SIOCOUTQ; an entry goes at ConnDone (nothing
   * is owed to the client any more) or when the core forgets the connection (R13.10)
   */
  private readonly connKernel = new Map<number, net.Socket>();

  constructor(
    private readonly host: FtCheckpointHost,
    schedule: CheckpointSchedule,
  ) {
    host.core.enableCheckpoints(schedule, liveNow());
    // R13.3: an idle application still reaches a quiescent point when its time is due.
    this.timer = setInterval(() => host.scheduleDeliver(), Math.min(1000, schedule.everyMs));
    this.timer.unref();
  }

  get stats(): NswCheckpointStats {
    return { ...this.counts, pausesMs: [...this.pausesMs] };
  }

  /** Entries of the kernel socket table (R13.10: `Nsw.stats.tables`). */
  get kernels(): number {
    return this.connKernel.size;
  }

  /** `conn`'s kernel socket (at its accept, or when a restored connection has it again). */
  kernelOf(conn: number, k: net.Socket): void {
    this.connKernel.set(conn, k);
  }

  /** ConnDone, or the core forgot `conn` (R13.10). */
  forget(conn: number): void {
    this.connKernel.delete(conn);
  }

  /** R13.1: the core's tail copies of `conn` grew: tell it what the client may not have. */
  tailOver(conn: number): void {
    const k = this.connKernel.get(conn);
    if (k !== undefined) this.host.core.outputAcked(conn, unackedBytes(k));
  }

  /** R13.4: a CheckpointRefused went out (the core's answer to the logger). */
  refusedOne(): void {
    this.counts.refused++;
  }

  /** R13.4: CheckpointStored for the one in flight. */
  stored(ckptId: number): void {
    if (!this.host.core.checkpointStored(ckptId)) return;
    this.counts.stored++;
    this.host.timeline?.event('checkpoint-stored', { ckptId });
  }

  /** R13.4: CheckpointRejected (a `tooLarge` one says the logger's limit must be raised). */
  rejected(ckptId: number, detail: string): void {
    if (!this.host.core.checkpointRejected(ckptId)) return;
    this.host.log.warn('checkpoint rejected by the logger', { ckptId, detail });
  }

  /** R13.2, R13.3: at a quiescent point, take a checkpoint if one is due. */
  maybeTake(): void {
    const { core, app, log } = this.host;
    const now = liveNow();
    if (!core.checkpointDue(now)) return;
    const t0 = performance.now();
    let snapshot: Uint8Array;
    try {
      snapshot = app.snapshot();
    } catch (e) {
      const detail = `the application's snapshot() threw: ${(e as Error).message}`;
      log.error('checkpoint refused', { error: detail });
      this.host.perform(core.snapshotFailed(detail));
      return;
    }
    const effects = core.takeCheckpoint(
      snapshot,
      (conn) => {
        const k = this.connKernel.get(conn);
        return k === undefined ? Number.POSITIVE_INFINITY : unackedBytes(k);
      },
      now,
    );
    const begin = effects.flatMap((e) =>
      e.kind === 'checkpoint' && e.frames[0]?.kind === 'CheckpointBegin' ? [e.frames[0]] : [],
    )[0];
    this.host.perform(effects);
    // The application's pause: its snapshot, the NSW's part, and handing the frames to the link.
    const pauseMs = performance.now() - t0;
    this.counts.taken++;
    this.pausesMs.push(pauseMs);
    if (this.pausesMs.length > MAX_PAUSES_KEPT) this.pausesMs.shift();
    if (begin !== undefined) {
      this.counts.lastBytes = begin.blobBytes;
      this.host.timeline?.event('checkpoint', {
        ckptId: begin.ckptId,
        detSeq: begin.detSeq,
        conns: begin.conns,
        bytes: begin.blobBytes,
        pauseMs: Math.round(pauseMs * 1000) / 1000,
      });
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
