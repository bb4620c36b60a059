// Network namespaces by name (`ip netns add` puts them under /run/netns). setns(2) with
// CLONE_NEWNET moves only the calling thread; a socket stays in the namespace it was created
// in for its whole life. So `inNetns` enters, runs `fn` (which creates sockets), and always
// comes back, leaving the rest of the process where it was.
import { CLONE_NEWNET, O_CLOEXEC, O_RDONLY, sysClose, sysOpen, sysSetns } from './libc.ts';

export const NETNS_DIR = '/run/netns';

export const inNetns = <T>(name: string, fn: () => T): T => {
  const here = sysOpen('/proc/thread-self/ns/net', O_RDONLY | O_CLOEXEC);
  try {
    const there = sysOpen(`${NETNS_DIR}/${name}`, O_RDONLY | O_CLOEXEC);
    try {
      sysSetns(there, CLONE_NEWNET, `enter netns ${name}`);
    } finally {
      sysClose(there);
    }
    try {
      return fn();
    } finally {
      sysSetns(here, CLONE_NEWNET, `return from netns ${name}`);
    }
  } finally {
    sysClose(here);
  }
};
