// The bug "a new SYN gets the kernel's RST between the application's death and the SSW
// noticing" (spec/ssw.md R2.8), pinned at the engine. The application's listening socket
// closes the moment the process dies; a client SYN that the SSW passed before it was told
// (the supervisor's exit, app-crashed) was refused by the kernel with an RST, which the SSW
// forwarded: the client's connect failed although local recovery was about to restore the
// service. Now such a refusal on a served port of a protected host is withheld, and the
// client's SYN retry meets R2.6 and then the restarted listener. A port nobody served, an
// unprotected host, an RST that does not answer the SYN and an application that is alive and
// does not listen (past the grace) still get the kernel's RST through.
import { describe, expect, it } from 'vitest';
import { refusalAction } from '../../../src/machines/ssw/handshake.ts';
import { type SswConfig, SswEngine } from '../../../src/machines/ssw/index.ts';
import { TCP_ACK, TCP_RST, TCP_SYN, type TcpOption } from '../../../src/wire/tcp.ts';
import {
  CLIENT,
  CPORT,
  clientFrame,
  kernelPacket,
  lanSegs,
  logEvents,
  SERVICE,
  SERVICE_MAC,
  SPORT,
  tunSegs,
} from './packets.ts';

const SYN_OPTS: TcpOption[] = [
  { kind: 'mss', mss: 1460 },
  { kind: 'sackPermitted' },
  { kind: 'nop' },
  { kind: 'wscale', shift: 7 },
];
const NEW_PORT = CPORT + 1; // the client port of the connection attempted across the death
const NEW_ISN = 70_000;
const UNSERVED = SPORT + 1;

/** A protected engine whose application served SPORT once (a SYN-ACK seen there). */
function servedOnce(over: Partial<SswConfig> = {}): SswEngine {
  const e = new SswEngine({
    serviceAddr: SERVICE,
    serviceMac: SERVICE_MAC,
    mode: 'ftTcp',
    role: 'active',
    ...over,
  });
  e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 1000 }, 0);
  e.onLanFrame(clientFrame({ seq: 1000, flags: TCP_SYN, options: SYN_OPTS }), 1);
  e.onTunPacket(
    kernelPacket({ seq: 5000, ack: 1001, flags: TCP_SYN | TCP_ACK, options: SYN_OPTS }),
    2,
  );
  return e;
}

/** The client's SYN on NEW_PORT to `port`: true if the SSW passed it to the kernel. */
const syn = (e: SswEngine, now: number, port = SPORT): boolean =>
  tunSegs([
    ...e.onLanFrame(
      clientFrame({ seq: NEW_ISN, flags: TCP_SYN, options: SYN_OPTS }, NEW_PORT, port),
      now,
    ),
  ]).length === 1;

/** The kernel's refusal of that SYN (Linux `tcp_v4_send_reset`: RST+ACK, seq 0, ack ISN+1). */
const refusal = (e: SswEngine, now: number, port = SPORT, ack = NEW_ISN + 1) => {
  const fx = [
    ...e.onTunPacket(
      kernelPacket({ seq: 0, ack, flags: TCP_RST | TCP_ACK, window: 0 }, NEW_PORT, port),
      now,
    ),
  ];
  return { toClient: lanSegs(fx), withheld: logEvents(fx).some((x) => x.rule === 'R2.8') };
};

describe("a new SYN gets the kernel's RST between the application's death and the SSW noticing (R2.8)", () => {
  it('the refusal is withheld; the SYN retry meets R2.6, then the restarted listener', () => {
    const e = servedOnce();
    // The application died; the SSW has not been told yet: the SYN goes to the kernel.
    expect(syn(e, 10)).toBe(true);
    const r = refusal(e, 11);
    expect(r.toClient).toHaveLength(0);
    expect(r.withheld).toBe(true);
    expect(e.stats.withheldRefusals).toBe(1);
    // The record is gone (nothing pending for the stall watchdog): the retry is a new SYN.
    expect(e.connection(CLIENT, NEW_PORT, SPORT)).toBeUndefined();
    e.onAppExit(20);
    expect(syn(e, 1010)).toBe(false); // R2.6: no listener yet
    e.startRecovery([], 1100); // nothing to re-create: the application runs again
    expect(e.hostState().app).toBe('appRunning');
    expect(syn(e, 3010)).toBe(true);
    const sa = [
      ...e.onTunPacket(
        kernelPacket(
          { seq: 9000, ack: NEW_ISN + 1, flags: TCP_SYN | TCP_ACK, options: SYN_OPTS },
          NEW_PORT,
        ),
        3011,
      ),
    ];
    // Protected as any new connection: its record logged, the SYN-ACK held (R2.1).
    expect(logEvents(sa).some((x) => x.rule === 'R2.1')).toBe(true);
  });

  it('a refusal of a SYN passed just before the death was reported (its record dropped then) is withheld too', () => {
    const e = servedOnce();
    expect(syn(e, 10)).toBe(true);
    e.onAppExit(11); // the record, in listenSynSeen, is dropped (aborted)
    expect(e.connection(CLIENT, NEW_PORT, SPORT)).toBeUndefined();
    const r = refusal(e, 12);
    expect(r.toClient).toHaveLength(0);
    expect(r.withheld).toBe(true);
  });

  it('a port nobody served still gets its RST', () => {
    const e = servedOnce();
    expect(syn(e, 10, UNSERVED)).toBe(true);
    const r = refusal(e, 11, UNSERVED);
    expect(r.toClient.map((s) => s.tcp.flags & TCP_RST)).toEqual([TCP_RST]);
    expect(r.withheld).toBe(false);
  });

  it('an application alive past the grace really does not listen: its refusal goes through', () => {
    const e = servedOnce({ refusalGraceMs: 800 });
    expect(syn(e, 10)).toBe(true);
    expect(refusal(e, 11).toClient).toHaveLength(0);
    // The client's SYN retry 1 s later: still no death reported, so the refusal is believed.
    expect(syn(e, 1011)).toBe(true);
    const r = refusal(e, 1012);
    expect(r.toClient.map((s) => s.tcp.flags & TCP_RST)).toEqual([TCP_RST]);
    expect(r.withheld).toBe(false);
  });

  it('an unprotected host forwards the refusal (no recovery will follow)', () => {
    const e = servedOnce();
    e.onTick(500);
    e.onTick(2000); // lease (1 s) and L.2 grace gone
    expect(e.hostState().logger).toBe('unprotected');
    expect(syn(e, 2010)).toBe(true);
    expect(refusal(e, 2011).toClient.map((s) => s.tcp.flags & TCP_RST)).toEqual([TCP_RST]);
  });

  it('an RST that does not answer the SYN goes through', () => {
    const e = servedOnce();
    expect(syn(e, 10)).toBe(true);
    expect(refusal(e, 11, SPORT, NEW_ISN + 5).toClient).toHaveLength(1);
  });

  it('the decision table: withheld only for a refusal of a SYN on a served port of a protected host, unless the app is alive', () => {
    const apps = ['dead', 'unreported', 'alive'] as const;
    for (const p of [false, true])
      for (const s of [false, true])
        for (const a of [false, true])
          for (const app of apps)
            expect(refusalAction(p, s, a, app)).toBe(
              p && s && a && app !== 'alive' ? 'withhold' : 'forward',
            );
  });
});
