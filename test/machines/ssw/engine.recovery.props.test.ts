// Randomised local recoveries (R5.4, R6, R7): arbitrary ISNs (wrap included), timestamp clocks,
// window scales, amounts of data before the crash and of output the client had acked. Judged
// from both ends: the new kernel receives exactly the logged client stream (I3), and the client
// sees a continuation of the old connection: TSvals that pass PAWS, sequence numbers that
// continue where the old server stopped, no segment made only of bytes it already holds, acks
// never past what is stored (I1). Seeded; FC_SEED=<n> replays.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type SswEffect, SswEngine } from '../../../src/machines/ssw/index.ts';
import type { LoggerMessage } from '../../../src/wire/logmsg.ts';
import { seqAdd, seqGt, seqLe, seqSub } from '../../../src/wire/seq.ts';
import { TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN, type TcpOption } from '../../../src/wire/tcp.ts';
import {
  clientFrame,
  kernelPacket,
  lanSegs,
  loggerMsgs,
  SERVICE,
  SERVICE_MAC,
  tunSegs,
} from './packets.ts';

const seed = Number(process.env.FC_SEED ?? 777);
const u32 = fc.nat({ max: 0xffff_ffff });

const opts = (tsVal: number, tsEcr: number, ws: number): TcpOption[] => [
  { kind: 'mss', mss: 1460 },
  { kind: 'sackPermitted' },
  { kind: 'timestamps', tsVal, tsEcr },
  { kind: 'nop' },
  { kind: 'wscale', shift: ws },
];
const ts = (tsVal: number, tsEcr: number): TcpOption[] => [
  { kind: 'nop' },
  { kind: 'nop' },
  { kind: 'timestamps', tsVal, tsEcr },
];

