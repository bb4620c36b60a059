// R1.3 against a kernel whose receive window closes (a reader that stopped): the right edge the
// client sees is the kernel's, never past it. Named after what it was: the SSW kept an edge
// ahead of the kernel's, so a stopped reader's client retransmitted into segments the kernel
// dropped (past its window, or into the zero window it shrinks to when its receive memory runs
// out), each answered by a duplicate ACK that reopened the window it would not honour, on the
// client's RTO back-off, instead of probing a zero window. Scales as Linux sets them in the lab
// (10 on both sides), so one unit is 1024 bytes.
import { describe, expect, it } from 'vitest';
import { type SswEffect, SswEngine } from '../../../src/machines/ssw/index.ts';
import { arpRequest, buildArpFrame } from '../../../src/wire/arp.ts';
import { seqAdd, seqLe, seqSub } from '../../../src/wire/seq.ts';
import { TCP_ACK, TCP_PSH, TCP_SYN, type TcpOption } from '../../../src/wire/tcp.ts';
import {
  CLIENT,
  CLIENT_MAC,
  CPORT,
  clientFrame,
  kernelPacket,
  lanSegs,
  loggerMsgs,
  type ParsedSeg,
  SERVICE,
  SERVICE_MAC,
  SPORT,
  tunSegs,
} from './packets.ts';

const C_ISN = 3_063_608_706;
const S_ISN = 2_020_136_136;
const WS = 10;
const UNIT = 2 ** WS;
const synOpts: TcpOption[] = [
  { kind: 'mss', mss: 1460 },
  { kind: 'nop' },
  { kind: 'wscale', shift: WS },
];
const BASE = seqAdd(C_ISN, 1);
const S_NEXT = seqAdd(S_ISN, 1);

const copy = (fx: readonly SswEffect[]): SswEffect[] => [...fx];
/** The right edge a segment offers, as the client computes it (RFC 7323 §2.3). */
const edgeOf = (s: ParsedSeg): number => seqAdd(s.tcp.ack ?? 0, s.tcp.window * UNIT);

/** A protected connection whose kernel offered `synAckWindow` bytes in its SYN-ACK. */
function established(synAckWindow: number) {
  const e = new SswEngine({
    serviceAddr: SERVICE,
    serviceMac: SERVICE_MAC,
    mode: 'ftTcp',
    role: 'active',
  });
  copy(e.onLoggerMessage({ kind: 'Welcome', epoch: 1, leaseMs: 1e9 }, 0));
  copy(e.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN, options: synOpts }), 1));
  const sa = copy(
    e.onTunPacket(
      kernelPacket({
        seq: S_ISN,
        ack: BASE,
        flags: TCP_SYN | TCP_ACK,
        window: synAckWindow,
        options: synOpts,
      }),
      2,
    ),
  );
  const logSyn = loggerMsgs(sa)[0];
  if (logSyn?.kind !== 'LogSyn') throw new Error('no LogSyn');
  const conn = logSyn.conn;
  copy(e.onLoggerMessage({ kind: 'SynStored', conn }, 3));
  let now = 4;
  const send = (seq: number, n: number): SswEffect[] => {
    const fx = copy(
      e.onLanFrame(
        clientFrame({
          seq,
          ack: S_NEXT,
          flags: TCP_ACK | TCP_PSH,
          payload: new Uint8Array(n).fill(7),
        }),
        now++,
      ),
    );
    expect(tunSegs(fx).map((s) => s.tcp.seq)).toEqual([seq]);
    return fx;
  };
  const kernelAck = (ack: number, field: number): ParsedSeg[] =>
    lanSegs(
      copy(e.onTunPacket(kernelPacket({ seq: S_NEXT, ack, flags: TCP_ACK, window: field }), now++)),
    );
  const stored = (stableSeq: number): ParsedSeg[] =>
    lanSegs(
      copy(e.onLoggerMessage({ kind: 'DataStored', conn, stableSeq, finLogged: false }, now++)),
    );
  return { e, send, kernelAck, stored };
}

