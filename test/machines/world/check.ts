// Explorers for the composed world: exhaustive BFS (shortest counterexample first) for small
// bounds, seeded random walks for larger ones. Both evaluate I1..I6 after every step.

import type { TimelineEvent } from '../../../src/machines/recovery/index.ts';
import {
  type Action,
  apply,
  checkInvariants,
  enabled,
  initialWorld,
  type Violation,
  type World,
  type WorldConfig,
  worldKey,
} from './world.ts';

export interface CheckResult {
  readonly states: number;
  readonly transitions: number;
  readonly depth: number;
  /** Exploration stopped at `maxStates` before exhausting the space. */
  readonly truncated: boolean;
  readonly violation: { readonly violation: Violation; readonly trace: readonly Action[] } | null;
  /** How often each action kind was taken: shows which parts of the protocol were exercised. */
  readonly actions: Readonly<Record<string, number>>;
  /** Explored states per milestone (see `milestones`): evidence that the runs get somewhere. */
  readonly reached: Readonly<Record<string, number>>;
}

/**
 * Milestones of a state. Safety alone is satisfied by a world that never delivers anything;
 * counting states where the exchange completed (the client holds every reply and the FIN),
 * also after a local recovery and after a failover, shows the explored runs do finish.
 */
export const milestones = (w: World): string[] => {
  const out: string[] = [];
  const complete = w.cFin && w.cRcv.reduce((n, [, len]) => n + len, 0) === w.cfg.nIn;
  if (!complete) return out;
  out.push('complete');
  if (w.addrOwner === 'B') out.push('completeAfterFailover');
  else if (w.logEpoch > 1) out.push('completeAfterLocalRecovery');
  return out;
};

/**
 * Breadth-first over canonical world states. BFS order makes the first violation found one
 * with the shortest trace. Parents are kept as (parent index, action) so a trace is rebuilt
 * without storing paths.
 */
export const bfs = (cfg: WorldConfig, maxStates = 2_000_000): CheckResult => {
  const w0 = initialWorld(cfg);
  const index = new Map<string, number>([[worldKey(w0), 0]]);
  const parent: number[] = [-1];
  const via: (Action | null)[] = [null];
  const depthOf: number[] = [0];
  const queue: World[] = [w0];
  let transitions = 0;
  const actions: Record<string, number> = {};
  const reached: Record<string, number> = {};
  let head = 0;
  let maxDepth = 0;
  const traceTo = (i: number): Action[] => {
    const t: Action[] = [];
    for (let k = i; k > 0; k = parent[k] ?? 0) t.push(via[k] as Action);
    return t.reverse();
  };
  const v0 = checkInvariants(w0);
  if (v0)
    return {
      states: 1,
      transitions: 0,
      depth: 0,
      truncated: false,
      violation: { violation: v0, trace: [] },
      actions,
      reached,
    };
  while (head < queue.length) {
    const w = queue[head] as World;
    const wi = head++;
    for (const act of enabled(w)) {
      transitions++;
      actions[act.a] = (actions[act.a] ?? 0) + 1;
      const n = apply(w, act);
      const k = worldKey(n);
      if (index.has(k)) continue;
      const ni = parent.length;
      index.set(k, ni);
      parent.push(wi);
      via.push(act);
      const d = (depthOf[wi] ?? 0) + 1;
      depthOf.push(d);
      if (d > maxDepth) maxDepth = d;
      for (const m of milestones(n)) reached[m] = (reached[m] ?? 0) + 1;
      const v = checkInvariants(n);
      if (v)
        return {
          states: index.size,
          transitions,
          depth: d,
          truncated: false,
          violation: { violation: v, trace: traceTo(ni) },
          actions,
          reached,
        };
      if (index.size >= maxStates)
        return {
          states: index.size,
          transitions,
          depth: maxDepth,
          truncated: true,
          violation: null,
          actions,
          reached,
        };
      queue.push(n);
    }
    // The queue only grows; drop references to expanded states so memory stays bounded by the frontier.
    queue[wi] = undefined as unknown as World;
  }
  return {
    states: index.size,
    transitions,
    depth: maxDepth,
    truncated: false,
    violation: null,
    actions,
    reached,
  };
};

/** mulberry32: tiny, seedable, good enough to pick among enabled actions. */
export const rng = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

export interface WalkResult {
  readonly steps: number;
  /** Timeline events the recovery machines emitted (crash, detected, fenced, restart, ...). */
  readonly timeline: Readonly<Record<string, number>>;
  readonly distinct: number;
  readonly actions: Readonly<Record<string, number>>;
  readonly violation: {
    readonly seed: number;
    readonly violation: Violation;
    readonly trace: readonly Action[];
  } | null;
}

/** `walks` random walks of at most `maxSteps` each, walk i seeded with `seed + i`. */
export const randomWalks = (
  cfg: WorldConfig,
  seed: number,
  walks: number,
  maxSteps: number,
): WalkResult => {
  const seen = new Set<string>();
  const actions: Record<string, number> = {};
  const timeline: Record<string, number> = {};
  const tl: TimelineEvent[] = [];
  let steps = 0;
  for (let i = 0; i < walks; i++) {
    const s = seed + i;
    const r = rng(s);
    let w = initialWorld(cfg);
    const trace: Action[] = [];
    for (let k = 0; k < maxSteps; k++) {
      const acts = enabled(w);
      if (acts.length === 0) break;
      const act = acts[Math.floor(r() * acts.length)] as Action;
      trace.push(act);
      actions[act.a] = (actions[act.a] ?? 0) + 1;
      w = apply(w, act, tl);
      for (const e of tl.splice(0)) timeline[e.kind] = (timeline[e.kind] ?? 0) + 1;
      steps++;
      seen.add(worldKey(w));
      const v = checkInvariants(w);
      if (v)
        return {
          steps,
          distinct: seen.size,
          actions,
          timeline,
          violation: { seed: s, violation: v, trace },
        };
    }
  }
  return { steps, distinct: seen.size, actions, timeline, violation: null };
};

/** A trace a person can read: one action per line with its parameters. */
export const formatTrace = (trace: readonly Action[]): string =>
  trace.map((a, i) => `${String(i + 1).padStart(3)}. ${JSON.stringify(a)}`).join('\n');

// Deeper runs than `npm test` can afford, from the command line:
//   npx tsx test/machines/world/check.ts NIN MAXCRASHES [MAXINFLIGHT] [--no-loss] [--bug NAME]
if (process.argv[1]?.endsWith('world/check.ts')) {
  const args = process.argv.slice(2);
  const nums = args.filter((a) => /^\d+$/.test(a)).map(Number);
  const bugAt = args.indexOf('--bug');
  const cfg: WorldConfig = {
    nIn: nums[0] ?? 1,
    maxCrashes: nums[1] ?? 1,
    maxInFlight: nums[2] ?? 1,
    deltas: [-1],
    bugs: bugAt >= 0 ? ([args[bugAt + 1]] as WorldConfig['bugs']) : [],
    duplicate: false,
    loss: !args.includes('--no-loss'),
  };
  const t0 = performance.now();
  const r = bfs(cfg, 5_000_000);
  console.log(
    JSON.stringify({
      cfg,
      states: r.states,
      transitions: r.transitions,
      depth: r.depth,
      truncated: r.truncated,
      ms: Math.round(performance.now() - t0),
    }),
  );
  if (r.violation) {
    console.log(`VIOLATION ${r.violation.violation.invariant}: ${r.violation.violation.detail}`);
    console.log(formatTrace(r.violation.trace));
    process.exit(1);
  }
}
