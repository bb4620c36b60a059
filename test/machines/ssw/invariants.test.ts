// The SSW's invariant assertions (src/machines/ssw/assert.ts): each one fires, with its ID, on
// a state no input can produce, forged here through the engine's context. The suites that feed
// the engine real and hostile input (engine*.test.ts) show they do not fire otherwise.
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { InvariantViolation } from '../../../src/machines/ssw/assert.ts';
import { noteToldAck } from '../../../src/machines/ssw/clamp.ts';
import type { Conn } from '../../../src/machines/ssw/conn.ts';
import { SswEngine } from '../../../src/machines/ssw/engine.ts';
import { sswHostMachine } from '../../../src/machines/ssw/host.machine.ts';
import { clientSeq } from '../../../src/machines/ssw/spaces.ts';
import type { LoggerMessage } from '../../../src/wire/logmsg.ts';
import { seqAdd } from '../../../src/wire/seq.ts';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpOption } from '../../../src/wire/tcp.ts';
import {
  CLIENT,
  CPORT,
  clientFrame,
  kernelPacket,
  loggerMsgs,
  SERVICE,
  SERVICE_MAC,
  SPORT,
} from './packets.ts';

const C_ISN = 1000;
const S_ISN = 5000;
const OPTS: TcpOption[] = [
  { kind: 'mss', mss: 1460 },
  { kind: 'timestamps', tsVal: 100, tsEcr: 0 },
];

/** What a call threw, as an InvariantViolation (fails the test if it threw something else). */
function violation(f: () => unknown): InvariantViolation {
  try {
    f();
  } catch (e) {
    if (e instanceof InvariantViolation) return e;
    throw e;
  }
  throw new Error('no invariant violation');
}

/** A protected connection through the handshake (SynStored), and its record. */
function established(): { e: SswEngine; c: Conn; logSyn: LoggerMessage } {
  const e = new SswEngine({
    serviceAddr: SERVICE,
    serviceMac: SERVICE_MAC,
    mode: 'ftTcp',
    role: 'active',
  });
  e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }, 0);
  e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN, options: OPTS }), 1);
  const fx = e.onTunPacket(
    kernelPacket({ seq: S_ISN, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK, options: OPTS }),
    2,
  );
  const logSyn = loggerMsgs([...fx])[0];
  if (logSyn?.kind !== 'LogSyn') throw new Error('no LogSyn');
  e.onLoggerMessage({ kind: 'SynStored', conn: logSyn.conn }, 3);
  const c = SswEngine.contextOf(e).conns.lookup(CLIENT, CPORT, SPORT);
  if (c === undefined) throw new Error('no connection');
  return { e, c, logSyn };
}

/** The same connection, 'hello' logged, after the application died and the log re-created it
 * (R6): a fake SYN is in the kernel. */
function recreated(): { e: SswEngine; c: Conn } {
  const { e, c, logSyn } = established();
  e.onAppExit(10);
  const hello = new TextEncoder().encode('hello');
  const conn = c.connId ?? 0;
  e.startRecovery(
    [
      { ...logSyn, kind: 'ReplaySyn', clientAck: null } as LoggerMessage,
      { kind: 'ReplayData', conn, seq: C_ISN + 1, payload: hello, fin: false },
    ],
    20,
  );
  expect(c.mode).toBe('awaitSynAck');
  return { e, c };
}

