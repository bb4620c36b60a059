// "No bypass": a server host's kernel reaches the client LAN only through its SSW. Stop the
// SSW and the client's connection stalls (nothing from the server arrives, not even a reset);
// start it again and the same connection carries on, intact. Judged from the client's side:
// its byte stream and its capture.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../src/runtime/lab/lab.ts';
import { clientView, startCapture, stopCapture } from '../../src/runtime/lab/pcap.ts';
import { stopProc, waitEvent } from '../../src/runtime/lab/procs.ts';
import { ADDR, IF, NS, nsExec } from '../../src/runtime/lab/topology.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('no bypass', () => {
  let lab: Lab | undefined;
  beforeAll(async () => {
    lab = await Lab.create('nobypass');
  });
  afterAll(async () => {
    await lab?.close();
  });

  it('the primary kernel has no interface on the LAN: its only route to clients is its TUN', () => {
    const links = nsExec(NS.primary, 'ip', '-br', 'link')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => (l.split(/\s+/)[0] ?? '').replace(/@.*/, ''))
      .sort();
    expect(links).toEqual(['ftl-tun0', 'ftlr0', 'lo']);
    expect(nsExec(NS.primary, 'ip', 'route', 'get', ADDR.client)).toContain(`dev ${IF.tun}`);
  });

  it('stopping the SSW stalls the connection; restarting it resumes the same connection', async () => {
    if (!lab) throw new Error('lab not up');
    const ssw = await lab.startSsw('primary', { mode: 'forward' });
    await lab.startPlainEcho(NS.primary, ADDR.service, 7000);
    const cap = await startCapture(NS.client, IF.client, lab.runDir, 'client', lab.runDir);
    const bytes = 40_000;
    const stream = lab.startStream('stream', [
      '--connect',
      `${ADDR.service}:7000`,
      '--bytes',
      String(bytes),
      '--chunk',
      '200',
      '--interval-ms',
      '10',
      '--timeout-ms',
      '40000',
    ]);
    await waitEvent(stream.proc, (e) => e.event === 'connected', 20_000, 'client connected');
    await sleep(400);
    const killed = lab.fault('SSW killed (SIGKILL) until restarted');
    await stopProc(ssw, 'SIGKILL');
    const stallMs = 1500;
    await sleep(stallMs);
    await lab.startSsw('primary', { mode: 'forward' });
    killed.end();
    const r = await stream.result;
    await stopCapture(cap);
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.received).toBe(bytes);
    expect(r.receivedSha256).toBe(r.sentSha256);
    expect(r.maxStallMs).toBeGreaterThanOrEqual(stallMs);
    const v = clientView(cap.path, ADDR.service);
    expect(v.serverRsts).toBe(0);
    expect(v.serverFinsBeforeClientFin).toBe(0);
    expect(v.maxServerSilence).toBeGreaterThanOrEqual(stallMs / 1000);
  });
});
