// The lab's hosts as network namespaces on one machine. Layout (README.md beside this file):
//
//   ftl-client (198.18.0.10, .11) --ftlc0--+
//   ftl-plain  (198.18.0.200)     --ftlq0--+-- ftl-br0 in ftl-lan (the client LAN)
//   ftl-pnic   (no address)       --ftlp0--+      ^ raw socket of the primary's SSW
//   ftl-bnic   (no address)       --ftlb0--+      ^ raw socket of the backup's SSW
//
//   ftl-primary: ftl-tun0 (198.18.0.100/32, route 198.18.0.0/24) --fd--> primary SSW
//                ftlr0 198.19.0.1/24 ---- replication link ---- ftlr1 198.19.0.2/24 :ftl-backup
//   ftl-backup:  ftl-tun0 (198.18.0.100/32, route 198.18.0.0/24) --fd--> backup SSW
//
// A server host's kernel has no interface on the LAN: its only way to a client is its TUN
// device, whose other end is its SSW. Every name starts with `ftl`; every address is in
// 198.18.0.0/15; no namespace has a route out.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import type { Tool } from '../prereq.ts';
import { NETNS_DIR } from '../sys/netns.ts';

/** What building and tearing down the lab runs (`ip netns exec <ns> sysctl`). */
export const LAB_TOOLS: readonly Tool[] = ['ip', 'sysctl'];

export const NS = {
  client: 'ftl-client',
  lan: 'ftl-lan',
  primary: 'ftl-primary',
  backup: 'ftl-backup',
  pnic: 'ftl-pnic',
  bnic: 'ftl-bnic',
  plain: 'ftl-plain',
} as const;
export type NsName = (typeof NS)[keyof typeof NS];
export const ALL_NS: readonly NsName[] = Object.values(NS);

export const ADDR = {
  client: '198.18.0.10',
  client2: '198.18.0.11',
  service: '198.18.0.100',
  plain: '198.18.0.200',
  replPrimary: '198.19.0.1',
  replBackup: '198.19.0.2',
} as const;

export const IF = {
  bridge: 'ftl-br0',
  client: 'ftlc0',
  plain: 'ftlq0',
  pnic: 'ftlp0',
  bnic: 'ftlb0',
  tun: 'ftl-tun0',
  replPrimary: 'ftlr0',
  replBackup: 'ftlr1',
} as const;

/** Fixed MACs so pcaps and ARP tables read the same on every run (locally administered). */
export const MAC = {
  client: '02:f7:00:00:00:10',
  plain: '02:f7:00:00:00:c8',
  pnic: '02:f7:00:00:01:64',
  bnic: '02:f7:00:00:02:64',
} as const;

export const LAN_PREFIX = 24;
export const TUN_MTU = 1500;

export class LabError extends Error {
  override readonly name = 'LabError';
}

export const requireRoot = (): void => {
  if (process.getuid?.() !== 0) {
    throw new LabError('the lab needs root (network namespaces, TUN, raw sockets): run as root');
  }
};

const run = (cmd: string, args: readonly string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; status?: number };
    throw new LabError(`${cmd} ${args.join(' ')} failed (${err.status}): ${err.stderr?.trim()}`);
  }
};
export const ip = (...args: string[]): string => run('ip', args);
export const nsExec = (ns: NsName, cmd: string, ...args: string[]): string =>
  run('ip', ['netns', 'exec', ns, cmd, ...args]);

export const existingLabNs = (): string[] =>
  existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR).filter((n) => n.startsWith('ftl')) : [];

export const isLabUp = (): boolean => existingLabNs().length > 0;

/** Pids of the processes whose network namespace is `ns`. */
export const nsPids = (ns: string): number[] => {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter((s) => s !== '')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0 && n !== process.pid);
};

/** SIGKILLs every process living in namespace `ns` (a host crash, A1 fail-stop). */
export const killNs = (ns: string): number[] => {
  const pids = nsPids(ns);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pids;
};

const sysctlNs = (ns: NsName, ...kv: string[]): void => {
  nsExec(ns, 'sysctl', '-qw', ...kv);
};

const veth = (a: NsName, aIf: string, b: NsName, bIf: string): void => {
  ip('-n', a, 'link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', b);
};

