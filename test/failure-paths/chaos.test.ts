// Seeded chaos in CI (src/runtime/lab/failure/chaos.ts): 30 schedules with a fixed seed, each
// a fresh lab, judged from the client side only. A failure shrinks (bounded) and keeps its
// evidence under runs/chaos-<seed>/; the test prints the command that replays it.
import { describe, expect, it } from 'vitest';
import { runChaos } from '../../src/runtime/lab/failure/chaos.ts';

/** Fixed in CI so a red run is replayed by the same command; `npm run chaos` draws new seeds. */
const CI_SEED = 20261203;
const CI_RUNS = 30;

describe('chaos on the real lab', () => {
  it(`${CI_RUNS} schedules, seed ${CI_SEED}`, { timeout: 1_500_000 }, async () => {
    const lines: string[] = [];
    const t0 = performance.now();
    const r = await runChaos({
      runs: CI_RUNS,
      seed: CI_SEED,
      log: (l) => {
        lines.push(l);
        process.stdout.write(`${l}\n`);
      },
    });
    process.stdout.write(
      `chaos: ${r.labRuns} lab runs in ${Math.round((performance.now() - t0) / 1000)} s, ${r.ok ? 'all passed' : 'FAILED'}\n`,
    );
    expect(
      r.failure,
      r.failure === undefined
        ? ''
        : `smallest failing schedule: ${r.failure.schedule}\nreplay: ${r.failure.replay}\nevidence: ${r.failure.evidence}\n${r.failure.error}`,
    ).toBeUndefined();
    expect(r.labRuns).toBeGreaterThanOrEqual(CI_RUNS);
  });
});
