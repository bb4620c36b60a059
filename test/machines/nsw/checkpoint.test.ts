// NSW checkpoints (spec/nsw.md R13): the hash chain (R13.7), the blob (R13.1), when one is due
// (R13.2, R13.3), the frames (R13.4, read by the logger's own assembler), the restore (R13.6),
// and the property the issue asks for: a recovery from a checkpoint gives each client exactly
// the stream of a failure-free run, output released before the checkpoint and not yet
// acknowledged included (I2/I6).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CheckpointAssembler } from '../../../src/machines/logger/checkpoint.ts';
import {
  decodeBlob,
  encodeBlob,
  type FetchedCheckpoint,
  fetchedCheckpoint,
  OutputHasher,
} from '../../../src/machines/nsw/index.ts';
import type { LoggerMessage } from '../../../src/wire/logmsg.ts';
import { Harness, releasedText } from './harness.ts';

const SEED = Number(process.env.FC_SEED ?? 0xc4e7);
const RUNS = Number(process.env.FC_RUNS ?? 150);
const A = 0xc6120002;
const enc = (s: string) => new TextEncoder().encode(s);
const NEVER = { everyBytes: 2 ** 40, everyMs: 86_400_000 };

const frames = (fx: readonly { kind: string }[]): LoggerMessage[] =>
  fx.flatMap((e) =>
    e.kind === 'checkpoint' ? (e as unknown as { frames: LoggerMessage[] }).frames : [],
  );

/** The checkpoint as a FetchLog 'nsw' answer would serve it (through the logger's assembler). */
function served(fs: readonly LoggerMessage[]): FetchedCheckpoint {
  const asm = new CheckpointAssembler(
    () => 64 << 20,
    () => null,
  );
  let done: FetchedCheckpoint | undefined;
  for (const f of fs) {
    if (
      f.kind !== 'CheckpointBegin' &&
      f.kind !== 'CheckpointConn' &&
      f.kind !== 'CheckpointData' &&
      f.kind !== 'CheckpointEnd'
    )
      throw new Error(`not a checkpoint frame: ${f.kind}`);
    const step = asm.take(f);
    if (step.kind === 'error' || step.kind === 'rejected') throw new Error(JSON.stringify(step));
    if (step.kind === 'complete') {
      const ck = step.checkpoint;
      const again: LoggerMessage[] = [
        {
          kind: 'CheckpointBegin',
          ckptId: ck.ckptId,
          detSeq: ck.detSeq,
          conns: ck.conns.length,
          blobBytes: ck.blobBytes,
        },
        ...ck.conns.map((e) => ({ kind: 'CheckpointConn' as const, ckptId: ck.ckptId, ...e })),
        ...ck.blob.map((data, i) => ({
          kind: 'CheckpointData' as const,
          ckptId: ck.ckptId,
          offset: ck.blob.slice(0, i).reduce((n, b) => n + b.length, 0),
          data,
        })),
        { kind: 'CheckpointEnd', ckptId: ck.ckptId },
      ];
      const r = fetchedCheckpoint(again);
      if (!r.ok || r.value === undefined) throw new Error('served checkpoint unreadable');
      done = r.value;
    }
  }
  if (done === undefined) throw new Error('checkpoint not complete');
  return done;
}

describe('R13.7 the output hash chain', () => {
  it('a hasher restored from a checkpoint chain continues with the same values', () => {
    const a = new OutputHasher();
    a.update(enc('hello '));
    const b = new OutputHasher(a.chain, a.offset);
    expect(b.update(enc('world'))).toBe(a.update(enc('world')));
    expect(b.offset).toBe(11);
    // A different history gives a different chain value.
    const c = new OutputHasher();
    c.update(enc('hello world'));
    expect(c.chain).not.toEqual(a.chain);
  });
});

