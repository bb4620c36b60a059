// What a command needs from the machine, checked before it starts anything. Each entry point
// (the `fttcp lab` commands, the demo, the root tests' global set-up, bench/lab.ts, the TLC
// scripts) declares the outside programs it will run; the lab's also need root, network
// namespaces and /dev/net/tun. A missing program is installed with apt-get when that can be
// done here (root, apt-get on PATH, not turned off), else the command stops at once with the
// exact command to run: no lab is built and no scenario reports a verdict about a program that
// was not there.
//
// `decide` is the whole policy, pure; `checkPrereqs` gathers the facts, runs apt-get and checks
// again; `requirePrereqs` prints and exits. Exit codes: 3 a program is missing, 4 the machine
// cannot host the lab (not root, no network namespaces, no TUN).
import { type StdioOptions, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { match } from 'ts-pattern';

/** Every outside program the project runs, and the Debian package that provides it. */
export const PACKAGE_OF = {
  ip: 'iproute2',
  ss: 'iproute2',
  sysctl: 'procps',
  pgrep: 'procps',
  unshare: 'util-linux',
  tcpdump: 'tcpdump',
  tshark: 'tshark',
  'redis-benchmark': 'redis-tools',
  'redis-cli': 'redis-tools',
  iperf3: 'iperf3',
  socat: 'socat',
  curl: 'curl',
  wrk: 'wrk',
  'iptables-legacy': 'iptables',
  java: 'default-jre-headless',
} as const;
export type Tool = keyof typeof PACKAGE_OF;

export interface Needs {
  /** the command as messages name it: `fttcp lab demo`, `bench:lab` */
  readonly what: string;
  readonly tools: readonly Tool[];
  /** root, network namespaces and /dev/net/tun: it builds the lab */
  readonly lab: boolean;
}

export const EXIT_MISSING_TOOL = 3;
export const EXIT_NO_LAB_HOST = 4;
export type PrereqExit = typeof EXIT_MISSING_TOOL | typeof EXIT_NO_LAB_HOST;

/** What the machine offers, as `decide` needs it. */
export interface Facts {
  readonly root: boolean;
  readonly missing: readonly Tool[];
  readonly aptGet: boolean;
  /** why no network namespace can be made; undefined when it can or was not probed */
  readonly netnsError?: string | undefined;
  /** why /dev/net/tun cannot be opened; undefined when it can or was not probed */
  readonly tunError?: string | undefined;
}

/** may-install: apt-get is allowed; no-install: it is turned off; installed: it just ran. */
export type InstallMode = 'may-install' | 'no-install' | 'installed';

export type Decision =
  | { readonly kind: 'ok' }
  | { readonly kind: 'install'; readonly packages: readonly string[] }
  | { readonly kind: 'stop'; readonly code: PrereqExit; readonly lines: readonly string[] };

/** The programs to look for: the lab's probe of network namespaces runs `unshare`. */
export const toolsOf = (needs: Needs): Tool[] => [
  ...new Set<Tool>(needs.lab ? [...needs.tools, 'unshare'] : needs.tools),
];

/** The Debian packages that provide `tools`, sorted, each once. */
export const packagesOf = (tools: readonly Tool[]): string[] =>
  [...new Set(tools.map((t) => PACKAGE_OF[t]))].sort();

export const installCommand = (packages: readonly string[], root: boolean): string => {
  const sudo = root ? '' : 'sudo ';
  return `${sudo}apt-get update && ${sudo}apt-get install -y ${packages.join(' ')}`;
};

const NEEDS_ROOT = 'needs root (network namespaces, TUN devices, raw sockets)';

const missingLine = (missing: readonly Tool[]): string =>
  `missing ${missing.join(', ')} (Debian packages: ${packagesOf(missing).join(' ')})`;

const missingTools = (needs: Needs, f: Facts, mode: InstallMode): Decision => {
  const packages = packagesOf(f.missing);
  const stop = (...lines: string[]): Decision => ({
    kind: 'stop',
    code: EXIT_MISSING_TOOL,
    lines: [missingLine(f.missing), ...lines],
  });
  return match({ mode, apt: f.aptGet, root: f.root })
    .with({ mode: 'installed' }, () =>
      stop(
        `still missing after apt-get install -y ${packages.join(' ')}: is their directory on PATH?`,
      ),
    )
    .with({ apt: false }, () =>
      stop(
        `no apt-get on PATH: install them with the system's package manager (on Debian: ${installCommand(packages, f.root)})`,
      ),
    )
    .with(
      { apt: true, root: true, mode: 'may-install' },
      (): Decision => ({
        kind: 'install',
        packages,
      }),
    )
    .with({ apt: true, root: true, mode: 'no-install' }, () =>
      stop(`install them with: ${installCommand(packages, true)}`),
    )
    .with({ apt: true, root: false }, () =>
      stop(
        `install them with: ${installCommand(packages, false)}`,
        ...(needs.lab ? [`it also ${NEEDS_ROOT}: run it with sudo, which installs them too`] : []),
      ),
    )
    .exhaustive();
};

/** The policy: install, stop (with the lines to print) or go on. */
export const decide = (needs: Needs, f: Facts, mode: InstallMode): Decision => {
  if (f.missing.length > 0) return missingTools(needs, f, mode);
  if (!needs.lab) return { kind: 'ok' };
  const lines = [
    ...(f.root ? [] : [`${NEEDS_ROOT}: run it with sudo`]),
    ...(f.netnsError === undefined
      ? []
      : [
          `cannot create a network namespace (${f.netnsError}): the lab needs a kernel and a container that allow them`,
        ]),
    ...(f.tunError === undefined
      ? []
      : [
          `cannot open /dev/net/tun (${f.tunError}): load the tun module (modprobe tun) or give the container the device`,
        ]),
  ];
  return lines.length === 0 ? { kind: 'ok' } : { kind: 'stop', code: EXIT_NO_LAB_HOST, lines };
};

// ---- I/O ----

/** The executable file `name` in one of PATH's directories, like the shell's lookup. */
export const findOnPath = (name: string, path: string | undefined): string | undefined => {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
};

/** The machine's side of the facts; tests replace it to pretend to be root. */
export interface System {
  isRoot(): boolean;
  /** why no network namespace can be made, or undefined */
  probeNetns(unshare: string): string | undefined;
  /** why /dev/net/tun cannot be opened, or undefined */
  probeTun(): string | undefined;
}

export const realSystem: System = {
  isRoot: () => process.getuid?.() === 0,
  probeNetns: (unshare) => {
    // An anonymous namespace, gone when the shell exits: no name the lab could collide with.
    const r = spawnSync(unshare, ['--net', '/bin/sh', '-c', 'exit 0'], {
      encoding: 'utf8',
      timeout: 5000,
    });
    if (r.status === 0) return undefined;
    return (r.error?.message ?? r.stderr.trim()) || `unshare exited ${r.status ?? r.signal}`;
  },
  probeTun: () => {
    try {
      closeSync(openSync('/dev/net/tun', 'r+'));
      return undefined;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? String(e);
    }
  },
};

export interface CheckOptions {
  /** apt-get may run (the caller has applied --no-install and FTTCP_NO_INSTALL) */
  readonly install: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly system?: System;
  /** where the one-line install notice goes */
  readonly say?: (line: string) => void;
}

export type CheckResult =
  | { readonly ok: true; readonly installed: readonly string[] }
  | { readonly ok: false; readonly code: PrereqExit; readonly lines: readonly string[] };

/** Where sudo looks besides a user's PATH (Debian's secure_path): `ip` and `sysctl` live there. */
export const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'] as const;

const gather = (needs: Needs, env: NodeJS.ProcessEnv, sys: System): Facts => {
  const root = sys.isRoot();
  // A user must run a lab command again with sudo: look where it will look then.
  const path =
    needs.lab && !root
      ? [env.PATH ?? '', ...SBIN_DIRS].filter((d) => d !== '').join(delimiter)
      : env.PATH;
  const missing = toolsOf(needs).filter((t) => findOnPath(t, path) === undefined);
  // Probed only when they could be the last thing missing (unshare is among the tools).
  const unshare =
    needs.lab && root && missing.length === 0 ? findOnPath('unshare', env.PATH) : undefined;
  return {
    root,
    missing,
    aptGet: findOnPath('apt-get', env.PATH) !== undefined,
    netnsError: unshare === undefined ? undefined : sys.probeNetns(unshare),
    tunError: unshare === undefined ? undefined : sys.probeTun(),
  };
};

const WIRESHARK_NO_SETUID = 'wireshark-common wireshark-common/install-setuid boolean false\n';

/** apt-get update, then install; its output goes to stderr so that --json stdout stays clean. */
const aptInstall = (packages: readonly string[], env: NodeJS.ProcessEnv): string | undefined => {
  const apt = findOnPath('apt-get', env.PATH);
  if (apt === undefined) return 'apt-get is gone';
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  const io: StdioOptions = ['ignore', 2, 2];
  // A failed update (one unreachable mirror) may still leave lists good enough to install
  // from: the install's result decides.
  spawnSync(apt, ['update', '-qq'], { env: aptEnv, stdio: io, timeout: 300_000 });
  const debconf = findOnPath('debconf-set-selections', env.PATH);
  if (packages.includes('tshark') && debconf !== undefined) {
    // Otherwise wireshark-common asks whether non-root users may capture.
    spawnSync(debconf, [], { env: aptEnv, input: WIRESHARK_NO_SETUID, stdio: ['pipe', 2, 2] });
  }
  const r = spawnSync(apt, ['install', '-y', '-qq', ...packages], {
    env: aptEnv,
    stdio: io,
    timeout: 900_000,
  });
  if (r.status === 0) return undefined;
  return r.error !== undefined ? r.error.message : `apt-get install exited ${r.status ?? r.signal}`;
};

const settle = (d: Decision, installed: readonly string[]): CheckResult =>
  match(d)
    .with({ kind: 'ok' }, (): CheckResult => ({ ok: true, installed }))
    .with({ kind: 'stop' }, (x): CheckResult => ({ ok: false, code: x.code, lines: x.lines }))
    .with({ kind: 'install' }, (): CheckResult => {
      throw new Error('prereq: decide asked for a second apt-get run after the first');
    })
    .exhaustive();

/** Looks, installs if it may, looks again. Prints only the install notice. */
export const checkPrereqs = (needs: Needs, o: CheckOptions): CheckResult => {
  const env = o.env ?? process.env;
  const sys = o.system ?? realSystem;
  const first = gather(needs, env, sys);
  const d = decide(needs, first, o.install ? 'may-install' : 'no-install');
  if (d.kind !== 'install') return settle(d, []);
  (o.say ?? ((l) => process.stderr.write(`${l}\n`)))(
    `${needs.what}: missing ${first.missing.join(', ')}: installing ${d.packages.join(' ')} with apt-get (--no-install or FTTCP_NO_INSTALL=1 to stop instead)`,
  );
  const failed = aptInstall(d.packages, env);
  if (failed !== undefined) {
    return {
      ok: false,
      code: EXIT_MISSING_TOOL,
      lines: [`${failed}; install them by hand: ${installCommand(d.packages, true)}`],
    };
  }
  return settle(decide(needs, gather(needs, env, sys), 'installed'), d.packages);
};

/** --no-install, or FTTCP_NO_INSTALL set to anything but '' or '0', turns apt-get off. */
export const installAllowed = (flag: boolean, env: NodeJS.ProcessEnv = process.env): boolean => {
  const v = env.FTTCP_NO_INSTALL ?? '';
  return flag && (v === '' || v === '0');
};

/** The entry points' form: check, and on failure print why and exit at once. */
export const requirePrereqs = (needs: Needs, o: { install?: boolean } = {}): void => {
  const r = checkPrereqs(needs, { install: installAllowed(o.install ?? true) });
  if (r.ok) return;
  for (const l of r.lines) process.stderr.write(`${needs.what}: ${l}\n`);
  process.exit(r.code);
};

export const NO_INSTALL_HELP =
  'stop and name the apt-get command instead of installing missing Debian packages';
