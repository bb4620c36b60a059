// R5.8 an unrecorded application (appRecorded: false): the SSW engine wired to the real
// logger core (src/machines/logger/core.ts, unchanged) over two links, its own (role 'ssw')
// and the recorder link (role 'nsw'). The client's view decides: with the default config a
// kernel FIN of an application that logs no close never reaches the client (R5.1, today's
// behaviour for NSW-wrapped apps); with appRecorded: false it does, exactly at the kernel's
// position, and only after the logger stored the close the SSW recorded (CloseLogged).
import { describe, expect, it } from 'vitest';
import { LoggerCore } from '../../../src/machines/logger/core.ts';
import type { LoggerEffect } from '../../../src/machines/logger/coreContext.ts';
import { type SswConfig, type SswEffect, SswEngine } from '../../../src/machines/ssw/index.ts';
import type { LoggerMessage } from '../../../src/wire/logmsg.ts';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../../../src/wire/tcp.ts';
import {
  CLIENT,
  CPORT,
  clientFrame,
  kernelPacket,
  lanSegs,
  type ParsedSeg,
  SERVICE,
  SERVICE_MAC,
  SPORT,
} from './packets.ts';

const C_ISN = 1000;
const S_ISN = 5000;
const EPOCH = 1;

/** The engine and a logger core, with every message carried at once (bounded). */
function world(over: Partial<SswConfig>, o: { recorderUp?: boolean } = {}) {
  const e = new SswEngine({
    serviceAddr: SERVICE,
    serviceMac: SERVICE_MAC,
    mode: 'ftTcp',
    role: 'active',
    ...over,
  });
  const logger = new LoggerCore({ epoch: EPOCH, leaseMs: 60_000 });
  const client: ParsedSeg[] = [];
  /** Every message the SSW sent on each link, for assertions. */
  const sent = { ssw: [] as LoggerMessage[], recorder: [] as LoggerMessage[] };
  const sswLink = logger.openLink();
  let recLink: number | undefined;
  let now = 0;
  const fromLogger = (fx: LoggerEffect[], budget: { n: number }): void => {
    for (const x of fx) {
      if (x.kind !== 'send' && x.kind !== 'stream') continue;
      const msgs = x.kind === 'send' ? [x.msg] : [...x.messages];
      for (const m of msgs) {
        if (--budget.n < 0) throw new Error('message loop did not settle');
        if (x.link === sswLink) apply([...e.onLoggerMessage(m, now)], budget);
        else if (x.link === recLink) apply([...e.onRecorderMessage(m, now)], budget);
      }
    }
  };
  const apply = (fx: SswEffect[], budget = { n: 1000 }): void => {
    client.push(...lanSegs(fx));
    for (const x of fx) {
      if (x.to === 'logger') {
        sent.ssw.push(x.msg);
        fromLogger(logger.frame(sswLink, EPOCH, x.msg), budget);
      } else if (x.to === 'recorder') {
        sent.recorder.push(x.msg);
        if (recLink !== undefined) fromLogger(logger.frame(recLink, EPOCH, x.msg), budget);
      }
    }
  };
  const hello = (link: number, role: 'ssw' | 'nsw') =>
    fromLogger(
      logger.frame(link, EPOCH, { kind: 'Hello', role, hostId: 'primary', epoch: EPOCH }),
      {
        n: 1000,
      },
    );
  const connectRecorder = (): void => {
    recLink = logger.openLink();
    hello(recLink, 'nsw');
  };
  hello(sswLink, 'ssw');
  if (o.recorderUp !== false) connectRecorder();
  const lan = (f: Uint8Array): void => apply([...e.onLanFrame(f, ++now)]);
  const tun = (p: Uint8Array): void => apply([...e.onTunPacket(p, ++now)]);
  return { e, logger, client, sent, lan, tun, connectRecorder };
}

/** Handshake and one request the application answers, all stored. */
function served(w: ReturnType<typeof world>): void {
  w.lan(clientFrame({ seq: C_ISN, flags: TCP_SYN, options: [{ kind: 'mss', mss: 1460 }] }));
  w.tun(
    kernelPacket({
      seq: S_ISN,
      ack: C_ISN + 1,
      flags: TCP_SYN | TCP_ACK,
      options: [{ kind: 'mss', mss: 1460 }],
    }),
  );
  w.lan(clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK }));
  w.lan(clientFrame({ seq: C_ISN + 1, ack: S_ISN + 1, flags: TCP_ACK | TCP_PSH, payload: 'ping' }));
  w.tun(
    kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 5, flags: TCP_ACK | TCP_PSH, payload: 'pong!' }),
  );
}

const fins = (segs: ParsedSeg[]): ParsedSeg[] => segs.filter((s) => (s.tcp.flags & TCP_FIN) !== 0);
const rsts = (segs: ParsedSeg[]): ParsedSeg[] => segs.filter((s) => (s.tcp.flags & TCP_RST) !== 0);

