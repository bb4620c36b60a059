// Classic libpcap files (not pcapng): what tcpdump -w writes and every tool reads. The writer
// hands bytes to a sink callback (append to a file, collect in memory), so the wire layer does
// no I/O itself; the reader takes a whole file's bytes.

import { get16, get32, set16, set32 } from './bytes.ts';
import { assertWire, fail, ok, type Result, type WireError } from './result.ts';

export const LINKTYPE_ETHERNET = 1; // DLT_EN10MB
export const LINKTYPE_RAW = 101; // raw IPv4/IPv6, no link header (what a TUN carries)

const MAGIC_USEC = 0xa1b2c3d4;
const MAGIC_NSEC = 0xa1b23c4d;
export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
/** Default snap length; also the reader's bound on a record so a corrupt length cannot make
 * it allocate or scan gigabytes (tcpdump uses 262144 too). */
export const PCAP_MAX_SNAPLEN = 262_144;

export interface PcapTimestamp {
  readonly sec: number;
  /** Nanoseconds within the second, whatever the file's resolution. */
  readonly nsec: number;
}

export const pcapTimestampFromMs = (ms: number): PcapTimestamp => {
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: Math.round((ms - sec * 1000) * 1e6) };
};

export interface PcapWriterOptions {
  readonly linkType: number;
  /** Nanosecond timestamps (magic a1b23c4d) instead of microseconds. */
  readonly nanosecond?: boolean;
  readonly snaplen?: number;
  /** Receives the global header at construction, then each record. */
  readonly sink: (bytes: Uint8Array) => void;
}

export class PcapWriter {
  readonly linkType: number;
  readonly nanosecond: boolean;
  readonly snaplen: number;
  private readonly sink: (bytes: Uint8Array) => void;
  private count = 0;

  constructor(opts: PcapWriterOptions) {
    this.linkType = opts.linkType;
    this.nanosecond = opts.nanosecond ?? false;
    this.snaplen = opts.snaplen ?? PCAP_MAX_SNAPLEN;
    this.sink = opts.sink;
    const h = new Uint8Array(PCAP_GLOBAL_HEADER_LEN);
    // Written big-endian: the magic tells readers the byte order, and every reader handles
    // both, so one fixed order keeps files byte-identical across hosts.
    set32(h, 0, this.nanosecond ? MAGIC_NSEC : MAGIC_USEC);
    set16(h, 4, 2);
    set16(h, 6, 4);
    set32(h, 8, 0); // thiszone
    set32(h, 12, 0); // sigfigs
    set32(h, 16, this.snaplen);
    set32(h, 20, this.linkType);
    this.sink(h);
  }

  get packets(): number {
    return this.count;
  }

  /** Appends one record; data longer than the snap length is truncated (orig_len kept). */
  write(data: Uint8Array, ts: PcapTimestamp): void {
    assertWire(ts.nsec >= 0 && ts.nsec < 1e9, `pcap timestamp nsec ${ts.nsec}`);
    const cap = Math.min(data.length, this.snaplen);
    const rec = new Uint8Array(PCAP_RECORD_HEADER_LEN + cap);
    set32(rec, 0, ts.sec >>> 0);
    set32(rec, 4, this.nanosecond ? ts.nsec : Math.floor(ts.nsec / 1000));
    set32(rec, 8, cap);
    set32(rec, 12, data.length);
    rec.set(data.subarray(0, cap), PCAP_RECORD_HEADER_LEN);
    this.sink(rec);
    this.count++;
  }
}

/** Collects a whole pcap in memory: `const p = pcapToBytes(...)` for tests and small traces. */
export function pcapToBytes(
  linkType: number,
  records: readonly { data: Uint8Array; ts: PcapTimestamp }[],
  nanosecond = false,
): Uint8Array {
  const parts: Uint8Array[] = [];
  const w = new PcapWriter({ linkType, nanosecond, sink: (b) => parts.push(b) });
  for (const r of records) w.write(r.data, r.ts);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface PcapHeader {
  readonly linkType: number;
  readonly nanosecond: boolean;
  readonly snaplen: number;
  readonly bigEndian: boolean;
  readonly versionMajor: number;
  readonly versionMinor: number;
}

export interface PcapRecord {
  readonly ts: PcapTimestamp;
  readonly originalLength: number;
  /** Captured bytes (aliases the file buffer). */
  readonly data: Uint8Array;
}

export interface PcapFile {
  readonly header: PcapHeader;
  readonly records: PcapRecord[];
}

const swap32 = (x: number): number =>
  (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;

/** Parses a whole classic pcap file of either byte order and either resolution. */
export function readPcap(buf: Uint8Array): Result<PcapFile, WireError> {
  if (buf.length < PCAP_GLOBAL_HEADER_LEN)
    return fail('truncated', `pcap: ${buf.length} < 24 bytes`);
  const magic = get32(buf, 0);
  let bigEndian: boolean;
  let nanosecond: boolean;
  if (magic === MAGIC_USEC || magic === MAGIC_NSEC) bigEndian = true;
  else if (swap32(magic) === MAGIC_USEC || swap32(magic) === MAGIC_NSEC) bigEndian = false;
  else return fail('badMagic', `pcap: magic 0x${magic.toString(16)}`);
  const u32 = (o: number): number => (bigEndian ? get32(buf, o) : swap32(get32(buf, o)));
  const u16 = (o: number): number => {
    const v = get16(buf, o);
    return bigEndian ? v : ((v & 0xff) << 8) | (v >>> 8);
  };
  nanosecond = u32(0) === MAGIC_NSEC;
  const header: PcapHeader = {
    // Low 16 bits are the link type; the upper ones may carry FCS-length flags (pcap spec).
    linkType: u32(20) & 0xffff,
    nanosecond,
    snaplen: u32(16),
    bigEndian,
    versionMajor: u16(4),
    versionMinor: u16(6),
  };
  if (header.versionMajor !== 2)
    return fail('badVersion', `pcap: version ${header.versionMajor}.${header.versionMinor}`);
  const records: PcapRecord[] = [];
  let o = PCAP_GLOBAL_HEADER_LEN;
  while (o < buf.length) {
    if (buf.length - o < PCAP_RECORD_HEADER_LEN) {
      return fail(
        'truncated',
        `pcap: record ${records.length} header cut at ${buf.length - o} bytes`,
      );
    }
    const sec = u32(o);
    const frac = u32(o + 4);
    const incl = u32(o + 8);
    const orig = u32(o + 12);
    if (incl > PCAP_MAX_SNAPLEN)
      return fail('oversize', `pcap: record ${records.length} length ${incl}`);
    if (frac >= (nanosecond ? 1e9 : 1e6)) {
      return fail('badLength', `pcap: record ${records.length} fraction ${frac}`);
    }
    const start = o + PCAP_RECORD_HEADER_LEN;
    if (buf.length - start < incl) {
      return fail(
        'truncated',
        `pcap: record ${records.length} wants ${incl}, ${buf.length - start} left`,
      );
    }
    records.push({
      ts: { sec, nsec: nanosecond ? frac : frac * 1000 },
      originalLength: orig,
      data: buf.subarray(start, start + incl),
    });
    o = start + incl;
  }
  return ok({ header, records });
}