/** Builds the whole lab. Throws LabError if any `ftl*` namespace exists already. */
export const labUp = (): void => {
  requireRoot();
  const present = existingLabNs();
  if (present.length > 0) {
    throw new LabError(
      `lab already up (namespaces ${present.join(', ')}): run 'fttcp lab down' first`,
    );
  }
  try {
    for (const ns of ALL_NS) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      sysctlNs(ns, 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    }
    ip(
      '-n',
      NS.lan,
      'link',
      'add',
      IF.bridge,
      'type',
      'bridge',
      'stp_state',
      '0',
      'forward_delay',
      '0',
    );
    ip('-n', NS.lan, 'link', 'set', IF.bridge, 'up');
    const lanPorts: [NsName, string, string][] = [
      [NS.client, IF.client, MAC.client],
      [NS.plain, IF.plain, MAC.plain],
      [NS.pnic, IF.pnic, MAC.pnic],
      [NS.bnic, IF.bnic, MAC.bnic],
    ];
    for (const [ns, ifName, mac] of lanPorts) {
      const port = `${ifName}b`;
      veth(ns, ifName, NS.lan, port);
      ip('-n', ns, 'link', 'set', ifName, 'address', mac);
      ip('-n', NS.lan, 'link', 'set', port, 'master', IF.bridge);
      ip('-n', NS.lan, 'link', 'set', port, 'up');
      ip('-n', ns, 'link', 'set', ifName, 'up');
    }
    ip('-n', NS.client, 'addr', 'add', `${ADDR.client}/${LAN_PREFIX}`, 'dev', IF.client);
    ip('-n', NS.client, 'addr', 'add', `${ADDR.client2}/${LAN_PREFIX}`, 'dev', IF.client);
    ip('-n', NS.plain, 'addr', 'add', `${ADDR.plain}/${LAN_PREFIX}`, 'dev', IF.plain);
    // The NIC namespaces only carry the servers' raw sockets: no IP at all there.
    for (const ns of [NS.pnic, NS.bnic]) sysctlNs(ns, 'net.ipv4.conf.all.arp_ignore=8');
    for (const host of [NS.primary, NS.backup]) {
      ip('-n', host, 'tuntap', 'add', 'dev', IF.tun, 'mode', 'tun');
      ip('-n', host, 'link', 'set', IF.tun, 'mtu', String(TUN_MTU), 'up');
      ip('-n', host, 'addr', 'add', `${ADDR.service}/32`, 'dev', IF.tun);
      ip(
        '-n',
        host,
        'route',
        'add',
        `198.18.0.0/${LAN_PREFIX}`,
        'dev',
        IF.tun,
        'src',
        ADDR.service,
      );
    }
    veth(NS.primary, IF.replPrimary, NS.backup, IF.replBackup);
    ip('-n', NS.primary, 'addr', 'add', `${ADDR.replPrimary}/24`, 'dev', IF.replPrimary);
    ip('-n', NS.backup, 'addr', 'add', `${ADDR.replBackup}/24`, 'dev', IF.replBackup);
    ip('-n', NS.primary, 'link', 'set', IF.replPrimary, 'up');
    ip('-n', NS.backup, 'link', 'set', IF.replBackup, 'up');
  } catch (e) {
    labDown();
    throw e;
  }
};

/** Kills every process in the lab's namespaces and deletes them. Safe in any state. */
export const labDown = (): { killed: number; removed: string[] } => {
  requireRoot();
  const present = existingLabNs();
  let killed = 0;
  for (const ns of present) killed += killNs(ns).length;
  // A killed process leaves its namespace when it is reaped: wait a bounded while.
  const deadline = Date.now() + 3000;
  while (present.some((ns) => nsPids(ns).length > 0) && Date.now() < deadline) {
    spawnSync('sleep', ['0.05']);
  }
  const removed: string[] = [];
  for (const ns of present) {
    const r = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' });
    if (r.status === 0) removed.push(ns);
  }
  return { killed, removed };
};

export interface LabStatus {
  up: boolean;
  namespaces: { name: string; pids: number[]; links: string[]; addrs: string[] }[];
}

export const labStatus = (): LabStatus => {
  const namespaces = existingLabNs().map((name) => {
    const r = spawnSync('ip', ['-n', name, '-br', 'addr'], { encoding: 'utf8' });
    const lines = r.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('lo '));
    return {
      name,
      pids: nsPids(name),
      links: lines.map((l) => l.split(/\s+/).slice(0, 2).join(' ')),
      addrs: lines.flatMap((l) =>
        l
          .split(/\s+/)
          .slice(2)
          .filter((s) => s !== ''),
      ),
    };
  });
  return { up: namespaces.length > 0, namespaces };
};
