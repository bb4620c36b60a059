// Seeded chaos on the real lab: fast-check draws schedules of client operations interleaved
// with faults and LAN impairments, each a walk through the failure model (./model.ts) from a
// fresh lab, so every schedule is one the system is meant to survive; the rig (./rig.ts) runs
// it and the client-side oracle judges it from the client's byte streams and capture only.
//
// A schedule is drawn as a list of (pick, knob) pairs: in each state the pick chooses among
// the events the model allows there, the knob (0-99) scales the step (bytes, burst length,
// loss rate); the schedule then finishes with the shortest way to a rest state, so its end
// check sees a finished recovery. fast-check shrinks the list (fewer steps, smaller picks and
// knobs), and every shrunk list is still a valid schedule. Shrinking on a real lab is slow:
// after the first failure at most `maxShrinkRuns` more schedules run on the lab; the rest of
// fast-check's candidates pass untried, and the smallest failure found so far is reported.
//
// Each schedule prints its seed and a one-line replay command (fast-check's seed and path);
// a failing one keeps its evidence under runs/chaos-<seed>/ (daemon logs, the client capture,
// the engines' state and the client's view at the failure: the rig's failure.json); the folder
// of an earlier invocation with the same seed is renamed aside, not overwritten.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { RUNS_DIR } from '../procs.ts';
import { type FailureEventType, failureModel, isRestState } from './model.ts';
import { type Edge, type Graph, modelGraph } from './paths.ts';
import { FailureRig, MID_KNOB } from './rig.ts';

/** Bounds of one schedule (explicit: a schedule is small and finishes). */
export const CHAOS_LIMITS = {
  /** drawn steps after SETUP (the way back to rest comes on top) */
  maxSteps: 8,
  /** the whole schedule on the lab, set-up included */
  scheduleMs: 180_000,
  /** lab runs spent shrinking after the first failure */
  maxShrinkRuns: 6,
} as const;

export interface ChaosStep {
  readonly event: FailureEventType;
  readonly knob: number;
}

export interface Draw {
  readonly pick: number;
  readonly knob: number;
}

/** Outgoing edges of each state, in a fixed order (the graph's). */
const outgoing = (g: Graph): Map<string, Edge[]> => {
  const m = new Map<string, Edge[]>();
  for (const e of g.edges) m.set(e.from, [...(m.get(e.from) ?? []), e]);
  return m;
};

/** The shortest way from `from` to a rest state (BFS over the graph). */
const wayToRest = (g: Graph, from: string): Edge[] => {
  const seen = new Map<string, Edge[]>([[from, []]]);
  const queue = [from];
  for (let i = 0; i < queue.length; i++) {
    const s = queue[i] as string;
    const way = seen.get(s) as Edge[];
    if (isRestState(s)) return way;
    for (const e of g.edges)
      if (e.from === s && !seen.has(e.to)) {
        seen.set(e.to, [...way, e]);
        queue.push(e.to);
      }
  }
  throw new Error(`chaos: no way to rest from ${from}`);
};

/** The schedule a list of draws means: SETUP, one event per draw, then the way to rest. */
export const scheduleOf = (g: Graph, draws: readonly Draw[]): ChaosStep[] => {
  const out = outgoing(g);
  const steps: ChaosStep[] = [{ event: 'SETUP', knob: MID_KNOB }];
  const setup = out.get(g.initial)?.[0];
  if (setup === undefined) throw new Error('chaos: the model has no way out of its initial state');
  let at = setup.to;
  for (const d of draws) {
    const choices = out.get(at) ?? [];
    const e = choices[d.pick % choices.length];
    if (e === undefined) break;
    steps.push({ event: e.event, knob: d.knob });
    at = e.to;
  }
  for (const e of wayToRest(g, at)) steps.push({ event: e.event, knob: MID_KNOB });
  return steps;
};

export const drawsArb = (maxSteps: number = CHAOS_LIMITS.maxSteps): fc.Arbitrary<Draw[]> =>
  // `size: 'max'`: lengths spread over the whole range (fast-check's default bias keeps early
  // runs tiny, and a lab run is too dear to spend on one-step schedules).
  fc.array(fc.record({ pick: fc.nat({ max: 999 }), knob: fc.integer({ min: 0, max: 99 }) }), {
    minLength: 2,
    maxLength: maxSteps,
    size: 'max',
  });

export const formatSchedule = (s: readonly ChaosStep[]): string =>
  s.map((x) => (x.knob === MID_KNOB ? x.event : `${x.event}(${x.knob})`)).join(' ');

/** The command that replays one schedule (and shrinks it again if it fails). */
export const replayCommand = (seed: number, path: string): string =>
  `npm run chaos -- --seed ${seed} --path ${path}`;

