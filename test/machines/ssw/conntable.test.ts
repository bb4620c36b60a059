// The SSW's connection table (src/machines/ssw/conn.ts): the set the engine's tick walks
// between two ClientAcked rounds (`timed()`) is exactly the connections in a timed mode, in
// table order, as a filter over every connection gave it, whatever the order of adds, mode
// changes and removals; and it holds only those, so that the tick's work does not grow with
// the connections that merely wait for packets.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONN_MODES, type ConnMode } from '../../../src/machines/ssw/classify.ts';
import { type Conn, ConnTable, newConn, TIMED_MODES } from '../../../src/machines/ssw/conn.ts';
import { clientSeq } from '../../../src/machines/ssw/spaces.ts';

const SEED = Number(process.env.FC_SEED ?? 0x7ab);
const RUNS = Number(process.env.FC_RUNS ?? 200);

const conn = (port: number): Conn =>
  newConn({
    clientAddr: 0xc612000a,
    clientPort: port,
    serverPort: 7,
    clientIsn: clientSeq(1000),
    clientOpts: { mss: 1460, wscale: 7, sackOk: true, tsVal: null, tsEcr: null },
    isProtected: true,
    wallMs: 0,
  });

type Op =
  | { op: 'add'; port: number }
  | { op: 'mode'; i: number; mode: ConnMode }
  | { op: 'remove'; i: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('add' as const), port: fc.integer({ min: 30000, max: 30030 }) }),
  fc.record({
    op: fc.constant('mode' as const),
    i: fc.nat(40),
    mode: fc.constantFrom(...CONN_MODES),
  }),
  fc.record({ op: fc.constant('remove' as const), i: fc.nat(40) }),
);

describe('SSW connection table', () => {
  it('timed() is every connection in a timed mode, in table order; recreating counts R6 ones', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const t = new ConnTable(1);
        for (const o of ops) {
          const all = t.all();
          if (o.op === 'add') {
            if (t.lookup(0xc612000a, o.port, 7) === undefined) t.add(conn(o.port));
          } else if (all.length > 0) {
            const c = all[o.i % all.length] as Conn;
            if (o.op === 'mode') {
              c.mode = o.mode;
              t.noteMode(c);
            } else t.remove(c);
          }
          expect(t.timed()).toEqual(t.all().filter((c) => TIMED_MODES.has(c.mode)));
          for (const port of [30000, 30007, 30030])
            expect(t.ofClientPort(0xc612000a, port)).toEqual(
              [...(t.ofClient(0xc612000a) ?? [])].filter((c) => c.clientPort === port),
            );
          expect(t.recreating).toBe(
            t.all().filter((c) => c.mode === 'awaitSynAck' || c.mode === 'injecting').length,
          );
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('holds no connection that only waits for packets', () => {
    const t = new ConnTable(1);
    for (let p = 0; p < 1000; p++) {
      const c = conn(20000 + p);
      t.add(c);
      c.mode = 'protected';
      t.noteMode(c);
    }
    expect(t.timed()).toEqual([]);
    const closing = t.lookup(0xc612000a, 20500, 7) as Conn;
    closing.mode = 'closing';
    t.noteMode(closing);
    expect(t.timed()).toEqual([closing]);
    t.remove(closing);
    expect(t.timed()).toEqual([]);
  });
});
