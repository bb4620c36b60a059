// A reader that stops (the application SIGSTOPped) while its client keeps sending small
// segments, so that the server kernel's receive window closes; the same case on the plain
// kernel path (no wrapper) and on FT-TCP. The client must see what the kernel offers (R1.3): an
// edge never past the kernel's, and its zero window, which the client probes instead of
// retransmitting into drops; once the reader resumes, the stream completes. Named after what it
// was: the half-close stall, where the SSW kept an edge ahead of the kernel's (rounded up at
// every ack clamped off the scale's grid, kept where the kernel's window closed) and a stopped
// reader's client retransmitted the same 1024 bytes into the kernel's drops, every answer a
// duplicate ACK with a window the kernel did not offer. Judged on the wire: the client's
// capture against the kernel's own side (the plain host's interface, the primary's TUN).
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADDR, APP_PORT, Lab } from '../../src/runtime/lab/lab.ts';
import { type Capture, startCapture, stopCapture } from '../../src/runtime/lab/pcap.ts';
import { IF, NS, type NsName } from '../../src/runtime/lab/topology.ts';
import {
  advertisedEdges,
  appPid,
  clientCapture,
  edgesPastKernel,
  expectCaptureClean,
  expectStreamIntact,
  sleep,
  waitFor,
} from './helpers.ts';

/** 100-byte writes, 1 ms apart: acks land off the 1024-byte grid of the lab's window scale,
 * and 300 kB fill any receive buffer a reader that never read can have. */
const BYTES = 300_000;

/** Kernel counters of the server's namespace that say why it dropped a client segment. */
const dropCounters = (ns: NsName): Record<string, number> => {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nstat', '-asz'], { encoding: 'utf8' });
  const out: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    const [name, value] = line.split(/\s+/);
    if (name && /BeyondWindow|ZeroWindowDrop|RcvQDrop|PruneCalled/.test(name))
      out[name] = Number(value);
  }
  return out;
};

const waitUntil = async (cond: () => boolean, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
  return true;
};

describe('a stopped reader: the client sees the kernel window (the half-close stall)', () => {
  let lab: Lab | undefined;
  beforeEach(async (ctx) => {
    lab = await Lab.create(`reader-${ctx.task.name.replace(/[^a-z]+/gi, '-').slice(0, 30)}`);
  });
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });
  const up = (): Lab => {
    if (!lab) throw new Error('lab not up');
    return lab;
  };

  const stoppedReader = async (
    lab: Lab,
    server: { addr: string; port: number; ns: NsName; kernelIf: string; pid: number },
  ): Promise<void> => {
    const cap = await clientCapture(lab, 'client');
    const kernel: Capture = await startCapture(
      server.ns,
      server.kernelIf,
      lab.runDir,
      'kernel',
      lab.runDir,
    );
    const s = lab.startStream('stopped-reader', [
      '--connect',
      `${server.addr}:${server.port}`,
      '--mode',
      'upload',
      '--bytes',
      String(BYTES),
      '--chunk',
      '100',
      '--interval-ms',
      '1',
      '--timeout-ms',
      '60000',
    ]);
    await waitFor(s.proc, 'connected');
    // W.7: the client waits on a reader stopped on purpose; its stall is this fault's.
    const stopped = lab.fault('reader stopped (SIGSTOP)');
    process.kill(server.pid, 'SIGSTOP');
    let zeroSeen = false;
    try {
      await waitFor(s.proc, 'half-closed', 30_000);
      // Every byte is written; the kernel has taken what its window allows. The client must
      // be told a zero window (the kernel's own, at its edge) and so probe.
      zeroSeen = await waitUntil(
        () => advertisedEdges(cap.path, server.addr).some((e) => e.field === 0),
        10_000,
      );
      // Room for the client's probes or retransmissions while the reader stays stopped.
      await sleep(1000);
    } finally {
      process.kill(server.pid, 'SIGCONT');
      stopped.end();
    }
    const counters = dropCounters(server.ns);
    const past = edgesPastKernel(
      advertisedEdges(cap.path, server.addr),
      advertisedEdges(kernel.path, server.addr),
    );
    const worst = past.reduce((m, p) => Math.max(m, p.past), 0);
    expect(
      past.length,
      `windows past the kernel edge: ${past.length}, by up to ${worst} bytes, first ${JSON.stringify(past.slice(0, 3))} (kernel counters ${JSON.stringify(counters)})`,
    ).toBe(0);
    expect(zeroSeen, `no zero window (kernel counters ${JSON.stringify(counters)})`).toBe(true);
    const r = await s.result;
    expectStreamIntact(r, BYTES);
    expect(r.serverFin).toBe(true);
    await stopCapture(kernel);
    await expectCaptureClean(cap);
  };

  it('plain kernel (no wrapper): the zero window, no edge past the kernel', async () => {
    const lab = up();
    const echo = await lab.startPlainEcho(NS.plain, ADDR.plain, APP_PORT.echo);
    const pid = echo.child.pid;
    if (pid === undefined) throw new Error('plain echo has no pid');
    await stoppedReader(lab, {
      addr: ADDR.plain,
      port: APP_PORT.echo,
      ns: NS.plain,
      kernelIf: IF.plain,
      pid,
    });
  });

  it('R1.3 FT-TCP: the edge the client sees never passes the kernel edge; the zero window reaches the client', async () => {
    const lab = up();
    await lab.startLogger(['--lease-ms', '60000']);
    // The reader is stopped as a device, not a fault: with the hang watch on (R10.2) the SSW
    // would kill and recover it after a second, and the window would open again.
    const ssw = await lab.startFtTcpPrimary({ app: 'echo', extraArgs: ['--app-hang-ms', '0'] });
    await stoppedReader(lab, {
      addr: ADDR.service,
      port: APP_PORT.echo,
      ns: NS.primary,
      kernelIf: IF.tun,
      pid: appPid(ssw),
    });
  });
});