describe('R5.8 an unrecorded application closes through the SSW', () => {
  it('default (NSW-wrapped): the kernel FIN of an app that logs no close is held, nothing recorded', () => {
    const w = world({});
    served(w);
    w.tun(kernelPacket({ seq: S_ISN + 6, ack: C_ISN + 5, flags: TCP_ACK | TCP_FIN }));
    expect(w.client.map((s) => s.text).join('')).toBe('pong!');
    expect(fins(w.client)).toEqual([]);
    expect(w.sent.recorder).toEqual([]);
    expect(w.e.connection(CLIENT, CPORT, SPORT)?.heldFin).toBe(true);
    expect(w.e.stats.closesRecorded).toBe(0);
  });

  it('appRecorded: false: the FIN is recorded at its position, stored, then released (CloseLogged)', () => {
    const w = world({ appRecorded: false });
    // The recorder learnt the log's length (empty) on its Welcome.
    expect(w.sent.recorder).toEqual([{ kind: 'FetchLog', what: 'nsw' }]);
    served(w);
    // The echo answers and closes: data and FIN in one segment.
    w.tun(
      kernelPacket({
        seq: S_ISN + 6,
        ack: C_ISN + 5,
        flags: TCP_ACK | TCP_PSH | TCP_FIN,
        payload: 'bye',
      }),
    );
    expect(w.sent.recorder.slice(1)).toEqual([
      {
        kind: 'LogDeterminant',
        detSeq: 0,
        det: { kind: 'accept', conn: 1, clientAddr: CLIENT, clientPort: CPORT },
      },
      // offset = bytes written before the close: 'pong!' + 'bye'.
      { kind: 'LogDeterminant', detSeq: 1, det: { kind: 'close', conn: 1, how: 'end', offset: 8 } },
    ]);
    // The logger stored both, so the close is in the log before the client sees the FIN.
    expect(w.logger.store.pendingCloses()).toMatchObject([{ conn: 1, how: 'end', offset: 8 }]);
    const fin = fins(w.client);
    expect(fin).toHaveLength(1);
    expect(fin[0]?.tcp.seq).toBe(S_ISN + 1 + 8);
    expect(w.client.map((s) => s.text).join('')).toBe('pong!bye');
    // The FIN went out once, as the SSW's own FIN+ACK after the data (R5.2).
    expect(w.client.at(-1)?.tcp.flags).toBe(TCP_FIN | TCP_ACK);
    expect(w.e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('closing');
    // A retransmitted FIN is forwarded as the kernel sends it (closing), not recorded again.
    w.tun(kernelPacket({ seq: S_ISN + 9, ack: C_ISN + 5, flags: TCP_ACK | TCP_FIN }));
    expect(fins(w.client)).toHaveLength(2);
    expect(w.sent.recorder).toHaveLength(3);
    expect(w.e.stats.closesRecorded).toBe(1);
  });

  it('appRecorded: false: an RST (close with unread input) is recorded as destroy at its sequence number', () => {
    const w = world({ appRecorded: false });
    served(w);
    w.tun(kernelPacket({ seq: S_ISN + 6, ack: C_ISN + 5, flags: TCP_ACK | TCP_RST }));
    expect(w.sent.recorder.at(-1)).toEqual({
      kind: 'LogDeterminant',
      detSeq: 1,
      det: { kind: 'close', conn: 1, how: 'destroy', offset: 5 },
    });
    expect(rsts(w.client)).toHaveLength(1);
    expect(rsts(w.client)[0]?.tcp.seq).toBe(S_ISN + 6);
    expect(w.e.connection(CLIENT, CPORT, SPORT)).toBeUndefined();
  });

  it('appRecorded: false: a close before the recorder link is up waits for it, then goes', () => {
    const w = world({ appRecorded: false }, { recorderUp: false });
    served(w);
    w.tun(kernelPacket({ seq: S_ISN + 6, ack: C_ISN + 5, flags: TCP_ACK | TCP_FIN }));
    expect(w.sent.recorder).toEqual([]);
    expect(fins(w.client)).toEqual([]);
    w.connectRecorder();
    expect(w.sent.recorder.map((m) => m.kind)).toEqual([
      'FetchLog',
      'LogDeterminant',
      'LogDeterminant',
    ]);
    expect(fins(w.client)).toHaveLength(1);
  });

  it('appRecorded: false: after the app died its FIN is a crash (R5.4): dropped, not recorded', () => {
    const w = world({ appRecorded: false });
    served(w);
    w.e.onAppExit(100);
    w.tun(kernelPacket({ seq: S_ISN + 6, ack: C_ISN + 5, flags: TCP_ACK | TCP_FIN }));
    expect(fins(w.client)).toEqual([]);
    expect(w.sent.recorder.filter((m) => m.kind === 'LogDeterminant')).toEqual([]);
    expect(w.e.connection(CLIENT, CPORT, SPORT)?.mode).toBe('orphaned');
  });

  it('appRecorded: false: a close already logged (by an NSW after all) is not recorded over', () => {
    const w = world({ appRecorded: false });
    served(w);
    w.e.onLoggerMessage(
      { kind: 'CloseLogged', clientAddr: CLIENT, clientPort: CPORT, how: 'end', offset: 9 },
      50,
    );
    // A FIN elsewhere than offset 9 is held (R5.2) and the logged close is left as it is.
    w.tun(kernelPacket({ seq: S_ISN + 6, ack: C_ISN + 5, flags: TCP_ACK | TCP_FIN }));
    expect(fins(w.client)).toEqual([]);
    expect(w.sent.recorder.filter((m) => m.kind === 'LogDeterminant')).toEqual([]);
  });
});
