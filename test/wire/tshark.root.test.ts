// External oracles for the wire codec (root project: needs tshark, tcpdump, socat, netns).
//
// 1. Packets *we* emit, written with our pcap writer, are dissected by tshark and compared
//    field by field with our reprs; tshark must call every IPv4 and TCP checksum good, including
//    those produced by incremental rewrites at odd option offsets.
// 2. Packets *Linux* emits (a real handshake and a ~100 KB transfer over lo in a private
//    namespace) are parsed by our codec: every packet must parse, every checksum must be either
//    valid or an honest partial (offload) checksum, the SYN options must be what Linux sends,
//    and the captured client stream must reassemble to exactly the bytes socat sent.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArpPacket,
  type ArpRepr,
  arpGratuitous,
  arpReply,
  arpRequest,
  buildArpFrame,
  ETHERNET_HEADER_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  EthernetFrame,
  emitEthernet,
  emitIpv4,
  emitTcp,
  IP_PROTO_TCP,
  Ipv4Packet,
  type Ipv4Repr,
  ipv4FromString,
  ipv4ToString,
  LINKTYPE_ETHERNET,
  macFromString,
  macToString,
  parseArp,
  parseIpv4,
  parseTcp,
  pcapToBytes,
  readPcap,
  rewriteAck,
  rewriteSackBlocks,
  rewriteSeq,
  rewriteTimestamps,
  rewriteWindow,
  seqAdd,
  seqSub,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  type TcpOption,
  TcpPacket,
  type TcpRepr,
  tcpBufferLen,
  tcpOptionsLength,
  tcpToString,
  toHex,
} from '../../src/wire/index.ts';
import { FC_SEED, seqNum, tcpFlags, u16, u32 } from './arbitraries.ts';

