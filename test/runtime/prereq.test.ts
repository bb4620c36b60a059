// The prerequisite check (src/runtime/prereq.ts): the policy as a table, the real entry points
// on a PATH without the tools, and the apt-get path against a fake apt-get, so that nothing
// here depends on what this machine has installed and nothing is installed for real.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkPrereqs,
  decide,
  EXIT_MISSING_TOOL,
  EXIT_NO_LAB_HOST,
  type Facts,
  findOnPath,
  installAllowed,
  type Needs,
  PACKAGE_OF,
  packagesOf,
  SBIN_DIRS,
  type System,
  toolsOf,
} from '../../src/runtime/prereq.ts';

const root = resolve(import.meta.dirname, '../..');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'fttcp-prereq-'));
  dirs.push(d);
  return d;
};
const script = (path: string, body: string): void => {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
};

const lab: Needs = { what: 'x', tools: ['ip', 'tshark', 'redis-benchmark'], lab: true };
const tla: Needs = { what: 'x', tools: ['java'], lab: false };
const facts = (f: Partial<Facts>): Facts => ({ root: true, missing: [], aptGet: true, ...f });

describe('decide: the policy', () => {
  it('adds unshare for the lab (its namespace probe) and names each package once, sorted', () => {
    expect(toolsOf(lab)).toEqual(['ip', 'tshark', 'redis-benchmark', 'unshare']);
    expect(toolsOf(tla)).toEqual(['java']);
    expect(packagesOf(['tshark', 'redis-cli', 'ip', 'redis-benchmark', 'ss'])).toEqual([
      'iproute2',
      'redis-tools',
      'tshark',
    ]);
  });

  it('nothing missing: go on (lab: root, namespaces and TUN as well)', () => {
    expect(decide(tla, facts({ root: false }), 'may-install')).toEqual({ kind: 'ok' });
    expect(decide(lab, facts({}), 'no-install')).toEqual({ kind: 'ok' });
  });

  it('root, apt-get, allowed: install exactly the missing packages', () => {
    const f = facts({ missing: ['tshark', 'redis-benchmark'] });
    expect(decide(lab, f, 'may-install')).toEqual({
      kind: 'install',
      packages: ['redis-tools', 'tshark'],
    });
  });

  it('install turned off, as root: stop with the command, no sudo', () => {
    expect(decide(lab, facts({ missing: ['tshark'] }), 'no-install')).toEqual({
      kind: 'stop',
      code: EXIT_MISSING_TOOL,
      lines: [
        'missing tshark (Debian packages: tshark)',
        'install them with: apt-get update && apt-get install -y tshark',
      ],
    });
  });

  it('not root: the sudo command, and for the lab that it needs root as well', () => {
    const f = facts({ root: false, missing: ['redis-benchmark', 'tshark'] });
    const cmd = 'sudo apt-get update && sudo apt-get install -y redis-tools tshark';
    expect(decide(lab, f, 'may-install')).toEqual({
      kind: 'stop',
      code: EXIT_MISSING_TOOL,
      lines: [
        'missing redis-benchmark, tshark (Debian packages: redis-tools tshark)',
        `install them with: ${cmd}`,
        'it also needs root (network namespaces, TUN devices, raw sockets): run it with sudo, which installs them too',
      ],
    });
    const java = decide(tla, facts({ root: false, missing: ['java'] }), 'may-install');
    expect(java.kind === 'stop' && java.lines).toEqual([
      'missing java (Debian packages: default-jre-headless)',
      'install them with: sudo apt-get update && sudo apt-get install -y default-jre-headless',
    ]);
  });

  it('no apt-get: names the packages for Debian and stops even as root', () => {
    const d = decide(lab, facts({ aptGet: false, missing: ['ip'] }), 'may-install');
    expect(d).toEqual({
      kind: 'stop',
      code: EXIT_MISSING_TOOL,
      lines: [
        'missing ip (Debian packages: iproute2)',
        "no apt-get on PATH: install them with the system's package manager (on Debian: apt-get update && apt-get install -y iproute2)",
      ],
    });
  });

  it('after apt-get ran, still missing: stop, never a second install', () => {
    const d = decide(lab, facts({ missing: ['tshark'] }), 'installed');
    expect(d).toEqual({
      kind: 'stop',
      code: EXIT_MISSING_TOOL,
      lines: [
        'missing tshark (Debian packages: tshark)',
        'still missing after apt-get install -y tshark: is their directory on PATH?',
      ],
    });
  });

  it('the lab without root, namespaces or TUN: stop with each reason', () => {
    expect(decide(lab, facts({ root: false }), 'may-install')).toEqual({
      kind: 'stop',
      code: EXIT_NO_LAB_HOST,
      lines: ['needs root (network namespaces, TUN devices, raw sockets): run it with sudo'],
    });
    const d = decide(lab, facts({ netnsError: 'EPERM', tunError: 'ENOENT' }), 'may-install');
    expect(d.kind === 'stop' && d.code).toBe(EXIT_NO_LAB_HOST);
    expect(d.kind === 'stop' && d.lines.map((l) => l.split(':')[0])).toEqual([
      'cannot create a network namespace (EPERM)',
      'cannot open /dev/net/tun (ENOENT)',
    ]);
  });

  it('FTTCP_NO_INSTALL turns apt-get off unless empty or 0', () => {
    expect(installAllowed(true, {})).toBe(true);
    expect(installAllowed(true, { FTTCP_NO_INSTALL: '0' })).toBe(true);
    expect(installAllowed(true, { FTTCP_NO_INSTALL: '1' })).toBe(false);
    expect(installAllowed(false, {})).toBe(false);
  });
});

