// The data-path thread's binding of the FT-TCP engine (src/runtime/ssw/engineCore.ts) across a
// failover and then a local recovery the coordinator fenced at a new epoch (spec/ssw.md L.6):
// the log is fetched once welcomed in each new epoch, frames carry the epoch the main thread's
// link joined with, and the expected staleEpoch refusal of the co-located logger does not fence
// the new primary.
import { describe, expect, it } from 'vitest';
import type { DatapathEvent } from '../../src/runtime/ssw/dataThread.protocol.ts';
import { createCore } from '../../src/runtime/ssw/engineCore.ts';
import { FrameDecoder } from '../../src/wire/frame.ts';
import { decodeMessage, type LoggerMessage } from '../../src/wire/logmsg.ts';
import { TCP_ACK, TCP_SYN } from '../../src/wire/tcp.ts';
import { NO_OFFLOAD } from '../../src/wire/vnet.ts';
import { clientFrame, kernelPacket, SERVICE, SERVICE_MAC } from '../machines/ssw/packets.ts';

const sent = (events: DatapathEvent[]): { gen: number; epoch: number; msg: LoggerMessage }[] =>
  events.flatMap((e) => {
    if (e.kind !== 'loggerFrames') return [];
    const r = new FrameDecoder().push(e.bytes);
    if (!r.ok) throw new Error(`frame error ${r.error.kind}`);
    return r.value.map((f) => {
      const m = decodeMessage(f);
      if (!m.ok) throw new Error(`message error ${m.error.kind}`);
      return { gen: e.gen, epoch: f.epoch, msg: m.value };
    });
  });