export interface ChaosOptions {
  readonly runs: number;
  readonly seed: number;
  /** replay this fast-check path only (from a replay command) */
  readonly path?: string;
  readonly maxShrinkRuns?: number;
  /** keep the evidence of passing schedules too */
  readonly keep?: boolean;
  readonly log: (line: string) => void;
}

export interface ChaosResult {
  readonly ok: boolean;
  readonly seed: number;
  /** schedules run on the lab, shrinking included */
  readonly labRuns: number;
  readonly dir: string;
  /** the smallest failing schedule found, its replay command and its evidence */
  readonly failure?: { schedule: string; replay: string; evidence: string; error: string };
}

/** One schedule on a fresh lab; resolves with undefined if the client saw nothing wrong. */
export const runSchedule = async (
  steps: readonly ChaosStep[],
  o: {
    label: string;
    runDir: string;
    log: (l: string) => void;
  },
): Promise<string | undefined> => {
  const rig = new FailureRig({
    label: o.label,
    runDir: o.runDir,
    log: o.log,
  });
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<string>((resolve) => {
    timer = setTimeout(
      () =>
        resolve(`schedule did not finish within ${CHAOS_LIMITS.scheduleMs} ms (at ${rig.state})`),
      CHAOS_LIMITS.scheduleMs,
    );
  });
  const body = (async (): Promise<string | undefined> => {
    for (const s of steps) await rig.run(s.event, s.knob);
    await rig.finish();
    return undefined;
  })().catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
  try {
    return await Promise.race([body, bound]);
  } finally {
    clearTimeout(timer);
    await rig.close();
  }
};

export const runChaos = async (o: ChaosOptions): Promise<ChaosResult> => {
  const g = modelGraph(failureModel);
  const dir = join(RUNS_DIR, `chaos-${o.seed}`);
  // An earlier invocation with this seed (a replay) keeps its evidence beside this one's.
  if (existsSync(dir)) renameSync(dir, `${dir}.${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  const maxShrink = o.maxShrinkRuns ?? CHAOS_LIMITS.maxShrinkRuns;
  let labRuns = 0;
  let failures = 0;
  let shrinkRuns = 0;
  let generated = 0;
  const summary: Record<string, unknown>[] = [];
  let smallest: ChaosResult['failure'];
  const prop = fc.asyncProperty(drawsArb(), async (draws) => {
    const index = generated++;
    if (failures > 0) {
      // Shrinking: bounded on the lab; past the bound a candidate passes untried.
      if (shrinkRuns >= maxShrink) return true;
      shrinkRuns++;
    }
    const steps = scheduleOf(g, draws);
    // fast-check's path of a run of the first phase is its index; a replay of `--path` runs it.
    const path = o.path ?? String(index);
    const label = failures > 0 ? `shrink-${shrinkRuns}` : `run-${path}`;
    const replay = failures > 0 ? '(shrinking)' : replayCommand(o.seed, path);
    o.log(`chaos ${label} seed=${o.seed} ${formatSchedule(steps)}`);
    o.log(`  replay: ${replay}`);
    labRuns++;
    const runDir = join(dir, label);
    const t0 = performance.now();
    const error = await runSchedule(steps, {
      label,
      runDir,
      log: o.log,
    });
    const ms = Math.round(performance.now() - t0);
    summary.push({ label, schedule: formatSchedule(steps), ok: error === undefined, ms, error });
    if (error === undefined) {
      o.log(`  ok ${ms} ms`);
      if (o.keep !== true) rmSync(runDir, { recursive: true, force: true });
      return true;
    }
    o.log(`  FAILED ${ms} ms: ${error.split('\n')[0]}`);
    failures++;
    // fast-check goes on only from a failing candidate, so the last failure is the smallest.
    smallest = { schedule: formatSchedule(steps), replay, evidence: runDir, error };
    return false;
  });
  const details = await fc.check(prop, {
    seed: o.seed,
    numRuns: o.path !== undefined ? 1 : o.runs,
    ...(o.path !== undefined ? { path: o.path } : {}),
  });
  if (details.failed && smallest !== undefined && details.counterexamplePath !== null)
    smallest = { ...smallest, replay: replayCommand(o.seed, details.counterexamplePath) };
  writeFileSync(
    join(dir, 'summary.json'),
    `${JSON.stringify({ seed: o.seed, runs: o.runs, labRuns, failure: smallest, schedules: summary }, null, 2)}\n`,
  );
  return {
    ok: !details.failed,
    seed: o.seed,
    labRuns,
    dir,
    ...(smallest !== undefined && details.failed ? { failure: smallest } : {}),
  };
};
