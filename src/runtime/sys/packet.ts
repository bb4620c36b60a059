// An AF_PACKET raw socket bound to one interface: each recv/send is one Ethernet frame.
// Created inside the namespace that holds the interface (the host's NIC namespace), so the
// frames never touch the host kernel's IP stack.
import {
  ifNameToIndex,
  SysError,
  sysBind,
  sysClose,
  sysIoctl,
  sysSetsockoptInt,
  sysSocket,
} from './libc.ts';
import { inNetns } from './netns.ts';
import { encodeIfName } from './tun.ts';

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const ETH_P_ALL_BE = 0x0300; // htons(ETH_P_ALL = 0x0003)
const SOL_SOCKET = 1;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
const SOL_PACKET = 263;
const PACKET_VNET_HDR = 15;
const PACKET_QDISC_BYPASS = 20;
const PACKET_IGNORE_OUTGOING = 23;
const SIOCGIFHWADDR = 0x8927;

/** Socket buffer sizes. A raw socket with the default receive buffer drops frames at once
 * under a bulk transfer, so both are forced to this size (needs CAP_NET_ADMIN). */
export const PACKET_SOCKET_BUFFER = 8 * 1024 * 1024;

export interface PacketSocket {
  readonly fd: number;
  readonly ifIndex: number;
  /** The interface's MAC address (6 bytes). */
  readonly mac: Uint8Array;
}

export interface PacketSocketOptions {
  /** A virtio_net_hdr before each frame both ways (src/wire/vnet.ts): GSO frames of up to
   * 64 KB and partial checksums come in as they are and may go out the same way. */
  readonly offload?: boolean;
}

export const openPacketSocket = (
  netns: string,
  ifName: string,
  o: PacketSocketOptions = {},
): PacketSocket =>
  inNetns(netns, () => {
    const fd = sysSocket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, ETH_P_ALL_BE);
    try {
      const ifIndex = ifNameToIndex(ifName);
      const sll = new Uint8Array(20); // struct sockaddr_ll
      const v = new DataView(sll.buffer);
      v.setUint16(0, AF_PACKET, true);
      v.setUint16(2, ETH_P_ALL_BE, true);
      v.setInt32(4, ifIndex, true);
      sysBind(fd, sll);
      sysSetsockoptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, PACKET_SOCKET_BUFFER);
      sysSetsockoptInt(fd, SOL_SOCKET, SO_SNDBUFFORCE, PACKET_SOCKET_BUFFER);
      // Our own transmissions would otherwise come back to us as received frames.
      sysSetsockoptInt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
      sysSetsockoptInt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1);
      if (o.offload === true) sysSetsockoptInt(fd, SOL_PACKET, PACKET_VNET_HDR, 1);
      const ifr = new Uint8Array(40);
      encodeIfName(ifName, ifr);
      sysIoctl(fd, SIOCGIFHWADDR, ifr, `SIOCGIFHWADDR ${ifName}`);
      const mac = ifr.slice(18, 24); // ifr_hwaddr: sa_family u16 then sa_data
      return { fd, ifIndex, mac };
    } catch (e) {
      sysClose(fd);
      if (e instanceof SysError)
        throw new SysError(e.call, e.errno, `${e.message} (netns ${netns}, if ${ifName})`);
      throw e;
    }
  });