describe('findOnPath', () => {
  it('finds executable files only, in PATH order', () => {
    const a = tempDir();
    const b = tempDir();
    writeFileSync(join(a, 'tshark'), 'not executable');
    mkdirSync(join(a, 'iperf3'));
    script(join(b, 'tshark'), 'exit 0');
    script(join(b, 'iperf3'), 'exit 0');
    expect(findOnPath('tshark', `${a}:${b}`)).toBe(join(b, 'tshark'));
    expect(findOnPath('iperf3', `${a}:${b}`)).toBe(join(b, 'iperf3'));
    expect(findOnPath('tshark', a)).toBeUndefined();
    expect(findOnPath('tshark', undefined)).toBeUndefined();
  });
});

// ---- the apt-get path, against a fake apt-get ----

/**
 * A bin directory holding a fake apt-get and debconf-set-selections that append what they were
 * called with to `log`. `provides` says which programs `apt-get install` leaves behind (stubs),
 * `installExit` what it exits with.
 */
const fakeApt = (provides: readonly string[], installExit = 0): { bin: string; log: string } => {
  const bin = tempDir();
  const log = join(bin, 'calls.log');
  const stubs = provides.map(
    (t) => `printf '#!/bin/sh\\n' > '${bin}/${t}'; chmod +x '${bin}/${t}'`,
  );
  script(
    join(bin, 'apt-get'),
    [
      'PATH=/usr/bin:/bin',
      `echo "apt-get $* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> '${log}'`,
      `if [ "$1" = install ]; then ${stubs.join('; ') || ':'}; exit ${installExit}; fi`,
    ].join('\n'),
  );
  script(
    join(bin, 'debconf-set-selections'),
    `PATH=/usr/bin:/bin\necho "debconf $(cat)" >> '${log}'`,
  );
  return { bin, log };
};
const calls = (log: string): string[] =>
  existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];

const asRoot: System = {
  isRoot: () => true,
  probeNetns: () => undefined,
  probeTun: () => undefined,
};
const needs: Needs = { what: 'demo', tools: ['redis-benchmark', 'tshark'], lab: false };

describe('checkPrereqs: installing with apt-get', () => {
  it('says so in one line, installs exactly the missing packages, and looks again', () => {
    const { bin, log } = fakeApt(['redis-benchmark', 'tshark']);
    const said: string[] = [];
    const r = checkPrereqs(needs, {
      install: true,
      env: { PATH: bin },
      system: asRoot,
      say: (l) => said.push(l),
    });
    expect(said).toEqual([
      'demo: missing redis-benchmark, tshark: installing redis-tools tshark with apt-get (--no-install or FTTCP_NO_INSTALL=1 to stop instead)',
    ]);
    expect(calls(log)).toEqual([
      'apt-get update -qq DEBIAN_FRONTEND=noninteractive',
      'debconf wireshark-common wireshark-common/install-setuid boolean false',
      'apt-get install -y -qq redis-tools tshark DEBIAN_FRONTEND=noninteractive',
    ]);
    expect(r).toEqual({ ok: true, installed: ['redis-tools', 'tshark'] });
  });

  it('what apt-get did not provide is still missing on the second look: stop', () => {
    const { bin } = fakeApt(['tshark']);
    const r = checkPrereqs(needs, {
      install: true,
      env: { PATH: bin },
      system: asRoot,
      say: () => {},
    });
    expect(r).toEqual({
      ok: false,
      code: EXIT_MISSING_TOOL,
      lines: [
        'missing redis-benchmark (Debian packages: redis-tools)',
        'still missing after apt-get install -y redis-tools: is their directory on PATH?',
      ],
    });
  });

  it('apt-get failing: stop with the command to run by hand', () => {
    const { bin } = fakeApt([], 100);
    const r = checkPrereqs(
      { what: 'x', tools: ['iperf3'], lab: false },
      { install: true, env: { PATH: bin }, system: asRoot, say: () => {} },
    );
    expect(r).toEqual({
      ok: false,
      code: EXIT_MISSING_TOOL,
      lines: [
        'apt-get install exited 100; install them by hand: apt-get update && apt-get install -y iperf3',
      ],
    });
  });

  it('install turned off or not root: apt-get is never called', () => {
    const { bin, log } = fakeApt(['tshark', 'redis-benchmark']);
    const off = checkPrereqs(needs, { install: false, env: { PATH: bin }, system: asRoot });
    const user = { ...asRoot, isRoot: () => false };
    const notRoot = checkPrereqs(needs, { install: true, env: { PATH: bin }, system: user });
    expect([off.ok, notRoot.ok]).toEqual([false, false]);
    expect(calls(log)).toEqual([]);
  });

  it('the lab: tools installed, then the namespace and TUN probes decide', () => {
    const { bin } = fakeApt(['ip', 'unshare']);
    const noNetns = { ...asRoot, probeNetns: () => 'unshare: Operation not permitted' };
    const r = checkPrereqs(
      { what: 'x', tools: ['ip'], lab: true },
      { install: true, env: { PATH: bin }, system: noNetns, say: () => {} },
    );
    expect(r.ok === false && r.code).toBe(EXIT_NO_LAB_HOST);
    expect(r.ok === false && r.lines[0]).toMatch(/^cannot create a network namespace \(unshare: /);
  });
});

// ---- the real entry points on a PATH without the tools ----

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}
const runEntry = (entry: string, args: string[], env: Record<string, string>): Promise<Exit> =>
  new Promise((done) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(root, entry), ...args], {
      cwd: root,
      env: { HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    p.on('close', (code) => done({ code, stdout, stderr }));
  });