describe('SSW engine core: epochs across a failover and a local recovery', () => {
  it('fetches the log in each new epoch; a co-located logger refusing the old one does not fence', () => {
    const events: DatapathEvent[] = [];
    const core = createCore(
      {
        kind: 'engine',
        mode: 'ftTcp',
        mac: [2, 0, 0, 0, 0, 1],
        serviceIp: 0xc6120064,
        active: false,
        hostId: 'backup',
        epoch: 1,
        leaseMarginMs: 40,
        recreateRetryMs: 20,
        unprotectAfterMs: 1000,
      },
      { lan: () => {}, tun: () => {} },
      (e) => events.push(e),
    );
    const take = (): { gen: number; epoch: number; msg: LoggerMessage }[] => {
      core.flush();
      return sent(events.splice(0));
    };
    const logger = (msgs: LoggerMessage[], now: number) =>
      core.command({ cmd: 'logger', msgs }, now);
    const replay: LoggerMessage[] = [{ kind: 'ReplayEnd', conns: 0, bytes: 0, dets: 0 }];

    core.command({ cmd: 'takeover', id: 1, epoch: 2 }, 10);
    core.command({ cmd: 'loggerConnected', gen: 1 }, 10);
    expect(take()).toEqual([]);
    logger([{ kind: 'Welcome', epoch: 2, leaseMs: 800 }], 11);
    expect(take()).toEqual([{ gen: 1, epoch: 2, msg: { kind: 'FetchLog', what: 'ssw' } }]);
    logger(replay, 12);
    core.command({ cmd: 'appStarted' }, 13);
    expect(core.status()).toMatchObject({ host: { role: 'active', logger: 'colocated' } });

    // The application on the new primary dies; its coordinator fences the logger at epoch 3.
    core.command({ cmd: 'appExit' }, 5000);
    logger([{ kind: 'Error', code: 'staleEpoch', message: 'epoch 2 < 3: fenced' }], 5001);
    expect(core.status()).toMatchObject({ host: { role: 'active', logger: 'colocated' } });
    core.command({ cmd: 'appStarted', epoch: 3 }, 5002);
    core.command({ cmd: 'loggerDisconnected' }, 5002);
    core.command({ cmd: 'loggerConnected', gen: 2 }, 5002);
    // No fetch before the logger has welcomed the SSW in the new epoch...
    expect(take().filter((f) => f.msg.kind === 'FetchLog')).toEqual([]);
    logger([{ kind: 'Welcome', epoch: 3, leaseMs: 800 }], 5003);
    // ...then at once, in it.
    expect(take()).toEqual([{ gen: 2, epoch: 3, msg: { kind: 'FetchLog', what: 'ssw' } }]);
    logger(replay, 5004);
    expect(core.status()).toMatchObject({
      host: { role: 'active', logger: 'colocated', app: 'appRunning' },
    });
    core.command({ cmd: 'stop' }, 5005);
  });

  it('a local recovery told app-started after a second takeover, before its Welcome, fetches at the Welcome (failure path 2: CRASH_MID_REPLAY, epoch 3)', () => {
    const events: DatapathEvent[] = [];
    const core = createCore(
      {
        kind: 'engine',
        mode: 'ftTcp',
        mac: [2, 0, 0, 0, 0, 1],
        serviceIp: 0xc6120064,
        active: false,
        hostId: 'backup',
        epoch: 1,
        leaseMarginMs: 40,
        recreateRetryMs: 20,
        unprotectAfterMs: 1000,
      },
      { lan: () => {}, tun: () => {} },
      (e) => events.push(e),
    );
    const fetches = (): { gen: number; epoch: number }[] => {
      core.flush();
      return sent(events.splice(0))
        .filter((f) => f.msg.kind === 'FetchLog')
        .map((f) => ({ gen: f.gen, epoch: f.epoch }));
    };
    const logger = (msgs: LoggerMessage[], now: number) =>
      core.command({ cmd: 'logger', msgs }, now);
    core.command({ cmd: 'takeover', id: 1, epoch: 2 }, 10);
    core.command({ cmd: 'loggerConnected', gen: 1 }, 10);
    logger([{ kind: 'Welcome', epoch: 2, leaseMs: 800 }], 11);
    expect(fetches()).toEqual([{ gen: 1, epoch: 2 }]);
    logger([{ kind: 'ReplayEnd', conns: 0, bytes: 0, dets: 0 }], 12);
    core.command({ cmd: 'appStarted', epoch: 2 }, 13);
    // The replaying application dies; the coordinator fences epoch 3 and takes over again:
    // the takeover switches the epoch, so the app-started that follows carries no new one.
    core.command({ cmd: 'appExit' }, 100);
    logger([{ kind: 'Error', code: 'staleEpoch', message: 'epoch 2 < 3: fenced' }], 101);
    core.command({ cmd: 'loggerDisconnected' }, 101);
    core.command({ cmd: 'takeover', id: 2, epoch: 3 }, 102);
    core.command({ cmd: 'appStarted' }, 103);
    expect(fetches()).toEqual([]);
    core.command({ cmd: 'loggerConnected', gen: 2 }, 104);
    logger([{ kind: 'Welcome', epoch: 3, leaseMs: 800 }], 105);
    // Before the fix: the app-started asked for the log before the Welcome, the FetchLog was
    // dropped (nothing goes out unwelcomed) and no fetch ever followed.
    expect(fetches()).toEqual([{ gen: 2, epoch: 3 }]);
    core.command({ cmd: 'stop' }, 106);
  });

  it('R1.7: between a reconnect and the Welcome nothing is sent; then the resend, then the rest', () => {
    const events: DatapathEvent[] = [];
    const core = createCore(
      {
        kind: 'engine',
        mode: 'ftTcp',
        mac: [...SERVICE_MAC],
        serviceIp: SERVICE,
        active: true,
        hostId: 'primary',
        epoch: 1,
        leaseMarginMs: 40,
        recreateRetryMs: 20,
        unprotectAfterMs: 1000,
      },
      { lan: () => {}, tun: () => {} },
      (e) => events.push(e),
    );
    const take = () => {
      core.flush();
      return sent(events.splice(0)).map((f) => ({
        gen: f.gen,
        kind: f.msg.kind,
        ...(f.msg.kind === 'LogData' ? { text: new TextDecoder().decode(f.msg.payload) } : {}),
      }));
    };
    // The TUN read buffer keeps 14 bytes of headroom in front of each packet (tunHeadroom).
    const tun = (pkt: Uint8Array): Uint8Array => {
      const b = new Uint8Array(14 + pkt.length);
      b.set(pkt, 14);
      return b.subarray(14);
    };
    const cIsn = 1000;
    const sIsn = 5000;
    const data = (off: number, text: string) =>
      core.onLanFrame(
        clientFrame({
          seq: cIsn + 1 + off,
          ack: sIsn + 1,
          flags: TCP_ACK,
          payload: text,
        }),
        20 + off,
        NO_OFFLOAD,
      );
    core.command({ cmd: 'loggerConnected', gen: 1 }, 1);
    core.command({ cmd: 'logger', msgs: [{ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }] }, 2);
    core.onLanFrame(
      clientFrame({ seq: cIsn, flags: TCP_SYN, options: [{ kind: 'mss', mss: 1460 }] }),
      3,
      NO_OFFLOAD,
    );
    core.onTunPacket(
      tun(
        kernelPacket({
          seq: sIsn,
          ack: cIsn + 1,
          flags: TCP_SYN | TCP_ACK,
          options: [{ kind: 'mss', mss: 1460 }],
        }),
      ),
      4,
      NO_OFFLOAD,
    );
    expect(take()).toEqual([{ gen: 1, kind: 'LogSyn' }]);
    core.command({ cmd: 'logger', msgs: [{ kind: 'SynStored', conn: 1 }] }, 5);
    data(0, 'abc');
    // R2.7: the first ack of the SYN-ACK (here with data) also says the record is established.
    expect(take()).toEqual([
      { gen: 1, kind: 'ConnEstablished' },
      { gen: 1, kind: 'LogData', text: 'abc' },
    ]);
    core.command({ cmd: 'loggerDisconnected' }, 30);
    core.command({ cmd: 'loggerConnected', gen: 2 }, 31);
    data(3, 'def');
    expect(take()).toEqual([]);
    core.command({ cmd: 'logger', msgs: [{ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }] }, 40);
    data(6, 'ghi');
    expect(take()).toEqual([
      { gen: 2, kind: 'LogData', text: 'abc' },
      { gen: 2, kind: 'LogData', text: 'def' },
      { gen: 2, kind: 'LogData', text: 'ghi' },
    ]);
  });

  it('W.5: after each tick the watchdog reports a connection waiting on DataStored as a stall event; a logger link down is sat out', () => {
    const events: DatapathEvent[] = [];
    const core = createCore(
      {
        kind: 'engine',
        mode: 'ftTcp',
        mac: [...SERVICE_MAC],
        serviceIp: SERVICE,
        active: true,
        hostId: 'primary',
        epoch: 1,
        leaseMarginMs: 40,
        recreateRetryMs: 20,
        unprotectAfterMs: 1000,
        stallBudgetMs: 500,
      },
      { lan: () => {}, tun: () => {} },
      (e) => events.push(e),
    );
    const tun = (pkt: Uint8Array): Uint8Array => {
      const b = new Uint8Array(14 + pkt.length);
      b.set(pkt, 14);
      return b.subarray(14);
    };
    const timeline = (name: string) =>
      events.flatMap((e) => (e.kind === 'timeline' && e.event === name ? [e.fields] : []));
    const ticks = (from: number, to: number) => {
      for (let t = from; t < to; t += 10) {
        core.nextTickMs(t, 10);
        core.maybeTick(t);
      }
    };
    core.command({ cmd: 'loggerConnected', gen: 1 }, 1);
    core.command({ cmd: 'logger', msgs: [{ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }] }, 2);
    core.onLanFrame(clientFrame({ seq: 1000, flags: TCP_SYN }), 3, NO_OFFLOAD);
    core.onTunPacket(
      tun(kernelPacket({ seq: 5000, ack: 1001, flags: TCP_SYN | TCP_ACK })),
      4,
      NO_OFFLOAD,
    );
    core.command({ cmd: 'logger', msgs: [{ kind: 'SynStored', conn: 1 }] }, 5);
    core.onLanFrame(
      clientFrame({ seq: 1001, ack: 5001, flags: TCP_ACK, payload: 'abc' }),
      6,
      NO_OFFLOAD,
    );
    core.onTunPacket(tun(kernelPacket({ seq: 5001, ack: 1004, flags: TCP_ACK })), 7, NO_OFFLOAD);
    // The link drops before DataStored: a lost logger, sat out however long it lasts.
    core.command({ cmd: 'loggerDisconnected' }, 8);
    ticks(10, 3000);
    expect(timeline('stall')).toEqual([]);
    // Back and welcomed, and still no DataStored: a stall of the SSW one budget later.
    core.command({ cmd: 'loggerConnected', gen: 2 }, 3000);
    core.command({ cmd: 'logger', msgs: [{ kind: 'Welcome', epoch: 1, leaseMs: 60_000 }] }, 3000);
    ticks(3000, 3600);
    const [stall, ...more] = timeline('stall');
    expect(more).toEqual([]);
    expect(stall).toMatchObject({
      rule: 'W.1',
      conn: 1,
      client: `198.18.0.10:40000`,
      server: '198.18.0.1:7000',
      pending: 'data',
      holder: 'ssw',
      why: 'ackClamped',
      afterFailure: 'loggerLost',
      engine: { sentAck: 1001, kernelAck: 1004, stableSeq: 1001, loggedSeq: 1004 },
      host: { condition: 'healthy', loggerLink: 'up' },
    });
    expect(stall?.sinceWallMs).toBe(Math.round(performance.timeOrigin + 3000));
    core.command(
      { cmd: 'logger', msgs: [{ kind: 'DataStored', conn: 1, stableSeq: 1004, finLogged: false }] },
      3600,
    );
    ticks(3600, 3700);
    expect(timeline('stall-over')).toMatchObject([{ conn: 1, endedBy: 'progress' }]);
  });
});
