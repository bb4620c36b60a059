// The few libc calls the lab needs, bound through koffi. Every wrapper checks the return value
// and throws a SysError naming the call and errno, so a failure says which syscall and why.
// Buffers are passed as `void *`: koffi hands the C function a pointer to the bytes of the
// Uint8Array, with no copy, so a blocking read fills the caller's buffer directly.
import koffi from 'koffi';

export class SysError extends Error {
  override readonly name = 'SysError';
  constructor(
    readonly call: string,
    readonly errno: number,
    detail: string,
  ) {
    super(`${call}: ${errnoName(errno)} (errno ${errno})${detail ? `: ${detail}` : ''}`);
  }
}

const lib = koffi.load('libc.so.6');

const c = {
  open: lib.func('int open(const char *path, int flags)'),
  close: lib.func('int close(int fd)'),
  read: lib.func('long read(int fd, void *buf, unsigned long count)'),
  write: lib.func('long write(int fd, const void *buf, unsigned long count)'),
  // ioctl is variadic; on x86-64 and aarch64 a fixed third pointer argument has the same ABI.
  ioctl: lib.func('int ioctl(int fd, unsigned long req, void *arg)'),
  // The same call for requests whose argument is a plain integer (TUNSETOFFLOAD).
  ioctlInt: lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']),
  socket: lib.func('int socket(int domain, int type, int protocol)'),
  bind: lib.func('int bind(int fd, const void *addr, uint32_t len)'),
  setsockopt: lib.func(
    'int setsockopt(int fd, int level, int name, const void *val, uint32_t len)',
  ),
  setns: lib.func('int setns(int fd, int nstype)'),
  poll: lib.func('int poll(void *fds, unsigned long nfds, int timeout)'),
  fcntl: lib.func('int fcntl(int fd, int cmd, int arg)'),
  ifNametoindex: lib.func('unsigned int if_nametoindex(const char *name)'),
  gettid: lib.func('int gettid()'),
  eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
};

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(koffi.os.errno as Record<string, number>).map(([k, v]) => [v, k]),
);
export const errnoName = (e: number): string => ERRNO_NAMES.get(e) ?? `E?${e}`;
export const EAGAIN = 11;
export const EINTR = 4;

const check = (call: string, r: number | bigint, detail = ''): number => {
  const n = Number(r);
  if (n < 0) throw new SysError(call, koffi.errno(), detail);
  return n;
};

export const O_RDWR = 0o2;
export const O_RDONLY = 0;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

export const sysOpen = (path: string, flags: number): number =>
  check('open', c.open(path, flags), path);

export const sysClose = (fd: number): void => {
  check('close', c.close(fd), `fd ${fd}`);
};

/** Blocking read; returns the byte count (0 at end of file). Retries EINTR. */
export const sysRead = (fd: number, buf: Uint8Array, len = buf.byteLength): number => {
  for (;;) {
    const n = Number(c.read(fd, buf, len));
    if (n >= 0) return n;
    const e = koffi.errno();
    if (e !== EINTR) throw new SysError('read', e, `fd ${fd}`);
  }
};

/** Read that returns -1 instead of throwing when a non-blocking fd has nothing (EAGAIN). */
export const sysReadNb = (fd: number, buf: Uint8Array, len = buf.byteLength): number => {
  for (;;) {
    const n = Number(c.read(fd, buf, len));
    if (n >= 0) return n;
    const e = koffi.errno();
    if (e === EAGAIN) return -1;
    if (e !== EINTR) throw new SysError('read', e, `fd ${fd}`);
  }
};

export const sysWrite = (fd: number, buf: Uint8Array, len = buf.byteLength): number => {
  for (;;) {
    const n = Number(c.write(fd, buf, len));
    if (n >= 0) return n;
    const e = koffi.errno();
    if (e !== EINTR) throw new SysError('write', e, `fd ${fd}, ${len} bytes`);
  }
};

/** Write that reports the errno instead of throwing (a raw socket may refuse a frame; a lost
 * frame is the network's right, a crash is not). Returns bytes written or -errno. */
export const sysWriteSoft = (fd: number, buf: Uint8Array, len = buf.byteLength): number => {
  const n = Number(c.write(fd, buf, len));
  return n >= 0 ? n : -koffi.errno();
};

export const sysIoctl = (fd: number, req: number, arg: Uint8Array | null, what: string): number =>
  check('ioctl', c.ioctl(fd, req, arg), what);

/** ioctl whose third argument is an integer value, not a pointer. */
export const sysIoctlInt = (fd: number, req: number, arg: number, what: string): number =>
  check('ioctl', c.ioctlInt(fd, req, arg), what);

export const sysSocket = (domain: number, type: number, protocol: number): number =>
  check('socket', c.socket(domain, type, protocol));

export const sysBind = (fd: number, addr: Uint8Array): void => {
  check('bind', c.bind(fd, addr, addr.byteLength), `fd ${fd}`);
};

export const sysSetsockoptInt = (fd: number, level: number, name: number, v: number): void => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  check('setsockopt', c.setsockopt(fd, level, name, b, 4), `level ${level} name ${name}`);
};

export const sysSetsockopt = (fd: number, level: number, name: number, v: Uint8Array): void => {
  check(
    'setsockopt',
    c.setsockopt(fd, level, name, v, v.byteLength),
    `level ${level} name ${name}`,
  );
};

export const CLONE_NEWNET = 0x40000000;
export const sysSetns = (fd: number, nstype: number, what: string): void => {
  check('setns', c.setns(fd, nstype), what);
};

export const POLLIN = 0x1;
/** poll(2) on a pollfd array built by `pollFds`; returns the number of ready fds (0 on timeout). */
export const sysPoll = (fds: Uint8Array, nfds: number, timeoutMs: number): number => {
  for (;;) {
    const n = Number(c.poll(fds, nfds, timeoutMs));
    if (n >= 0) return n;
    const e = koffi.errno();
    if (e !== EINTR) throw new SysError('poll', e, '');
  }
};
/** struct pollfd { int fd; short events; short revents; } x n, all waiting for POLLIN. */
export const pollFds = (fds: readonly number[]): Uint8Array => {
  const b = new Uint8Array(8 * fds.length);
  const v = new DataView(b.buffer);
  fds.forEach((fd, i) => {
    v.setInt32(i * 8, fd, true);
    v.setInt16(i * 8 + 4, POLLIN, true);
  });
  return b;
};
export const pollRevents = (fds: Uint8Array, i: number): number =>
  new DataView(fds.buffer, fds.byteOffset).getInt16(i * 8 + 6, true);

const F_GETFL = 3;
const F_SETFL = 4;
export const setNonBlocking = (fd: number, on: boolean): void => {
  const fl = check('fcntl', c.fcntl(fd, F_GETFL, 0));
  check('fcntl', c.fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK));
};

export const ifNameToIndex = (name: string): number => {
  const i = Number(c.ifNametoindex(name));
  if (i === 0) throw new SysError('if_nametoindex', koffi.errno(), name);
  return i;
};

export const sysGettid = (): number => Number(c.gettid());

export const EFD_NONBLOCK = 0o4000;
export const sysEventfd = (flags: number): number => check('eventfd', c.eventfd(0, flags));
