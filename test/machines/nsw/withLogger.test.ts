// NSW + logger through the real codec: NswCore's determinants go to LoggerCore as encoded
// frames, DetStored comes back the same way; then a failure: Fence, FetchLog 'nsw', replay in a
// new incarnation. Checks the pieces agree with each other (spec/messages.md, nsw.md, logger.md):
// - the FIN is released by the same DetStored that makes the logger send CloseLogged (R4.3);
// - after Fence the old incarnation gets no ack, so its held output is never released (R8.3);
// - the recovery stream, decoded, replays the first run exactly (R11), closed connections
//   included (ghosts).

import { describe, expect, it } from 'vitest';
import { LoggerCore } from '../../../src/machines/logger/core.ts';
import type { LoggerEffect } from '../../../src/machines/logger/coreContext.ts';
import { FrameDecoder } from '../../../src/wire/frame.ts';
import {
  type Determinant,
  decodeMessage,
  encodeMessage,
  type LoggerMessage,
} from '../../../src/wire/logmsg.ts';
import { Harness, releasedText } from './harness.ts';

const A = 0xc6120002;
const enc = (s: string) => new TextEncoder().encode(s);
const o = { mss: 1460, wscale: null, sackOk: false, tsVal: null, tsEcr: null };

/** Messages through encodeMessage -> bytes -> FrameDecoder -> decodeMessage. */
function wire(
  msgs: readonly LoggerMessage[],
  epoch: number,
): { epoch: number; msg: LoggerMessage }[] {
  const dec = new FrameDecoder();
  const out: { epoch: number; msg: LoggerMessage }[] = [];
  for (const m of msgs) {
    const r = dec.push(encodeMessage(m, epoch));
    if (!r.ok) throw new Error(r.error.kind);
    for (const f of r.value) {
      const d = decodeMessage(f);
      if (!d.ok) throw new Error(d.error.detail);
      out.push({ epoch: f.epoch, msg: d.value });
    }
  }
  return out;
}

const sentTo = (fx: readonly LoggerEffect[], link: number): LoggerMessage[] =>
  fx.flatMap((e) => (e.kind === 'send' && e.link === link ? [e.msg] : []));

class Link {
  sent = 0;
  constructor(
    readonly logger: LoggerCore,
    readonly link: number,
    readonly epoch: number,
  ) {}
  send(msgs: readonly LoggerMessage[]): LoggerEffect[] {
    return this.logger.frames(this.link, wire(msgs, this.epoch));
  }
}

function hello(logger: LoggerCore, role: 'ssw' | 'nsw' | 'coordinator', epoch: number): Link {
  const l = new Link(logger, logger.openLink(), epoch);
  l.send([{ kind: 'Hello', role, hostId: role, epoch }]);
  return l;
}

/** Ship the NSW's new determinants to the logger and its DetStored back. */
function sync(h: Harness, nsw: Link): LoggerEffect[] {
  const fresh = h.logged.slice(nsw.sent);
  nsw.sent = h.logged.length;
  const fx = nsw.send(fresh.map((r) => ({ kind: 'LogDeterminant', detSeq: r.detSeq, det: r.det })));
  for (const { msg } of wire(sentTo(fx, nsw.link), nsw.logger.epoch)) {
    if (msg.kind === 'DetStored') h.perform(h.core.detStored(msg.stableDet));
  }
  return fx;
}

