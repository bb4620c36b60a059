// Paths through the failure model that together take every transition, and the coverage
// accounting of what a run actually executed (xstate/graph has no coverage API).
//
// Paths: every path starts from a fresh lab (`init`). From `xstate/graph`'s adjacency map, a
// greedy walk repeatedly goes, by a shortest way, to an untaken transition and takes it. Among
// the untaken transitions in reach it prefers the one after which the most untaken ones are
// still reachable, then the nearest: so a path covers what can be undone (client actions,
// local recoveries, impairments) before it crosses into a phase it cannot leave (a host
// crash ends protection). A path ends when nothing untaken is in reach or at `maxSteps`.
//
// Coverage: from the steps a run executed (state before, event), resolved against the
// machine, never from the plan: a step that was planned but failed or was skipped counts
// nothing.
import { type AnyStateMachine, getInitialSnapshot, getNextSnapshot, type StateValue } from 'xstate';
import { getAdjacencyMap, getStateNodes } from 'xstate/graph';
import { FAILURE_EVENT_TYPES, type FailureEvent, type FailureEventType } from './model.ts';

/** A state value as a stable key ('protected.flowing'). */
export const stateKey = (value: unknown): string => {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length !== 1)
      throw new Error(`failure model: parallel state ${JSON.stringify(value)}`);
    const [k, v] = entries[0] as [string, unknown];
    return `${k}.${stateKey(v)}`;
  }
  throw new Error(`failure model: bad state value ${JSON.stringify(value)}`);
};

/** `'protected.flowing'` back to the value xstate takes. */
export const stateValue = (key: string): StateValue => {
  const parts = key.split('.');
  let v: StateValue = parts.at(-1) as string;
  for (let i = parts.length - 2; i >= 0; i--) v = { [parts[i] as string]: v };
  return v;
};

export interface Edge {
  readonly from: string;
  readonly event: FailureEventType;
  readonly to: string;
  /** the transition definition taken: `sourceNodeId|EVENT` (the model has one per event) */
  readonly def: string;
}

export interface Graph {
  readonly initial: string;
  readonly states: readonly string[];
  readonly edges: readonly Edge[];
  /** every transition definition of the machine */
  readonly defs: readonly string[];
  /** every state node id (compound and atomic, the root included) */
  readonly nodes: readonly string[];
}

const defKey = (sourceId: string, event: string): string => `${sourceId}|${event}`;

/** Every transition definition: `node.id|EVENT` (one definition per event and node here). */
export const transitionDefs = (machine: AnyStateMachine): string[] => {
  const out: string[] = [];
  for (const node of [machine.root, ...getStateNodes(machine.root)]) {
    for (const [eventType, list] of node.transitions as Map<string, unknown[]>) {
      if (list.length !== 1)
        throw new Error(`failure model: ${node.id} has ${list.length} transitions on ${eventType}`);
      out.push(defKey(node.id, eventType));
    }
  }
  return out.sort();
};

/** The definitions `event` takes from the state `fromKey`, and the state it leads to. */
export const step = (
  machine: AnyStateMachine,
  fromKey: string,
  event: FailureEvent,
): { to: string; defs: string[]; nodes: string[] } | undefined => {
  const s = machine.resolveState({ value: stateValue(fromKey), context: {} });
  const taken = machine.getTransitionData(s as never, event as never) as {
    source: { id: string };
    eventType: string;
  }[];
  if (taken.length === 0) return undefined;
  const next = getNextSnapshot(machine, s as never, event as never) as unknown as {
    value: unknown;
    _nodes: { id: string }[];
  };
  return {
    to: stateKey(next.value),
    defs: taken.map((t) => defKey(t.source.id, t.eventType)),
    nodes: next._nodes.map((n) => n.id),
  };
};

/** The model as a graph, from `xstate/graph`'s adjacency map. */
export const modelGraph = (machine: AnyStateMachine): Graph => {
  const events = FAILURE_EVENT_TYPES.map((type) => ({ type }));
  type Vertex = {
    state: { value: unknown };
    transitions: Record<string, { event: FailureEvent; state: { value: unknown } }>;
  };
  const adj = getAdjacencyMap(machine, {
    events,
    serializeState: (s: { value: unknown }) => stateKey(s.value),
  } as never) as unknown as Record<string, Vertex>;
  const edges: Edge[] = [];
  for (const v of Object.values(adj)) {
    const from = stateKey(v.state.value);
    for (const t of Object.values(v.transitions)) {
      // The adjacency map lists every event in every state; one the state ignores is no edge.
      const r = step(machine, from, t.event);
      if (r === undefined) continue;
      const [def] = r.defs;
      if (def === undefined || r.defs.length !== 1)
        throw new Error(`failure model: ${from} --${t.event.type}--> ${r.defs.length} definitions`);
      edges.push({ from, event: t.event.type, to: stateKey(t.state.value), def });
    }
  }
  const initial = stateKey(getInitialSnapshot(machine).value);
  return {
    initial,
    states: Object.values(adj).map((v) => stateKey(v.state.value)),
    edges,
    defs: transitionDefs(machine),
    nodes: [machine.root, ...getStateNodes(machine.root)].map((n) => n.id),
  };
};

export interface PlannedPath {
  readonly steps: readonly Edge[];
}

