// The runtime's entry points as the lab runs them: separate processes with flags, NDJSON on
// stdout, exit codes (0 ok / SIGTERM, 2 bad arguments).

import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseNdjsonObject, readLines } from '../../src/runtime/common/lines.ts';
import { waitFor } from './helpers.ts';

const root = resolve(import.meta.dirname, '../..');
const procs: ChildProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0))
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

interface Run {
  readonly proc: ChildProcess;
  readonly events: Record<string, unknown>[];
  stderr: string;
  readonly exited: Promise<number | null>;
}

function start(entry: string, args: string[], env: Record<string, string> = {}): Run {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(root, entry), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  const run: Run = {
    proc,
    events: [],
    stderr: '',
    // 'close', not 'exit': 'exit' can fire before stderr is drained, and the tests read it.
    exited: new Promise((r) => proc.on('close', (code) => r(code))),
  };
  readLines(proc.stdout!, (l) => {
    const ev = parseNdjsonObject(l);
    if (ev !== undefined) run.events.push(ev);
  });
  proc.stderr!.on('data', (d: Buffer) => {
    run.stderr += d.toString();
  });
  return run;
}

describe('runtime entry points', () => {
  it('logger: --help, a bad address (exit 2), listening event, clean SIGTERM', async () => {
    const help = start('src/runtime/logger/main.ts', ['--help']);
    expect(await help.exited).toBe(0);
    const bad = start('src/runtime/logger/main.ts', ['--listen', '300.1.1.1:7400']);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr).toMatch(/--listen.*not an IPv4 address/);
    // R15.6 / R15.1 limits are validated: a clear error and exit 2, never a silent default.
    const ttl = start('src/runtime/logger/main.ts', [
      '--listen',
      '127.0.0.1:0',
      '--embryonic-ttl-ms',
      '5',
    ]);
    expect(await ttl.exited).toBe(2);
    expect(ttl.stderr).toMatch(/--embryonic-ttl-ms.*outside \[1000, 3600000\]/);
    const hw = start('src/runtime/logger/main.ts', [
      '--listen',
      '127.0.0.1:0',
      '--max-bytes',
      '1000',
      '--checkpoint-high-water',
      '2000',
    ]);
    expect(await hw.exited).toBe(2);
    expect(hw.stderr).toMatch(/--checkpoint-high-water 2000 is above --max-bytes 1000/);
    const ok = start('src/runtime/logger/main.ts', ['--listen', '127.0.0.1:0', '--epoch', '3']);
    await waitFor('listening', () => ok.events.some((e) => e.event === 'listening'), 30_000);
    const ev = ok.events.find((e) => e.event === 'listening')!;
    expect(ev.epoch).toBe(3);
    expect(String(ev.addr)).toMatch(/^127\.0\.0\.1:\d+$/);
    ok.proc.kill('SIGTERM');
    expect(await ok.exited).toBe(0);
  }, 90_000);

  it('examples: record without a logger is a usage error; plain echo serves a client', async () => {
    const bad = start('src/runtime/examples/kv.ts', [
      '--listen',
      '127.0.0.1:0',
      '--mode',
      'record',
    ]);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr).toMatch(/needs --logger/);
    const badMode = start('src/runtime/examples/echo.ts', ['--listen', '127.0.0.1:0'], {
      FTTCP_MODE: 'bogus',
    });
    expect(await badMode.exited).toBe(2);
    expect(badMode.stderr).toMatch(/FTTCP_MODE 'bogus'/);
    const echo = start('src/runtime/examples/echo.ts', [
      '--listen',
      '127.0.0.1:0',
      '--mode',
      'plain',
    ]);
    await waitFor('listening', () => echo.events.some((e) => e.event === 'listening'), 30_000);
    const addr = String(echo.events.find((e) => e.event === 'listening')!.addr);
    const port = Number(addr.split(':')[1]);
    const got = await new Promise<string>((res, rej) => {
      const s = net.connect({ host: '127.0.0.1', port });
      let out = '';
      s.on('data', (d) => {
        out += d.toString();
      });
      s.on('end', () => res(out));
      s.on('error', rej);
      s.end('ping pong');
    });
    expect(got).toBe('ping pong');
  }, 90_000);

  it('recovery: unsafe timing is refused with exit 2', async () => {
    const r = start('src/runtime/recovery/main.ts', [
      '--heartbeat-listen',
      '127.0.0.1:0',
      '--logger',
      '127.0.0.1:1',
      '--suspect-after-ms',
      '100',
    ]);
    expect(await r.exited).toBe(2);
    expect(r.stderr).toMatch(/suspectTooEarly/);
  }, 60_000);

  it('ssw: the same timing flags and checks as the recovery daemon, before any device is opened', async () => {
    const base = ['--host-id', 'p', '--nic-netns', 'ftl-none', '--nic-if', 'none'];
    // A grace shorter than P3's minimum would let a partitioned primary go unprotected while
    // the backup can still take over (spec/recovery.md G.3).
    const grace = start('src/runtime/ssw/main.ts', [...base, '--unprotect-after-ms', '500']);
    expect(await grace.exited).toBe(2);
    expect(grace.stderr).toMatch(/unprotectTooEarly.*P3: unprotectAfterMs \(500\) must exceed 730/);
    const drift = start('src/runtime/ssw/main.ts', [
      ...base,
      '--lease-ms',
      '100',
      '--drift-margin-ms',
      '100',
      '--suspect-after-ms',
      '300',
    ]);
    expect(await drift.exited).toBe(2);
    expect(drift.stderr).toMatch(/driftNotBelowLease/);
    const preload = start('src/runtime/ssw/main.ts', [...base, '--app-preload', 'relative.ts']);
    expect(await preload.exited).toBe(2);
    expect(preload.stderr).toMatch(/--app-preload.*not an absolute path/);
    const noLogger = start('src/runtime/ssw/main.ts', [...base, '--mode', 'fttcp']);
    expect(await noLogger.exited).toBe(2);
    expect(noLogger.stderr).toMatch(/--mode fttcp needs --logger/);
    const unrecorded = start('src/runtime/ssw/main.ts', [
      ...base,
      '--mode',
      'passthrough',
      '--app-unrecorded',
    ]);
    expect(await unrecorded.exited).toBe(2);
    expect(unrecorded.stderr).toMatch(/--app-unrecorded applies to --mode fttcp only/);
  }, 60_000);

  it('ssw: the hang watch limits are checked (R10.2-R10.4), before any device is opened', async () => {
    const base = ['--host-id', 'p', '--nic-netns', 'ftl-none', '--nic-if', 'none'];
    const short = start('src/runtime/ssw/main.ts', [...base, '--app-hang-ms', '50']);
    expect(await short.exited).toBe(2);
    expect(short.stderr).toMatch(/R10.2: hangMs \(50\) must be 0 \(off\) or at least 100/);
    const notNumber = start('src/runtime/ssw/main.ts', [...base, '--app-hang-ms', '1s']);
    expect(await notNumber.exited).toBe(2);
    expect(notNumber.stderr).toMatch(/--app-hang-ms/);
    const tooLong = start('src/runtime/ssw/main.ts', [...base, '--app-hang-ms', '600000']);
    expect(await tooLong.exited).toBe(2);
    const noGrace = start('src/runtime/ssw/main.ts', [...base, '--app-start-grace-ms', '0']);
    expect(await noGrace.exited).toBe(2);
    expect(noGrace.stderr).toMatch(/R10.3: startGraceMs must be positive/);
    // An application that is not NSW-wrapped never beats: a watch asked for it is an error.
    const unwrapped = start('src/runtime/ssw/main.ts', [
      ...base,
      '--mode',
      'fttcp',
      '--logger',
      '127.0.0.1:1',
      '--app-unrecorded',
      '--app-hang-ms',
      '500',
    ]);
    expect(await unwrapped.exited).toBe(2);
    expect(unwrapped.stderr).toMatch(/--app-hang-ms needs an NSW application/);
  }, 60_000);
});
