// Client-side judges shared by the lab tests (Jepsen's habit: only what the client saw).
import { spawnSync } from 'node:child_process';
import { readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';
import { armPath, heldPath, type TestHookPoint } from '../../src/runtime/common/testhook.ts';
import type { Lab } from '../../src/runtime/lab/lab.ts';
import {
  type Capture,
  clientView,
  readTcp,
  startCapture,
  stopCapture,
  TCP_FIN,
  TCP_SYN,
} from '../../src/runtime/lab/pcap.ts';
import { type LabProc, waitEvent } from '../../src/runtime/lab/procs.ts';
import type { StreamResult } from '../../src/runtime/lab/streamclient.ts';
import { ADDR, IF, NS } from '../../src/runtime/lab/topology.ts';
import { seqAdd, seqGe, seqMax, seqSub } from '../../src/wire/seq.ts';

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

/** Server segments with FIN in a stopped capture (a retransmitted FIN counts again). */
export const serverFins = (cap: Capture): number =>
  readTcp(cap.path).filter((r) => r.src === ADDR.service && (r.flags & TCP_FIN) !== 0).length;

const hookDirOf = (lab: Lab): string => {
  if (lab.hookDir === undefined) throw new Error('test hooks are off in this lab');
  return lab.hookDir;
};

/** Arms a test hook point (src/runtime/common/testhook.ts): the first process to reach it
 * freezes there. */
export const armHook = (lab: Lab, point: TestHookPoint): void =>
  writeFileSync(armPath(hookDirOf(lab), point), '');

/** Waits until a process holds `point`; returns its pid. */
export const waitHookHeld = async (
  lab: Lab,
  point: TestHookPoint,
  timeoutMs: number,
): Promise<number> => {
  const dir = hookDirOf(lab);
  const prefix = `${point}.held.`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const f = readdirSync(dir).find((n) => n.startsWith(prefix));
    if (f !== undefined) return Number(f.slice(prefix.length));
    if (Date.now() > deadline) throw new Error(`hook ${point} not reached within ${timeoutMs} ms`);
    await sleep(10);
  }
};

/** Lets the process that holds `point` go on. */
export const releaseHook = (lab: Lab, point: TestHookPoint, pid: number): void => {
  try {
    unlinkSync(heldPath(hookDirOf(lab), point, pid));
  } catch {
    // released itself at its hold bound
  }
};

export const waitFor = (
  p: LabProc,
  event: string,
  timeoutMs = 20_000,
): Promise<Record<string, unknown>> => waitEvent(p, (e) => e.event === event, timeoutMs, event);

/** Ends the pause of a stream client started with --pause-until-signal. */
export const resumeStream = (client: LabProc): void => {
  const pid = client.child.pid;
  if (pid === undefined || client.exited) throw new Error(`${client.name} is not running`);
  process.kill(pid, 'SIGUSR2');
};

/** pid of the application incarnation the SSW supervises now. */
export const appPid = (ssw: LabProc): number => {
  const starts = ssw.events.filter((e) => e.event === 'app-start');
  const pid = starts.at(-1)?.pid;
  if (typeof pid !== 'number') throw new Error('no application started');
  return pid;
};

/** Kills the application (-9) and waits until the SSW reports the connections live again;
 * the stall check (W.7) knows of the kill until then. */
export const killAppAndWaitLive = async (lab: Lab, ssw: LabProc): Promise<void> => {
  const lives = ssw.events.filter((e) => e.event === 'live').length;
  lab.fault('application killed (SIGKILL)', { until: 'live' });
  process.kill(appPid(ssw), 'SIGKILL');
  await waitEvent(
    ssw,
    () => ssw.events.filter((e) => e.event === 'live').length > lives,
    30_000,
    'live after recovery',
  );
};

/** Waits until the SSW holds the SYN-ACK (R2.1) of a connection whose SYN-ACK it has not
 * released (R2.3): a new connection in its handshake. Returns its `connId`. */
export const waitHeldSynAck = async (ssw: LabProc, timeoutMs = 20_000): Promise<number> => {
  const released = new Set(ssw.events.filter((e) => e.rule === 'R2.3').map((e) => e.conn));
  const e = await waitEvent(
    ssw,
    (e) => e.rule === 'R2.1' && !released.has(e.conn),
    timeoutMs,
    'a held SYN-ACK',
  );
  if (typeof e.conn !== 'number')
    throw new Error(`R2.1 event without a conn: ${JSON.stringify(e)}`);
  return e.conn;
};

/** The SSW has released the SYN-ACK of `conn` (R2.3). */
export const synAckReleased = (ssw: LabProc, conn: number): boolean =>
  ssw.events.some((e) => e.rule === 'R2.3' && e.conn === conn);

