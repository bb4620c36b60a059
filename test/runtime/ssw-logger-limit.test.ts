// spec/ssw.md L.7 end to end below the lab: the SSW engine core (src/runtime/ssw/engineCore.ts)
// on a real logger daemon over loopback with a small store limit, serving an application
// without checkpoints. At the limit the logger gives the log up (spec/logger.md R15.4) and the
// client keeps getting its bytes acked; before L.7 the SSW ignored `Unprotected`, the logger
// answered nothing more, and the client's acks stopped at the limit: a freeze with nothing
// failed.
import { afterEach, describe, expect, it } from 'vitest';
import { Log, Timeline } from '../../src/runtime/common/log.ts';
import { LoggerServer } from '../../src/runtime/logger/server.ts';
import type { DatapathEvent } from '../../src/runtime/ssw/dataThread.protocol.ts';
import { createCore } from '../../src/runtime/ssw/engineCore.ts';
import { ETHERNET_HEADER_LEN } from '../../src/wire/ethernet.ts';
import { TCP_ACK, TCP_SYN } from '../../src/wire/tcp.ts';
import { NO_OFFLOAD } from '../../src/wire/vnet.ts';
import {
  clientFrame,
  kernelPacket,
  parseIpTcp,
  SERVICE,
  SERVICE_MAC,
} from '../machines/ssw/packets.ts';
import { RawPeer } from './helpers.ts';

const quiet = new Log({ component: 'ssw-limit-test', level: 'error' });
const C_ISN = 1000;
const S_ISN = 5000;
const SEG = 1000;
const TOTAL = 20_000;
const LIMIT = 4096;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('SSW L.7 on a real logger at a limit', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it('L.7: an application without checkpoints past the logger byte limit: the client keeps getting acks, the timeline says unprotected {scope: app}', async () => {
    const loggerLines: string[] = [];
    const server = new LoggerServer({
      listen: { host: '127.0.0.1', port: 0 },
      epoch: 1,
      leaseMs: 60_000,
      log: quiet,
      timeline: new Timeline('logger', { write: (l) => loggerLines.push(l) }),
      storeLimits: { maxStoredBytes: LIMIT, highWaterBytes: LIMIT },
      checkpointWaitMs: 300,
    });
    const port = (await server.start()).port;
    cleanup.push(() => server.close());
    // The links as the SSW's and the NSW's main threads open them: Hello, Capabilities.
    const sswLink = await RawPeer.hello(port, 'ssw');
    cleanup.push(() => sswLink.close());
    sswLink.send({ kind: 'Capabilities', checkpoints: false, unrecorded: false });
    const nswLink = await RawPeer.hello(port, 'nsw');
    cleanup.push(() => nswLink.close());
    nswLink.send({ kind: 'Capabilities', checkpoints: false, unrecorded: false });

    const events: DatapathEvent[] = [];
    let clientAck = 0;
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
      {
        lan: (frame) => {
          const s = parseIpTcp(frame.subarray(ETHERNET_HEADER_LEN));
          if ((s.tcp.flags & TCP_ACK) !== 0) clientAck = Math.max(clientAck, s.tcp.ack ?? 0);
        },
        tun: () => {},
      },
      (e) => events.push(e),
    );
    cleanup.push(() => core.command({ cmd: 'stop' }, performance.now()));
    let fed = 0;
    /** The core's frames to the logger, the logger's answers to the core. */
    const pump = (): void => {
      core.flush();
      for (const e of events) if (e.kind === 'loggerFrames') sswLink.writeRaw(e.bytes);
      const timeline = events.filter((e) => e.kind === 'timeline');
      events.length = 0;
      seen.push(...timeline);
      const msgs = sswLink.got.slice(fed);
      fed = sswLink.got.length;
      if (msgs.length > 0) core.command({ cmd: 'logger', msgs }, performance.now());
    };
    const seen: DatapathEvent[] = [];
    /** Pumps until `done` or `ms` pass; returns whether it came. */
    const pumpUntil = async (done: () => boolean, ms: number): Promise<boolean> => {
      const until = performance.now() + ms;
      for (;;) {
        pump();
        if (done()) return true;
        if (performance.now() > until) return false;
        await sleep(5);
      }
    };

    core.command({ cmd: 'loggerConnected', gen: 1 }, performance.now());
    pump(); // the Welcome RawPeer.hello took
    core.onLanFrame(clientFrame({ seq: C_ISN, flags: TCP_SYN }), performance.now(), NO_OFFLOAD);
    core.onTunPacket(
      kernelPacket({ seq: S_ISN, ack: C_ISN + 1, flags: TCP_SYN | TCP_ACK }),
      performance.now(),
      NO_OFFLOAD,
    );
    // R2: the SYN-ACK goes once the logger stored the record.
    expect(await pumpUntil(() => clientAck === C_ISN + 1, 2000)).toBe(true);

    let sent = 0;
    while (sent < TOTAL) {
      const seq = C_ISN + 1 + sent;
      core.onLanFrame(
        clientFrame({
          seq,
          ack: S_ISN + 1,
          flags: TCP_ACK,
          payload: new Uint8Array(SEG).fill(0x61),
        }),
        performance.now(),
        NO_OFFLOAD,
      );
      sent += SEG;
      // The kernel acks at once; R1.2 passes it on only once the logger stored the bytes.
      core.onTunPacket(
        kernelPacket({ seq: S_ISN + 1, ack: C_ISN + 1 + sent, flags: TCP_ACK }),
        performance.now(),
        NO_OFFLOAD,
      );
      const acked = await pumpUntil(() => clientAck === C_ISN + 1 + sent, 3000);
      if (!acked)
        throw new Error(
          `the client's acks stopped at ${clientAck - C_ISN - 1} of ${sent} bytes (logger limit ${LIMIT})`,
        );
    }
    expect(clientAck).toBe(C_ISN + 1 + TOTAL);
    expect(server.stats.mode).toBe('unprotected');
    expect(core.status()).toMatchObject({ host: { logger: 'unprotected' } });
    const un = seen.find((e) => e.kind === 'timeline' && e.event === 'unprotected');
    expect(un).toMatchObject({ fields: { scope: 'app', from: 'protected', reason: 'storeFull' } });
    // Nothing but heartbeats after the limit: the logger's link saw no store message past it.
    const given = loggerLines.map((l) => JSON.parse(l) as { event: string });
    expect(given.some((e) => e.event === 'unprotected')).toBe(true);
  });
});