describe('SSW engine: randomised local recovery', () => {
  it('the new kernel gets the logged stream; the client sees one continuous connection', () => {
    fc.assert(
      fc.property(
        fc.record({
          cIsn: u32,
          sIsn: u32,
          kIsn: u32,
          cTs: u32,
          sTs: u32,
          kTs: u32,
          ws1: fc.integer({ min: 0, max: 14 }),
          ws2: fc.integer({ min: 0, max: 14 }),
          clientBytes: fc.integer({ min: 0, max: 5000 }),
          serverBytes: fc.integer({ min: 0, max: 3000 }),
          ackedFrac: fc.double({ min: 0, max: 1, noNaN: true }),
          newBytes: fc.integer({ min: 1, max: 2000 }),
          downMs: fc.integer({ min: 0, max: 100_000 }),
        }),
        (p) => {
          const e = new SswEngine({
            serviceAddr: SERVICE,
            serviceMac: SERVICE_MAC,
            mode: 'ftTcp',
            role: 'active',
          });
          const run = (fx: readonly SswEffect[]): SswEffect[] => [...fx];
          let now = 1000;
          let maxTsSeen: number | undefined;
          let stable = seqAdd(p.cIsn, 1);
          const onClient = (fx: SswEffect[]): void => {
            for (const s of lanSegs(fx)) {
              if (s.ts !== undefined) {
                if (maxTsSeen !== undefined)
                  expect(seqSub(s.ts.tsVal, maxTsSeen)).toBeGreaterThanOrEqual(0);
                maxTsSeen = s.ts.tsVal;
              }
              if (s.tcp.ack !== undefined && (s.tcp.flags & TCP_SYN) === 0)
                expect(seqLe(s.tcp.ack, stable)).toBe(true);
            }
          };
          run(e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 1e9 }, now));
          run(
            e.onLanFrame(
              clientFrame({ seq: p.cIsn, flags: TCP_SYN, options: opts(p.cTs, 0, p.ws1) }),
              now,
            ),
          );
          const sa = run(
            e.onTunPacket(
              kernelPacket({
                seq: p.sIsn,
                ack: seqAdd(p.cIsn, 1),
                flags: TCP_SYN | TCP_ACK,
                options: opts(p.sTs, p.cTs, p.ws1),
              }),
              now,
            ),
          );
          const logSyn = loggerMsgs(sa)[0];
          if (logSyn?.kind !== 'LogSyn') throw new Error('no LogSyn');
          const conn = logSyn.conn;
          onClient(run(e.onLoggerMessage({ kind: 'SynStored', conn }, now)));

          // Client bytes, logged and stored; the old kernel acks them.
          const stream = new Uint8Array(p.clientBytes).map((_, i) => (i * 31 + 7) & 0xff);
          for (let off = 0; off < stream.length; off += 1400) {
            const chunk = stream.subarray(off, Math.min(stream.length, off + 1400));
            run(
              e.onLanFrame(
                clientFrame({
                  seq: seqAdd(p.cIsn, 1 + off),
                  ack: seqAdd(p.sIsn, 1),
                  flags: TCP_ACK,
                  payload: chunk,
                  options: ts(p.cTs, p.sTs),
                }),
                now,
              ),
            );
          }
          const cEnd = seqAdd(p.cIsn, 1 + p.clientBytes);
          stable = cEnd;
          onClient(
            run(
              e.onLoggerMessage(
                { kind: 'DataStored', conn, stableSeq: cEnd, finLogged: false },
                ++now,
              ),
            ),
          );
          // Server output before the crash; the client acks part of it.
          const out = new Uint8Array(p.serverBytes).map((_, i) => (i * 17 + 3) & 0xff);
          if (p.serverBytes > 0) {
            onClient(
              run(
                e.onTunPacket(
                  kernelPacket({
                    seq: seqAdd(p.sIsn, 1),
                    ack: cEnd,
                    flags: TCP_ACK | TCP_PSH,
                    payload: out,
                    window: 100,
                    options: ts(seqAdd(p.sTs, 5), p.cTs),
                  }),
                  ++now,
                ),
              ),
            );
          }
          const acked = Math.floor(p.serverBytes * p.ackedFrac);
          const clientAck = seqAdd(p.sIsn, 1 + acked);
          run(
            e.onLanFrame(
              clientFrame({
                seq: cEnd,
                ack: clientAck,
                flags: TCP_ACK,
                options: ts(seqAdd(p.cTs, 1), seqAdd(p.sTs, 5)),
              }),
              ++now,
            ),
          );

          // Crash, restart, re-create.
          run(e.onAppExit(++now));
          now += p.downMs;
          const records: LoggerMessage[] = [
            { ...logSyn, kind: 'ReplaySyn', clientAck },
            ...(p.clientBytes > 0
              ? [
                  {
                    kind: 'ReplayData' as const,
                    conn,
                    seq: seqAdd(p.cIsn, 1),
                    payload: stream,
                    fin: false,
                  },
                ]
              : []),
          ];
          const fakeSyn = tunSegs(run(e.startRecovery(records, now)));
          expect(fakeSyn[0]?.tcp.seq).toBe(p.cIsn);
          const cap = run(
            e.onTunPacket(
              kernelPacket({
                seq: p.kIsn,
                ack: seqAdd(p.cIsn, 1),
                flags: TCP_SYN | TCP_ACK,
                window: 65535,
                options: opts(p.kTs, p.cTs, p.ws2),
              }),
              ++now,
            ),
          );
          onClient(cap);
          // The new kernel takes in-order bytes; it acks with a window large enough for all.
          const got: number[] = [];
          let rcvNxt = seqAdd(p.cIsn, 1);
          const take = (fx: SswEffect[]): void => {
            for (const s of tunSegs(fx)) {
              if (s.tcp.flags & TCP_RST) continue;
              if (s.tcp.payload.length > 0 && s.tcp.seq === rcvNxt) {
                got.push(...s.tcp.payload);
                rcvNxt = seqAdd(rcvNxt, s.tcp.payload.length);
              }
            }
          };
          take(cap);
          for (let i = 0; i < 20 && seqGt(cEnd, rcvNxt); i++) {
            const fx = run(
              e.onTunPacket(
                kernelPacket({
                  seq: seqAdd(p.kIsn, 1),
                  ack: rcvNxt,
                  flags: TCP_ACK,
                  window: 65535 >> p.ws2,
                  options: ts(seqAdd(p.kTs, 1), p.cTs),
                }),
                ++now,
              ),
            );
            onClient(fx);
            take(fx);
          }
          // I3: exactly the logged stream, in order.
          expect(Buffer.from(got).equals(Buffer.from(stream))).toBe(true);
          onClient(
            run(
              e.onTunPacket(
                kernelPacket({
                  seq: seqAdd(p.kIsn, 1),
                  ack: rcvNxt,
                  flags: TCP_ACK,
                  window: 65535 >> p.ws2,
                  options: ts(seqAdd(p.kTs, 2), p.cTs),
                }),
                ++now,
              ),
            ),
          );
          expect(e.hostState().app).toBe('appRunning');

          // The replayed app regenerates the old output, then new bytes.
          if (p.serverBytes > 0) {
            const regen = run(
              e.onTunPacket(
                kernelPacket({
                  seq: seqAdd(p.kIsn, 1),
                  ack: cEnd,
                  flags: TCP_ACK | TCP_PSH,
                  payload: out,
                  window: 100,
                  options: ts(seqAdd(p.kTs, 3), p.cTs),
                }),
                ++now,
              ),
            );
            onClient(regen);
            const sent = lanSegs(regen);
            if (acked === p.serverBytes) {
              // R6.6: all of it is held by the client: acked locally, nothing re-sent.
              expect(sent.filter((s) => s.tcp.payload.length > 0)).toHaveLength(0);
              const local = tunSegs(regen).filter(
                (s) => (s.tcp.flags & TCP_ACK) !== 0 && s.tcp.payload.length === 0,
              );
              expect(local.map((s) => s.tcp.ack)).toContain(seqAdd(p.kIsn, 1 + p.serverBytes));
            } else {
              // Sent whole, translated into the sequence numbers the client knows.
              expect(sent[0]?.tcp.seq).toBe(seqAdd(p.sIsn, 1));
            }
          }
          const fresh = new Uint8Array(p.newBytes).fill(0x42);
          const nx = run(
            e.onTunPacket(
              kernelPacket({
                seq: seqAdd(p.kIsn, 1 + p.serverBytes),
                ack: cEnd,
                flags: TCP_ACK | TCP_PSH,
                payload: fresh,
                window: 100,
                options: ts(seqAdd(p.kTs, 4), p.cTs),
              }),
              ++now,
            ),
          );
          onClient(nx);
          const seg = lanSegs(nx).find((s) => s.tcp.payload.length > 0);
          // Continuity (R7.1): the new bytes follow the old output exactly.
          expect(seg?.tcp.seq).toBe(seqAdd(p.sIsn, 1 + p.serverBytes));
          // R7.3: the kernel offers 100 << ws2 bytes; the client reads the field with ws1.
          const offered = Math.min(100 * 2 ** p.ws2, 65535 * 2 ** p.ws1);
          expect((seg?.tcp.window ?? 0) * 2 ** p.ws1).toBeGreaterThanOrEqual(offered - 2 ** p.ws1);
          // R7.4: the client's echo of the new TSval maps back onto the kernel's clock.
          const tsVal = seg?.ts?.tsVal ?? 0;
          const back = tunSegs(
            run(
              e.onLanFrame(
                clientFrame({
                  seq: cEnd,
                  ack: seqAdd(p.sIsn, 1 + p.serverBytes + p.newBytes),
                  flags: TCP_ACK,
                  options: ts(seqAdd(p.cTs, 2), tsVal),
                }),
                ++now,
              ),
            ),
          );
          expect(back[0]?.ts?.tsEcr).toBe(seqAdd(p.kTs, 4));
          expect(back[0]?.tcp.ack).toBe(seqAdd(p.kIsn, 1 + p.serverBytes + p.newBytes));
        },
      ),
      { seed, numRuns: 60 },
    );
  });
});
