// NswCore (spec/nsw.md): examples for R3, R4, R11, R12, then the two properties:
// - output is never released before every determinant it depends on is stored;
// - replay delivers exactly the logged chunk sequence, whatever order and chunking the
//   kernel hands the bytes in, and the application then writes the same bytes.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NswCore } from '../../../src/machines/nsw/core.ts';
import type { Determinant } from '../../../src/wire/logmsg.ts';
import { Harness, releasedText } from './harness.ts';

const SEED = Number(process.env.FC_SEED ?? 0x75a);
const RUNS = Number(process.env.FC_RUNS ?? 100);
const A = 0xc6120002;
const enc = (s: string) => new TextEncoder().encode(s);
const dets = (h: Harness): Determinant[] => h.logged.map((r) => r.det);

/** Record a small session: two clients, '!' reads the clock, a timer, eof closes. */
function recordSession(): Harness {
  const h = new Harness({ mode: 'recording' });
  h.perform(h.core.kernelAccept(10, A, 5000));
  h.pump();
  h.perform(h.core.kernelData(10, enc('ab')));
  h.perform(h.core.kernelAccept(11, A, 5001));
  h.perform(h.core.kernelData(11, enc('x!')));
  h.pump();
  h.perform(h.core.timerExpired(0));
  h.perform(h.core.kernelData(10, enc('c')));
  h.perform(h.core.kernelEof(10));
  h.pump();
  return h;
}

describe('NswCore recording (R3, R4)', () => {
  it('R3.1, R3.2, R3.4 logs each app-visible result in the order the application saw it', () => {
    const h = recordSession();
    expect(h.logged.map((r) => r.detSeq)).toEqual(h.logged.map((_, i) => i));
    const kinds = dets(h)
      .filter((d) => d.kind !== 'outputHash')
      .map((d) =>
        d.kind === 'read'
          ? `read${d.conn}:${d.len}`
          : d.kind === 'accept'
            ? `accept${d.conn}:${d.clientPort}`
            : d.kind,
      );
    expect(kinds).toEqual([
      'accept0:5000',
      'read0:2',
      'accept1:5001',
      'read1:2',
      'clock',
      'timer',
      'read0:1',
      'eof',
      'close',
    ]);
    expect(h.deliveries.map((d) => `${d.kind}${d.conn}`)).toEqual([
      'accept0',
      'data0',
      'accept1',
      'data1',
      'fire-1',
      'data0',
      'eof0',
    ]);
  });

  it('R4.1, R4.3 holds output until DetStored covers what it depends on; FIN after its close determinant', () => {
    const h = recordSession();
    expect(h.released).toEqual([]);
    // Everything up to and including conn 1's read is stored: conn 0's greeting and data
    // echo, conn 1's greeting and echo may go; nothing that follows the clock read.
    const clockAt = dets(h).findIndex((d) => d.kind === 'clock');
    h.perform(h.core.detStored(clockAt));
    expect(releasedText(h)).toEqual(
      new Map([
        [0, 'hi0;AB'],
        [1, 'hi1;X!'],
      ]),
    );
    const closeAt = dets(h).findIndex((d) => d.kind === 'close');
    h.perform(h.core.detStored(closeAt));
    expect(releasedText(h).get(0)).toBe('hi0;ABtick;C');
    h.perform(h.core.detStored(closeAt + 1));
    expect(releasedText(h).get(0)).toBe('hi0;ABtick;C|FIN');
    expect(releasedText(h).get(1)).toBe('hi1;X!@1000;');
    expect(h.core.heldBytes).toBe(0);
  });

  it('the close determinant records its position: every byte written on that connection (R5.2)', () => {
    const h = recordSession();
    const close = dets(h).find((d) => d.kind === 'close');
    // conn 0 wrote 'hi0;' 'AB' 'tick;' 'C' before closing: its FIN is at serverIsn + 1 + 12.
    expect(close).toEqual({ kind: 'close', conn: 0, how: 'end', offset: 12 });
    const lastHash = dets(h)
      .filter((d) => d.kind === 'outputHash' && d.conn === 0)
      .at(-1);
    expect(lastHash).toMatchObject({ offset: 12 });
  });

  it('R4.4 outputHash determinants do not gate later output', () => {
    const h = new Harness({ mode: 'recording' });
    h.perform(h.core.kernelAccept(1, A, 1));
    h.pump();
    // accept(0) and the greeting's outputHash(1) are logged; storing the accept suffices.
    expect(dets(h).map((d) => d.kind)).toEqual(['accept', 'outputHash']);
    h.perform(h.core.detStored(1));
    expect(releasedText(h).get(0)).toBe('hi0;');
    h.perform(h.core.write(0, enc('more')));
    expect(releasedText(h).get(0)).toBe('hi0;more');
  });

  it('R4.1, R4.6 ignores acks beyond what it appended; pauses input while too much output is held', () => {
    const h = new Harness({ mode: 'recording', limits: { maxHeldBytes: 4 } });
    h.perform(h.core.kernelAccept(1, A, 1));
    h.pump();
    const fx = h.core.write(0, enc('12345'));
    expect(fx.map((e) => e.kind)).toEqual(['pauseInput', 'log']);
    expect(h.core.detStored(99)).toEqual([]);
    expect(h.core.detStored(2).map((e) => e.kind)).toEqual(['release', 'release', 'resumeInput']);
  });
});