const work = mkdtempSync(join(tmpdir(), 'ftl-wire-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const MAC_A = macFromString('02:00:00:00:00:0a');
const MAC_B = macFromString('02:00:00:00:00:0b');
const IP_A = ipv4FromString('198.18.0.1');
const IP_B = ipv4FromString('198.18.0.2');

type Built =
  | { kind: 'tcp'; frame: Uint8Array; ip: Ipv4Repr; tcp: TcpRepr; label: string }
  | { kind: 'arp'; frame: Uint8Array; arp: ArpRepr; label: string };

function buildTcpFrame(
  tcp: TcpRepr,
  src: number,
  dst: number,
  ipOptions: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const tcpLen = tcpBufferLen(tcp);
  const ipRepr: Ipv4Repr = {
    src,
    dst,
    protocol: IP_PROTO_TCP,
    ttl: 64,
    ident: 0x4242,
    dscp: 0,
    ecn: 0,
    dontFragment: true,
    options: ipOptions,
    payloadLength: tcpLen,
  };
  const frame = new Uint8Array(ETHERNET_HEADER_LEN + 20 + ipOptions.length + tcpLen);
  emitEthernet({ dst: MAC_B, src: MAC_A, ethertype: ETHERTYPE_IPV4 }, frame);
  const ip = emitIpv4(ipRepr, frame.subarray(ETHERNET_HEADER_LEN));
  emitTcp(tcp, ip.payload, src, dst);
  return frame;
}

/** Re-parse a frame we built, so the comparison uses exactly what is on the wire. */
function reparse(frame: Uint8Array): { ip: Ipv4Repr; tcp: TcpRepr; pkt: TcpPacket } {
  const ipP = Ipv4Packet.checked(frame.subarray(ETHERNET_HEADER_LEN));
  if (!ipP.ok) throw new Error(ipP.error.kind);
  const ip = parseIpv4(ipP.value);
  if (!ip.ok) throw new Error(ip.error.kind);
  const t = TcpPacket.checked(ipP.value.payload);
  if (!t.ok) throw new Error(t.error.kind);
  const tcp = parseTcp(t.value, ip.value.src, ip.value.dst);
  if (!tcp.ok) throw new Error(`${tcp.error.kind} ${tcp.error.detail}`);
  return { ip: ip.value, tcp: tcp.value, pkt: t.value };
}

const base = (over: Partial<TcpRepr>): TcpRepr => ({
  srcPort: 50000,
  dstPort: 50001,
  seq: 0xfffffff0,
  ack: undefined,
  flags: 0,
  window: 65535,
  urgent: 0,
  options: [],
  payload: new Uint8Array(0),
  ...over,
});

function handPicked(): Built[] {
  const enc = new TextEncoder();
  const out: Built[] = [];
  const tcp = (label: string, r: TcpRepr, ipOptions?: Uint8Array) => {
    const frame = buildTcpFrame(r, IP_A, IP_B, ipOptions);
    const { ip, tcp: t } = reparse(frame);
    out.push({ kind: 'tcp', frame, ip, tcp: t, label });
  };
  tcp(
    'SYN with every handshake option',
    base({
      flags: TCP_SYN,
      options: [
        { kind: 'mss', mss: 1460 },
        { kind: 'sackPermitted' },
        { kind: 'timestamps', tsVal: 0xdeadbeef, tsEcr: 0 },
        { kind: 'nop' },
        { kind: 'wscale', shift: 7 },
      ],
    }),
  );
  tcp(
    'data with NOP NOP TS',
    base({
      seq: 0xfffffffe, // payload crosses the wrap
      ack: 12345,
      flags: TCP_ACK | TCP_PSH,
      options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamps', tsVal: 1, tsEcr: 2 }],
      payload: enc.encode('hello, tshark'),
    }),
  );
  tcp(
    'ACK with TS and three SACK blocks (40 option bytes)',
    base({
      ack: 0x10,
      flags: TCP_ACK,
      options: [
        { kind: 'nop' },
        { kind: 'nop' },
        { kind: 'timestamps', tsVal: 3, tsEcr: 4 },
        { kind: 'nop' },
        { kind: 'nop' },
        {
          kind: 'sack',
          blocks: [
            { left: 0xffffff00, right: 0xffffff10 },
            { left: 0xffffff20, right: 0x00000010 },
            { left: 0x00000020, right: 0x00000030 },
          ],
        },
      ],
    }),
  );
  tcp(
    'FIN with an unknown option, NOP and EOL; IPv4 options',
    base({
      ack: 7,
      flags: TCP_FIN | TCP_ACK,
      options: [
        { kind: 'unknown', type: 99, data: enc.encode('abcd') },
        { kind: 'nop' },
        { kind: 'eol' },
      ],
    }),
    new Uint8Array([1, 1, 1, 0]), // IPv4 NOP NOP NOP EOL
  );
  // Rewritten in place with incremental checksums, TS and SACK at odd offsets (one NOP first).
  const odd = buildTcpFrame(
    base({
      ack: 100,
      flags: TCP_ACK,
      options: [
        { kind: 'nop' },
        { kind: 'timestamps', tsVal: 5, tsEcr: 6 },
        { kind: 'sack', blocks: [{ left: 1000, right: 2000 }] },
        { kind: 'nop' },
        { kind: 'nop' },
        { kind: 'eol' },
      ],
      payload: enc.encode('odd offsets'),
    }),
    IP_A,
    IP_B,
  );
  {
    const { pkt } = reparse(odd);
    rewriteSeq(pkt, 0x7fffffff);
    rewriteAck(pkt, 0x80000001);
    rewriteWindow(pkt, 1234);
    rewriteTimestamps(pkt, 0xfedcba98, 0x01234567);
    rewriteSackBlocks(pkt, (e) => seqAdd(e, -0x10000));
    const { ip, tcp: t } = reparse(odd);
    out.push({
      kind: 'tcp',
      frame: odd,
      ip,
      tcp: t,
      label: 'incrementally rewritten at odd offsets',
    });
  }
  for (const [label, arp] of [
    ['gratuitous ARP', arpGratuitous(MAC_A, IP_A)],
    ['ARP request', arpRequest(MAC_A, IP_A, IP_B)],
    ['ARP reply', arpReply(MAC_B, IP_B, MAC_A, IP_A)],
  ] as const) {
    out.push({ kind: 'arp', frame: buildArpFrame(arp), arp, label });
  }
  return out;
}

/** Random reprs; unknown option kinds restricted to ones tshark also treats as unknown. */
function randomized(n: number): Built[] {
  const opt: fc.Arbitrary<TcpOption> = fc.oneof(
    fc.constant<TcpOption>({ kind: 'nop' }),
    u16.map<TcpOption>((mss) => ({ kind: 'mss', mss })),
    fc.integer({ min: 0, max: 14 }).map<TcpOption>((shift) => ({ kind: 'wscale', shift })),
    fc.constant<TcpOption>({ kind: 'sackPermitted' }),
    fc
      .array(fc.record({ left: seqNum, right: seqNum }), { minLength: 1, maxLength: 3 })
      .map<TcpOption>((blocks) => ({ kind: 'sack', blocks })),
    fc.record({ tsVal: u32, tsEcr: u32 }).map<TcpOption>((t) => ({ kind: 'timestamps', ...t })),
    fc
      .record({ type: fc.integer({ min: 0x50, max: 0xab }), data: fc.uint8Array({ maxLength: 8 }) })
      .map<TcpOption>((u) => ({ kind: 'unknown', ...u })),
  );
  const options = fc.array(opt, { maxLength: 6 }).map((os) => {
    const out: TcpOption[] = [];
    for (const o of os) if (tcpOptionsLength([...out, o]) <= 39) out.push(o);
    return tcpOptionsLength(out) % 4 === 0 ? out : [...out, { kind: 'eol' } as TcpOption];
  });
  const arb = fc
    .record({
      srcPort: fc.integer({ min: 50000, max: 50999 }),
      dstPort: fc.integer({ min: 51000, max: 51999 }),
      seq: seqNum,
      ackNum: seqNum,
      flags: tcpFlags,
      window: u16,
      urgent: u16,
      options,
      payload: fc.uint8Array({ maxLength: 40 }),
    })
    .map(({ ackNum, ...r }): TcpRepr => ({ ...r, ack: r.flags & TCP_ACK ? ackNum : undefined }));
  return fc.sample(arb, { seed: FC_SEED, numRuns: n }).map((r, i) => {
    const frame = buildTcpFrame(r, IP_A, IP_B);
    const { ip, tcp } = reparse(frame);
    return { kind: 'tcp', frame, ip, tcp, label: `random #${i} (seed ${FC_SEED})` };
  });
}

const FIELDS = [
  'eth.dst',
  'eth.src',
  'eth.type',
  'ip.src',
  'ip.dst',
  'ip.ttl',
  'ip.id',
  'ip.hdr_len',
  'ip.len',
  'ip.flags.df',
  'ip.checksum.status',
  'tcp.srcport',
  'tcp.dstport',
  'tcp.seq_raw',
  'tcp.ack_raw',
  'tcp.flags',
  'tcp.window_size_value',
  'tcp.urgent_pointer',
  'tcp.checksum.status',
  'tcp.len',
  'tcp.payload',
  'tcp.option_kind',
  'tcp.option_len',
  'tcp.options.mss_val',
  'tcp.options.wscale.shift',
  'tcp.options.sack_le',
  'tcp.options.sack_re',
  'tcp.options.timestamp.tsval',
  'tcp.options.timestamp.tsecr',
  'tcp.options.unknown.payload',
  'arp.opcode',
  'arp.src.hw_mac',
  'arp.src.proto_ipv4',
  'arp.dst.hw_mac',
  'arp.dst.proto_ipv4',
  'arp.isgratuitous',
] as const;
type Field = (typeof FIELDS)[number];

function tshark(file: string): Record<Field, string>[] {
  const out = execFileSync(
    'tshark',
    [
      '-r',
      file,
      '-n',
      '-o',
      'tcp.check_checksum:TRUE',
      '-o',
      'ip.check_checksum:TRUE',
      '-o',
      'tcp.relative_sequence_numbers:FALSE',
      '-T',
      'fields',
      '-E',
      'separator=/t',
      '-E',
      'occurrence=a',
      '-E',
      'aggregator=,',
      ...FIELDS.flatMap((f) => ['-e', f]),
    ],
    { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => {
      const cols = line.split('\t');
      return Object.fromEntries(FIELDS.map((f, i) => [f, cols[i] ?? ''])) as Record<Field, string>;
    });
}

const list = (xs: readonly (number | string)[]): string => xs.join(',');

function expectedTcp(b: Extract<Built, { kind: 'tcp' }>): Partial<Record<Field, string>> {
  const { ip, tcp } = b;
  const opts = tcp.options;
  const pick = <K extends TcpOption['kind']>(k: K) =>
    opts.filter((o): o is Extract<TcpOption, { kind: K }> => o.kind === k);
  const kindNum: Record<TcpOption['kind'], number> = {
    eol: 0,
    nop: 1,
    mss: 2,
    wscale: 3,
    sackPermitted: 4,
    sack: 5,
    timestamps: 8,
    unknown: -1,
  };
  const lenOf = (o: TcpOption) => tcpOptionsLength([o]);
  // The raw ack field: our repr drops it when ACK is clear, the packet still carries zeros.
  return {
    'eth.dst': macToString(MAC_B),
    'eth.src': macToString(MAC_A),
    'eth.type': '0x0800',
    'ip.src': ipv4ToString(ip.src),
    'ip.dst': ipv4ToString(ip.dst),
    'ip.ttl': String(ip.ttl),
    'ip.id': `0x${ip.ident.toString(16).padStart(4, '0')}`,
    'ip.hdr_len': String(20 + ip.options.length),
    'ip.len': String(20 + ip.options.length + ip.payloadLength),
    'ip.flags.df': ip.dontFragment ? '1' : '0',
    'ip.checksum.status': '1', // 1 = Good
    'tcp.srcport': String(tcp.srcPort),
    'tcp.dstport': String(tcp.dstPort),
    'tcp.seq_raw': String(tcp.seq),
    'tcp.ack_raw': String(tcp.ack ?? 0),
    'tcp.flags': `0x${tcp.flags.toString(16).padStart(4, '0')}`,
    'tcp.window_size_value': String(tcp.window),
    'tcp.urgent_pointer': String(tcp.urgent),
    'tcp.checksum.status': '1',
    'tcp.len': String(tcp.payload.length),
    // tshark shows the data of a RST as a "reset cause", not as tcp.payload; tcp.len still
    // covers its length.
    'tcp.payload': tcp.flags & TCP_RST ? '' : toHex(tcp.payload),
    'tcp.option_kind': list(opts.map((o) => (o.kind === 'unknown' ? o.type : kindNum[o.kind]))),
    'tcp.option_len': list(opts.filter((o) => o.kind !== 'nop' && o.kind !== 'eol').map(lenOf)),
    'tcp.options.mss_val': list(pick('mss').map((o) => o.mss)),
    'tcp.options.wscale.shift': list(pick('wscale').map((o) => o.shift)),
    'tcp.options.sack_le': list(pick('sack').flatMap((o) => o.blocks.map((x) => x.left))),
    'tcp.options.sack_re': list(pick('sack').flatMap((o) => o.blocks.map((x) => x.right))),
    'tcp.options.timestamp.tsval': list(pick('timestamps').map((o) => o.tsVal)),
    'tcp.options.timestamp.tsecr': list(pick('timestamps').map((o) => o.tsEcr)),
    // tshark adds no payload field for an unknown option with no data (option_len covers it).
    'tcp.options.unknown.payload': list(
      pick('unknown')
        .filter((o) => o.data.length > 0)
        .map((o) => toHex(o.data)),
    ),
  };
}

/** tshark lists every zero byte of padding after EOL as another EOL; we stop at the first. */
const upToFirstEol = (kinds: string): string => {
  if (kinds === '') return '';
  const ks = kinds.split(',');
  const i = ks.indexOf('0');
  return (i < 0 ? ks : ks.slice(0, i + 1)).join(',');
};

describe('tshark dissects what we emit', () => {
  it('every field of every packet agrees, and every checksum is good', () => {
    const built = [...handPicked(), ...randomized(120)];
    const file = join(work, 'emitted.pcap');
    writeFileSync(
      file,
      pcapToBytes(
        LINKTYPE_ETHERNET,
        built.map((b, i) => ({ data: b.frame, ts: { sec: 1_700_000_000 + i, nsec: 123_000 } })),
      ),
    );
    const rows = tshark(file);
    expect(rows).toHaveLength(built.length);
    built.forEach((b, i) => {
      const row = rows[i]!;
      if (b.kind === 'arp') {
        expect(row, b.label).toMatchObject({
          'eth.type': '0x0806',
          'arp.opcode': b.arp.operation === 'request' ? '1' : '2',
          'arp.src.hw_mac': macToString(b.arp.senderMac),
          'arp.src.proto_ipv4': ipv4ToString(b.arp.senderIp),
          'arp.dst.hw_mac': macToString(b.arp.targetMac),
          'arp.dst.proto_ipv4': ipv4ToString(b.arp.targetIp),
        });
        // tshark only adds the field for gratuitous ARPs (value 1).
        expect(row['arp.isgratuitous'], b.label).toBe(b.arp.senderIp === b.arp.targetIp ? '1' : '');
        // And our parser reads tshark's view back.
        const p = ArpPacket.checked(b.frame.subarray(ETHERNET_HEADER_LEN));
        expect(p.ok && parseArp(p.value).ok).toBe(true);
        expect(EthernetFrame.checked(b.frame).ok && new EthernetFrame(b.frame).ethertype).toBe(
          ETHERTYPE_ARP,
        );
        return;
      }
      const want = expectedTcp(b);
      const got = { ...row, 'tcp.option_kind': upToFirstEol(row['tcp.option_kind']) };
      const keys = Object.keys(want) as Field[];
      expect(
        Object.fromEntries(keys.map((k) => [k, got[k]])),
        `${b.label}: ${tcpToString(b.tcp)}`,
      ).toEqual(want);
    });
  });
});

// ---------------------------------------------------------------------------------------
// A real Linux capture.

const NS = `ftlw${process.pid}`;
const PORT = 7411;
const children: ChildProcess[] = [];

function teardown(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  // Deleting the namespace also kills nothing else: every process we started in it is ours.
  try {
    execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
  } catch {
    // not there: teardown is idempotent
  }
}

const waitFor = (what: string, ms: number, cond: () => boolean): Promise<void> =>
  new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      if (cond()) resolve();
      else if (Date.now() - t0 > ms) reject(new Error(`timeout waiting for ${what}`));
      else setTimeout(tick, 20);
    };
    tick();
  });