describe('invariant assertions', () => {
  it('carry the invariant ID and the state that broke it', () => {
    const { c } = established();
    c.client.sentAck = clientSeq(C_ISN + 1);
    const v = violation(() => noteToldAck(c, clientSeq(C_ISN + 50), true, true));
    expect(v.id).toBe('I1');
    expect(v.detail).toMatchObject({ ack: C_ISN + 50, stableSeq: C_ISN + 1 });
    expect(v.message).toMatch(/^ssw invariant I1 violated/);
  });

  it('I1: a protected connection tells the client no ack above stableSeq', () => {
    // The rule path (R6.9 answers a re-created connection's SYN retry with the logged SYN-ACK,
    // ack clientIsn + 1) on a record whose stableSeq was forged below that ack.
    const { e, c } = recreated();
    c.client.sentAck = clientSeq(C_ISN);
    c.log.stableSeq = clientSeq(C_ISN);
    const v = violation(() =>
      e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN, options: OPTS }), 30),
    );
    expect(v.id).toBe('I1');
  });

  it('R1.2: the ack the client is told never moves backwards', () => {
    const { c } = established();
    c.client.sentAck = clientSeq(C_ISN + 10);
    expect(violation(() => noteToldAck(c, clientSeq(C_ISN + 5), true, true)).id).toBe('R1.2');
    // A logged SYN-ACK acks the SYN alone (R6.9): not held to R1.2's order.
    expect(() => noteToldAck(c, clientSeq(C_ISN + 1), true, false)).not.toThrow();
  });

  it('I4: a held FIN is released only at the logged close position', () => {
    const { e, c } = established();
    // The kernel FIN with no close logged: held (R5.1).
    e.onTunPacket(kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 1, flags: TCP_ACK | TCP_FIN }), 4);
    expect(c.held.finSeq).toBe(S_ISN + 1);
    // A close logged elsewhere keeps it held; a forged "it is at the close" would release it.
    e.onLoggerMessage(
      { kind: 'CloseLogged', clientAddr: CLIENT, clientPort: CPORT, how: 'end', offset: 7 },
      5,
    );
    expect(c.held.finSeq).toBe(S_ISN + 1);
    const ctx = SswEngine.contextOf(e);
    const v = violation(() =>
      ctx.sendConn(c, { type: 'CLOSE_LOGGED', finAtClose: true, rstAtClose: false }),
    );
    expect(v.id).toBe('I4');
    expect(v.detail).toMatchObject({ finSeq: S_ISN + 1, closeSeq: S_ISN + 8 });
  });

  it('I4: a held RST is released only where the logged close allows it', () => {
    const { e, c } = established();
    e.onTunPacket(kernelPacket({ seq: S_ISN + 1, flags: TCP_RST }), 4);
    expect(c.held.rstSeq).toBe(S_ISN + 1);
    const v = violation(() =>
      SswEngine.contextOf(e).sendConn(c, {
        type: 'CLOSE_LOGGED',
        finAtClose: false,
        rstAtClose: true,
      }),
    );
    expect(v.id).toBe('I4');
  });

  it('R8: the epoch a host knows never goes back', () => {
    // With a guard that lets a stale Welcome through, the assertion in `recordEpoch` stops it.
    const broken = sswHostMachine.provide({ guards: { welcomeIsCurrent: () => true } });
    const host = createActor(broken);
    host.subscribe({ error: () => {} });
    host.start();
    host.send({ type: 'TAKEOVER', loggerRemote: true });
    host.send({ type: 'LOGGER_WELCOME', epoch: 3, leaseUntil: 100 });
    expect(host.getSnapshot().context.epoch).toBe(3);
    host.send({ type: 'LOGGER_WELCOME', epoch: 2, leaseUntil: 200 });
    const snap = host.getSnapshot();
    expect(snap.status).toBe('error');
    expect(snap.error).toBeInstanceOf(InvariantViolation);
    expect((snap.error as InvariantViolation).id).toBe('R8');
  });

  it('R8 through the engine: a stale Welcome is ignored, the known epoch stays', () => {
    const { e } = established();
    e.onLoggerMessage({ kind: 'Welcome', epoch: 5, leaseMs: 60_000 }, 10);
    expect(() =>
      e.onLoggerMessage({ kind: 'Welcome', epoch: 4, leaseMs: 60_000 }, 11),
    ).not.toThrow();
    expect(SswEngine.contextOf(e).hostContext().epoch).toBe(5);
  });

  it('R1.8: stableSeq never passes loggedSeq', () => {
    const { e, c } = established();
    c.log.loggedSeq = clientSeq(C_ISN);
    const v = violation(() =>
      e.onLoggerMessage(
        { kind: 'DataStored', conn: c.connId ?? 0, stableSeq: C_ISN + 1, finLogged: false },
        10,
      ),
    );
    expect(v.id).toBe('R1.8');
  });

  it('R1.6: the log queue count never goes negative', () => {
    const { e, c } = established();
    e.onLanFrame(
      clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK, payload: 'hello' }),
      10,
    );
    expect(c.log.queuedBytes).toBe(5);
    SswEngine.contextOf(e).queuedLogBytes = 2;
    const v = violation(() =>
      e.onLoggerMessage(
        { kind: 'DataStored', conn: c.connId ?? 0, stableSeq: C_ISN + 6, finLogged: false },
        11,
      ),
    );
    expect(v.id).toBe('R1.6');
  });

  it('R6.3: the first incarnation is its own original space (no translation yet)', () => {
    const e = new SswEngine({
      serviceAddr: SERVICE,
      serviceMac: SERVICE_MAC,
      mode: 'ftTcp',
      role: 'active',
    });
    e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }, 0);
    e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN, options: OPTS }), 1);
    const c = SswEngine.contextOf(e).conns.lookup(CLIENT, CPORT, SPORT);
    if (c === undefined) throw new Error('no connection');
    c.t = { deltaSeq: 7, tsDelta: 0 };
    const v = violation(() =>
      e.onTunPacket(
        kernelPacket({ seq: S_ISN, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK, options: OPTS }),
        2,
      ),
    );
    expect(v.id).toBe('R6.3');
  });

  it('R6.5: nothing is injected past the logged stream', () => {
    const { e, c } = recreated();
    // The new kernel answers the fake SYN: 'hello' goes in, the kernel has not acked it yet.
    e.onTunPacket(
      kernelPacket({ seq: 90_000, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK, options: OPTS }),
      30,
    );
    expect(c.mode).toBe('injecting');
    c.inject.seq = seqAdd(c.inject.seq, 10);
    const v = violation(() =>
      e.onTunPacket(kernelPacket({ seq: 90_001, ack: C_ISN + 1, flags: TCP_ACK }), 31),
    );
    expect(v.id).toBe('R6.5');
  });
});