describe('R13.1 the checkpoint blob', () => {
  it('encodes and decodes every field', () => {
    const blob = {
      snapshot: enc('state'),
      nextConn: 3,
      nextTimer: 7,
      clock: 1_700_000_000_123.5,
      timers: [{ timerId: 4, repeat: true, ms: 250, remainingMs: 12.5 }],
      conns: [
        { nswConn: 0, chain: new Uint8Array(32).fill(1), tail: enc('abc') },
        { nswConn: 2, chain: new Uint8Array(32).fill(2), tail: new Uint8Array(0) },
      ],
    };
    const r = decodeBlob(encodeBlob(blob));
    expect(r.ok && r.value).toEqual(blob);
  });

  it('never throws on arbitrary bytes, and refuses them with a reason', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const r = decodeBlob(bytes);
        if (!r.ok) expect(r.error).toMatch(/checkpoint blob/);
      }),
      { seed: SEED, numRuns: 500 },
    );
    const good = encodeBlob({
      snapshot: enc('x'),
      nextConn: 1,
      nextTimer: 0,
      clock: 0,
      timers: [],
      conns: [{ nswConn: 0, chain: new Uint8Array(32), tail: enc('yz') }],
    });
    for (let n = 0; n < good.length; n++) expect(decodeBlob(good.subarray(0, n)).ok).toBe(false);
  });
});

describe('R13.2, R13.3 when a checkpoint is due', () => {
  it('never without the application snapshot(); by bytes; by time only if something was logged', () => {
    const h = new Harness({ mode: 'recording' });
    h.perform(h.core.kernelAccept(1, A, 5000));
    h.perform(h.core.kernelData(1, enc('a'.repeat(2000))));
    h.pump();
    expect(h.core.checkpointDue(1e12)).toBe(false);
    h.core.enableCheckpoints({ everyBytes: 4096, everyMs: 1000 }, 0);
    expect(h.core.checkpointDue(10)).toBe(false);
    h.perform(h.core.kernelData(1, enc('b'.repeat(3000))));
    h.pump();
    expect(h.core.checkpointDue(10)).toBe(true);
    h.perform(h.core.takeCheckpoint(h.snapshot(), () => 0, 10));
    // R13.2: one in flight at a time.
    expect(h.core.checkpointDue(10)).toBe(false);
    expect(h.core.checkpointStored(1)).toBe(true);
    expect(h.core.checkpoints.stored?.ckptId).toBe(1);
    // Nothing logged since: the time schedule does not fire.
    expect(h.core.checkpointDue(5000)).toBe(false);
    h.perform(h.core.kernelData(1, enc('c')));
    h.pump();
    expect(h.core.checkpointDue(500)).toBe(false);
    expect(h.core.checkpointDue(1010)).toBe(true);
  });

  it('R13.3 by time also after a ConnDone alone: the logger drops a finished record only with a checkpoint that no longer lists it', () => {
    const h = new Harness({ mode: 'recording' });
    h.perform(h.core.kernelAccept(1, A, 5000));
    h.core.enableCheckpoints({ everyBytes: 1 << 30, everyMs: 1000 }, 0);
    h.perform(h.core.kernelData(1, enc('abc')));
    h.pump();
    h.perform(h.core.takeCheckpoint(h.snapshot(), () => 0, 2000));
    expect(h.core.checkpointStored(1)).toBe(true);
    expect(h.core.checkpointDue(5000)).toBe(false);
    // The logger finished connection 0 (its ConnClosed came after the checkpoint listed it).
    h.core.connDone(0);
    expect(h.core.checkpointDue(2500)).toBe(false);
    expect(h.core.checkpointDue(3000)).toBe(true);
    h.perform(h.core.takeCheckpoint(h.snapshot(), () => 0, 3000));
    expect(h.core.checkpointStored(2)).toBe(true);
    // A repeated ConnDone changes nothing.
    h.core.connDone(0);
    expect(h.core.checkpointDue(9000)).toBe(false);
  });

  it('CheckpointWanted: due at the next quiescent point; refused while replaying or without snapshot()', () => {
    const h = new Harness({ mode: 'recording' });
    const refused = frames(h.core.checkpointWanted());
    expect(refused).toEqual([
      { kind: 'CheckpointRefused', reason: 'failed', detail: expect.stringMatching(/snapshot/) },
    ]);
    h.core.enableCheckpoints(NEVER, 0);
    expect(h.core.checkpointDue(0)).toBe(false);
    expect(frames(h.core.checkpointWanted())).toEqual([]);
    expect(h.core.checkpointDue(0)).toBe(true);
    const r = new Harness({ mode: 'replaying', log: [{ kind: 'clock', value: 1 }] });
    r.core.enableCheckpoints(NEVER, 0);
    expect(frames(r.core.checkpointWanted())[0]).toMatchObject({
      kind: 'CheckpointRefused',
      reason: 'replaying',
    });
    expect(r.core.checkpointDue(0)).toBe(false);
    expect(() => r.core.takeCheckpoint(enc(''), () => 0, 0)).toThrow(/R13.2/);
  });

  it('disableCheckpoints (the hook for Unprotected, not implemented yet): never due again, CheckpointWanted refused', () => {
    const h = new Harness({ mode: 'recording' });
    h.core.enableCheckpoints(NEVER, 0);
    h.core.checkpointWanted();
    expect(h.core.checkpointDue(0)).toBe(true);
    h.core.disableCheckpoints();
    expect(h.core.checkpointDue(0)).toBe(false);
    expect(frames(h.core.checkpointWanted())[0]).toMatchObject({ kind: 'CheckpointRefused' });
  });

  it('a link that drops loses the checkpoint in flight (R14.2): another may be taken', () => {
    const h = new Harness({ mode: 'recording' });
    h.core.enableCheckpoints(NEVER, 0);
    h.core.checkpointWanted();
    h.perform(h.core.takeCheckpoint(h.snapshot(), () => 0, 0));
    h.core.checkpointWanted();
    expect(h.core.checkpointDue(0)).toBe(false);
    h.perform(h.core.linkDown());
    h.core.checkpointWanted();
    expect(h.core.checkpointDue(0)).toBe(true);
  });
});

