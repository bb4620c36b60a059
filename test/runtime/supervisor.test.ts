// The SSW's application supervisor keeps a warm spare (Node and the TS loader started, held
// before the main module) and, with `preload`, the application's library modules already
// imported: a release then evaluates only the main module (the failover and local-recovery
// stall figures depend on it). Real processes, no root.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Log } from '../../src/runtime/common/log.ts';
import { AppSupervisor, checkPreloadPath } from '../../src/runtime/ssw/supervisor.ts';
import { waitFor } from './helpers.ts';

const dirs: string[] = [];
const sups: AppSupervisor[] = [];
afterEach(() => {
  for (const s of sups.splice(0)) s.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const lines = (path: string): string[] => {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
  } catch {
    return [];
  }
};

describe('AppSupervisor warm spare', () => {
  it('refuses preload paths NODE_OPTIONS would split or resolve elsewhere', () => {
    expect(checkPreloadPath('/abs/lib.ts')).toBeUndefined();
    expect(checkPreloadPath('lib.ts')).toMatch(/not an absolute path/);
    expect(checkPreloadPath('/a b/lib.ts')).toMatch(/whitespace/);
    expect(checkPreloadPath('/a"b/lib.ts')).toMatch(/quote/);
    expect(
      () =>
        new AppSupervisor({
          cmd: 'true',
          env: {},
          log: new Log({ component: 'test', level: 'error' }),
          onExit: () => {},
          maxRestarts: 1,
          restartWindowMs: 1000,
          warmSpare: true,
          preload: ['rel.ts'],
        }),
    ).toThrow(/not an absolute path/);
  });

  it('imports the preloaded modules before holding; the released main module reuses them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ftl-sup-'));
    dirs.push(dir);
    const mark = join(dir, 'mark');
    const lib = join(dir, 'lib.mjs');
    const main = join(dir, 'main.mjs');
    writeFileSync(
      lib,
      `import { appendFileSync } from 'node:fs';
appendFileSync(process.env.MARK, 'lib ' + process.pid + '\\n');
export const loadedAt = process.pid;
`,
    );
    writeFileSync(
      main,
      `import { appendFileSync } from 'node:fs';
import { loadedAt } from ${JSON.stringify(lib)};
appendFileSync(process.env.MARK, 'main ' + process.pid + ' ' + process.env.FTTCP_MODE + ' ' + loadedAt + '\\n');
setInterval(() => {}, 1000);
`,
    );
    const exits: number[] = [];
    const sup = new AppSupervisor({
      cmd: `${process.execPath} ${main}`,
      env: { MARK: mark },
      log: new Log({ component: 'test', level: 'error' }),
      onExit: (i) => exits.push(i.pid),
      maxRestarts: 5,
      restartWindowMs: 60_000,
      warmSpare: true,
      preload: [lib],
    });
    sups.push(sup);
    const first = sup.start('record');
    // The recording incarnation loads lib itself; the held spare loads it too, but not main.
    await waitFor('spare preloaded', () => lines(mark).length === 3, 30_000);
    const before = lines(mark);
    expect(before.filter((l) => l.startsWith('main '))).toEqual([`main ${first} record ${first}`]);
    const spareLib = before.find((l) => l.startsWith('lib ') && l !== `lib ${first}`);
    expect(spareLib).toBeDefined();
    const sparePid = Number(spareLib?.split(' ')[1]);
    process.kill(first, 'SIGKILL');
    await waitFor('first incarnation reported dead', () => exits.includes(first), 10_000);
    const second = sup.start('replay');
    expect(second).toBe(sparePid);
    await waitFor('released spare runs main', () => lines(mark).length === 4, 10_000);
    // lib was not evaluated again: main got the instance imported before the hold.
    expect(lines(mark)[3]).toBe(`main ${sparePid} replay ${sparePid}`);
  }, 60_000);
});
