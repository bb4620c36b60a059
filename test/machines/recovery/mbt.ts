// Model-based testing harness over `xstate/graph`, shared by this directory's tests.
//
// xstate/graph has no coverage API, so coverage is computed here: the model's adjacency map
// gives every reachable (state, event) edge; one test path per edge (the shortest path to the
// edge's source, then the edge) is executed against a real actor of the machine with
// recording fakes for its effects; the transitions the actor actually took are collected
// through the inspection API (`@xstate.microstep`) and compared with every transition
// DEFINED in the machine (each guarded branch of each event of each state node). Anything
// defined but never taken, or any state node never entered, fails the test.

import {
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyTransitionDefinition,
  createActor,
  type EventObject,
} from 'xstate';
import { createTestModel, getStateNodes, type StatePath } from 'xstate/graph';

export interface TransitionId {
  readonly id: string;
  readonly source: string;
  readonly event: string;
  readonly guard: string | null;
}

/** Every transition definition of the machine, keyed by object identity. */
export const definedTransitions = (
  machine: AnyStateMachine,
): Map<AnyTransitionDefinition, TransitionId> => {
  const out = new Map<AnyTransitionDefinition, TransitionId>();
  for (const node of getStateNodes(machine.root)) {
    for (const [event, defs] of node.transitions) {
      defs.forEach((t, i) => {
        const guard =
          t.guard === undefined
            ? null
            : typeof t.guard === 'string'
              ? t.guard
              : String((t.guard as { type?: unknown }).type ?? 'inline');
        out.set(t, { id: `${node.id} --${event}[${i}]`, source: node.id, event, guard });
      });
    }
  }
  return out;
};

/** Ids of the state nodes active in a snapshot value (compound parents included). */
export const activeStateIds = (machineId: string, value: unknown, prefix = machineId): string[] => {
  if (typeof value === 'string') return [`${prefix}.${value}`];
  if (value === null || typeof value !== 'object') return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out.push(`${prefix}.${k}`, ...activeStateIds(machineId, v, `${prefix}.${k}`));
  }
  return out;
};

export interface Coverage {
  readonly states: { readonly covered: number; readonly total: number; readonly missing: string[] };
  readonly transitions: {
    readonly covered: number;
    readonly total: number;
    readonly missing: string[];
  };
  readonly paths: number;
  readonly edges: number;
}

export interface ModelRun<TRecorder> {
  /** The machine with its effects replaced by recording fakes. */
  readonly provide: (rec: TRecorder) => AnyStateMachine;
  readonly newRecorder: () => TRecorder;
  /** One traversal per input (e.g. each host role); coverage is their union. */
  readonly inputs: readonly unknown[];
  /** Every event type the machine accepts (to route the model's events to the actor). */
  readonly eventTypes: readonly string[];
  /**
   * Parameterised events offered in a state, a function of its context so that values such
   * as "the epoch of the Fence in flight" stay meaningful; xstate/graph keeps those the state handles.
   */
  readonly events: (snap: { context: never }) => readonly EventObject[];
  /**
   * Serialisation of a snapshot (value and context). It must be exact: the SUT is checked
   * against the model through it, and the events offered depend on the concrete context.
   */
  readonly serializeState: (snap: { value: unknown; context: unknown }) => string;
  /** Bounds an infinite state space (e.g. epochs that grow with every recovery). */
  readonly stopWhen?: (snap: { value: unknown; context: never }) => boolean;
  /**
   * Called after every step with the model's expected snapshot, the SUT's snapshot, the
   * event, and the recorder: asserts the effects the step should have had.
   */
  readonly check: (args: {
    expected: { value: unknown; context: unknown };
    actual: { value: unknown; context: unknown };
    event: EventObject;
    rec: TRecorder;
  }) => void;
}

/** Executes one path per reachable edge and returns the measured coverage. */
export const runModel = async <TRecorder>(
  machine: AnyStateMachine,
  run: ModelRun<TRecorder>,
): Promise<Coverage> => {
  const defs = definedTransitions(machine);
  const taken = new Set<string>();
  const visited = new Set<string>();
  let edges = 0;
  let paths = 0;
  for (const input of run.inputs) {
    const model = createTestModel(machine, {
      events: run.events as never,
      serializeState: run.serializeState as never,
      ...(run.stopWhen === undefined ? {} : { stopWhen: run.stopWhen as never }),
      ...(input === undefined ? {} : { input: input as never }),
    });
    const shortest = new Map<string, StatePath<AnyMachineSnapshot, EventObject>>();
    for (const p of model.getShortestPaths({ allowDuplicatePaths: true })) {
      shortest.set(run.serializeState(p.state), p);
    }
    const adjacency = model.getAdjacencyMap();
    for (const [key, entry] of Object.entries(adjacency)) {
      const head = shortest.get(key);
      if (head === undefined) throw new Error(`no shortest path to ${key}`);
      const tails: ({ event: EventObject; state: AnyMachineSnapshot } | null)[] = Object.values(
        entry.transitions,
      ) as { event: EventObject; state: AnyMachineSnapshot }[];
      // The bare path to a state with no outgoing edges still has to be executed once.
      const candidates = tails.length === 0 ? [null] : tails;

      for (const tail of candidates) {
        const steps =
          tail === null ? head.steps : [...head.steps, { event: tail.event, state: tail.state }];
        if (tail !== null) edges++;
        paths++;
        const rec = run.newRecorder();
        const actor = createActor(run.provide(rec), {
          ...(input === undefined ? {} : { input }),
          inspect: (ev) => {
            if (ev.type !== '@xstate.microstep') return;
            for (const t of (ev as unknown as { _transitions: AnyTransitionDefinition[] })
              ._transitions) {
              // `provide` builds new state nodes, so match by position, not identity.
              const siblings = t.source.transitions.get(t.eventType) ?? [];
              taken.add(`${t.source.id} --${t.eventType}[${siblings.indexOf(t)}]`);
            }
          },
        });
        actor.start();
        for (const id of activeStateIds(machine.id, actor.getSnapshot().value)) visited.add(id);
        let lastEvent: EventObject = { type: '(init)' };
        await model.testPath(
          { state: tail === null ? head.state : tail.state, steps, weight: steps.length },
          {
            events: Object.fromEntries(
              run.eventTypes.map((type) => [
                type,
                ({ event }: { event: EventObject }) => {
                  lastEvent = event;
                  actor.send(lastEvent);
                },
              ]),
            ),
            states: {
              '*': (expected: { value: unknown; context: unknown }) => {
                const actual = actor.getSnapshot();
                if (run.serializeState(actual) !== run.serializeState(expected)) {
                  throw new Error(
                    `SUT left the model: expected ${run.serializeState(expected)}, got ${run.serializeState(actual)}`,
                  );
                }
                for (const id of activeStateIds(machine.id, actual.value)) visited.add(id);
                run.check({ expected, actual, event: lastEvent, rec });
              },
            },
          },
        );
        actor.stop();
      }
    }
  }
  const allStates = getStateNodes(machine.root).map((n) => n.id);
  const allTransitions = [...defs.values()].map((d) => d.id);
  const missingStates = allStates.filter((s) => !visited.has(s));
  const missingTransitions = allTransitions.filter((t) => !taken.has(t));
  return {
    states: {
      covered: allStates.length - missingStates.length,
      total: allStates.length,
      missing: missingStates,
    },
    transitions: {
      covered: allTransitions.length - missingTransitions.length,
      total: allTransitions.length,
      missing: missingTransitions,
    },
    paths,
    edges,
  };
};
