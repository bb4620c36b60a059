// Randomised schedules against the engine, judged from what the client receives (Jepsen's
// habit: the checker does not trust the system's own state). Seeded; FC_SEED=<n> replays.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type SswEffect, SswEngine } from '../../../src/machines/ssw/index.ts';
import type { LoggerMessage } from '../../../src/wire/logmsg.ts';
import { seqAdd, seqGe, seqLe, seqSub } from '../../../src/wire/seq.ts';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, type TcpOption } from '../../../src/wire/tcp.ts';
import {
  CLIENT,
  CPORT,
  clientFrame,
  kernelPacket,
  lanSegs,
  loggerMsgs,
  SERVICE,
  SERVICE_MAC,
  SPORT,
  tunSegs,
} from './packets.ts';

const seed = Number(process.env.FC_SEED ?? 424242);

type Op =
  | { op: 'clientSend'; n: number }
  | { op: 'clientRetransmit'; back: number }
  | { op: 'kernelAck'; window: number }
  | { op: 'kernelSend'; n: number }
  | { op: 'store'; k: number }
  | { op: 'tick'; dt: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('clientSend' as const), n: fc.integer({ min: 1, max: 1400 }) }),
  fc.record({
    op: fc.constant('clientRetransmit' as const),
    back: fc.integer({ min: 1, max: 3000 }),
  }),
  fc.record({ op: fc.constant('kernelAck' as const), window: fc.integer({ min: 0, max: 65535 }) }),
  fc.record({ op: fc.constant('kernelSend' as const), n: fc.integer({ min: 0, max: 1400 }) }),
  fc.record({ op: fc.constant('store' as const), k: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ op: fc.constant('tick' as const), dt: fc.integer({ min: 1, max: 50 }) }),
);

const WS = 7;
const synOpts: TcpOption[] = [
  { kind: 'mss', mss: 1460 },
  { kind: 'nop' },
  { kind: 'wscale', shift: WS },
];

