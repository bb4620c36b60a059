// The failure model (src/runtime/lab/failure/model.ts) on the real lab: the covering paths
// from xstate/graph, each on a fresh lab, every step checked by the client-side oracle, and
// the coverage of what actually ran printed and required at 100% of states and transitions.
// Crash points inside the protocol are reached through test hooks (FTTCP_TEST_HOOKS), never
// by timing. A failing path names its step and keeps its evidence (daemon logs, the client
// capture, failure.json with the engines' state and the client's view) in its run directory.
import { afterAll, describe, expect, it } from 'vitest';
import { failureModel, isRestState } from '../../src/runtime/lab/failure/model.ts';
import {
  assertFullCoverage,
  coverageOf,
  coveringPaths,
  type ExecutedStep,
  formatCoverage,
  modelGraph,
} from '../../src/runtime/lab/failure/paths.ts';
import { FailureRig } from '../../src/runtime/lab/failure/rig.ts';

/** The longest path: a path is one lab set-up, so fewer longer paths cost less. */
const MAX_STEPS = 40;

describe('failure model on the real lab', () => {
  const paths = coveringPaths(modelGraph(failureModel), MAX_STEPS, isRestState);
  const executed: ExecutedStep[] = [];
  const t0 = performance.now();
  afterAll(() => {
    process.stdout.write(
      `failure model: ${paths.length} paths (${paths.map((p) => p.steps.length).join(', ')} steps) in ${Math.round((performance.now() - t0) / 1000)} s\n`,
    );
  });

  for (const [i, p] of paths.entries()) {
    const name = `path ${i + 1}/${paths.length}: ${p.steps.map((s) => s.event).join(' ')}`;
    it(name, { timeout: 240_000 }, async () => {
      const lines: string[] = [];
      const rig = new FailureRig({
        label: `failure-path-${i + 1}`,
        log: (l) => lines.push(l),
      });
      try {
        for (const s of p.steps) await rig.run(s.event);
        await rig.finish();
      } finally {
        executed.push(...rig.executed);
        process.stdout.write(`${name}\n${lines.join('\n')}\n`);
        await rig.close();
      }
    });
  }

  it('covers every state and transition of the model, counted from the steps that ran', () => {
    const c = coverageOf(failureModel, executed);
    process.stdout.write(`${formatCoverage(c)}\n`);
    expect(executed.length).toBeGreaterThan(0);
    assertFullCoverage(c);
  });
});