/** Resolves on 'close' (process exited and its stdio drained), not merely on 'exit'. */
const closed = (c: ChildProcess, ms: number): Promise<void> =>
  new Promise((resolve, reject) => {
    if (c.exitCode !== null || c.signalCode !== null) {
      // Already exited; 'close' follows once stdio is drained (or has already fired).
      if (c.stdout === null || c.stdout.readableEnded) return resolve();
    }
    const t = setTimeout(
      () => reject(new Error(`process ${c.spawnargs.join(' ')} did not exit`)),
      ms,
    );
    c.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });

/** Number of FIN segments in a (possibly still growing) capture; 0 if not readable yet. */
function finsCaptured(file: string): number {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch {
    return 0;
  }
  // A record may be half-written while tcpdump runs; then the reader refuses the file and we
  // simply look again later.
  const f = readPcap(bytes);
  if (!f.ok) return 0;
  let fins = 0;
  for (const r of f.value.records) {
    const ip = Ipv4Packet.checked(r.data.subarray(ETHERNET_HEADER_LEN));
    if (!ip.ok) continue;
    const t = TcpPacket.checked(ip.value.payload);
    if (t.ok && t.value.fin) fins++;
  }
  return fins;
}

describe('our codec parses a real Linux handshake and transfer', () => {
  const pcapFile = join(work, 'linux.pcap');
  const sent = randomBytes(100 * 1024);
  let received = Buffer.alloc(0);
  let dumpLog = '';

  beforeAll(async () => {
    teardown();
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    const srcFile = join(work, 'send.bin');
    writeFileSync(srcFile, sent);

    const dump = spawn(
      'ip',
      [
        'netns',
        'exec',
        NS,
        'tcpdump',
        // Stay root: after dropping to the tcpdump user it could not write into our 0700
        // temporary directory.
        '-Z',
        'root',
        '-i',
        'lo',
        // Deliver each packet as it arrives and flush it to the file at once: otherwise packets
        // wait in the kernel ring for a buffer timeout and are lost when we stop tcpdump.
        '--immediate-mode',
        '-U',
        '-s',
        '0',
        '-w',
        pcapFile,
        'tcp',
        'port',
        String(PORT),
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    children.push(dump);
    let dumpErr = '';
    dump.stderr?.on('data', (d: Buffer) => {
      dumpErr += d.toString();
    });
    await waitFor('tcpdump to listen', 10_000, () => dumpErr.includes('listening on'));

    const server = spawn(
      'ip',
      ['netns', 'exec', NS, 'socat', '-u', `TCP-LISTEN:${PORT},bind=127.0.0.1,reuseaddr`, 'STDOUT'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(server);
    const chunks: Buffer[] = [];
    server.stdout?.on('data', (d: Buffer) => chunks.push(d));
    // Wait until the listener exists (ss inside the namespace), bounded.
    await waitFor('socat to listen', 10_000, () =>
      execFileSync('ip', ['netns', 'exec', NS, 'ss', '-ltnH', `sport = :${PORT}`], {
        encoding: 'utf8',
      }).includes(String(PORT)),
    );
    execFileSync(
      'ip',
      ['netns', 'exec', NS, 'socat', '-u', `FILE:${srcFile}`, `TCP:127.0.0.1:${PORT}`],
      {
        timeout: 20_000,
      },
    );
    await closed(server, 20_000);
    received = Buffer.concat(chunks);
    // Wait until the capture holds both FINs (the close is the last thing on the wire), then
    // stop tcpdump and wait for it to close its streams. Bounded in time.
    await waitFor('the FINs in the capture', 10_000, () => finsCaptured(pcapFile) >= 2);
    dump.kill('SIGINT');
    await closed(dump, 10_000);
    dumpLog = dumpErr;
  }, 90_000);

  afterAll(teardown);

  it('socat moved the bytes (sanity check of the setup)', () => {
    expect(received.length).toBe(sent.length);
    expect(received.equals(sent)).toBe(true);
  });

  it('every captured packet parses; checksums are valid or honestly partial; SYN options are Linux defaults', () => {
    const file = readPcap(new Uint8Array(readFileSync(pcapFile)));
    if (!file.ok) throw new Error(`pcap: ${file.error.kind} ${file.error.detail}`);
    expect(file.value.header.linkType).toBe(LINKTYPE_ETHERNET); // Linux lo captures as EN10MB
    const records = file.value.records;
    expect(records.length, `tcpdump said: ${dumpLog}`).toBeGreaterThan(6);

    const status = { valid: 0, partial: 0, bad: 0 };
    const clientBytes = new Map<number, Uint8Array>(); // seq -> payload, client -> server
    let clientIsn: number | undefined;
    const syns: TcpRepr[] = [];
    for (const [i, rec] of records.entries()) {
      const eth = EthernetFrame.checked(rec.data);
      expect(eth.ok, `record ${i}`).toBe(true);
      if (!eth.ok) continue;
      expect(eth.value.ethertype).toBe(ETHERTYPE_IPV4);
      const ipP = Ipv4Packet.checked(eth.value.payload);
      if (!ipP.ok) throw new Error(`record ${i}: ${ipP.error.kind}`);
      // The IPv4 header checksum is always computed in software: it must verify.
      const ip = parseIpv4(ipP.value);
      if (!ip.ok) throw new Error(`record ${i}: ${ip.error.kind}`);
      const t = TcpPacket.checked(ipP.value.payload);
      if (!t.ok) throw new Error(`record ${i}: ${t.error.kind}`);
      // Loopback leaves TCP checksums CHECKSUM_PARTIAL: the field holds the pseudo-header
      // sum. So parse without verifying, then classify each packet and allow no third kind.
      const tcp = parseTcp(t.value, ip.value.src, ip.value.dst, { verifyChecksum: false });
      if (!tcp.ok) throw new Error(`record ${i}: ${tcp.error.kind} ${tcp.error.detail}`);
      const st = t.value.checksumStatus(ip.value.src, ip.value.dst);
      status[st]++;
      const r = tcp.value;
      if (r.flags & TCP_SYN) syns.push(r);
      if (r.dstPort === PORT) {
        if (r.flags & TCP_SYN && !(r.flags & TCP_ACK)) clientIsn = r.seq;
        if (r.payload.length > 0) clientBytes.set(r.seq, r.payload.slice());
      }

      // The rewrite path on a real packet: in the packet's own checksum mode, then the result
      // must be a correct checksum once completed (partial) or as it stands (valid).
      const copy = new TcpPacket(ipP.value.payload.slice());
      const mode = st === 'partial' ? 'partial' : 'full';
      rewriteAck(copy, seqAdd(copy.ackNumber, 1000), mode);
      rewriteSeq(copy, seqAdd(copy.seqNumber, -1000), mode);
      rewriteWindow(copy, copy.window ^ 0x55, mode);
      rewriteTimestamps(copy, 1, 2, mode);
      if (mode === 'partial') copy.completePartialChecksum();
      expect(copy.verifyChecksum(ip.value.src, ip.value.dst), `record ${i} rewritten (${st})`).toBe(
        true,
      );
    }
    expect(status.bad).toBe(0);
    expect(status.valid + status.partial).toBe(records.length);

    // Handshake: client SYN and server SYN-ACK carry MSS, SACK-permitted, timestamps and
    // window scale, as Linux sends by default.
    expect(syns).toHaveLength(2);
    for (const s of syns) {
      const kinds = new Set(s.options.map((o) => o.kind));
      for (const k of ['mss', 'sackPermitted', 'timestamps', 'wscale'] as const) {
        expect(kinds.has(k), `${tcpToString(s)} lacks ${k}`).toBe(true);
      }
      const mss = s.options.find((o) => o.kind === 'mss');
      expect(mss?.kind === 'mss' && mss.mss).toBeGreaterThan(0);
    }

    // The client's byte stream, rebuilt from the captured segments by sequence number
    // (retransmissions overwrite identical bytes), is exactly what socat sent.
    expect(clientIsn).toBeDefined();
    const stream = new Uint8Array(sent.length);
    const covered = new Uint8Array(sent.length);
    for (const [seq, data] of clientBytes) {
      const off = seqSub(seq, seqAdd(clientIsn!, 1));
      expect(off >= 0 && off + data.length <= sent.length, `segment at offset ${off}`).toBe(true);
      stream.set(data, off);
      covered.fill(1, off, off + data.length);
    }
    expect(covered.every((c) => c === 1)).toBe(true);
    expect(Buffer.from(stream).equals(sent)).toBe(true);
  });
});
