// Model-based testing with xstate/graph plus the coverage accounting xstate/graph lacks.
//
// Paths: the shortest path to every reachable (state, context) vertex, and for every edge of
// the adjacency map, the shortest path to its source followed by that edge. Every path runs
// against a fresh actor of the machine with recording effect implementations (the SUT), with
// the model's expected snapshot checked after each step. Coverage is counted from what the SUT
// actually did: state nodes active in its snapshots, transition definitions the machine
// selected (`getTransitionData`) for the events it was sent.

import { type Actor, type AnyStateMachine, createActor, type EventObject } from 'xstate';
import { createTestModel, getStateNodes } from 'xstate/graph';

export interface Coverage {
  readonly states: { readonly covered: number; readonly total: number; readonly missing: string[] };
  readonly transitions: {
    readonly covered: number;
    readonly total: number;
    readonly missing: string[];
  };
  readonly edges: { readonly covered: number; readonly total: number };
  readonly paths: number;
  readonly steps: number;
}

export interface Sut<TMachine extends AnyStateMachine> {
  readonly actor: Actor<TMachine>;
  /** Names of the effect actions executed, in order. */
  readonly effects: string[];
}

type AnyTransition = {
  source: { id: string };
  eventType: string;
  target?: readonly { id: string }[] | undefined;
};

/** Every transition definition of the machine, keyed `source|event|index`. */
function transitionDefinitions(machine: AnyStateMachine): Map<unknown, string> {
  const defs = new Map<unknown, string>();
  const nodes = [machine.root, ...getStateNodes(machine.root)];
  for (const node of nodes) {
    for (const [eventType, list] of node.transitions as Map<string, AnyTransition[]>) {
      for (const [i, t] of list.entries()) {
        const targets = (t.target ?? []).map((x) => x.id).join(',') || '(self)';
        defs.set(t, `${node.id}|${eventType}|${i}->${targets}`);
      }
    }
    for (const [i, t] of (node.always ?? []).entries()) defs.set(t, `${node.id}|always|${i}`);
  }
  return defs;
}

export interface MbtOptions<TMachine extends AnyStateMachine> {
  readonly machine: TMachine;
  readonly input?: unknown;
  /** Parameterised events; event types not listed are sent bare. */
  readonly events: readonly (EventObject & Record<string, unknown>)[];
  /** Effect action names to record (each provided as a recording fake). */
  readonly effectNames: readonly string[];
  /** Extra per-step check against the SUT (rule assertions). */
  /** Events the model may not send (used to show the coverage check can fail). */
  readonly filterEvents?: (event: EventObject) => boolean;
  readonly checkStep?: (
    prev: unknown,
    event: EventObject,
    sut: Sut<TMachine>,
    effectsOfStep: string[],
  ) => void;
}

const serialize = (s: { value: unknown; context: unknown }): string =>
  JSON.stringify({ v: s.value, c: s.context });

export async function runModelBasedTests<TMachine extends AnyStateMachine>(
  opts: MbtOptions<TMachine>,
): Promise<Coverage> {
  const { machine } = opts;
  const model = createTestModel(machine, {
    events: opts.events as never,
    serializeState: ((s: { value: unknown; context: unknown }) => serialize(s)) as never,
    ...(opts.input === undefined ? {} : { input: opts.input as never }),
    ...(opts.filterEvents === undefined
      ? {}
      : {
          filterEvents: ((_s: unknown, e: EventObject) =>
            opts.filterEvents?.(e) !== false) as never,
        }),
  });
  const adjacency = model.getAdjacencyMap();
  const shortest = model.getShortestPaths({ allowDuplicatePaths: true });
  type Steps = { event: EventObject; state: unknown }[];
  const pathTo = new Map<string, Steps>();
  for (const p of shortest) {
    const key = serialize(p.state as never);
    const prev = pathTo.get(key);
    if (prev === undefined || prev.length > p.steps.length) pathTo.set(key, p.steps as Steps);
  }
  // One path per edge: the shortest path to its source, then the edge itself.
  const paths: { state: unknown; steps: Steps; weight: number }[] = [];
  let edgeTotal = 0;
  for (const [vKey, v] of Object.entries(adjacency)) {
    const head = pathTo.get(serialize(v.state as never));
    if (head === undefined) throw new Error(`mbt: no path to vertex ${vKey}`);
    for (const t of Object.values(v.transitions) as { event: unknown; state: unknown }[]) {
      edgeTotal++;
      const steps = [...head, { event: t.event as EventObject, state: t.state }];
      paths.push({ state: t.state, steps, weight: steps.length });
    }
  }

  const defs = transitionDefinitions(machine);
  const takenDefs = new Set<string>();
  const seenNodes = new Set<string>();
  const edgesRun = new Set<string>();
  let steps = 0;

  const effectsRec: { list: string[] } = { list: [] };
  const provided = machine.provide({
    actions: Object.fromEntries(opts.effectNames.map((n) => [n, () => effectsRec.list.push(n)])),
  } as never) as TMachine;

  for (const path of paths) {
    const events = path.steps.map((s) => s.event).filter((e) => e.type !== 'xstate.init');
    const effects: string[] = [];
    effectsRec.list = effects;
    const actor = createActor(
      provided,
      ...((opts.input === undefined ? [] : [{ input: opts.input }]) as []),
    ) as Actor<TMachine>;
    actor.start();
    const sut: Sut<TMachine> = { actor, effects };
    for (const n of (actor.getSnapshot() as { _nodes: { id: string }[] })._nodes)
      seenNodes.add(n.id);
    await model.testPath(path as never, {
      events: Object.fromEntries(
        [...new Set(events.map((e) => e.type))].map((type) => [
          type,
          (step: { event: EventObject }) => {
            const prev = actor.getSnapshot();
            for (const d of machine.getTransitionData(prev as never, step.event as never)) {
              const key = defs.get(d);
              if (key === undefined)
                throw new Error(`mbt: transition not among the definitions (${step.event.type})`);
              takenDefs.add(key);
            }
            const before = effects.length;
            actor.send(step.event as never);
            steps++;
            edgesRun.add(`${serialize(prev as never)}|${JSON.stringify(step.event)}`);
            opts.checkStep?.(prev, step.event, sut, effects.slice(before));
          },
        ]),
      ) as never,
      states: {
        '*': (expected: { value: unknown; context: unknown }) => {
          const snap = actor.getSnapshot() as {
            value: unknown;
            context: unknown;
            _nodes: { id: string }[];
          };
          if (serialize(snap) !== serialize(expected)) {
            throw new Error(
              `mbt: SUT is in ${serialize(snap)}, model expected ${serialize(expected)}`,
            );
          }
          for (const n of snap._nodes) seenNodes.add(n.id);
        },
      } as never,
    });
    actor.stop();
  }

  const allNodes = [machine.root, ...getStateNodes(machine.root)].map((n) => n.id);
  const missingStates = [...new Set(allNodes)].filter((id) => !seenNodes.has(id));
  const allDefs = [...defs.values()];
  const missingDefs = allDefs.filter((k) => !takenDefs.has(k));
  return {
    states: {
      covered: new Set(allNodes).size - missingStates.length,
      total: new Set(allNodes).size,
      missing: missingStates,
    },
    transitions: {
      covered: allDefs.length - missingDefs.length,
      total: allDefs.length,
      missing: missingDefs,
    },
    edges: { covered: edgesRun.size, total: edgeTotal },
    paths: paths.length,
    steps,
  };
}
