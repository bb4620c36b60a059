// A TUN device (layer 3: each read/write is one IP packet, no packet-info header). The lab
// pre-creates the device as persistent (`ip tuntap add`) with the host's addresses and routes;
// the SSW attaches to it here. While no fd is attached the device has no carrier and the
// kernel's packets to it are dropped: the host's TCP has no other way out (no bypass).
//
// With `offload` the device is opened with IFF_VNET_HDR and TUNSETOFFLOAD: every read and write
// then starts with a 10-byte virtio_net_hdr (src/wire/vnet.ts), and the kernel hands over TCP
// segments of up to 64 KB with the checksum left partial (TSO), and accepts the same from us.
// One syscall then moves what took forty; the header says what is still to be done.
import { endianness } from 'node:os';
import { O_CLOEXEC, O_RDWR, SysError, sysClose, sysIoctl, sysIoctlInt, sysOpen } from './libc.ts';

const TUNSETIFF = 0x400454ca;
const TUNSETOFFLOAD = 0x400454d0;
export const IFF_TUN = 0x0001;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
const TUN_F_CSUM = 0x01;
const TUN_F_TSO4 = 0x02;
const TUN_F_TSO_ECN = 0x08;
const IFNAMSIZ = 16;

export const encodeIfName = (name: string, into: Uint8Array): void => {
  const b = Buffer.from(name, 'ascii');
  if (b.length === 0 || b.length >= IFNAMSIZ) {
    throw new RangeError(`interface name '${name}' must be 1..${IFNAMSIZ - 1} ASCII bytes`);
  }
  into.set(b, 0);
};

export interface TunOptions {
  /** virtio_net_hdr before each packet, checksum offload and TSO (IPv4) both ways. */
  readonly offload?: boolean;
}

/** Opens /dev/net/tun and attaches to (or creates) TUN device `name` in the calling thread's
 * network namespace. Returns the fd (blocking). */
export const openTun = (name: string, o: TunOptions = {}): number => {
  if (o.offload === true && endianness() !== 'LE') {
    // The legacy virtio_net_hdr is host-endian; src/wire/vnet.ts reads little-endian.
    throw new RangeError('TUN offload needs a little-endian host');
  }
  const fd = sysOpen('/dev/net/tun', O_RDWR | O_CLOEXEC);
  try {
    const ifr = new Uint8Array(40); // struct ifreq
    encodeIfName(name, ifr);
    const flags = IFF_TUN | IFF_NO_PI | (o.offload === true ? IFF_VNET_HDR : 0);
    new DataView(ifr.buffer).setUint16(IFNAMSIZ, flags, true);
    sysIoctl(fd, TUNSETIFF, ifr, `TUNSETIFF ${name}`);
    if (o.offload === true) {
      sysIoctlInt(
        fd,
        TUNSETOFFLOAD,
        TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN,
        `TUNSETOFFLOAD ${name}`,
      );
    }
    return fd;
  } catch (e) {
    sysClose(fd);
    if (e instanceof SysError && e.errno === 16) {
      throw new SysError(e.call, e.errno, `TUN ${name} is already attached (another SSW running?)`);
    }
    throw e;
  }
};
