// Client-side and server-side captures (tcpdump inside a namespace; files Wireshark opens)
// and the client-side checks the tests make on them with tshark, independent of the system's
// own logs.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Tool } from '../prereq.ts';
import { LAB_WAITS, type LabProc, spawnInNs, stopProc } from './procs.ts';
import { LabError, type NsName } from './topology.ts';

/** What a scenario's captures and their checks run. */
export const CAPTURE_TOOLS: readonly Tool[] = ['tcpdump', 'tshark'];

/** tcpdump's timings, written once. */
const CAPTURE_WAITS = {
  /** its 'listening on' after the start */
  upMs: 5000,
  /** it drops what is still in its capture ring when interrupted: let it drain first */
  drainMs: 300,
  /** its exit after SIGINT (then SIGKILL) */
  stopMs: 3000,
} as const;

export interface Capture {
  readonly path: string;
  readonly proc: LabProc;
}

/** A capture limited to what a question needs: a tcpdump filter and a packet count after
 * which tcpdump stops on its own (a long benchmark run must not fill the disk). */
export interface CaptureBound {
  readonly filter: string;
  readonly maxPackets: number;
}

/** The handshake and teardown segments only (SYN, SYN-ACK, FIN, RST): a few per connection. */
export const HANDSHAKE_FILTER = 'tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0';

/** Starts tcpdump on `ifName` in `ns`, writing `dir/<name>.pcap`; resolves once it listens. */
export const startCapture = async (
  ns: NsName,
  ifName: string,
  dir: string,
  name: string,
  runDir: string,
  snaplen = 256,
  bound?: CaptureBound,
): Promise<Capture> => {
  const path = join(dir, `${name}.pcap`);
  const limit =
    bound === undefined
      ? []
      : ['-c', String(Math.max(1, Math.floor(bound.maxPackets))), bound.filter];
  // -U: write each packet at once, so a capture stopped by a crash scenario is complete.
  const proc = spawnInNs(
    ns,
    `tcpdump-${name}`,
    [
      'tcpdump',
      '-i',
      ifName,
      '-U',
      '--immediate-mode',
      '-n',
      '-s',
      String(snaplen),
      '-w',
      path,
      ...limit,
    ],
    runDir,
  );
  // tcpdump says "listening on" on stderr; poll the log.
  const deadline = Date.now() + CAPTURE_WAITS.upMs;
  const { readFileSync } = await import('node:fs');
  for (;;) {
    let err = '';
    try {
      err = readFileSync(proc.errPath, 'utf8');
    } catch {
      // not yet created
    }
    if (err.includes('listening on')) break;
    if (proc.exited || Date.now() > deadline) {
      await stopProc(proc);
      throw new LabError(`tcpdump on ${ns}/${ifName} did not start: ${err.trim()}`);
    }
    await new Promise((r) => setTimeout(r, LAB_WAITS.pollMs));
  }
  return { path, proc };
};

export const stopCapture = async (c: Capture): Promise<void> => {
  // tcpdump drops what is still in its capture ring when interrupted: let it drain first.
  await new Promise((r) => setTimeout(r, CAPTURE_WAITS.drainMs));
  await stopProc(c.proc, 'SIGINT', CAPTURE_WAITS.stopMs);
};

export interface TcpPacketRow {
  time: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  flags: number;
  seq: number;
  len: number;
}

