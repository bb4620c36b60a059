// The statecharts' effects (spec/ssw.md: R2, R5, R6, L.2 for a connection; A.2, L.2, L.4, L.6,
// R5.4, R6.1 for the host). connection.machine.ts and host.machine.ts name their actions after
// the rules and do no I/O; here each named action is given its rule's function. Nothing else.

import { abortKernelSocket, releaseHeldFin, releaseHeldRst, reportConnClosed } from './closes.ts';
import type { Conn } from './conn.ts';
import { sswConnectionMachine } from './connection.machine.ts';
import type { SswCtx } from './context.ts';
import { releaseHeldSynAck, sendLogSyn } from './handshake.ts';
import { sswHostMachine } from './host.machine.ts';
import { degradeConnections, liftClamps, resetClient } from './lease.ts';
import { announceTakeover } from './neighbors.ts';
import {
  captureSynAckAndTranslate,
  dropKernelReply,
  promptClient,
  type RecoveryState,
  recreateAll,
  sendFakeAck,
  sendFakeSyn,
} from './recreate.ts';

/** The connection statechart with the engine's effects. */
export function provideConnectionMachine(ctx: SswCtx) {
  const conn = (key: string): Conn => {
    const c = ctx.conns.byKey(key);
    if (c === undefined) throw new Error(`ssw: effect for unknown connection ${key}`);
    return c;
  };
  type A = { context: { connKey: string } };
  return sswConnectionMachine.provide({
    actions: {
      logSyn: ({ context }: A) => sendLogSyn(ctx, conn(context.connKey)),
      holdSynAckUntilSynStored: ({ context }: A) =>
        ctx.event('R2.1', 'hold SYN-ACK until SynStored', conn(context.connKey)),
      releaseHeldSynAck: ({ context }: A) => releaseHeldSynAck(ctx, conn(context.connKey)),
      dropHeldSynAck: ({ context }: A) => {
        conn(context.connKey).held.synAck = undefined;
      },
      releaseHeldFin: ({ context }: A) => releaseHeldFin(ctx, conn(context.connKey)),
      releaseHeldRst: ({ context }: A) => releaseHeldRst(ctx, conn(context.connKey)),
      suppressCrashFin: ({ context }: A) =>
        ctx.event('R5.4', 'suppress FIN/RST of a dead incarnation', conn(context.connKey)),
      abortKernelSocket: ({ context }: A) => abortKernelSocket(ctx, conn(context.connKey)),
      liftClamps: ({ context }: A) => liftClamps(ctx, conn(context.connKey)),
      sendFakeSyn: ({ context }: A) => sendFakeSyn(ctx, conn(context.connKey)),
      dropKernelReply: ({ context }: A) => dropKernelReply(ctx, conn(context.connKey)),
      captureSynAckAndTranslate: ({ context }: A) =>
        captureSynAckAndTranslate(ctx, conn(context.connKey)),
      sendFakeAck: ({ context }: A) => sendFakeAck(ctx, conn(context.connKey)),
      injectLoggedStream: () => {
        // R6.5 runs once the machine is in `injecting` (recreate.ts `afterKernelSegment`).
      },
      promptClient: ({ context }: A) => promptClient(ctx, conn(context.connKey)),
      resetClient: ({ context }: A) => resetClient(ctx, conn(context.connKey)),
      reportConnClosed: ({ context }: A) => reportConnClosed(ctx, conn(context.connKey)),
    },
  });
}

/** The host statechart with the engine's effects. */
export function provideHostMachine(ctx: SswCtx, rs: RecoveryState) {
  return sswHostMachine.provide({
    actions: {
      sendGratuitousArp: () => announceTakeover(ctx),
      dropAllTraffic: () => {
        for (const c of ctx.conns.all()) ctx.forget(c);
        rs.standbyKeep = undefined;
      },
      degradeConnections: () => degradeConnections(ctx),
      orphanConnections: () => {
        for (const c of ctx.conns.all()) ctx.sendConn(c, { type: 'APP_EXIT' });
      },
      recreateConnections: () => recreateAll(ctx, rs.pendingRecords),
      announceProtected: () => ctx.event('L.4', 'logger welcomed us: new connections protected'),
      announceStillUnprotected: () =>
        ctx.event(
          'L.10',
          'logger welcomed us, but the application logs nothing more (its log has a gap): still unprotected until a checkpoint re-seeds it',
        ),
      announceColocated: () =>
        ctx.event('L.6', 'takeover: the logger is on this host: protected, no lease'),
    },
  });
}