/** Shortest ways (in edges) from `from` to every reachable state: BFS over `edges`. */
const shortestFrom = (g: Graph, from: string): Map<string, Edge[]> => {
  const out = new Map<string, Edge[]>([[from, []]]);
  const queue = [from];
  for (let i = 0; i < queue.length; i++) {
    const s = queue[i] as string;
    const way = out.get(s) as Edge[];
    for (const e of g.edges) {
      if (e.from !== s || out.has(e.to)) continue;
      out.set(e.to, [...way, e]);
      queue.push(e.to);
    }
  }
  return out;
};

/** How many of `untaken` are reachable from `from` (their source reachable). */
const untakenInReach = (g: Graph, from: string, untaken: ReadonlySet<string>): number => {
  const reach = shortestFrom(g, from);
  return new Set(g.edges.filter((e) => untaken.has(e.def) && reach.has(e.from)).map((e) => e.def))
    .size;
};

/**
 * Paths from `init` that together take every transition definition; each at most `maxSteps`
 * long and each ending in a state where `canEnd` holds (a recovery finished, so the path's
 * last check sees the outcome and not a stall in progress). Throws if a definition cannot be
 * reached at all or does not fit `maxSteps`.
 */
export const coveringPaths = (
  g: Graph,
  maxSteps: number,
  canEnd: (state: string) => boolean,
): PlannedPath[] => {
  const untaken = new Set(g.defs);
  const toRest = (from: string): Edge[] | undefined => {
    let best: Edge[] | undefined;
    for (const [s, way] of shortestFrom(g, from))
      if (canEnd(s) && (best === undefined || way.length < best.length)) best = way;
    return best;
  };
  const paths: PlannedPath[] = [];
  while (untaken.size > 0) {
    const steps: Edge[] = [];
    let at = g.initial;
    for (;;) {
      const ways = shortestFrom(g, at);
      let best: { way: Edge[]; left: number } | undefined;
      for (const e of g.edges) {
        if (!untaken.has(e.def)) continue;
        const head = ways.get(e.from);
        if (head === undefined) continue;
        const way = [...head, e];
        const rest = toRest(e.to);
        if (rest === undefined || steps.length + way.length + rest.length > maxSteps) continue;
        const after = new Set(untaken);
        for (const w of way) after.delete(w.def);
        const left = untakenInReach(g, e.to, after);
        if (
          best === undefined ||
          left > best.left ||
          (left === best.left && way.length < best.way.length)
        )
          best = { way, left };
      }
      if (best === undefined) break;
      for (const w of best.way) {
        steps.push(w);
        untaken.delete(w.def);
      }
      at = steps.at(-1)?.to ?? at;
    }
    if (steps.length === 0)
      throw new Error(
        `failure model: no path of at most ${maxSteps} steps takes ${[...untaken].join(', ')}`,
      );
    for (const w of toRest(at) ?? []) {
      steps.push(w);
      untaken.delete(w.def);
    }
    paths.push({ steps });
  }
  return paths;
};

/** One step a run executed: the model state it started in and the event it carried out. */
export interface ExecutedStep {
  readonly from: string;
  readonly event: FailureEventType;
}

export interface Coverage {
  readonly states: { readonly covered: number; readonly total: number; readonly missing: string[] };
  readonly transitions: {
    readonly covered: number;
    readonly total: number;
    readonly missing: string[];
  };
}

/**
 * Coverage of what was executed: state nodes entered (the root and `init` by every run that
 * started) and transition definitions taken. A step the model does not allow is an error:
 * the runner and the model disagree.
 */
export const coverageOf = (
  machine: AnyStateMachine,
  executed: readonly ExecutedStep[],
): Coverage => {
  const defs = transitionDefs(machine);
  const nodes = [machine.root, ...getStateNodes(machine.root)].map((n) => n.id);
  const seenNodes = new Set<string>();
  const taken = new Set<string>();
  const initial = getInitialSnapshot(machine) as unknown as {
    value: unknown;
    _nodes: { id: string }[];
  };
  for (const x of executed) {
    if (x.from === stateKey(initial.value)) for (const n of initial._nodes) seenNodes.add(n.id);
    const r = step(machine, x.from, { type: x.event });
    if (r === undefined)
      throw new Error(`failure model: ${x.from} has no transition on ${x.event}`);
    for (const d of r.defs) taken.add(d);
    for (const n of r.nodes) seenNodes.add(n);
  }
  const missingStates = nodes.filter((n) => !seenNodes.has(n));
  const missingDefs = defs.filter((d) => !taken.has(d));
  return {
    states: {
      covered: nodes.length - missingStates.length,
      total: nodes.length,
      missing: missingStates,
    },
    transitions: {
      covered: defs.length - missingDefs.length,
      total: defs.length,
      missing: missingDefs,
    },
  };
};

/** The line the suite prints. */
export const formatCoverage = (c: Coverage): string =>
  `failure model: states ${c.states.covered}/${c.states.total}, transitions ${c.transitions.covered}/${c.transitions.total}`;

/** Throws below 100% of states or transitions, naming what is missing. */
export const assertFullCoverage = (c: Coverage): void => {
  if (c.states.covered < c.states.total || c.transitions.covered < c.transitions.total)
    throw new Error(
      `${formatCoverage(c)}: not taken: ${[...c.states.missing, ...c.transitions.missing].join(', ')}`,
    );
};