describe('R13.1, R13.4 taking a checkpoint', () => {
  it('sends Begin, the table, the blob, End; the tail holds every byte from outputFrom, held ones too', () => {
    const h = new Harness({ mode: 'recording' });
    h.core.enableCheckpoints(NEVER, 0);
    h.perform(h.core.kernelAccept(1, A, 5000));
    h.perform(h.core.kernelData(1, enc('abc')));
    h.pump();
    h.ack(h.core.detSeq); // 'hi0;ABC' released
    h.perform(h.core.kernelData(1, enc('de')));
    h.pump(); // 'DE' held: its read is not stored
    const fs = frames(h.core.takeCheckpoint(h.snapshot(), () => 3, 0)); // 3 bytes unacked
    expect(fs.map((f) => f.kind)).toEqual([
      'CheckpointBegin',
      'CheckpointConn',
      'CheckpointData',
      'CheckpointEnd',
    ]);
    expect(fs[0]).toMatchObject({ ckptId: 1, detSeq: h.core.detSeq, conns: 1 });
    expect(fs[1]).toMatchObject({
      nswConn: 0,
      clientPort: 5000,
      readOffset: 5,
      writeOffset: 9,
      outputFrom: 4, // 7 released - 3 unacked
      eof: false,
      close: null,
      done: false,
    });
    const ck = served(fs);
    const blob = decodeBlob(ck.blob);
    expect(blob.ok && new TextDecoder().decode(blob.value.conns[0]!.tail)).toBe('ABCDE');
    expect(blob.ok && new TextDecoder().decode(blob.value.snapshot)).toContain('timers');
  });
});

