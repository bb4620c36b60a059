// R13.10 (spec/nsw.md): a connection finished for good leaves every table of the NSW core, so
// that a server's memory does not grow with the connections it ever accepted. Thousands of
// connections are opened and closed through the core, recording (with and without
// checkpoints, ConnDone deciding in the second case) and replaying a log of closed
// connections (ghosts, R11.3); every table returns to empty.

import { describe, expect, it } from 'vitest';
import type { NswEffect } from '../../../src/machines/nsw/index.ts';
import type { Determinant } from '../../../src/wire/logmsg.ts';
import { Harness } from './harness.ts';

const A = 0xc6120002;
const N = 10_000;
const enc = (s: string) => new TextEncoder().encode(s);
const dets = (h: Harness): Determinant[] => h.logged.map((r) => r.det);
const NEVER = { everyBytes: 2 ** 40, everyMs: 86_400_000 };

const EMPTY = {
  socks: 0,
  conns: 0,
  closing: 0,
  inbox: 0,
  inboxAccepts: 0,
  gate: 0,
  unacked: 0,
};

/** One client: connects, sends a line, ends; the harness application answers and ends too. */
function oneConnection(h: Harness, sock: number, port: number): void {
  h.perform(h.core.kernelAccept(sock, A, port));
  h.perform(h.core.kernelData(sock, enc(`req${sock}`)));
  h.perform(h.core.kernelEof(sock));
  h.pump();
}

/** Records `n` connections, acknowledging determinants every 100 of them (and at the end). */
function recordMany(n: number, checkpoints = false): { h: Harness; forgotten: number[] } {
  const h = new Harness({ mode: 'recording' });
  if (checkpoints) h.core.enableCheckpoints(NEVER, 0);
  const forgotten: number[] = [];
  const perform = h.perform.bind(h);
  h.perform = (fx: readonly NswEffect[]) => {
    for (const e of fx) if (e.kind === 'forget' && e.conn !== null) forgotten.push(e.conn);
    perform(fx);
  };
  for (let i = 0; i < n; i++) {
    // Ports repeat: a client port is reused once its connection is gone.
    oneConnection(h, i + 1, 10_000 + (i % 5000));
    if (i % 100 === 99) h.ack(h.core.detSeq);
  }
  h.ack(h.core.detSeq);
  return { h, forgotten };
}