describe('SSW engine under random schedules', () => {
  it('I1 and R1.3 as the client sees them: no ack past stableSeq, the right edge at the kernel edge (never past it, short of it by under a unit); logging is contiguous and precedes delivery', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffff_ffff }),
        fc.nat({ max: 0xffff_ffff }),
        fc.array(opArb, { minLength: 1, maxLength: 60 }),
        (cIsn, sIsn, ops) => {
          const e = new SswEngine({
            serviceAddr: SERVICE,
            serviceMac: SERVICE_MAC,
            mode: 'ftTcp',
            role: 'active',
          });
          let now = 0;
          const run = (fx: readonly SswEffect[]): SswEffect[] => [...fx];
          run(e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 1e9 }, now));
          run(e.onLanFrame(clientFrame({ seq: cIsn, flags: TCP_SYN, options: synOpts }), now));
          const sa = run(
            e.onTunPacket(
              kernelPacket({
                seq: sIsn,
                ack: seqAdd(cIsn, 1),
                flags: TCP_SYN | TCP_ACK,
                options: synOpts,
              }),
              now,
            ),
          );
          const conn = (loggerMsgs(sa)[0] as { conn: number }).conn;

          // The checker's own model of the world.
          let clientNext = seqAdd(cIsn, 1); // next client byte to send
          let kernelRcv = seqAdd(cIsn, 1); // kernel's rcv.nxt (it takes in-order bytes only)
          let kernelNext = seqAdd(sIsn, 1);
          let stableTold = seqAdd(cIsn, 1); // highest stableSeq given to the engine
          let loggedEnd = seqAdd(cIsn, 1); // end of the contiguous LogData stream
          const pending: { end: number }[] = [];
          // The right edge of the kernel's latest segment (its SYN-ACK's window is unscaled).
          let kernelEdge = seqAdd(seqAdd(cIsn, 1), 65535);
          let lastAck = seqAdd(cIsn, 1);

          const check = (fx: SswEffect[]): void => {
            for (const m of loggerMsgs(fx)) {
              if (m.kind !== 'LogData') continue;
              // messages.md contiguity: never above the stored-or-sent end.
              expect(seqLe(m.seq, loggedEnd)).toBe(true);
              const end = seqAdd(m.seq, m.payload.length + (m.fin ? 1 : 0));
              if (seqGe(end, loggedEnd)) loggedEnd = end;
              pending.push({ end });
            }
            for (const s of tunSegs(fx)) {
              if (s.tcp.payload.length === 0) continue;
              // R1.1: what reaches the kernel is logged (in the same step at the latest).
              expect(seqLe(seqAdd(s.tcp.seq, s.tcp.payload.length), loggedEnd)).toBe(true);
              if (s.tcp.seq === kernelRcv) kernelRcv = seqAdd(kernelRcv, s.tcp.payload.length);
            }
            for (const s of lanSegs(fx)) {
              if (s.tcp.ack === undefined || (s.tcp.flags & TCP_SYN) !== 0) continue;
              // I1.
              expect(seqLe(s.tcp.ack, stableTold)).toBe(true);
              // Acks never go backwards.
              expect(seqGe(s.tcp.ack, lastAck)).toBe(true);
              lastAck = s.tcp.ack;
              // R1.3: the right edge the client computes is the kernel's, rounded down.
              const right = seqAdd(s.tcp.ack, s.tcp.window * 2 ** WS);
              expect(seqSub(kernelEdge, right)).toBeGreaterThanOrEqual(0);
              expect(seqSub(kernelEdge, right)).toBeLessThan(2 ** WS);
            }
          };
          check(run(e.onLoggerMessage({ kind: 'SynStored', conn }, now)));

          for (const o of ops) {
            now += 1;
            switch (o.op) {
              case 'clientSend': {
                const payload = new Uint8Array(o.n).fill(o.n & 0xff);
                check(
                  run(
                    e.onLanFrame(
                      clientFrame({
                        seq: clientNext,
                        ack: kernelNext,
                        flags: TCP_ACK | TCP_PSH,
                        payload,
                      }),
                      now,
                    ),
                  ),
                );
                clientNext = seqAdd(clientNext, o.n);
                break;
              }
              case 'clientRetransmit': {
                const sent = seqSub(clientNext, seqAdd(cIsn, 1));
                const back = Math.min(o.back, sent);
                if (back === 0) break;
                const seq = seqAdd(clientNext, -back);
                const payload = new Uint8Array(Math.min(back, 1400));
                // Retransmitted bytes must equal the originals for the logger; content is
                // irrelevant to the engine's checks, so any bytes do here.
                check(
                  run(
                    e.onLanFrame(
                      clientFrame({ seq, ack: kernelNext, flags: TCP_ACK, payload }),
                      now,
                    ),
                  ),
                );
                break;
              }
              case 'kernelAck':
                kernelEdge = seqAdd(kernelRcv, (o.window >> WS) * 2 ** WS);
                check(
                  run(
                    e.onTunPacket(
                      kernelPacket({
                        seq: kernelNext,
                        ack: kernelRcv,
                        flags: TCP_ACK,
                        window: o.window >> WS,
                      }),
                      now,
                    ),
                  ),
                );
                break;
              case 'kernelSend': {
                const payload = new Uint8Array(o.n);
                kernelEdge = seqAdd(kernelRcv, 512 * 2 ** WS);
                check(
                  run(
                    e.onTunPacket(
                      kernelPacket({
                        seq: kernelNext,
                        ack: kernelRcv,
                        flags: TCP_ACK | TCP_PSH,
                        payload,
                        window: 512,
                      }),
                      now,
                    ),
                  ),
                );
                kernelNext = seqAdd(kernelNext, o.n);
                break;
              }
              case 'store': {
                const k = Math.min(o.k, pending.length);
                if (k === 0) break;
                const stored = pending.splice(0, k);
                const last = stored[stored.length - 1];
                if (last === undefined) break;
                if (seqGe(last.end, stableTold)) stableTold = last.end;
                const msg: LoggerMessage = {
                  kind: 'DataStored',
                  conn,
                  stableSeq: stableTold,
                  finLogged: false,
                };
                check(run(e.onLoggerMessage(msg, now)));
                break;
              }
              case 'tick':
                now += o.dt;
                check(run(e.onTick(now)));
                break;
            }
          }
          // Liveness of R1.4: once everything is stored and the kernel acked it, the client
          // has been told (by a kernel segment or the SSW's own pure ACK).
          kernelEdge = seqAdd(kernelRcv, 512 * 2 ** WS);
          check(
            run(
              e.onTunPacket(
                kernelPacket({ seq: kernelNext, ack: kernelRcv, flags: TCP_ACK, window: 512 }),
                now,
              ),
            ),
          );
          if (pending.length > 0) {
            const end = pending[pending.length - 1]?.end ?? stableTold;
            if (seqGe(end, stableTold)) stableTold = end;
            pending.length = 0;
            check(
              run(
                e.onLoggerMessage(
                  { kind: 'DataStored', conn, stableSeq: stableTold, finLogged: false },
                  now,
                ),
              ),
            );
          }
          const view = e.connection(CLIENT, CPORT, SPORT);
          const expected = seqLe(kernelRcv, stableTold) ? kernelRcv : stableTold;
          expect(view?.sentAck).toBe(expected);
          expect(lastAck).toBe(expected);
        },
      ),
      { seed, numRuns: 150 },
    );
  });
});