describe('R13.1 tail copies between checkpoints', () => {
  it('past TAIL_TRIM_BYTES the core asks what the client acknowledged and drops the copies below it', () => {
    const h = new Harness({ mode: 'recording' });
    h.core.enableCheckpoints(NEVER, 0);
    h.perform(h.core.kernelAccept(1, A, 5000));
    h.pump();
    h.ack(h.core.detSeq);
    const big = 'a'.repeat(1 << 20);
    const asks: number[] = [];
    for (let i = 0; i < 6; i++) {
      h.perform(h.core.kernelData(1, enc(big)));
      const fx = h.core.next();
      h.perform(fx);
      const fx2 = h.core.detStored(h.core.detSeq);
      h.perform(fx2);
      for (const e of [...fx, ...fx2]) if (e.kind === 'tailOver') asks.push(e.conn);
    }
    expect(asks).toEqual([0]);
    // The client has all but 1000 bytes: the next checkpoint's tail is those 1000 bytes only.
    h.core.outputAcked(0, 1000);
    const fs = frames(h.core.takeCheckpoint(h.snapshot(), () => 5000, 0));
    const entry = fs[1] as { outputFrom: number; writeOffset: number };
    expect(entry.writeOffset - entry.outputFrom).toBe(1000);
  });
});

describe('R13.6 restoring', () => {
  it('restored connections wait for their socket; the tail and the recorded close go first; not offered again', () => {
    const h = new Harness({ mode: 'recording' });
    h.core.enableCheckpoints(NEVER, 0);
    h.perform(h.core.kernelAccept(1, A, 5000));
    h.perform(h.core.kernelData(1, enc('ab')));
    h.perform(h.core.kernelEof(1));
    h.pump();
    h.ack(h.core.detSeq);
    const D = h.core.detSeq;
    const ck = served(frames(h.core.takeCheckpoint(h.snapshot(), () => 2, 0)));
    const r = new Harness({});
    const res = r.core.replayFrom(ck, [], 0);
    if (!res.ok) throw new Error(res.error);
    r.restore(res.value.snapshot);
    r.perform(res.value.effects);
    expect(r.core.mode).toBe('live');
    expect(r.core.detSeq).toBe(D);
    const sock = r.core.restoredSockFor(A, 5000);
    expect(sock).toBeLessThan(0);
    expect(r.core.restoredSockFor(A, 5001)).toBeUndefined();
    expect(r.released).toEqual([]);
    r.perform(r.core.kernelAccept(sock!, A, 5000));
    r.pump();
    // 'hi0;AB' was 6 bytes, 2 of them unacknowledged: those and the FIN, nothing delivered.
    expect(r.released.map((x) => x.action.kind)).toEqual(['write', 'end']);
    const w = r.released[0]!.action;
    expect(w.kind === 'write' && new TextDecoder().decode(w.bytes)).toBe('AB');
    expect(r.deliveries).toEqual([]);
  });

  it('a blob that does not match its table is refused with a reason', () => {
    const h = new Harness({ mode: 'recording' });
    h.core.enableCheckpoints(NEVER, 0);
    h.perform(h.core.kernelAccept(1, A, 5000));
    h.pump();
    const ck = served(frames(h.core.takeCheckpoint(h.snapshot(), () => 0, 0)));
    const bad = { ...ck, conns: ck.conns.map((e) => ({ ...e, outputFrom: e.outputFrom + 1 })) };
    const r = new Harness({});
    const res = r.core.replayFrom(bad, [], 0);
    expect(res.ok).toBe(false);
    expect(!res.ok && res.error).toMatch(/tail/);
  });
});