describe('NSW with the logger, through the codec', () => {
  it('R8.3 records, fences, fetches and replays; FIN and CloseLogged on the same ack', () => {
    const logger = new LoggerCore({ epoch: 1, leaseMs: 1000 });
    const ssw = hello(logger, 'ssw', 1);
    const nsw = hello(logger, 'nsw', 1);
    const streams = ['hello!', 'xy'];
    streams.forEach((text, i) => {
      const syn = {
        conn: 40 + i,
        clientAddr: A,
        clientPort: 5000 + i,
        serverAddr: 1,
        serverPort: 7,
        clientIsn: 10,
        serverIsn: 20,
        clientOpts: o,
        serverOpts: o,
        synTimeMs: 0,
      };
      ssw.send([
        { kind: 'LogSyn', ...syn },
        { kind: 'LogData', conn: syn.conn, seq: 11, payload: enc(text), fin: i === 0 },
      ]);
    });

    const h = new Harness({ mode: 'recording' });
    h.perform(h.core.kernelAccept(1, A, 5000));
    h.perform(h.core.kernelAccept(2, A, 5001));
    h.pump();
    sync(h, nsw);
    h.perform(h.core.kernelData(1, enc('hel')));
    h.perform(h.core.kernelData(2, enc('xy')));
    h.perform(h.core.kernelData(1, enc('lo!')));
    h.pump();
    sync(h, nsw);
    h.perform(h.core.kernelEof(1));
    h.pump();
    expect(releasedText(h).get(0)).toBe('hi0;HELLO!@1000;');
    // The close is appended; its FIN waits, and the logger announces it on the same ack.
    const fx = sync(h, nsw);
    // It carries the close position: every byte written on that connection (R5.2).
    const written = new TextEncoder().encode('hi0;HELLO!@1000;').length;
    expect(sentTo(fx, ssw.link)).toEqual([
      { kind: 'CloseLogged', clientAddr: A, clientPort: 5000, how: 'end', offset: written },
    ]);
    expect(releasedText(h).get(0)).toBe('hi0;HELLO!@1000;|FIN');
    ssw.send([{ kind: 'ConnClosed', conn: 40 }]);

    // The failure: the coordinator fences epoch 1 (the old incarnation may still be running).
    const coord = hello(logger, 'coordinator', 0);
    const fence = coord.send([{ kind: 'Fence', newEpoch: 2 }]);
    for (const e of fence) if (e.kind === 'close') logger.linkClosed(e.link);
    expect(logger.epoch).toBe(2);
    const before = logger.store.stableDet;
    const reopened = new Link(logger, logger.openLink(), 1);
    const refused = reopened.send([{ kind: 'Hello', role: 'nsw', hostId: 'old', epoch: 1 }]);
    expect(sentTo(refused, reopened.link)).toMatchObject([{ kind: 'Error', code: 'staleEpoch' }]);
    expect(logger.store.stableDet).toBe(before);
    // The old incarnation still gets input and answers it, but that read can never be stored
    // (its link is closed and a reconnect is refused): the answer is held forever (R8.3).
    h.perform(h.core.kernelData(2, enc('zz')));
    h.pump();
    sync(h, nsw);
    expect(h.written.get(1)).toBe('hi1;XYZZ');
    expect(releasedText(h).get(1)).toBe('hi1;XY');

    // Recovery: the new incarnation fetches its log and replays.
    const nsw2 = hello(logger, 'nsw', 2);
    const fetch = nsw2.send([{ kind: 'FetchLog', what: 'nsw' }]);
    const stream = fetch.find((e) => e.kind === 'stream');
    if (stream?.kind !== 'stream') throw new Error('no stream');
    const recovered = wire([...stream.messages], 2).map((x) => x.msg);
    expect(recovered.at(-1)).toMatchObject({ kind: 'ReplayEnd', conns: 1, bytes: 6 });
    const log: Determinant[] = recovered.flatMap((m) =>
      m.kind === 'ReplayDeterminant' ? [m.det] : [],
    );
    expect(log.map((d) => d.kind)).toEqual(h.logged.slice(0, log.length).map((r) => r.det.kind));

    const r = new Harness({ mode: 'replaying', log }, 77_000);
    // Connection 40 was closed: it comes from the logger, as a ghost.
    for (const m of recovered) {
      if (m.kind === 'ReplaySyn')
        r.perform(r.core.kernelAccept(900 + m.conn, m.clientAddr, m.clientPort, true));
      if (m.kind === 'ReplayData') {
        r.perform(r.core.kernelData(900 + m.conn, m.payload));
        if (m.fin) r.perform(r.core.kernelEof(900 + m.conn));
      }
    }
    // Connection 41 is re-created by the SSW and its logged stream injected.
    r.perform(r.core.kernelAccept(7, A, 5001));
    r.perform(r.core.kernelData(7, enc('x')));
    r.perform(r.core.kernelData(7, enc('y')));
    r.pump();
    expect(r.stops).toEqual([]);
    expect(r.core.mode).toBe('live');
    // Everything the old incarnation saw up to the fence, nothing after it (the 'zz' read).
    expect(h.deliveries.at(-1)).toEqual({ kind: 'data', conn: 1, text: 'zz' });
    expect(r.deliveries).toEqual(h.deliveries.slice(0, -1));
    expect(r.written.get(0)).toBe(h.written.get(0));
    // The fenced incarnation's 'zz' is not in the log: the new one has not seen it (the client
    // retransmits it, the SSW logs it again, and it is delivered live).
    expect(releasedText(r).get(1)).toBe('hi1;XY');
    expect(releasedText(r).get(0)).toBeUndefined();
  });

  it('ConnDone survives an outage of the NSW link: sent again when the NSW declares Capabilities, so the connection leaves the NSW and the logger drops its record', () => {
    const logger = new LoggerCore({ epoch: 1, leaseMs: 1000 });
    const ssw = hello(logger, 'ssw', 1);
    ssw.send([{ kind: 'Capabilities', checkpoints: false, unrecorded: false }]);
    const caps = { kind: 'Capabilities', checkpoints: true, unrecorded: false } as const;
    let nsw = hello(logger, 'nsw', 1);
    nsw.send([caps]);
    const syn = {
      conn: 40,
      clientAddr: A,
      clientPort: 5000,
      serverAddr: 1,
      serverPort: 7,
      clientIsn: 10,
      serverIsn: 20,
      clientOpts: o,
      serverOpts: o,
      synTimeMs: 0,
    };
    ssw.send([
      { kind: 'LogSyn', ...syn },
      { kind: 'LogData', conn: 40, seq: 11, payload: enc('q'), fin: true },
    ]);
    const h = new Harness({ mode: 'recording' });
    const every = { everyBytes: 2 ** 40, everyMs: 1000 };
    h.core.enableCheckpoints(every, 0);
    h.perform(h.core.kernelAccept(1, A, 5000));
    h.perform(h.core.kernelData(1, enc('q')));
    h.perform(h.core.kernelEof(1));
    h.pump();
    sync(h, nsw);
    expect(releasedText(h).get(0)).toBe('hi0;Qbye;|FIN');
    // Closed, its close stored, its eof delivered: only ConnDone is missing (R13.10).
    expect(h.core.sizes()).toMatchObject({ conns: 1 });

    // The NSW's logger link is down when the SSW reports the record closed.
    logger.linkClosed(nsw.link);
    h.perform(h.core.linkDown());
    const closed = ssw.send([{ kind: 'ConnClosed', conn: 40 }]);
    expect(closed.filter((e) => e.kind === 'send' && e.msg.kind === 'ConnDone')).toEqual([]);

    // The link joins again: Hello, Capabilities; the ConnDone it missed comes then.
    nsw = hello(logger, 'nsw', 1);
    nsw.sent = h.logged.length;
    const back = sentTo(nsw.send([caps]), nsw.link);
    h.perform(h.core.linkUp());
    expect(back.filter((m) => m.kind === 'ConnDone')).toEqual([{ kind: 'ConnDone', conn: 0 }]);
    for (const m of back) if (m.kind === 'ConnDone') h.perform(h.core.connDone(m.conn));
    expect(h.core.sizes()).toMatchObject({ conns: 0, socks: 0, forgotten: 1 });

    // R13.3: the timed checkpoint no longer lists it; storing it drops the record (R14.5 c).
    expect(h.core.checkpointDue(every.everyMs)).toBe(true);
    const ck = h.core
      .takeCheckpoint(h.snapshot(), () => 0, every.everyMs)
      .flatMap((e) => (e.kind === 'checkpoint' ? e.frames : []));
    expect(ck[0]).toMatchObject({ kind: 'CheckpointBegin', conns: 0 });
    const stored = sentTo(nsw.send(ck), nsw.link);
    expect(stored).toContainEqual(expect.objectContaining({ kind: 'CheckpointStored' }));
    expect(logger.store.hasConn(40)).toBe(false);
  });
});
