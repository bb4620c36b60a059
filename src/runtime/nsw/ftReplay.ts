// A recovering incarnation at the runtime (spec/nsw.md R11, R13.6): the fetched log (FetchLog
// 'nsw') checked and handed to the core, from determinant 0 or from the checkpoint it starts
// with; the connections closed before the failure fed to the core as ghosts from the logger's
// bytes (R11.3); the application's restore() once its first server listens (R13.6); and the
// moment the replay goes live (R11.6: timeline events, test hooks, the owner told). The
// delivery itself is the binding's (./ftBinding.ts, batched by ./replayBatch.ts).

import { fetchedCheckpoint, type NswCore, type NswEffect } from '../../machines/nsw/index.ts';
import type { Determinant, LoggerMessage } from '../../wire/logmsg.ts';
import type { Log, Timeline } from '../common/log.ts';
import type { NswCheckpointApp, NswOwner } from './binding.ts';
import { liveNow } from './ftCheckpoints.ts';
import { nswHook } from './hooks.ts';
import type { NswSocket } from './socket.ts';

type Restored = Extract<NswEffect, { kind: 'restored' }>;

/** What the replay needs of its binding. */
export interface FtReplayHost {
  readonly core: NswCore;
  readonly app: NswCheckpointApp | undefined;
  readonly log: Log;
  readonly timeline: Timeline | undefined;
  readonly owner: NswOwner;
  perform(effects: readonly NswEffect[]): void;
  scheduleDeliver(): void;
  /** some server of the application listens */
  listening(): boolean;
  /** R11.3: a socket id for a ghost, registered with no kernel socket */
  ghostSock(clientAddr: number, clientPort: number, serverPort: number): number;
  /** R13.6: the application's socket for a restored connection (registered with the binding) */
  restoredSocket(e: Restored): NswSocket;
  /** R13.6: the timers the core re-armed, and the callback restore() gives one */
  timerIds(): number[];
  attachTimer(timerId: number, fn: () => void): void;
}

export class FtReplay {
  private info = { dets: 0, conns: 0, bytes: 0 };
  /** R13.6: the snapshot and connections to hand restore() when the first server listens */
  private pendingRestore: { snapshot: Uint8Array; conns: Restored[] } | undefined;

  constructor(private readonly host: FtReplayHost) {}

  /** R11, R13.6: the whole log is in: start the replay (from its checkpoint, if any). */
  start(records: readonly LoggerMessage[], end: Extract<LoggerMessage, { kind: 'ReplayEnd' }>) {
    const { core, owner } = this.host;
    const ck = fetchedCheckpoint(records);
    if (!ck.ok) {
      owner.fail(new Error(`logger served a bad checkpoint: ${ck.error}`));
      return;
    }
    // R13.6: with a checkpoint the log continues at its D.
    const base = ck.value?.begin.detSeq ?? 0;
    const dets: Determinant[] = [];
    for (const m of records) {
      if (m.kind !== 'ReplayDeterminant') continue;
      if (m.detSeq !== base + dets.length) {
        owner.fail(
          new Error(
            `logger served determinant ${m.detSeq} where ${base + dets.length} was expected`,
          ),
        );
        return;
      }
      dets.push(m.det);
    }
    this.info = { dets: dets.length, conns: end.conns, bytes: end.bytes };
    this.host.timeline?.event('replay-start', {
      dets: dets.length,
      closedConns: end.conns,
      closedBytes: end.bytes,
      ...(ck.value !== undefined ? { checkpoint: ck.value.begin.ckptId, fromDet: base } : {}),
    });
    this.host.log.info('replaying', { dets: dets.length, closedConns: end.conns, fromDet: base });
    if (ck.value === undefined) this.host.perform(core.replay(dets));
    else {
      if (this.host.app === undefined) {
        owner.fail(
          new Error(
            'the log starts with a checkpoint but the application gives no restore() (R13.8)',
          ),
        );
        return;
      }
      this.pendingRestore = { snapshot: new Uint8Array(0), conns: [] };
      const r = core.replayFrom(ck.value, dets, liveNow());
      if (!r.ok) {
        owner.fail(new Error(`cannot restore checkpoint ${ck.value.begin.ckptId}: ${r.error}`));
        return;
      }
      this.pendingRestore.snapshot = r.value.snapshot;
      this.host.perform(r.value.effects);
    }
    this.addGhosts(records);
    if (this.host.listening()) this.restoreApp();
    this.host.scheduleDeliver();
  }

  /** R13.6: a restored connection (the core's `restored` effect), for restore(). */
  restored(e: Restored): void {
    this.pendingRestore?.conns.push(e);
  }

  /**
   * R13.6: the application's restore(), before any delivery (the first server is listening,
   * so the application has built what its snapshot restores into).
   */
  restoreApp(): void {
    const p = this.pendingRestore;
    const app = this.host.app;
    if (p === undefined || app === undefined) return;
    this.pendingRestore = undefined;
    const conns = new Map<number, NswSocket>();
    for (const e of p.conns) {
      // A connection the application had closed is never offered to it again (R13.6).
      if (e.closed !== null) continue;
      conns.set(e.conn, this.host.restoredSocket(e));
    }
    const timers = this.host.timerIds().map((timerId) => ({ timerId }));
    try {
      app.restore(p.snapshot, {
        conns,
        timers,
        attachTimer: (t, fn) => this.host.attachTimer(t.timerId, fn),
      });
    } catch (e) {
      // Nothing can be delivered to an application that is not in its checkpoint's state.
      this.host.owner.fail(new Error(`the application's restore() threw: ${(e as Error).message}`));
      return;
    }
    this.host.log.info('application restored from checkpoint', { conns: conns.size });
  }

  /** R11.6: the log is consumed; the incarnation is live. */
  wentLive(): void {
    const { core, timeline } = this.host;
    this.host.log.info('replay done: live', { ...this.info, detSeq: core.detSeq });
    timeline?.event('replay', {
      dets: this.info.dets,
      closedConns: this.info.conns,
      closedBytes: this.info.bytes,
    });
    // Hook nsw.mid-replay once more, for a log whose one event ended the replay at once (the
    // hook fires once per arming, so an incarnation held mid-replay before does not stop here).
    nswHook('nsw.mid-replay', { detSeq: core.detSeq, last: true });
    timeline?.event('live', { detSeq: core.detSeq });
    // Hook nsw.live: live, and nothing new taken yet.
    nswHook('nsw.live', { detSeq: core.detSeq });
    queueMicrotask(() => this.host.owner.live());
    this.host.scheduleDeliver();
  }

  /**
   * R11.3: connections closed before the failure come from the logger's bytes (ghosts): the
   * SSW will not re-create them, and the application must read them again to rebuild its state.
   */
  private addGhosts(records: readonly LoggerMessage[]): void {
    const { core } = this.host;
    const ghostOf = new Map<number, number>();
    for (const m of records) {
      if (m.kind === 'ReplaySyn') {
        const id = this.host.ghostSock(m.clientAddr, m.clientPort, m.serverPort);
        ghostOf.set(m.conn, id);
        this.host.perform(core.kernelAccept(id, m.clientAddr, m.clientPort, true));
      } else if (m.kind === 'ReplayData') {
        const id = ghostOf.get(m.conn);
        if (id !== undefined && m.payload.length > 0)
          this.host.perform(core.kernelData(id, m.payload));
      }
    }
    for (const id of ghostOf.values()) this.host.perform(core.kernelEof(id));
  }
}