describe('R13.1 the table lists a connection until nothing after D can name it (R13.10)', () => {
  it('closed by the application, ConnDone, then a checkpoint, then its eof: the recovery meets that eof on a connection it knows', () => {
    const h = new Harness({ mode: 'recording' });
    h.core.enableCheckpoints(NEVER, 0);
    h.perform(h.core.kernelAccept(1, A, 5000));
    h.perform(h.core.kernelData(1, enc('q')));
    h.pump(); // 'hi0;', 'Q', 'bye;' and the application's end
    h.ack(h.core.detSeq); // the close is stored: everything and the FIN reach the client
    expect(releasedText(h).get(0)).toBe('hi0;Qbye;|FIN');
    // The client's FIN is acknowledged by the kernel (both FINs are: the SSW reports the record
    // closed, the logger says ConnDone) before the NSW has read that end of stream.
    h.perform(h.core.connDone(0));
    const fs = frames(h.core.takeCheckpoint(h.snapshot(), () => 0, 0));
    const D = h.core.detSeq;
    h.ack(D);
    expect(h.core.checkpointStored(1)).toBe(true);
    // Now the NSW reads the end of stream: its eof determinant lies after D.
    h.perform(h.core.kernelEof(1));
    h.pump();
    h.ack(h.core.detSeq);
    const suffix = h.logged.filter((r) => r.detSeq >= D).map((r) => r.det);
    expect(suffix).toEqual([{ kind: 'eof', conn: 0 }]);
    // Finished for good once that eof is delivered (R13.10).
    expect(h.core.sizes()).toMatchObject({ conns: 0, socks: 0, forgotten: 1 });

    // Recovery from that checkpoint. The SSW does not re-create a closed record; the logger
    // serves it as a ghost from the table's readOffset if the table lists it (R14.5 b, c),
    // and drops it otherwise.
    const ck = served(fs);
    const r = new Harness({});
    r.core.enableCheckpoints(NEVER, 0);
    const res = r.core.replayFrom(ck, suffix, 0);
    if (!res.ok) throw new Error(res.error);
    r.restore(res.value.snapshot);
    r.perform(res.value.effects);
    const entry = ck.conns.find((e) => e.nswConn === 0);
    if (entry !== undefined) {
      const sock = r.core.restoredSockFor(A, 5000) ?? 0;
      expect(sock).toBeLessThan(0);
      r.perform(r.core.kernelAccept(sock, A, 5000, true));
      r.perform(r.core.kernelEof(sock));
    }
    r.pump();
    expect(r.stops.map((e) => e.error.message)).toEqual([]);
    expect(r.core.mode).toBe('live');
    expect(entry).toMatchObject({ eof: false, close: 'end', done: true, outputFrom: 9 });
    expect(r.deliveries).toEqual([{ kind: 'eof', conn: 0, text: '' }]);
    // The client's stream: exactly what the first incarnation gave it, nothing again.
    expect(r.released).toEqual([]);
    expect(r.core.sizes()).toMatchObject({ conns: 0, socks: 0 });
    // The next checkpoint no longer lists it: the logger drops its record then (R14.5 c).
    const next = frames(r.core.takeCheckpoint(r.snapshot(), () => 0, 0));
    expect(next[0]).toMatchObject({ kind: 'CheckpointBegin', conns: 0 });
  });
});

// ---------------------------------------------------------------------------------------------
// The property: recovery from a checkpoint gives the client the failure-free stream

type Op =
  | { readonly k: 'accept'; readonly c: number }
  | { readonly k: 'data'; readonly c: number; readonly text: string }
  | { readonly k: 'eof'; readonly c: number }
  /** the logger's ConnDone: both FINs acknowledged, before the NSW has read the client's */
  | { readonly k: 'done'; readonly c: number }
  | { readonly k: 'fire' }
  | { readonly k: 'ack' }
  | { readonly k: 'ckpt'; readonly unackedPct: number };

