// The scale client's connect phase (src/runtime/lab/manyclient.ts; spec/ssw.md W.6): named after
// the "60 s handshake hang" read from `bench:lab --scale 1000` runs under a load average of 16.
// The SSW's timeline of those runs showed client SYNs arriving every ~110 ms for the whole 78 s
// (no gap over 2.1 s, every SYN-ACK released, no connect failed its 60 s guard): the connect
// phase was slow, not stuck, but the client's one limit (connect timeout + run time + 10 s)
// ended it with "713 of 1000 open", which read as one handshake hung for 60 s. Now the phase
// has its own bound, the result names what was in flight and for how long, handshakes never
// completed do not scramble the quantiles, and a handshake unanswered past the stall budget is
// reported as a client-side stall.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  connectPhaseError,
  inFlightOf,
  type ManyResult,
  quantiles,
  runMany,
} from '../../src/runtime/lab/manyclient.ts';
import { handshakesOf, type TcpPacketRow } from '../../src/runtime/lab/pcap.ts';

describe('syn-hang (W.8): the scale client tells a slow connect phase from a hung handshake', () => {
  it('quantiles leave out handshakes that never completed (NaN)', () => {
    // Sorting with NaN inside scrambles the order: p50 of these came out wrong before.
    expect(quantiles([5, Number.NaN, 1, 3, Number.NaN, 2, 4])).toEqual({ p50: 3, p99: 5, max: 5 });
    const none = quantiles([Number.NaN]);
    expect(Number.isNaN(none.p50) && Number.isNaN(none.max)).toBe(true);
  });

  it('in-flight handshakes are listed oldest first, bounded, and counted', () => {
    const c = (i: number, begin: number, handshakeMs = Number.NaN, failed?: string) => ({
      i,
      begin,
      handshakeMs,
      failed,
    });
    const conns = [
      c(0, 0, 12),
      c(1, 10, Number.NaN, 'socket error'),
      c(2, 900),
      c(3, 400),
      c(4, 999),
    ];
    expect(inFlightOf(conns, 1000, 2)).toEqual({
      list: [
        { conn: 3, ageMs: 600 },
        { conn: 2, ageMs: 100 },
      ],
      count: 3,
    });
  });

  it('the connect phase error says what was open and what was in flight', () => {
    expect(
      connectPhaseError(78_000, 1000, 713, 0, { list: [{ conn: 713, ageMs: 310 }], count: 1 }),
    ).toBe(
      'connect phase not over after 78000 ms (713 of 1000 open, 0 failed; in flight: conn 713 for 310 ms)',
    );
    expect(connectPhaseError(5, 3, 3, 0, { list: [], count: 0 })).toContain('none in flight');
    expect(connectPhaseError(5, 9, 1, 0, { list: [{ conn: 1, ageMs: 5 }], count: 4 })).toContain(
      'conn 1 for 5 ms and 3 more',
    );
  });

  it('a client-side capture times each handshake and names those no SYN-ACK reached', () => {
    const C = '198.18.0.10';
    const S = '198.18.0.100';
    const row = (time: number, fromClient: boolean, port: number, flags: number): TcpPacketRow => ({
      time,
      src: fromClient ? C : S,
      dst: fromClient ? S : C,
      srcPort: fromClient ? port : 7,
      dstPort: fromClient ? 7 : port,
      flags,
      seq: 0,
      len: 0,
    });
    const rows = [
      row(0.0, true, 40000, 0x02), // SYN
      row(0.01, false, 40000, 0x12), // SYN-ACK
      row(0.02, true, 40002, 0x02),
      row(1.02, true, 40002, 0x02), // retransmitted: no SYN-ACK came in 1 s
      row(1.5, false, 40002, 0x12),
      row(1.6, true, 40004, 0x02), // never answered
      row(1.7, true, 40000, 0x11), // FIN-ACK of the first: not a handshake packet
      row(2.0, true, 40000, 0x02), // the port reused by a new connection after an answer
      row(2.1, false, 40000, 0x12),
    ];
    const hs = handshakesOf(rows, C);
    expect(hs).toEqual([
      { port: 40000, firstSyn: 2.0, syns: 1, firstSynAck: 2.1, synAcks: 1, rsts: 0 },
      { port: 40002, firstSyn: 0.02, syns: 2, firstSynAck: 1.5, synAcks: 1, rsts: 0 },
      { port: 40004, firstSyn: 1.6, syns: 1, firstSynAck: undefined, synAcks: 0, rsts: 0 },
    ]);
  });

  describe('over sockets', () => {
    const servers: net.Server[] = [];
    afterEach(async () => {
      await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
    });

    const echoServer = async (): Promise<number> => {
      const s = net.createServer((sock) => {
        sock.on('error', () => undefined);
        sock.pipe(sock);
      });
      servers.push(s);
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      const a = s.address();
      if (a === null || typeof a === 'string') throw new Error('no address');
      return a.port;
    };

    const opts = (port: number) => ({
      connect: { host: '127.0.0.1', port },
      conns: 3,
      bytes: 10,
      intervalMs: 20,
      seconds: 1,
      connectConcurrency: 1,
      connectTimeoutMs: 60_000,
      maxConnectMs: 300,
      stallMs: 40,
    });

    it('a handshake that is never answered: a W.6 stall, then the phase bound names it', async () => {
      const port = await echoServer();
      const events: Record<string, unknown>[] = [];
      let made = 0;
      // The first connection opens for real; the second one's SYN is answered by nothing (a
      // socket that never connects), which is the hang the benchmark was thought to show.
      const r: ManyResult = await runMany(
        opts(port),
        (e) => events.push(e),
        (hp) => {
          made++;
          return made === 2 ? new net.Socket() : net.connect({ host: hp.host, port: hp.port });
        },
      );
      expect(r.ok).toBe(false);
      expect(r.opened).toBe(1);
      expect(r.failed).toBe(0);
      expect(r.inFlightCount).toBe(1);
      expect(r.inFlight[0]?.conn).toBe(1);
      expect(r.inFlight[0]?.ageMs).toBeGreaterThanOrEqual(250);
      expect(r.error).toMatch(
        /^connect phase not over after 300 ms \(1 of 3 open, 0 failed; in flight: conn 1 for \d+ ms\)$/,
      );
      expect(Number.isFinite(r.handshakeMs.max)).toBe(true);
      const stalls = events.filter((e) => e.event === 'stall');
      expect(stalls).toHaveLength(1);
      expect(stalls[0]).toMatchObject({ rule: 'W.6', waitingFor: 'connect', client: 1 });
      expect(events.some((e) => e.event === 'connected-all')).toBe(false);
    });

    it('a connect phase that ends in time: no stall, no in-flight, every handshake counted', async () => {
      const port = await echoServer();
      const events: Record<string, unknown>[] = [];
      const r = await runMany({ ...opts(port), maxConnectMs: 30_000, stallMs: 20_000 }, (e) =>
        events.push(e),
      );
      expect(r.error).toBeUndefined();
      expect(r.ok).toBe(true);
      expect(r.opened).toBe(3);
      expect(r.inFlight).toEqual([]);
      expect(r.inFlightCount).toBe(0);
      expect(Number.isFinite(r.connectMs)).toBe(true);
      expect(events.filter((e) => e.event === 'stall')).toEqual([]);
      expect(events.some((e) => e.event === 'connected-all')).toBe(true);
    });
  });
});
