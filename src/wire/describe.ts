// One-line, tcpdump-style descriptions of whole packets for logs, timelines and test failure
// messages. Never throws: a packet that does not parse is described by its error, since the
// moments we most need a readable line are the ones where the bytes are wrong.

import { ipv4ToString, macToString } from './addr.ts';
import { ArpPacket, arpToString, parseArp } from './arp.ts';
import { ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, EthernetFrame } from './ethernet.ts';
import { IP_PROTO_TCP, Ipv4Packet, type Ipv4Repr, parseIpv4 } from './ipv4.ts';
import { LINKTYPE_ETHERNET } from './pcap.ts';
import { parseTcp, TcpPacket, type TcpRepr, tcpToString } from './tcp.ts';

/** "IP 198.18.0.1.40000 > 198.18.0.2.80: Flags [S], seq ..." as tcpdump -n prints it. */
export function ipv4TcpToString(ip: Ipv4Repr, tcp: TcpRepr): string {
  const line = tcpToString(tcp);
  const rest = line.slice(line.indexOf(':') + 1);
  return `IP ${ipv4ToString(ip.src)}.${tcp.srcPort} > ${ipv4ToString(ip.dst)}.${tcp.dstPort}:${rest}`;
}

export interface DescribeOptions {
  /** Verify checksums and report mismatches (default false: captures often carry partial ones). */
  readonly verifyChecksum?: boolean;
}

/** Describes an IPv4 datagram (a TUN packet, a raw-socket packet, a LINKTYPE_RAW record). */
export function describeIpv4(buf: Uint8Array, opts: DescribeOptions = {}): string {
  const p = Ipv4Packet.checked(buf);
  if (!p.ok) return `IP [${p.error.kind}${p.error.detail ? `: ${p.error.detail}` : ''}]`;
  const verify = opts.verifyChecksum ?? false;
  const ip = parseIpv4(p.value, { verifyChecksum: verify });
  const addrs = `${ipv4ToString(p.value.src)} > ${ipv4ToString(p.value.dst)}`;
  if (!ip.ok) return `IP ${addrs} [${ip.error.kind}]`;
  if (ip.value.protocol !== IP_PROTO_TCP)
    return `IP ${addrs}: proto ${ip.value.protocol}, length ${ip.value.payloadLength}`;
  const t = TcpPacket.checked(p.value.payload);
  if (!t.ok) return `IP ${addrs}: tcp [${t.error.kind}]`;
  const tcp = parseTcp(t.value, ip.value.src, ip.value.dst, { verifyChecksum: verify });
  if (!tcp.ok)
    return `IP ${addrs}: tcp ${t.value.srcPort} > ${t.value.dstPort} [${tcp.error.kind}]`;
  return ipv4TcpToString(ip.value, tcp.value);
}

/** Describes an Ethernet frame carrying IPv4 or ARP. */
export function describeEthernet(buf: Uint8Array, opts: DescribeOptions = {}): string {
  const f = EthernetFrame.checked(buf);
  if (!f.ok) return `ether [${f.error.kind}]`;
  const e = f.value;
  if (e.ethertype === ETHERTYPE_IPV4) return describeIpv4(e.payload, opts);
  if (e.ethertype === ETHERTYPE_ARP) {
    const a = ArpPacket.checked(buf.subarray(ETHERNET_HEADER_LEN));
    const r = a.ok ? parseArp(a.value) : a;
    return r.ok ? arpToString(r.value) : `ARP [${r.error.kind}]`;
  }
  return `${macToString(e.src)} > ${macToString(e.dst)}, ethertype 0x${e.ethertype.toString(16).padStart(4, '0')}, length ${buf.length}`;
}

/** Describes a pcap record by its file's link type (EN10MB or RAW). */
export const describePacket = (
  buf: Uint8Array,
  linkType: number,
  opts: DescribeOptions = {},
): string =>
  linkType === LINKTYPE_ETHERNET ? describeEthernet(buf, opts) : describeIpv4(buf, opts);