const opsArb: fc.Arbitrary<Op[]> = fc
  .tuple(
    fc.array(
      fc.record({
        chunks: fc.array(fc.stringMatching(/^[a-c]{1,5}$/), { maxLength: 5 }),
        // 'q' among them: the application ends the connection on its own (the harness's quit)
        quitAt: fc.option(fc.nat(5), { nil: undefined }),
        eof: fc.boolean(),
        done: fc.boolean(),
        ckptAfterDone: fc.boolean(),
      }),
      { minLength: 1, maxLength: 3 },
    ),
    fc.array(
      fc.oneof(
        fc.constant<Op>({ k: 'fire' }),
        fc.constant<Op>({ k: 'ack' }),
        fc.nat(100).map((unackedPct): Op => ({ k: 'ckpt', unackedPct })),
      ),
      { maxLength: 12 },
    ),
    fc.array(fc.nat(), { maxLength: 60 }),
  )
  .map(([conns, extra, order]) => {
    // Each connection's own ops in order; interleaved with the others and the extras.
    const queues: Op[][] = conns.map((c, i) => {
      const chunks = [...c.chunks];
      if (c.quitAt !== undefined) chunks.splice(Math.min(c.quitAt, chunks.length), 0, 'q');
      return [
        { k: 'accept', c: i },
        ...chunks.map((text): Op => ({ k: 'data', c: i, text })),
        // ConnDone needs the client's FIN, which the kernel acknowledges before the NSW reads it;
        // a checkpoint may come between the two (its eof is then logged after D).
        ...(c.eof && c.done ? [{ k: 'done', c: i } as Op] : []),
        ...(c.eof && c.done && c.ckptAfterDone ? [{ k: 'ckpt', unackedPct: 0 } as Op] : []),
        ...(c.eof ? [{ k: 'eof', c: i } as Op] : []),
      ];
    });
    queues.push(extra);
    const out: Op[] = [];
    let j = 0;
    while (queues.some((q) => q.length > 0)) {
      const live = queues.filter((q) => q.length > 0);
      out.push(live[(order[j++] ?? 0) % live.length]!.shift()!);
    }
    return out;
  });

/** One incarnation driven by ops; the client side is kept per connection. */
class Run {
  readonly h: Harness;
  /** conn -> the kernel socket id of this incarnation */
  readonly sock = new Map<number, number>();
  /** conn -> bytes sent by the client so far, as chunks */
  readonly sent = new Map<number, string[]>();
  readonly eofSent = new Set<number>();
  /** clients whose connection the logger said done (ConnDone) */
  readonly done = new Set<number>();
  /** clients fed as ghosts (R11.3): the logger gave their whole stream, its end included */
  readonly ghosts = new Set<number>();
  private nextSock = 1;

  constructor(h: Harness) {
    this.h = h;
  }

  /** The socket of an op's client; a recovery that dropped it still owes it this input. */
  private sockOf(op: Extract<Op, { c: number }>): number {
    const s = this.sock.get(op.c);
    if (s === undefined)
      throw new Error(`client ${op.c}: ${op.k} still to come on a connection recovery dropped`);
    return s;
  }

  apply(op: Op, takeCkpt?: (pct: number) => void): void {
    const { h } = this;
    switch (op.k) {
      case 'accept': {
        const s = this.nextSock++;
        this.sock.set(op.c, s);
        this.sent.set(op.c, []);
        h.perform(h.core.kernelAccept(s, A, 6000 + op.c));
        break;
      }
      case 'data':
        if (this.ghosts.has(op.c)) break;
        this.sent.get(op.c)!.push(op.text);
        h.perform(h.core.kernelData(this.sockOf(op), enc(op.text)));
        break;
      case 'eof':
        if (this.ghosts.has(op.c)) break;
        this.eofSent.add(op.c);
        h.perform(h.core.kernelEof(this.sockOf(op)));
        break;
      case 'done': {
        // Only once it can be true: the application ended it and its FIN was released (the
        // client acknowledged it, and with it every byte before it). The logger has stored
        // what it was sent by then.
        h.ack(h.core.detSeq);
        const conn = connOfClient(h, op.c);
        const finReleased = h.released.some((r) => r.conn === conn && r.action.kind === 'end');
        if (conn === undefined || !finReleased) break;
        this.done.add(op.c);
        h.perform(h.core.connDone(conn));
        break;
      }
      case 'fire': {
        const t = h.armedTimers()[0];
        if (t !== undefined) h.perform(h.core.timerExpired(t));
        break;
      }
      case 'ack':
        h.ack(h.core.detSeq);
        break;
      case 'ckpt':
        takeCkpt?.(op.unackedPct);
        break;
    }
    h.pump();
  }
}