describe('NswCore timers, limits, misuse', () => {
  it('timers: ids in arming order, a cancelled timer never fires, a repeating one fires each time', () => {
    const core = new NswCore({ mode: 'recording' });
    const a = core.armTimer();
    const b = core.armTimer(true);
    expect([a, b]).toEqual([0, 1]);
    core.cancelTimer(a);
    core.timerExpired(a);
    core.timerExpired(b);
    core.timerExpired(b);
    const fired = [core.next(), core.next(), core.next()].map((fx) =>
      fx.map((e) => e.kind).join('+'),
    );
    expect(fired).toEqual(['log+fire', 'log+fire', '']);
  });

  it('pauses a kernel socket that buffers too much, resumes it when delivered', () => {
    const core = new NswCore({
      mode: 'replaying',
      log: [
        { kind: 'accept', conn: 0, clientAddr: A, clientPort: 1 },
        { kind: 'read', conn: 0, len: 6 },
        { kind: 'clock', value: 0 },
      ],
      limits: { maxBufferedPerSock: 4 },
    });
    core.kernelAccept(1, A, 1);
    expect(core.kernelData(1, enc('abc'))).toEqual([]);
    expect(core.kernelData(1, enc('def'))).toEqual([{ kind: 'pauseSock', sock: 1 }]);
    core.next();
    expect(core.next().map((e) => e.kind)).toEqual(['resumeSock', 'data']);
  });

  it('unknown connections and sockets are usage errors, not silent', () => {
    const core = new NswCore({ mode: 'recording' });
    expect(() => core.write(3, enc('x'))).toThrow(/unknown conn 3/);
    expect(() => core.kernelData(9, enc('x'))).toThrow(/unknown socket 9/);
    core.kernelAccept(1, A, 1);
    expect(() => core.kernelAccept(1, A, 1)).toThrow(/accepted twice/);
  });
});