describe('SSW engine: R5.2 close position under random schedules', () => {
  it('I2/I4 as the client sees them: a FIN only at serverIsn + 1 + offset of the logged end, whatever the kernel emitted before its FIN and whenever CloseLogged and the death come', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffff_ffff }),
        fc.nat({ max: 4000 }), // offset: bytes the application wrote before closing
        fc.nat({ max: 4000 }), // bytes the kernel emitted before its FIN (capped at offset)
        fc.constantFrom('closeFirst', 'finFirst', 'finFirstThenExit', 'closeThenExitThenFin'),
        fc.boolean(), // the logger repeats CloseLogged (after a reconnect)
        (sIsn, offset, cut, order, repeat) => {
          const emitted = Math.min(cut, offset);
          const e = new SswEngine({
            serviceAddr: SERVICE,
            serviceMac: SERVICE_MAC,
            mode: 'ftTcp',
            role: 'active',
          });
          const cIsn = 77;
          let now = 0;
          const client: SswEffect[] = [];
          const run = (fx: readonly SswEffect[]): void => {
            client.push(...fx);
          };
          run(e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 1e9 }, now));
          run(e.onLanFrame(clientFrame({ seq: cIsn, flags: TCP_SYN, options: synOpts }), now));
          const sa = [
            ...e.onTunPacket(
              kernelPacket({
                seq: sIsn,
                ack: cIsn + 1,
                flags: TCP_SYN | TCP_ACK,
                options: synOpts,
              }),
              now,
            ),
          ];
          const conn = (loggerMsgs(sa)[0] as { conn: number }).conn;
          run(e.onLoggerMessage({ kind: 'SynStored', conn }, now));
          // What the kernel had of the output when it sent its FIN, in MSS-sized segments.
          for (let off = 0; off < emitted; off += 1400) {
            const n = Math.min(1400, emitted - off);
            run(
              e.onTunPacket(
                kernelPacket({
                  seq: seqAdd(sIsn, 1 + off),
                  ack: cIsn + 1,
                  flags: TCP_ACK | TCP_PSH,
                  payload: new Uint8Array(n),
                }),
                ++now,
              ),
            );
          }
          const close = (): void =>
            run(
              e.onLoggerMessage(
                { kind: 'CloseLogged', clientAddr: CLIENT, clientPort: CPORT, how: 'end', offset },
                ++now,
              ),
            );
          const fin = (): void =>
            run(
              e.onTunPacket(
                kernelPacket({
                  seq: seqAdd(sIsn, 1 + emitted),
                  ack: cIsn + 1,
                  flags: TCP_ACK | TCP_FIN,
                }),
                ++now,
              ),
            );
          const exit = (): void => run(e.onAppExit(++now));
          const steps = {
            closeFirst: [close, fin],
            finFirst: [fin, close],
            finFirstThenExit: [fin, exit, close],
            closeThenExitThenFin: [close, exit, fin],
          }[order];
          for (const f of steps) f();
          if (repeat) close();
          run(e.onTick(++now));

          const fins = lanSegs(client).filter((x) => (x.tcp.flags & TCP_FIN) !== 0);
          for (const f of fins) {
            // A FIN's own sequence number follows its payload.
            expect(seqAdd(f.tcp.seq, f.tcp.payload.length)).toBe(seqAdd(sIsn, 1 + offset));
          }
          // The FIN of the application's close gets through exactly when the kernel had all of
          // the output, unless the application died first (then re-creation must produce it).
          const legit = emitted === offset && order !== 'closeThenExitThenFin';
          const diedBeforeClose = order === 'finFirstThenExit';
          expect(fins.length > 0).toBe(legit && !diedBeforeClose);
        },
      ),
      { seed, numRuns: 300 },
    );
  });
});

