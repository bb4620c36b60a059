// The backup host's warm spare (src/runtime/lab/lab.ts): the release command the recovery
// daemon runs. Two bugs the failure model found on the lab, pinned here without root:
// - backup second incarnation starts cold: a second recovery on the backup host (the
//   application crashed during its replay, or after the failover) wrote to the spent spare's
//   FIFO, which nobody read any more, and the recovery waited there for good;
// - backup relay ends with the spare: `tail --pid` noticed the spare's death only at its next
//   once-a-second poll, so the daemon (and the SSW) learned of a crash up to a second late.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { endRelayWithSpare, spareReleaseCommand } from '../../src/runtime/lab/lab.ts';
import { waitFor } from './helpers.ts';

const dirs: string[] = [];
const procs: ChildProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const run = (cmd: string, env: Record<string, string> = {}) => {
  const p = spawn('/bin/sh', ['-c', cmd], { env: { ...process.env, ...env } });
  procs.push(p);
  const r = {
    out: '',
    exit: undefined as { code: number | null; signal: string | null } | undefined,
  };
  p.stdout.on('data', (d: Buffer) => {
    r.out += d.toString();
  });
  p.on('exit', (code, signal) => {
    r.exit = { code, signal };
  });
  return { p, r };
};

describe('backup warm spare', () => {
  it('backup second incarnation starts cold, and the backup relay ends with the spare', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fttcp-spare-'));
    dirs.push(dir);
    const fifo = join(dir, 'spare.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const spareOut = join(dir, 'spare.out');
    writeFileSync(spareOut, '{"event":"listening"}\n');
    // The held spare: reads its release line from the FIFO, then runs.
    const spare = run(
      `read line < ${fifo}; echo "$line" > ${join(dir, 'released')}; exec sleep 60`,
    );
    const cmd = spareReleaseCommand({
      fifo,
      sparePid: spare.p.pid as number,
      spareOut,
      coldCmd: 'echo cold-start',
    });
    endRelayWithSpare(spare.p, fifo);

    // First incarnation: releases the spare with the epoch and relays its stdout.
    // The heartbeat period the recovery daemon asks for (R10.1) goes with it.
    const first = run(cmd, { FTTCP_EPOCH: '5', FTTCP_APP_HEARTBEAT_MS: '100' });
    await waitFor('the spare released', () => {
      try {
        return (
          readFileSync(join(dir, 'released'), 'utf8') ===
          '{"FTTCP_EPOCH":"5","FTTCP_APP_HEARTBEAT_MS":"100"}\n'
        );
      } catch {
        return false;
      }
    });
    await waitFor('the relay', () => first.r.out.includes('listening'));
    expect(Number(readFileSync(`${fifo}.relay`, 'utf8'))).toBe(first.p.pid);

    // The spare dies: its relay is ended at once (by us: SIGTERM, not tail's own poll).
    spare.p.kill('SIGKILL');
    await waitFor('the relay ends', () => first.r.exit !== undefined, 5000);
    expect(first.r.exit).toEqual({ code: null, signal: 'SIGTERM' });

    // Second incarnation: the spare is spent, so the application starts cold (no FIFO write).
    const second = run(cmd, { FTTCP_EPOCH: '6' });
    await waitFor('the cold start', () => second.r.exit !== undefined, 5000);
    expect(second.r.out).toBe('cold-start\n');
    expect(second.r.exit).toEqual({ code: 0, signal: null });
  });
});