/** A PATH with node and a recording fake apt-get that installs nothing. */
const strippedPath = (): { path: string; log: string } => {
  const { bin, log } = fakeApt([]);
  symlinkSync(process.execPath, join(bin, 'node'));
  return { path: bin, log };
};

const isRoot = process.getuid?.() === 0;
/**
 * What a command stops with on the stripped PATH, apt-get present and not to be run. As a user
 * it looks in the sbin directories too (where sudo will look), so what it finds there is not
 * missing; with nothing missing a lab command stops only for want of root.
 */
const expectedStop = (what: string, tools: string[], lab: boolean): [number, string] => {
  const missing =
    lab && !isRoot ? tools.filter((t) => findOnPath(t, SBIN_DIRS.join(':')) === undefined) : tools;
  const pkgs = [...new Set(missing.map((t) => PACKAGE_OF[t as keyof typeof PACKAGE_OF]))].sort();
  const sudo = isRoot ? '' : 'sudo ';
  const needsRoot = 'needs root (network namespaces, TUN devices, raw sockets)';
  const lines =
    missing.length === 0
      ? [`${needsRoot}: run it with sudo`]
      : [
          `missing ${missing.join(', ')} (Debian packages: ${pkgs.join(' ')})`,
          `install them with: ${sudo}apt-get update && ${sudo}apt-get install -y ${pkgs.join(' ')}`,
          ...(lab && !isRoot
            ? [`it also ${needsRoot}: run it with sudo, which installs them too`]
            : []),
        ];
  const code = missing.length === 0 ? EXIT_NO_LAB_HOST : EXIT_MISSING_TOOL;
  return [code, lines.map((l) => `${what}: ${l}\n`).join('')];
};

describe('entry points on a PATH without the tools', () => {
  const demoTools = ['ip', 'sysctl', 'tcpdump', 'tshark', 'redis-benchmark', 'unshare'];

  it('fttcp lab demo (FTTCP_NO_INSTALL=1): the command to run, exit 3, no scenario verdict', async () => {
    const { path, log } = strippedPath();
    const r = await runEntry('src/runtime/cli.ts', ['lab', 'demo'], {
      PATH: path,
      FTTCP_NO_INSTALL: '1',
    });
    const [code, stderr] = expectedStop('fttcp lab demo', demoTools, true);
    expect(r).toEqual({ code, stdout: '', stderr });
    expect(calls(log)).toEqual([]);
  });

  it('fttcp lab run local-kv --no-install: the same, for that scenario', async () => {
    const { path, log } = strippedPath();
    const r = await runEntry('src/runtime/cli.ts', ['lab', 'run', 'local-kv', '--no-install'], {
      PATH: path,
    });
    const [code, stderr] = expectedStop('fttcp lab run local-kv', demoTools, true);
    expect([r.code, r.stderr]).toEqual([code, stderr]);
    expect(calls(log)).toEqual([]);
  });

  it('bench:lab --no-install: iperf3 and the lab tools, exit 3', async () => {
    const { path, log } = strippedPath();
    const r = await runEntry('bench/lab.ts', ['--no-install'], { PATH: path });
    const [code, stderr] = expectedStop('bench:lab', ['ip', 'sysctl', 'iperf3', 'unshare'], true);
    expect(r).toEqual({ code, stdout: '', stderr });
    expect(calls(log)).toEqual([]);
  });

  it('check:tla (FTTCP_NO_INSTALL=1): java, exit 3', async () => {
    const { path } = strippedPath();
    const r = await runEntry('scripts/check-tla.ts', [], { PATH: path, FTTCP_NO_INSTALL: '1' });
    expect([r.code, r.stderr]).toEqual(expectedStop('check-tla', ['java'], false));
  });
});