describe('SSW engine: hostile input', () => {
  it('arbitrary and mutated frames, packets and logger messages never throw', () => {
    const base = [
      clientFrame({ seq: 1, flags: TCP_SYN, options: synOpts }),
      clientFrame({ seq: 2, ack: 2, flags: TCP_ACK | TCP_PSH, payload: 'abcdef' }),
    ];
    const kernel = [
      kernelPacket({ seq: 1, ack: 2, flags: TCP_SYN | TCP_ACK, options: synOpts }),
      kernelPacket({ seq: 2, ack: 8, flags: TCP_ACK | TCP_PSH, payload: 'xyz' }),
      kernelPacket({ seq: 5, ack: 8, flags: TCP_ACK | 0x01 }),
    ];
    const mutated = (pool: Uint8Array[]) =>
      fc
        .record({
          i: fc.nat({ max: pool.length - 1 }),
          edits: fc.array(fc.record({ at: fc.nat({ max: 200 }), v: fc.nat({ max: 255 }) }), {
            maxLength: 6,
          }),
          cut: fc.nat({ max: 200 }),
        })
        .map(({ i, edits, cut }) => {
          const b = (pool[i] as Uint8Array).slice();
          for (const e of edits) if (e.at < b.length) b[e.at] = e.v;
          return cut > 0 && cut < b.length ? b.subarray(0, cut) : b;
        });
    const step = fc.oneof(
      fc.record({
        to: fc.constant('lan' as const),
        bytes: fc.oneof(mutated(base), fc.uint8Array({ maxLength: 120 })),
      }),
      fc.record({
        to: fc.constant('tun' as const),
        bytes: fc.oneof(mutated(kernel), fc.uint8Array({ maxLength: 120 })),
      }),
      fc.record({
        to: fc.constant('logger' as const),
        msg: fc.oneof(
          fc.record({ kind: fc.constant('SynStored' as const), conn: fc.nat({ max: 3 }) }),
          fc.record({
            kind: fc.constant('DataStored' as const),
            conn: fc.nat({ max: 3 }),
            stableSeq: fc.nat({ max: 0xffff_ffff }),
            finLogged: fc.boolean(),
          }),
          fc.record({
            kind: fc.constant('CloseLogged' as const),
            clientAddr: fc.constant(CLIENT),
            clientPort: fc.constant(CPORT),
            how: fc.constantFrom('end' as const, 'destroy' as const),
            offset: fc.oneof(fc.nat({ max: 100 }), fc.nat({ max: Number.MAX_SAFE_INTEGER })),
          }),
        ),
      }),
      fc.constant({ to: 'exit' as const }),
      fc.constant({ to: 'tick' as const }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const e = new SswEngine({
          serviceAddr: SERVICE,
          serviceMac: SERVICE_MAC,
          mode: 'ftTcp',
          role: 'active',
        });
        e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 1e9 }, 0);
        let now = 1;
        for (const s of steps) {
          now += 7;
          if (s.to === 'lan') e.onLanFrame(s.bytes, now);
          else if (s.to === 'tun') e.onTunPacket(s.bytes, now);
          else if (s.to === 'logger') e.onLoggerMessage(s.msg as LoggerMessage, now);
          else if (s.to === 'exit') e.onAppExit(now);
          else e.onTick(now);
        }
      }),
      { seed, numRuns: 300 },
    );
  });
});