describe('R1.3 the edge the client sees never passes the kernel edge (the half-close stall)', () => {
  it('acks clamped off the scale grid no longer push the edge a unit past a closing kernel window', () => {
    // The kernel offers 8 units (its SYN-ACK said as much) and, its reader stopped, never moves
    // that edge again: each 1024 bytes it takes cost a unit of window, down to zero.
    const { e, send, kernelAck, stored } = established(8 * UNIT);
    const kernelEdge = seqAdd(BASE, 8 * UNIT);
    const seen: ParsedSeg[] = [...kernelAck(BASE, 8)];
    for (let i = 1; i <= 8; i++) {
      const start = seqAdd(BASE, (i - 1) * UNIT);
      // Two segments; the logger stores the first before the kernel's ack comes, so that ack
      // is clamped at an off-grid stableSeq (R1.2), and the second after it (R1.4 pure ACK).
      send(start, 724);
      send(seqAdd(start, 724), 300);
      seen.push(...stored(seqAdd(start, 724)));
      const clamped = kernelAck(seqAdd(start, UNIT), 8 - i);
      expect(clamped.map((s) => s.tcp.ack)).toEqual([seqAdd(start, 724)]);
      seen.push(...clamped);
      const pure = stored(seqAdd(start, UNIT));
      expect(pure.map((s) => s.tcp.ack)).toEqual([seqAdd(start, UNIT)]);
      seen.push(...pure);
    }
    for (const s of seen) {
      expect(seqLe(edgeOf(s), kernelEdge), `edge +${seqSub(edgeOf(s), kernelEdge)}`).toBe(true);
      // Rounded down, it falls short of the kernel's by less than a unit.
      expect(seqSub(kernelEdge, edgeOf(s))).toBeLessThan(UNIT);
    }
    // Every byte the kernel offered is taken: the client is told a zero window, so it probes
    // instead of sending.
    expect(seen.at(-1)?.tcp).toMatchObject({ ack: kernelEdge, window: 0 });
    // A client that still sent past it (the old edge) gets the kernel's duplicate ACK, with the
    // kernel's zero window.
    send(kernelEdge, UNIT);
    expect(stored(seqAdd(kernelEdge, UNIT))).toEqual([]);
    const dup = kernelAck(kernelEdge, 0);
    expect(dup.map((s) => [s.tcp.ack, s.tcp.window])).toEqual([[kernelEdge, 0]]);
    expect(e.connection(CLIENT, CPORT, SPORT)?.rightEdge).toBe(kernelEdge);
  });

  it('the zero window the kernel shrinks to when its receive memory runs out reaches the client as zero', () => {
    const { send, kernelAck, stored } = established(UNIT);
    // One unit offered (Linux rounds a small window up to the scale, and never shrinks it by
    // itself)...
    expect(kernelAck(BASE, 1).map((s) => s.tcp.window)).toEqual([1]);
    // ...the client fills it, the SSW logs the bytes and the logger stores them...
    send(BASE, UNIT);
    expect(stored(seqAdd(BASE, UNIT))).toEqual([]);
    // ...but the kernel has no memory left to queue them: it drops them and answers with its
    // old ack and a zero window (Linux's ICSK_ACK_NOMEM). The client must see that zero, not the
    // unit the SSW offered before, or it retransmits into the drop for as long as the reader
    // stays stopped.
    const dup = kernelAck(BASE, 0);
    expect(dup.map((s) => [s.tcp.ack, s.tcp.window])).toEqual([[BASE, 0]]);
    // The reader drains the queue; the kernel reopens its window and the client goes on.
    expect(kernelAck(BASE, 64).map((s) => [s.tcp.ack, s.tcp.window])).toEqual([[BASE, 64]]);
  });

  it('a SYN-ACK window is not scaled: the go-live prompts of a re-created connection with no bytes offer the new kernel window', () => {
    // A failover of a connection whose client never sent a byte: nothing to inject, so the new
    // kernel's SYN-ACK is the last word on its window when the prompts go out (R6.8).
    const e = new SswEngine({
      serviceAddr: SERVICE,
      serviceMac: SERVICE_MAC,
      mode: 'ftTcp',
      role: 'standby',
    });
    e.takeover(1);
    copy(e.onLoggerMessage({ kind: 'Welcome', epoch: 2, leaseMs: 1e9 }, 2));
    copy(e.onLanFrame(buildArpFrame(arpRequest(CLIENT_MAC, CLIENT, SERVICE)), 2));
    const opts = { mss: 1460, wscale: WS, sackOk: false, tsVal: null, tsEcr: null };
    copy(
      e.startRecovery(
        [
          {
            kind: 'ReplaySyn',
            conn: 3,
            clientAddr: CLIENT,
            clientPort: CPORT,
            serverAddr: SERVICE,
            serverPort: SPORT,
            clientIsn: C_ISN,
            serverIsn: S_ISN,
            clientOpts: opts,
            serverOpts: opts,
            synTimeMs: 0,
            clientAck: S_NEXT,
          },
        ],
        3,
      ),
    );
    const prompts = lanSegs(
      copy(
        e.onTunPacket(
          kernelPacket({
            seq: 90,
            ack: BASE,
            flags: TCP_SYN | TCP_ACK,
            window: 64240,
            options: synOpts,
          }),
          4,
        ),
      ),
    );
    expect(prompts).toHaveLength(3);
    for (const p of prompts) {
      expect(p.tcp.ack).toBe(BASE);
      // 64240 bytes offered: 62 units (63488 bytes), not 64240 units (65 MB).
      expect(p.tcp.window).toBe(Math.floor(64240 / UNIT));
    }
  });
});