describe('NswCore replay (R11, R12)', () => {
  it('R11.1, R11.2, R11.6 replays the session from re-chunked, reordered kernel input and goes live', () => {
    const rec = recordSession();
    const h = new Harness({ mode: 'replaying', log: dets(rec) }, 5000);
    // The re-created connections come back in the other order, bytes in other chunks.
    h.perform(h.core.kernelAccept(21, A, 5001));
    h.perform(h.core.kernelData(21, enc('x')));
    h.pump();
    expect(h.deliveries).toEqual([]); // conn 0 (port 5000) is accepted first in the log
    h.perform(h.core.kernelAccept(20, A, 5000));
    h.pump();
    h.perform(h.core.kernelData(20, enc('a')));
    h.pump();
    expect(h.deliveries.map((d) => `${d.kind}${d.conn}`)).toEqual(['accept0']); // the log reads 2 bytes
    h.perform(h.core.kernelData(20, enc('bc')));
    h.perform(h.core.kernelData(21, enc('!')));
    h.pump();
    // The timer fires where the log says (its real expiry never came here).
    h.perform(h.core.kernelEof(20));
    h.pump();
    expect(h.deliveries).toEqual(rec.deliveries);
    expect(h.written).toEqual(rec.written); // same clock value from the log: '@1000;'
    expect(h.core.mode).toBe('live');
    expect(h.modes).toEqual(['live']);
    expect(h.stops).toEqual([]);
    // Live: new input is recorded from detSeq = log length.
    h.perform(h.core.kernelData(21, enc('z')));
    h.pump();
    expect(h.logged[0]).toMatchObject({
      detSeq: rec.logged.length,
      det: { kind: 'read', conn: 1, len: 1 },
    });
  });

  it('R11.3, R11.5 connections closed before the failure are replayed from the logger (ghosts), output dropped', () => {
    const rec = recordSession();
    const h = new Harness({ mode: 'replaying', log: dets(rec) });
    h.perform(h.core.kernelAccept(30, A, 5000, true));
    h.perform(h.core.kernelData(30, enc('abc')));
    h.perform(h.core.kernelEof(30));
    h.perform(h.core.kernelAccept(31, A, 5001));
    h.perform(h.core.kernelData(31, enc('x!')));
    h.pump();
    expect(h.deliveries).toEqual(rec.deliveries);
    expect(releasedText(h).get(0)).toBeUndefined(); // a ghost has no kernel socket
    expect(releasedText(h).get(1)).toBe('hi1;X!@1000;');
  });

  it('different output on a connection stops that connection, not the others (R12)', () => {
    const rec = new Harness({ mode: 'recording' });
    rec.perform(rec.core.kernelAccept(1, A, 1));
    rec.perform(rec.core.kernelAccept(2, A, 2));
    rec.pump();
    rec.perform(rec.core.kernelData(1, enc('a')));
    rec.perform(rec.core.kernelData(2, enc('b')));
    rec.pump();
    // Tamper with the log: conn 0's echo hash as if the first run had written other bytes.
    const log = dets(rec).map((d, i) =>
      d.kind === 'outputHash' && d.conn === 0 && i > 3 ? { ...d, hash: d.hash ^ 1n } : d,
    );
    const h = new Harness({ mode: 'replaying', log });
    h.perform(h.core.kernelAccept(1, A, 1));
    h.perform(h.core.kernelAccept(2, A, 2));
    h.perform(h.core.kernelData(1, enc('a')));
    h.perform(h.core.kernelData(2, enc('b')));
    h.pump();
    expect(h.stops).toHaveLength(1);
    expect(h.stops[0]!.conn).toBe(0);
    expect(h.stops[0]!.error.message).toMatch(
      /replay diverged at determinant \d+ on conn 0: the application wrote outputHash\(conn 0, offset 5/,
    );
    expect(releasedText(h)).toEqual(
      new Map([
        [0, 'hi0;'],
        [1, 'hi1;B'],
      ]),
    );
    expect(h.core.mode).toBe('live');
  });

  it('a logged close at another output position stops that connection (R12.1, R5.2)', () => {
    const rec = recordSession();
    const log = dets(rec).map((d) => (d.kind === 'close' ? { ...d, offset: d.offset - 1 } : d));
    const h = new Harness({ mode: 'replaying', log }, 5000);
    h.perform(h.core.kernelAccept(20, A, 5000));
    h.perform(h.core.kernelAccept(21, A, 5001));
    h.perform(h.core.kernelData(20, enc('abc')));
    h.perform(h.core.kernelData(21, enc('x!')));
    h.perform(h.core.kernelEof(20));
    h.pump();
    expect(h.stops).toHaveLength(1);
    expect(h.stops[0]!.conn).toBe(0);
    expect(h.stops[0]!.error.message).toMatch(/closed conn 0 after 12 bytes.*offset=11/);
    // Nothing more leaves on the stopped connection: no FIN at the wrong position.
    expect(releasedText(h).get(0)).toBe('hi0;ABtick;C');
    expect(h.core.mode).toBe('live');
  });

  it('R11.4, R12.2, R12.3 a call the log does not have stops the application; a stream shorter than the log stops its connection', () => {
    const log: Determinant[] = [
      { kind: 'accept', conn: 0, clientAddr: A, clientPort: 1 },
      { kind: 'random', bytes: new Uint8Array([1, 2]) },
    ];
    const core = new NswCore({ mode: 'replaying', log });
    core.kernelAccept(1, A, 1);
    core.next();
    expect(core.waiting).toMatchObject({ kind: 'awaitApp', det: { kind: 'random' } });
    expect(core.now(5)).toBe(5);
    const fx = core.drain();
    expect(fx[0]).toMatchObject({ kind: 'stop', conn: null });
    expect((fx[0] as { error: { message: string } }).error.message).toBe(
      'replay diverged at determinant 1: the application read the clock; the log has random(2 bytes); the application is stopped',
    );
    expect(core.mode).toBe('diverged');

    const short = new NswCore({
      mode: 'replaying',
      log: [
        { kind: 'accept', conn: 0, clientAddr: A, clientPort: 1 },
        { kind: 'read', conn: 0, len: 3 },
        { kind: 'clock', value: 1 },
      ],
    });
    short.kernelAccept(1, A, 1);
    short.next();
    short.kernelData(1, enc('ab'));
    short.kernelEof(1);
    const s = short.next();
    expect(s[0]).toMatchObject({ kind: 'stop', conn: 0 });
    expect(short.appStalled()[0]).toMatchObject({ kind: 'stop', conn: null });
  });

  it('R11.4 random values come from the log; a different size is divergence', () => {
    const core = new NswCore({
      mode: 'replaying',
      log: [
        { kind: 'random', bytes: new Uint8Array([9, 9]) },
        { kind: 'random', bytes: new Uint8Array([7]) },
      ],
    });
    expect([...core.random(new Uint8Array([0, 0]))]).toEqual([9, 9]);
    expect([...core.random(new Uint8Array([0, 0]))]).toEqual([0, 0]);
    expect(core.mode).toBe('diverged');
  });
});

// --- properties ------------------------------------------------------------------------------

interface World {
  /** per connection: client port and the chunks the client sends */
  readonly conns: {
    readonly port: number;
    readonly chunks: readonly string[];
    readonly eof: boolean;
  }[];
  /** how many times the real timers expire (each time, every armed one) */
  readonly ticks: number;
}

const worldArb: fc.Arbitrary<World> = fc
  .array(
    fc.record({
      chunks: fc.array(fc.stringMatching(/^[a-c!]{1,6}$/), { minLength: 0, maxLength: 4 }),
      eof: fc.boolean(),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .chain((cs) =>
    fc.nat(3).map((ticks) => ({ ticks, conns: cs.map((c, i) => ({ port: 7000 + i, ...c })) })),
  );

type KernelEv =
  | { sock: number; kind: 'accept' }
  | { sock: number; kind: 'data'; text: string }
  | { sock: number; kind: 'eof' }
  | { sock: number; kind: 'tick' };

/** Interleave the per-connection event lists by `picks` (each keeps its own order). */
function interleave(lists: KernelEv[][], picks: readonly number[]): KernelEv[] {
  const idx = lists.map(() => 0);
  const out: KernelEv[] = [];
  let p = 0;
  for (;;) {
    const open = lists.map((l, i) => i).filter((i) => idx[i]! < lists[i]!.length);
    if (open.length === 0) return out;
    const i = open[(picks[p++ % Math.max(1, picks.length)] ?? 0) % open.length]!;
    out.push(lists[i]![idx[i]!++]!);
  }
}

/** The real timer expiries, as one more list to interleave. */
const ticks = (n: number): KernelEv[] =>
  Array.from({ length: n }, () => ({ sock: -1, kind: 'tick' as const }));

/** The connection's whole stream re-cut at `cuts`. */
function rechunk(text: string, cuts: readonly number[]): string[] {
  const points = [...new Set(cuts.map((c) => (text.length === 0 ? 0 : c % text.length)))]
    .filter((c) => c > 0)
    .sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const c of [...points, text.length]) {
    if (c > from) out.push(text.slice(from, c));
    from = c;
  }
  return out;
}

function feed(h: Harness, ev: KernelEv, sockBase: number): void {
  const sock = sockBase + ev.sock;
  if (ev.kind === 'accept') h.perform(h.core.kernelAccept(sock, A, 7000 + ev.sock));
  else if (ev.kind === 'data') h.perform(h.core.kernelData(sock, enc(ev.text)));
  else if (ev.kind === 'eof') h.perform(h.core.kernelEof(sock));
  else for (const id of h.armedTimers()) h.perform(h.core.timerExpired(id));
}

describe('NswCore properties', () => {
  it('R4.1, R4.2 output is never released before every determinant it depends on is stored', () => {
    fc.assert(
      fc.property(
        worldArb,
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (w, picks, acks) => {
          const lists = w.conns.map((c, i): KernelEv[] => [
            { sock: i, kind: 'accept' },
            ...c.chunks.map((text) => ({ sock: i, kind: 'data' as const, text })),
            ...(c.eof ? [{ sock: i, kind: 'eof' as const }] : []),
          ]);
          const h = new Harness({ mode: 'recording' });
          let a = 0;
          for (const ev of interleave([...lists, ticks(w.ticks)], picks)) {
            feed(h, ev, 100);
            h.pump();
            // The logger acks some prefix of what was sent, monotonically.
            const k = acks[a++ % Math.max(1, acks.length)] ?? 0;
            const target = Math.min(h.core.detSeq, h.core.stableDet + (k % 4));
            h.perform(h.core.detStored(target));
          }
          h.perform(h.core.detStored(h.core.detSeq));
          // Match each release with the action the application made (FIFO per connection).
          const made = new Map<number, { dependsOn: number }[]>();
          for (const m of h.made) made.set(m.conn, [...(made.get(m.conn) ?? []), m]);
          for (const r of h.released) {
            const m = made.get(r.conn)?.shift();
            expect(m).toBeDefined();
            expect(m!.dependsOn).toBeLessThanOrEqual(r.stableAtRelease);
          }
          // And with everything stored, everything made was released, in order.
          for (const [conn, rest] of made) expect([conn, rest.length]).toEqual([conn, 0]);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('R11.1 replay delivers exactly the logged chunks whatever order and chunking the kernel uses', () => {
    fc.assert(
      fc.property(
        worldArb,
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.nat(),
        (w, picks1, picks2, cuts, crashAt) => {
          const lists = w.conns.map((c, i): KernelEv[] => [
            { sock: i, kind: 'accept' },
            ...c.chunks.map((text) => ({ sock: i, kind: 'data' as const, text })),
            ...(c.eof ? [{ sock: i, kind: 'eof' as const }] : []),
          ]);
          const rec = new Harness({ mode: 'recording' });
          const evs = interleave([...lists, ticks(w.ticks)], picks1);
          // The first run is cut short anywhere: the log is a prefix of a longer run.
          for (const ev of evs.slice(0, crashAt % (evs.length + 1))) {
            feed(rec, ev, 100);
            rec.pump();
          }
          // The kernel of the new incarnation gets each client's whole stream, re-cut and
          // interleaved differently.
          const lists2 = w.conns.map((c, i): KernelEv[] => [
            { sock: i, kind: 'accept' },
            ...rechunk(c.chunks.join(''), cuts).map((text) => ({
              sock: i,
              kind: 'data' as const,
              text,
            })),
            ...(c.eof ? [{ sock: i, kind: 'eof' as const }] : []),
          ]);
          const h = new Harness({ mode: 'replaying', log: dets(rec) }, 99_000);
          // The new incarnation's real timers expire at other moments (and are ignored until live).
          for (const ev of interleave([...lists2, ticks(cuts.length % 3)], picks2)) {
            feed(h, ev, 200);
            h.pump();
          }
          expect(h.stops).toEqual([]);
          // Up to the end of the log the deliveries are exactly the recorded ones.
          expect(h.deliveries.slice(0, rec.deliveries.length)).toEqual(rec.deliveries);
          for (const [conn, text] of rec.written)
            expect(h.written.get(conn)?.startsWith(text)).toBe(true);
          expect(h.core.mode).toBe('live');
          // Nothing is lost or invented: per connection, replayed + live reads = the stream.
          for (const [i, c] of w.conns.entries()) {
            const got = h.deliveries
              .filter((d) => d.kind === 'data' && d.conn === connOfPort(h, 7000 + i))
              .map((d) => d.text);
            expect(got.join('')).toBe(c.chunks.join(''));
          }
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });
});

function connOfPort(h: Harness, port: number): number {
  return h.deliveries.find((d) => d.kind === 'accept' && d.text === `${port}`)?.conn ?? -1;
}
