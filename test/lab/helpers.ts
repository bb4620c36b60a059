// Client-side judges shared by the lab tests (Jepsen's habit: only what the client saw).
import { expect } from 'vitest';
import type { Lab } from '../../src/runtime/lab/lab.ts';
import { type Capture, clientView, startCapture, stopCapture } from '../../src/runtime/lab/pcap.ts';
import { type LabProc, waitEvent } from '../../src/runtime/lab/procs.ts';
import type { StreamResult } from '../../src/runtime/lab/streamclient.ts';
import { ADDR, IF, NS } from '../../src/runtime/lab/topology.ts';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The stream arrived whole: same bytes as sent (hash), nothing missing, no error. */
export const expectStreamIntact = (r: StreamResult, bytes: number): void => {
  expect(r.error, JSON.stringify(r)).toBeUndefined();
  expect(r.ok).toBe(true);
  expect(r.received).toBe(bytes);
  expect(r.receivedSha256).toBe(r.sentSha256);
};

export const clientCapture = (lab: Lab, name: string): Promise<Capture> =>
  startCapture(NS.client, IF.client, lab.runDir, name, lab.runDir);

/** The client's capture: no RST from the server at all (also none after both FINs: the SSW
 * answers the client's retransmissions once the kernel's socket is gone, ssw.md R5.7), no FIN
 * the client did not ask for. */
export const expectCaptureClean = async (cap: Capture): Promise<void> => {
  await stopCapture(cap);
  const v = clientView(cap.path, ADDR.service);
  expect(v.serverRsts, `server RSTs in ${cap.path}`).toBe(0);
  expect(v.serverFinsBeforeClientFin, `unasked server FINs in ${cap.path}`).toBe(0);
};

export const waitFor = (
  p: LabProc,
  event: string,
  timeoutMs = 20_000,
): Promise<Record<string, unknown>> => waitEvent(p, (e) => e.event === event, timeoutMs, event);

/** pid of the application incarnation the SSW supervises now. */
export const appPid = (ssw: LabProc): number => {
  const starts = ssw.events.filter((e) => e.event === 'app-start');
  const pid = starts.at(-1)?.pid;
  if (typeof pid !== 'number') throw new Error('no application started');
  return pid;
};

/** Kills the application (-9) and waits until the SSW reports the connections live again. */
export const killAppAndWaitLive = async (ssw: LabProc): Promise<void> => {
  const lives = ssw.events.filter((e) => e.event === 'live').length;
  process.kill(appPid(ssw), 'SIGKILL');
  await waitEvent(
    ssw,
    () => ssw.events.filter((e) => e.event === 'live').length > lives,
    30_000,
    'live after recovery',
  );
};