/** Every TCP packet of the capture (absolute sequence numbers). */
export const readTcp = (path: string): TcpPacketRow[] => {
  const r = spawnSync(
    'tshark',
    [
      '-r',
      path,
      '-n',
      '-o',
      'tcp.relative_sequence_numbers:FALSE',
      '-Y',
      'tcp',
      '-T',
      'fields',
      '-e',
      'frame.time_relative',
      '-e',
      'ip.src',
      '-e',
      'ip.dst',
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
    ],
    { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 },
  );
  if (r.status !== 0) throw new LabError(`tshark -r ${path} failed: ${r.stderr.trim()}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [t, src, dst, sp, dp, flags, seq, len] = l.split('\t');
      return {
        time: Number(t),
        src: src ?? '',
        dst: dst ?? '',
        srcPort: Number(sp),
        dstPort: Number(dp),
        flags: Number(flags),
        seq: Number(seq),
        len: Number(len),
      };
    });
};

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

/** One client handshake as a client-side capture shows it (times in capture seconds). */
export interface HandshakeRow {
  /** client port */
  readonly port: number;
  readonly firstSyn: number;
  /** SYNs the client sent (more than one: retransmissions) */
  readonly syns: number;
  /** first SYN-ACK that reached the client; undefined: none did */
  readonly firstSynAck: number | undefined;
  readonly synAcks: number;
  readonly rsts: number;
}

/** Per client port of `client`, its SYNs and the SYN-ACKs that reached it (the last use of a
 * port wins when a run reuses one). */
export const handshakesOf = (rows: readonly TcpPacketRow[], client: string): HandshakeRow[] => {
  const by = new Map<
    number,
    { firstSyn: number; syns: number; firstSynAck?: number; synAcks: number; rsts: number }
  >();
  for (const r of rows) {
    const synAck = (r.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK);
    if (r.src === client && (r.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
      const h = by.get(r.srcPort);
      if (h === undefined || h.firstSynAck !== undefined)
        by.set(r.srcPort, { firstSyn: r.time, syns: 1, synAcks: 0, rsts: 0 });
      else h.syns++;
    } else if (r.dst === client) {
      const h = by.get(r.dstPort);
      if (h === undefined) continue;
      if (synAck) {
        h.synAcks++;
        h.firstSynAck ??= r.time;
      } else if ((r.flags & TCP_RST) !== 0) h.rsts++;
    }
  }
  return [...by.entries()].map(([port, h]) => ({ port, ...h, firstSynAck: h.firstSynAck }));
};

export interface ClientView {
  packets: number;
  /** connections seen (by client port) */
  connections: number;
  /** every RST from the server: FT-TCP must never make the server reset (I4), also not after
   * both FINs (the SSW answers retransmissions a closed kernel would reset: ssw.md R5.7) */
  serverRsts: number;
  /** of `serverRsts`, those after the connection was closed both ways (FIN each way), shown
   * apart in reports because the client's application had its whole stream by then */
  serverRstsAfterClose: number;
  /** FINs from the server on a connection whose client had not sent its FIN yet */
  serverFinsBeforeClientFin: number;
  /** longest time between two packets from the server (s) */
  maxServerSilence: number;
}

/** What a client capture says about the server's side of the conversation. Only the server
 * may be judged by it: a FIN it sends after the client closed is a normal close. */
export const clientView = (path: string, serverAddr: string): ClientView => {
  const rows = readTcp(path);
  const fromServer = rows.filter((r) => r.src === serverAddr);
  let maxServerSilence = 0;
  for (let i = 1; i < fromServer.length; i++) {
    const a = fromServer[i - 1];
    const b = fromServer[i];
    if (a && b) maxServerSilence = Math.max(maxServerSilence, b.time - a.time);
  }
  const clientFinAt = new Map<number, number>();
  for (const r of rows) {
    if (r.dst === serverAddr && (r.flags & TCP_FIN) !== 0 && !clientFinAt.has(r.srcPort)) {
      clientFinAt.set(r.srcPort, r.time);
    }
  }
  const serverFinAt = new Map<number, number>();
  for (const r of fromServer) {
    if ((r.flags & TCP_FIN) !== 0 && !serverFinAt.has(r.dstPort))
      serverFinAt.set(r.dstPort, r.time);
  }
  const closedAt = (port: number): number =>
    Math.max(clientFinAt.get(port) ?? Infinity, serverFinAt.get(port) ?? Infinity);
  const rsts = fromServer.filter((r) => (r.flags & TCP_RST) !== 0);
  const ports = new Set(rows.filter((r) => r.dst === serverAddr).map((r) => r.srcPort));
  return {
    packets: rows.length,
    connections: ports.size,
    serverRsts: rsts.length,
    serverRstsAfterClose: rsts.filter((r) => r.time >= closedAt(r.dstPort)).length,
    serverFinsBeforeClientFin: fromServer.filter(
      (r) => (r.flags & TCP_FIN) !== 0 && !(r.time >= (clientFinAt.get(r.dstPort) ?? Infinity)),
    ).length,
    maxServerSilence,
  };
};