/**
 * Whether the client's capture, read while it is still being written (tcpdump -U), shows the
 * server acknowledging the client's FIN: by R1 that ack means the FIN is stored at the logger.
 * Truncated trailing packets are ignored (tshark then exits non-zero but prints what it read).
 */
export const clientFinAcked = (cap: Capture): boolean => {
  const r = spawnSync(
    'tshark',
    [
      '-r',
      cap.path,
      '-n',
      '-o',
      'tcp.relative_sequence_numbers:FALSE',
      '-Y',
      'tcp',
      '-T',
      'fields',
      '-e',
      'ip.src',
      '-e',
      'tcp.srcport',
      '-e',
      'tcp.dstport',
      '-e',
      'tcp.flags',
      '-e',
      'tcp.seq',
      '-e',
      'tcp.len',
      '-e',
      'tcp.ack',
    ],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
  const finEnd = new Map<number, number>(); // client port -> seq after its FIN
  for (const line of r.stdout.split('\n')) {
    const [src, sport, dport, flags, seq, len, ack] = line.split('\t');
    if (src === undefined || ack === undefined) continue;
    if (src !== ADDR.service) {
      if ((Number(flags) & TCP_FIN) !== 0 && !finEnd.has(Number(sport)))
        finEnd.set(Number(sport), seqAdd(Number(seq), Number(len) + 1));
      continue;
    }
    const want = finEnd.get(Number(dport));
    if (want !== undefined && (Number(flags) & 0x10) !== 0 && seqGe(Number(ack), want)) return true;
  }
  return false;
};

/** Polls `clientFinAcked` until it holds (bounded). */
export const waitClientFinAcked = async (cap: Capture, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!clientFinAcked(cap)) {
    if (Date.now() > deadline) throw new Error(`no ack of the client's FIN within ${timeoutMs} ms`);
    await sleep(100);
  }
};

/** One window the server advertised: when (capture clock, s), and its right edge as the
 * receiver computes it (ack + field << the scale of the server's SYN-ACK, RFC 7323 §2.3). */
export interface AdvertisedEdge {
  readonly t: number;
  readonly ack: number;
  readonly field: number;
  readonly edge: number;
}

/** The windows `server` advertised in a capture, after its SYN-ACK (one connection). */
export const advertisedEdges = (path: string, server: string): AdvertisedEdge[] => {
  const r = spawnSync(
    'tshark',
    [
      '-r',
      path,
      '-n',
      '-o',
      'tcp.relative_sequence_numbers:FALSE',
      '-Y',
      `tcp && ip.src == ${server}`,
      '-T',
      'fields',
      '-e',
      'frame.time_epoch',
      '-e',
      'tcp.flags',
      '-e',
      'tcp.ack',
      '-e',
      'tcp.window_size_value',
      '-e',
      'tcp.options.wscale.shift',
    ],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
  let shift: number | undefined;
  const out: AdvertisedEdge[] = [];
  for (const line of r.stdout.split('\n')) {
    const [t, flags, ack, win, ws] = line.split('\t');
    if (t === undefined || win === undefined || ack === undefined || ack === '') continue;
    if ((Number(flags) & TCP_SYN) !== 0) {
      shift = ws === undefined || ws === '' ? 0 : Number(ws);
      continue;
    }
    if (shift === undefined) continue;
    const field = Number(win);
    out.push({
      t: Number(t),
      ack: Number(ack),
      field,
      edge: seqAdd(Number(ack), field * 2 ** shift),
    });
  }
  return out;
};

/**
 * R1.3 judged on the wire: each window the client received against the highest edge the
 * server's kernel had offered by then (its side of the TUN). The SSW forwards a kernel
 * segment after the kernel emitted it, so the kernel capture's clock runs ahead of the
 * client's for the same segment. Returns the client-side edges past the kernel's, with by how
 * many bytes.
 */
export const edgesPastKernel = (
  client: readonly AdvertisedEdge[],
  kernel: readonly AdvertisedEdge[],
): { t: number; ack: number; field: number; past: number }[] => {
  const past: { t: number; ack: number; field: number; past: number }[] = [];
  let k = 0;
  let highest: number | undefined;
  for (const c of client) {
    while (k < kernel.length && (kernel[k]?.t ?? Infinity) <= c.t) {
      const e = kernel[k]?.edge ?? 0;
      highest = highest === undefined ? e : seqMax(highest, e);
      k++;
    }
    if (highest === undefined || seqSub(c.edge, highest) > 0)
      past.push({
        t: c.t,
        ack: c.ack,
        field: c.field,
        past: highest === undefined ? -1 : seqSub(c.edge, highest),
      });
  }
  return past;
};
