import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  arpGratuitous,
  buildArpFrame,
  describeEthernet,
  describeIpv4,
  describePacket,
  fromHex,
  ipv4FromString,
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  macFromString,
} from '../../src/wire/index.ts';
import { fcParams } from './arbitraries.ts';

// The tshark-confirmed SYN of ipv4.test.ts.
const SYN_PACKET = fromHex(
  '4500003c1234400040069c60c6120001c61200029c4000070102030400000000a002faf0dc330000' +
    '020405b40402080a112233440000000001030307',
);

describe('describe*', () => {
  it('prints an IPv4/TCP packet as tcpdump -n does', () => {
    expect(describeIpv4(SYN_PACKET, { verifyChecksum: true })).toBe(
      'IP 198.18.0.1.40000 > 198.18.0.2.7: Flags [S], seq 16909060, win 64240, options [mss 1460,sackOK,TS val 287454020 ecr 0,nop,wscale 7], length 0',
    );
    expect(describePacket(SYN_PACKET, LINKTYPE_RAW)).toContain('Flags [S]');
  });

  it('prints errors instead of throwing', () => {
    expect(describeIpv4(SYN_PACKET.subarray(0, 10))).toBe('IP [truncated: ipv4: 10 < 20 bytes]');
    const bad = SYN_PACKET.slice();
    bad[37] = 0x55; // TCP checksum low byte
    expect(describeIpv4(bad, { verifyChecksum: true })).toBe(
      'IP 198.18.0.1 > 198.18.0.2: tcp 40000 > 7 [badChecksum]',
    );
    expect(describeIpv4(bad)).toContain('Flags [S]'); // default: do not verify
  });

  it('prints ARP and IPv4 inside Ethernet', () => {
    const garp = buildArpFrame(
      arpGratuitous(macFromString('02:00:00:00:00:01'), ipv4FromString('198.18.0.1')),
    );
    expect(describeEthernet(garp)).toBe('ARP, Request who-has 198.18.0.1 tell 198.18.0.1');
    const eth = new Uint8Array(14 + SYN_PACKET.length);
    eth[12] = 0x08;
    eth.set(SYN_PACKET, 14);
    expect(describePacket(eth, LINKTYPE_ETHERNET)).toContain('IP 198.18.0.1.40000 > 198.18.0.2.7');
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (b, v) => {
        expect(typeof describeIpv4(b, { verifyChecksum: v })).toBe('string');
        expect(typeof describeEthernet(b, { verifyChecksum: v })).toBe('string');
      }),
      fcParams(3000),
    );
  });
});
