// Rules of spec/ssw.md checked one by one where no broader test names them: the decision
// tables of classify.ts (R2.4, R5.5, R6.7), the connection statechart (R5.5) and the engine
// (R2.6, L.4).
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import {
  classifyClientSegment,
  classifyKernelSegment,
  type SegmentKind,
} from '../../../src/machines/ssw/classify.ts';
import { sswConnectionMachine } from '../../../src/machines/ssw/connection.machine.ts';
import { type SswConfig, type SswEffect, SswEngine } from '../../../src/machines/ssw/index.ts';
import { TCP_ACK, TCP_SYN, type TcpOption } from '../../../src/wire/tcp.ts';
import {
  CLIENT,
  CPORT,
  clientFrame,
  kernelPacket,
  loggerMsgs,
  SERVICE,
  SERVICE_MAC,
  SPORT,
  tunSegs,
} from './packets.ts';

const OPTS: TcpOption[] = [{ kind: 'mss', mss: 1460 }];
const config: SswConfig = {
  serviceAddr: SERVICE,
  serviceMac: SERVICE_MAC,
  mode: 'ftTcp',
  role: 'active',
};
const copy = (fx: readonly SswEffect[]): SswEffect[] => [...fx];

/** A client SYN on `port` and the kernel's SYN-ACK: the LogSyn the SSW sends, if any. */
function open(e: SswEngine, port: number, now: number) {
  e.onLanFrame(clientFrame({ seq: 100, flags: TCP_SYN, options: OPTS }, port), now);
  const fx = copy(
    e.onTunPacket(
      kernelPacket({ seq: 900, ack: 101, flags: TCP_SYN | TCP_ACK, options: OPTS }, port),
      now + 1,
    ),
  );
  return loggerMsgs(fx).find((m) => m.kind === 'LogSyn');
}

describe('spec/ssw.md rules', () => {
  it('R2.4 a client SYN retransmission goes to the kernel before and after SynStored; nothing else before it', () => {
    for (const m of ['listenSynSeen', 'awaitingSynStored', 'protected'] as const)
      expect(classifyClientSegment(m, 'syn')).toBe('forwardSyn');
    for (const m of ['listenSynSeen', 'awaitingSynStored'] as const)
      for (const k of ['synAck', 'fin', 'data', 'pureAck'] as const)
        expect(classifyClientSegment(m, k)).toBe('drop');
  });

  it('R2.6 a SYN for a new 4-tuple is dropped before the first Welcome and while the application is dead', () => {
    const e = new SswEngine(config);
    expect(
      tunSegs(copy(e.onLanFrame(clientFrame({ seq: 1, flags: TCP_SYN, options: OPTS }), 0))),
    ).toHaveLength(0);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }, 1);
    e.onAppExit(2);
    expect(
      tunSegs(copy(e.onLanFrame(clientFrame({ seq: 1, flags: TCP_SYN, options: OPTS }), 3))),
    ).toHaveLength(0);
    expect(e.stats.dropNotReady).toBe(2);
    expect(e.connection(CLIENT, CPORT, SPORT)).toBeUndefined();
  });

  it('R5.5 an unprotected connection gets no suppression: the kernel FIN/RST pass, the death closes it', () => {
    for (const k of ['fin', 'rst'] as const satisfies readonly SegmentKind[])
      for (const atClose of [false, true])
        expect(classifyKernelSegment('unprotected', k, atClose)).toBe('forwardUnclamped');
    const conn = createActor(sswConnectionMachine, {
      input: { connKey: 'c', protected: false },
    }).start();
    conn.send({ type: 'KERNEL_SYN_ACK' });
    expect(conn.getSnapshot().value).toEqual({ established: 'unprotected' });
    conn.send({ type: 'APP_EXIT' });
    expect(conn.getSnapshot().value).toBe('closing');
    conn.stop();
  });

  it('R6.7 during injection a kernel segment without payload is absorbed; a FIN off the logged close is held', () => {
    for (const k of ['pureAck', 'synAck', 'syn'] as const)
      for (const atClose of [false, true])
        expect(classifyKernelSegment('injecting', k, atClose)).toBe('absorb');
    expect(classifyKernelSegment('injecting', 'fin', false)).toBe('holdFin');
    expect(classifyKernelSegment('injecting', 'fin', true)).toBe('regenerated');
  });

  it('L.4 after a new Welcome (and, L.10, an application that logs again), new connections are protected; one opened while unprotected stays so', () => {
    const e = new SswEngine(config);
    e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 1000 }, 0);
    // The lease and the grace run out: unprotected.
    e.onTick(1_000_000);
    expect(e.hostState().logger).toBe('unprotected');
    expect(open(e, CPORT, 1_000_001)).toBeUndefined();
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('unprotected');
    e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 60_000 }, 1_000_010);
    // L.10: the running application gave up logging with the host (spec/nsw.md R13.9a); its
    // next incarnation (a local recovery from this logger) logs again: protected from then on.
    expect(e.hostState().logger).toBe('unprotected');
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('unprotected');
    e.onAppExit(1_000_010);
    e.onLoggerMessage({ kind: 'ReplayEnd', conns: 0, bytes: 0, dets: 0 }, 1_000_010);
    expect(e.hostState().logger).toBe('protected');
    expect(open(e, CPORT + 1, 1_000_011)).toMatchObject({ kind: 'LogSyn', clientPort: CPORT + 1 });
    expect(e.connection(CLIENT, CPORT + 1, SPORT)?.mode).toBe('awaitingSynStored');
    // The one opened while unprotected never became protected: the crash that started the
    // logging incarnation reset it (L.2: nothing to replay it from).
    expect(e.connection(CLIENT, CPORT, SPORT)?.mode).not.toBe('protected');
  });
});
