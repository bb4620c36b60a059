// "Arbitrary bytes never make a parser throw": every parser of untrusted input is fed random
// byte strings and random mutations of valid packets, and must return a Result whose error, if
// any, has a known kind. The file counts the cases it ran and insists on at least 100,000.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeFrame,
  EthernetFrame,
  emitTcp,
  encodeFrame,
  FrameDecoder,
  findSackBlocks,
  findTimestamps,
  Ipv4Packet,
  LINKTYPE_RAW,
  parseArpBytes,
  parseEthernet,
  parseIpv4,
  parseTcp,
  parseTcpOptions,
  pcapToBytes,
  type Result,
  readPcap,
  rewriteSackBlocks,
  rewriteTimestamps,
  TcpPacket,
  tcpBufferLen,
  type WireError,
} from '../../src/wire/index.ts';
import { fcParams, tcpReprArb } from './arbitraries.ts';

const KINDS = new Set([
  'truncated',
  'badHeaderLength',
  'badVersion',
  'badChecksum',
  'optionOverrun',
  'badOption',
  'synFin',
  'fragment',
  'oversize',
  'badMagic',
  'badLength',
  'unsupported',
  'badAddress',
  'poisoned',
]);

let cases = 0;
const checkResult = (r: Result<unknown, WireError>): void => {
  if (!r.ok) expect(KINDS.has(r.error.kind), r.error.kind).toBe(true);
};

const bytes = (max: number) => fc.uint8Array({ maxLength: max });

/** Random bit flips, byte overwrites and truncation of a valid input. */
const mutated = (valid: fc.Arbitrary<Uint8Array>) =>
  fc
    .tuple(
      valid,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(),
    )
    .map(([b0, edits, cut]) => {
      const b = b0.slice();
      for (const [at, v] of edits) if (b.length > 0) b[at % b.length] = v;
      return b.length > 0 && cut % 4 === 0 ? b.subarray(0, cut % b.length) : b;
    });

const validSegment = tcpReprArb().map((r) => {
  const buf = new Uint8Array(tcpBufferLen(r));
  emitTcp(r, buf, 1, 2);
  return buf;
});

/** A valid IPv4 header (checksum right) carrying arbitrary bytes, to reach past the header. */
const validIpv4 = fc.tuple(validSegment, fc.integer({ min: 0, max: 10 })).map(([seg, optWords]) => {
  const hl = 20 + 4 * optWords;
  const b = new Uint8Array(hl + seg.length);
  b[0] = 0x40 | (hl / 4);
  b[2] = b.length >>> 8;
  b[3] = b.length & 0xff;
  b[9] = 6;
  b.set(seg, hl);
  new Ipv4Packet(b).fillChecksum();
  return b;
});

const tcpAll = (seg: Uint8Array): void => {
  const p = TcpPacket.checked(seg);
  checkResult(p);
  if (p.ok) {
    checkResult(parseTcp(p.value, 1, 2));
    checkResult(parseTcp(p.value, 1, 2, { verifyChecksum: false }));
    findTimestamps(p.value);
    findSackBlocks(p.value);
    rewriteTimestamps(p.value, 1, 2);
    rewriteSackBlocks(p.value, (e) => e + 1);
    p.value.checksumStatus(1, 2);
  }
};

const ipv4All = (b: Uint8Array): void => {
  const p = Ipv4Packet.checked(b);
  checkResult(p);
  if (p.ok) {
    checkResult(parseIpv4(p.value));
    const r = parseIpv4(p.value, { verifyChecksum: false });
    checkResult(r);
    if (r.ok && p.value.protocol === 6) tcpAll(p.value.payload);
  }
};

const run = (arb: fc.Arbitrary<Uint8Array>, f: (b: Uint8Array) => void, n: number): void => {
  fc.assert(
    fc.property(arb, (b) => {
      cases++;
      f(b);
    }),
    fcParams(n),
  );
};

describe('arbitrary bytes never make a parser throw', () => {
  it('TCP: random bytes', () => run(bytes(80), tcpAll, 20_000));
  it('TCP: mutated valid segments', () => run(mutated(validSegment), tcpAll, 15_000));
  it('TCP options area', () => run(bytes(44), (b) => checkResult(parseTcpOptions(b)), 10_000));
  it('IPv4: random bytes', () => run(bytes(80), ipv4All, 10_000));
  it('IPv4: mutated valid datagrams', () => run(mutated(validIpv4), ipv4All, 10_000));
  it('Ethernet and ARP', () =>
    run(
      bytes(64),
      (b) => {
        const e = EthernetFrame.checked(b);
        checkResult(e);
        if (e.ok) checkResult(parseEthernet(e.value));
        checkResult(parseArpBytes(b));
      },
      10_000,
    ));
  it('frames: random bytes, and mutated valid frames in random chunks', () => {
    run(bytes(64), (b) => checkResult(decodeFrame(b)), 10_000);
    const validFrame = fc
      .record({ type: fc.nat(255), epoch: fc.nat(), body: bytes(40) })
      .map((f) => encodeFrame(f));
    fc.assert(
      fc.property(mutated(validFrame), fc.array(fc.nat(20), { maxLength: 5 }), (b, cuts) => {
        cases++;
        const d = new FrameDecoder({ maxBody: 64 });
        let at = 0;
        for (const c of [...cuts, b.length]) {
          const next = Math.min(b.length, at + c);
          checkResult(d.push(b.subarray(at, next)));
          at = next;
        }
        checkResult(d.finish());
      }),
      fcParams(10_000),
    );
  });
  it('pcap: random bytes and mutated valid files', () => {
    run(bytes(80), (b) => checkResult(readPcap(b)), 5_000);
    const validPcap = fc.array(bytes(30), { maxLength: 3 }).map((ds) =>
      pcapToBytes(
        LINKTYPE_RAW,
        ds.map((data) => ({ data, ts: { sec: 1, nsec: 0 } })),
      ),
    );
    run(mutated(validPcap), (b) => checkResult(readPcap(b)), 5_000);
  });
});

afterAll(() => {
  // Guards against someone lowering the counts below the bar set for this suite.
  expect(cases).toBeGreaterThanOrEqual(100_000);
});
