// A TUN device (layer 3: each read/write is one IP packet, no packet-info header). The lab
// pre-creates the device as persistent (`ip tuntap add`) with the host's addresses and routes;
// the SSW attaches to it here. While no fd is attached the device has no carrier and the
// kernel's packets to it are dropped: the host's TCP has no other way out (no bypass).
import { O_CLOEXEC, O_RDWR, SysError, sysClose, sysIoctl, sysOpen } from './libc.ts';

const TUNSETIFF = 0x400454ca;
export const IFF_TUN = 0x0001;
export const IFF_NO_PI = 0x1000;
const IFNAMSIZ = 16;

export const encodeIfName = (name: string, into: Uint8Array): void => {
  const b = Buffer.from(name, 'ascii');
  if (b.length === 0 || b.length >= IFNAMSIZ) {
    throw new RangeError(`interface name '${name}' must be 1..${IFNAMSIZ - 1} ASCII bytes`);
  }
  into.set(b, 0);
};

/** Opens /dev/net/tun and attaches to (or creates) TUN device `name` in the calling thread's
 * network namespace. Returns the fd (blocking). */
export const openTun = (name: string): number => {
  const fd = sysOpen('/dev/net/tun', O_RDWR | O_CLOEXEC);
  try {
    const ifr = new Uint8Array(40); // struct ifreq
    encodeIfName(name, ifr);
    new DataView(ifr.buffer).setUint16(IFNAMSIZ, IFF_TUN | IFF_NO_PI, true);
    sysIoctl(fd, TUNSETIFF, ifr, `TUNSETIFF ${name}`);
    return fd;
  } catch (e) {
    sysClose(fd);
    if (e instanceof SysError && e.errno === 16) {
      throw new SysError(e.call, e.errno, `TUN ${name} is already attached (another SSW running?)`);
    }
    throw e;
  }
};
