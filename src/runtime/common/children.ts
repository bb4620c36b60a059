// Process supervision (spec/recovery.md S.2): every process a daemon starts runs in its own
// process group and dies with the daemon.
//   - Own group (`detached`: setsid): the daemon stops a child and everything the child
//     started (an npx wrapper's node, a shell's pipeline) with one kill of the group.
//   - Parent-death signal: the command runs under `setpriv --pdeathsig KILL` (util-linux;
//     prctl(PR_SET_PDEATHSIG) before it execs), so a daemon that is killed (-9, a crash) takes
//     its children with it, which no handler of its own could do. The signal is kept across
//     exec (the shell's `exec`, `ip netns exec`), not across fork: a command that forks keeps
//     its own children only through the group kill of a daemon that stops normally.
// Node runs child_process.spawn on its main thread, the thread whose exit PR_SET_PDEATHSIG
// watches, so the signal comes when the daemon process ends.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/** util-linux's setpriv, which sets the parent-death signal and execs the command. */
export const SETPRIV = '/usr/bin/setpriv';

/** Whether children can get a parent-death signal here (setpriv present). */
export const pdeathsigAvailable = (): boolean => existsSync(SETPRIV);

/**
 * Starts `/bin/sh -c <script>` in its own process group with SIGKILL as its parent-death
 * signal (when setpriv is present; without it, only the group). `script` should `exec` its
 * last command so that the pid is the program's own and keeps the signal.
 */
export const spawnSupervised = (
  script: string,
  o: Omit<SpawnOptions, 'detached'> = {},
): ChildProcess => {
  const argv = ['/bin/sh', '-c', script];
  return pdeathsigAvailable()
    ? spawn(SETPRIV, ['--pdeathsig', 'KILL', ...argv], { ...o, detached: true })
    : spawn('/bin/sh', ['-c', script], { ...o, detached: true });
};

/** Signals the child's whole process group (it leads it: `spawnSupervised`); false if gone. */
export const killGroup = (child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): boolean => {
  const pid = child.pid;
  if (pid === undefined) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    // The leader may be gone with members left (it forked and exited): nothing to signal by
    // its pid then; or the whole group is gone.
    try {
      child.kill(signal);
      return true;
    } catch {
      return false;
    }
  }
};