describe('R13.10 a finished connection is forgotten', () => {
  it(`recording without checkpoints: ${N} connections opened and closed leave every table empty`, () => {
    const { h, forgotten } = recordMany(N);
    expect(h.core.sizes()).toEqual({ ...EMPTY, forgotten: N });
    // Each one once, with the runtime told (the `forget` effect).
    expect(new Set(forgotten).size).toBe(N);
    // Every client got its answer and the FIN, released before the connection went.
    expect(h.released.filter((r) => r.action.kind === 'end')).toHaveLength(N);
    // A write or a close on a forgotten connection changes nothing (the application's socket
    // object may outlive it); a number never accepted is still a usage error.
    expect(h.core.write(5, enc('late'))).toEqual([]);
    expect(h.core.close(5, 'destroy')).toEqual([]);
    expect(() => h.core.write(N + 5, enc('x'))).toThrow(/unknown conn/);
  });

  it('kept until its close is stored and its end of stream delivered', () => {
    const h = new Harness({ mode: 'recording' });
    h.perform(h.core.kernelAccept(1, A, 5000));
    h.perform(h.core.kernelData(1, enc('a')));
    h.pump();
    // The application ends it first (half-close): the client's side is still open.
    h.perform(h.core.close(0, 'end'));
    h.ack(h.core.detSeq);
    expect(h.core.sizes()).toMatchObject({ conns: 1, socks: 1, closing: 0 });
    h.perform(h.core.kernelEof(1));
    h.pump();
    // The eof determinant is logged, not stored yet: its connection may go (the close is).
    expect(h.core.sizes()).toMatchObject({ conns: 0, socks: 0, forgotten: 1 });
    // The other order: the client ends, the application's close not stored yet.
    h.perform(h.core.kernelAccept(2, A, 5001));
    h.perform(h.core.kernelEof(2));
    h.pump();
    expect(h.core.sizes()).toMatchObject({ conns: 1, socks: 1, closing: 1 });
    h.ack(h.core.detSeq);
    expect(h.core.sizes()).toMatchObject({ conns: 0, socks: 0, closing: 0, forgotten: 2 });
  });

  it('a destroyed connection goes once its RST is released and nothing of it is buffered', () => {
    const h = new Harness({ mode: 'recording' });
    h.perform(h.core.kernelAccept(1, A, 5000));
    h.pump();
    h.perform(h.core.close(0, 'destroy'));
    // Input that arrived before the RST left is still delivered (and logged) first.
    h.perform(h.core.kernelData(1, enc('late')));
    h.ack(h.core.detSeq);
    expect(h.released.map((r) => r.action.kind)).toEqual(['write', 'destroy']);
    expect(h.core.sizes()).toMatchObject({ conns: 1 });
    h.pump();
    expect(h.core.sizes()).toMatchObject({ conns: 0, socks: 0, forgotten: 1 });
  });

  it(`with checkpoints, kept until ConnDone (R13.1: the table lists it until then); ${N} connections`, () => {
    const { h, forgotten } = recordMany(N, true);
    expect(forgotten).toEqual([]);
    expect(h.core.sizes()).toMatchObject({ conns: N, socks: N, closing: 0, gate: 0 });
    for (let c = 0; c < N; c++) h.perform(h.core.connDone(c));
    expect(h.core.sizes()).toEqual({ ...EMPTY, forgotten: N });
    // R13.3: they left the table, which a timed checkpoint tells the logger; it lists none.
    expect(h.core.checkpointDue(NEVER.everyMs)).toBe(true);
    const fx = h.core.takeCheckpoint(h.snapshot(), () => 0, NEVER.everyMs);
    const begin = fx.flatMap((e) => (e.kind === 'checkpoint' ? e.frames : []))[0];
    expect(begin).toMatchObject({ kind: 'CheckpointBegin', conns: 0 });
    // A ConnDone for a connection forgotten already is ignored.
    expect(h.core.connDone(3)).toEqual([]);
  });

  it('R13.9 unprotected: closed connections go without ConnDone or a stored close', () => {
    const h = new Harness({ mode: 'recording' });
    h.core.enableCheckpoints(NEVER, 0);
    for (let i = 0; i < 10; i++) oneConnection(h, i + 1, 6000 + i);
    expect(h.core.sizes()).toMatchObject({ conns: 10 });
    h.perform(h.core.unprotect('test'));
    expect(h.core.sizes()).toMatchObject({ conns: 0, socks: 0, closing: 0, forgotten: 10 });
    oneConnection(h, 100, 7000);
    expect(h.core.sizes()).toMatchObject({ conns: 0, socks: 0, forgotten: 11 });
  });

  it(`replay of ${N} closed connections (ghosts): held while the log may name them, empty once live`, () => {
    const { h: rec } = recordMany(N);
    const h = new Harness({ mode: 'replaying', log: dets(rec) });
    for (let i = 0; i < N; i++) {
      const sock = 100_000 + i;
      h.perform(h.core.kernelAccept(sock, A, 10_000 + (i % 5000), true));
      h.perform(h.core.kernelData(sock, enc(`req${i + 1}`)));
      h.perform(h.core.kernelEof(sock));
    }
    // A ghost the log never accepted (closed before it was delivered): never offered live.
    h.perform(h.core.kernelAccept(999_999, A, 4999, true));
    h.perform(h.core.kernelEof(999_999));
    // The first connection is replayed; the log still names later ones: nothing goes yet.
    h.perform(h.core.next());
    expect(h.core.mode).toBe('replaying');
    expect(h.core.sizes()).toMatchObject({ forgotten: 0 });
    h.pump(20 * N);
    expect(h.core.mode).toBe('live');
    expect(h.deliveries).toEqual(rec.deliveries);
    expect(h.core.sizes()).toEqual({ ...EMPTY, forgotten: N });
    // Live from here: new connections are forgotten as when recording.
    oneConnection(h, 1, 6000);
    h.ack(h.core.detSeq);
    expect(h.core.sizes()).toEqual({ ...EMPTY, forgotten: N + 1 });
  });
});
