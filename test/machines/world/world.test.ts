// The composed-system check: the real recovery machines and SSW data-path functions wired
// into one world with a client, a lossy network and crashes of every component at every
// step (see world.ts). Exhaustive BFS for small bounds, seeded random walks for larger ones;
// I1..I6 after every step. Negative tests: each deliberately broken rule must be caught,
// which shows the invariants can fail.

import { describe, expect, it } from 'vitest';
import { bfs, formatTrace, randomWalks } from './check.ts';
import type { Bug, WorldConfig } from './world.ts';

const ALL_ACTIONS = [
  'ClientWrite',
  'ClientSendData',
  'ClientSendAck',
  'ClientRecv',
  'LoseToServer',
  'LoseToClient',
  'SswRecv',
  'SswSendAck',
  'SswSendData',
  'SswSendFin',
  'SswLearnStable',
  'SswLogClientAck',
  'SswInject',
  'LoggerStoreData',
  'LoggerStoreDet',
  'AppRead',
  'AppClose',
  'NswRelease',
  'NswReleaseClose',
  'NswLearnStableDet',
  'AppCrash',
  'AppRestart',
  'ReplayDone',
  'PrimaryCrash',
  'BackupCrash',
  'Suspect',
  'Fence',
  'ZombieStop',
  'Stonith',
  'Takeover',
  'Unprotect',
] as const;

const base: WorldConfig = {
  nIn: 1,
  maxCrashes: 1,
  deltas: [-1],
  bugs: [],
  maxInFlight: 1,
  duplicate: false,
};

const failLoudly = (
  what: string,
  v: { violation: { invariant: string; detail: string }; trace: readonly unknown[] },
  replay: string,
): never => {
  throw new Error(
    `${what}: invariant ${v.violation.invariant} violated: ${v.violation.detail}\n` +
      `shortest trace (${v.trace.length} steps):\n${formatTrace(v.trace as never)}\nreplay: ${replay}`,
  );
};

describe('composed world: exhaustive', () => {
  it('1 client byte, any one failure (app, primary host, backup host, partition), loss and reordering', () => {
    const t0 = performance.now();
    const r = bfs(base);
    console.log(
      `world exhaustive nIn=1 maxCrashes=1: ${r.states} states, ${r.transitions} transitions, depth ${r.depth}, ${Math.round(performance.now() - t0)} ms`,
    );
    if (r.violation)
      failLoudly('exhaustive', r.violation, 'bfs(base) in test/machines/world/world.test.ts');
    expect(r.truncated).toBe(false);
    expect(r.states).toBeGreaterThan(10_000);
    // Every kind of step happened somewhere: local recovery, failover, logger loss, partition.
    const missing = ALL_ACTIONS.filter((a) => !(r.actions[a] ?? 0));
    expect(missing).toEqual([]);
    // And the runs finish: the whole exchange completes, also after each kind of recovery.
    console.log(`world exhaustive milestones: ${JSON.stringify(r.reached)}`);
    expect(r.reached.complete ?? 0).toBeGreaterThan(0);
    expect(r.reached.completeAfterLocalRecovery ?? 0).toBeGreaterThan(0);
    expect(r.reached.completeAfterFailover ?? 0).toBeGreaterThan(0);
  });
});

describe('composed world: random (seeded)', () => {
  it('3 client bytes, two failures (so crashes during recovery), duplication on', () => {
    const seed = Number(process.env.WORLD_SEED ?? 20261127);
    const cfg: WorldConfig = {
      nIn: 3,
      maxCrashes: 2,
      deltas: [0, -1],
      bugs: [],
      maxInFlight: 3,
      duplicate: true,
    };
    const t0 = performance.now();
    const r = randomWalks(cfg, seed, 700, 200);
    console.log(
      `world random nIn=3 maxCrashes=2 seed=${seed}: ${r.steps} steps, ${r.distinct} distinct states, ${Math.round(performance.now() - t0)} ms`,
    );
    if (r.violation)
      failLoudly(
        `random seed ${r.violation.seed}`,
        r.violation,
        `WORLD_SEED=${r.violation.seed} npx vitest run test/machines/world/world.test.ts`,
      );
    expect(r.distinct).toBeGreaterThan(10_000);
    const missing = ALL_ACTIONS.filter((a) => !(r.actions[a] ?? 0));
    expect(missing).toEqual([]);
    // The second failure did land inside a recovery: recovery restarted (R10).
    console.log(`world random timeline: ${JSON.stringify(r.timeline)}`);
    expect(r.timeline.restart ?? 0).toBeGreaterThan(0);
    expect(r.timeline.live ?? 0).toBeGreaterThan(0);
  });
});

describe('composed world: negative (a broken rule must be caught)', () => {
  const cases: [Bug, string, Partial<WorldConfig>][] = [
    ['ackNotClamped', 'NoAckOfUnloggedByte', {}],
    ['noOutputCommit', 'OutputCommit', {}],
    ['finOnCrash', 'NoSpuriousCloseOrReset', {}],
    ['unprotectWhileBackupAlive', 'NoAckOfUnloggedByte', {}],
    ['noTranslation', 'ClientStreamIntegrity', { nIn: 2, loss: false }],
    ['injectNewestFirst', 'ServerInputIntegrity', { nIn: 2 }],
    ['noStonith', 'OneActiveIncarnation', {}],
  ];
  for (const [bug, invariant, extra] of cases) {
    it(`${bug} violates ${invariant}`, () => {
      const r = bfs({ ...base, ...extra, bugs: [bug] }, 600_000);
      expect(r.violation, `${bug} was not caught in ${r.states} states`).not.toBeNull();
      console.log(
        `negative ${bug}: ${r.violation?.violation.invariant} after ${r.states} states, trace of ${r.violation?.trace.length} steps`,
      );
      expect(r.violation?.violation.invariant).toBe(invariant);
    });
  }
});