/** The NSW connection client `c` (port 6000 + c) was accepted as, if it was. */
function connOfClient(h: Harness, c: number): number | undefined {
  return h.deliveries.find((d) => d.kind === 'accept' && d.text === `${6000 + c}`)?.conn;
}

/** Bytes written and whether a FIN was released, per conn, from `from` (released order). */
function output(h: Harness): Map<number, { bytes: string; fin: boolean }> {
  const out = new Map<number, { bytes: string; fin: boolean }>();
  for (const r of h.released) {
    const o = out.get(r.conn) ?? { bytes: '', fin: false };
    if (r.action.kind === 'write') o.bytes += new TextDecoder().decode(r.action.bytes);
    else o.fin = true;
    out.set(r.conn, o);
  }
  return out;
}

describe('R13.6 property (I2/I6)', () => {
  it('recovery from a checkpoint gives each client exactly the stream of a failure-free run', () => {
    fc.assert(
      fc.property(opsArb, fc.nat(), fc.nat(), (ops, crashAt, holdSeed) => {
        // The failure-free run.
        const free = new Run(new Harness({ mode: 'recording' }));
        for (const op of ops) free.apply(op);
        free.h.ack(free.h.core.detSeq);
        const expected = output(free.h);
        // Client c connects from port 6000 + c; the NSW numbers connections in accept order,
        // the same in every incarnation.
        const nswConnOf = new Map(
          free.h.deliveries
            .filter((d) => d.kind === 'accept')
            .map((d) => [Number(d.text) - 6000, d.conn]),
        );

        // The same run, checkpointing, until it crashes right after `crash` ops (everything
        // acked then: the log is whole up to there; R14.2 stores each checkpoint at once).
        const crash = ops.length === 0 ? 0 : crashAt % (ops.length + 1);
        const first = new Run(new Harness({ mode: 'recording' }));
        first.h.core.enableCheckpoints(NEVER, 0);
        let stored: { ck: FetchedCheckpoint; D: number } | undefined;
        const ackedAt = new Map<number, number>();
        for (const op of ops.slice(0, crash)) {
          first.apply(op, (pct) => {
            const h = first.h;
            const rel = output(h);
            const fx = h.core.takeCheckpoint(
              h.snapshot(),
              (conn) => {
                const n = rel.get(conn)?.bytes.length ?? 0;
                const unacked = Math.floor((n * pct) / 100);
                ackedAt.set(conn, Math.max(ackedAt.get(conn) ?? 0, n - unacked));
                return unacked;
              },
              0,
            );
            const D = h.core.detSeq;
            h.ack(D);
            const fs = frames(fx);
            h.core.checkpointStored((fs[0] as { ckptId: number }).ckptId);
            stored = { ck: served(fs), D };
          });
        }
        first.h.ack(first.h.core.detSeq);
        if (stored === undefined) return; // recovery from determinant 0 is core.test.ts's
        const before = output(first.h);

        // The client holds at least what it had acknowledged when the checkpoint was taken,
        // at most what was released to it.
        const clientOf = new Map([...nswConnOf].map(([client, conn]) => [conn, client]));
        const holds = new Map<number, number>();
        let seed = holdSeed;
        for (const [conn, o] of before) {
          const lo = Math.min(ackedAt.get(conn) ?? 0, o.bytes.length);
          holds.set(conn, lo + (seed % (o.bytes.length - lo + 1)));
          // ConnDone: the client acknowledged the FIN, so every byte before it.
          if (first.done.has(clientOf.get(conn) ?? -1)) holds.set(conn, o.bytes.length);
          seed = Math.floor(seed / 7) + 3;
        }

        // Recovery: the checkpoint, then the log after its D.
        const { ck, D } = stored;
        const suffix = first.h.logged.filter((r) => r.detSeq >= D).map((r) => r.det);
        const rec = new Run(new Harness({}));
        rec.h.core.enableCheckpoints(NEVER, 0);
        const res = rec.h.core.replayFrom(ck, suffix, 0);
        if (!res.ok) throw new Error(res.error);
        rec.h.restore(res.value.snapshot);
        rec.h.perform(res.value.effects);
        const resumeAt = new Map(ck.conns.map((e) => [e.nswConn, e]));
        const acceptedBelowD = new Set(
          first.h.logged.flatMap((r) =>
            r.detSeq < D && r.det.kind === 'accept' ? [r.det.conn] : [],
          ),
        );
        // The SSW re-creates each open connection: at readOffset if the checkpoint covers it
        // (spec/ssw.md R6.11), from its start otherwise; the client's bytes follow. One the
        // logger said done is closed at the SSW: the logger serves it as a ghost (R11.3) if
        // it still holds its record, i.e. the table lists it (from readOffset) or it was
        // accepted at or after D (from its start); otherwise R14.5 c dropped it.
        for (const [client, chunks] of first.sent) {
          const conn = nswConnOf.get(client) ?? -1;
          const e = resumeAt.get(conn);
          const ghost = first.done.has(client);
          if (ghost && e === undefined && acceptedBelowD.has(conn)) continue;
          const s = e !== undefined ? rec.h.core.restoredSockFor(A, 6000 + client)! : 100 + client;
          rec.sock.set(client, s);
          rec.sent.set(client, [...chunks]);
          if (ghost) rec.ghosts.add(client);
          rec.h.perform(rec.h.core.kernelAccept(s, A, 6000 + client, ghost));
          let off = 0;
          for (const c of chunks) {
            if (off >= (e?.readOffset ?? 0)) rec.h.perform(rec.h.core.kernelData(s, enc(c)));
            off += c.length;
          }
          // A ghost's end of stream comes after its last byte (R11.3).
          if (first.eofSent.has(client) || ghost) rec.h.perform(rec.h.core.kernelEof(s));
        }
        rec.h.pump();
        expect(rec.h.stops.map((e) => e.error.message)).toEqual([]);
        expect(rec.h.core.mode).toBe('live');
        for (const op of ops.slice(crash)) rec.apply(op);
        rec.h.ack(rec.h.core.detSeq);
        const after = output(rec.h);

        // What each client ends up with: what it held, then the new incarnation's output from
        // there (R6.6 drops the regenerated bytes it holds).
        for (const [conn, want] of expected) {
          const held = (before.get(conn)?.bytes ?? '').slice(0, holds.get(conn) ?? 0);
          const from = resumeAt.get(conn)?.outputFrom ?? 0;
          const again = after.get(conn) ?? { bytes: '', fin: false };
          if (first.done.has(clientOf.get(conn) ?? -1)) {
            // Done before the failure: the client had everything and the FIN; a ghost's output
            // is computed and checked, never released (R11.3), and one the logger dropped is
            // not replayed at all.
            expect(again).toEqual({ bytes: '', fin: false });
            expect(held).toBe(want.bytes);
            expect(before.get(conn)?.fin).toBe(want.fin);
            continue;
          }
          // R13.1: the new incarnation starts at or below what the client holds.
          expect(from).toBeLessThanOrEqual(held.length);
          // The overlap is the same bytes (I2: no other byte in place of one the client has).
          expect(again.bytes.slice(0, held.length - from)).toBe(held.slice(from));
          const got = held + again.bytes.slice(held.length - from);
          expect(got).toBe(want.bytes);
          expect(again.fin || (before.get(conn)?.fin ?? false)).toBe(want.fin);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
